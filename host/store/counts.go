package store

import (
	"sync"
	"sync/atomic"
	"time"
)

// The popularity counts of items change with every event, so a snapshot
// reads them from Redis, unless Options.CountsTTL allows it to serve counts
// read by an earlier snapshot no longer ago than the TTL. Counts older than
// the TTL but not than twice the TTL are stale: one snapshot at a time
// reads its stale candidates' counts again while the others serve the stale
// ones (as the event shards make a read of counts cost two commands per
// shard, only that snapshot pays it). Events written through the same Store
// drop the cached counts of their items at once; events written by other
// processes show after at most twice the TTL.

// countCache holds the counts read by snapshots with the time they were
// read.
type countCache struct {
	mu   sync.Mutex
	byID map[string]cachedCount
	// refreshing is held by the snapshot that reads stale counts again.
	refreshing atomic.Bool
}

type cachedCount struct {
	c  ItemCount
	at time.Time
}

// maxCounts bounds the cached counts; the cache is emptied when full.
const maxCounts = 100_000

// fresh returns, for each id, its cached counts read after since, and
// whether it had them; n counts the hits. Counts read after staleSince but
// not after since are stale: when no other snapshot refreshes stale counts,
// they are misses and refresh says the caller now does (it calls
// doneRefreshing after its read); else they are hits.
func (c *countCache) fresh(ids []string, since, staleSince time.Time) (counts []ItemCount, ok []bool, n int, refresh bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	counts, ok = make([]ItemCount, len(ids)), make([]bool, len(ids))
	for i, id := range ids {
		e, hit := c.byID[id]
		switch {
		case !hit || !e.at.After(staleSince):
			continue
		case !e.at.After(since):
			if refresh || c.refreshing.CompareAndSwap(false, true) {
				refresh = true
				continue
			}
		}
		counts[i], ok[i], n = e.c, true, n+1
	}
	return counts, ok, n, refresh
}

// doneRefreshing lets another snapshot refresh stale counts.
func (c *countCache) doneRefreshing() { c.refreshing.Store(false) }

// put records counts read at time at.
func (c *countCache) put(counts []ItemCount, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil || len(c.byID)+len(counts) > maxCounts {
		c.byID = make(map[string]cachedCount, len(counts))
	}
	for _, k := range counts {
		c.byID[k.Item] = cachedCount{k, at}
	}
}

// drop forgets the counts of the events' items.
func (c *countCache) drop(events []Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range events {
		delete(c.byID, e.Item)
	}
}
