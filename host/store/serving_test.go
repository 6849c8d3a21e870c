package store

import (
	"context"
	"testing"
	"time"
)

func TestReadSnapshot(t *testing.T) {
	s := newTestStore(t, Options{})
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.PutUsers(ctx, []User{{ID: "u", Features: map[string]float64{"age": 3}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutItems(ctx, []Item{{ID: "a", Text: "alpha"}, {ID: "b"}, {ID: "c"}, {ID: "d"}}); err != nil {
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
