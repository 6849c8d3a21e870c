package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/causalrec/causalrec/host/redistest"
	"github.com/causalrec/causalrec/host/store"
)

// maxMasterShare is the largest share of the keys one master may hold.
const maxMasterShare = 0.45

// TestKeySpreadCluster writes the benchmark's world (its items, users and
// events) into a store on the Redis Cluster of REDIS_CLUSTER_URL and checks
// that no master holds more than 45% of the store's keys. With one event
// shard (every event key in one slot, as in the earlier layout) one master
// holds most of them: the check can fail.
func TestKeySpreadCluster(t *testing.T) {
	rdb := redistest.ClusterClient(t)
	if got := maxShare(t, rdb, store.DefaultEventShards); got > maxMasterShare {
		t.Errorf("with %d event shards a master holds %.1f%% of the keys, want at most %.0f%%", store.DefaultEventShards, 100*got, 100*maxMasterShare)
	}
	if got := maxShare(t, rdb, 1); got <= maxMasterShare {
		t.Errorf("with 1 event shard the largest master holds %.1f%% of the keys: the check cannot tell", 100*got)
	}
}

// maxShare writes the world into a store of the given number of event
// shards and returns the largest share of its keys that one master holds.
func maxShare(t *testing.T, rdb *redis.ClusterClient, shards int) float64 {
	ctx := context.Background()
	prefix := redistest.PrefixOn(t, rdb)
	st, err := store.New(rdb, store.Options{Prefix: prefix, EventShards: shards})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CheckLayout(ctx); err != nil {
		t.Fatal(err)
	}
	o := options{users: 2000, items: 500}
	w := newWorld(o)
	var items []store.Item
	var users []store.User
	var events []store.Event
	convert(t, w.items, &items)
	convert(t, w.users, &users)
	convert(t, w.events, &events)
	if _, err := st.PutItems(ctx, items); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutUsers(ctx, users); err != nil {
		t.Fatal(err)
	}
	t.Logf("the world: %d items, %d users, %d events", len(items), len(users), len(events))
	if n, err := st.AddEvents(ctx, events); err != nil || n != len(events) {
		t.Fatalf("stored %d of %d events: %v", n, len(events), err)
	}

	perMaster := map[string]int{}
	total := 0
	err = rdb.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		keys, err := redistest.Keys(ctx, c, prefix)
		if err != nil {
			return err
		}
		addr := c.Options().Addr
		perMaster[addr] = len(keys)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range perMaster {
		total += n
	}
	// Every event has a mark; the store holds at least those and the
	// items, users and histories.
	if min := len(events) + len(items) + len(users); total < min {
		t.Fatalf("the masters hold %d keys in all, want at least %d", total, min)
	}
	if len(perMaster) < 3 {
		t.Fatalf("the cluster has %d masters, want 3 or more", len(perMaster))
	}
	var largest float64
	for addr, n := range perMaster {
		share := float64(n) / float64(total)
		t.Logf("%d event shards: master %s holds %d of %d keys (%.1f%%)", shards, addr, n, total, 100*share)
		largest = max(largest, share)
	}
	return largest
}

// convert turns the world's JSON form into the store's types.
func convert(t *testing.T, in []map[string]any, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(fmt.Errorf("decode the world: %w", err))
	}
}
