package store

import (
	"context"
	"testing"
)

func TestItemKeys(t *testing.T) {
	cases := []struct {
		prefix string
		ids    []string
	}{
		{"causalrec:", []string{"a", "bb", "", "ünï", "x:y"}},
		{"", []string{"only"}},
		{"p:", nil},
	}
	for _, c := range cases {
		k, err := newKeys(c.prefix, DefaultEventShards)
		if err != nil {
			t.Fatal(err)
		}
		got := k.itemKeys(c.ids)
		if len(got) != len(c.ids) {
			t.Fatalf("prefix %q: %d keys for %d ids", c.prefix, len(got), len(c.ids))
		}
		for i, id := range c.ids {
			if got[i] != k.item(id) {
				t.Errorf("prefix %q, id %q: key %q, want %q", c.prefix, id, got[i], k.item(id))
			}
		}
	}
}

func TestItemDecoder(t *testing.T) {
	var d itemDecoder
	cases := []struct {
		id, raw  string
		wantText string
		wantErr  bool
	}{
		{"a", `{"id":"a","text":"one"}`, "one", false},
		{"a", `{"id":"a","text":"one"}`, "one", false}, // from the cache
		{"a", `{"id":"a","text":"two"}`, "two", false}, // edited: decoded afresh
		{"b", `{"id":"b","text":"one"}`, "one", false},
		{"c", `{"id":`, "", true},
		{"a", `{"id":"a","text":"one"}`, "one", false}, // back to the first form
	}
	for i, c := range cases {
		it, err := d.decode(c.id, c.raw)
		if (err != nil) != c.wantErr || it.Text != c.wantText {
			t.Errorf("case %d: decode(%q, %q) = %+v, %v", i, c.id, c.raw, it, err)
		}
	}
	if len(d.byID) != 2 {
		t.Errorf("%d items kept, want 2", len(d.byID))
	}
}

// TestKeySlot checks keySlot against the Cluster's own CLUSTER KEYSLOT.
func TestKeySlot(t *testing.T) {
	c := cluster.client(t)
	k, err := newKeys("causalrec:", DefaultEventShards)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"", "a", "causalrec:item:x", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap", "{}x", "ünï{code}"}
	for i := range k.shards {
		keys = append(keys, k.eventLog(i))
	}
	for _, key := range keys {
		want, err := c.ClusterKeySlot(context.Background(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := keySlot(key); int64(got) != want {
			t.Errorf("keySlot(%q) = %d, want %d", key, got, want)
		}
	}
}

// TestShardTagsSpread checks that shard k's keys hash to the k-th of S
// equal ranges of slots, for several prefixes and shard counts.
func TestShardTagsSpread(t *testing.T) {
	for _, prefix := range []string{"", "causalrec:", "p:7b3c:"} {
		for _, n := range []int{1, 3, 16, 100} {
			k, err := newKeys(prefix, n)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				lo, hi := i*clusterSlots/n, (i+1)*clusterSlots/n
				for _, key := range []string{k.eventLog(i), k.eventID(i, "e"), k.popOutcome(i), k.popExposure(i)} {
					if s := keySlot(key); s < lo || s >= hi {
						t.Errorf("prefix %q, %d shards: %s in slot %d, want [%d, %d)", prefix, n, key, s, lo, hi)
					}
				}
			}
			for _, user := range []string{"u1", "x}y", "{z}"} {
				if got, want := keySlot(k.history(user)), keySlot(k.eventLog(k.shardOf(user))); got != want {
					t.Errorf("history of %q in slot %d, its shard's log in %d", user, got, want)
				}
			}
		}
	}
	if _, err := newKeys("p:", 0); err == nil {
		t.Error("newKeys accepted 0 shards")
	}
}
