package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Migrating a store of an earlier release. Releases before the sharded
// layout kept every event key under the one hash tag {P events}: the log
// (P{P events}:log), the idempotency marks (:id:<id>), the histories
// (:hist:<user>) and the popularity counts (:pop:outcome, :pop:exposure).
// Migrate moves them into the shards (keys.go), with every process using
// the store stopped:
//
//  1. The earlier log is read in pages of BatchSize events, in order. Each
//     event goes to its user's shard, by one Lua script per shard and page
//     that appends the events to the shard's log with their marks (value
//     and remaining TTL kept) and records in the shard (P{T}:migrated,
//     field "log") the ID of the last event of the earlier log it copied;
//     an event at or before that ID is skipped. So a page copied before an
//     interruption is not copied again: each event ends up in the new log
//     once.
//  2. Each user's history is copied as it is (ZADD of the same members and
//     scores: copying it again changes nothing).
//  3. The popularity counts are added to shard 0's counts (an item's count
//     is the sum over the shards) in chunks, each chunk by one script that
//     records it as done in shard 0's P{T}:migrated ("pop:outcome" and
//     "pop:exposure": chunks done), so no chunk is added twice.
//  4. The earlier keys are deleted (marks and histories page by page, then
//     the counts, the log last), then the layout record is written and the
//     migration records deleted.
//
// A store holding any earlier event key is refused by CheckLayout, so no
// process serves it while the migration is under way or interrupted.
// Running Migrate again after an interruption resumes it; running it on a
// migrated store does nothing.

// MigrateOptions tune Migrate.
type MigrateOptions struct {
	// DryRun reads the earlier layout and counts what would be moved,
	// writing nothing.
	DryRun bool
	// Progress, when set, is called after each page of the log with the
	// events done and their total.
	Progress func(done, total int64)
}

// MigrateResult says what Migrate found and did.
type MigrateResult struct {
	// Events counts the events of the earlier log; Copied those copied by
	// this run (an interrupted run copied the others).
	Events, Copied int64
	// Marks counts the idempotency marks of those events still in force;
	// Histories the users whose history was copied; Counts the items with
	// popularity counts.
	Marks     int64
	Histories int
	Counts    int
	// Nothing says there was no event key of the earlier layout.
	Nothing bool
}

// migrateLogScript copies events of the earlier log into one shard, at most
// once.
//
// KEYS: the shard's log, its migrated hash, then per event its new mark
// key. ARGV: per event its ID in the earlier log, its JSON, its mark ("" for
// none) and the mark's remaining TTL in ms (-1 for none). It answers the
// number of events copied.
var migrateLogScript = redis.NewScript(`
local function after(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  ams, aseq, bms, bseq = tonumber(ams), tonumber(aseq), tonumber(bms), tonumber(bseq)
  return ams > bms or (ams == bms and aseq > bseq)
end
local last = redis.call('HGET', KEYS[2], 'log')
local n = 0
for i = 1, #KEYS - 2 do
  local a = (i - 1) * 4
  local id = ARGV[a + 1]
  if not last or after(id, last) then
    redis.call('XADD', KEYS[1], '*', 'e', ARGV[a + 2])
    local mark, ttl = ARGV[a + 3], tonumber(ARGV[a + 4])
    if mark ~= '' then
      if ttl > 0 then
        redis.call('SET', KEYS[i + 2], mark, 'PX', ttl)
      else
        redis.call('SET', KEYS[i + 2], mark)
      end
    end
    last = id
    n = n + 1
  end
end
if last then
  redis.call('HSET', KEYS[2], 'log', last)
end
return n
`)

// migrateCountsScript adds one chunk of popularity counts, once.
//
// KEYS: the counts, shard 0's migrated hash. ARGV: the field naming the
// counts, the chunk's index, then item and count pairs. It answers 1 when it
// added the chunk, 0 when it was added before.
var migrateCountsScript = redis.NewScript(`
local done = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if done ~= tonumber(ARGV[2]) then
  return 0
end
for i = 3, #ARGV, 2 do
  redis.call('ZINCRBY', KEYS[1], ARGV[i + 1], ARGV[i])
end
redis.call('HSET', KEYS[2], ARGV[1], done + 1)
return 1
`)

// Migrate moves the event keys of the earlier, unsharded layout into the
// Store's shards; see the package's documentation of migration above. It
// is idempotent and resumable.
func (s *Store) Migrate(ctx context.Context, opts MigrateOptions) (MigrateResult, error) {
	var res MigrateResult
	legacy, err := s.hasLegacyEvents(ctx)
	if err != nil {
		return res, err
	}
	if !legacy {
		res.Nothing = true
		if opts.DryRun {
			return res, nil
		}
		// A run interrupted after its deletions left the layout to write.
		return res, s.finishMigration(ctx)
	}
	if !opts.DryRun {
		// Fix the shard count first: a resumed run must use the same.
		if err := s.rdb.HSetNX(ctx, s.k.layout(), "event_shards", len(s.k.shards)).Err(); err != nil {
			return res, s.wrap("migrate", err)
		}
		n, err := s.rdb.HGet(ctx, s.k.layout(), "event_shards").Result()
		if err != nil {
			return res, s.wrap("migrate", err)
		}
		if n != strconv.Itoa(len(s.k.shards)) {
			return res, fmt.Errorf("%w: a migration of the store under prefix %q into %s event shards is under way, not %d", ErrLayout, s.k.p, n, len(s.k.shards))
		}
	}
	total, err := s.rdb.XLen(ctx, s.k.legacyLog()).Result()
	if err != nil {
		return res, s.wrap("migrate: count the events", err)
	}
	res.Events = total
	users := map[string]bool{}
	var done int64
	err = s.legacyPages(ctx, func(ids []string, evs []Event, raw []string) error {
		if err := s.migratePage(ctx, ids, evs, raw, users, opts.DryRun, &res); err != nil {
			return err
		}
		done += int64(len(ids))
		if opts.Progress != nil {
			opts.Progress(done, total)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	if err := s.migrateCounts(ctx, opts.DryRun, &res); err != nil {
		return res, err
	}
	if opts.DryRun {
		return res, nil
	}
	if err := s.deleteLegacy(ctx); err != nil {
		return res, err
	}
	return res, s.finishMigration(ctx)
}

// legacyPages calls fn with each page of the earlier log: the entries' IDs,
// their events and raw JSON.
func (s *Store) legacyPages(ctx context.Context, fn func(ids []string, evs []Event, raw []string) error) error {
	start := "-"
	size := max(s.opts.BatchSize, 1)
	for {
		msgs, err := s.rdb.XRangeN(ctx, s.k.legacyLog(), start, "+", int64(size)).Result()
		if err != nil {
			return s.wrap("migrate: read the earlier log", err)
		}
		if len(msgs) == 0 {
			return nil
		}
		ids := make([]string, len(msgs))
		evs := make([]Event, len(msgs))
		raw := make([]string, len(msgs))
		for i, m := range msgs {
			r, ok := m.Values["e"].(string)
			if !ok {
				return fmt.Errorf("migrate: entry %s of the earlier log has no event", m.ID)
			}
			e, err := decodeEvent(r)
			if err != nil {
				return fmt.Errorf("migrate: entry %s of the earlier log: %w", m.ID, err)
			}
			ids[i], evs[i], raw[i] = m.ID, e, r
		}
		if err := fn(ids, evs, raw); err != nil {
			return err
		}
		if len(msgs) < size {
			return nil
		}
		if start, err = nextStreamID(msgs[len(msgs)-1].ID); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
}

// migratePage copies one page of the earlier log with its marks, and the
// histories of its users not copied yet.
func (s *Store) migratePage(ctx context.Context, ids []string, evs []Event, raw []string, users map[string]bool, dry bool, res *MigrateResult) error {
	// The marks and the new users' histories, in one round trip (they
	// share the earlier layout's slot).
	pipe := s.rdb.Pipeline()
	marks := make([]*redis.StringCmd, len(evs))
	ttls := make([]*redis.DurationCmd, len(evs))
	for i, e := range evs {
		marks[i] = pipe.Get(ctx, s.k.legacyID(e.ID))
		ttls[i] = pipe.PTTL(ctx, s.k.legacyID(e.ID))
	}
	var newUsers []string
	var hists []*redis.ZSliceCmd
	for _, e := range evs {
		if !users[e.User] {
			users[e.User] = true
			newUsers = append(newUsers, e.User)
			hists = append(hists, pipe.ZRangeWithScores(ctx, s.k.legacyHistory(e.User), 0, -1))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return s.wrap("migrate: read marks and histories", err)
	}
	type call struct {
		keys []string
		args []any
	}
	calls := map[int]*call{}
	var order []int
	for i, e := range evs {
		mark, err := marks[i].Result()
		switch {
		case errors.Is(err, redis.Nil):
			mark = ""
		case err != nil:
			return s.wrap("migrate: read marks", err)
		default:
			res.Marks++
		}
		ttl := int64(-1)
		if d := ttls[i].Val(); d > 0 {
			ttl = max(d.Milliseconds(), 1)
		}
		k := s.k.shardOf(e.User)
		c := calls[k]
		if c == nil {
			c = &call{keys: []string{s.k.eventLog(k), s.k.migrated(k)}}
			calls[k] = c
			order = append(order, k)
		}
		c.keys = append(c.keys, s.k.eventID(k, e.ID))
		c.args = append(c.args, ids[i], raw[i], mark, ttl)
	}
	for _, h := range hists {
		if len(h.Val()) > 0 {
			res.Histories++
		}
	}
	if dry {
		res.Copied += int64(len(evs))
		return nil
	}
	pipe = s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(order))
	for j, k := range order {
		cmds[j] = migrateLogScript.Eval(ctx, pipe, calls[k].keys, calls[k].args...)
	}
	for j, u := range newUsers {
		if zs := hists[j].Val(); len(zs) > 0 {
			pipe.ZAdd(ctx, s.k.history(u), zs...)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return s.wrap("migrate: copy events", err)
	}
	for _, c := range cmds {
		n, err := c.Int64()
		if err != nil {
			return s.wrap("migrate: copy events", err)
		}
		res.Copied += n
	}
	return nil
}

// migrateCounts adds the earlier popularity counts to shard 0's.
func (s *Store) migrateCounts(ctx context.Context, dry bool, res *MigrateResult) error {
	items := map[string]bool{}
	for _, c := range []struct{ field, from, to string }{
		{"pop:outcome", s.k.legacyPopOutcome(), s.k.popOutcome(0)},
		{"pop:exposure", s.k.legacyPopExposure(), s.k.popExposure(0)},
	} {
		// By score, then by member: the same order in a resumed run, as
		// nothing writes the earlier counts any more.
		zs, err := s.rdb.ZRangeWithScores(ctx, c.from, 0, -1).Result()
		if err != nil {
			return s.wrap("migrate: read popularity counts", err)
		}
		for _, z := range zs {
			items[fmt.Sprint(z.Member)] = true
		}
		if dry {
			continue
		}
		size := max(s.opts.BatchSize, 1)
		for chunk, lo := 0, 0; lo < len(zs); chunk, lo = chunk+1, lo+size {
			args := []any{c.field, chunk}
			for _, z := range zs[lo:min(lo+size, len(zs))] {
				args = append(args, z.Member, z.Score)
			}
			if err := migrateCountsScript.Run(ctx, s.rdb, []string{c.to, s.k.migrated(0)}, args...).Err(); err != nil {
				return s.wrap("migrate: copy popularity counts", err)
			}
		}
	}
	res.Counts = len(items)
	return nil
}

// deleteLegacy deletes the earlier layout's keys: the marks and histories
// of the log's events page by page, the counts, and the log last.
func (s *Store) deleteLegacy(ctx context.Context) error {
	err := s.legacyPages(ctx, func(_ []string, evs []Event, _ []string) error {
		keys := make([]string, 0, 2*len(evs))
		for _, e := range evs {
			keys = append(keys, s.k.legacyID(e.ID), s.k.legacyHistory(e.User))
		}
		// They share one slot: one UNLINK.
		return s.wrap("migrate: delete the earlier keys", s.rdb.Unlink(ctx, keys...).Err())
	})
	if err != nil {
		return err
	}
	err = s.rdb.Unlink(ctx, s.k.legacyPopOutcome(), s.k.legacyPopExposure(), s.k.legacyLog()).Err()
	return s.wrap("migrate: delete the earlier keys", err)
}

// finishMigration writes the layout record and deletes the migration's
// records.
func (s *Store) finishMigration(ctx context.Context) error {
	s.layoutOK.Store(false)
	if err := s.CheckLayout(ctx); err != nil {
		return err
	}
	pipe := s.rdb.Pipeline()
	for k := range s.k.shards {
		pipe.Unlink(ctx, s.k.migrated(k))
	}
	_, err := pipe.Exec(ctx)
	return s.wrap("migrate: delete the migration records", err)
}
