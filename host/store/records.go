package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// The items and the users are records of the same shape: a JSON string per
// record under a key of its own and the record's ID in a set of all IDs.
// putRecords and getRecords write and read either.

// recordKind says where the records of one kind live.
type recordKind[T any] struct {
	// name and one are the plural and singular names of the records,
	// for messages.
	name, one string
	// id returns a record's ID and validate its first problem.
	id       func(T) string
	validate func(T) error
	// key is the key of a record, all the set of every ID.
	key func(id string) string
	all string
	// features returns a record's features, whose names go to the set
	// names (the catalogue's feature names, see features.go).
	features func(T) map[string]float64
	names    string
}

// putRecords validates every record, then writes them in batches of
// BatchSize, one pipeline each, and returns how many replaced a record
// with the same ID. after, when not nil, queues more commands at the end of
// each pipeline.
func putRecords[T any](ctx context.Context, s *Store, k recordKind[T], recs []T, after func(redis.Pipeliner)) (replaced int, err error) {
	op := "put " + k.name
	for i, r := range recs {
		if err := k.validate(r); err != nil {
			return 0, fmt.Errorf("%s: %s %d: %w", op, k.one, i, err)
		}
	}
	err = batches(recs, s.opts.BatchSize, func(b []T) error {
		pipe := s.rdb.Pipeline()
		adds := make([]*redis.IntCmd, len(b))
		for i, r := range b {
			buf, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("%s: encode %q: %w", op, k.id(r), err)
			}
			pipe.Set(ctx, k.key(k.id(r)), buf, 0)
			adds[i] = pipe.SAdd(ctx, k.all, k.id(r))
			if f := k.features(r); len(f) > 0 {
				names := make([]any, 0, len(f))
				for name := range f {
					names = append(names, name)
				}
				pipe.SAdd(ctx, k.names, names...)
			}
		}
		if after != nil {
			after(pipe)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return s.wrap(op, err)
		}
		for _, c := range adds {
			if c.Val() == 0 {
				replaced++
			}
		}
		return nil
	})
	return replaced, err
}

// getRecords returns the stored records with the given IDs, in the order
// asked, and the IDs that have none.
func getRecords[T any](ctx context.Context, s *Store, k recordKind[T], ids []string) (found []T, missing []string, err error) {
	op := "get " + k.name
	err = batches(ids, s.opts.BatchSize, func(b []string) error {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(b))
		for i, id := range b {
			cmds[i] = pipe.Get(ctx, k.key(id))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return s.wrap(op, err)
		}
		for i, c := range cmds {
			buf, err := c.Bytes()
			if errors.Is(err, redis.Nil) {
				missing = append(missing, b[i])
				continue
			}
			if err != nil {
				return s.wrap(op, err)
			}
			var r T
			if err := json.Unmarshal(buf, &r); err != nil {
				return fmt.Errorf("%s: decode %q: %w", op, b[i], err)
			}
			found = append(found, r)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return found, missing, nil
}

// eachRecord calls fn with every stored record of the kind, in no order,
// reading BatchSize at a time; an ID in the set without its record is
// skipped.
func eachRecord[T any](ctx context.Context, s *Store, k recordKind[T], fn func(T) error) error {
	var cursor uint64
	for {
		ids, next, err := s.rdb.SScan(ctx, k.all, cursor, "", int64(s.opts.BatchSize)).Result()
		if err != nil {
			return s.wrap("scan "+k.name, err)
		}
		found, _, err := getRecords(ctx, s, k, ids)
		if err != nil {
			return err
		}
		for _, r := range found {
			if err := fn(r); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}
