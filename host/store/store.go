package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
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
	// DedupTTL is how long an ingested event ID is remembered for
	// idempotency; 0 means for ever.
	DedupTTL time.Duration
	// Addr names the server in error messages; empty means it is taken from
	// the client.
	Addr string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CountsTTL, when positive, lets a snapshot serve the popularity
	// counts of a candidate read by an earlier snapshot of this Store no
	// longer ago than CountsTTL instead of reading them again (see
	// counts.go). Zero reads them for every snapshot.
	CountsTTL time.Duration
}

// DefaultOptions returns the defaults: prefix "causalrec:", histories of 500
// events, batches of 500 records, event IDs remembered for ever.
func DefaultOptions() Options {
	return Options{Prefix: "causalrec:", HistoryLimit: 500, BatchSize: 500}
}

// Store keeps causalrec's data in Redis. It is safe for concurrent use.
type Store struct {
	items  itemDecoder
	scores scoreDecoder
	counts countCache
	// uncachedScores makes snapshots decode text-score entries on every
	// lookup, as earlier releases did (the baseline of the benchmarks).
	uncachedScores bool
	// catalog keeps the items and text-score entries snapshots read, raw
	// and decoded (see catalog.go); noCatalogCache turns it off (the
	// baseline of the benchmarks).
	catalog        catalogCache
	noCatalogCache bool
	rdb            redis.UniversalClient
	k              keys
	opts           Options
	addr           string
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
	if opts.HistoryLimit < 0 || opts.BatchSize < 0 || opts.DedupTTL < 0 || opts.CountsTTL < 0 {
		return nil, fmt.Errorf("store: negative option (history limit %d, batch size %d, dedup ttl %v, counts ttl %v)",
			opts.HistoryLimit, opts.BatchSize, opts.DedupTTL, opts.CountsTTL)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	k, err := newKeys(opts.Prefix)
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

// Client returns the underlying Redis client.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// Prefix returns the key prefix.
func (s *Store) Prefix() string { return s.opts.Prefix }

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

// PutItems stores items, replacing any stored under the same IDs. Every
// item is validated first; an invalid one fails the call before anything is
// written.
func (s *Store) PutItems(ctx context.Context, items []Item) error {
	_, err := s.putItems(ctx, items)
	return err
}

// putItems is PutItems that also returns how many items already existed.
func (s *Store) putItems(ctx context.Context, items []Item) (existed int, err error) {
	for i, it := range items {
		if err := it.Validate(); err != nil {
			return 0, fmt.Errorf("put items: item %d: %w", i, err)
		}
	}
	err = batches(items, s.opts.BatchSize, func(b []Item) error {
		pipe := s.rdb.Pipeline()
		adds := make([]*redis.IntCmd, len(b))
		for i, it := range b {
			buf, err := json.Marshal(it)
			if err != nil {
				return fmt.Errorf("put items: encode %q: %w", it.ID, err)
			}
			pipe.Set(ctx, s.k.item(it.ID), buf, 0)
			adds[i] = pipe.SAdd(ctx, s.k.items(), it.ID)
		}
		s.queueCatalogChange(ctx, pipe)
		if _, err := pipe.Exec(ctx); err != nil {
			return s.wrap("put items", err)
		}
		for _, c := range adds {
			if c.Val() == 0 {
				existed++
			}
		}
		return nil
	})
	return existed, err
}

// Items returns the stored items with the given IDs, in the order asked,
// and the IDs that have no item.
func (s *Store) Items(ctx context.Context, ids []string) (found []Item, missing []string, err error) {
	err = batches(ids, s.opts.BatchSize, func(b []string) error {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(b))
		for i, id := range b {
			cmds[i] = pipe.Get(ctx, s.k.item(id))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return s.wrap("get items", err)
		}
		for i, c := range cmds {
			buf, err := c.Bytes()
			if errors.Is(err, redis.Nil) {
				missing = append(missing, b[i])
				continue
			}
			if err != nil {
				return s.wrap("get items", err)
			}
			var it Item
			if err := json.Unmarshal(buf, &it); err != nil {
				return fmt.Errorf("get items: decode %q: %w", b[i], err)
			}
			found = append(found, it)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return found, missing, nil
}

// Item returns one item, or an error wrapping ErrNotFound.
func (s *Store) Item(ctx context.Context, id string) (Item, error) {
	found, _, err := s.Items(ctx, []string{id})
	if err != nil {
		return Item{}, err
	}
	if len(found) == 0 {
		return Item{}, fmt.Errorf("item %q: %w", id, ErrNotFound)
	}
	return found[0], nil
}

// ItemIDs calls fn with every stored item ID, each once, in no particular
// order, walking the ID set with SSCAN. It stops at fn's first error and
// returns it.
func (s *Store) ItemIDs(ctx context.Context, fn func(id string) error) error {
	return s.scanSet(ctx, "scan items", s.k.items(), fn)
}

// EachItem calls fn with every stored item, fetching them in batches. It
// stops at fn's first error and returns it.
func (s *Store) EachItem(ctx context.Context, fn func(Item) error) error {
	batch := make([]string, 0, s.opts.BatchSize)
	flush := func() error {
		found, _, err := s.Items(ctx, batch)
		batch = batch[:0]
		if err != nil {
			return err
		}
		for _, it := range found { // an item deleted meanwhile is simply missing
			if err := fn(it); err != nil {
				return err
			}
		}
		return nil
	}
	err := s.ItemIDs(ctx, func(id string) error {
		batch = append(batch, id)
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// scanSet calls fn once per member of the set at key. SSCAN may return a
// member more than once; those repeats are dropped.
func (s *Store) scanSet(ctx context.Context, op, key string, fn func(string) error) error {
	seen := make(map[string]struct{})
	var cursor uint64
	for {
		members, next, err := s.rdb.SScan(ctx, key, cursor, "", int64(s.opts.BatchSize)).Result()
		if err != nil {
			return s.wrap(op, err)
		}
		for _, m := range members {
			if _, dup := seen[m]; dup {
				continue
			}
			seen[m] = struct{}{}
			if err := fn(m); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// PutUsers stores users, replacing any stored under the same IDs. Every user
// is validated first.
func (s *Store) PutUsers(ctx context.Context, users []User) error {
	_, err := s.putUsers(ctx, users)
	return err
}

func (s *Store) putUsers(ctx context.Context, users []User) (existed int, err error) {
	for i, u := range users {
		if err := u.Validate(); err != nil {
			return 0, fmt.Errorf("put users: user %d: %w", i, err)
		}
	}
	err = batches(users, s.opts.BatchSize, func(b []User) error {
		pipe := s.rdb.Pipeline()
		adds := make([]*redis.IntCmd, len(b))
		for i, u := range b {
			buf, err := json.Marshal(u)
			if err != nil {
				return fmt.Errorf("put users: encode %q: %w", u.ID, err)
			}
			pipe.Set(ctx, s.k.user(u.ID), buf, 0)
			adds[i] = pipe.SAdd(ctx, s.k.users(), u.ID)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return s.wrap("put users", err)
		}
		for _, c := range adds {
			if c.Val() == 0 {
				existed++
			}
		}
		return nil
	})
	return existed, err
}

// Users returns the stored users with the given IDs, in the order asked,
// and the IDs that have no user record.
func (s *Store) Users(ctx context.Context, ids []string) (found []User, missing []string, err error) {
	err = batches(ids, s.opts.BatchSize, func(b []string) error {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(b))
		for i, id := range b {
			cmds[i] = pipe.Get(ctx, s.k.user(id))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return s.wrap("get users", err)
		}
		for i, c := range cmds {
			buf, err := c.Bytes()
			if errors.Is(err, redis.Nil) {
				missing = append(missing, b[i])
				continue
			}
			if err != nil {
				return s.wrap("get users", err)
			}
			var u User
			if err := json.Unmarshal(buf, &u); err != nil {
				return fmt.Errorf("get users: decode %q: %w", b[i], err)
			}
			found = append(found, u)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return found, missing, nil
}

// UserIDs calls fn with every stored user ID, each once, in no particular
// order.
func (s *Store) UserIDs(ctx context.Context, fn func(id string) error) error {
	return s.scanSet(ctx, "scan users", s.k.users(), fn)
}
