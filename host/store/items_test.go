package store

import (
	"context"
	"slices"
	"testing"
)

// TestItemIDs lists the stored items, sorted, or only their number when
// there are more than the limit.
func TestItemIDs(t *testing.T) {
	s := newTestStore(t, Options{})
	ctx := context.Background()
	ids, n, err := s.ItemIDs(ctx, 10)
	if err != nil || len(ids) != 0 || n != 0 {
		t.Fatalf("no items: %v %d %v", ids, n, err)
	}
	if _, err := s.PutItems(ctx, []Item{{ID: "c"}, {ID: "a"}, {ID: "b"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		limit int
		ids   []string
	}{{3, []string{"a", "b", "c"}}, {10, []string{"a", "b", "c"}}, {2, nil}} {
		ids, n, err := s.ItemIDs(ctx, tc.limit)
		if err != nil || n != 3 || !slices.Equal(ids, tc.ids) {
			t.Errorf("limit %d: %v %d %v; want %v and 3", tc.limit, ids, n, err, tc.ids)
		}
	}
}
