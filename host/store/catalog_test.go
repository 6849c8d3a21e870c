package store

import (
	"context"
	"encoding/json"
	"testing"
)

// TestCatalogCache checks that a snapshot serves the items and text scores
// it read before while no write of them happened, and reads them afresh
// after any write through the Store.
func TestCatalogCache(t *testing.T) { onEachRedis(t, testCatalogCache) }

func testCatalogCache(t *testing.T, b backend) {
	s := b.store(t, Options{})
	ctx := context.Background()
	if _, err := s.PutItems(ctx, []Item{{ID: "a", Text: "alpha"}, {ID: "b", Text: "beta"}}); err != nil {
		t.Fatal(err)
	}
	lm := []string{"lm"}
	if err := s.PutTextScores(ctx, "lm", "v1", []TextScore{{ItemID: "a", TextHash: TextHash("alpha"), Features: map[string]float64{"perplexity": 9}}}); err != nil {
		t.Fatal(err)
	}
	read := func(cands ...string) Snapshot {
		t.Helper()
		snap, err := s.ReadSnapshot(ctx, SnapshotRequest{User: "u", Candidates: cands, TextPlugins: lm})
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	text := func(snap Snapshot, id string) string {
		for _, it := range snap.Candidates {
			if it.ID == id {
				return it.Text
			}
		}
		return "<missing>"
	}
	if b.name == cluster.name {
		// A Cluster does not use the catalog cache (the token and the
		// items live on different nodes): every read sees Redis.
		raw, _ := json.Marshal(Item{ID: "a", Text: "changed behind the store"})
		if err := s.rdb.Set(ctx, s.k.item("a"), raw, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if snap := read("a", "b"); text(snap, "a") != "changed behind the store" || snap.CatalogToken != "" || snap.RoundTrips != 1 {
			t.Fatalf("cluster read: a = %q, token %q, %d round trips", text(snap, "a"), snap.CatalogToken, snap.RoundTrips)
		}
		return
	}
	if snap := read("a", "b"); text(snap, "a") != "alpha" || snap.RoundTrips != 1 {
		t.Fatalf("first read: a = %q, %d round trips", text(snap, "a"), snap.RoundTrips)
	}
	// A change behind the Store's back (no token) is not seen: the values
	// come from the cache, not from Redis.
	raw, _ := json.Marshal(Item{ID: "a", Text: "changed behind the store"})
	if err := s.rdb.Set(ctx, s.k.item("a"), raw, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if snap := read("a", "b"); text(snap, "a") != "alpha" || snap.RoundTrips != 1 {
		t.Fatalf("cached read: a = %q, %d round trips", text(snap, "a"), snap.RoundTrips)
	}
	// A write through the Store replaces the token: the cached values are
	// read again, in one more round trip, and the new ones served.
	if _, err := s.PutItems(ctx, []Item{{ID: "b", Text: "beta 2"}}); err != nil {
		t.Fatal(err)
	}
	snap := read("a", "b")
	if text(snap, "a") != "changed behind the store" || text(snap, "b") != "beta 2" || snap.RoundTrips != 2 {
		t.Fatalf("after a write: a = %q, b = %q, %d round trips", text(snap, "a"), text(snap, "b"), snap.RoundTrips)
	}
	// A new text score is seen after its write; a candidate not cached yet
	// is read while the others come from the cache.
	if _, err := s.PutItems(ctx, []Item{{ID: "c", Text: "gamma"}}); err != nil {
		t.Fatal(err)
	}
	read("a", "b")
	if err := s.PutTextScores(ctx, "lm", "v1", []TextScore{{ItemID: "b", TextHash: TextHash("beta 2"), Features: map[string]float64{"perplexity": 4}}}); err != nil {
		t.Fatal(err)
	}
	snap = read("a", "b", "c", "zz")
	if f, ok := snap.TextScoreHit("lm", "v1", Item{ID: "b", Text: "beta 2"}); !ok || f["perplexity"] != 4 {
		t.Errorf("text score of b after its write: %v %v", f, ok)
	}
	if text(snap, "c") != "gamma" || len(snap.Missing) != 1 || snap.Missing[0] != "zz" {
		t.Errorf("c = %q, missing %v", text(snap, "c"), snap.Missing)
	}
	snap = read("c", "a", "b")
	if text(snap, "c") != "gamma" || text(snap, "a") != "changed behind the store" || snap.RoundTrips != 1 {
		t.Errorf("mixed read: c = %q, a = %q, %d round trips", text(snap, "c"), text(snap, "a"), snap.RoundTrips)
	}
	if f, ok := snap.TextScoreHit("lm", "v1", Item{ID: "a", Text: "alpha"}); !ok || f["perplexity"] != 9 {
		t.Errorf("cached text score of a: %v %v", f, ok)
	}
	// Without a token (data written by an earlier release), nothing is
	// served from the cache; the snapshot creates the token.
	if err := s.rdb.Del(ctx, s.k.catalog()).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.Set(ctx, s.k.item("a"), `{"id":"a","text":"no token"}`, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if snap := read("a"); text(snap, "a") != "no token" {
		t.Errorf("without a token: a = %q", text(snap, "a"))
	}
	if n, err := s.rdb.Exists(ctx, s.k.catalog()).Result(); err != nil || n != 1 {
		t.Errorf("token not created: %v %v", n, err)
	}
}
