package recommend

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/plugins"
)

// errNoHistory reports a user without engaged items to compare texts with.
var errNoHistory = errors.New("the user has no engaged items to compare texts with")

// scores are the per-candidate numbers a list is built from.
type scores struct {
	// model is the serving model that ranked; nil in a fallback.
	model *servingModel
	// values holds the model's score of each item (nil: rank by
	// popularity): an uplift when areUplifts is set (an uplift ranker),
	// else a DLCE score or a predicted outcome. lower and upper bound
	// the uplifts when the estimator gives intervals.
	values         []float64
	areUplifts     bool
	lower, upper   []float64
	relevanceBlend []float64
	warnings       []string
}

// score returns the uplift of each item for the user, or nil uplift with
// the reason it could not, and the extra Redis round trips it made.
func (r *Ranker) score(ctx context.Context, req Request, snap store.Snapshot, items []store.Item, counts []store.ItemCount) (scores, string, int) {
	var sc scores
	if len(items) == 0 {
		return sc, "no candidates", 0
	}
	if snap.ServingID == uuid.Nil {
		return sc, "no serving model yet (train one with causalrec train or POST /v1/train)", 0
	}
	m, rounds, err := r.serving(ctx, snap.ServingID)
	if err != nil {
		return sc, err.Error(), rounds
	}
	sc, reason, n := r.scoreWith(ctx, m, req, snap, items, counts)
	return sc, reason, rounds + n
}

// scoreWith scores the items with model m, as score does with the serving
// model; the round trips counted are those after loading the model.
func (r *Ranker) scoreWith(ctx context.Context, m *servingModel, req Request, snap store.Snapshot, items []store.Item, counts []store.ItemCount) (scores, string, int) {
	var sc scores
	rounds := 0
	var err error
	if m.meta.Ranker == RankPopularity {
		sc.model = m
		return sc, "", rounds
	}
	var rel []float64
	relFeature := m.meta.Features.has(featRelevance)
	if relFeature || req.RelevanceWeight > 0 {
		var n int
		rel, n, err = r.relevance(ctx, snap, items)
		rounds += n
		if err != nil {
			rel = nil
			why := err.Error()
			if !errors.Is(err, errNoHistory) {
				r.logger.Warn("relevance unavailable", "error", err)
				why = "text scorer lm " + pluginFailure(err)
			}
			if relFeature && !errors.Is(err, errNoHistory) {
				sc.warnings = append(sc.warnings, "relevance feature is 0: "+why)
			}
			if req.RelevanceWeight > 0 {
				sc.warnings = append(sc.warnings, "relevance not blended: "+why)
			}
		}
	}
	x, warn, n := r.rows(ctx, m, req, snap, items, counts, rel)
	defer rowPool.Put(&x)
	rounds += n
	sc.warnings = append(sc.warnings, warn...)
	d := len(m.meta.Features)
	est, err := r.plugins.Estimator(m.plugin)
	if err != nil {
		r.logger.Warn("no estimator plugin for the serving model; ranking by popularity", "plugin", m.plugin, "error", err)
		return sc, fmt.Sprintf("estimator plugin %s of the serving model is not configured", m.plugin), rounds
	}
	pred, err := est.Predict(ctx, plugins.PredictRequest{Model: m.rec.Bytes, X: x, NFeatures: d, IntervalLevel: req.IntervalLevel})
	if err != nil {
		r.logger.Warn("model scoring failed; ranking by popularity", "plugin", m.plugin, "error", err)
		return sc, fmt.Sprintf("estimator plugin %s %s", m.plugin, pluginFailure(err)), rounds
	}
	k := len(pred.Arms)
	sc.model = m
	sc.areUplifts = m.meta.Ranker == RankUplift
	sc.values = make([]float64, len(items))
	for i := range items {
		sc.values[i] = pred.Effects[i*k]
	}
	if pred.Lower != nil && sc.areUplifts {
		sc.lower, sc.upper = make([]float64, len(items)), make([]float64, len(items))
		for i := range items {
			sc.lower[i], sc.upper[i] = pred.Lower[i*k], pred.Upper[i*k]
		}
	} else if req.IntervalLevel > 0 {
		sc.warnings = append(sc.warnings, fmt.Sprintf("estimator %s gives no intervals", m.rec.Estimator))
	}
	if req.RelevanceWeight > 0 && rel != nil {
		sc.relevanceBlend = standardise(rel)
	}
	return sc, "", rounds
}

// relevance returns the text relevance of each item to the texts of the
// items in the user's history, from the "lm" text scorer (0 for an item
// it could not score).
func (r *Ranker) relevance(ctx context.Context, snap store.Snapshot, items []store.Item) ([]float64, int, error) {
	ts, err := r.plugins.TextScorer("lm")
	if err != nil {
		return nil, 0, err
	}
	var ids []string
	seen := map[string]bool{}
	for _, e := range snap.History {
		if e.Kind == store.Outcome && !seen[e.Item] {
			seen[e.Item] = true
			ids = append(ids, e.Item)
		}
	}
	if len(ids) == 0 {
		return nil, 0, errNoHistory
	}
	hist, _, err := r.store.Items(ctx, ids)
	if err != nil {
		return nil, 1, err
	}
	var context []string
	for _, it := range hist {
		if it.Text != "" {
			context = append(context, it.Text)
		}
	}
	batch := plugins.ScoreRequest{Context: context, Items: make([]plugins.TextItem, len(items))}
	for i, it := range items {
		batch.Items[i] = plugins.TextItem{ID: it.ID, Text: it.Text}
	}
	out, err := ts.Score(ctx, batch)
	if err != nil {
		return nil, 1, err
	}
	rel := make([]float64, len(items))
	for i, sc := range out.Scores {
		if i >= len(rel) {
			break
		}
		if v := sc.Features["relevance"]; sc.Err == "" && !math.IsNaN(v) && !math.IsInf(v, 0) {
			rel[i] = v
		}
	}
	return rel, 1, nil
}

// pluginFailure says what became of a plugin call in words fit for a
// client: the error itself, which may name executables, socket paths or
// process details, goes to the server's log only.
func pluginFailure(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "did not answer within its deadline"
	case errors.Is(err, plugins.ErrUnavailable):
		return "is down (restarting)"
	case errors.Is(err, plugins.ErrInvalid):
		return "refused the request"
	case errors.Is(err, store.ErrUnavailable):
		return "could not be used: Redis is unavailable"
	}
	return "failed (see the server log)"
}

// standardise returns (v − mean)/sd of each value, all 0 when sd is 0.
func standardise(v []float64) []float64 {
	out := make([]float64, len(v))
	var sum, sq float64
	for _, x := range v {
		sum += x
	}
	mean := sum / float64(len(v))
	for _, x := range v {
		sq += (x - mean) * (x - mean)
	}
	sd := math.Sqrt(sq / float64(len(v)))
	if sd > 0 {
		for i, x := range v {
			out[i] = (x - mean) / sd
		}
	}
	return out
}
