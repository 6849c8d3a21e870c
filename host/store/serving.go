package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// ItemScore is an item with a score, such as a co-occurrence count.
type ItemScore struct {
	Item  string  `json:"item"`
	Score float64 `json:"score"`
}

// PutNeighbors replaces the stored neighbour lists (for candidate
// generation) of the given items.
func (s *Store) PutNeighbors(ctx context.Context, nbrs map[string][]ItemScore) error {
	ids := make([]string, 0, len(nbrs))
	for id := range nbrs {
		ids = append(ids, id)
	}
	return batches(ids, s.opts.BatchSize, func(b []string) error {
		pipe := s.rdb.Pipeline()
		for _, id := range b {
			key := s.k.neighbors(id)
			pipe.Del(ctx, key)
			if len(nbrs[id]) == 0 {
				continue
			}
			zs := make([]redis.Z, len(nbrs[id]))
			for i, n := range nbrs[id] {
				zs[i] = redis.Z{Score: n.Score, Member: n.Item}
			}
			pipe.ZAdd(ctx, key, zs...)
		}
		_, err := pipe.Exec(ctx)
		return s.wrap("put neighbors", err)
	})
}

// SnapshotRequest says what a recommendation needs to read.
type SnapshotRequest struct {
	User string
	// Candidates are the items to rank; empty means generate them from
	// the most popular items and the neighbours of the user's recent items.
	Candidates []string
	// ModelName is the serving model whose id is read.
	ModelName string
	// History is how many recent events of the user to read.
	History int
	// Popular and Neighbors bound candidate generation: the most popular
	// items, and per recent item its top neighbours.
	Popular, Neighbors int
	// TextPlugins lists text-scorer plugins whose cached scores to read.
	TextPlugins []string
}

// Snapshot is what a recommendation reads, fetched in at most three
// pipelined round trips.
type Snapshot struct {
	User       User
	KnownUser  bool
	History    []Event
	ServingID  uuid.UUID
	Candidates []Item
	// Missing lists requested candidates that are not stored.
	Missing []string
	// Popularity holds the outcome and exposure counts of the candidates.
	Popularity map[string]ItemCount
	// TextScores holds per plugin the raw cached entries of the
	// candidates; read them with TextScoreHit.
	TextScores map[string]map[string]string
	// RoundTrips counts the pipelines sent.
	RoundTrips int
}

// TextScoreHit returns the cached features of item it from plugin at
// version, when the cached entry matches the item's current text.
func (s Snapshot) TextScoreHit(plugin, version string, it Item) (map[string]float64, bool) {
	raw, ok := s.TextScores[plugin][it.ID]
	if !ok {
		return nil, false
	}
	var c cachedScore
	if json.Unmarshal([]byte(raw), &c) != nil || c.Version != version || c.TextHash != TextHash(it.Text) {
		return nil, false
	}
	return c.Features, true
}

// ReadSnapshot reads everything one recommendation needs.
func (s *Store) ReadSnapshot(ctx context.Context, req SnapshotRequest) (Snapshot, error) {
	var snap Snapshot
	// Round trip 1: the user, the history, the serving model, the popular items.
	pipe := s.rdb.Pipeline()
	userCmd := pipe.Get(ctx, s.k.user(req.User))
	var histCmd *redis.StringSliceCmd
	if req.History > 0 {
		histCmd = pipe.ZRevRange(ctx, s.k.history(req.User), 0, int64(req.History)-1)
	}
	var servCmd *redis.SliceCmd
	if req.ModelName != "" {
		servCmd = pipe.HMGet(ctx, s.k.serving(req.ModelName), "current")
	}
	var popCmd *redis.ZSliceCmd
	if len(req.Candidates) == 0 && req.Popular > 0 {
		popCmd = pipe.ZRevRangeWithScores(ctx, s.k.popOutcome(), 0, int64(req.Popular)-1)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return snap, s.wrap("read snapshot", err)
	}
	snap.RoundTrips++
	if b, err := userCmd.Bytes(); err == nil {
		if err := json.Unmarshal(b, &snap.User); err != nil {
			return snap, fmt.Errorf("read snapshot: decode user %q: %w", req.User, err)
		}
		snap.KnownUser = true
	} else if !errors.Is(err, redis.Nil) {
		return snap, s.wrap("read snapshot", err)
	}
	if histCmd != nil {
		raw, err := histCmd.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return snap, s.wrap("read snapshot", err)
		}
		snap.History = make([]Event, 0, len(raw))
		for _, r := range raw {
			var e Event
			if err := json.Unmarshal([]byte(r), &e); err != nil {
				return snap, fmt.Errorf("read snapshot: decode history of %q: %w", req.User, err)
			}
			snap.History = append(snap.History, e)
		}
	}
	if servCmd != nil {
		if vals, err := servCmd.Result(); err == nil && len(vals) == 1 {
			if v, ok := vals[0].(string); ok {
				snap.ServingID, _ = uuid.Parse(v)
			}
		}
	}
	cands := req.Candidates
	if len(cands) == 0 {
		seen := map[string]bool{}
		add := func(id string) {
			if !seen[id] {
				seen[id] = true
				cands = append(cands, id)
			}
		}
		if popCmd != nil {
			zs, err := popCmd.Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return snap, s.wrap("read snapshot", err)
			}
			for _, z := range zs {
				add(z.Member.(string))
			}
		}
		// Round trip 2: the neighbours of the items in the history.
		if req.Neighbors > 0 && len(snap.History) > 0 {
			pipe := s.rdb.Pipeline()
			var cmds []*redis.StringSliceCmd
			done := map[string]bool{}
			for _, e := range snap.History {
				if done[e.Item] {
					continue
				}
				done[e.Item] = true
				cmds = append(cmds, pipe.ZRevRange(ctx, s.k.neighbors(e.Item), 0, int64(req.Neighbors)-1))
			}
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return snap, s.wrap("read snapshot", err)
			}
			snap.RoundTrips++
			for _, c := range cmds {
				for _, id := range c.Val() {
					add(id)
				}
			}
		}
	}
	// Round trip 3: the candidates, their popularity and cached text scores.
	if len(cands) == 0 {
		return snap, nil
	}
	pipe = s.rdb.Pipeline()
	itemKeys := make([]string, len(cands))
	for i, id := range cands {
		itemKeys[i] = s.k.item(id)
	}
	// In a Cluster the item keys live in different slots, so each is read
	// with its own GET; a single node answers one MGET.
	_, cluster := s.rdb.(*redis.ClusterClient)
	var mget *redis.SliceCmd
	var gets []*redis.StringCmd
	if cluster {
		gets = make([]*redis.StringCmd, len(cands))
		for i, k := range itemKeys {
			gets[i] = pipe.Get(ctx, k)
		}
	} else {
		mget = pipe.MGet(ctx, itemKeys...)
	}
	outCmd := pipe.ZMScore(ctx, s.k.popOutcome(), cands...)
	expCmd := pipe.ZMScore(ctx, s.k.popExposure(), cands...)
	textCmds := make([]*redis.SliceCmd, len(req.TextPlugins))
	for j, p := range req.TextPlugins {
		textCmds[j] = pipe.HMGet(ctx, s.k.textScores(p), cands...)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return snap, s.wrap("read snapshot", err)
	}
	snap.RoundTrips++
	raw := make([]string, len(cands))
	present := make([]bool, len(cands))
	if mget != nil {
		for i, v := range mget.Val() {
			raw[i], present[i] = v.(string)
		}
	} else {
		for i, g := range gets {
			v, err := g.Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return snap, s.wrap("read snapshot", err)
			}
			raw[i], present[i] = v, err == nil
		}
	}
	outs, exps := outCmd.Val(), expCmd.Val()
	snap.Popularity = make(map[string]ItemCount, len(cands))
	for i, id := range cands {
		if !present[i] {
			snap.Missing = append(snap.Missing, id)
			continue
		}
		it, err := s.items.decode(raw[i])
		if err != nil {
			return snap, fmt.Errorf("read snapshot: decode item %q: %w", id, err)
		}
		snap.Candidates = append(snap.Candidates, it)
		var c ItemCount
		c.Item = id
		if i < len(outs) {
			c.Outcomes = outs[i]
		}
		if i < len(exps) {
			c.Exposures = exps[i]
		}
		snap.Popularity[id] = c
	}
	if len(req.TextPlugins) > 0 {
		snap.TextScores = make(map[string]map[string]string, len(req.TextPlugins))
		for j, p := range req.TextPlugins {
			m := map[string]string{}
			for i, v := range textCmds[j].Val() {
				if sv, ok := v.(string); ok {
					m[cands[i]] = sv
				}
			}
			snap.TextScores[p] = m
		}
	}
	return snap, nil
}

// itemDecoder keeps recently decoded items keyed by their stored JSON, so
// an item read again unchanged is not decoded again. A changed item has
// other bytes and is decoded afresh: the cache never serves stale data.
type itemDecoder struct {
	mu    sync.Mutex
	byRaw map[string]Item
}

// maxDecoded bounds the decoded items kept; the cache is emptied when full.
const maxDecoded = 100_000

func (d *itemDecoder) decode(raw string) (Item, error) {
	d.mu.Lock()
	it, ok := d.byRaw[raw]
	d.mu.Unlock()
	if ok {
		return it, nil
	}
	if err := json.Unmarshal([]byte(raw), &it); err != nil {
		return Item{}, err
	}
	d.mu.Lock()
	if d.byRaw == nil || len(d.byRaw) >= maxDecoded {
		d.byRaw = make(map[string]Item)
	}
	d.byRaw[raw] = it
	d.mu.Unlock()
	return it, nil
}
