package recommend

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/host/textscore"
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
	// relevance when asked), the DLCE score, the predicted outcome of an
	// outcome ranker, or the popularity of a popularity list.
	Score float64 `json:"score"`
	// Uplift is the estimated effect of recommending the item on the
	// user's outcome; present only for uplift rankers.
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
	// Ranker names what produced the scores: "uplift:<estimator>",
	// "dlce", "outcome", "outcome-ips" or "popularity" (the serving
	// model's ranker, or "popularity" in a fallback).
	Ranker string `json:"ranker"`
	Policy string `json:"policy"`
	// FallbackReason says why the list fell back to popularity.
	FallbackReason string   `json:"fallback_reason,omitempty"`
	ModelID        string   `json:"model_id,omitempty"`
	Warnings       []string `json:"warnings,omitempty"`
	// RedisRoundTrips counts the pipelines the request sent to Redis.
	RedisRoundTrips int `json:"redis_round_trips"`
}

// errNoHistory reports a user without engaged items to compare texts with.
var errNoHistory = errors.New("the user has no engaged items to compare texts with")

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
	// textVersions holds the latest version seen of each text scorer;
	// textGen counts its changes.
	textVersions map[string]string
	textGen      uint64
	// itemRows caches the item columns of feature rows.
	itemRows *itemRows
}

type servingModel struct {
	id       uuid.UUID
	rec      store.ModelRecord
	features featureSet
	plan     featurePlan
	ranker   string
	// plugin is the estimator plugin that predicts with the model.
	plugin string
	// textVersions are the versions the text scorers of the features
	// (plan.text) had at training.
	textVersions map[string]string
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
	// The cached scores of the text scorers of the last serving model are
	// read with the snapshot.
	var textPlugins []string
	r.mu.Lock()
	if r.cached != nil {
		textPlugins = r.cached.plan.text
	}
	r.mu.Unlock()
	snap, err := r.store.ReadSnapshot(ctx, store.SnapshotRequest{
		User: req.User, Candidates: req.Candidates, ModelName: ModelName,
		History: historyRead, Popular: genPopular, Neighbors: genNeighbors, TextPlugins: textPlugins,
	})
	if err != nil {
		return Response{}, err
	}
	resp.RedisRoundTrips = snap.RoundTrips
	if len(snap.Missing) > 0 && len(req.Candidates) > 0 {
		return Response{}, fmt.Errorf("%w: unknown items %s", ErrBadRequest, quoteIDs(snap.Missing, 10))
	}
	items, counts := snap.Candidates, snap.Counts
	if !req.IncludeConsumed {
		items, counts = unconsumed(snap.History, items, counts)
	}
	sc, reason, rounds := r.score(ctx, req, snap, items, counts)
	resp.RedisRoundTrips += rounds
	switch {
	case sc.model != nil:
		resp.Ranker, resp.ModelID = RankerName(sc.model.ranker, sc.model.rec.Estimator), sc.model.id.String()
	default:
		resp.Ranker, resp.FallbackReason = RankPopularity, reason
	}
	resp.Warnings = sc.warnings
	resp.Items = place(req, items, sc, counts, seedOf(id))
	return resp, nil
}

// unconsumed returns the items (and their counts, which run parallel) that
// no outcome event of history names. It filters in place: the slices'
// arrays are reused.
func unconsumed(history []store.Event, items []store.Item, counts []store.ItemCount) ([]store.Item, []store.ItemCount) {
	var consumed map[string]bool
	for _, e := range history {
		if e.Kind == store.Outcome {
			if consumed == nil {
				consumed = map[string]bool{}
			}
			consumed[e.Item] = true
		}
	}
	if consumed == nil {
		return items, counts
	}
	keptItems, keptCounts := items[:0], counts[:0]
	for i, it := range items {
		if !consumed[it.ID] {
			keptItems, keptCounts = append(keptItems, it), append(keptCounts, counts[i])
		}
	}
	return keptItems, keptCounts
}

// scores are the per-candidate numbers a list is built from.
type scores struct {
	// model is the serving model that ranked; nil in a fallback.
	model *servingModel
	// uplift holds the model's score of each item; nil: rank by
	// popularity. isUplift says the scores are uplifts.
	uplift         []float64
	isUplift       bool
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
	if m.ranker == RankPopularity {
		sc.model = m
		return sc, "", rounds
	}
	var rel []float64
	relFeature := m.features.has(featRelevance)
	if relFeature || req.RelevanceWeight > 0 {
		var n int
		rel, n, err = r.relevance(ctx, snap, items)
		rounds += n
		if err != nil {
			rel = nil
			if relFeature && !errors.Is(err, errNoHistory) {
				sc.warnings = append(sc.warnings, "relevance feature is 0: "+err.Error())
			}
			if req.RelevanceWeight > 0 {
				sc.warnings = append(sc.warnings, "relevance not blended: "+err.Error())
			}
		}
	}
	x, warn, n := r.rows(ctx, m, req, snap, items, counts, rel)
	defer rowPool.Put(&x)
	rounds += n
	sc.warnings = append(sc.warnings, warn...)
	d := len(m.features)
	est, err := r.plugins.Estimator(m.plugin)
	if err != nil {
		return sc, err.Error(), rounds
	}
	pred, err := est.Predict(ctx, plugins.PredictRequest{Model: m.rec.Bytes, X: x, NFeatures: d, IntervalLevel: req.IntervalLevel})
	if err != nil {
		r.logger.Warn("model scoring failed; ranking by popularity", "plugin", m.plugin, "error", err)
		return sc, fmt.Sprintf("estimator plugin %s failed: %v", m.plugin, err), rounds
	}
	k := len(pred.Arms)
	sc.model = m
	sc.isUplift = m.ranker == RankUplift
	sc.uplift = make([]float64, len(items))
	for i := range items {
		sc.uplift[i] = pred.Effects[i*k]
	}
	if pred.Lower != nil && sc.isUplift {
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

// rows returns the feature rows of the items for the request's user, row
// after row, with the warnings of the text scorers and the extra Redis
// round trips made. The item columns of a row come from the ranker's cache
// when the snapshot's catalog token, the model and the text-scorer
// versions are those they were computed under; the rest are computed.
func (r *Ranker) rows(ctx context.Context, m *servingModel, req Request, snap store.Snapshot, items []store.Item, counts []store.ItemCount, rel []float64) ([]float64, []string, int) {
	d := len(m.features)
	x := rowBuffer(len(items) * d)
	cache := r.itemRowCache(m, snap.CatalogToken)
	var missing []int
	if cache != nil {
		missing = cache.get(items, x, d)
	} else {
		missing = make([]int, len(items))
		for i := range missing {
			missing[i] = i
		}
	}
	var warnings []string
	rounds := 0
	in := &pairInputs{user: snap.User, hist: histOf(snap.History), text: make([]map[string]float64, len(m.plan.text))}
	if in.user.ID == "" {
		in.user.ID = req.User
	}
	if len(missing) > 0 {
		missItems := make([]store.Item, len(missing))
		for k, i := range missing {
			missItems[k] = items[i]
		}
		var text itemText
		text, warnings, rounds = r.itemTexts(ctx, m, snap, missItems, len(items))
		var fresh map[string][]float64
		if cache != nil {
			fresh = make(map[string][]float64, len(missing))
		}
		for _, i := range missing {
			it := items[i]
			in.item = it
			for j, feats := range text.features {
				in.text[j] = feats[it.ID]
			}
			row := x[i*d : (i+1)*d]
			m.plan.fill(row, in, m.plan.itemCols)
			if fresh != nil && !text.uncached[it.ID] {
				fresh[it.ID] = slices.Clone(row)
			}
		}
		if len(fresh) > 0 {
			cache.put(fresh)
		}
	}
	// The user columns are the same for every candidate.
	user := make([]float64, d)
	m.plan.fill(user, in, m.plan.userCols)
	for i, it := range items {
		row := x[i*d : (i+1)*d]
		for _, j := range m.plan.userCols {
			row[j] = user[j]
		}
		in.item, in.pop = it, counts[i]
		in.relevance = 0
		if rel != nil {
			in.relevance = rel[i]
		}
		m.plan.fill(row, in, m.plan.pairCols)
	}
	return x, warnings, rounds
}

// rowPool recycles the feature-row buffers of requests: a request's rows
// are dead once the model has scored them.
var rowPool sync.Pool

// rowBuffer returns a zeroed buffer of n values, from rowPool when it holds
// one large enough.
func rowBuffer(n int) []float64 {
	if p, ok := rowPool.Get().(*[]float64); ok && cap(*p) >= n {
		x := (*p)[:n]
		clear(x)
		return x
	}
	return make([]float64, n)
}

// itemRows caches the item columns (featurePlan.itemCols) of the feature
// rows of items under one serving model, catalog token and generation of
// the text-scorer versions: until one of them changes, the columns are the
// same for every request.
type itemRows struct {
	model   uuid.UUID
	token   string
	textGen uint64

	mu   sync.RWMutex
	rows map[string][]float64
}

// maxItemRows bounds the rows an itemRows keeps.
const maxItemRows = 100_000

// itemRowCache returns the cache for the model under token, a new one when
// any key changed; nil when token is empty (the catalog is not cached).
func (r *Ranker) itemRowCache(m *servingModel, token string) *itemRows {
	if token == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.itemRows
	if c == nil || c.model != m.id || c.token != token || c.textGen != r.textGen {
		c = &itemRows{model: m.id, token: token, textGen: r.textGen, rows: map[string][]float64{}}
		r.itemRows = c
	}
	return c
}

// get copies the cached item columns of items into their rows of x (d
// columns each) and returns the indices of the items it holds none for.
func (c *itemRows) get(items []store.Item, x []float64, d int) []int {
	var missing []int
	c.mu.RLock()
	defer c.mu.RUnlock()
	for i, it := range items {
		if row, ok := c.rows[it.ID]; ok {
			copy(x[i*d:(i+1)*d], row)
		} else {
			missing = append(missing, i)
		}
	}
	return missing
}

// put adds rows by item id, while the cache has room.
func (c *itemRows) put(rows map[string][]float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, row := range rows {
		if len(c.rows) >= maxItemRows {
			return
		}
		c.rows[id] = row
	}
}

// itemText are the text features of some items: per text scorer of the
// model (in plan.text order) the features by item id, and the items whose
// features did not come from the snapshot's cached entries (scored now,
// read separately, or left without features).
type itemText struct {
	features []map[string]map[string]float64
	uncached map[string]bool
}

// itemTexts returns the text features of the items (some of the request's
// candidates, of which there are total): cached ones from the snapshot,
// the rest through host/textscore. When a scorer cannot be reached, the
// items it has no cached scores for get none (their text features are 0)
// and a warning says so.
func (r *Ranker) itemTexts(ctx context.Context, m *servingModel, snap store.Snapshot, items []store.Item, total int) (itemText, []string, int) {
	out := itemText{features: make([]map[string]map[string]float64, len(m.plan.text)), uncached: map[string]bool{}}
	var warnings []string
	rounds := 0
	for j, p := range m.plan.text {
		r.mu.Lock()
		version, ok := r.textVersions[p]
		r.mu.Unlock()
		if !ok {
			version = m.textVersions[p]
		}
		feats := make(map[string]map[string]float64, len(items))
		var misses []store.Item
		for _, it := range items {
			if it.Text == "" {
				continue
			}
			if f, ok := snap.TextScoreHit(p, version, it); ok {
				feats[it.ID] = f
			} else {
				misses = append(misses, it)
			}
		}
		out.features[j] = feats
		for _, it := range misses {
			out.uncached[it.ID] = true
		}
		if !snap.ReadTextScores(p) && len(misses) > 0 {
			// The snapshot did not read this scorer's cache (the serving
			// model just changed): read it now.
			hits, rest, err := r.store.TextScores(ctx, p, version, misses)
			rounds++
			if err == nil {
				for id, f := range hits {
					feats[id] = f
				}
				misses = rest
			}
		}
		if len(misses) == 0 {
			continue
		}
		ts, err := r.plugins.TextScorer(p)
		var res textscore.Result
		if err == nil {
			res, err = textscore.Score(ctx, r.store, p, ts, misses, nil, textscore.Options{})
			rounds++
			if res.Stored > 0 {
				rounds++
			}
		}
		if err != nil {
			r.logger.Warn("text scorer unavailable; its features are 0 for uncached items", "plugin", p, "items", len(misses), "error", err)
			warnings = append(warnings, fmt.Sprintf("text scorer %s unavailable: %d of %d items without its features (0): %v", p, len(misses), total, err))
			continue
		}
		if res.Version != version {
			r.mu.Lock()
			if r.textVersions == nil {
				r.textVersions = map[string]string{}
			}
			r.textVersions[p] = res.Version
			r.textGen++
			r.mu.Unlock()
		}
		for _, s := range res.Scores {
			if s.Err == "" && s.Features != nil {
				feats[s.ID] = s.Features
			}
		}
	}
	return out, warnings, rounds
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
	c = &servingModel{id: id, rec: rec, features: fs, ranker: rec.Metadata["ranker"]}
	if c.ranker == "" {
		c.ranker = RankUplift
	}
	c.plan = fs.plan()
	var tr TextReport
	if raw := rec.Metadata["text"]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &tr); err != nil {
			return nil, 1, fmt.Errorf("serving model %s: text metadata: %w", id, err)
		}
	}
	c.textVersions = tr.Versions
	c.plugin = rec.Plugin
	if c.plugin == "" && c.ranker != RankPopularity {
		// Up to 0.1.0 the host fitted the outcome rankers itself and
		// stored their models without a plugin; the built-in estimator
		// plugin serves them.
		c.plugin = legacyOutcomePlugin
	}
	r.mu.Lock()
	r.cached = c
	r.mu.Unlock()
	return c, 1, nil
}

// legacyOutcomePlugin serves the outcome rankers' models stored without a
// plugin: the built-in estimator plugin.
const legacyOutcomePlugin = "causal"

func seedOf(id uuid.UUID) uint64 { return binary.LittleEndian.Uint64(id[:8]) }

// place orders the items by the request's policy and returns the first K
// with the propensity of each placement.
func place(req Request, items []store.Item, sc scores, counts []store.ItemCount, seed uint64) []Ranked {
	type cand struct {
		i     int
		score float64
	}
	cs := make([]cand, len(items))
	for i := range items {
		var s float64
		if i < len(counts) {
			s = counts[i].Outcomes
		}
		if sc.uplift != nil {
			s = sc.uplift[i]
			if sc.relevanceBlend != nil {
				s += req.RelevanceWeight * sc.relevanceBlend[i]
			}
		}
		cs[i] = cand{i, s}
	}
	slices.SortStableFunc(cs, func(a, b cand) int {
		if a.score != b.score {
			return cmp.Compare(b.score, a.score)
		}
		return strings.Compare(items[a.i].ID, items[b.i].ID)
	})
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	perCat := map[string]int{}
	out := []Ranked{}
	for len(out) < req.K && len(cs) > 0 {
		// Items over their category's cap cannot be placed.
		avail := cs
		if req.MaxPerCategory > 0 {
			avail = cs[:0:0]
			for _, c := range cs {
				if cat := items[c.i].Category; cat == "" || perCat[cat] < req.MaxPerCategory {
					avail = append(avail, c)
				}
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
		if sc.uplift != nil && sc.isUplift {
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

// quoteIDs lists ids quoted, the first limit of them, and how many more.
func quoteIDs(ids []string, limit int) string {
	var b strings.Builder
	for i, id := range ids[:min(len(ids), limit)] {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(id))
	}
	if len(ids) > limit {
		fmt.Fprintf(&b, " and %d more", len(ids)-limit)
	}
	return b.String()
}
