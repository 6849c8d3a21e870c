package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/dataset"
	"github.com/causalrec/causalrec/plugins"
)

// pluginUplift makes an estimator plugin usable as a causal.UpliftEstimator,
// so that package causal's cross-fitting drives plugins. It is built for
// one command and carries that command's context.
type pluginUplift struct {
	ctx      context.Context
	est      plugins.Estimator
	name     string
	params   map[string]string
	features []plugins.Feature
	arms     []string

	mu  sync.Mutex
	err error // the first failed prediction
}

func (p *pluginUplift) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

// Err returns the first prediction error, if any.
func (p *pluginUplift) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// pluginModel applies a model fitted through a plugin.
type pluginModel struct {
	u     *pluginUplift
	model []byte
}

func (p *pluginUplift) FitUplift(d causal.UpliftData, src rand.Source) (causal.UpliftModel, error) {
	n, dim := d.X.Dims()
	x := make([]float64, 0, n*dim)
	for i := 0; i < n; i++ {
		x = append(x, d.X.RawRowView(i)...)
	}
	req := plugins.FitRequest{
		Estimator: p.name, Params: p.params, Features: p.features, Arms: p.arms, Seed: src.Uint64(),
		X: x, Arm: d.Treatment, Outcome: d.Y, Weight: d.Weights, Propensity: d.Propensity,
	}
	resp, err := p.est.Fit(p.ctx, req)
	if err != nil {
		return nil, err
	}
	return &pluginModel{u: p, model: resp.Model}, nil
}

// Effects implements causal.UpliftModel. The interface has no error
// result, so a failed prediction yields zero effects and records the
// error, which the command reports instead of the comparison.
func (m *pluginModel) Effects(dst *mat.Dense, x *mat.Dense) *mat.Dense {
	n, dim := x.Dims()
	k := len(m.u.arms) - 1
	if dst == nil {
		dst = mat.NewDense(n, k, nil)
	}
	flat := make([]float64, 0, n*dim)
	for i := 0; i < n; i++ {
		flat = append(flat, x.RawRowView(i)...)
	}
	resp, err := m.u.est.Predict(m.u.ctx, plugins.PredictRequest{Model: m.model, X: flat, NFeatures: dim})
	if err == nil && len(resp.Effects) != n*k {
		err = fmt.Errorf("plugin returned %d effects for %d rows of %d arms", len(resp.Effects), n, k)
	}
	if err != nil {
		m.u.fail(err)
		for i := 0; i < n; i++ {
			for j := 0; j < k; j++ {
				dst.Set(i, j, 0)
			}
		}
		return dst
	}
	for i := 0; i < n; i++ {
		for j := 0; j < k; j++ {
			dst.Set(i, j, resp.Effects[i*k+j])
		}
	}
	return dst
}

// parseEstimatorSpec reads "name" or "name:k=v:k=v".
func parseEstimatorSpec(spec string) (string, map[string]string, error) {
	parts := strings.Split(spec, ":")
	params, err := causal.ParseParams(parts[1:])
	if err != nil {
		return "", nil, fmt.Errorf("estimator %q: %w", spec, err)
	}
	return parts[0], params, nil
}

func upliftCompare(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "uplift compare", "--data FILE --treatment COL --outcome COL --estimators a,b,... [flags]",
		"The offline A/B of estimators on the same data: every estimator is cross-fitted on the same\n"+
			"K folds (fit on K-1, score the held-out fold) through its plugin; the out-of-fold scores get\n"+
			"Qini and AUUC with bootstrap intervals, and every pair of estimators the interval of their\n"+
			"paired difference (the same resamples for both). Each ranking also gets grf's RATE (AUTOC and\n"+
			"Qini weighting) on AIPW scores from cross-fitted linear outcome models, with half-sample\n"+
			"intervals and paired differences. An estimator is a name or name:k=v:k=v.")
	data := fs.String("data", "", "CSV file with a header row")
	treatment := fs.String("treatment", "", "treatment column")
	outcome := fs.String("outcome", "", "outcome column (numeric)")
	control := fs.String("control", "0", "treatment value of the control arm")
	treated := fs.String("treated", "", "comma-separated treated arms to keep; rows of other arms are left out")
	features := fs.String("features", "", "comma-separated feature columns (default: every other column)")
	estimators := fs.String("estimators", "", "comma-separated estimators, e.g. t,x:base=gbt,uplift-forest:criterion=KL")
	pluginName := fs.String("plugin", "causal", "estimator plugin")
	folds := fs.Int("folds", 5, "cross-fitting folds")
	resamples := fs.Int("bootstrap", 200, "bootstrap resamples")
	seed := fs.Uint64("seed", 1, "seed of the folds and the bootstrap")
	jsonOut := fs.String("json-out", "", "also write the comparison as JSON to this file (- for standard output, replacing the table)")
	cfgPath := fs.String("config", "", "config file declaring external plugins")
	if err := fs.Parse(args); err != nil {
		return err
	}
	specs := splitList(*estimators)
	switch {
	case *treatment == "" || *outcome == "":
		return usageErr("--treatment and --outcome are required")
	case len(specs) == 0:
		return usageErr("--estimators is required")
	case *folds < 2:
		return usageErr("--folds must be at least 2")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	fr, err := readFrame(*data)
	if err != nil {
		return err
	}
	req, schema, sum, err := dataset.BuildFit(fr, dataset.Spec{Treatment: *treatment, Outcome: *outcome, Control: *control, Treated: splitList(*treated), Features: splitList(*features)})
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	if sum.Dropped > 0 {
		fmt.Fprintf(s.err, "left out %d rows of arms not named by --treated\n", sum.Dropped)
	}
	est, stop, err := startEstimator(ctx, cfg, s.logger, *pluginName)
	if err != nil {
		return err
	}
	defer stop()
	d := causal.UpliftData{X: mat.NewDense(req.Rows(), len(req.Features), req.X), Treatment: req.Arm, Arms: len(req.Arms) - 1, Y: req.Outcome}
	var named []causal.NamedEstimator
	var models []*pluginUplift
	for _, spec := range specs {
		name, params, err := parseEstimatorSpec(spec)
		if err != nil {
			return usageErr("%v", err)
		}
		pu := &pluginUplift{ctx: ctx, est: est, name: name, params: params, features: req.Features, arms: schema.Arms}
		models = append(models, pu)
		named = append(named, causal.NamedEstimator{Name: spec, Estimator: pu})
	}
	cmp, err := causal.CompareEstimators(d, named, causal.CompareConfig{Folds: *folds, Bootstrap: causal.Bootstrap{Resamples: *resamples}}, rand.NewPCG(*seed, 0))
	if err != nil {
		return err
	}
	for _, m := range models {
		if err := m.Err(); err != nil {
			return fmt.Errorf("estimator %s: predict: %w", m.name, err)
		}
	}
	if *jsonOut != "-" {
		fmt.Fprintf(s.out, "%d rows, %d folds; arms against control %q\n", req.Rows(), *folds, schema.Arms[0])
		if err := cmp.WriteTable(s.out); err != nil {
			return err
		}
		if err := cmp.WriteRATETable(s.out); err != nil {
			return err
		}
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(compareJSON(cmp, schema.Arms), "", "  ")
		if err != nil {
			return err
		}
		b = append(b, '\n')
		if *jsonOut == "-" {
			_, err = s.out.Write(b)
		} else {
			err = os.WriteFile(*jsonOut, b, 0o644)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

type ci [2]any

func ciOf(c causal.ConfInt) ci { return ci{jsonFloat(c.Lo), jsonFloat(c.Hi)} }

func rateCIOf(r causal.RATEEstimate) ci { return ci{jsonFloat(r.CI[0]), jsonFloat(r.CI[1])} }

func jsonFloat(v float64) any {
	if v != v {
		return nil
	}
	return v
}

// compareJSON is the JSON form of a comparison.
func compareJSON(c *causal.Comparison, arms []string) map[string]any {
	var out []map[string]any
	for _, a := range c.Arms {
		var ests, pairs []map[string]any
		for _, e := range a.Scores {
			ests = append(ests, map[string]any{
				"estimator": e.Name, "qini": jsonFloat(e.Qini), "qini_ci": ciOf(e.QiniCI),
				"qini_causalml": jsonFloat(e.QiniCausalML), "qini_causalml_ci": ciOf(e.QiniCausalMLCI),
				"auuc": jsonFloat(e.AUUC), "auuc_ci": ciOf(e.AUUCCI),
				"uplift_at_30": jsonFloat(e.UpliftAtK), "uplift_at_30_ci": ciOf(e.UpliftAtKCI),
				"rate_autoc": jsonFloat(e.RATEAUTOC.Value), "rate_autoc_ci": rateCIOf(e.RATEAUTOC),
				"rate_qini": jsonFloat(e.RATEQini.Value), "rate_qini_ci": rateCIOf(e.RATEQini),
			})
		}
		for _, p := range a.Pairs {
			pairs = append(pairs, map[string]any{
				"a": p.A, "b": p.B, "qini_diff": jsonFloat(p.Qini), "qini_diff_ci": ciOf(p.QiniCI),
				"auuc_diff": jsonFloat(p.AUUC), "auuc_diff_ci": ciOf(p.AUUCCI),
				"rate_autoc_diff": jsonFloat(p.RATEAUTOC.Value), "rate_autoc_diff_ci": rateCIOf(p.RATEAUTOC),
				"rate_qini_diff": jsonFloat(p.RATEQini.Value), "rate_qini_diff_ci": rateCIOf(p.RATEQini),
			})
		}
		out = append(out, map[string]any{"arm": arms[a.Arm], "n": a.N, "estimators": ests, "pairs": pairs})
	}
	return map[string]any{
		"folds": c.Folds, "qini_normalisation": causal.QiniNormalisation, "auuc_normalisation": causal.AUUCNormalisation,
		"bootstrap_resamples": c.Bootstrap.Resamples, "level": c.Bootstrap.Level, "arms": out,
	}
}
