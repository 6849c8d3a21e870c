package store

import (
	"slices"
	"testing"
	"time"
)

// TestCountCacheStale checks the count cache's ages: fresh counts are hits;
// stale ones (older than the TTL, not than twice it) are hits, and the
// first snapshot to meet them is told to refresh them, no other meanwhile;
// older ones are misses.
func TestCountCacheStale(t *testing.T) {
	const ttl = time.Second
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var c countCache
	c.put([]ItemCount{{Item: "a", Outcomes: 1}, {Item: "b", Outcomes: 2}}, t0)
	at := func(now time.Time) (hits int, refresh bool) {
		_, _, hits, ids := c.fresh([]string{"a", "b", "new"}, now.Add(-ttl), now.Add(-2*ttl), now.Add(-ttl/2))
		return hits, ids != nil
	}
	steps := []struct {
		name    string
		now     time.Time
		hits    int
		refresh bool
	}{
		{"fresh", t0.Add(ttl / 2), 2, false},
		{"stale: this snapshot refreshes", t0.Add(3 * ttl / 2), 2, true},
		{"stale: another serves them meanwhile", t0.Add(3 * ttl / 2), 2, false},
		{"too old", t0.Add(5 * ttl / 2), 0, false},
	}
	for _, st := range steps {
		if hits, refresh := at(st.now); hits != st.hits || refresh != st.refresh {
			t.Errorf("%s: %d hits, refresh %v; want %d, %v", st.name, hits, refresh, st.hits, st.refresh)
		}
	}
	c.doneRefreshing()
	if hits, refresh := at(t0.Add(3 * ttl / 2)); hits != 2 || !refresh {
		t.Errorf("after the refresh is done: %d hits, refresh %v; want a new refresher", hits, refresh)
	}
}

// TestCountCacheEarlyRefresh checks that the snapshot told to refresh is
// given its candidates older than half the TTL, stale or not, and that
// nothing is refreshed while no candidate is stale.
func TestCountCacheEarlyRefresh(t *testing.T) {
	const ttl = time.Second
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0.Add(10 * ttl)
	var c countCache
	ages := map[string]time.Duration{"young": ttl / 4, "old": 3 * ttl / 4, "stale": 3 * ttl / 2, "gone": 3 * ttl}
	for id, age := range ages {
		c.put([]ItemCount{{Item: id, Outcomes: float64(age)}}, now.Add(-age))
	}
	fresh := func(ids ...string) (hits map[string]bool, refresh []string) {
		counts, ok, n, refresh := c.fresh(ids, now.Add(-ttl), now.Add(-2*ttl), now.Add(-ttl/2))
		hits = map[string]bool{}
		for i, id := range ids {
			if ok[i] {
				hits[id] = true
				if counts[i].Outcomes != float64(ages[id]) {
					t.Errorf("%s served %+v", id, counts[i])
				}
			}
		}
		if n != len(hits) {
			t.Errorf("n = %d, %d hits", n, len(hits))
		}
		return hits, refresh
	}
	if hits, refresh := fresh("young", "old"); refresh != nil || len(hits) != 2 {
		t.Errorf("nothing stale: hits %v, refresh %v; want both hits, no refresh", hits, refresh)
	}
	if hits, refresh := fresh("young", "old", "stale", "gone"); !slices.Equal(refresh, []string{"old", "stale"}) || len(hits) != 3 || hits["gone"] {
		t.Errorf("refresher: hits %v, refresh %v; want all but gone hits, refresh [old stale]", hits, refresh)
	}
	if hits, refresh := fresh("young", "old", "stale", "gone"); refresh != nil || len(hits) != 3 {
		t.Errorf("while refreshing: hits %v, refresh %v; want all but gone hits, no refresh", hits, refresh)
	}
}

// TestCountCacheDropRace checks that counts read before a drop of their
// item are not cached (they may predate the events that caused it), and
// that counts read after it are.
func TestCountCacheDropRace(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var c countCache
	c.put([]ItemCount{{Item: "a", Outcomes: 1}, {Item: "b", Outcomes: 1}}, t0)
	c.drop([]Event{{Item: "a"}}, t0.Add(2*time.Millisecond))
	// A read that began before the drop and ended after it.
	c.put([]ItemCount{{Item: "a", Outcomes: 1}, {Item: "b", Outcomes: 2}}, t0.Add(time.Millisecond))
	_, ok, _, _ := c.fresh([]string{"a", "b"}, t0.Add(-time.Second), t0.Add(-2*time.Second), t0.Add(-time.Second/2))
	if ok[0] || !ok[1] {
		t.Fatalf("after a read begun before the drop: cached %v, want a not cached, b cached", ok)
	}
	// A read begun after the drop is cached.
	c.put([]ItemCount{{Item: "a", Outcomes: 2}}, t0.Add(3*time.Millisecond))
	counts, ok, _, _ := c.fresh([]string{"a"}, t0.Add(-time.Second), t0.Add(-2*time.Second), t0.Add(-time.Second/2))
	if !ok[0] || counts[0].Outcomes != 2 {
		t.Fatalf("after a read begun after the drop: %+v cached %v, want 2 outcomes cached", counts[0], ok[0])
	}
	if len(c.dropped) != 0 {
		t.Errorf("drop times kept after a later read: %v", c.dropped)
	}
}
