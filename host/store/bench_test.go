package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/redistest"
)

// benchStore is newTestStore for benchmarks: it skips, saying why, when
// Redis does not answer.
func benchStore(b *testing.B, opts Options) *Store {
	b.Helper()
	rdb, err := Connect(context.Background(), redistest.URL())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = rdb.Ping(ctx).Err()
		cancel()
		_ = rdb.Close()
	}
	if err != nil {
		b.Skipf("benchmark needs Redis at %s (set REDIS_URL): %v", redistest.URL(), err)
	}
	return newTestStore(b, opts)
}

func benchEvents(n int) []Event {
	t0 := time.Unix(1_700_000_000, 0)
	evs := make([]Event, n)
	for i := range evs {
		k := Exposure
		if i%4 == 0 {
			k = Outcome
		}
		evs[i] = Event{ID: uuid.NewString(), Kind: k, User: fmt.Sprint("u", i%1000), Item: fmt.Sprint("i", i%500),
			Time: t0.Add(time.Duration(i) * time.Second), Propensity: 0.3, PolicyID: "p"}
	}
	return evs
}

// BenchmarkAddEvents measures ingestion throughput: one batched Lua call per
// BatchSize events against one call per event (the baseline).
func BenchmarkAddEvents(b *testing.B) {
	const n = 2000
	for _, batch := range []int{1, 100, 500} {
		b.Run(fmt.Sprintf("events=%d/batch=%d", n, batch), func(b *testing.B) {
			s := benchStore(b, Options{BatchSize: batch})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				evs := benchEvents(n)
				b.StartTimer()
				if _, err := s.AddEvents(ctx, evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkItems measures reading items: pipelined Items against one GET
// round trip per item (the baseline).
func BenchmarkItems(b *testing.B) {
	const n = 1000
	items := make([]Item, n)
	ids := make([]string, n)
	for i := range items {
		ids[i] = fmt.Sprint("item-", i)
		items[i] = Item{ID: ids[i], Text: "a short description of the item number " + ids[i], Category: "c",
			Features: map[string]float64{"price": float64(i), "rating": 4.5}}
	}
	s := benchStore(b, Options{})
	ctx := context.Background()
	if _, err := s.PutItems(ctx, items); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("items=%d/pipelined", n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			found, _, err := s.Items(ctx, ids)
			if err != nil || len(found) != n {
				b.Fatal(len(found), err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "items/s")
	})
	b.Run(fmt.Sprintf("items=%d/one-by-one", n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, id := range ids {
				if _, err := s.Item(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "items/s")
	})
	b.Run(fmt.Sprintf("items=%d/put", n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.PutItems(ctx, items); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "items/s")
	})
}

// benchScorePlugins are the text scorers of a serving model and the
// features each caches per item, as the built-in lm and sentiment plugins
// give them.
var benchScorePlugins = []struct {
	name     string
	features []string
}{
	{"lm", []string{"lm_logprob", "perplexity", "relevance"}},
	{"sentiment", []string{"sentiment", "sentiment_pos", "sentiment_neg", "sentiment_neu"}},
}

// legacyScore is an entry in the JSON form earlier releases wrote.
func legacyScore(b *testing.B, version, hash string, f map[string]float64) string {
	b.Helper()
	raw, err := json.Marshal(map[string]any{"v": version, "h": hash, "f": f})
	if err != nil {
		b.Fatal(err)
	}
	return string(raw)
}

func benchScoredItems(n int) []Item {
	items := make([]Item, n)
	for i := range items {
		items[i] = Item{ID: fmt.Sprint("i", i), Text: fmt.Sprintf("item %d: a quiet lake at night, a lovely story of a winter journey to the mountain market", i)}
	}
	return items
}

func benchFeatures(i int, names []string) map[string]float64 {
	f := make(map[string]float64, len(names))
	for j, n := range names {
		f[n] = float64(i) + float64(j)/7
	}
	return f
}

// BenchmarkTextScoreHit measures reading the cached text scores of 200
// candidates from two plugins out of a snapshot (no Redis): the JSON
// entries of earlier releases decoded on every call (the baseline), binary
// entries decoded on every call, and binary entries through the Store's
// cache of decoded entries (the serving path).
func BenchmarkTextScoreHit(b *testing.B) {
	const n = 200
	items := benchScoredItems(n)
	for _, c := range []struct {
		name   string
		json   bool
		cached bool
	}{{"json/percall", true, false}, {"binary/percall", false, false}, {"binary/cached", false, true}} {
		b.Run(fmt.Sprintf("candidates=%d/plugins=2/%s", n, c.name), func(b *testing.B) {
			var snap Snapshot
			if c.cached {
				snap.scores = &scoreDecoder{}
			}
			var names []string
			for _, p := range benchScorePlugins {
				names = append(names, p.name)
			}
			// Raw entries decoded per call: the cached variant decodes
			// through the Store's decoder, which keeps the decoded forms.
			snap.text = newSnapshotText(names, n, false)
			for _, it := range items {
				snap.text.ids = append(snap.text.ids, it.ID)
			}
			for j, p := range benchScorePlugins {
				for i := range items {
					f := benchFeatures(i, p.features)
					if c.json {
						snap.text.raw[j] = append(snap.text.raw[j], legacyScore(b, "v1", TextHash(items[i].Text), f))
					} else {
						snap.text.raw[j] = append(snap.text.raw[j], string(encodeScore("v1", TextHash(items[i].Text), f)))
					}
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				for _, p := range benchScorePlugins {
					for _, it := range items {
						if _, ok := snap.TextScoreHit(p.name, "v1", it); !ok {
							b.Fatal("miss")
						}
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n*len(benchScorePlugins)), "ns/item")
		})
	}
}

// BenchmarkSnapshotTextScores measures what serving does per request with
// Redis: ReadSnapshot of 200 given candidates with the cached scores of two
// plugins, then a hit lookup per candidate and plugin. The baseline holds
// JSON entries (as earlier releases wrote them) decoded on every call; the
// last variant also skips reading the unchanged items and entries (the
// catalog cache, catalog.go).
func BenchmarkSnapshotTextScores(b *testing.B) {
	const n = 200
	items := benchScoredItems(n)
	ids := make([]string, n)
	for i, it := range items {
		ids[i] = it.ID
	}
	ctx := context.Background()
	plugins := []string{benchScorePlugins[0].name, benchScorePlugins[1].name}
	for _, c := range []struct {
		name    string
		json    bool
		cached  bool
		catalog bool
	}{{"json/percall", true, false, false}, {"binary/cached", false, true, false}, {"binary/cached+catalog", false, true, true}} {
		b.Run(fmt.Sprintf("candidates=%d/plugins=2/%s", n, c.name), func(b *testing.B) {
			s := benchStore(b, Options{})
			s.uncachedScores = !c.cached
			s.noCatalogCache = !c.catalog
			if _, err := s.PutItems(ctx, items); err != nil {
				b.Fatal(err)
			}
			for _, p := range benchScorePlugins {
				if !c.json {
					scores := make([]TextScore, n)
					for i, it := range items {
						scores[i] = TextScore{ItemID: it.ID, TextHash: TextHash(it.Text), Features: benchFeatures(i, p.features)}
					}
					if err := s.PutTextScores(ctx, p.name, "v1", scores); err != nil {
						b.Fatal(err)
					}
					continue
				}
				fields := make([]any, 0, 2*n)
				for i, it := range items {
					fields = append(fields, it.ID, legacyScore(b, "v1", TextHash(it.Text), benchFeatures(i, p.features)))
				}
				if err := s.rdb.HSet(ctx, s.k.textScores(p.name), fields...).Err(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				snap, err := s.ReadSnapshot(ctx, SnapshotRequest{User: "u1", Candidates: ids, History: 50, TextPlugins: plugins})
				if err != nil {
					b.Fatal(err)
				}
				for _, p := range plugins {
					for _, it := range snap.Candidates {
						if _, ok := snap.TextScoreHit(p, "v1", it); !ok {
							b.Fatal("miss")
						}
					}
				}
			}
		})
	}
}

// eventsBaseline reads the log as Events did before: one page at a time,
// each event decoded with json.Unmarshal.
func eventsBaseline(ctx context.Context, s *Store, fn func(Event) error) error {
	for k := range s.k.shards {
		if err := eventsBaselineShard(ctx, s, k, fn); err != nil {
			return err
		}
	}
	return nil
}

func eventsBaselineShard(ctx context.Context, s *Store, shard int, fn func(Event) error) error {
	start := "-"
	for {
		msgs, err := s.rdb.XRangeN(ctx, s.k.eventLog(shard), start, "+", int64(s.opts.BatchSize)).Result()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			var e Event
			if err := json.Unmarshal([]byte(m.Values["e"].(string)), &e); err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(msgs) < s.opts.BatchSize {
			return nil
		}
		if start, err = nextStreamID(msgs[len(msgs)-1].ID); err != nil {
			return err
		}
	}
}

// BenchmarkEvents measures reading the event log, as training does: the
// earlier sequential reader with encoding/json (the baseline) against
// Events (prefetching pages, decoding with decodeEvent).
func BenchmarkEvents(b *testing.B) {
	const n = 100_000
	s := benchStore(b, Options{})
	ctx := context.Background()
	evs := benchEvents(n)
	for i := range evs {
		if evs[i].Kind == Exposure {
			evs[i].Arm, evs[i].Position = "control", 1+i%10
		}
	}
	if _, err := s.AddEvents(ctx, evs); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		read func(context.Context, func(Event) error) error
	}{
		{"baseline", func(ctx context.Context, fn func(Event) error) error { return eventsBaseline(ctx, s, fn) }},
		{"events", s.Events},
	} {
		b.Run(fmt.Sprintf("events=%d/page=%d/%s", n, s.opts.BatchSize, c.name), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got := 0
				if err := c.read(ctx, func(Event) error { got++; return nil }); err != nil {
					b.Fatal(err)
				}
				if got != n {
					b.Fatalf("read %d events, want %d", got, n)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkDecodeEvent measures decoding one stored event: json.Unmarshal
// (the baseline) against decodeEvent.
func BenchmarkDecodeEvent(b *testing.B) {
	raw, err := json.Marshal(Event{ID: "3f0c5e7a-9d41-4b8e-a1c6-7e2b9f4d6a10", Kind: Exposure, User: "u123456", Item: "i4242",
		Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), Arm: "control", Propensity: 0.8123, Position: 3, PolicyID: "sim"})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var e Event
			if err := json.Unmarshal(raw, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decodeEvent", func(b *testing.B) {
		s := string(raw)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeEvent(s); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSnapshotCounts measures a snapshot that reads the counts of 200
// given candidates (no count cache): with one event shard (one ZMSCORE per
// kind, as the unsharded layout), and with 16 shards read per shard (two
// ZMSCOREs per shard, as on a Cluster) or summed in Redis by a script (a
// single node).
func BenchmarkSnapshotCounts(b *testing.B) {
	const n = 200
	ctx := context.Background()
	evs := benchEvents(20_000)
	items := make([]Item, n)
	ids := make([]string, n)
	for i := range items {
		items[i] = Item{ID: fmt.Sprint("i", i)}
		ids[i] = items[i].ID
	}
	for _, c := range []struct {
		name     string
		shards   int
		perShard bool
	}{{"shards=1", 1, false}, {"shards=16/per-shard", 16, true}, {"shards=16/summed", 16, false}} {
		b.Run(fmt.Sprintf("candidates=%d/%s", n, c.name), func(b *testing.B) {
			s := benchStore(b, Options{EventShards: c.shards})
			s.countsPerShard = c.perShard
			if _, err := s.PutItems(ctx, items); err != nil {
				b.Fatal(err)
			}
			if _, err := s.AddEvents(ctx, evs); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.ReadSnapshot(ctx, SnapshotRequest{User: "u1", Candidates: ids, History: 10}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
