package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

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
// trip when the candidates are given, else in at most three. (On a Cluster
// a pipeline goes to every master holding some of its keys, to each in
// parallel: one round trip per master, at the same time.)
type Snapshot struct {
	User       User
	KnownUser  bool
	History    []Event
	ServingID  uuid.UUID
	Candidates []Item
	// Missing lists requested candidates that are not stored.
	Missing []string
	// Counts holds the outcome and exposure counts of the candidates:
	// Counts[i] those of Candidates[i].
	Counts []ItemCount
	// RoundTrips counts the pipelines sent.
	RoundTrips int
	// CatalogToken, when not empty, names the catalog version the
	// candidates and their text scores were read under (see catalog.go):
	// while two snapshots carry the same token, an item and its cached
	// text scores read by both are the same, so a caller may cache what it
	// derives from them under the token. Empty when the catalog cache is
	// not used (a Cluster) or no token exists yet.
	CatalogToken string

	// scores decodes raw text-score entries; nil decodes without caching.
	scores *scoreDecoder
	// text holds the cached text-score entries read; read them with
	// TextScoreHit.
	text *snapshotText
}

// snapshotText holds the cached text-score entries of a snapshot's
// candidates, per plugin in candidate order: decoded when the Store keeps
// decoded entries, else raw. The index from item id to position is built on
// the first lookup, as many requests need none.
type snapshotText struct {
	plugins []string
	ids     []string
	// entries[j][i] is plugin j's decoded entry of ids[i] (nil: none or
	// undecodable); raw[j][i] its raw entry ("" none). One of the two is set.
	entries [][]*scoreEntry
	raw     [][]string

	once  sync.Once
	index map[string]int
}

// newSnapshotText returns the holder of the entries of plugins for ids,
// decoded ones when decoded is set.
func newSnapshotText(plugins []string, n int, decoded bool) *snapshotText {
	t := &snapshotText{plugins: plugins, ids: make([]string, 0, n)}
	if decoded {
		t.entries = make([][]*scoreEntry, len(plugins))
		for j := range t.entries {
			t.entries[j] = make([]*scoreEntry, 0, n)
		}
	} else {
		t.raw = make([][]string, len(plugins))
		for j := range t.raw {
			t.raw[j] = make([]string, 0, n)
		}
	}
	return t
}

// position returns the index of plugin and of item id, or false.
func (t *snapshotText) position(plugin, id string) (j, i int, ok bool) {
	if j = slices.Index(t.plugins, plugin); j < 0 {
		return 0, 0, false
	}
	t.once.Do(func() {
		t.index = make(map[string]int, len(t.ids))
		for i, id := range t.ids {
			t.index[id] = i
		}
	})
	i, ok = t.index[id]
	return j, i, ok
}

// ReadTextScores reports whether the snapshot read the cached text scores
// of plugin (it did for every plugin of SnapshotRequest.TextPlugins when it
// read candidates).
func (s Snapshot) ReadTextScores(plugin string) bool {
	return s.text != nil && slices.Contains(s.text.plugins, plugin)
}

// TextScoreHit returns the cached features of item it from plugin at
// version, when the cached entry matches the item's current text. The map
// is shared with the Store's cache of decoded entries and must not be
// modified. An entry that cannot be decoded is a miss.
func (s Snapshot) TextScoreHit(plugin, version string, it Item) (map[string]float64, bool) {
	if s.text == nil {
		return nil, false
	}
	j, i, ok := s.text.position(plugin, it.ID)
	if !ok {
		return nil, false
	}
	if s.text.entries != nil {
		e := s.text.entries[j][i]
		if e == nil || !e.matches(version, it.Text) {
			return nil, false
		}
		return e.features, true
	}
	raw := s.text.raw[j][i]
	if raw == "" {
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
	if s.sumCountsInRedis() && !s.countsScriptLoaded.Load() {
		if err := sumCountsScript.Load(ctx, s.rdb).Err(); err != nil {
			return Snapshot{}, s.wrap("read snapshot: load a script", err)
		}
		s.countsScriptLoaded.Store(true)
	}
	snap, err := s.readSnapshot(ctx, req)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// The server forgot the script (SCRIPT FLUSH, a failover to a
		// replica): load it again and read again.
		if err := sumCountsScript.Load(ctx, s.rdb).Err(); err != nil {
			return Snapshot{}, s.wrap("read snapshot: load a script", err)
		}
		snap, err = s.readSnapshot(ctx, req)
	}
	return snap, err
}

func (s *Store) readSnapshot(ctx context.Context, req SnapshotRequest) (Snapshot, error) {
	var snap Snapshot
	var cr *candidateReads
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
	var popCmds []*redis.ZSliceCmd
	if len(req.Candidates) == 0 && req.Popular > 0 {
		popCmds = make([]*redis.ZSliceCmd, len(s.k.shards))
		for k := range popCmds {
			popCmds[k] = pipe.ZRevRangeWithScores(ctx, s.k.popOutcome(k), 0, int64(req.Popular)-1)
		}
	}
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
		if popCmds != nil {
			top, err := mergePopular(popCmds, req.Popular)
			if err != nil {
				return snap, s.wrap("read snapshot", err)
			}
			for _, id := range top {
				add(id)
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
	if err := cr.collect(ctx, s, &snap); err != nil {
		return snap, err
	}
	return snap, nil
}

// candidateReads are the queued reads of the candidates: the items, their
// popularity and their cached text scores, less those the catalog cache
// holds under the token read first (see catalog.go).
type candidateReads struct {
	cands   []string
	plugins []string
	// token is the catalog cache's token when the reads were queued, hits
	// its entries (nil for a candidate read from Redis), tokenCmd the read
	// of the current token (nil when the cache is not used).
	token    string
	hits     []*catalogEntry
	tokenCmd *redis.StringCmd
	// fetch are the candidates read from Redis.
	fetch *valueReads
	// outCmds[k] and expCmds[k] read the counts of shard k (a Cluster);
	// sumCmd reads them all summed (a single node, see sumCountsScript).
	outCmds, expCmds []*redis.FloatSliceCmd
	sumCmd           *redis.Cmd
	// counts holds the candidates' counts served from the count cache
	// (where cached is set); countIDs are the others, read with outCmds and
	// expCmds at readAt.
	counts   []ItemCount
	cached   []bool
	countIDs []string
	readAt   time.Time
}

// valueReads are the queued reads of the catalog values of some items.
type valueReads struct {
	ids []string
	// A single node answers one MGET; in a Cluster the item keys live in
	// different slots, so each is read with its own GET.
	mget     *redis.SliceCmd
	gets     []*redis.StringCmd
	textCmds []*redis.SliceCmd
}

func (s *Store) queueCandidates(ctx context.Context, pipe redis.Pipeliner, cands, plugins []string) *candidateReads {
	cr := &candidateReads{cands: cands, plugins: plugins}
	fetch := cands
	if s.catalogCached() {
		cr.tokenCmd = pipe.Get(ctx, s.k.catalog())
		var n int
		cr.token, cr.hits, n = s.catalog.lookup(cands, plugins)
		if n > 0 {
			fetch = make([]string, 0, len(cands)-n)
			for i, id := range cands {
				if cr.hits[i] == nil {
					fetch = append(fetch, id)
				}
			}
		}
	}
	cr.fetch = s.queueValues(ctx, pipe, fetch, plugins)
	cr.countIDs = cands
	if s.opts.CountsTTL > 0 {
		cr.readAt = s.opts.Now()
		ttl := s.opts.CountsTTL
		var n int
		var refresh []string
		cr.counts, cr.cached, n, refresh = s.counts.fresh(cands, cr.readAt.Add(-ttl), cr.readAt.Add(-2*ttl), cr.readAt.Add(-ttl/2))
		if refresh != nil {
			s.refreshCounts(refresh)
		}
		if n > 0 {
			cr.countIDs = make([]string, 0, len(cands)-n)
			for i, id := range cands {
				if !cr.cached[i] {
					cr.countIDs = append(cr.countIDs, id)
				}
			}
		}
	}
	s.queueCounts(ctx, pipe, cr)
	return cr
}

// queueCounts queues the reads of the counts of cr.countIDs.
func (s *Store) queueCounts(ctx context.Context, pipe redis.Pipeliner, cr *candidateReads) {
	if len(cr.countIDs) == 0 {
		return
	}
	if s.sumCountsInRedis() {
		args := make([]any, len(cr.countIDs))
		for i, id := range cr.countIDs {
			args[i] = id
		}
		cr.sumCmd = sumCountsScript.EvalSha(ctx, pipe, s.k.popKeys(), args...)
		return
	}
	cr.outCmds = make([]*redis.FloatSliceCmd, len(s.k.shards))
	cr.expCmds = make([]*redis.FloatSliceCmd, len(s.k.shards))
	for k := range s.k.shards {
		cr.outCmds[k] = pipe.ZMScore(ctx, s.k.popOutcome(k), cr.countIDs...)
		cr.expCmds[k] = pipe.ZMScore(ctx, s.k.popExposure(k), cr.countIDs...)
	}
}

// refreshBatch is the most items whose counts one background read reads.
const refreshBatch = 128

// refreshCounts reads the counts of ids again in the background, in
// batches, and caches them; it ends the refresh (doneRefreshing) when done.
// A failed read ends it early: the counts stay stale, and past twice the
// TTL snapshots read them themselves. Wait waits for it.
func (s *Store) refreshCounts(ids []string) {
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		defer s.counts.doneRefreshing()
		for len(ids) > 0 {
			batch := ids[:min(refreshBatch, len(ids))]
			ids = ids[len(batch):]
			at := s.opts.Now()
			counts, err := s.readCounts(batch)
			if err != nil {
				return
			}
			s.counts.put(counts, at)
		}
	}()
}

// readCounts reads the counts of ids, summed over the shards, one shard a
// round trip. Unlike a snapshot's read (one script on a single node, which
// holds Redis while it runs its two commands per shard), it lets other
// clients' commands in between: it runs off the request path, where more
// round trips cost nothing.
func (s *Store) readCounts(ids []string) ([]ItemCount, error) {
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	read := make([]ItemCount, len(ids))
	for i, id := range ids {
		read[i].Item = id
	}
	for k := range s.k.shards {
		pipe := s.rdb.Pipeline()
		outCmd := pipe.ZMScore(ctx, s.k.popOutcome(k), ids...)
		expCmd := pipe.ZMScore(ctx, s.k.popExposure(k), ids...)
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		addCounts(read, outCmd.Val(), expCmd.Val())
	}
	return read, nil
}

// addCounts adds one shard's outcome and exposure counts, in the order of
// read, to read.
func addCounts(read []ItemCount, outs, exps []float64) {
	for i := range read {
		if i < len(outs) {
			read[i].Outcomes += outs[i]
		}
		if i < len(exps) {
			read[i].Exposures += exps[i]
		}
	}
}

// refreshTimeout bounds a background read of counts.
const refreshTimeout = 5 * time.Second

// Wait waits for the Store's background reads to end. Call it before
// closing the Redis client.
func (s *Store) Wait() { s.background.Wait() }

// sumCountsScript sums the popularity counts of items over the shards, on
// a single node (where a script may touch keys of any slot): one command
// instead of two per shard.
//
// KEYS: every shard's outcome counts, then every shard's exposure counts.
// ARGV: the item IDs. It answers, as strings, the items' summed outcome
// counts, then their summed exposure counts.
var sumCountsScript = redis.NewScript(`
local n, m = #KEYS / 2, #ARGV
local out = {}
for i = 1, 2 * m do out[i] = 0 end
for k = 1, 2 * n do
  local base = 0
  if k > n then base = m end
  local v = redis.call('ZMSCORE', KEYS[k], unpack(ARGV))
  for i = 1, m do
    if v[i] then out[base + i] = out[base + i] + tonumber(v[i]) end
  end
end
for i = 1, 2 * m do out[i] = tostring(out[i]) end
return out
`)

// sumCountsInRedis reports whether snapshots sum the shards' counts in
// Redis (a single node) rather than reading each shard's.
func (s *Store) sumCountsInRedis() bool {
	return !s.isCluster() && !s.countsPerShard
}

// mergePopular returns the n items with the most outcomes by the sum of
// their counts in the shards' top-n lists, most first (ties by ID). An
// item's sum counts only the shards where it is in the top n, so the merged
// list is the exact top n when every shard's top n holds it, and close to
// it otherwise; the candidates' exact counts are read afterwards.
func mergePopular(cmds []*redis.ZSliceCmd, n int) ([]string, error) {
	sum := map[string]float64{}
	for _, c := range cmds {
		zs, err := c.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		for _, z := range zs {
			if id, ok := z.Member.(string); ok {
				sum[id] += z.Score
			}
		}
	}
	ids := make([]string, 0, len(sum))
	for id := range sum {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if sum[a] != sum[b] {
			if sum[a] > sum[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return ids[:min(n, len(ids))], nil
}

// countsErr returns the first error of the reads of the counts (a
// pipeline's error may be another command's redis.Nil).
func (cr *candidateReads) countsErr() error {
	if cr.sumCmd != nil {
		return cr.sumCmd.Err()
	}
	for k := range cr.outCmds {
		if err := cr.outCmds[k].Err(); err != nil {
			return err
		}
		if err := cr.expCmds[k].Err(); err != nil {
			return err
		}
	}
	return nil
}

// candidateCounts returns the counts of every candidate: cached ones and
// those read, which it caches when the Store caches counts.
func (cr *candidateReads) candidateCounts(s *Store) []ItemCount {
	read := cr.countsRead()
	if s.opts.CountsTTL <= 0 {
		return read
	}
	if len(read) > 0 {
		s.counts.put(read, cr.readAt)
	}
	if len(read) == len(cr.cands) {
		return read
	}
	out, f := cr.counts, 0
	for i := range cr.cands {
		if !cr.cached[i] {
			out[i], f = read[f], f+1
		}
	}
	return out
}

// countsRead returns the answered reads of the counts of cr.countIDs.
func (cr *candidateReads) countsRead() []ItemCount {
	read := make([]ItemCount, len(cr.countIDs))
	for i, id := range cr.countIDs {
		read[i].Item = id
	}
	if cr.sumCmd != nil {
		vals, _ := cr.sumCmd.StringSlice()
		if len(vals) == 2*len(read) {
			for i := range read {
				read[i].Outcomes, _ = strconv.ParseFloat(vals[i], 64)
				read[i].Exposures, _ = strconv.ParseFloat(vals[len(read)+i], 64)
			}
		}
	}
	for k := range cr.outCmds {
		addCounts(read, cr.outCmds[k].Val(), cr.expCmds[k].Val())
	}
	return read
}

// queueValues queues the reads of the items ids and of their text-score
// entries of plugins.
func (s *Store) queueValues(ctx context.Context, pipe redis.Pipeliner, ids, plugins []string) *valueReads {
	vr := &valueReads{ids: ids}
	if len(ids) == 0 {
		return vr
	}
	itemKeys := s.k.itemKeys(ids)
	if s.isCluster() {
		vr.gets = make([]*redis.StringCmd, len(ids))
		for i, k := range itemKeys {
			vr.gets[i] = pipe.Get(ctx, k)
		}
	} else {
		vr.mget = pipe.MGet(ctx, itemKeys...)
	}
	vr.textCmds = make([]*redis.SliceCmd, len(plugins))
	for j, p := range plugins {
		vr.textCmds[j] = pipe.HMGet(ctx, s.k.textScores(p), ids...)
	}
	return vr
}

// values returns the answered reads: per id the raw item and whether it is
// stored, and per plugin the raw entries (nil where none).
func (vr *valueReads) values(s *Store, plugins []string) (raw []string, present []bool, text [][]any, err error) {
	raw, present = make([]string, len(vr.ids)), make([]bool, len(vr.ids))
	text = make([][]any, len(plugins))
	if len(vr.ids) == 0 {
		return raw, present, text, nil
	}
	if vr.mget != nil {
		vals, err := vr.mget.Result()
		if err != nil {
			return nil, nil, nil, s.wrap("read snapshot", err)
		}
		for i, v := range vals {
			raw[i], present[i] = v.(string)
		}
	} else {
		for i, g := range vr.gets {
			v, err := g.Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return nil, nil, nil, s.wrap("read snapshot", err)
			}
			raw[i], present[i] = v, err == nil
		}
	}
	for j := range plugins {
		vals, err := vr.textCmds[j].Result()
		if err != nil {
			return nil, nil, nil, s.wrap("read snapshot", err)
		}
		text[j] = vals
	}
	return raw, present, text, nil
}

// collect fills snap from the answered reads. When the catalog token
// changed since the cached entries were read, it reads their values again
// (one more round trip).
func (cr *candidateReads) collect(ctx context.Context, s *Store, snap *Snapshot) error {
	cands, plugins := cr.cands, cr.plugins
	fraw, fpresent, ftext, err := cr.fetch.values(s, plugins)
	if err != nil {
		return err
	}
	var token string
	if cr.tokenCmd != nil {
		token, err = cr.tokenCmd.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return s.wrap("read snapshot", err)
		}
	}
	hits := cr.hits
	fetched := cr.fetch.ids
	if token != cr.token {
		var stale []string
		for i, e := range hits {
			if e != nil {
				stale = append(stale, cands[i])
			}
		}
		if len(stale) > 0 {
			// The catalog changed since the cached values were read: they
			// may be stale, read them again.
			pipe := s.rdb.Pipeline()
			vr := s.queueValues(ctx, pipe, stale, plugins)
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return s.wrap("read snapshot", err)
			}
			snap.RoundTrips++
			sraw, spresent, stext, err := vr.values(s, plugins)
			if err != nil {
				return err
			}
			// Both reads merged in candidate order; nothing comes from
			// the cache.
			fraw, fpresent, ftext = mergeValues(hits, fraw, fpresent, ftext, sraw, spresent, stext)
			fetched = cands
		}
		hits = nil
	}
	// Decode what was read; the cached entries hold their decoded forms.
	fitems := make([]Item, len(fetched))
	for i, id := range fetched {
		if !fpresent[i] {
			continue
		}
		if fitems[i], err = s.items.decode(id, fraw[i]); err != nil {
			return fmt.Errorf("read snapshot: decode item %q: %w", id, err)
		}
	}
	var fscores []map[string]*scoreEntry
	if snap.scores != nil {
		fscores = make([]map[string]*scoreEntry, len(plugins))
		for j, p := range plugins {
			fscores[j] = snap.scores.decodeAll(p, fetched, ftext[j])
		}
	}
	if cr.tokenCmd != nil {
		if token == "" {
			s.createCatalogToken(ctx, snap)
		}
		s.catalog.store(token, fetched, fraw, fpresent, fitems, plugins, ftext, fscores)
		snap.CatalogToken = token
	}

	if err := cr.countsErr(); err != nil {
		return s.wrap("read snapshot: popularity counts", err)
	}
	counts := cr.candidateCounts(s)
	// The counts of the stored candidates, filtered in place: counts is
	// this snapshot's own and entry i is read before any write past it.
	snap.Counts = counts[:0]
	snap.Candidates = make([]Item, 0, len(cands))
	var st *snapshotText
	if len(plugins) > 0 {
		st = newSnapshotText(plugins, len(cands), snap.scores != nil)
		snap.text = st
	}
	f := 0
	for i, id := range cands {
		var e *catalogEntry
		if hits != nil {
			e = hits[i]
		}
		var it Item
		switch {
		case e != nil:
			it = e.it
			if st != nil {
				st.ids = append(st.ids, id)
				for j, p := range plugins {
					sl := e.slot(p) // not nil: lookup returned only complete entries
					if st.entries != nil {
						st.entries[j] = append(st.entries[j], sl.score)
					} else {
						raw, _ := sl.raw.(string)
						st.raw[j] = append(st.raw[j], raw)
					}
				}
			}
		case !fpresent[f]:
			snap.Missing = append(snap.Missing, id)
			f++
			continue
		default:
			it = fitems[f]
			if st != nil {
				st.ids = append(st.ids, id)
				for j := range plugins {
					if st.entries != nil {
						st.entries[j] = append(st.entries[j], fscores[j][id])
					} else {
						raw, _ := ftext[j][f].(string)
						st.raw[j] = append(st.raw[j], raw)
					}
				}
			}
			f++
		}
		snap.Candidates = append(snap.Candidates, it)
		snap.Counts = append(snap.Counts, counts[i])
	}
	return nil
}

// mergeValues interleaves the values of the candidates that missed the
// cache (f...) and of those that hit it, read again (s...), in candidate
// order.
func mergeValues(hits []*catalogEntry, fraw []string, fpresent []bool, ftext [][]any, sraw []string, spresent []bool, stext [][]any) ([]string, []bool, [][]any) {
	raw, present := make([]string, len(hits)), make([]bool, len(hits))
	text := make([][]any, len(ftext))
	for j := range text {
		text[j] = make([]any, len(hits))
	}
	f, g := 0, 0
	for i, e := range hits {
		if e == nil {
			raw[i], present[i] = fraw[f], fpresent[f]
			for j := range text {
				text[j][i] = ftext[j][f]
			}
			f++
			continue
		}
		raw[i], present[i] = sraw[g], spresent[g]
		for j := range text {
			text[j][i] = stext[j][g]
		}
		g++
	}
	return raw, present, text
}

// createCatalogToken creates the catalog token when none exists, so that
// later snapshots can use the cache; values read before it existed are not
// cached.
func (s *Store) createCatalogToken(ctx context.Context, snap *Snapshot) {
	// SETNX: a writer's token, set meanwhile, wins.
	if err := s.rdb.SetNX(ctx, s.k.catalog(), newCatalogToken(), 0).Err(); err == nil {
		snap.RoundTrips++
	}
}
