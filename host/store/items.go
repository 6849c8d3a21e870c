package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"
)

// itemRecords is where items live: key item(id), IDs in the set items().
func (s *Store) itemRecords() recordKind[Item] {
	return recordKind[Item]{name: "items", one: "item", id: func(it Item) string { return it.ID }, validate: Item.Validate, key: s.k.item, all: s.k.items(),
		features: func(it Item) map[string]float64 { return it.Features }, names: s.k.featureNames(FeaturesOfItems)}
}

// PutItems stores items, replacing any stored under the same IDs, and
// returns how many replaced one. Every item is validated first; an invalid
// one fails the call before anything is written. The write changes the
// catalog token (see catalog.go).
func (s *Store) PutItems(ctx context.Context, items []Item) (replaced int, err error) {
	return putRecords(ctx, s, s.itemRecords(), items, func(pipe redis.Pipeliner) { s.queueCatalogChange(ctx, pipe) })
}

// Items returns the stored items with the given IDs, in the order asked,
// and the IDs that have no item.
func (s *Store) Items(ctx context.Context, ids []string) (found []Item, missing []string, err error) {
	return getRecords(ctx, s, s.itemRecords(), ids)
}

// Item returns one item, or an error wrapping ErrNotFound.
func (s *Store) Item(ctx context.Context, id string) (Item, error) {
	found, _, err := s.Items(ctx, []string{id})
	if err != nil {
		return Item{}, err
	}
	if len(found) == 0 {
		return Item{}, fmt.Errorf("item %q: %w", id, ErrNotFound)
	}
	return found[0], nil
}

// itemDecoder keeps the last decoded form of each item with the stored
// JSON it was decoded from, so an item a snapshot reads again unchanged is
// not decoded again. A changed item has other bytes and is decoded afresh:
// the cache never serves stale data.
type itemDecoder struct {
	mu   sync.Mutex
	byID map[string]decodedItem
}

type decodedItem struct {
	raw string
	it  Item
}

// maxDecoded bounds the decoded items kept; the cache is emptied when full.
const maxDecoded = 100_000

func (d *itemDecoder) decode(id, raw string) (Item, error) {
	d.mu.Lock()
	c, ok := d.byID[id]
	d.mu.Unlock()
	if ok && c.raw == raw {
		return c.it, nil
	}
	var it Item
	if err := json.Unmarshal([]byte(raw), &it); err != nil {
		return Item{}, err
	}
	d.mu.Lock()
	if d.byID == nil || len(d.byID) >= maxDecoded {
		d.byID = make(map[string]decodedItem)
	}
	d.byID[id] = decodedItem{raw: raw, it: it}
	d.mu.Unlock()
	return it, nil
}

// ItemIDs returns the IDs of the stored items, sorted, and their number;
// when there are more than limit it returns no IDs, only the number.
func (s *Store) ItemIDs(ctx context.Context, limit int) ([]string, int, error) {
	n, err := s.rdb.SCard(ctx, s.k.items()).Result()
	if err != nil {
		return nil, 0, s.wrap("count items", err)
	}
	if n > int64(limit) {
		return nil, int(n), nil
	}
	ids, err := s.rdb.SMembers(ctx, s.k.items()).Result()
	if err != nil {
		return nil, 0, s.wrap("list items", err)
	}
	slices.Sort(ids)
	return ids, len(ids), nil
}
