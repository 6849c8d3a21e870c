package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/causalrec/causalrec/host/redistest"
)

// loseReplies is a go-redis hook that lets the script calls (or pipelines
// of them) after the first ok run on the real server and then reports each
// as failed, as when
// the connection breaks after Redis executed a call and before its answer
// came back (the hardest case for a client: it cannot tell what was
// written).
type loseReplies struct {
	ok    int64
	calls atomic.Int64
}

func (h *loseReplies) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessPipelineHook loses the answers of a whole pipeline of script
// calls (one chunk of a batch, a call per shard).
func (h *loseReplies) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err != nil || !slices.ContainsFunc(cmds, isAddEvents) {
			return err
		}
		if h.calls.Add(1) > h.ok {
			err = fmt.Errorf("read tcp: connection reset by peer: %w", errFault)
			for _, c := range cmds {
				c.SetErr(err)
			}
		}
		return err
	}
}

func (h *loseReplies) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if name := cmd.Name(); err == nil && (name == "evalsha" || name == "eval") && isAddEvents(cmd) {
			if h.calls.Add(1) > h.ok {
				err = fmt.Errorf("read tcp: connection reset by peer: %w", errFault)
				cmd.SetErr(err)
			}
		}
		return err
	}
}

var errFault = errors.New("injected fault")

// isAddEvents reports whether cmd runs addEventsScript.
func isAddEvents(cmd redis.Cmder) bool {
	args := cmd.Args()
	return len(args) > 1 && (args[1] == addEventsScript.Hash() || strings.Contains(fmt.Sprint(args[1]), "ZREMRANGEBYRANK"))
}

func testEvents(n int, idPrefix string) []Event {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = Event{Kind: Exposure, User: fmt.Sprint("u", i%7), Item: fmt.Sprint("i", i%5), Time: t0.Add(time.Duration(i) * time.Second)}
		if idPrefix != "" {
			evs[i].ID = fmt.Sprint(idPrefix, i)
		}
	}
	return evs
}

// logIDs returns the IDs in the event log and fails on a repeated one.
func logIDs(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	if err := s.Events(context.Background(), func(e Event) error {
		if ids[e.ID] {
			return fmt.Errorf("event %q stored twice", e.ID)
		}
		ids[e.ID] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestBatchResumesAfterLostReply cuts a keyed batch of events without IDs
// midway, after Redis executed a call whose answer was lost, and sends it
// again with the same key: each event is stored exactly once, and the
// answers account for every event.
func TestBatchResumesAfterLostReply(t *testing.T) { onEachRedis(t, testBatchResumesAfterLostReply) }

func testBatchResumesAfterLostReply(t *testing.T, b backend) {
	ctx := context.Background()
	prefix := redistest.PrefixOn(t, b.client(t))
	rdb := b.client(t)
	hook := &loseReplies{ok: 2}
	rdb.AddHook(hook)
	s, err := New(rdb, Options{Prefix: prefix, BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	evs := testEvents(45, "")
	_, err = s.AddEventBatch(ctx, evs, "batch-1")
	var be *BatchError
	if !errors.As(err, &be) || !errors.Is(err, errFault) {
		t.Fatalf("first attempt: %v, want a *BatchError wrapping the fault", err)
	}
	// Two calls of 10 answered; the third ran but its answer was lost.
	if be.Written != 20 || be.Duplicates != 0 || be.Next != 20 {
		t.Fatalf("first attempt: written %d, duplicates %d, next %d; want 20, 0, 20", be.Written, be.Duplicates, be.Next)
	}
	if !strings.Contains(be.Error(), "index 20") {
		t.Errorf("message %q does not say where the batch stopped", be.Error())
	}
	if n, _ := s.EventCount(ctx); n != 30 {
		t.Fatalf("log holds %d events after the lost answer, want 30", n)
	}
	hook.ok = 1 << 30 // the network is back
	res, err := s.AddEventBatch(ctx, evs, "batch-1")
	if err != nil {
		t.Fatal(err)
	}
	// The retry resumes at 20; the 10 events whose answer was lost count
	// as written by this batch, not as duplicates.
	if res.Written != 45 || res.Duplicates != 0 || res.Replayed {
		t.Errorf("retry: %+v, want 45 written, 0 duplicates", res)
	}
	if ids := logIDs(t, s); len(ids) != 45 || !ids[KeyedEventID("batch-1", 44)] {
		t.Errorf("log holds %d distinct events, want 45 with keyed ids", len(ids))
	}
	// Once finished, the same batch is a replay: nothing written, the
	// recorded counts answered.
	res, err = s.AddEventBatch(ctx, evs, "batch-1")
	if err != nil || res != (BatchResult{Written: 45, Replayed: true}) {
		t.Errorf("replay: %+v, %v", res, err)
	}
	if n, _ := s.EventCount(ctx); n != 45 {
		t.Errorf("log holds %d events after the replay, want 45", n)
	}
	// Another batch under the same key is a conflict naming the key.
	_, err = s.AddEventBatch(ctx, evs[:3], "batch-1")
	var ce *ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, ErrConflict) || ce.Key != "batch-1" {
		t.Errorf("key reused: %v, want a conflict naming the key", err)
	}
	// The same events under a new key are duplicates of the stored ones
	// only when they carry the same IDs: here they get the new key's IDs.
	if res, err := s.AddEventBatch(ctx, evs[:3], "batch-2"); err != nil || res.Written != 3 {
		t.Errorf("new key: %+v, %v", res, err)
	}
	// The marks and the batch key expire after the window.
	ttl, err := s.rdb.PTTL(ctx, s.k.batch("batch-1")).Result()
	if err != nil || ttl <= DefaultDedupTTL-time.Minute || ttl > DefaultDedupTTL {
		t.Errorf("batch key TTL %v, %v; want the default window %v", ttl, err, DefaultDedupTTL)
	}
	ttl, err = s.rdb.PTTL(ctx, s.markKey("u0", KeyedEventID("batch-1", 0))).Result()
	if err != nil || ttl <= DefaultDedupTTL-time.Minute || ttl > DefaultDedupTTL {
		t.Errorf("mark TTL %v, %v; want the default window %v", ttl, err, DefaultDedupTTL)
	}
}

// TestBatchWithIDsAfterLostReply is the same cut for events with their
// own IDs and no key: the retry stores the rest, and counts the events of
// the lost answer as duplicates (without a key the store cannot tell
// whose they were).
func TestBatchWithIDsAfterLostReply(t *testing.T) { onEachRedis(t, testBatchWithIDsAfterLostReply) }

func testBatchWithIDsAfterLostReply(t *testing.T, b backend) {
	ctx := context.Background()
	prefix := redistest.PrefixOn(t, b.client(t))
	rdb := b.client(t)
	hook := &loseReplies{ok: 1}
	rdb.AddHook(hook)
	s, err := New(rdb, Options{Prefix: prefix, BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	evs := testEvents(35, "e")
	_, err = s.AddEventBatch(ctx, evs, "")
	var be *BatchError
	if !errors.As(err, &be) || be.Written != 10 || be.Next != 10 {
		t.Fatalf("first attempt: %v, want 10 written, next 10", err)
	}
	hook.ok = 1 << 30
	res, err := s.AddEventBatch(ctx, evs, "")
	if err != nil || res.Written != 15 || res.Duplicates != 20 {
		t.Errorf("retry: %+v, %v; want 15 written, 20 duplicates", res, err)
	}
	if ids := logIDs(t, s); len(ids) != 35 {
		t.Errorf("log holds %d distinct events, want 35", len(ids))
	}
}

// TestBatchConflicts checks that an ID used with other content is refused
// before anything of the batch is written, naming the ID, and that a
// repeat with the same content is a duplicate.
func TestBatchConflicts(t *testing.T) { onEachRedis(t, testBatchConflicts) }

func testBatchConflicts(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.store(t, Options{BatchSize: 4})
	evs := testEvents(10, "c")
	if res, err := s.AddEventBatch(ctx, evs[:5], ""); err != nil || res.Written != 5 {
		t.Fatalf("first batch: %+v, %v", res, err)
	}
	changed := evs[4]
	changed.Item = "other"
	tests := []struct {
		name  string
		batch []Event
		id    string
		index int
	}{
		{"stored id, other content", append(append([]Event{}, evs[5:9]...), changed), "c4", 4},
		{"repeated id, other content", append(append([]Event{}, evs[5:8]...), evs[7], func() Event { e := evs[7]; e.Value = 2; return e }()), "c7", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.AddEventBatch(ctx, tt.batch, "")
			var ce *ConflictError
			if !errors.As(err, &ce) || ce.ID != tt.id || ce.Index != tt.index || !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.id)) {
				t.Fatalf("got %v, want a conflict naming %q at %d", err, tt.id, tt.index)
			}
			if n, _ := s.EventCount(ctx); n != 5 {
				t.Errorf("the refused batch wrote %d events", n-5)
			}
		})
	}
	// The script checks too: a conflict that the pre-read cannot see (an
	// ID stored between it and the write) refuses the script's call: the
	// events of c9's shard. An event of another shard in the same chunk is
	// written by its own call.
	if err := s.rdb.Set(ctx, s.markKey(evs[9].User, "c9"), "0123456789abcdef", 0).Err(); err != nil {
		t.Fatal(err)
	}
	sameShard := evs[9]
	sameShard.ID, sameShard.Item = "c9b", "other"
	if s.k.shardOf(evs[8].User) == s.k.shardOf(evs[9].User) {
		t.Fatalf("users %s and %s share a shard; the test needs two", evs[8].User, evs[9].User)
	}
	prep, err := s.prepareEvents([]Event{evs[9], sameShard, evs[8]}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.writeChunk(ctx, prep, 8, ""); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), `"c9"`) {
		t.Errorf("script conflict: %v", err)
	}
	ids := logIDs(t, s)
	if len(ids) != 6 || ids["c9"] || ids["c9b"] || !ids["c8"] {
		t.Errorf("after the refused script call the log holds %v; want c0-c4 and c8", ids)
	}
	// A repeat with the same content, within a batch or across batches,
	// is a duplicate; a mark from before digests were kept ("1") matches
	// any content.
	if err := s.rdb.Set(ctx, s.markKey(evs[0].User, "old"), "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	old := evs[0]
	old.ID = "old"
	res, err := s.AddEventBatch(ctx, []Event{evs[5], evs[5], evs[0], old}, "")
	if err != nil || res.Written != 1 || res.Duplicates != 3 {
		t.Errorf("repeats: %+v, %v; want 1 written, 3 duplicates", res, err)
	}
}

// TestEventDigest checks what the digest covers: every field but the ID,
// defaults filled in, the time in any zone the same instant, and no time
// for an event whose time is unknown.
func TestEventDigest(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	base := Event{ID: "a", Kind: Exposure, User: "u", Item: "i", Time: t0, Propensity: 0.5}
	same := []Event{
		func() Event { e := base; e.ID = "b"; return e }(),
		func() Event { e := base; e.Arm = DefaultArm; return e }(),
		func() Event { e := base; e.Time = t0.In(time.FixedZone("x", 3600)); return e }(),
	}
	for _, e := range same {
		if e.Digest() != base.Digest() {
			t.Errorf("%+v: digest differs from %+v", e, base)
		}
	}
	differ := []Event{
		func() Event { e := base; e.User = "v"; return e }(),
		func() Event { e := base; e.Time = t0.Add(time.Millisecond); return e }(),
		func() Event { e := base; e.Arm = "control"; return e }(),
		func() Event { e := base; e.Propensity = 0.25; return e }(),
		func() Event { e := base; e.Position = 2; return e }(),
		func() Event { e := base; e.PolicyID = "p"; return e }(),
		func() Event { e := base; e.Kind = Outcome; return e }(),
		func() Event { e := base; e.TimeUnknown = true; return e }(),
	}
	for _, e := range differ {
		if e.Digest() == base.Digest() {
			t.Errorf("%+v: same digest as %+v", e, base)
		}
	}
	u1, u2 := base, base
	u1.TimeUnknown, u2.TimeUnknown = true, true
	u2.Time = t0.Add(time.Hour)
	if u1.Digest() != u2.Digest() {
		t.Error("an event of unknown time: the ingestion time changes the digest")
	}
}

func TestIdempotencyKeyChecked(t *testing.T) { onEachRedis(t, testIdempotencyKeyChecked) }

func testIdempotencyKeyChecked(t *testing.T, b backend) {
	s := b.store(t, Options{})
	for _, key := range []string{"", strings.Repeat("k", 256), "a\nb", "é"} {
		if _, err := s.AddEventBatch(context.Background(), testEvents(1, ""), key); key != "" && err == nil {
			t.Errorf("key %q accepted", key)
		}
	}
}
