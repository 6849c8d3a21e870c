// Package redistest gives a test a key prefix of its own on the real Redis
// server the tests run against (REDIS_URL, default
// redis://127.0.0.1:6379) and deletes every key under it when the test
// ends, so a run leaves nothing behind in the user's Redis. It is for
// tests only; every test of the host that touches Redis uses it.
//
// The Cluster variants of the tests run against a Redis Cluster named by
// REDIS_CLUSTER_URL (redis+cluster://host:port,host:port,...) and are
// skipped, saying so, only when it is unset; .ci/run always sets it. On a
// Cluster the keys are found with SCAN on every master.
package redistest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
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

// ClusterURL returns $REDIS_CLUSTER_URL, the Redis Cluster of the Cluster
// variants of the tests, or "" when it is unset.
func ClusterURL() string { return os.Getenv("REDIS_CLUSTER_URL") }

// ClusterAddrs returns the seed addresses of a redis+cluster:// URL.
func ClusterAddrs(rawURL string) ([]string, error) {
	rest, ok := strings.CutPrefix(rawURL, "redis+cluster://")
	if !ok {
		return nil, fmt.Errorf("cluster url %q: want redis+cluster://host:port,host:port and so on", rawURL)
	}
	rest, _, _ = strings.Cut(rest, "/")
	rest, _, _ = strings.Cut(rest, "?")
	var addrs []string
	for _, a := range strings.Split(rest, ",") {
		if a = strings.TrimSpace(a); a == "" {
			return nil, fmt.Errorf("cluster url %q: empty address", rawURL)
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

// ClusterClient returns a client of the test Cluster, closed when the test
// ends. It skips the test when REDIS_CLUSTER_URL is unset and fails it when
// the Cluster does not answer or is not in a good state.
func ClusterClient(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	u := ClusterURL()
	if u == "" {
		tb.Skip("REDIS_CLUSTER_URL is not set: no Redis Cluster to run this Cluster variant on (.ci/run starts one)")
	}
	addrs, err := ClusterAddrs(u)
	if err != nil {
		tb.Fatalf("REDIS_CLUSTER_URL: %v", err)
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := c.ClusterInfo(ctx).Result()
	if err != nil || !strings.Contains(info, "cluster_state:ok") {
		_ = c.Close()
		tb.Fatalf("this test needs the Redis Cluster at %s in state ok: %v %s", u, err, info)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
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
// cannot). Keys with the cluster hash tags of package store ("P{P
// s3.1}:...") start with the prefix too.
func Prefix(tb testing.TB) string {
	tb.Helper()
	return PrefixOn(tb, Client(tb))
}

// PrefixOn is Prefix on the server or Cluster of client c.
func PrefixOn(tb testing.TB, c redis.UniversalClient) string {
	tb.Helper()
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

// Keys returns the keys under prefix, on every master of a Cluster.
func Keys(ctx context.Context, rdb redis.UniversalClient, prefix string) ([]string, error) {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		var out []string
		err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			ks, err := Keys(ctx, c, prefix)
			mu.Lock()
			out = append(out, ks...)
			mu.Unlock()
			return err
		})
		return out, err
	}
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
		batch := ks[lo:min(lo+500, len(ks))]
		if _, ok := rdb.(*redis.ClusterClient); ok {
			// The keys live in many slots: one UNLINK each, pipelined.
			pipe := rdb.Pipeline()
			for _, k := range batch {
				pipe.Unlink(ctx, k)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return 0, fmt.Errorf("unlink: %w", err)
			}
			continue
		}
		if err := rdb.Unlink(ctx, batch...).Err(); err != nil {
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
