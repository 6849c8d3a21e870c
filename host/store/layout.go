package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// The layout record (P layout) says how a store keeps its events: the
// layout version and the number of event shards. It is written when a
// store is first used, and every Store checks it before it writes events
// (CheckLayout), so two processes with different shard counts never write
// to one store, and a store of an earlier release is never mixed with the
// sharded layout before `causalrec migrate` moved it.

// ErrLayout: the store's recorded layout is not the one of this Store
// (another number of event shards, or the earlier unsharded layout, which
// Migrate moves). Check with errors.Is.
var ErrLayout = errors.New("store layout mismatch")

// layoutVersion is the version of the sharded layout.
const layoutVersion = "2"

// EventShards returns the number of event shards of the Store.
func (s *Store) EventShards() int { return len(s.k.shards) }

// CheckLayout records the Store's layout in a store that has none and
// holds no events of the earlier layout, and otherwise checks it: another
// number of event shards, or events in the earlier layout not yet migrated,
// is ErrLayout with a message saying what to do.
func (s *Store) CheckLayout(ctx context.Context) error {
	if s.layoutOK.Load() {
		return nil
	}
	legacy, err := s.hasLegacyEvents(ctx)
	if err != nil {
		return err
	}
	if legacy {
		return fmt.Errorf("%w: the store under prefix %q holds events in the layout of an earlier release (or a migration not finished); stop every process using it and run `causalrec migrate`",
			ErrLayout, s.k.p)
	}
	vals, err := s.rdb.HMGet(ctx, s.k.layout(), "version", "event_shards").Result()
	if err != nil {
		return s.wrap("check the store layout", err)
	}
	if vals[0] == nil {
		// HSETNX: a process recording another layout meanwhile wins, and
		// the read below sees it.
		pipe := s.rdb.TxPipeline()
		pipe.HSetNX(ctx, s.k.layout(), "version", layoutVersion)
		pipe.HSetNX(ctx, s.k.layout(), "event_shards", len(s.k.shards))
		get := pipe.HMGet(ctx, s.k.layout(), "version", "event_shards")
		if _, err := pipe.Exec(ctx); err != nil {
			return s.wrap("record the store layout", err)
		}
		vals = get.Val()
	}
	if err := s.matchLayout(vals); err != nil {
		return err
	}
	s.layoutOK.Store(true)
	return nil
}

// matchLayout checks the recorded version and shard count.
func (s *Store) matchLayout(vals []any) error {
	v, _ := vals[0].(string)
	n, _ := vals[1].(string)
	if v != layoutVersion {
		return fmt.Errorf("%w: the store under prefix %q has layout version %q; this release knows version %s", ErrLayout, s.k.p, v, layoutVersion)
	}
	if got, err := strconv.Atoi(n); err != nil || got != len(s.k.shards) {
		return fmt.Errorf("%w: the store under prefix %q was created with %s event shards, not %d (set event_shards to %s; the number is fixed when a store is created)",
			ErrLayout, s.k.p, n, len(s.k.shards), n)
	}
	return nil
}

// hasLegacyEvents reports whether the store holds event keys of the
// earlier, unsharded layout.
func (s *Store) hasLegacyEvents(ctx context.Context) (bool, error) {
	// The legacy keys share one slot: one EXISTS answers for all.
	n, err := s.rdb.Exists(ctx, s.k.legacyLog(), s.k.legacyPopOutcome(), s.k.legacyPopExposure()).Result()
	if err != nil {
		return false, s.wrap("check the store layout", err)
	}
	return n > 0, nil
}
