package store

import (
	"context"
	"slices"
	"sync"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// The catalog is what serving reads for every candidate besides its
// popularity: the stored item and its cached text-score entries. It
// changes only when items or text scores are written, far less often than
// it is read, so a Store keeps the raw values it read last and skips
// reading them again while the catalog token is unchanged.
//
// Every write of items or text scores sets the token key to a fresh
// random value in the same pipeline, after the data commands. A snapshot
// reads the token first in its pipeline: on a single node (or a Sentinel
// master) the commands of one pipeline run in order, so the values read
// after a token are at least as new as that token, and a cached value is
// served only while the token still equals the one it was read under. A
// token that changed makes the snapshot read the values it skipped. A
// missing token (data written before tokens existed) disables the cache
// until a token is created. In a Cluster the token and the data live on
// different nodes, the order is lost, and the cache is not used.

// catalogCache holds the catalog values read under one token, raw and
// decoded.
type catalogCache struct {
	mu    sync.RWMutex
	token string
	byID  map[string]*catalogEntry
}

// catalogEntry is one item's values: the item JSON and its decoded form
// and a slot per text plugin read so far.
type catalogEntry struct {
	item  string
	it    Item
	slots []textSlot
}

// textSlot is an item's text-score entry of one plugin: raw (nil when none
// is stored) and decoded (nil when none or undecodable, or when the Store
// does not keep decoded entries).
type textSlot struct {
	plugin string
	raw    any
	score  *scoreEntry
}

// slot returns the entry's slot of plugin, nil when it was not read. An
// entry holds a slot per plugin the model reads, a handful: a scan beats a
// map.
func (e *catalogEntry) slot(plugin string) *textSlot {
	for i := range e.slots {
		if e.slots[i].plugin == plugin {
			return &e.slots[i]
		}
	}
	return nil
}

// maxCatalog bounds the entries kept; the cache is emptied when full.
const maxCatalog = 100_000

// newCatalogToken returns a fresh token value.
func newCatalogToken() string { return uuid.NewString() }

// queueCatalogChange queues, after a write of items or text scores in the
// same pipeline, the replacement of the catalog token.
func (s *Store) queueCatalogChange(ctx context.Context, pipe redis.Pipeliner) {
	pipe.Set(ctx, s.k.catalog(), newCatalogToken(), 0)
}

// catalogCached reports whether snapshots may use the catalog cache.
func (s *Store) catalogCached() bool {
	return !s.isCluster() && !s.noCatalogCache
}

// lookup returns the cached entries of ids that hold every plugin, under
// the cache's current token; hits[i] is nil for the others.
func (c *catalogCache) lookup(ids, plugins []string) (token string, hits []*catalogEntry, n int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.token == "" {
		return "", nil, 0
	}
	hits = make([]*catalogEntry, len(ids))
	for i, id := range ids {
		e := c.byID[id]
		if e == nil {
			continue
		}
		complete := true
		for _, p := range plugins {
			if e.slot(p) == nil {
				complete = false
				break
			}
		}
		if complete {
			hits[i], n = e, n+1
		}
	}
	return c.token, hits, n
}

// store records values read under token; a token other than the cache's
// empties the cache first. An empty token (none stored) empties the cache
// and records nothing. ids, raw, present and items run in parallel; text[j]
// holds plugin j's raw entries in the same order and scores[j] (nil when
// the Store keeps no decoded entries) its decoded entries by id.
func (c *catalogCache) store(token string, ids, raw []string, present []bool, items []Item, plugins []string, text [][]any, scores []map[string]*scoreEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if token == "" {
		c.token, c.byID = "", nil
		return
	}
	if token != c.token || len(c.byID) >= maxCatalog {
		c.token, c.byID = token, make(map[string]*catalogEntry, len(ids))
	}
	for i, id := range ids {
		if !present[i] {
			continue // an absent item is read again: it may be added
		}
		// Entries are shared with readers: replace, never modify.
		e := &catalogEntry{item: raw[i], it: items[i], slots: make([]textSlot, 0, len(plugins))}
		if old := c.byID[id]; old != nil && old.item == raw[i] {
			for _, sl := range old.slots {
				if !slices.Contains(plugins, sl.plugin) {
					e.slots = append(e.slots, sl)
				}
			}
		}
		for j, p := range plugins {
			sl := textSlot{plugin: p, raw: text[j][i]}
			if scores != nil {
				sl.score = scores[j][id]
			}
			e.slots = append(e.slots, sl)
		}
		c.byID[id] = e
	}
}
