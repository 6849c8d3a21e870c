package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/causalrec/causalrec/host/redistest"
)

// writeLegacy stores events as releases before the sharded layout did:
// every event key under the one hash tag {P events}.
func writeLegacy(t *testing.T, s *Store, evs []Event, historyLimit int) {
	t.Helper()
	ctx := context.Background()
	pipe := s.rdb.Pipeline()
	for _, e := range evs {
		e = e.WithDefaults()
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		pipe.Set(ctx, s.k.legacyID(e.ID), e.Digest(), time.Hour)
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: s.k.legacyLog(), Values: []string{"e", string(raw)}})
		pipe.ZAdd(ctx, s.k.legacyHistory(e.User), redis.Z{Score: float64(e.Time.UnixMilli()), Member: string(raw)})
		pipe.ZRemRangeByRank(ctx, s.k.legacyHistory(e.User), 0, int64(-historyLimit-1))
		pop := s.k.legacyPopExposure()
		if e.Kind == Outcome {
			pop = s.k.legacyPopOutcome()
		}
		pipe.ZIncrBy(ctx, pop, 1, e.Item)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestMigrate moves a store of the earlier layout into shards: a dry run
// writes nothing, an interrupted run is resumed, and the result holds every
// event once, every history, every mark with its TTL and every count; the
// earlier keys are gone and running it again does nothing.
func TestMigrate(t *testing.T) { onEachRedis(t, testMigrate) }

func testMigrate(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.store(t, Options{BatchSize: 7, HistoryLimit: 4})
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	var evs []Event
	for i := range 60 {
		kind := Exposure
		if i%3 == 0 {
			kind = Outcome
		}
		evs = append(evs, Event{ID: fmt.Sprint("m", i), Kind: kind, User: fmt.Sprint("u", i%9), Item: fmt.Sprint("i", i%5), Time: t0.Add(time.Duration(i) * time.Minute)})
	}
	writeLegacy(t, s, evs, 4)
	// One mark has expired.
	if err := s.rdb.Del(ctx, s.k.legacyID("m5")).Err(); err != nil {
		t.Fatal(err)
	}
	wantHist := map[string][]redis.Z{}
	for u := range 9 {
		user := fmt.Sprint("u", u)
		zs, err := s.rdb.ZRangeWithScores(ctx, s.k.legacyHistory(user), 0, -1).Result()
		if err != nil || len(zs) != 4 {
			t.Fatalf("legacy history of %s: %v, %v", user, zs, err)
		}
		wantHist[user] = zs
	}
	if err := s.CheckLayout(ctx); !errors.Is(err, ErrLayout) {
		t.Fatalf("CheckLayout of a legacy store: %v, want ErrLayout", err)
	}

	// A dry run counts and writes nothing.
	before := keyCount(t, s)
	res, err := s.Migrate(ctx, MigrateOptions{DryRun: true})
	if err != nil || res.Events != 60 || res.Marks != 59 || res.Histories != 9 || res.Counts != 5 {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	if after := keyCount(t, s); after != before {
		t.Fatalf("the dry run changed the key count from %d to %d", before, after)
	}

	// Interrupted after the second page.
	cctx, cancel := context.WithCancel(ctx)
	var pages []int64
	_, err = s.Migrate(cctx, MigrateOptions{Progress: func(done, total int64) {
		pages = append(pages, done)
		if len(pages) == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v, want context.Canceled", err)
	}
	if !slices.Equal(pages, []int64{7, 14}) {
		t.Errorf("progress %v, want [7 14]", pages)
	}
	s.layoutOK.Store(false)
	if err := s.CheckLayout(ctx); !errors.Is(err, ErrLayout) {
		t.Fatalf("CheckLayout during a migration: %v, want ErrLayout", err)
	}

	// The resumed run copies the rest.
	res, err = s.Migrate(ctx, MigrateOptions{})
	if err != nil || res.Events != 60 || res.Copied != 60-14 || res.Nothing {
		t.Fatalf("resumed run: %+v, %v; want 46 copied of 60", res, err)
	}
	if err := s.CheckLayout(ctx); err != nil {
		t.Fatalf("CheckLayout after the migration: %v", err)
	}
	got := map[string]Event{}
	if err := s.Events(ctx, func(e Event) error {
		if _, dup := got[e.ID]; dup {
			return fmt.Errorf("event %s copied twice", e.ID)
		}
		got[e.ID] = e
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 60 {
		t.Fatalf("the new log holds %d events, want 60", len(got))
	}
	for _, e := range evs {
		g, ok := got[e.ID]
		if !ok || g.User != e.User || g.Item != e.Item || g.Kind != e.Kind || !g.Time.Equal(e.Time) {
			t.Errorf("event %s: got %+v", e.ID, g)
		}
		ttl, err := s.rdb.PTTL(ctx, s.markKey(e.User, e.ID)).Result()
		switch {
		case e.ID == "m5":
			if err != nil || ttl >= 0 {
				t.Errorf("the expired mark of m5 exists (ttl %v)", ttl)
			}
		case err != nil || ttl <= 0 || ttl > time.Hour:
			t.Errorf("mark of %s: ttl %v, %v; want its remaining TTL", e.ID, ttl, err)
		}
	}
	for user, want := range wantHist {
		zs, err := s.rdb.ZRangeWithScores(ctx, s.k.history(user), 0, -1).Result()
		if err != nil || !slices.Equal(zs, want) {
			t.Errorf("history of %s: %v, %v; want %v", user, zs, err, want)
		}
	}
	pop, err := s.popularItems(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantPop := map[string]ItemCount{}
	for _, e := range evs {
		c := wantPop[e.Item]
		c.Item = e.Item
		if e.Kind == Outcome {
			c.Outcomes++
		} else {
			c.Exposures++
		}
		wantPop[e.Item] = c
	}
	gotPop := map[string]ItemCount{}
	for _, c := range pop {
		gotPop[c.Item] = c
	}
	if !maps.Equal(gotPop, wantPop) {
		t.Errorf("counts %v, want %v", gotPop, wantPop)
	}
	if legacy, err := s.hasLegacyEvents(ctx); err != nil || legacy {
		t.Errorf("earlier keys left: %v, %v", legacy, err)
	}
	for u := range wantHist {
		if n, _ := s.rdb.Exists(ctx, s.k.legacyHistory(u)).Result(); n != 0 {
			t.Errorf("the earlier history of %s is left", u)
		}
	}

	// Again: nothing to do, nothing changes.
	before = keyCount(t, s)
	res, err = s.Migrate(ctx, MigrateOptions{})
	if err != nil || !res.Nothing || res.Copied != 0 {
		t.Errorf("second run: %+v, %v", res, err)
	}
	if n, _ := s.EventCount(ctx); n != 60 || keyCount(t, s) != before {
		t.Errorf("the second run changed the store: %d events", n)
	}
	// New events go on as usual.
	if n, err := s.AddEvents(ctx, evs[:3]); err != nil || n != 0 {
		t.Errorf("the migrated marks do not answer retries: %d written, %v", n, err)
	}
}

// keyCount counts the keys under the Store's prefix.
func keyCount(t *testing.T, s *Store) int {
	t.Helper()
	keys, err := redistest.Keys(context.Background(), s.rdb, s.k.p)
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}
