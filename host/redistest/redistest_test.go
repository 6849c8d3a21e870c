package redistest

import (
	"context"
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestDeleteLeavesNothing writes keys of every type the store uses under a
// prefix that holds glob characters, hash-tagged keys included, and keys
// just outside it, and checks that Delete removes exactly those under the
// prefix, on the single server and on the Cluster.
func TestDeleteLeavesNothing(t *testing.T) {
	t.Run("single", func(t *testing.T) { testDeleteLeavesNothing(t, Client(t)) })
	t.Run("cluster", func(t *testing.T) { testDeleteLeavesNothing(t, ClusterClient(t)) })
}

func testDeleteLeavesNothing(t *testing.T, c redis.UniversalClient) {
	ctx := context.Background()
	base := NewPrefix("causalrec-test")
	prefix := base + "x*?[:"
	outside := []string{base + "y", base + "xa"}
	t.Cleanup(func() {
		for _, k := range outside {
			c.Del(ctx, k)
		}
	})
	pipe := c.Pipeline()
	pipe.Set(ctx, prefix+"catalog", "token", 0)
	pipe.HSet(ctx, prefix+"textscore:lm", "a", "1")
	pipe.SAdd(ctx, prefix+"items", "a")
	pipe.ZAdd(ctx, prefix+"{"+prefix+"s3}:pop:outcome", redis.Z{Member: "a", Score: 1})
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: prefix + "{" + prefix + "s7}:log", Values: []string{"e", "{}"}})
	for _, k := range outside {
		pipe.Set(ctx, k, "not mine", 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := Keys(ctx, c, prefix)
	if err != nil || len(keys) != 5 {
		t.Fatalf("keys under the prefix: %v (%v), want the 5 written", keys, err)
	}
	for _, k := range outside {
		if slices.Contains(keys, k) {
			t.Fatalf("Keys lists %s, outside the prefix", k)
		}
	}
	if n, err := Delete(ctx, c, prefix); err != nil || n != 5 {
		t.Fatalf("Delete: %d keys, %v; want 5", n, err)
	}
	if keys, err := Keys(ctx, c, prefix); err != nil || len(keys) != 0 {
		t.Fatalf("left under the prefix: %v (%v)", keys, err)
	}
	for _, k := range outside {
		if n, err := c.Exists(ctx, k).Result(); err != nil || n != 1 {
			t.Fatalf("the key %s outside the prefix is gone (%v)", k, err)
		}
	}
	if _, err := Delete(ctx, c, ""); err == nil {
		t.Fatal("Delete accepted the empty prefix")
	}
}

// TestPrefixCleanup checks that the keys a test writes under Prefix are
// gone when it ends.
func TestPrefixCleanup(t *testing.T) {
	ctx := context.Background()
	c := Client(t)
	var prefix string
	t.Run("writes", func(t *testing.T) {
		prefix = Prefix(t)
		if err := c.Set(ctx, prefix+"k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	})
	if keys, err := Keys(ctx, c, prefix); err != nil || len(keys) != 0 {
		t.Fatalf("after the subtest: %v (%v), want no keys", keys, err)
	}
}
