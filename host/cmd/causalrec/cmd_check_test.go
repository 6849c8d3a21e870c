package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/causalrec/causalrec/host/redistest"
	"github.com/causalrec/causalrec/host/store"
)

// TestCheckReportsStoredViolations writes data that breaks the default
// limits straight into the store on the real Redis (as an older version or
// an import could have) and runs causalrec check on its prefix: it names
// each bad record and exits 1; on clean data it exits 0.
func TestCheckReportsStoredViolations(t *testing.T) {
	ctx := context.Background()
	prefix := testPrefix(t)
	st, err := store.New(redistest.Client(t), store.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := st.PutItems(ctx, []store.Item{{ID: "ok", Features: map[string]float64{"x": 1}}, {ID: "huge", Features: map[string]float64{"x": 1.7e308}}}); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "", "check", "--redis", redisURL(), "--prefix", prefix)
	if code != 1 || !strings.Contains(out, `item "huge": feature "x" is 1.7e+308`) || !strings.Contains(out, "breaking the limits: 1 items, 0 users, 0 events") ||
		!strings.Contains(errs, "1 problems with the stored data") {
		t.Fatalf("check of one bad item: exit %d\n%s%s", code, out, errs)
	}
	many := make(map[string]float64, 2000)
	for i := range 2000 {
		many[fmt.Sprintf("f%d", i)] = 1
	}
	if _, err := st.PutUsers(ctx, []store.User{{ID: "wide", Features: many}, {ID: "fine"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddEvents(ctx, []store.Event{
		{ID: "e1", Kind: store.Exposure, User: "fine", Item: "ok", Time: now, Arm: "banana"},
		{ID: "e2", Kind: store.Exposure, User: "fine", Item: "ok", Time: time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)},
		{ID: "e3", Kind: store.Outcome, User: "fine", Item: "ok", Time: now, Value: -5},
		{ID: "e4", Kind: store.Exposure, User: "fine", Item: "ok", Time: now, Propensity: 5e-324},
		{ID: "e5", Kind: store.Outcome, User: "fine", Item: "ok", Time: now},
	}); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "", "check", "--redis", redisURL(), "--prefix", prefix, "--show", "3")
	for _, want := range []string{
		"checked 2 items (1 distinct feature names), 2 users (2000 distinct feature names) and 5 events",
		"breaking the limits: 1 items, 1 users, 4 events",
		`user "wide": 2000 features, over the limit of 256`,
		`event "e1": arm "banana"`, `event "e2": event time 0001-01-02T00:00:00Z outside the accepted window`, `event "e3": outcome value -5`,
		"the users have 2000 distinct feature names, over the limit of 1024",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, `"e4"`) || code != 1 {
		t.Errorf("--show 3 listed a fourth event problem, or exit %d:\n%s", code, out)
	}

	clean := testPrefix(t)
	st2, _ := store.New(redistest.Client(t), store.Options{Prefix: clean})
	if _, err := st2.PutItems(ctx, []store.Item{{ID: "ok", Features: map[string]float64{"x": 1}}}); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCLI(t, "", "check", "--redis", redisURL(), "--prefix", clean); code != 0 || !strings.Contains(out, "all stored data is within the limits") {
		t.Errorf("clean data: exit %d\n%s%s", code, out, errs)
	}
}

// TestCheckRefusesAnotherLayout: a store with another number of event
// shards than the config's would read as empty; check says so and exits 1,
// and passes with the config's event_shards set to the store's.
func TestCheckRefusesAnotherLayout(t *testing.T) {
	ctx := context.Background()
	prefix := testPrefix(t)
	st, err := store.New(redistest.Client(t), store.Options{Prefix: prefix, EventShards: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CheckLayout(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddEvents(ctx, []store.Event{{ID: "e1", Kind: store.Outcome, User: "u", Item: "i", Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "", "check", "--redis", redisURL(), "--prefix", prefix)
	if code != 1 || !strings.Contains(errs, "layout") || strings.Contains(out, "within the limits") {
		t.Errorf("check of a 4-shard store with 16 configured: exit %d\n%s%s", code, out, errs)
	}
	cfg := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfg, []byte(`{"event_shards": 4}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCLI(t, "", "check", "--redis", redisURL(), "--prefix", prefix, "--config", cfg)
	if code != 0 || !strings.Contains(out, "and 1 events") {
		t.Errorf("check with event_shards 4: exit %d\n%s%s", code, out, errs)
	}
}
