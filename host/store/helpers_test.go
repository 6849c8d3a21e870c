package store

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/redis/go-redis/v9"
)

func nan() float64 { return math.NaN() }

func typeName(v any) string { return fmt.Sprintf("%T", v) }

// The tests read what the store wrote with these.

// history returns up to limit of the user's most recent events, newest
// first (by event time). limit <= 0 means every retained event.
func (s *Store) history(ctx context.Context, user string, limit int) ([]Event, error) {
	stop := int64(-1)
	if limit > 0 {
		stop = int64(limit) - 1
	}
	raw, err := s.rdb.ZRevRange(ctx, s.k.history(user), 0, stop).Result()
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("history of %q", user), err)
	}
	out := make([]Event, len(raw))
	for i, r := range raw {
		if out[i], err = decodeEvent(r); err != nil {
			return nil, fmt.Errorf("history of %q: decode: %w", user, err)
		}
	}
	return out, nil
}

// popularItems returns the n items with the most outcome events, most first,
// with their outcome and exposure counts. n <= 0 means all of them. Items
// that have exposures but no outcome are not listed.
func (s *Store) popularItems(ctx context.Context, n int) ([]ItemCount, error) {
	stop := int64(-1)
	if n > 0 {
		stop = int64(n) - 1
	}
	zs, err := s.rdb.ZRevRangeWithScores(ctx, s.k.popOutcome(), 0, stop).Result()
	if err != nil {
		return nil, s.wrap("popular items", err)
	}
	out := make([]ItemCount, len(zs))
	if len(zs) == 0 {
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	exp := make([]*redis.FloatCmd, len(zs))
	for i, z := range zs {
		id, _ := z.Member.(string)
		out[i] = ItemCount{Item: id, Outcomes: z.Score}
		exp[i] = pipe.ZScore(ctx, s.k.popExposure(), id)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, s.wrap("popular items", err)
	}
	for i, c := range exp {
		out[i].Exposures = c.Val() // 0 when the item was never exposed
	}
	return out, nil
}
