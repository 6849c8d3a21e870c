package recommend

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/plugins"
)

// Request asks for a ranked list for one user.
type Request struct {
	User string `json:"user"`
	// Candidates are the item ids to rank; empty means candidates are
	// generated from the most popular items and the neighbours of the
	// user's recent items.
	Candidates []string `json:"candidates,omitempty"`
	// K is how many items to return (default 10).
	K int `json:"k,omitempty"`
	// IncludeConsumed keeps items the user already engaged with (by
	// default they are left out).
	IncludeConsumed bool `json:"include_consumed,omitempty"`
	// MaxPerCategory caps the items of one category in the list (0: no cap).
	MaxPerCategory int `json:"max_per_category,omitempty"`
	// RelevanceWeight blends in the text relevance of each item to the
	// user's history (from the "lm" text scorer): the list is sorted by
	// uplift + RelevanceWeight·z, z the relevance standardised over the
	// candidates. 0 ranks by uplift alone.
	RelevanceWeight float64 `json:"relevance_weight,omitempty"`
	// Policy places the items: "greedy" (default; the top K, propensity 1),
	// "epsilon-greedy" (each slot takes the best remaining item with
	// probability 1−Epsilon, else a uniformly random remaining one) or
	// "plackett-luce" (each slot draws a remaining item with probability
	// ∝ exp(score/Temperature)). The draws are seeded by the request id.
	Policy      string  `json:"policy,omitempty"`
	Epsilon     float64 `json:"epsilon,omitempty"`
	Temperature float64 `json:"temperature,omitempty"`
	// IntervalLevel, in (0, 1), asks for confidence intervals of the
	// uplift when the estimator gives them.
	IntervalLevel float64 `json:"interval_level,omitempty"`
}

// Ranked is one recommended item.
type Ranked struct {
	Item     string `json:"item"`
	Category string `json:"category,omitempty"`
	// Score is what the policy ranks by: the uplift (blended with
	// relevance when asked), or the popularity of a fallback list.
	Score float64 `json:"score"`
	// Uplift is the estimated effect of recommending the item on the
	// user's outcome; absent in a fallback list.
	Uplift      *float64 `json:"uplift,omitempty"`
	UpliftLower *float64 `json:"uplift_lower,omitempty"`
	UpliftUpper *float64 `json:"uplift_upper,omitempty"`
	// Propensity is the probability with which the policy placed the item
	// at this position, given the items placed before it.
	Propensity float64 `json:"propensity"`
	Position   int     `json:"position"`
}

// Response is a ranked list.
type Response struct {
	RequestID string   `json:"request_id"`
	User      string   `json:"user"`
	Items     []Ranked `json:"items"`
	// Ranker names what produced the scores: "uplift:<estimator>" or
	// "popularity".
	Ranker string `json:"ranker"`
	Policy string `json:"policy"`
	// FallbackReason says why the list fell back to popularity.
	FallbackReason string   `json:"fallback_reason,omitempty"`
	ModelID        string   `json:"model_id,omitempty"`
	Warnings       []string `json:"warnings,omitempty"`
	// RedisRoundTrips counts the pipelines the request sent to Redis.
	RedisRoundTrips int `json:"redis_round_trips"`
}

// ErrBadRequest reports a request that cannot be answered as asked.
var ErrBadRequest = errors.New("bad request")

// PluginSource returns plugin handles by name.
type PluginSource interface {
	Estimator(name string) (plugins.Estimator, error)
	TextScorer(name string) (plugins.TextScorer, error)
}

// Ranker ranks candidates by uplift with the serving model.
type Ranker struct {
	store   *store.Store
	plugins PluginSource
	logger  *slog.Logger

	mu     sync.Mutex
	cached *servingModel
}

type servingModel struct {
	id       uuid.UUID
	rec      store.ModelRecord
	features featureSet
}

// NewRanker returns a Ranker over st that reaches plugins through src.
func NewRanker(st *store.Store, src PluginSource, logger *slog.Logger) *Ranker {
	return &Ranker{store: st, plugins: src, logger: logger}
}

// Limits of one request.
const (
	MaxCandidates = 1000
	MaxK          = 200
	// Candidate generation: the most popular items, and per recent item
	// of the user's history its top neighbours.
	genPopular   = 200
	genNeighbors = 20
	historyRead  = 50
)

func (req *Request) check() error {
	switch {
	case req.User == "":
		return fmt.Errorf("%w: user is required", ErrBadRequest)
	case len(req.Candidates) > MaxCandidates:
		return fmt.Errorf("%w: %d candidates, at most %d", ErrBadRequest, len(req.Candidates), MaxCandidates)
	case req.K < 0 || req.K > MaxK:
		return fmt.Errorf("%w: k=%d must be in [1, %d]", ErrBadRequest, req.K, MaxK)
	case req.MaxPerCategory < 0:
		return fmt.Errorf("%w: max_per_category=%d is negative", ErrBadRequest, req.MaxPerCategory)
	case math.IsNaN(req.RelevanceWeight) || req.RelevanceWeight < 0:
		return fmt.Errorf("%w: relevance_weight must be a non-negative number", ErrBadRequest)
	case req.IntervalLevel < 0 || req.IntervalLevel >= 1 || math.IsNaN(req.IntervalLevel):
		return fmt.Errorf("%w: interval_level=%v must be in (0, 1)", ErrBadRequest, req.IntervalLevel)
	}
	if req.K == 0 {
		req.K = 10
	}
	switch req.Policy {
	case "", "greedy":
		req.Policy = "greedy"
	case "epsilon-greedy":
		if !(req.Epsilon > 0 && req.Epsilon <= 1) {
			return fmt.Errorf("%w: epsilon-greedy needs epsilon in (0, 1], got %v", ErrBadRequest, req.Epsilon)
		}
	case "plackett-luce":
		if !(req.Temperature > 0) || math.IsInf(req.Temperature, 0) {
			return fmt.Errorf("%w: plackett-luce needs a positive temperature, got %v", ErrBadRequest, req.Temperature)
		}
	default:
		return fmt.Errorf("%w: unknown policy %q (want greedy, epsilon-greedy or plackett-luce)", ErrBadRequest, req.Policy)
	}
	return nil
}

// Recommend ranks the candidates for req.User. When there is no serving
// model or its plugin fails, it ranks by popularity and says why in
// FallbackReason; it fails only when the store cannot be read or the
// request is invalid.
func (r *Ranker) Recommend(ctx context.Context, req Request) (Response, error) {
	if err := req.check(); err != nil {
		return Response{}, err
	}
	id := uuid.New()
	resp := Response{RequestID: id.String(), User: req.User, Policy: req.Policy}
	snap, err := r.store.ReadSnapshot(ctx, store.SnapshotRequest{
		User: req.User, Candidates: req.Candidates, ModelName: ModelName,
		History: historyRead, Popular: genPopular, Neighbors: genNeighbors,
	})
	if err != nil {
		return Response{}, err
	}
	resp.RedisRoundTrips = snap.RoundTrips
	if len(snap.Missing) > 0 && len(req.Candidates) > 0 {
		return Response{}, fmt.Errorf("%w: unknown items %s", ErrBadRequest, strings.Join(snap.Missing, ", "))
	}
	items := snap.Candidates
	if !req.IncludeConsumed {
		consumed := map[string]bool{}
		for _, e := range snap.History {
			if e.Kind == store.Outcome {
				consumed[e.Item] = true
			}
		}
		kept := items[:0:0]
		for _, it := range items {
			if !consumed[it.ID] {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	sc, reason, rounds := r.score(ctx, req, snap, items)
	resp.RedisRoundTrips += rounds
	if sc.uplift != nil {
		resp.Ranker, resp.ModelID = "uplift:"+sc.model.rec.Estimator, sc.model.id.String()
	} else {
		resp.Ranker, resp.FallbackReason = "popularity", reason
	}
	resp.Warnings = sc.warnings
	resp.Items = place(req, items, sc, snap.Popularity, seedOf(id))
	return resp, nil
}

// scores are the per-candidate numbers a list is built from.
type scores struct {
	model          *servingModel
	uplift         []float64 // nil: fall back to popularity
	lower, upper   []float64
	relevanceBlend []float64
	warnings       []string
}

// score returns the uplift of each item for the user, or nil uplift with
// the reason it could not, and the extra Redis round trips it made.
func (r *Ranker) score(ctx context.Context, req Request, snap store.Snapshot, items []store.Item) (scores, string, int) {
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
	est, err := r.plugins.Estimator(m.rec.Plugin)
	if err != nil {
		return sc, err.Error(), rounds
	}
	d := len(m.features)
	x := make([]float64, len(items)*d)
	for i, it := range items {
		m.features.row(x[i*d:(i+1)*d], snap.User, it, snap.Popularity[it.ID])
	}
	pred, err := est.Predict(ctx, plugins.PredictRequest{Model: m.rec.Bytes, X: x, NFeatures: d, IntervalLevel: req.IntervalLevel})
	if err != nil {
		r.logger.Warn("uplift scoring failed; ranking by popularity", "plugin", m.rec.Plugin, "error", err)
		return sc, fmt.Sprintf("estimator plugin %s failed: %v", m.rec.Plugin, err), rounds
	}
	k := len(pred.Arms)
	sc.model = m
	sc.uplift = make([]float64, len(items))
	for i := range items {
		sc.uplift[i] = pred.Effects[i*k]
	}
	if pred.Lower != nil {
		sc.lower, sc.upper = make([]float64, len(items)), make([]float64, len(items))
		for i := range items {
			sc.lower[i], sc.upper[i] = pred.Lower[i*k], pred.Upper[i*k]
		}
	} else if req.IntervalLevel > 0 {
		sc.warnings = append(sc.warnings, fmt.Sprintf("estimator %s gives no intervals", m.rec.Estimator))
	}
	if req.RelevanceWeight > 0 {
		rel, n, err := r.relevance(ctx, snap, items)
		rounds += n
		if err != nil {
			sc.warnings = append(sc.warnings, "relevance not blended: "+err.Error())
		} else {
			sc.relevanceBlend = rel
		}
	}
	return sc, "", rounds
}

// relevance returns the standardised text relevance of each item to the
// texts of the items in the user's history, from the "lm" text scorer.
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
		return nil, 0, errors.New("the user has no engaged items to compare texts with")
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
	var sum, sq float64
	for i, s := range out.Scores {
		v := s.Features["relevance"]
		if s.Err != "" || math.IsNaN(v) || math.IsInf(v, 0) {
			v = 0
		}
		rel[i] = v
		sum += v
	}
	mean := sum / float64(len(rel))
	for _, v := range rel {
		sq += (v - mean) * (v - mean)
	}
	sd := math.Sqrt(sq / float64(len(rel)))
	for i := range rel {
		if sd > 0 {
			rel[i] = (rel[i] - mean) / sd
		} else {
			rel[i] = 0
		}
	}
	return rel, 1, nil
}

// serving returns the serving model with id, loading it when it changed.
func (r *Ranker) serving(ctx context.Context, id uuid.UUID) (*servingModel, int, error) {
	r.mu.Lock()
	c := r.cached
	r.mu.Unlock()
	if c != nil && c.id == id {
		return c, 0, nil
	}
	rec, err := r.store.LoadModel(ctx, id)
	if err != nil {
		return nil, 1, fmt.Errorf("load serving model %s: %w", id, err)
	}
	var fs featureSet
	if err := json.Unmarshal([]byte(rec.Metadata["features"]), &fs); err != nil {
		return nil, 1, fmt.Errorf("serving model %s has no feature list: %w", id, err)
	}
	c = &servingModel{id: id, rec: rec, features: fs}
	r.mu.Lock()
	r.cached = c
	r.mu.Unlock()
	return c, 1, nil
}

func seedOf(id uuid.UUID) uint64 { return binary.LittleEndian.Uint64(id[:8]) }

// place orders the items by the request's policy and returns the first K
// with the propensity of each placement.
func place(req Request, items []store.Item, sc scores, pop map[string]store.ItemCount, seed uint64) []Ranked {
	type cand struct {
		i     int
		score float64
	}
	cs := make([]cand, len(items))
	for i, it := range items {
		s := pop[it.ID].Outcomes
		if sc.uplift != nil {
			s = sc.uplift[i]
			if sc.relevanceBlend != nil {
				s += req.RelevanceWeight * sc.relevanceBlend[i]
			}
		}
		cs[i] = cand{i, s}
	}
	sort.SliceStable(cs, func(a, b int) bool {
		if cs[a].score != cs[b].score {
			return cs[a].score > cs[b].score
		}
		return items[cs[a].i].ID < items[cs[b].i].ID
	})
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	perCat := map[string]int{}
	out := []Ranked{}
	for len(out) < req.K && len(cs) > 0 {
		// Items over their category's cap cannot be placed.
		avail := cs[:0:0]
		for _, c := range cs {
			cat := items[c.i].Category
			if req.MaxPerCategory == 0 || cat == "" || perCat[cat] < req.MaxPerCategory {
				avail = append(avail, c)
			}
		}
		if len(avail) == 0 {
			break
		}
		pick, prop := 0, 1.0
		switch req.Policy {
		case "epsilon-greedy":
			u := rng.Float64()
			if u < req.Epsilon {
				pick = rng.IntN(len(avail))
			}
			prop = req.Epsilon / float64(len(avail))
			if pick == 0 {
				prop += 1 - req.Epsilon
			}
		case "plackett-luce":
			w := make([]float64, len(avail))
			maxS := avail[0].score
			var total float64
			for j, c := range avail {
				w[j] = math.Exp((c.score - maxS) / req.Temperature)
				total += w[j]
			}
			u := rng.Float64() * total
			for pick = 0; pick < len(avail)-1 && u >= w[pick]; pick++ {
				u -= w[pick]
			}
			prop = w[pick] / total
		}
		c := avail[pick]
		it := items[c.i]
		rk := Ranked{Item: it.ID, Category: it.Category, Score: c.score, Propensity: prop, Position: len(out) + 1}
		if sc.uplift != nil {
			u := sc.uplift[c.i]
			rk.Uplift = &u
			if sc.lower != nil {
				lo, hi := sc.lower[c.i], sc.upper[c.i]
				rk.UpliftLower, rk.UpliftUpper = &lo, &hi
			}
		}
		out = append(out, rk)
		perCat[it.Category]++
		for j := range cs {
			if cs[j].i == c.i {
				cs = append(cs[:j], cs[j+1:]...)
				break
			}
		}
	}
	return out
}
