package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sentinel errors; check with errors.Is.
var (
	// ErrNotFound: the record asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: Redis could not be reached or cannot serve now. The
	// wrapping message names the address.
	ErrUnavailable = errors.New("redis unavailable")
)

// Options configure a Store. The zero value is usable; see DefaultOptions.
type Options struct {
	// Prefix is put before every key. It must not contain '{' or '}'.
	Prefix string
	// HistoryLimit is how many of a user's most recent events (by event
	// time) the per-user history keeps.
	HistoryLimit int
	// BatchSize is how many records one pipeline or script call carries.
	BatchSize int
	// DedupTTL is the idempotency window: how long an ingested event ID
	// (and a batch's idempotency key) is remembered, so that a retry
	// within it stores nothing twice. Zero takes DefaultDedupTTL.
	DedupTTL time.Duration
	// Addr names the server in error messages; empty means it is taken from
	// the client.
	Addr string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CountsTTL, when positive, lets a snapshot serve the popularity
	// counts of a candidate read by an earlier snapshot of this Store no
	// longer ago than CountsTTL instead of reading them again, and counts
	// up to twice as old while another snapshot reads them again (see
	// counts.go). Zero reads them for every snapshot.
	CountsTTL time.Duration
	// EventShards is the number of shards of the event keys (see keys.go),
	// 1 to MaxEventShards; zero takes DefaultEventShards. It is fixed when
	// a store is first used and recorded in Redis: a Store with another
	// number is refused (ErrLayout).
	EventShards int
}

// DefaultEventShards is the default number of event shards.
const DefaultEventShards = 16

// DefaultDedupTTL is the default idempotency window: 7 days.
const DefaultDedupTTL = 7 * 24 * time.Hour

// DefaultOptions returns the defaults: prefix "causalrec:", histories of 500
// events, batches of 500 records, event IDs remembered for DefaultDedupTTL,
// DefaultEventShards event shards.
func DefaultOptions() Options {
	return Options{Prefix: "causalrec:", HistoryLimit: 500, BatchSize: 500, DedupTTL: DefaultDedupTTL, EventShards: DefaultEventShards}
}

// Store keeps causalrec's data in Redis. It is safe for concurrent use.
type Store struct {
	items  itemDecoder
	scores scoreDecoder
	counts countCache
	// background counts the background reads of counts (Wait).
	background sync.WaitGroup
	// uncachedScores makes snapshots decode text-score entries on every
	// lookup, as earlier releases did (the baseline of the benchmarks).
	uncachedScores bool
	// catalog keeps the items and text-score entries snapshots read, raw
	// and decoded (see catalog.go); noCatalogCache turns it off (the
	// baseline of the benchmarks).
	catalog        catalogCache
	noCatalogCache bool
	// countsPerShard makes a single node's snapshots read each shard's
	// counts, as a Cluster does, instead of summing them in Redis (the
	// baseline of the benchmarks).
	countsPerShard bool
	// countsScriptLoaded is set once sumCountsScript is loaded.
	countsScriptLoaded atomic.Bool
	rdb                redis.UniversalClient
	k                  keys
	// layoutOK is set once the layout record is known to match (layout.go).
	layoutOK atomic.Bool
	opts     Options
	addr     string
}

// New returns a Store over rdb. Zero fields of opts take the values of
// DefaultOptions, except Prefix, which may be empty.
func New(rdb redis.UniversalClient, opts Options) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("store: nil redis client")
	}
	def := DefaultOptions()
	if opts.HistoryLimit == 0 {
		opts.HistoryLimit = def.HistoryLimit
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = def.BatchSize
	}
	if opts.DedupTTL == 0 {
		opts.DedupTTL = def.DedupTTL
	}
	if opts.EventShards == 0 {
		opts.EventShards = def.EventShards
	}
	if opts.HistoryLimit < 0 || opts.BatchSize < 0 || opts.DedupTTL < 0 || opts.CountsTTL < 0 {
		return nil, fmt.Errorf("store: negative option (history limit %d, batch size %d, dedup ttl %v, counts ttl %v)",
			opts.HistoryLimit, opts.BatchSize, opts.DedupTTL, opts.CountsTTL)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	k, err := newKeys(opts.Prefix, opts.EventShards)
	if err != nil {
		return nil, err
	}
	addr := opts.Addr
	if addr == "" {
		addr = clientAddr(rdb)
	}
	return &Store{rdb: rdb, k: k, opts: opts, addr: addr}, nil
}

// isCluster reports whether the client is a Redis Cluster client, whose
// pipelines split across nodes.
func (s *Store) isCluster() bool {
	_, ok := s.rdb.(*redis.ClusterClient)
	return ok
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.wrap("ping", s.rdb.Ping(ctx).Err())
}

// wrap adds the operation to err and marks connection failures with
// ErrUnavailable and the server address.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if isUnavailable(err) {
		return fmt.Errorf("%s: %w at %s: %w", op, ErrUnavailable, s.addr, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isUnavailable reports whether err means Redis cannot be reached or cannot
// serve now, as opposed to a bad request or a cancelled context.
func isUnavailable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout):
		return true
	}
	msg := err.Error()
	for _, p := range []string{"LOADING", "CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN", "READONLY", "redis: all sentinels"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// batches calls fn on consecutive slices of at most size elements.
func batches[T any](xs []T, size int, fn func([]T) error) error {
	if size <= 0 {
		size = len(xs)
	}
	for len(xs) > 0 {
		n := min(size, len(xs))
		if err := fn(xs[:n]); err != nil {
			return err
		}
		xs = xs[n:]
	}
	return nil
}
