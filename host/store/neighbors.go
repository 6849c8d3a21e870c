package store

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// ItemScore is an item with a score, such as a co-occurrence count.
type ItemScore struct {
	Item  string  `json:"item"`
	Score float64 `json:"score"`
}

// PutNeighbors replaces the stored neighbour lists (for candidate
// generation) of the given items.
func (s *Store) PutNeighbors(ctx context.Context, nbrs map[string][]ItemScore) error {
	ids := make([]string, 0, len(nbrs))
	for id := range nbrs {
		ids = append(ids, id)
	}
	return batches(ids, s.opts.BatchSize, func(b []string) error {
		pipe := s.rdb.Pipeline()
		for _, id := range b {
			key := s.k.neighbors(id)
			pipe.Del(ctx, key)
			if len(nbrs[id]) == 0 {
				continue
			}
			zs := make([]redis.Z, len(nbrs[id]))
			for i, n := range nbrs[id] {
				zs[i] = redis.Z{Score: n.Score, Member: n.Item}
			}
			pipe.ZAdd(ctx, key, zs...)
		}
		_, err := pipe.Exec(ctx)
		return s.wrap("put neighbors", err)
	})
}
