package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// addEventsScript ingests a batch of events atomically, each at most once.
//
// KEYS: log, pop:outcome, pop:exposure, then per event its id key and its
// user's history key. ARGV: history limit, dedup TTL in ms (0 = none), then
// per event: JSON, history score (unix ms), "o" or "e", item ID.
// It returns one flag per event: 1 added, 0 already ingested.
var addEventsScript = redis.NewScript(`
local limit = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local n = (#KEYS - 3) / 2
local res = {}
for i = 1, n do
  local idk = KEYS[2*i + 2]
  local hk = KEYS[2*i + 3]
  local a = 2 + (i - 1) * 4
  local ok
  if ttl > 0 then
    ok = redis.call('SET', idk, '1', 'NX', 'PX', ttl)
  else
    ok = redis.call('SET', idk, '1', 'NX')
  end
  if ok then
    local ev = ARGV[a + 1]
    redis.call('XADD', KEYS[1], '*', 'e', ev)
    redis.call('ZADD', hk, ARGV[a + 2], ev)
    if limit > 0 then
      redis.call('ZREMRANGEBYRANK', hk, 0, -limit - 1)
    end
    if ARGV[a + 3] == 'o' then
      redis.call('ZINCRBY', KEYS[2], 1, ARGV[a + 4])
    else
      redis.call('ZINCRBY', KEYS[3], 1, ARGV[a + 4])
    end
    res[i] = 1
  else
    res[i] = 0
  end
end
return res
`)

// AddEvents ingests events and returns how many were new. For each new
// event it, atomically per batch:
//
//   - marks its ID as ingested (an event whose ID was seen before is
//     skipped, so retries never duplicate; an empty ID gets a random UUID),
//   - appends it to the global event log (a stream read by Events),
//   - adds it to the user's history, which keeps the HistoryLimit latest
//     events by event time,
//   - counts it in the item's outcome or exposure popularity.
//
// Defaults are filled in: Arm DefaultArm for an exposure, Value 1 for an
// outcome. Every event is validated first; an invalid one fails the call
// before anything is written.
func (s *Store) AddEvents(ctx context.Context, events []Event) (added int, err error) {
	flags, err := s.addEvents(ctx, events)
	for _, f := range flags {
		if f {
			added++
		}
	}
	return added, err
}

// addEvents is AddEvents returning, per event, whether it was new.
func (s *Store) addEvents(ctx context.Context, events []Event) ([]bool, error) {
	for i, e := range events {
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("add events: event %d: %w", i, err)
		}
	}
	// The cached counts of these items are stale once the events are
	// written. (A snapshot racing the write may still cache a count read
	// before it; the TTL bounds that.)
	defer s.counts.drop(events)
	flags := make([]bool, 0, len(events))
	ttl := s.opts.DedupTTL.Milliseconds()
	if s.opts.DedupTTL > 0 && ttl == 0 {
		ttl = 1
	}
	err := batches(events, s.opts.BatchSize, func(b []Event) error {
		keys := make([]string, 0, 3+2*len(b))
		keys = append(keys, s.k.eventLog(), s.k.popOutcome(), s.k.popExposure())
		args := make([]any, 0, 2+4*len(b))
		args = append(args, s.opts.HistoryLimit, ttl)
		for _, e := range b {
			e = e.WithDefaults()
			if e.ID == "" {
				e.ID = uuid.NewString()
			}
			buf, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("add events: encode %q: %w", e.ID, err)
			}
			kind := "e"
			if e.Kind == Outcome {
				kind = "o"
			}
			keys = append(keys, s.k.eventID(e.ID), s.k.history(e.User))
			args = append(args, buf, e.Time.UnixMilli(), kind, e.Item)
		}
		res, err := addEventsScript.Run(ctx, s.rdb, keys, args...).Int64Slice()
		if err != nil {
			return s.wrap("add events", err)
		}
		if len(res) != len(b) {
			return fmt.Errorf("add events: script answered %d flags for %d events", len(res), len(b))
		}
		for _, r := range res {
			flags = append(flags, r == 1)
		}
		return nil
	})
	return flags, err
}

// Events calls fn with every event in the global log, in ingestion order,
// reading the log in pages of BatchSize entries; the next page is fetched
// while fn runs on the current one. It stops at fn's first error and
// returns it. Events added while it runs may or may not be seen.
func (s *Store) Events(ctx context.Context, fn func(Event) error) error {
	rctx, cancel := context.WithCancel(ctx)
	type page struct {
		msgs []redis.XMessage
		err  error
	}
	pages := make(chan page, 1)
	// complete is set by the reader before it closes pages when it has
	// sent the last page; otherwise it stopped because rctx ended.
	complete := false
	defer func() {
		cancel()
		for range pages { // wait for the reader to stop
		}
	}()
	go func() {
		defer close(pages)
		send := func(p page) bool {
			select {
			case pages <- p:
				return true
			case <-rctx.Done():
				return false
			}
		}
		start := "-"
		for {
			msgs, err := s.rdb.XRangeN(rctx, s.k.eventLog(), start, "+", int64(s.opts.BatchSize)).Result()
			if err != nil {
				if send(page{err: s.wrap("read event log", err)}) {
					complete = true
				}
				return
			}
			if !send(page{msgs: msgs}) {
				return
			}
			if len(msgs) < s.opts.BatchSize {
				complete = true
				return
			}
			if start, err = nextStreamID(msgs[len(msgs)-1].ID); err != nil {
				if send(page{err: fmt.Errorf("read event log: %w", err)}) {
					complete = true
				}
				return
			}
		}
	}()
	for p := range pages {
		if p.err != nil {
			return p.err
		}
		for _, m := range p.msgs {
			raw, ok := m.Values["e"].(string)
			if !ok {
				return fmt.Errorf("read event log: entry %s has no event", m.ID)
			}
			e, err := decodeEvent(raw)
			if err != nil {
				return fmt.Errorf("read event log: entry %s: %w", m.ID, err)
			}
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	if !complete {
		// The reader stopped early: ctx ended.
		return fmt.Errorf("read event log: %w", context.Cause(ctx))
	}
	return nil
}

// EventCount returns the number of events in the global log.
func (s *Store) EventCount(ctx context.Context) (int64, error) {
	n, err := s.rdb.XLen(ctx, s.k.eventLog()).Result()
	return n, s.wrap("count events", err)
}

// nextStreamID returns the smallest stream ID after id ("ms-seq").
func nextStreamID(id string) (string, error) {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok {
		return "", fmt.Errorf("bad stream id %q", id)
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return "", fmt.Errorf("bad stream id %q: %w", id, err)
	}
	if n == ^uint64(0) {
		m, err := strconv.ParseUint(ms, 10, 64)
		if err != nil {
			return "", fmt.Errorf("bad stream id %q: %w", id, err)
		}
		return strconv.FormatUint(m+1, 10) + "-0", nil
	}
	return ms + "-" + strconv.FormatUint(n+1, 10), nil
}
