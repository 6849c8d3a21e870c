// Package redistest gives a test a key prefix of its own on the real Redis
// server the tests run against (REDIS_URL, default
// redis://127.0.0.1:6379) and deletes every key under it when the test
// ends, so a run leaves nothing behind in the user's Redis. It is for
// tests only; every test of the host that touches Redis uses it.
//
// The server must be a single node (or a Sentinel primary): the keys are
// found with SCAN, which a Cluster client runs on one node only.
package redistest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// DefaultURL is the server used when REDIS_URL is not set.
const DefaultURL = "redis://127.0.0.1:6379"

// URL returns the Redis URL of the tests: $REDIS_URL, else DefaultURL.
func URL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Client returns a client of the test server, closed when the test ends.
// It fails the test, naming the server, when the server does not answer.
func Client(tb testing.TB) *redis.Client {
	tb.Helper()
	opts, err := redis.ParseURL(URL())
	if err != nil {
		tb.Fatalf("REDIS_URL %q: %v", URL(), err)
	}
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		tb.Fatalf("this test needs a real Redis server at %s (set REDIS_URL): %v", URL(), err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Prefix returns a fresh key prefix, "causalrec-test:<uuid>:", and
// deletes every key under it when the test ends (failing the test when it
// cannot). Keys with the cluster hash tag of package store ("P{P
// events}:...") start with the prefix too.
func Prefix(tb testing.TB) string {
	tb.Helper()
	c := Client(tb)
	prefix := NewPrefix("causalrec-test")
	tb.Cleanup(func() {
		if _, err := Delete(context.Background(), c, prefix); err != nil {
			tb.Errorf("delete the keys under %s: %v", prefix, err)
		}
	})
	return prefix
}

// NewPrefix returns "<name>:<uuid>:", a prefix no other run uses.
func NewPrefix(name string) string {
	return name + ":" + uuid.NewString() + ":"
}

// Keys returns the keys under prefix.
func Keys(ctx context.Context, rdb redis.UniversalClient, prefix string) ([]string, error) {
	var out []string
	var cursor uint64
	for {
		ks, next, err := rdb.Scan(ctx, cursor, escape(prefix)+"*", 1000).Result()
		if err != nil {
			return nil, fmt.Errorf("scan %s*: %w", prefix, err)
		}
		out = append(out, ks...)
		if next == 0 {
			return out, nil
		}
		cursor = next
	}
}

// Delete deletes every key under prefix and returns how many there were.
// An empty prefix is refused: it would name the whole database.
func Delete(ctx context.Context, rdb redis.UniversalClient, prefix string) (int, error) {
	if prefix == "" {
		return 0, fmt.Errorf("redistest: refusing to delete every key (empty prefix)")
	}
	ks, err := Keys(ctx, rdb, prefix)
	if err != nil {
		return 0, err
	}
	for lo := 0; lo < len(ks); lo += 500 {
		if err := rdb.Unlink(ctx, ks[lo:min(lo+500, len(ks))]...).Err(); err != nil {
			return 0, fmt.Errorf("unlink: %w", err)
		}
	}
	return len(ks), nil
}

// escape quotes the glob characters of a SCAN MATCH pattern.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
