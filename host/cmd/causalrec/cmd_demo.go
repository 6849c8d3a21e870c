package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/examples"
	"github.com/causalrec/causalrec/host/dataset"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/plugins"
)

func runDemo(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "demo", "[flags]",
		"Runs causalrec end to end on the Hillstrom e-mail experiment that ships inside the binary:\n"+
			"fits an uplift model through the estimator plugin, evaluates it on a held-out half, then starts\n"+
			"the API, ingests users, items and events through it, trains the serving model and asks for\n"+
			"recommendations. With no Redis configured it uses an embedded in-memory Redis.")
	hf := addHostFlags(fs, "an embedded in-memory Redis that does NOT persist")
	users := fs.Int("users", 12000, "how many Hillstrom customers to ingest as users of the recommender")
	estName := fs.String("estimator", "t", "estimator to fit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := hf.load()
	if err != nil {
		return err
	}
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.Estimator = "127.0.0.1:0", "127.0.0.1:0", *estName
	if cfg.RedisURL != "" && *hf.prefix == "" {
		cfg.Prefix = fmt.Sprintf("causalrec-demo:%d:", time.Now().UnixNano())
	}
	start := time.Now()
	say := func(format string, a ...any) { fmt.Fprintf(s.out, format+"\n", a...) }

	r, err := examples.Hillstrom()
	if err != nil {
		return err
	}
	fr, err := dataset.ReadCSV(r)
	r.Close()
	if err != nil {
		return fmt.Errorf("hillstrom: %w", err)
	}
	say("1. Data: Hillstrom e-mail experiment, %d customers in 3 randomised arms (examples/hillstrom).", fr.Rows)

	// Offline: fit on one half of Womens E-Mail vs No E-Mail, evaluate on the other.
	spec := dataset.Spec{Treatment: "segment", Outcome: "visit", Control: "No E-Mail", Treated: []string{"Womens E-Mail"},
		Features: []string{"recency", "history", "mens", "womens", "zip_code", "newbie", "channel"}}
	req, schema, sum, err := dataset.BuildFit(fr, spec)
	if err != nil {
		return err
	}
	train, test := splitHalves(req, 1)
	est, stop, err := startEstimator(ctx, cfg, s.logger, cfg.EstimatorPlugin)
	if err != nil {
		return err
	}
	train.Estimator = *estName
	t0 := time.Now()
	fit, err := est.Fit(ctx, train)
	if err != nil {
		stop()
		return fmt.Errorf("fit: %w", err)
	}
	pred, err := est.Predict(ctx, plugins.PredictRequest{Model: fit.Model, X: test.X, NFeatures: len(schema.Features)})
	stop()
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	say("2. Fitted estimator %q through the %s plugin on %d rows (Womens E-Mail vs No E-Mail, outcome visit; %d rows of Mens E-Mail left out) in %.2fs.",
		*estName, cfg.EstimatorPlugin, train.Rows(), sum.Dropped, time.Since(t0).Seconds())
	rep, err := causal.NewUpliftReport(pred.Effects, test.Arm, test.Outcome, nil, causal.Bootstrap{Resamples: 200}, rand.NewPCG(1, 0))
	if err != nil {
		return err
	}
	say("3. Held-out evaluation on %d rows: Qini %.4f (95%% CI %.4f to %.4f; scikit-uplift normalisation), AUUC %.4f, uplift@30%% %.4f; ATE %.4f ± %.4f.",
		test.Rows(), rep.Qini, rep.QiniCI.Lo, rep.QiniCI.Hi, rep.AUUC, rep.UpliftAt30, rep.ATE, rep.ATESE)

	// Online: the API over the store, with the plugins as processes.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() { served <- serve(sctx, cfg, s.logger, func(a, _ net.Addr) { ready <- a }) }()
	var base string
	select {
	case a := <-ready:
		base = "http://" + a.String()
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-time.After(time.Minute):
		return errors.New("serve did not start within a minute")
	}
	where := "embedded in-memory Redis"
	if cfg.RedisURL != "" {
		where = "Redis at " + cfg.RedisURL + " (prefix " + cfg.Prefix + ")"
	}
	say("4. API listening on %s over %s.", base, where)
	c := &apiClient{base: base, token: cfg.APIToken}
	usersIn, eventsIn, err := ingestHillstrom(ctx, c, fr, *users)
	if err != nil {
		return err
	}
	say("5. Ingested through the API: 2 items, %d users and %d events (exposures with their arm, hold-outs as arm \"control\", visits as outcomes).", usersIn, eventsIn)
	var tr recommend.TrainResult
	if err := c.post(ctx, "/v1/train", struct{}{}, &tr); err != nil {
		return err
	}
	say("6. Trained the serving model %s (%s) on %d (user, item) pairs: %d recommended, %d held out, in %.2fs.", tr.ModelID, tr.Estimator, tr.Rows, tr.Treated, tr.Control, tr.Seconds)
	say("7. Recommendations (ranked by the estimated effect of recommending each e-mail on the chance of a visit):")
	for _, u := range []string{"c1", "c2", "c8", "c42"} {
		var resp recommend.Response
		if err := c.post(ctx, "/v1/recommend", recommend.Request{User: u, K: 2, IncludeConsumed: true}, &resp); err != nil {
			return err
		}
		var parts []string
		for _, it := range resp.Items {
			parts = append(parts, fmt.Sprintf("%s (uplift %+.4f)", it.Item, deref(it.Uplift)))
		}
		say("   user %-4s -> %s   [ranker %s, request %s]", u, strings.Join(parts, ", "), resp.Ranker, resp.RequestID[:8])
	}
	cancel()
	if err := <-served; err != nil {
		return err
	}
	say("Done in %.1fs.", time.Since(start).Seconds())
	return nil
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// splitHalves splits the rows of req into two halves by a seeded shuffle.
func splitHalves(req plugins.FitRequest, seed uint64) (a, b plugins.FitRequest) {
	n, d := req.Rows(), len(req.Features)
	perm := rand.New(rand.NewPCG(seed, 0)).Perm(n)
	half := n / 2
	pick := func(idx []int) plugins.FitRequest {
		out := req
		out.X, out.Arm, out.Outcome = make([]float64, 0, len(idx)*d), make([]int, 0, len(idx)), make([]float64, 0, len(idx))
		out.Weight, out.Propensity = nil, nil
		for _, i := range idx {
			out.X = append(out.X, req.X[i*d:(i+1)*d]...)
			out.Arm = append(out.Arm, req.Arm[i])
			out.Outcome = append(out.Outcome, req.Outcome[i])
		}
		return out
	}
	return pick(perm[:half]), pick(perm[half:])
}

// ingestHillstrom sends the first n customers as users with their
// features, the two e-mails as items, and the experiment as events: a
// customer in an e-mail arm was exposed to that e-mail; a customer in the
// No E-Mail arm was held out from both; a visit is an outcome for the
// e-mail the customer got, or for both when held out.
func ingestHillstrom(ctx context.Context, c *apiClient, fr *dataset.Frame, n int) (users, events int, err error) {
	items := []store.Item{
		{ID: "womens-email", Text: "Our new women's collection is here.", Category: "email", Features: map[string]float64{"womens": 1}},
		{ID: "mens-email", Text: "Our new men's collection is here.", Category: "email", Features: map[string]float64{"womens": 0}},
	}
	if err := c.post(ctx, "/v1/items", map[string]any{"items": items}, nil); err != nil {
		return 0, 0, err
	}
	col := func(name string) *dataset.Column { c, _ := fr.Column(name); return c }
	seg, visit := col("segment"), col("visit")
	num := []string{"recency", "history", "mens", "womens", "newbie"}
	cat := []string{"zip_code", "channel"}
	n = min(n, fr.Rows)
	t0 := time.Date(2008, 3, 1, 0, 0, 0, 0, time.UTC)
	var ub []store.User
	var eb []store.Event
	flush := func(force bool) error {
		if len(ub) >= 1000 || (force && len(ub) > 0) {
			if err := c.post(ctx, "/v1/users", map[string]any{"users": ub}, nil); err != nil {
				return err
			}
			users += len(ub)
			ub = ub[:0]
		}
		if len(eb) >= 2000 || (force && len(eb) > 0) {
			var res struct{ Written int }
			if err := c.post(ctx, "/v1/events", map[string]any{"events": eb}, &res); err != nil {
				return err
			}
			events += res.Written
			eb = eb[:0]
		}
		return nil
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("c%d", i+1)
		u := store.User{ID: id, Features: map[string]float64{}}
		for _, name := range num {
			u.Features[name] = col(name).Values[i]
		}
		for _, name := range cat {
			u.Features[name+"="+col(name).String(i)] = 1
		}
		ub = append(ub, u)
		var shown []string
		arm := "treated"
		switch seg.String(i) {
		case "Womens E-Mail":
			shown = []string{"womens-email"}
		case "Mens E-Mail":
			shown = []string{"mens-email"}
		default:
			shown, arm = []string{"womens-email", "mens-email"}, recommend.ControlArm
		}
		for _, it := range shown {
			eb = append(eb, store.Event{ID: id + ":x:" + it, Kind: store.Exposure, User: id, Item: it, Time: t0, Arm: arm, Propensity: 1.0 / 3})
			if visit.Values[i] > 0 {
				eb = append(eb, store.Event{ID: id + ":o:" + it, Kind: store.Outcome, User: id, Item: it, Time: t0.Add(24 * time.Hour)})
			}
		}
		if err := flush(false); err != nil {
			return users, events, err
		}
	}
	return users, events, flush(true)
}

// apiClient calls the HTTP API.
type apiClient struct {
	base, token string
	http        http.Client
}

func (c *apiClient) post(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}
