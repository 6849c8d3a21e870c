package store

import (
	"testing"
	"time"
)

// TestCountCacheStale checks the count cache's ages: fresh counts are hits;
// stale ones (older than the TTL, not than twice it) are misses for the one
// snapshot that refreshes them and hits for the others meanwhile; older
// ones are misses.
func TestCountCacheStale(t *testing.T) {
	const ttl = time.Second
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var c countCache
	c.put([]ItemCount{{Item: "a", Outcomes: 1}, {Item: "b", Outcomes: 2}}, t0)
	at := func(now time.Time) (hits int, refresh bool) {
		_, _, hits, refresh = c.fresh([]string{"a", "b", "new"}, now.Add(-ttl), now.Add(-2*ttl))
		return hits, refresh
	}
	steps := []struct {
		name    string
		now     time.Time
		hits    int
		refresh bool
	}{
		{"fresh", t0.Add(ttl / 2), 2, false},
		{"stale: this snapshot refreshes", t0.Add(3 * ttl / 2), 0, true},
		{"stale: another serves them meanwhile", t0.Add(3 * ttl / 2), 2, false},
		{"too old", t0.Add(5 * ttl / 2), 0, false},
	}
	for _, st := range steps {
		if hits, refresh := at(st.now); hits != st.hits || refresh != st.refresh {
			t.Errorf("%s: %d hits, refresh %v; want %d, %v", st.name, hits, refresh, st.hits, st.refresh)
		}
	}
	c.doneRefreshing()
	if hits, refresh := at(t0.Add(3 * ttl / 2)); hits != 0 || !refresh {
		t.Errorf("after the refresh is done: %d hits, refresh %v; want a new refresher", hits, refresh)
	}
}
