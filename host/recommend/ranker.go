package recommend

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/plugins"
)

// Candidate generation and the history a request reads: the most popular
// items, per recent item of the user's history its top neighbours, and the
// user's latest events.
const (
	genPopular   = 200
	genNeighbors = 20
	historyRead  = 50
)

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
	// others holds the other models asked for by ID (experiments' arms),
	// at most maxOtherModels of them.
	others map[uuid.UUID]*servingModel
	// textVersions holds the latest version seen of each text scorer;
	// textGen counts its changes.
	textVersions map[string]string
	textGen      uint64
	// itemRows caches the item columns of feature rows, per model (the
	// serving one and the arms of experiments), at most maxOtherModels+1.
	itemRows map[uuid.UUID]*itemRows
}

// NewRanker returns a Ranker over st that reaches plugins through src.
func NewRanker(st *store.Store, src PluginSource, logger *slog.Logger) *Ranker {
	return &Ranker{store: st, plugins: src, logger: logger}
}

// Recommend ranks the candidates for req.User. When there is no serving
// model or its plugin fails, it ranks by popularity and says why in
// FallbackReason; it fails only when the store cannot be read or the
// request is invalid.
func (r *Ranker) Recommend(ctx context.Context, req Request) (Response, error) {
	if err := req.validate(); err != nil {
		return Response{}, err
	}
	req = req.withDefaults()
	id := uuid.New()
	if req.RequestID != "" {
		id = uuid.MustParse(req.RequestID) // checked by validate
	}
	resp := Response{RequestID: id.String(), User: req.User, Policy: req.Policy}
	// The cached scores of the text scorers of the last serving model are
	// read with the snapshot.
	var textPlugins []string
	r.mu.Lock()
	if m := r.others[req.ModelID]; req.ModelID != uuid.Nil && m != nil {
		textPlugins = m.plan.text
	} else if r.cached != nil {
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
	if req.KeepCandidates {
		resp.Considered = make([]string, len(items))
		for i, it := range items {
			resp.Considered[i] = it.ID
		}
	}
	if req.ModelID != uuid.Nil {
		snap.ServingID = req.ModelID
	}
	sc, reason, rounds := r.score(ctx, req, snap, items, counts)
	resp.RedisRoundTrips += rounds
	switch {
	case sc.model != nil:
		resp.Ranker, resp.ModelID = RankerName(sc.model.meta.Ranker, sc.model.rec.Estimator), sc.model.id.String()
	default:
		resp.Ranker, resp.FallbackReason = RankPopularity, reason
	}
	resp.Warnings = sc.warnings
	if req.KeepCandidates {
		resp.ConsideredScores = make([]float64, len(items))
		for i := range items {
			resp.ConsideredScores[i] = rankScore(req, sc, counts, i)
		}
	}
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

func seedOf(id uuid.UUID) uint64 { return binary.LittleEndian.Uint64(id[:8]) }
