package store

import (
	"context"
	"errors"
	"fmt"
)

// PutTextScores caches a scorer plugin's features for item texts, under the
// plugin's name and version. A later entry for the same plugin and item
// replaces the earlier one, whatever its version. Entries are written in
// the binary form described in scorecodec.go.
func (s *Store) PutTextScores(ctx context.Context, plugin, version string, scores []TextScore) error {
	if plugin == "" {
		return errors.New("put text scores: empty plugin name")
	}
	for i, sc := range scores {
		if err := checkID("text score item id", sc.ItemID); err != nil {
			return fmt.Errorf("put text scores: score %d: %w", i, err)
		}
		if sc.TextHash == "" {
			return fmt.Errorf("put text scores: score %d (item %q): empty text hash", i, sc.ItemID)
		}
		if err := checkFeatures(sc.Features); err != nil {
			return fmt.Errorf("put text scores: score %d (item %q): %w", i, sc.ItemID, err)
		}
	}
	key := s.k.textScores(plugin)
	return batches(scores, s.opts.BatchSize, func(b []TextScore) error {
		fields := make([]any, 0, 2*len(b))
		for _, sc := range b {
			fields = append(fields, sc.ItemID, encodeScore(version, sc.TextHash, sc.Features))
		}
		pipe := s.rdb.Pipeline()
		pipe.HSet(ctx, key, fields...)
		s.queueCatalogChange(ctx, pipe)
		_, err := pipe.Exec(ctx)
		return s.wrap("put text scores", err)
	})
}

// TextScores looks items up in the text-score cache of a plugin version. An
// item is a hit only when its cached entry was written by this version and
// for the text the item has now (TextHash(item.Text)); every other item is a
// miss, so a changed text or a new plugin version invalidates the entry.
// hits maps item ID to features; the feature maps are shared with the
// Store's cache of decoded entries and must not be modified. An entry that
// cannot be decoded is an error.
func (s *Store) TextScores(ctx context.Context, plugin, version string, items []Item) (hits map[string]map[string]float64, misses []Item, err error) {
	if plugin == "" {
		return nil, nil, errors.New("text scores: empty plugin name")
	}
	hits = make(map[string]map[string]float64)
	key := s.k.textScores(plugin)
	err = batches(items, s.opts.BatchSize, func(b []Item) error {
		ids := make([]string, len(b))
		for i, it := range b {
			ids[i] = it.ID
		}
		vals, err := s.rdb.HMGet(ctx, key, ids...).Result()
		if err != nil {
			return s.wrap("text scores", err)
		}
		for i, v := range vals {
			raw, ok := v.(string)
			if !ok {
				misses = append(misses, b[i])
				continue
			}
			c, err := s.scores.decode(plugin, b[i].ID, raw)
			if err != nil {
				return fmt.Errorf("text scores: decode entry of %q: %w", b[i].ID, err)
			}
			if !c.matches(version, b[i].Text) {
				misses = append(misses, b[i])
				continue
			}
			hits[b[i].ID] = c.features
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return hits, misses, nil
}
