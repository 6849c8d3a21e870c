package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Ingestion you can retry. The guarantee, for every event of a batch that
// carries an ID (its own, or one derived from the batch's idempotency key):
//
//   - The event is stored at most once within the idempotency window
//     (Options.DedupTTL): its ID mark is checked and set in the same Lua
//     script as the event's own writes (log, history, popularity), so the
//     mark and the event are written together or not at all. All of them
//     live in the event shard of the event's user (keys.go), so a retried
//     event meets its own mark. (An ID reused for an event of a user of
//     another shard is not seen: give events IDs unique across users.)
//   - The mark holds a digest of the event's content. An event whose ID is
//     marked with another content is a conflict (ErrConflict, naming the
//     ID): the script refuses its whole call, and a pre-read of the marks
//     refuses the whole batch before anything is written.
//   - A batch sent with an idempotency key records its progress under a
//     batch key (P batch:<key hash>): the digest of the whole batch, how
//     many of its events (in order) are done and how many of those were
//     written and duplicates. A retry with the same key and the same events
//     resumes after the last recorded event; a retry of a finished batch
//     writes nothing and answers the recorded counts; the same key with other
//     events is a conflict. Progress is recorded after each script call,
//     not inside it, so the design does not need a batch's events to share
//     a hash slot: a chunk whose progress was not recorded is sent again,
//     and its events' marks answer it. Events of a keyed batch record the
//     batch in their marks, so a resent event that an earlier attempt of the
//     same batch stored counts as written, not as a duplicate.
//
// A failure midway (Redis gone) answers with a *BatchError: the events
// before Next were processed (Written of them new, Duplicates already
// stored); events from Next on may or may not be stored, so the client
// sends the batch again with the same key (or the same event IDs) and each
// event ends up stored exactly once.

// Sentinel errors of ingestion; check with errors.Is.
var (
	// ErrConflict: an event ID (or an idempotency key) was used before
	// with other content. The wrapping *ConflictError names it.
	ErrConflict = errors.New("conflict")
)

// ConflictError reports an event whose ID is already stored with other
// content, or two events of one batch with one ID and different content,
// or an idempotency key reused for another batch.
type ConflictError struct {
	// ID is the event ID in conflict (empty for a key conflict).
	ID string
	// Index is the event's index in the batch (-1 for a key conflict).
	Index int
	// Key is the idempotency key of a key conflict.
	Key string
	// Reason says what the ID or key was used for before.
	Reason string
}

func (e *ConflictError) Error() string {
	if e.ID == "" {
		return fmt.Sprintf("idempotency key %q: %s", e.Key, e.Reason)
	}
	return fmt.Sprintf("events[%d]: id %q: %s", e.Index, e.ID, e.Reason)
}

// Is makes a *ConflictError match ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// BatchResult counts what AddEventBatch did with a batch.
type BatchResult struct {
	// Written counts the batch's events that are stored by this batch: new
	// ones, and for a keyed batch those an earlier attempt with the same
	// key stored.
	Written int
	// Duplicates counts events whose ID was stored before (by another
	// batch, or earlier in the same batch with the same content).
	Duplicates int
	// Replayed says the batch's key named a batch already finished: nothing
	// was written and the counts are those recorded for it.
	Replayed bool
}

// BatchError is a batch that failed midway: the events before Next were
// processed, Written and Duplicates count them; events from Next on may or
// may not be stored. It wraps the cause (say ErrUnavailable).
type BatchError struct {
	BatchResult
	// Next is the index of the first event not known to be processed.
	Next int
	Err  error
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("%v (events before index %d processed: %d written, %d duplicates; send the batch again with the same idempotency key or event ids)",
		e.Err, e.Next, e.Written, e.Duplicates)
}

func (e *BatchError) Unwrap() error { return e.Err }

// MaxIdempotencyKeyBytes bounds an idempotency key.
const MaxIdempotencyKeyBytes = 255

// CheckIdempotencyKey reports whether key can name a batch: 1 to
// MaxIdempotencyKeyBytes bytes of printable ASCII.
func CheckIdempotencyKey(key string) error {
	if key == "" || len(key) > MaxIdempotencyKeyBytes {
		return fmt.Errorf("idempotency key of %d bytes: want 1 to %d", len(key), MaxIdempotencyKeyBytes)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("idempotency key holds byte %#x at %d: want printable ASCII", c, i)
		}
	}
	return nil
}

// KeyedEventID is the ID an event without one gets in a batch sent with
// idempotency key key: the same for every attempt of the batch.
func KeyedEventID(key string, index int) string {
	sum := sha256.Sum256([]byte(key))
	return "k" + hex.EncodeToString(sum[:10]) + "-" + strconv.Itoa(index)
}

// Digest is the digest of the event's content that its idempotency mark
// holds: 16 hex digits of the SHA-256 of every field but the ID, with the
// defaults filled in; the time of an event with TimeUnknown (the time of
// its ingestion, which a retry changes) is left out.
func (e Event) Digest() string {
	e = e.WithDefaults()
	b := make([]byte, 0, 64+len(e.User)+len(e.Item)+len(e.Arm)+len(e.PolicyID))
	str := func(s string) {
		b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	str(string(e.Kind))
	str(e.User)
	str(e.Item)
	if e.TimeUnknown {
		str("time unknown")
	} else {
		b = binary.LittleEndian.AppendUint64(b, uint64(e.Time.Unix()))
		b = binary.LittleEndian.AppendUint32(b, uint32(e.Time.Nanosecond()))
	}
	str(e.Arm)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.Propensity))
	b = binary.LittleEndian.AppendUint64(b, uint64(e.Position))
	str(e.PolicyID)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.Value))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// addEventsScript ingests events, each at most once, all or none of them.
//
// KEYS (all of one event shard): log, pop:outcome, pop:exposure, then per
// event its id key and its user's history key. ARGV: history limit, mark TTL in ms, batch tag (""
// for none), then per event: JSON, history score (unix ms), "o" or "e",
// item ID, content digest.
//
// It first reads every event's mark: a mark of other content refuses the
// call, which answers {-1, i} for the i-th event (1-based). Otherwise it
// answers one flag per event: 1 written now, 2 written before by the same
// batch (same digest and tag), 0 stored before (a duplicate).
var addEventsScript = redis.NewScript(`
local limit = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local tag = ARGV[3]
local n = (#KEYS - 3) / 2
local marks = {}
for i = 1, n do
  local v = redis.call('GET', KEYS[2*i + 2])
  if v then
    local d = ARGV[3 + (i - 1) * 5 + 5]
    if v ~= '1' and string.sub(v, 1, #d) ~= d then
      return {-1, i}
    end
    marks[i] = v
  end
end
local res = {}
for i = 1, n do
  local a = 3 + (i - 1) * 5
  local mark = ARGV[a + 5]
  if tag ~= '' then
    mark = mark .. ':' .. tag
  end
  if marks[i] then
    if tag ~= '' and marks[i] == mark then
      res[i] = 2
    else
      res[i] = 0
    end
  else
    redis.call('SET', KEYS[2*i + 2], mark, 'PX', ttl)
    local ev = ARGV[a + 1]
    local hk = KEYS[2*i + 3]
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
  end
end
return res
`)

// claimBatchScript opens or reads a batch key.
//
// KEYS: the batch key. ARGV: the batch digest, its number of events, TTL
// in ms. It answers {-1} when the key holds another batch, else {next,
// written, duplicates} (zeros for a new batch, which it records).
var claimBatchScript = redis.NewScript(`
local h = redis.call('HGET', KEYS[1], 'h')
if h then
  if h ~= ARGV[1] then
    return {-1}
  end
  local v = redis.call('HMGET', KEYS[1], 'next', 'w', 'd')
  return {tonumber(v[1]), tonumber(v[2]), tonumber(v[3])}
end
redis.call('HSET', KEYS[1], 'h', ARGV[1], 'n', ARGV[2], 'next', 0, 'w', 0, 'd', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {0, 0, 0}
`)

// batchProgressScript records that a batch's events up to a new index are
// done, unless another attempt recorded progress since (compare and set).
//
// KEYS: the batch key. ARGV: the expected next, the new next, written and
// duplicates to add.
var batchProgressScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'next') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'next', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'w', ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'd', ARGV[4])
end
return 0
`)

// AddEvents ingests events and returns how many were new (see
// AddEventBatch, of which it is the call without an idempotency key).
func (s *Store) AddEvents(ctx context.Context, events []Event) (added int, err error) {
	res, err := s.AddEventBatch(ctx, events, "")
	return res.Written, err
}

// preparedEvent is an event ready for the script.
type preparedEvent struct {
	e      Event
	json   []byte
	digest string
	// shard is the event shard of the event's user; idKey the key of its
	// mark there.
	shard int
	idKey string
	// dup marks a repeat, within the batch, of an earlier event with the
	// same ID and content: it is counted as a duplicate and not sent.
	dup bool
	// ownID says the ID came from the caller or the key, so a stored mark
	// may exist.
	ownID bool
}

// AddEventBatch ingests a batch of events. For each new event it,
// atomically per event:
//
//   - marks its ID as ingested for Options.DedupTTL, with the digest of its
//     content (an event without an ID gets KeyedEventID(key, index) when
//     key is set, else a random UUID),
//   - appends it to the event log of its user's shard (a stream read by
//     Events),
//   - adds it to the user's history, which keeps the HistoryLimit latest
//     events by event time,
//   - counts it in the item's outcome or exposure popularity.
//
// Defaults are filled in: Arm DefaultArm for an exposure, Value 1 for an
// outcome. Every event is validated and encoded, and the marks of the IDs
// the caller gave are read, before anything is written: an invalid event
// or a conflict (ErrConflict: an ID stored or repeated with other
// content, a key used for another batch) fails the call and writes
// nothing. A failure midway is a *BatchError saying how far the batch got.
// The package's documentation of ingestion (ingest.go) states the
// guarantee.
func (s *Store) AddEventBatch(ctx context.Context, events []Event, key string) (BatchResult, error) {
	var res BatchResult
	if key != "" {
		if err := CheckIdempotencyKey(key); err != nil {
			return res, err
		}
	}
	prep, err := s.prepareEvents(events, key)
	if err != nil {
		return res, err
	}
	var tag, bkey, digest string
	if key != "" {
		tag, bkey, digest = batchTag(key), s.k.batch(key), batchDigest(prep)
	}
	if err := s.CheckLayout(ctx); err != nil {
		return res, &BatchError{Err: fmt.Errorf("add events: %w", err)}
	}
	if err := s.checkMarks(ctx, prep, key, bkey, digest); err != nil {
		return res, err
	}
	// The cached counts of these items are stale once the events are
	// written; a read of counts that began before the drop is not cached.
	defer func() { s.counts.drop(events, s.opts.Now()) }()

	next := 0
	if key != "" {
		v, err := claimBatchScript.Run(ctx, s.rdb, []string{bkey}, digest, len(prep), s.ttlMillis()).Int64Slice()
		if err != nil {
			return res, &BatchError{Err: s.wrap("add events: claim batch", err)}
		}
		if len(v) == 1 {
			return res, keyConflict(key)
		}
		if len(v) != 3 || v[0] < 0 || v[0] > int64(len(prep)) {
			return res, fmt.Errorf("add events: batch key answered %v", v)
		}
		next, res.Written, res.Duplicates = int(v[0]), int(v[1]), int(v[2])
		if next == len(prep) {
			res.Replayed = true
			return res, nil
		}
	}
	size := s.opts.BatchSize
	if size <= 0 {
		size = len(prep)
	}
	for start := next; start < len(prep); start += size {
		end := min(start+size, len(prep))
		written, dups, err := s.writeChunk(ctx, prep[start:end], start, tag)
		if err != nil {
			var ce *ConflictError
			if errors.As(err, &ce) {
				return res, err
			}
			return res, &BatchError{BatchResult: res, Next: start, Err: err}
		}
		res.Written += written
		res.Duplicates += dups
		if bkey != "" {
			if err := batchProgressScript.Run(ctx, s.rdb, []string{bkey}, start, end, written, dups).Err(); err != nil && !errors.Is(err, redis.Nil) {
				return res, &BatchError{BatchResult: res, Next: end, Err: s.wrap("add events: record batch progress", err)}
			}
		}
	}
	return res, nil
}

// ttlMillis is the mark TTL in milliseconds (at least 1).
func (s *Store) ttlMillis() int64 {
	return max(s.opts.DedupTTL.Milliseconds(), 1)
}

// prepareEvents validates, fills in and encodes every event, and finds
// repeats within the batch.
func (s *Store) prepareEvents(events []Event, key string) ([]preparedEvent, error) {
	prep := make([]preparedEvent, len(events))
	seen := make(map[string]int, len(events))
	for i, e := range events {
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("add events: event %d: %w", i, err)
		}
		e = e.WithDefaults()
		p := preparedEvent{ownID: e.ID != ""}
		switch {
		case e.ID != "":
		case key != "":
			e.ID, p.ownID = KeyedEventID(key, i), true
		default:
			e.ID = uuid.NewString()
		}
		p.digest = e.Digest()
		if j, ok := seen[e.ID]; ok {
			if prep[j].digest != p.digest {
				return nil, &ConflictError{ID: e.ID, Index: i, Reason: fmt.Sprintf("repeats the id of event %d with other content", j)}
			}
			p.dup = true
		} else {
			seen[e.ID] = i
		}
		buf, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("add events: event %d: encode %q: %w", i, e.ID, err)
		}
		p.shard = s.k.shardOf(e.User)
		p.e, p.json, p.idKey = e, buf, s.k.eventID(p.shard, e.ID)
		prep[i] = p
	}
	return prep, nil
}

func keyConflict(key string) *ConflictError {
	return &ConflictError{Key: key, Index: -1, Reason: "used before for another batch of events (a key names one batch; send new events with a new key)"}
}

// checkMarks reads, in one round trip, the marks of the events whose IDs
// the caller chose and the batch key bkey (when set), and refuses the batch
// when the key holds another batch or an ID was stored with other content.
// The marks are read with one MGET per shard and BatchSize events: the
// keys of a shard share one hash slot (keys.go).
func (s *Store) checkMarks(ctx context.Context, prep []preparedEvent, key, bkey, digest string) error {
	pipe := s.rdb.Pipeline()
	type read struct {
		idx  []int
		keys []string
		cmd  *redis.SliceCmd
	}
	var reads []*read
	size := s.opts.BatchSize
	if size <= 0 {
		size = len(prep)
	}
	open := map[int]*read{}
	for i, p := range prep {
		if !p.ownID || p.dup {
			continue
		}
		r := open[p.shard]
		if r == nil {
			r = &read{}
			open[p.shard] = r
			reads = append(reads, r)
		}
		r.idx = append(r.idx, i)
		r.keys = append(r.keys, p.idKey)
		if len(r.keys) == size {
			delete(open, p.shard)
		}
	}
	for _, r := range reads {
		r.cmd = pipe.MGet(ctx, r.keys...)
	}
	var batch *redis.StringCmd
	if bkey != "" {
		batch = pipe.HGet(ctx, bkey, "h")
	}
	if len(reads) == 0 && batch == nil {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return &BatchError{Err: s.wrap("add events: read idempotency marks", err)}
	}
	if batch != nil {
		if h, err := batch.Result(); err == nil && h != digest {
			return keyConflict(key)
		}
	}
	// The first conflict in batch order is reported.
	first := -1
	for _, r := range reads {
		vals, err := r.cmd.Result()
		if err != nil {
			return &BatchError{Err: s.wrap("add events: read idempotency marks", err)}
		}
		for j, v := range vals {
			if m, ok := v.(string); ok && !markMatches(m, prep[r.idx[j]].digest) && (first < 0 || r.idx[j] < first) {
				first = r.idx[j]
			}
		}
	}
	if first >= 0 {
		return conflictAt(prep[first], first)
	}
	return nil
}

func conflictAt(p preparedEvent, i int) *ConflictError {
	return &ConflictError{ID: p.e.ID, Index: i, Reason: "stored before with other content (an event id names one event)"}
}

// markMatches reports whether a stored mark is one of an event with the
// given digest. Marks written before digests were kept hold "1" and match
// any content.
func markMatches(mark, digest string) bool {
	return mark == "1" || len(mark) >= len(digest) && mark[:len(digest)] == digest
}

// writeChunk sends, in one pipeline, one script call per shard for the
// events of chunk (whose first is the batch's event offset) and returns how
// many were written and how many were duplicates. A conflict found by a
// script refuses that script's events; the other shards' calls of the
// chunk are written.
func (s *Store) writeChunk(ctx context.Context, chunk []preparedEvent, offset int, tag string) (written, dups int, err error) {
	type call struct {
		keys []string
		args []any
		sent []int // indexes in chunk
		cmd  *redis.Cmd
	}
	var calls []*call
	byShard := map[int]*call{}
	for i, p := range chunk {
		if p.dup {
			dups++
			continue
		}
		c := byShard[p.shard]
		if c == nil {
			c = &call{
				keys: []string{s.k.eventLog(p.shard), s.k.popOutcome(p.shard), s.k.popExposure(p.shard)},
				args: []any{s.opts.HistoryLimit, s.ttlMillis(), tag},
			}
			byShard[p.shard] = c
			calls = append(calls, c)
		}
		kind := "e"
		if p.e.Kind == Outcome {
			kind = "o"
		}
		c.keys = append(c.keys, p.idKey, s.k.history(p.e.User))
		c.args = append(c.args, p.json, p.e.Time.UnixMilli(), kind, p.e.Item, p.digest)
		c.sent = append(c.sent, i)
	}
	if len(calls) == 0 {
		return 0, dups, nil
	}
	run := func(calls []*call, load bool) error {
		pipe := s.rdb.Pipeline()
		for _, c := range calls {
			if load {
				c.cmd = addEventsScript.Eval(ctx, pipe, c.keys, c.args...)
			} else {
				c.cmd = addEventsScript.EvalSha(ctx, pipe, c.keys, c.args...)
			}
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	if err := run(calls, false); err != nil {
		// A server that does not know the script yet ran none of the
		// calls it answered NOSCRIPT to: send those with the script.
		var again []*call
		for _, c := range calls {
			if err := c.cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
				again = append(again, c)
			}
		}
		if len(again) > 0 {
			err = run(again, true)
		}
		for _, c := range calls {
			if err := c.cmd.Err(); err != nil {
				return 0, 0, s.wrap("add events", err)
			}
		}
		if err != nil {
			return 0, 0, s.wrap("add events", err)
		}
	}
	first := -1 // the first conflict in chunk order
	for _, c := range calls {
		res, err := c.cmd.Int64Slice()
		if err != nil {
			return 0, 0, s.wrap("add events", err)
		}
		if len(res) == 2 && res[0] == -1 && res[1] >= 1 && int(res[1]) <= len(c.sent) {
			if i := c.sent[res[1]-1]; first < 0 || i < first {
				first = i
			}
			continue
		}
		if len(res) != len(c.sent) {
			return 0, 0, fmt.Errorf("add events: script answered %d flags for %d events", len(res), len(c.sent))
		}
		for _, r := range res {
			if r == 0 {
				dups++
			} else {
				written++
			}
		}
	}
	if first >= 0 {
		return 0, 0, conflictAt(chunk[first], offset+first)
	}
	return written, dups, nil
}

// batchTag names a keyed batch in its events' marks.
func batchTag(key string) string {
	sum := sha256.Sum256([]byte("tag\x00" + key))
	return hex.EncodeToString(sum[:8])
}

// batchDigest is the digest of a whole batch: its events' IDs and content
// digests in order.
func batchDigest(prep []preparedEvent) string {
	h := sha256.New()
	for _, p := range prep {
		h.Write([]byte(p.e.ID))
		h.Write([]byte{0})
		h.Write([]byte(p.digest))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
