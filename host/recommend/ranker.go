package recommend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	// Candidates are the item ids to rank; empty means the most popular
	// items in the store.
	Candidates []string `json:"candidates,omitempty"`
	// K is how many items to return (default 10).
	K int `json:"k,omitempty"`
}

// Ranked is one recommended item.
type Ranked struct {
	Item string `json:"item"`
	// Score is what the list is sorted by: the uplift, or the popularity
	// of a fallback list.
	Score float64 `json:"score"`
	// Uplift is the estimated effect of recommending the item on the
	// user's outcome; absent in a fallback list.
	Uplift *float64 `json:"uplift,omitempty"`
	// Propensity is the probability with which the policy placed the item
	// at this position (1 for the deterministic top-K policy).
	Propensity float64 `json:"propensity"`
	Position   int     `json:"position"`
}

// Response is a ranked list.
type Response struct {
	RequestID string   `json:"request_id"`
	User      string   `json:"user"`
	Items     []Ranked `json:"items"`
	// Ranker names what produced the list: "uplift:<estimator>" or
	// "popularity".
	Ranker string `json:"ranker"`
	// FallbackReason says why the list fell back to popularity.
	FallbackReason string `json:"fallback_reason,omitempty"`
	ModelID        string `json:"model_id,omitempty"`
}

// ErrBadRequest reports a request that cannot be answered as asked.
var ErrBadRequest = errors.New("bad request")

// EstimatorSource returns the handle of an estimator plugin by name.
type EstimatorSource interface {
	Estimator(name string) (plugins.Estimator, error)
}

// Ranker ranks candidates by uplift with the serving model.
type Ranker struct {
	store   *store.Store
	plugins EstimatorSource
	logger  *slog.Logger

	mu     sync.Mutex
	cached *servingModel
}

type servingModel struct {
	id       uuid.UUID
	rec      store.ModelRecord
	features featureSet
}

// NewRanker returns a Ranker over st that reaches estimator plugins
// through src.
func NewRanker(st *store.Store, src EstimatorSource, logger *slog.Logger) *Ranker {
	return &Ranker{store: st, plugins: src, logger: logger}
}

// MaxCandidates bounds the candidates of one request.
const MaxCandidates = 1000

// Recommend ranks the candidates for req.User. When there is no serving
// model or its plugin fails, it ranks by popularity and says why in
// FallbackReason; it fails only when the store cannot be read or the
// request is invalid.
func (r *Ranker) Recommend(ctx context.Context, req Request) (Response, error) {
	if req.User == "" {
		return Response{}, fmt.Errorf("%w: user is required", ErrBadRequest)
	}
	if req.K <= 0 {
		req.K = 10
	}
	if len(req.Candidates) > MaxCandidates {
		return Response{}, fmt.Errorf("%w: %d candidates, at most %d", ErrBadRequest, len(req.Candidates), MaxCandidates)
	}
	resp := Response{RequestID: uuid.NewString(), User: req.User}
	pop, err := popularity(ctx, r.store)
	if err != nil {
		return Response{}, err
	}
	cands := req.Candidates
	if len(cands) == 0 {
		for _, p := range topPopular(pop, 200) {
			cands = append(cands, p.Item)
		}
	}
	items, missing, err := r.store.Items(ctx, cands)
	if err != nil {
		return Response{}, err
	}
	if len(missing) > 0 && len(req.Candidates) > 0 {
		return Response{}, fmt.Errorf("%w: unknown items %s", ErrBadRequest, strings.Join(missing, ", "))
	}
	uplift, model, reason := r.score(ctx, req.User, items, pop)
	type scored struct {
		item   string
		score  float64
		uplift *float64
	}
	list := make([]scored, len(items))
	for i, it := range items {
		list[i] = scored{item: it.ID, score: pop[it.ID].Outcomes}
		if uplift != nil {
			u := uplift[i]
			list[i].score, list[i].uplift = u, &u
		}
	}
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].score != list[j].score {
			return list[i].score > list[j].score
		}
		return list[i].item < list[j].item
	})
	if len(list) > req.K {
		list = list[:req.K]
	}
	for i, s := range list {
		resp.Items = append(resp.Items, Ranked{Item: s.item, Score: s.score, Uplift: s.uplift, Propensity: 1, Position: i + 1})
	}
	if resp.Items == nil {
		resp.Items = []Ranked{}
	}
	if uplift != nil {
		resp.Ranker, resp.ModelID = "uplift:"+model.rec.Estimator, model.id.String()
	} else {
		resp.Ranker, resp.FallbackReason = "popularity", reason
	}
	return resp, nil
}

// score returns the uplift of each item for user, or nil with the reason
// it could not.
func (r *Ranker) score(ctx context.Context, user string, items []store.Item, pop map[string]store.ItemCount) ([]float64, *servingModel, string) {
	if len(items) == 0 {
		return nil, nil, "no candidates"
	}
	m, err := r.serving(ctx)
	if err != nil {
		return nil, nil, err.Error()
	}
	est, err := r.plugins.Estimator(m.rec.Plugin)
	if err != nil {
		return nil, nil, err.Error()
	}
	var u store.User
	if found, _, err := r.store.Users(ctx, []string{user}); err == nil && len(found) == 1 {
		u = found[0]
	}
	d := len(m.features)
	x := make([]float64, len(items)*d)
	for i, it := range items {
		m.features.row(x[i*d:(i+1)*d], u, it, pop[it.ID])
	}
	pred, err := est.Predict(ctx, plugins.PredictRequest{Model: m.rec.Bytes, X: x, NFeatures: d})
	if err != nil {
		r.logger.Warn("uplift scoring failed; ranking by popularity", "plugin", m.rec.Plugin, "error", err)
		return nil, nil, fmt.Sprintf("estimator plugin %s failed: %v", m.rec.Plugin, err)
	}
	k := len(pred.Arms)
	out := make([]float64, len(items))
	for i := range out {
		out[i] = pred.Effects[i*k]
	}
	return out, m, ""
}

// serving returns the serving model, loading it when it changed.
func (r *Ranker) serving(ctx context.Context) (*servingModel, error) {
	id, _, err := r.store.Serving(ctx, ModelName)
	if errors.Is(err, store.ErrNotFound) || (err == nil && id == uuid.Nil) {
		return nil, errors.New("no serving model yet (train one with causalrec train or POST /v1/train)")
	}
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	c := r.cached
	r.mu.Unlock()
	if c != nil && c.id == id {
		return c, nil
	}
	rec, err := r.store.LoadModel(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load serving model %s: %w", id, err)
	}
	var fs featureSet
	if err := json.Unmarshal([]byte(rec.Metadata["features"]), &fs); err != nil {
		return nil, fmt.Errorf("serving model %s has no feature list: %w", id, err)
	}
	c = &servingModel{id: id, rec: rec, features: fs}
	r.mu.Lock()
	r.cached = c
	r.mu.Unlock()
	return c, nil
}

func topPopular(pop map[string]store.ItemCount, n int) []store.ItemCount {
	out := make([]store.ItemCount, 0, len(pop))
	for _, p := range pop {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Outcomes != out[j].Outcomes {
			return out[i].Outcomes > out[j].Outcomes
		}
		return out[i].Item < out[j].Item
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
