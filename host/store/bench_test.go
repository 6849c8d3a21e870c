package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
)

// benchStore is newTestStore for benchmarks: it skips, saying why, when
// Redis does not answer.
func benchStore(b *testing.B, opts Options) *Store {
	b.Helper()
	rdb, err := Connect(context.Background(), redisURL())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = rdb.Ping(ctx).Err()
		cancel()
		_ = rdb.Close()
	}
	if err != nil {
		b.Skipf("benchmark needs Redis at %s (set REDIS_URL): %v", redisURL(), err)
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
	if err := s.PutItems(ctx, items); err != nil {
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
			if err := s.PutItems(ctx, items); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "items/s")
	})
}
