package store

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// TestLeaseRace: holders race for one lease; exactly one gets it, the
// others are told who has it and for how long.
func TestLeaseRace(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	const racers = 8
	var wg sync.WaitGroup
	leases := make([]Lease, racers)
	errs := make([]error, racers)
	start := make(chan struct{})
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			leases[i], errs[i] = s.AcquireLease(ctx, "default", 10*time.Second)
		}()
	}
	close(start)
	wg.Wait()
	var won []Lease
	for i, err := range errs {
		if err == nil {
			won = append(won, leases[i])
		}
	}
	if len(won) != 1 {
		t.Fatalf("%d of %d racers got the lease (errors %v); want exactly one", len(won), racers, errs)
	}
	w := won[0]
	if w.Token <= 0 || w.Holder == "" || w.Name != "default" || w.TTL != 10*time.Second {
		t.Errorf("the winner's lease: %+v", w)
	}
	for _, err := range errs {
		if err == nil {
			continue
		}
		var held *LeaseHeldError
		if !errors.Is(err, ErrLeaseHeld) || !errors.As(err, &held) {
			t.Fatalf("a loser's error %v does not wrap ErrLeaseHeld as a *LeaseHeldError", err)
		}
		if held.Holder != w.Holder || held.Token != w.Token || held.Remaining <= 0 || held.Remaining > 10*time.Second {
			t.Errorf("a loser was told %+v; the winner is %+v", held, w)
		}
	}
}

// TestLeaseExpiryAndFencing: a holder that stops renewing loses the lease
// when it expires; the next holder gets a greater token, and the stale
// holder's renewal and serving write are refused without changing
// anything.
func TestLeaseExpiryAndFencing(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	m1, err := s.SaveModel(ctx, ModelRecord{Name: "default"})
	if err != nil {
		t.Fatal(err)
	}
	m2, err := s.SaveModel(ctx, ModelRecord{Name: "default"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.SaveModel(ctx, ModelRecord{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}

	const ttl = 300 * time.Millisecond
	a, err := s.AcquireLease(ctx, "default", ttl)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetServingFenced(ctx, "default", m1, a.Token); err != nil {
		t.Fatalf("the holder's write: %v", err)
	}
	if err := s.SetServingFenced(ctx, "default", other, a.Token); err == nil || errors.Is(err, ErrFenced) {
		t.Errorf("serving a model of another name: %v, want a plain refusal", err)
	}
	if err := s.SetServingFenced(ctx, "other", other, a.Token); !errors.Is(err, ErrFenced) {
		t.Errorf("a lease on default moved the pointer of other: %v, want ErrFenced", err)
	}
	// The token of another acquisition, even one once given, is refused.
	if err := s.SetServingFenced(ctx, "default", m2, a.Token+1); !errors.Is(err, ErrFenced) {
		t.Errorf("a token never given: %v, want ErrFenced", err)
	}
	// Renewing keeps the lease past its first TTL.
	time.Sleep(ttl / 2)
	if err := s.RenewLease(ctx, a); err != nil {
		t.Fatalf("renew: %v", err)
	}
	time.Sleep(ttl / 2)
	if _, err := s.AcquireLease(ctx, "default", ttl); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("acquire while renewed: %v, want ErrLeaseHeld", err)
	}

	// a stops renewing; once the lease expires b gets it.
	var b Lease
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err = s.AcquireLease(ctx, "default", 10*time.Second)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrLeaseHeld) || time.Now().After(deadline) {
			t.Fatalf("acquire after expiry: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b.Token <= a.Token || b.Holder == a.Holder {
		t.Fatalf("the next lease %+v does not supersede %+v", b, a)
	}
	if err := s.SetServingFenced(ctx, "default", m2, a.Token); !errors.Is(err, ErrFenced) {
		t.Fatalf("the stale holder's write: %v, want ErrFenced", err)
	}
	if cur, _, err := s.Serving(ctx, "default"); err != nil || cur != m1 {
		t.Fatalf("after the refused write serving is %v (%v), want %v", cur, err, m1)
	}
	if err := s.RenewLease(ctx, a); !errors.Is(err, ErrFenced) {
		t.Errorf("the stale holder's renewal: %v, want ErrFenced", err)
	}
	if err := s.ReleaseLease(ctx, a); err != nil {
		t.Errorf("the stale holder's release: %v", err)
	}
	if err := s.SetServingFenced(ctx, "default", m2, b.Token); err != nil {
		t.Fatalf("the new holder's write (after the stale release, which must not free b's lease): %v", err)
	}
	cur, prev, err := s.Serving(ctx, "default")
	if err != nil || cur != m2 || prev != m1 {
		t.Fatalf("serving %v, previous %v (%v); want %v, %v", cur, prev, err, m2, m1)
	}

	// Released, the lease is free at once, and the released lease writes
	// no more.
	if err := s.ReleaseLease(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.SetServingFenced(ctx, "default", m1, b.Token); !errors.Is(err, ErrFenced) {
		t.Errorf("a released lease's write: %v, want ErrFenced", err)
	}
	c, err := s.AcquireLease(ctx, "default", time.Second)
	if err != nil || c.Token <= b.Token {
		t.Fatalf("acquire after release: %+v, %v", c, err)
	}
	// An unfenced SetServing (by hand: rollback, a manual train) still
	// works beside the fenced one.
	if err := s.Rollback(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	if cur, _, _ := s.Serving(ctx, "default"); cur != m1 {
		t.Errorf("after rollback serving %v, want %v", cur, m1)
	}
}

func TestLeaseRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	for _, tc := range []struct {
		name string
		ttl  time.Duration
		want string
	}{
		{"", time.Second, "empty lease name"},
		{"a{b}", time.Second, "must not contain"},
		{"a", 0, "under a millisecond"},
	} {
		if _, err := s.AcquireLease(ctx, tc.name, tc.ttl); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AcquireLease(%q, %v) = %v, want an error with %q", tc.name, tc.ttl, err, tc.want)
		}
	}
	if err := s.SetServingFenced(ctx, "default", uuid.New(), 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("fenced write of a model that does not exist: %v, want ErrNotFound", err)
	}
}

// TestLeaseKeysShareTheServingSlot: the lease, its counter and the
// serving pointer hash to one Cluster slot, so the fenced write is one
// script on one node.
func TestLeaseKeysShareTheServingSlot(t *testing.T) {
	for _, prefix := range []string{"", "causalrec:", "p:q:"} {
		// A client that is never used: New does not connect.
		rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
		st, err := New(rdb, Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		_ = rdb.Close()
		k := st.k
		for _, name := range []string{"default", "a:b", "x y"} {
			want := slotOf(k.serving(name))
			if got := slotOf(k.lease(name)); got != want {
				t.Errorf("prefix %q name %q: lease slot %d, serving slot %d", prefix, name, got, want)
			}
			if got := slotOf(k.leaseCounter(name)); got != want {
				t.Errorf("prefix %q name %q: counter slot %d, serving slot %d", prefix, name, got, want)
			}
		}
	}
	// The slot function itself, against values Redis's CLUSTER KEYSLOT
	// gives.
	for key, want := range map[string]int{"foo": 12182, "{user1000}.following": 3443, "user1000": 3443, "a{}b": 13694} {
		if got := slotOf(key); got != want {
			t.Errorf("slotOf(%q) = %d, want %d", key, got, want)
		}
	}
}

// slotOf is Redis Cluster's hash slot of key: CRC16 (XMODEM) of the key,
// or of its hash tag (the text between the first '{' and the next '}',
// when not empty), modulo 16384.
func slotOf(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// TestLeaseOnCluster runs the lease and the fenced write on a real Redis
// Cluster ($REDIS_CLUSTER_URL, redis+cluster://host:port,...): each
// script's keys must share a slot, or the Cluster refuses it (CROSSSLOT).
func TestLeaseOnCluster(t *testing.T) {
	url := os.Getenv("REDIS_CLUSTER_URL")
	if url == "" {
		t.Skip("REDIS_CLUSTER_URL is not set (the Cluster run of .ci/run sets it)")
	}
	ctx := context.Background()
	rdb, err := Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rdb.(*redis.ClusterClient); !ok {
		t.Fatalf("REDIS_CLUSTER_URL %q does not make a Cluster client", url)
	}
	s, err := New(rdb, Options{Prefix: "causalrec-test:" + uuid.NewString() + ":"})
	if err != nil {
		t.Fatal(err)
	}
	var models []uuid.UUID
	t.Cleanup(func() {
		// One key per call: a Cluster refuses a DEL across slots.
		keys := []string{s.k.lease("default"), s.k.leaseCounter("default"), s.k.serving("default"), s.k.modelsByName("default"), s.k.modelNames()}
		for _, id := range models {
			keys = append(keys, s.k.model(id.String()))
		}
		for _, k := range keys {
			if err := rdb.Del(context.Background(), k).Err(); err != nil {
				t.Errorf("delete %s: %v", k, err)
			}
		}
		_ = rdb.Close()
	})
	for range 2 {
		id, err := s.SaveModel(ctx, ModelRecord{Name: "default"})
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, id)
	}
	a, err := s.AcquireLease(ctx, "default", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLease(ctx, "default", time.Second); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("second acquire: %v, want ErrLeaseHeld", err)
	}
	if err := s.RenewLease(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.SetServingFenced(ctx, "default", models[0], a.Token); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	b, err := s.AcquireLease(ctx, "default", time.Second)
	if err != nil || b.Token <= a.Token {
		t.Fatalf("acquire after expiry: %+v, %v", b, err)
	}
	if err := s.SetServingFenced(ctx, "default", models[1], a.Token); !errors.Is(err, ErrFenced) {
		t.Fatalf("stale write: %v, want ErrFenced", err)
	}
	if err := s.SetServingFenced(ctx, "default", models[1], b.Token); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseLease(ctx, b); err != nil {
		t.Fatal(err)
	}
	if m, err := s.ServingModel(ctx, "default"); err != nil || m.ID != models[1] {
		t.Fatalf("serving %v (%v), want %v", m.ID, err, models[1])
	}
}
