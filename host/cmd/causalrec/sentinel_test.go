package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/store"
)

// TestServeIngestsAcrossSentinelFailover runs a primary, a replica and
// three Sentinels of its own and serve on the Sentinel URL
// (redis+sentinel://.../mastername), kills the primary (SIGKILL) and checks
// that serve keeps ingesting once the Sentinels promoted the replica, with
// every acknowledged event stored.
func TestServeIngestsAcrossSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs five Redis processes and waits for a failover")
	}
	ports := freePorts(t, 5)
	primary, replica, sentinels := ports[0], ports[1], ports[2:]
	dir := t.TempDir()
	// Redis 7 waits repl-diskless-sync-delay (5 s by default) before the
	// first full sync; without it the replica's catch-up below races that
	// delay.
	killPrimary := startRedisProc(t, primary, "--port", strconv.Itoa(primary), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
		"--repl-diskless-sync-delay", "0")
	startRedisProc(t, replica, "--port", strconv.Itoa(replica), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
		"--replicaof", "127.0.0.1", strconv.Itoa(primary))
	rc := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", replica)})
	defer rc.Close()
	waitFor(t, 30*time.Second, "the replica's link to the primary", func() bool {
		info, err := rc.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	var addrs []string
	for i, p := range sentinels {
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", i))
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor m 127.0.0.1 %d 2\nsentinel down-after-milliseconds m 1000\nsentinel failover-timeout m 10000\n", p, dir, primary)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		startRedisProc(t, p, conf, "--sentinel")
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", p))
	}
	// A Sentinel learns of replicas from the primary's INFO, which it
	// reads every 10 s: every one must know the replica before the
	// primary dies, or none can promote it.
	for _, addr := range addrs {
		sc := redis.NewClient(&redis.Options{Addr: addr})
		waitFor(t, 30*time.Second, "Sentinel "+addr+" to know the replica", func() bool {
			reps, err := sc.Do(context.Background(), "SENTINEL", "REPLICAS", "m").Slice()
			return err == nil && len(reps) > 0
		})
		sc.Close()
	}

	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix, cfg.TextFeatures = "redis+sentinel://"+strings.Join(addrs, ",")+"/m", "sentinel:", "off"
	base := startServe(t, cfg)
	ingestUsers(t, base, "", 10)
	batch := func(n int) []store.Event {
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		evs := make([]store.Event, 50)
		for i := range evs {
			evs[i] = store.Event{ID: fmt.Sprintf("b%d-%d", n, i), Kind: store.Exposure, User: fmt.Sprint("u", i%10), Item: "a", Time: t0.Add(time.Duration(n) * time.Minute)}
		}
		return evs
	}
	for n := range 5 {
		postEvents(t, base, "", batch(n))
	}
	// The replica has every acknowledged event before the primary dies.
	rst, err := store.New(rc, store.Options{Prefix: cfg.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the replica's copy of the 250 acknowledged events", func() bool {
		n, _ := rst.EventCount(context.Background())
		return n == 250
	})

	killPrimary()
	start := time.Now()
	// The same batch is sent again until it is acknowledged: while the
	// Sentinels have not promoted the replica, serve answers 503.
	var failures int
	for n := 5; n < 10; n++ {
		for {
			code, body := call(t, "POST", base+"/v1/events", "", map[string]any{"events": batch(n)}, nil)
			if code == 200 {
				break
			}
			if code != 503 {
				t.Fatalf("batch %d during the failover: %d %s (want 200 or 503)", n, code, body)
			}
			failures++
			if time.Since(start) > 60*time.Second {
				t.Fatalf("serve did not ingest within 60 s of the primary's death: %d %s", code, body)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Logf("serve ingested again %v after the primary died (%d answers 503 meanwhile)", time.Since(start).Round(100*time.Millisecond), failures)

	// The promoted replica holds every acknowledged event once.
	info, err := rc.Info(context.Background(), "replication").Result()
	if err != nil || !strings.Contains(info, "role:master") {
		t.Fatalf("the replica was not promoted: %v %s", err, info)
	}
	seen := map[string]bool{}
	if err := rst.Events(context.Background(), func(e store.Event) error {
		if seen[e.ID] {
			return fmt.Errorf("event %s stored twice", e.ID)
		}
		seen[e.ID] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 500 {
		t.Errorf("the new primary holds %d events, want the 500 acknowledged", len(seen))
	}
	if code, body := call(t, "GET", base+"/v1/ready", "", nil, nil); code != 200 {
		t.Errorf("readiness after the failover: %d %s", code, body)
	}
}
