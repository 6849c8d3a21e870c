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

// Snapshot is what a recommendation reads, fetched in one pipelined round
// trip when the candidates are given, else in at most three.
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

	// scores decodes TextScores entries; nil decodes without caching.
	scores *scoreDecoder
	// entries holds, per plugin of TextScores, the decoded entries read by
	// ReadSnapshot.
	entries map[string]map[string]*scoreEntry
}

// TextScoreHit returns the cached features of item it from plugin at
// version, when the cached entry matches the item's current text. The map
// is shared with the Store's cache of decoded entries and must not be
// modified. An entry that cannot be decoded is a miss.
func (s Snapshot) TextScoreHit(plugin, version string, it Item) (map[string]float64, bool) {
	if em, ok := s.entries[plugin]; ok {
		e := em[it.ID]
		if e == nil || !e.matches(version, it.Text) {
			return nil, false
		}
		return e.features, true
	}
	raw, ok := s.TextScores[plugin][it.ID]
	if !ok {
		return nil, false
	}
	c, err := s.scores.decode(plugin, it.ID, raw)
	if err != nil || !c.matches(version, it.Text) {
		return nil, false
	}
	return c.features, true
}

// ReadSnapshot reads everything one recommendation needs: in one
// pipelined round trip when the request gives its candidates, else in up to
// three (the user and the popular items; the neighbours of the user's
// recent items; the candidates).
func (s *Store) ReadSnapshot(ctx context.Context, req SnapshotRequest) (Snapshot, error) {
	var snap Snapshot
	if !s.uncachedScores {
		snap.scores = &s.scores
	}
	// Round trip 1: the user, the history, the serving model, the popular
	// items, and given candidates with everything about them.
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
	var cr *candidateReads
	if len(req.Candidates) > 0 {
		cr = s.queueCandidates(ctx, pipe, req.Candidates, req.TextPlugins)
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
			e, err := decodeEvent(r)
			if err != nil {
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
	if cr == nil {
		var cands []string
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
		// Round trip 3: the generated candidates, their popularity and
		// cached text scores.
		if len(cands) == 0 {
			return snap, nil
		}
		pipe = s.rdb.Pipeline()
		cr = s.queueCandidates(ctx, pipe, cands, req.TextPlugins)
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return snap, s.wrap("read snapshot", err)
		}
		snap.RoundTrips++
	}
	if err := cr.collect(s, &snap); err != nil {
		return snap, err
	}
	return snap, nil
}

// candidateReads are the queued reads of the candidates: the items, their
// popularity and their cached text scores.
type candidateReads struct {
	cands   []string
	plugins []string
	// A single node answers one MGET; in a Cluster the item keys live in
	// different slots, so each is read with its own GET.
	mget           *redis.SliceCmd
	gets           []*redis.StringCmd
	outCmd, expCmd *redis.FloatSliceCmd
	textCmds       []*redis.SliceCmd
}

func (s *Store) queueCandidates(ctx context.Context, pipe redis.Pipeliner, cands, plugins []string) *candidateReads {
	cr := &candidateReads{cands: cands, plugins: plugins}
	itemKeys := s.k.itemKeys(cands)
	if _, cluster := s.rdb.(*redis.ClusterClient); cluster {
		cr.gets = make([]*redis.StringCmd, len(cands))
		for i, k := range itemKeys {
			cr.gets[i] = pipe.Get(ctx, k)
		}
	} else {
		cr.mget = pipe.MGet(ctx, itemKeys...)
	}
	cr.outCmd = pipe.ZMScore(ctx, s.k.popOutcome(), cands...)
	cr.expCmd = pipe.ZMScore(ctx, s.k.popExposure(), cands...)
	cr.textCmds = make([]*redis.SliceCmd, len(plugins))
	for j, p := range plugins {
		cr.textCmds[j] = pipe.HMGet(ctx, s.k.textScores(p), cands...)
	}
	return cr
}

// collect fills snap from the answered reads.
func (cr *candidateReads) collect(s *Store, snap *Snapshot) error {
	cands := cr.cands
	raw := make([]string, len(cands))
	present := make([]bool, len(cands))
	if cr.mget != nil {
		vals, err := cr.mget.Result()
		if err != nil {
			return s.wrap("read snapshot", err)
		}
		for i, v := range vals {
			raw[i], present[i] = v.(string)
		}
	} else {
		for i, g := range cr.gets {
			v, err := g.Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return s.wrap("read snapshot", err)
			}
			raw[i], present[i] = v, err == nil
		}
	}
	outs, exps := cr.outCmd.Val(), cr.expCmd.Val()
	snap.Popularity = make(map[string]ItemCount, len(cands))
	snap.Candidates = make([]Item, 0, len(cands))
	for i, id := range cands {
		if !present[i] {
			snap.Missing = append(snap.Missing, id)
			continue
		}
		it, err := s.items.decode(id, raw[i])
		if err != nil {
			return fmt.Errorf("read snapshot: decode item %q: %w", id, err)
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
	if len(cr.plugins) > 0 {
		snap.TextScores = make(map[string]map[string]string, len(cr.plugins))
		if snap.scores != nil {
			snap.entries = make(map[string]map[string]*scoreEntry, len(cr.plugins))
		}
		for j, p := range cr.plugins {
			vals := cr.textCmds[j].Val()
			if snap.scores != nil {
				snap.entries[p] = snap.scores.decodeAll(p, cands, vals)
			}
			m := make(map[string]string, len(vals))
			for i, v := range vals {
				if sv, ok := v.(string); ok {
					m[cands[i]] = sv
				}
			}
			snap.TextScores[p] = m
		}
	}
	return nil
}

// itemDecoder keeps the last decoded form of each item with the stored
// JSON it was decoded from, so an item read again unchanged is not decoded
// again. A changed item has other bytes and is decoded afresh: the cache
// never serves stale data.
type itemDecoder struct {
	mu   sync.Mutex
	byID map[string]decodedItem
}

type decodedItem struct {
	raw string
	it  Item
}

// maxDecoded bounds the decoded items kept; the cache is emptied when full.
const maxDecoded = 100_000

func (d *itemDecoder) decode(id, raw string) (Item, error) {
	d.mu.Lock()
	c, ok := d.byID[id]
	d.mu.Unlock()
	if ok && c.raw == raw {
		return c.it, nil
	}
	var it Item
	if err := json.Unmarshal([]byte(raw), &it); err != nil {
		return Item{}, err
	}
	d.mu.Lock()
	if d.byID == nil || len(d.byID) >= maxDecoded {
		d.byID = make(map[string]decodedItem)
	}
	d.byID[id] = decodedItem{raw: raw, it: it}
	d.mu.Unlock()
	return it, nil
}
