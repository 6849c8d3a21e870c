package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

func TestFeatureNamesAndScans(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{BatchSize: 2})
	var items []Item
	for i := range 5 {
		items = append(items, Item{ID: fmt.Sprintf("i%d", i), Features: map[string]float64{"price": 1, fmt.Sprintf("f%d", i%3): 2}})
	}
	if _, err := s.PutItems(ctx, items); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutUsers(ctx, []User{{ID: "u1", Features: map[string]float64{"age": 30}}, {ID: "u2"}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kind   string
		names  []string
		count  int
		unseen []string
	}{
		{FeaturesOfItems, []string{"price", "f2", "colour", "f9"}, 4, []string{"colour", "f9"}},
		{FeaturesOfUsers, []string{"age", "price"}, 1, []string{"price"}},
		{FeaturesOfUsers, nil, 1, nil},
	} {
		n, unseen, err := s.FeatureNames(ctx, c.kind, c.names)
		if err != nil || n != c.count || !slices.Equal(unseen, c.unseen) {
			t.Errorf("FeatureNames(%s, %q) = %d, %q, %v; want %d, %q", c.kind, c.names, n, unseen, err, c.count, c.unseen)
		}
	}
	if _, _, err := s.FeatureNames(ctx, "events", nil); err == nil {
		t.Error("an unknown kind is accepted")
	}
	var got []string
	if err := s.EachItem(ctx, func(it Item) error { got = append(got, it.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"i0", "i1", "i2", "i3", "i4"}; !slices.Equal(got, want) {
		t.Errorf("EachItem saw %q, want %q", got, want)
	}
	users := 0
	if err := s.EachUser(ctx, func(User) error { users++; return nil }); err != nil || users != 2 {
		t.Errorf("EachUser saw %d users (%v), want 2", users, err)
	}
}
