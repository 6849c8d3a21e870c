package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestReadSnapshot(t *testing.T) { onEachRedis(t, testReadSnapshot) }

func testReadSnapshot(t *testing.T, b backend) {
	s := b.store(t, Options{})
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.PutUsers(ctx, []User{{ID: "u", Features: map[string]float64{"age": 3}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutItems(ctx, []Item{{ID: "a", Text: "alpha"}, {ID: "b"}, {ID: "c"}, {ID: "d"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddEvents(ctx, []Event{
		{Kind: Outcome, User: "u", Item: "a", Time: t0},
		{Kind: Outcome, User: "w", Item: "b", Time: t0},
		{Kind: Outcome, User: "w", Item: "b", Time: t0.Add(time.Second)},
		{Kind: Exposure, User: "w", Item: "b", Time: t0},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutNeighbors(ctx, map[string][]ItemScore{"a": {{Item: "c", Score: 2}, {Item: "d", Score: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTextScores(ctx, "lm", "v1", []TextScore{{ItemID: "a", TextHash: TextHash("alpha"), Features: map[string]float64{"perplexity": 9}}}); err != nil {
		t.Fatal(err)
	}

	// Generated candidates: popular items (b, a) and a's neighbours (c).
	snap, err := s.ReadSnapshot(ctx, SnapshotRequest{User: "u", ModelName: "default", History: 10, Popular: 5, Neighbors: 1, TextPlugins: []string{"lm"}})
	if err != nil {
		t.Fatal(err)
	}
	if !snap.KnownUser || snap.User.Features["age"] != 3 || len(snap.History) != 1 || snap.RoundTrips != 3 {
		t.Fatalf("user %+v known %v history %d round trips %d", snap.User, snap.KnownUser, len(snap.History), snap.RoundTrips)
	}
	var ids []string
	for _, it := range snap.Candidates {
		ids = append(ids, it.ID)
	}
	if len(ids) != 3 || ids[0] != "b" || ids[1] != "a" || ids[2] != "c" {
		t.Fatalf("candidates %v, want [b a c]", ids)
	}
	if p := countOf(snap, "b"); p.Outcomes != 2 || p.Exposures != 1 {
		t.Errorf("popularity of b: %+v", p)
	}
	if f, ok := snap.TextScoreHit("lm", "v1", snap.Candidates[1]); !ok || f["perplexity"] != 9 {
		t.Errorf("cached text score of a: %v %v", f, ok)
	}
	if _, ok := snap.TextScoreHit("lm", "v2", snap.Candidates[1]); ok {
		t.Error("a cached score of another version counted as a hit")
	}

	// Given candidates: everything in one round trip, missing ones reported.
	snap, err = s.ReadSnapshot(ctx, SnapshotRequest{User: "nobody", Candidates: []string{"d", "zz"}, History: 10})
	if err != nil {
		t.Fatal(err)
	}
	if snap.KnownUser || snap.RoundTrips != 1 || len(snap.Candidates) != 1 || snap.Candidates[0].ID != "d" || len(snap.Missing) != 1 || snap.Missing[0] != "zz" {
		t.Fatalf("snapshot %+v", snap)
	}
	snap, err = s.ReadSnapshot(ctx, SnapshotRequest{User: "u", Candidates: []string{"a", "b"}, ModelName: "default", History: 10, TextPlugins: []string{"lm"}})
	if err != nil {
		t.Fatal(err)
	}
	if !snap.KnownUser || len(snap.History) != 1 || snap.RoundTrips != 1 || len(snap.Candidates) != 2 || countOf(snap, "b").Outcomes != 2 {
		t.Fatalf("snapshot with given candidates: known %v, history %d, round trips %d, candidates %d, popularity %+v",
			snap.KnownUser, len(snap.History), snap.RoundTrips, len(snap.Candidates), snap.Counts)
	}
	if f, ok := snap.TextScoreHit("lm", "v1", snap.Candidates[0]); !ok || f["perplexity"] != 9 {
		t.Errorf("cached text score of a with given candidates: %v %v", f, ok)
	}
	// A missing candidate before stored ones: the counts stay parallel.
	snap, err = s.ReadSnapshot(ctx, SnapshotRequest{User: "u", Candidates: []string{"zz", "a", "yy", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Candidates) != 2 || len(snap.Counts) != 2 || countOf(snap, "b").Outcomes != 2 || len(snap.Missing) != 2 {
		t.Fatalf("snapshot with missing candidates: candidates %+v, counts %+v, missing %v", snap.Candidates, snap.Counts, snap.Missing)
	}
}

// countOf returns the counts of candidate id of snap (zero when absent),
// checking that Counts runs parallel to Candidates.
func countOf(snap Snapshot, id string) ItemCount {
	for i, it := range snap.Candidates {
		if it.ID == id && i < len(snap.Counts) && snap.Counts[i].Item == id {
			return snap.Counts[i]
		}
	}
	return ItemCount{}
}

// TestSnapshotCountsTTL checks the count cache: within the TTL a snapshot
// serves the counts an earlier one read (a write by another process shows
// only after the TTL), events written through the same Store show at once,
// and a Store without a TTL reads them every time.
func TestSnapshotCountsTTL(t *testing.T) { onEachRedis(t, testSnapshotCountsTTL) }

func testSnapshotCountsTTL(t *testing.T, b backend) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	s := b.store(t, Options{CountsTTL: time.Minute, Now: func() time.Time { return now }})
	// other writes to the same keys, as another process would.
	other, err := New(s.rdb, Options{Prefix: s.opts.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutItems(ctx, []Item{{ID: "a"}, {ID: "b"}}); err != nil {
		t.Fatal(err)
	}
	outcome := func(w *Store, item string) {
		t.Helper()
		if _, err := w.AddEvents(ctx, []Event{{Kind: Outcome, User: "u", Item: item, Time: now}}); err != nil {
			t.Fatal(err)
		}
		// Reads that begin at the time of the write are not cached.
		now = now.Add(time.Millisecond)
	}
	outcomes := func(w *Store) map[string]float64 {
		t.Helper()
		snap, err := w.ReadSnapshot(ctx, SnapshotRequest{User: "x", Candidates: []string{"a", "b"}})
		if err != nil {
			t.Fatal(err)
		}
		if snap.RoundTrips != 1 || len(snap.Counts) != 2 {
			t.Fatalf("round trips %d, counts %+v", snap.RoundTrips, snap.Counts)
		}
		return map[string]float64{"a": countOf(snap, "a").Outcomes, "b": countOf(snap, "b").Outcomes}
	}
	// Each step reads twice, the second time after the Store's background
	// reads have ended.
	steps := []struct {
		name        string
		change      func()
		first, then map[string]float64
	}{
		{"first read", func() { outcome(s, "a") }, map[string]float64{"a": 1, "b": 0}, map[string]float64{"a": 1, "b": 0}},
		{"another process writes: cached", func() { outcome(other, "a"); outcome(other, "b") }, map[string]float64{"a": 1, "b": 0}, map[string]float64{"a": 1, "b": 0}},
		{"the TTL passes: served stale, read again in the background", func() { now = now.Add(61 * time.Second) }, map[string]float64{"a": 1, "b": 0}, map[string]float64{"a": 2, "b": 1}},
		{"this Store writes: at once", func() { outcome(s, "b") }, map[string]float64{"a": 2, "b": 2}, map[string]float64{"a": 2, "b": 2}},
		{"another process writes, twice the TTL passes: read at once", func() { outcome(other, "a"); now = now.Add(121 * time.Second) }, map[string]float64{"a": 3, "b": 2}, map[string]float64{"a": 3, "b": 2}},
	}
	for _, st := range steps {
		st.change()
		if got := outcomes(s); got["a"] != st.first["a"] || got["b"] != st.first["b"] {
			t.Errorf("%s: outcomes %v, want %v", st.name, got, st.first)
		}
		s.Wait()
		if got := outcomes(s); got["a"] != st.then["a"] || got["b"] != st.then["b"] {
			t.Errorf("%s, then: outcomes %v, want %v", st.name, got, st.then)
		}
	}
	s.Wait()
	if got := outcomes(other); got["a"] != 3 || got["b"] != 2 {
		t.Errorf("without a TTL: outcomes %v, want a 3, b 2", got)
	}
	if _, err := New(s.rdb, Options{CountsTTL: -time.Second}); err == nil {
		t.Error("a negative CountsTTL is accepted")
	}
}

// TestMergePopular checks the merge of the shards' top lists: counts of an
// item summed over the shards, most first, ties by ID, cut at n.
func TestMergePopular(t *testing.T) {
	shard := func(zs ...redis.Z) *redis.ZSliceCmd {
		c := redis.NewZSliceCmd(context.Background())
		c.SetVal(zs)
		return c
	}
	cases := []struct {
		name   string
		shards []*redis.ZSliceCmd
		n      int
		want   []string
	}{
		{"no shards", nil, 3, []string{}},
		{"empty shards", []*redis.ZSliceCmd{shard(), shard()}, 3, []string{}},
		{"sums across shards", []*redis.ZSliceCmd{shard(redis.Z{Score: 5, Member: "a"}, redis.Z{Score: 4, Member: "b"}), shard(redis.Z{Score: 3, Member: "b"}, redis.Z{Score: 1, Member: "c"})}, 3, []string{"b", "a", "c"}},
		{"cut at n", []*redis.ZSliceCmd{shard(redis.Z{Score: 5, Member: "a"}, redis.Z{Score: 4, Member: "b"}), shard(redis.Z{Score: 3, Member: "b"})}, 1, []string{"b"}},
		{"ties by id", []*redis.ZSliceCmd{shard(redis.Z{Score: 2, Member: "z"}), shard(redis.Z{Score: 2, Member: "y"})}, 2, []string{"y", "z"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := mergePopular(c.shards, c.n)
			if err != nil || !slices.Equal(got, c.want) {
				t.Errorf("mergePopular = %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

// TestSnapshotCountsSummed checks that a single node's snapshot, which
// sums the shards' counts in Redis, reads what reading each shard gives,
// and that it loads its script again when the server forgot it.
func TestSnapshotCountsSummed(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	evs := benchEvents(3000)
	items := []Item{{ID: "i0"}, {ID: "i1"}, {ID: "i7"}, {ID: "i499"}}
	if _, err := s.PutItems(ctx, items); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	cands := []string{"i0", "i1", "i7", "i499", "never"}
	read := func(s *Store) []ItemCount {
		t.Helper()
		snap, err := s.ReadSnapshot(ctx, SnapshotRequest{User: "u1", Candidates: cands})
		if err != nil {
			t.Fatal(err)
		}
		return snap.Counts
	}
	summed := read(s)
	s.countsPerShard = true
	perShard := read(s)
	s.countsPerShard = false
	// Items i0..i499 each have 6 events (of users in several shards),
	// every 4th event an outcome: i0's 6 are outcomes, i1's exposures.
	want := []ItemCount{{Item: "i0", Outcomes: 6}, {Item: "i1", Exposures: 6}, {Item: "i7", Exposures: 6}, {Item: "i499", Exposures: 6}}
	if !slices.Equal(summed, want) || !slices.Equal(perShard, want) {
		t.Errorf("summed %+v, per shard %+v", summed, perShard)
	}

	// An embedded server whose script cache is flushed.
	rdb, stop, err := StartEmbedded(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	e, err := New(rdb, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.PutItems(ctx, items); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	first := read(e)
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if again := read(e); !slices.Equal(again, first) || !slices.Equal(first, summed) {
		t.Errorf("after SCRIPT FLUSH: %+v, before %+v, real Redis %+v", again, first, summed)
	}
}
