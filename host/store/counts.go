package store

import (
	"sync"
	"time"
)

// The popularity counts of items change with every event, so a snapshot
// reads them from Redis, unless Options.CountsTTL allows it to serve counts
// read by an earlier snapshot no longer ago than the TTL. Events written
// through the same Store drop the cached counts of their items at once;
// events written by other processes show after at most the TTL.

// countCache holds the counts read by snapshots with the time they were
// read.
type countCache struct {
	mu   sync.Mutex
	byID map[string]cachedCount
}

type cachedCount struct {
	c  ItemCount
	at time.Time
}

// maxCounts bounds the cached counts; the cache is emptied when full.
const maxCounts = 100_000

// fresh returns, for each id, its cached counts read after since, and
// whether it had them; n counts the hits.
func (c *countCache) fresh(ids []string, since time.Time) (counts []ItemCount, ok []bool, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	counts, ok = make([]ItemCount, len(ids)), make([]bool, len(ids))
	for i, id := range ids {
		if e, hit := c.byID[id]; hit && e.at.After(since) {
			counts[i], ok[i], n = e.c, true, n+1
		}
	}
	return counts, ok, n
}

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
