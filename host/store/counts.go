package store

import (
	"sync"
	"sync/atomic"
	"time"
)

// The popularity counts of items change with every event, so a snapshot
// reads them from Redis, unless Options.CountsTTL allows it to serve counts
// read by an earlier snapshot no longer ago than the TTL. Counts older than
// the TTL but not than twice the TTL are stale but served: the first
// snapshot to meet them has them read again in the background, with those
// of its candidates older than half the TTL, in batches (the event shards
// make a read of counts cost two commands per shard; on a single node a
// snapshot's read is one script that holds Redis while it runs). Events
// written through the same Store drop the cached counts of their items at
// once, and a read begun before the drop is not cached; events written by
// other processes show after at most twice the TTL.

// countCache holds the counts read by snapshots with the time they were
// read.
type countCache struct {
	mu   sync.Mutex
	byID map[string]cachedCount
	// dropped holds when the counts of an item were dropped, until counts
	// read after that are put: a read that began before the drop may
	// predate the events that caused it, and is not cached.
	dropped map[string]time.Time
	// refreshing is held while stale counts are read again.
	refreshing atomic.Bool
}

type cachedCount struct {
	c  ItemCount
	at time.Time
}

// maxCounts bounds the cached counts; the cache is emptied when full.
const maxCounts = 100_000

// fresh returns, for each id, its cached counts read after staleSince,
// and whether it had them; n counts the hits. Counts read before since are
// stale but served: when a candidate's counts are stale and no other
// snapshot refreshes, refresh lists the candidates whose counts were read
// before earlySince, which the caller has read again in the background
// (Store.refreshCounts, which calls doneRefreshing at its end). Refreshing
// the nearly stale ones with the stale ones makes refreshes fewer and
// larger: a read of counts costs two commands per event shard whatever the
// number of items.
func (c *countCache) fresh(ids []string, since, staleSince, earlySince time.Time) (counts []ItemCount, ok []bool, n int, refresh []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	counts, ok = make([]ItemCount, len(ids)), make([]bool, len(ids))
	var early []string
	stale := false
	for i, id := range ids {
		e, hit := c.byID[id]
		if !hit || !e.at.After(staleSince) {
			continue
		}
		if !e.at.After(earlySince) {
			early = append(early, id)
			stale = stale || !e.at.After(since)
		}
		counts[i], ok[i], n = e.c, true, n+1
	}
	if stale && c.refreshing.CompareAndSwap(false, true) {
		refresh = early
	}
	return counts, ok, n, refresh
}

// doneRefreshing lets another snapshot refresh stale counts.
func (c *countCache) doneRefreshing() { c.refreshing.Store(false) }

// put records counts read at time at (when the read began), except those
// of items dropped since.
func (c *countCache) put(counts []ItemCount, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil || len(c.byID)+len(counts) > maxCounts {
		c.byID = make(map[string]cachedCount, len(counts))
	}
	for _, k := range counts {
		if d, ok := c.dropped[k.Item]; ok {
			if !at.After(d) {
				continue
			}
			delete(c.dropped, k.Item)
		}
		c.byID[k.Item] = cachedCount{k, at}
	}
}

// drop forgets the counts of the events' items, written by time at, and
// keeps counts read before at from being cached.
func (c *countCache) drop(events []Event, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropped == nil || len(c.dropped)+len(events) > maxCounts {
		// Emptied when full, as byID is: its entries go with it.
		c.dropped, c.byID = make(map[string]time.Time, len(events)), nil
	}
	for _, e := range events {
		delete(c.byID, e.Item)
		c.dropped[e.Item] = at
	}
}
