package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Events calls fn with every event in the log, shard by shard (see keys.go)
// and within a shard in ingestion order (so a user's events come in the
// order they were ingested), reading the log in pages of BatchSize entries;
// the next page is fetched while fn runs on the current one. It stops at
// fn's first error and returns it. Events added while it runs may or may
// not be seen.
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
		for shard := range s.k.shards {
			start := "-"
			for {
				msgs, err := s.rdb.XRangeN(rctx, s.k.eventLog(shard), start, "+", int64(s.opts.BatchSize)).Result()
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
					break
				}
				if start, err = nextStreamID(msgs[len(msgs)-1].ID); err != nil {
					if send(page{err: fmt.Errorf("read event log: %w", err)}) {
						complete = true
					}
					return
				}
			}
		}
		complete = true
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

// EventLogKeys returns the Redis keys of the event log's shards (streams,
// field "e" = JSON of an Event), in the order Events reads them: for tools
// that read the streams themselves.
func (s *Store) EventLogKeys() []string {
	keys := make([]string, len(s.k.shards))
	for k := range keys {
		keys[k] = s.k.eventLog(k)
	}
	return keys
}

// EventCount returns the number of events in the log (of every shard).
func (s *Store) EventCount(ctx context.Context) (int64, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(s.k.shards))
	for k := range cmds {
		cmds[k] = pipe.XLen(ctx, s.k.eventLog(k))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, s.wrap("count events", err)
	}
	var n int64
	for _, c := range cmds {
		n += c.Val()
	}
	return n, nil
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
