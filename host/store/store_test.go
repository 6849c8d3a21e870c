package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/causalrec/causalrec/host/redistest"
)

// newTestStore returns a Store on the real Redis at REDIS_URL whose keys
// live under a prefix owned by this test alone (see package redistest);
// the keys are deleted when the test ends.
func newTestStore(tb testing.TB, opts Options) *Store {
	tb.Helper()
	return singleNode.store(tb, opts)
}

// backend is a kind of Redis deployment the conformance tests run on.
type backend struct {
	name string
	// client returns a new client of the backend, closed when the test
	// ends; the Cluster backend skips the test when REDIS_CLUSTER_URL is
	// unset.
	client func(testing.TB) redis.UniversalClient
}

var (
	singleNode = backend{"single", func(tb testing.TB) redis.UniversalClient { return redistest.Client(tb) }}
	cluster    = backend{"cluster", func(tb testing.TB) redis.UniversalClient { return redistest.ClusterClient(tb) }}
)

// store returns a Store on the backend under a prefix owned by the test.
func (b backend) store(tb testing.TB, opts Options) *Store {
	tb.Helper()
	rdb := b.client(tb)
	opts.Prefix = redistest.PrefixOn(tb, rdb)
	s, err := New(rdb, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// onEachRedis runs the conformance test fn on a single node and on a
// Redis Cluster (skipped when REDIS_CLUSTER_URL is unset).
func onEachRedis(t *testing.T, fn func(*testing.T, backend)) {
	for _, b := range []backend{singleNode, cluster} {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

func TestItems(t *testing.T) { onEachRedis(t, testItems) }

func testItems(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.store(t, Options{BatchSize: 2})
	items := []Item{
		{ID: "a", Text: "alpha", Category: "c1", Features: map[string]float64{"price": 1.5}},
		{ID: "b:with:colons", Text: "beta", Meta: map[string]string{"lang": "en"}},
		{ID: "{c}", Text: "gamma"},
	}
	if _, err := s.PutItems(ctx, items); err != nil {
		t.Fatal(err)
	}
	found, missing, err := s.Items(ctx, []string{"{c}", "nope", "a", "b:with:colons"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(found), []string{"{c}", "a", "b:with:colons"}; !slices.Equal(got, want) {
		t.Errorf("found %v, want %v", got, want)
	}
	if !slices.Equal(missing, []string{"nope"}) {
		t.Errorf("missing %v, want [nope]", missing)
	}
	if found[1].Features["price"] != 1.5 || found[1].Category != "c1" || found[2].Meta["lang"] != "en" {
		t.Errorf("round trip lost fields: %+v", found)
	}

	// Replace one, add one: the count says one replaced.
	if n, err := s.PutItems(ctx, []Item{{ID: "a", Text: "alpha two"}, {ID: "new"}}); err != nil || n != 1 {
		t.Fatalf("PutItems replaced %d (%v), want 1", n, err)
	}
	it, err := s.Item(ctx, "a")
	if err != nil || it.Text != "alpha two" || it.Features != nil {
		t.Errorf("after replace got %+v, %v", it, err)
	}
	if _, err := s.Item(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Item(nope) error %v, want ErrNotFound", err)
	}

	// An invalid item fails the whole call and writes nothing.
	_, err = s.PutItems(ctx, []Item{{ID: "d", Text: "ok"}, {ID: "e", Features: map[string]float64{"x": nan()}}})
	if err == nil || !strings.Contains(err.Error(), "item 1") {
		t.Errorf("invalid batch error %v, want one naming item 1", err)
	}
	if _, missing, _ := s.Items(ctx, []string{"d"}); len(missing) != 1 {
		t.Error("invalid batch wrote item d")
	}
}

func TestUsers(t *testing.T) { onEachRedis(t, testUsers) }

func testUsers(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.store(t, Options{})
	if n, err := s.PutUsers(ctx, []User{{ID: "u1", Features: map[string]float64{"age": 31}}, {ID: "u2"}}); err != nil || n != 0 {
		t.Fatalf("PutUsers replaced %d (%v), want 0", n, err)
	}
	found, missing, err := s.Users(ctx, []string{"u2", "u1", "u9"})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || found[0].ID != "u2" || found[1].Features["age"] != 31 || !slices.Equal(missing, []string{"u9"}) {
		t.Errorf("Users = %+v, missing %v", found, missing)
	}
	if _, err := s.PutUsers(ctx, []User{{ID: ""}}); err == nil {
		t.Error("PutUsers accepted an empty id")
	}
}

func TestEvents(t *testing.T) { onEachRedis(t, testEventLog) }

func testEventLog(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.store(t, Options{HistoryLimit: 3, BatchSize: 4})
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	var evs []Event
	for i := range 10 {
		k := Exposure
		if i%2 == 1 {
			k = Outcome
		}
		evs = append(evs, Event{ID: fmt.Sprintf("e%02d", i), Kind: k, User: "u1", Item: fmt.Sprintf("i%d", i%3), Time: t0.Add(time.Duration(i) * time.Minute), Propensity: 0.5})
	}
	// u2 gets events out of time order.
	evs = append(evs,
		Event{ID: "x1", Kind: Outcome, User: "u2", Item: "i0", Time: t0.Add(time.Hour), Value: 3},
		Event{ID: "x2", Kind: Exposure, User: "u2", Item: "i0", Time: t0, Arm: "control"},
	)
	added, err := s.AddEvents(ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	if added != len(evs) {
		t.Errorf("added %d, want %d", added, len(evs))
	}
	// Retrying the same events (a retried request) adds nothing.
	added, err = s.AddEvents(ctx, evs[3:7])
	if err != nil || added != 0 {
		t.Errorf("retry added %d (err %v), want 0", added, err)
	}
	if n, err := s.EventCount(ctx); err != nil || n != int64(len(evs)) {
		t.Errorf("EventCount = %d, %v; want %d", n, err, len(evs))
	}
	var streamed int64
	for _, k := range s.EventLogKeys() {
		n, err := s.rdb.XLen(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		streamed += n
	}
	if len(s.EventLogKeys()) != DefaultEventShards || streamed != int64(len(evs)) {
		t.Errorf("%d event log keys hold %d events, want %d keys and %d events", len(s.EventLogKeys()), streamed, DefaultEventShards, len(evs))
	}

	// The log holds every event once, in ingestion order, with defaults.
	var log []Event
	if err := s.Events(ctx, func(e Event) error { log = append(log, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(log) != len(evs) {
		t.Fatalf("log has %d events, want %d", len(log), len(evs))
	}
	for i, e := range log {
		if e.ID != evs[i].ID || !e.Time.Equal(evs[i].Time) || e.Item != evs[i].Item {
			t.Errorf("log[%d] = %+v, want %+v", i, e, evs[i])
		}
		switch {
		case e.Kind == Exposure && e.Arm == "":
			t.Errorf("log[%d]: exposure without the default arm", i)
		case e.Kind == Outcome && e.Value == 0:
			t.Errorf("log[%d]: outcome without the default value", i)
		}
	}
	if log[10].Value != 3 || log[11].Arm != "control" || log[0].Arm != DefaultArm || log[1].Value != 1 {
		t.Errorf("explicit or default fields lost: %+v %+v %+v %+v", log[0], log[1], log[10], log[11])
	}

	// History keeps the 3 latest by event time, newest first.
	h, err := s.history(ctx, "u1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := eventIDs(h), []string{"e09", "e08", "e07"}; !slices.Equal(got, want) {
		t.Errorf("History(u1) = %v, want %v", got, want)
	}
	h, _ = s.history(ctx, "u1", 2)
	if got, want := eventIDs(h), []string{"e09", "e08"}; !slices.Equal(got, want) {
		t.Errorf("History(u1, 2) = %v, want %v", got, want)
	}
	h, _ = s.history(ctx, "u2", 10)
	if got, want := eventIDs(h), []string{"x1", "x2"}; !slices.Equal(got, want) {
		t.Errorf("History(u2) = %v, want %v", got, want)
	}
	if h, err := s.history(ctx, "nobody", 5); err != nil || len(h) != 0 {
		t.Errorf("History(nobody) = %v, %v", h, err)
	}

	// Popularity: outcomes are e01 (i1), e03 (i0), e05 (i2), e07 (i1), e09 (i0), x1 (i0).
	pop, err := s.popularItems(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Exposures: e00 i0, e02 i2, e04 i1, e06 i0, e08 i2, x2 i0.
	want := []ItemCount{{Item: "i0", Outcomes: 3, Exposures: 3}, {Item: "i1", Outcomes: 2, Exposures: 1}}
	if !slices.Equal(pop, want) {
		t.Errorf("PopularItems(2) = %+v, want %+v", pop, want)
	}
	if all, _ := s.popularItems(ctx, 0); len(all) != 3 {
		t.Errorf("PopularItems(0) has %d items, want 3", len(all))
	}

	// Events without ID get distinct random IDs: both are added.
	noID := Event{Kind: Outcome, User: "u3", Item: "i9", Time: t0}
	if added, err := s.AddEvents(ctx, []Event{noID, noID}); err != nil || added != 2 {
		t.Errorf("two events without id: added %d, %v; want 2", added, err)
	}

	// An invalid event fails the call before anything is written.
	before, _ := s.EventCount(ctx)
	_, err = s.AddEvents(ctx, []Event{{ID: "ok", Kind: Exposure, User: "u", Item: "i", Time: t0}, {Kind: "click", User: "u", Item: "i", Time: t0}})
	if err == nil || !strings.Contains(err.Error(), "unknown kind") {
		t.Errorf("invalid event error %v, want one naming the unknown kind", err)
	}
	if after, _ := s.EventCount(ctx); after != before {
		t.Errorf("invalid batch wrote %d events", after-before)
	}
}

func TestAddEventsConcurrentRetries(t *testing.T) { onEachRedis(t, testAddEventsConcurrentRetries) }

func testAddEventsConcurrentRetries(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.store(t, Options{BatchSize: 7})
	t0 := time.Unix(1_700_000_000, 0)
	evs := make([]Event, 50)
	for i := range evs {
		evs[i] = Event{ID: fmt.Sprint("c", i), Kind: Exposure, User: fmt.Sprint("u", i%5), Item: "i", Time: t0.Add(time.Duration(i) * time.Second)}
	}
	var wg sync.WaitGroup
	addedBy := make([]int, 4)
	errs := make([]error, 4)
	for g := range addedBy {
		wg.Go(func() { addedBy[g], errs[g] = s.AddEvents(ctx, evs) })
	}
	wg.Wait()
	total := 0
	for g := range addedBy {
		if errs[g] != nil {
			t.Fatal(errs[g])
		}
		total += addedBy[g]
	}
	if total != len(evs) {
		t.Errorf("4 concurrent writers added %d events in all, want %d", total, len(evs))
	}
	if n, _ := s.EventCount(ctx); n != int64(len(evs)) {
		t.Errorf("log has %d events, want %d", n, len(evs))
	}
	var pop float64
	for k := range s.k.shards {
		n, _ := s.rdb.ZScore(ctx, s.k.popExposure(k), "i").Result()
		pop += n
	}
	if pop != float64(len(evs)) {
		t.Errorf("exposure count %v, want %d", pop, len(evs))
	}
}

func TestDedupTTL(t *testing.T) { onEachRedis(t, testDedupTTL) }

func testDedupTTL(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.store(t, Options{DedupTTL: time.Hour})
	e := Event{ID: "ttl1", Kind: Exposure, User: "u", Item: "i", Time: time.Unix(1_700_000_000, 0)}
	if n, err := s.AddEvents(ctx, []Event{e, e}); err != nil || n != 1 {
		t.Fatalf("added %d, %v; want 1", n, err)
	}
	ttl, err := s.rdb.PTTL(ctx, s.markKey("u", "ttl1")).Result()
	if err != nil || ttl <= 0 || ttl > time.Hour {
		t.Errorf("dedup key TTL %v, %v; want in (0, 1h]", ttl, err)
	}
}

func TestTextScoreCache(t *testing.T) { onEachRedis(t, testTextScoreCache) }

func testTextScoreCache(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.store(t, Options{})
	items := []Item{{ID: "a", Text: "good film"}, {ID: "b", Text: "bad film"}, {ID: "c", Text: "never scored"}}
	scores := []TextScore{
		{ItemID: "a", TextHash: TextHash("good film"), Features: map[string]float64{"sentiment": 0.8}},
		{ItemID: "b", TextHash: TextHash("bad film"), Features: map[string]float64{"sentiment": -0.7}},
	}
	if err := s.PutTextScores(ctx, "sentiment", "v1", scores); err != nil {
		t.Fatal(err)
	}
	hits, misses, err := s.TextScores(ctx, "sentiment", "v1", items)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 2 || hits["a"]["sentiment"] != 0.8 || hits["b"]["sentiment"] != -0.7 || len(misses) != 1 || misses[0].ID != "c" {
		t.Errorf("hits %v misses %v", hits, misses)
	}

	// The text of b changes: its entry no longer counts.
	items[1].Text = "actually a great film"
	hits, misses, _ = s.TextScores(ctx, "sentiment", "v1", items)
	if _, ok := hits["b"]; ok || len(hits) != 1 || len(misses) != 2 {
		t.Errorf("after text change: hits %v misses %v", hits, misses)
	}
	// Another plugin version: nothing counts.
	hits, misses, _ = s.TextScores(ctx, "sentiment", "v2", items)
	if len(hits) != 0 || len(misses) != 3 {
		t.Errorf("other version: hits %v misses %d", hits, len(misses))
	}
	// Another plugin: nothing counts.
	if hits, _, _ = s.TextScores(ctx, "lm", "v1", items); len(hits) != 0 {
		t.Errorf("other plugin: hits %v", hits)
	}
	// Rescoring under v2 replaces the entry; v1 lookups now miss.
	if err := s.PutTextScores(ctx, "sentiment", "v2", []TextScore{{ItemID: "a", TextHash: TextHash("good film"), Features: map[string]float64{"sentiment": 0.9}}}); err != nil {
		t.Fatal(err)
	}
	hits, _, _ = s.TextScores(ctx, "sentiment", "v2", items[:1])
	if hits["a"]["sentiment"] != 0.9 {
		t.Errorf("v2 hit %v", hits)
	}
	if hits, _, _ = s.TextScores(ctx, "sentiment", "v1", items[:1]); len(hits) != 0 {
		t.Errorf("v1 still hits after v2 rescoring: %v", hits)
	}
	if err := s.PutTextScores(ctx, "sentiment", "v1", []TextScore{{ItemID: "a"}}); err == nil {
		t.Error("accepted a score without text hash")
	}
}

func TestModelsServingRollback(t *testing.T) { onEachRedis(t, testModelsServingRollback) }

func testModelsServingRollback(t *testing.T, b backend) {
	ctx := context.Background()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s := b.store(t, Options{Now: func() time.Time { return now }})

	id1, err := s.SaveModel(ctx, ModelRecord{Name: "uplift", Estimator: "tlearner", Metadata: map[string]string{"auuc": "0.61"}, Bytes: []byte{0, 1, 2, 255}})
	if err != nil {
		t.Fatal(err)
	}
	if id1 == uuid.Nil {
		t.Fatal("SaveModel returned the nil id")
	}
	now = now.Add(time.Minute)
	fixed := uuid.MustParse("6b0a1f5e-1111-4222-8333-944445555666")
	id2, err := s.SaveModel(ctx, ModelRecord{ID: fixed, Name: "uplift", Estimator: "xlearner", Bytes: []byte("model two")})
	if err != nil || id2 != fixed {
		t.Fatalf("SaveModel with id: %v, %v", id2, err)
	}
	if _, err := s.SaveModel(ctx, ModelRecord{ID: fixed, Name: "uplift"}); err == nil {
		t.Error("saving over an existing id succeeded")
	}
	if _, err := s.SaveModel(ctx, ModelRecord{Name: "other"}); err != nil {
		t.Fatal(err)
	}

	m, err := s.LoadModel(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Bytes) != string([]byte{0, 1, 2, 255}) || m.Estimator != "tlearner" || m.Metadata["auuc"] != "0.61" || !m.CreatedAt.Equal(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("LoadModel = %+v", m)
	}
	if _, err := s.LoadModel(ctx, uuid.New()); !errors.Is(err, ErrNotFound) {
		t.Errorf("LoadModel(unknown) error %v, want ErrNotFound", err)
	}

	list, err := s.ListModels(ctx, "uplift")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != id1 || list[1].ID != id2 || list[0].Bytes != nil {
		t.Errorf("ListModels(uplift) = %+v", list)
	}
	if all, _ := s.ListModels(ctx, ""); len(all) != 3 {
		t.Errorf("ListModels(\"\") has %d models, want 3", len(all))
	}

	if _, _, err := s.Serving(ctx, "uplift"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Serving before any SetServing: %v, want ErrNotFound", err)
	}
	if err := s.Rollback(ctx, "uplift"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Rollback with nothing served: %v, want ErrNotFound", err)
	}
	if err := s.SetServing(ctx, "uplift", uuid.New()); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetServing(unknown model): %v, want ErrNotFound", err)
	}
	others, _ := s.ListModels(ctx, "other")
	if err := s.SetServing(ctx, "uplift", others[0].ID); err == nil {
		t.Error("SetServing accepted a model of another name")
	}

	mustServe := func(wantCur, wantPrev uuid.UUID) {
		t.Helper()
		cur, prev, err := s.Serving(ctx, "uplift")
		if err != nil || cur != wantCur || prev != wantPrev {
			t.Errorf("Serving = %v, %v, %v; want %v, %v", cur, prev, err, wantCur, wantPrev)
		}
	}
	if err := s.SetServing(ctx, "uplift", id1); err != nil {
		t.Fatal(err)
	}
	mustServe(id1, uuid.Nil)
	if err := s.Rollback(ctx, "uplift"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Rollback with no previous: %v, want ErrNotFound", err)
	}
	if err := s.SetServing(ctx, "uplift", id2); err != nil {
		t.Fatal(err)
	}
	mustServe(id2, id1)
	// Setting the served model again keeps the rollback target.
	if err := s.SetServing(ctx, "uplift", id2); err != nil {
		t.Fatal(err)
	}
	mustServe(id2, id1)
	if err := s.Rollback(ctx, "uplift"); err != nil {
		t.Fatal(err)
	}
	mustServe(id1, id2)
	if err := s.Rollback(ctx, "uplift"); err != nil {
		t.Fatal(err)
	}
	mustServe(id2, id1)
}

func TestUnavailable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	defer rdb.Close()
	s, err := New(rdb, Options{Prefix: "x:"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	checks := map[string]error{
		"ping": s.Ping(ctx),
	}
	_, checks["put items"] = s.PutItems(ctx, []Item{{ID: "a"}})
	_, _, checks["items"] = s.Items(ctx, []string{"a"})
	_, checks["add events"] = s.AddEvents(ctx, []Event{{Kind: Exposure, User: "u", Item: "i", Time: time.Now()}})
	_, checks["history"] = s.history(ctx, "u", 1)
	_, _, checks["serving"] = s.Serving(ctx, "m")
	for op, err := range checks {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: error %v, want ErrUnavailable", op, err)
			continue
		}
		if !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(strings.ToLower(err.Error()), "redis") {
			t.Errorf("%s: message %q does not name redis and its address", op, err)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	for _, o := range []Options{{Prefix: "a{b}:"}, {HistoryLimit: -1}, {BatchSize: -2}} {
		if _, err := New(rdb, o); err == nil {
			t.Errorf("New accepted %+v", o)
		}
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New accepted a nil client")
	}
}

func ids(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func eventIDs(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// TestLayout checks that a store records its number of event shards when
// first used, that a Store with another number is refused, and that a
// store holding events of the earlier layout is refused until migrated.
func TestLayout(t *testing.T) { onEachRedis(t, testLayout) }

func testLayout(t *testing.T, b backend) {
	ctx := context.Background()
	rdb := b.client(t)
	prefix := redistest.PrefixOn(t, rdb)
	open := func(shards int) *Store {
		t.Helper()
		s, err := New(rdb, Options{Prefix: prefix, EventShards: shards})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ev := []Event{{ID: "l1", Kind: Exposure, User: "u", Item: "i", Time: time.Unix(1_700_000_000, 0)}}
	s := open(8)
	if _, err := s.AddEvents(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if got, err := s.rdb.HGetAll(ctx, s.k.layout()).Result(); err != nil || got["event_shards"] != "8" || got["version"] != layoutVersion {
		t.Fatalf("layout record %v, %v", got, err)
	}
	if err := open(8).CheckLayout(ctx); err != nil {
		t.Errorf("same shards: %v", err)
	}
	other := open(16)
	if err := other.CheckLayout(ctx); !errors.Is(err, ErrLayout) || !strings.Contains(err.Error(), "8 event shards, not 16") {
		t.Errorf("other shards: %v, want ErrLayout naming both", err)
	}
	if _, err := other.AddEvents(ctx, ev); !errors.Is(err, ErrLayout) {
		t.Errorf("AddEvents with other shards: %v, want ErrLayout", err)
	}
	// A store of the earlier layout (its event log under {P events}).
	legacy := open(4)
	legacy.k.p += "old:"
	legacy.k.legacy = legacy.k.p + "{" + legacy.k.p + "events}"
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: legacy.k.legacyLog(), Values: []string{"e", "{}"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := legacy.CheckLayout(ctx); !errors.Is(err, ErrLayout) || !strings.Contains(err.Error(), "causalrec migrate") {
		t.Errorf("legacy store: %v, want ErrLayout naming causalrec migrate", err)
	}
	if _, err := New(rdb, Options{Prefix: prefix, EventShards: MaxEventShards + 1}); err == nil {
		t.Error("New accepted too many shards")
	}
}
