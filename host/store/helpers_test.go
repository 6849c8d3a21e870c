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

// markKey is the key of the idempotency mark of event id of user.
func (s *Store) markKey(user, id string) string {
	return s.k.eventID(s.k.shardOf(user), id)
}

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
// with their outcome and exposure counts summed over the shards. n <= 0
// means all of them. Items that have exposures but no outcome are not
// listed.
func (s *Store) popularItems(ctx context.Context, n int) ([]ItemCount, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.ZSliceCmd, len(s.k.shards))
	for k := range cmds {
		cmds[k] = pipe.ZRevRangeWithScores(ctx, s.k.popOutcome(k), 0, -1)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, s.wrap("popular items", err)
	}
	all := max(n, 0)
	if n <= 0 {
		all = 1 << 30
	}
	ids, err := mergePopular(cmds, all)
	if err != nil {
		return nil, s.wrap("popular items", err)
	}
	out := make([]ItemCount, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	pipe = s.rdb.Pipeline()
	outs := make([]*redis.FloatSliceCmd, len(s.k.shards))
	exps := make([]*redis.FloatSliceCmd, len(s.k.shards))
	for k := range s.k.shards {
		outs[k] = pipe.ZMScore(ctx, s.k.popOutcome(k), ids...)
		exps[k] = pipe.ZMScore(ctx, s.k.popExposure(k), ids...)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, s.wrap("popular items", err)
	}
	for i, id := range ids {
		out[i].Item = id
		for k := range s.k.shards {
			out[i].Outcomes += outs[k].Val()[i]
			out[i].Exposures += exps[k].Val()[i]
		}
	}
	return out, nil
}
