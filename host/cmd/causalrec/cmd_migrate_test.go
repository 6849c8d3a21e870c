package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/causalrec/causalrec/host/redistest"
	"github.com/causalrec/causalrec/host/store"
)

// TestMigrateCommand writes a store as releases before the sharded layout
// did (every event key under {P events}), sees serve's store refuse it, and
// moves it with causalrec migrate: the dry run writes nothing, the run
// moves every event, a second run does nothing.
func TestMigrateCommand(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	prefix := testPrefix(t)
	tag := prefix + "{" + prefix + "events}"
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	pipe := rdb.Pipeline()
	for i := range 1200 {
		e := store.Event{ID: fmt.Sprint("e", i), Kind: store.Exposure, User: fmt.Sprint("u", i%50), Item: fmt.Sprint("i", i%20), Time: t0.Add(time.Duration(i) * time.Second), Arm: store.DefaultArm}
		raw, _ := json.Marshal(e)
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: tag + ":log", Values: []string{"e", string(raw)}})
		pipe.Set(ctx, tag+":id:"+e.ID, e.Digest(), time.Hour)
		pipe.ZAdd(ctx, tag+":hist:"+e.User, redis.Z{Score: float64(e.Time.UnixMilli()), Member: string(raw)})
		pipe.ZIncrBy(ctx, tag+":pop:exposure", 1, e.Item)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := store.New(rdb, store.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CheckLayout(ctx); err == nil || !strings.Contains(err.Error(), "causalrec migrate") {
		t.Fatalf("the store of the earlier layout: %v, want a refusal naming causalrec migrate", err)
	}

	code, out, stderr := runCLI(t, "", "migrate", "--redis", redisURL(), "--prefix", prefix, "--dry-run")
	if code != 0 || !strings.Contains(out, "would move 1200 events (1200 idempotency marks in force), 50 user histories and the counts of 20 items into 16 event shards") {
		t.Fatalf("dry run: exit %d, out %q, stderr %q", code, out, stderr)
	}
	if n, _ := st.EventCount(ctx); n != 0 {
		t.Fatalf("the dry run wrote %d events", n)
	}
	code, out, stderr = runCLI(t, "", "migrate", "--redis", redisURL(), "--prefix", prefix)
	if code != 0 || !strings.Contains(out, "moved 1200 events (1200 copied by this run") {
		t.Fatalf("migrate: exit %d, out %q, stderr %q", code, out, stderr)
	}
	if err := st.CheckLayout(ctx); err != nil {
		t.Fatalf("after migrate: %v", err)
	}
	if n, _ := st.EventCount(ctx); n != 1200 {
		t.Errorf("after migrate the log holds %d events, want 1200", n)
	}
	if n, _ := rdb.Exists(ctx, tag+":log", tag+":pop:exposure").Result(); n != 0 {
		t.Errorf("%d earlier keys left", n)
	}
	code, out, _ = runCLI(t, "", "migrate", "--redis", redisURL(), "--prefix", prefix)
	if code != 0 || !strings.Contains(out, "no events of the earlier layout") {
		t.Errorf("second migrate: exit %d, out %q", code, out)
	}
	if code, _, stderr := runCLI(t, "", "migrate", "--redis", redisURL(), "--prefix", prefix, "--event-shards", "8"); code == 0 || !strings.Contains(stderr, "16 event shards, not 8") {
		t.Errorf("migrate with other shards on a migrated store: exit %d, stderr %q", code, stderr)
	}
}
