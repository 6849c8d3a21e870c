package recommend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/plugins"
)

// ControlArm is the exposure arm that records a deliberate non-exposure (a
// hold-out): such a pair is a control row in training.
const ControlArm = "control"

// ModelName is the name under which serving models are stored.
const ModelName = "default"

// ErrNoData reports that the store holds too little to train on.
var ErrNoData = errors.New("not enough logged data to train")

// TrainOptions choose the estimator a model is trained with.
type TrainOptions struct {
	Plugin    string
	Estimator string
	Params    map[string]string
	Seed      uint64
	// Period, when positive, splits time into windows of this length: a
	// training row is then a (user, item, period) triple, treated when the
	// item was shown to the user in that period and engaged when the user
	// engaged with it in that period. Zero makes the whole log one period.
	Period time.Duration
}

// TrainResult describes a trained and stored model.
type TrainResult struct {
	ModelID   uuid.UUID `json:"model_id"`
	Previous  uuid.UUID `json:"previous_model_id"`
	Rows      int       `json:"rows"`
	Treated   int       `json:"treated"`
	Control   int       `json:"control"`
	Features  []string  `json:"features"`
	Estimator string    `json:"estimator"`
	// Propensity says where the treated rows' propensities came from:
	// "logged" (every treated row had one), "estimated" (none or only some
	// had, so the estimator estimates them from the features).
	Propensity string            `json:"propensity"`
	Events     int               `json:"events"`
	Seconds    float64           `json:"seconds"`
	Metadata   map[string]string `json:"metadata,omitempty"`
}

// pairKey identifies a (user, item, period) row.
type pairKey struct {
	user, item string
	period     int64
}

type pairState struct {
	treated, control bool
	outcome          float64
	// propensity is the logged probability of the treated exposure;
	// controlProp that of the hold-out (the probability of not showing).
	propensity, controlProp float64
}

// Table is the training table built from logged events: one row per
// (user, item) pair with an exposure. A pair is treated when it has an
// exposure in a treated arm, control when its only exposures are in the
// control arm; its outcome is 1 when any outcome event was logged for it.
type Table struct {
	// Request holds the rows; its Propensity is set only when every
	// treated row had a logged propensity.
	Request  plugins.FitRequest
	Features featureSet
	Treated  int
	Control  int
	// Neighbors holds, per item, the items most often engaged with by the
	// same users (for candidate generation).
	Neighbors map[string][]store.ItemScore
	// Events is the number of events read; LoggedPropensity says whether
	// every treated row had a logged propensity.
	Events           int
	LoggedPropensity bool
}

// BuildTable reads every event and the users and items they name. With a
// positive period, rows are (user, item, period) triples; progress is
// logged every million events.
func BuildTable(ctx context.Context, st *store.Store, period time.Duration, logger *slog.Logger) (*Table, error) {
	pairs := map[pairKey]*pairState{}
	nEvents := 0
	users, items := map[string]store.User{}, map[string]store.Item{}
	engaged := map[string][]string{}
	err := st.Events(ctx, func(e store.Event) error {
		nEvents++
		if nEvents%1_000_000 == 0 {
			logger.Info("reading events", "events", nEvents, "rows", len(pairs))
		}
		k := pairKey{user: e.User, item: e.Item}
		if period > 0 {
			k.period = e.Time.UnixNano() / int64(period)
		}
		p := pairs[k]
		if p == nil {
			p = &pairState{}
			pairs[k] = p
		}
		switch e.Kind {
		case store.Exposure:
			if e.Arm == ControlArm {
				p.control = true
				if e.Propensity > 0 {
					p.controlProp = e.Propensity
				}
			} else {
				p.treated = true
				if e.Propensity > 0 {
					p.propensity = e.Propensity
				}
			}
		case store.Outcome:
			p.outcome = 1
			engaged[e.User] = append(engaged[e.User], e.Item)
		}
		users[e.User], items[e.Item] = store.User{ID: e.User}, store.Item{ID: e.Item}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := fillUsers(ctx, st, users); err != nil {
		return nil, err
	}
	if err := fillItems(ctx, st, items); err != nil {
		return nil, err
	}
	pop, err := popularity(ctx, st)
	if err != nil {
		return nil, err
	}
	fs := newFeatureSet(users, items)
	keys := make([]pairKey, 0, len(pairs))
	for k, p := range pairs {
		if p.treated || p.control {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].user != keys[j].user {
			return keys[i].user < keys[j].user
		}
		if keys[i].item != keys[j].item {
			return keys[i].item < keys[j].item
		}
		return keys[i].period < keys[j].period
	})
	t := &Table{Features: fs, Neighbors: cooccurrence(engaged, maxNeighbors), Events: nEvents, LoggedPropensity: true}
	req := &t.Request
	req.Arms = []string{ControlArm, "recommended"}
	for _, name := range fs {
		req.Features = append(req.Features, plugins.Feature{Name: name, Kind: plugins.Numeric})
	}
	req.X = make([]float64, len(keys)*len(fs))
	for i, k := range keys {
		p := pairs[k]
		fs.row(req.X[i*len(fs):(i+1)*len(fs)], users[k.user], items[k.item], pop[k.item])
		arm := 0
		if p.treated {
			arm = 1
			t.Treated++
		} else {
			t.Control++
		}
		req.Arm = append(req.Arm, arm)
		req.Outcome = append(req.Outcome, p.outcome)
		// The logged probability of the arm the row got: of the showing
		// for a treated row, of the hold-out for a control row.
		prop := p.controlProp
		if p.treated {
			prop = p.propensity
		}
		if prop == 0 {
			t.LoggedPropensity = false
		}
		req.Propensity = append(req.Propensity, prop)
	}
	if !t.LoggedPropensity {
		// Some row lacks a logged propensity: the estimator estimates
		// them from the features, and the result says so.
		req.Propensity = nil
	}
	if t.Treated == 0 || t.Control == 0 {
		return nil, fmt.Errorf("%w: %d treated and %d control (user, item) pairs; training needs both (log hold-outs as exposures with arm %q)", ErrNoData, t.Treated, t.Control, ControlArm)
	}
	return t, nil
}

// maxNeighbors is how many neighbours are kept per item; maxPerUser is how
// many of a user's engaged items (the latest) count for co-occurrence.
const (
	maxNeighbors = 20
	maxPerUser   = 50
)

// cooccurrence counts, for every pair of items, the users who engaged with
// both, and keeps each item's top n neighbours (ties by id).
func cooccurrence(engaged map[string][]string, n int) map[string][]store.ItemScore {
	counts := map[string]map[string]float64{}
	for _, list := range engaged {
		seen := map[string]bool{}
		var uniq []string
		for i := len(list) - 1; i >= 0 && len(uniq) < maxPerUser; i-- {
			if !seen[list[i]] {
				seen[list[i]] = true
				uniq = append(uniq, list[i])
			}
		}
		for _, a := range uniq {
			for _, b := range uniq {
				if a == b {
					continue
				}
				if counts[a] == nil {
					counts[a] = map[string]float64{}
				}
				counts[a][b]++
			}
		}
	}
	out := make(map[string][]store.ItemScore, len(counts))
	for a, m := range counts {
		list := make([]store.ItemScore, 0, len(m))
		for b, c := range m {
			list = append(list, store.ItemScore{Item: b, Score: c})
		}
		sort.Slice(list, func(i, j int) bool {
			if list[i].Score != list[j].Score {
				return list[i].Score > list[j].Score
			}
			return list[i].Item < list[j].Item
		})
		if len(list) > n {
			list = list[:n]
		}
		out[a] = list
	}
	return out
}

func fillUsers(ctx context.Context, st *store.Store, users map[string]store.User) error {
	ids := make([]string, 0, len(users))
	for id := range users {
		ids = append(ids, id)
	}
	found, _, err := st.Users(ctx, ids)
	if err != nil {
		return err
	}
	for _, u := range found {
		users[u.ID] = u
	}
	return nil
}

func fillItems(ctx context.Context, st *store.Store, items map[string]store.Item) error {
	ids := make([]string, 0, len(items))
	for id := range items {
		ids = append(ids, id)
	}
	found, _, err := st.Items(ctx, ids)
	if err != nil {
		return err
	}
	for _, it := range found {
		items[it.ID] = it
	}
	return nil
}

func popularity(ctx context.Context, st *store.Store) (map[string]store.ItemCount, error) {
	pop, err := st.PopularItems(ctx, 0)
	if err != nil {
		return nil, err
	}
	out := make(map[string]store.ItemCount, len(pop))
	for _, p := range pop {
		out[p.Item] = p
	}
	return out, nil
}

// Train builds the table, fits the estimator, stores the model and makes
// it the serving model; the previous serving model stays stored for
// rollback.
func Train(ctx context.Context, st *store.Store, est plugins.Estimator, opts TrainOptions, logger *slog.Logger) (TrainResult, error) {
	start := time.Now()
	t, err := BuildTable(ctx, st, opts.Period, logger)
	if err != nil {
		return TrainResult{}, err
	}
	propSource := "estimated"
	if t.LoggedPropensity {
		propSource = "logged"
	}
	logger.Info("training table built", "rows", len(t.Request.Arm), "treated", t.Treated, "control", t.Control, "features", len(t.Features))
	req := t.Request
	req.Estimator, req.Params, req.Seed = opts.Estimator, opts.Params, opts.Seed
	info, err := est.Info(ctx, plugins.InfoRequest{})
	if err != nil {
		return TrainResult{}, fmt.Errorf("estimator plugin %s: %w", opts.Plugin, err)
	}
	fit, err := est.Fit(ctx, req)
	if err != nil {
		return TrainResult{}, fmt.Errorf("fit %s with plugin %s: %w", opts.Estimator, opts.Plugin, err)
	}
	if err := st.PutNeighbors(ctx, t.Neighbors); err != nil {
		return TrainResult{}, err
	}
	feats, _ := json.Marshal([]string(t.Features))
	meta := map[string]string{"features": string(feats), "rows": fmt.Sprint(len(req.Arm)), "treated": fmt.Sprint(t.Treated),
		"control": fmt.Sprint(t.Control), "events": fmt.Sprint(t.Events), "propensity": propSource, "period": opts.Period.String()}
	for k, v := range fit.Metadata {
		meta["fit."+k] = v
	}
	id, err := st.SaveModel(ctx, store.ModelRecord{
		Name: ModelName, Estimator: opts.Estimator, Plugin: opts.Plugin, PluginVersion: info.Version,
		CreatedAt: time.Now().UTC(), Metadata: meta, Bytes: fit.Model,
	})
	if err != nil {
		return TrainResult{}, err
	}
	if err := st.SetServing(ctx, ModelName, id); err != nil {
		return TrainResult{}, err
	}
	_, prev, err := st.Serving(ctx, ModelName)
	if err != nil {
		return TrainResult{}, err
	}
	return TrainResult{
		ModelID: id, Previous: prev, Rows: len(req.Arm), Treated: t.Treated, Control: t.Control,
		Features: t.Features, Estimator: opts.Estimator, Seconds: time.Since(start).Seconds(), Metadata: meta,
		Propensity: propSource, Events: t.Events,
	}, nil
}
