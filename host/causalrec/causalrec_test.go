package causalrec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/causalrec/causalrec/host/api"
	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/redistest"
	"github.com/causalrec/causalrec/host/store"
)

func TestMain(m *testing.M) {
	// The test binary is the executable the built-in plugins run from.
	if ServePlugin() {
		return
	}
	redis.SetLogger(quietRedis{})
	os.Exit(m.Run())
}

// quietRedis drops go-redis's own log lines (the dial failures of the
// Redis-down test).
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// testConfig is the default configuration on the real Redis under a
// prefix of the test's own, without text features (the tests here are
// about the host's parts, not the text scorers).
func testConfig(t *testing.T) Config {
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix = redistest.URL(), redistest.Prefix(t)
	cfg.TextFeatures = "off"
	return Config{Config: cfg}
}

// loggedExperiment logs n users who each see item "a" or "b" or are held out;
// the outcome is likelier when shown, more so for users with x = 1.
func loggedExperiment(n int) Batch {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var b Batch
	b.Items = []store.Item{{ID: "a", Features: map[string]float64{"f": 1}}, {ID: "b"}}
	for i := range n {
		u := fmt.Sprintf("u%d", i)
		b.Users = append(b.Users, store.User{ID: u, Features: map[string]float64{"x": float64(i % 2)}})
		for j, it := range []string{"a", "b"} {
			arm := "treated"
			if (i+j)%3 == 0 {
				arm = recommend.ControlArm
			}
			b.Events = append(b.Events, store.Event{ID: u + ":x:" + it, Kind: store.Exposure, User: u, Item: it, Time: t0, Arm: arm, Propensity: 0.5})
			p := 1 + i%2
			if arm == "treated" {
				p += 2
			}
			if i%7 < p {
				b.Events = append(b.Events, store.Event{ID: u + ":o:" + it, Kind: store.Outcome, User: u, Item: it, Time: t0.Add(time.Hour)})
			}
		}
	}
	return b
}

// TestHost ingests, trains and recommends in-process, as the API does,
// with the built-in estimator plugin running as a process of the test
// binary.
func TestHost(t *testing.T) {
	ctx := context.Background()
	h, err := Open(ctx, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	b := loggedExperiment(300)
	res, err := h.Ingest(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if res.Items.Written != 2 || res.Users.Written != 300 || res.Events.Written != len(b.Events) {
		t.Fatalf("ingest: %+v", res)
	}
	// Again: the events are duplicates.
	if res, err = h.Ingest(ctx, Batch{Events: b.Events}); err != nil || res.Events.Duplicates != len(b.Events) {
		t.Fatalf("ingest again: %+v, %v", res, err)
	}
	tr, err := h.Train(ctx, api.TrainRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Ranker != "uplift:t" || tr.Rows != 600 {
		t.Fatalf("train: %+v", tr)
	}
	resp, err := h.Recommend(ctx, recommend.Request{User: "u1", K: 2, IncludeConsumed: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Ranker != "uplift:t" || resp.ModelID != tr.ModelID.String() || len(resp.Items) != 2 || resp.Items[0].Uplift == nil {
		t.Fatalf("recommend: %+v", resp)
	}
	// The effect of showing is 2/7 for every user and item.
	for _, it := range resp.Items {
		if u := *it.Uplift; u < 0.2 || u > 0.37 {
			t.Errorf("uplift of %s: %.3f, want about 2/7", it.Item, u)
		}
	}
	healthy := 0
	for _, p := range h.Plugins() {
		if p.Healthy {
			healthy++
		}
	}
	if healthy != 3 {
		t.Errorf("%d healthy plugins, want the 3 built-ins: %+v", healthy, h.Plugins())
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range h.Plugins() {
		if p.Healthy {
			t.Errorf("plugin %s still runs after Close", p.Name)
		}
	}
}

func TestHostErrors(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)
	cfg.Ranker = "best"
	if _, err := Open(ctx, cfg); err == nil {
		t.Error("Open accepted an invalid configuration")
	}
	cfg = testConfig(t)
	cfg.RedisURL = "redis://127.0.0.1:1"
	if _, err := Open(ctx, cfg); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open without Redis: %v, want ErrUnavailable", err)
	}
	cfg = testConfig(t)
	cfg.LazyPlugins = true
	h, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.Ingest(ctx, Batch{Items: []store.Item{{ID: ""}}}); !errors.Is(err, recommend.ErrBadRequest) {
		t.Errorf("invalid item: %v, want ErrBadRequest", err)
	}
	if _, err := h.Train(ctx, api.TrainRequest{}); !errors.Is(err, recommend.ErrNoData) {
		t.Errorf("train on nothing: %v, want ErrNoData", err)
	}
	// A lazy host started only the estimator the training needed.
	for _, p := range h.Plugins() {
		if p.Healthy != (p.Name == "causal") {
			t.Errorf("lazy host: plugin %s healthy %v", p.Name, p.Healthy)
		}
	}
	if _, err := h.Recommend(ctx, recommend.Request{}); !errors.Is(err, recommend.ErrBadRequest) {
		t.Errorf("recommend without a user: %v, want ErrBadRequest", err)
	}
}

// TestTrainProgress trains a causal forest through the built-in estimator
// plugin (a real process) with TrainProgress set: the fit's stage counts
// the forest's trees (40 causal and 2 × 50 nuisance ones), in order, to
// the total.
func TestTrainProgress(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)
	type report struct {
		stage       string
		done, total int64
	}
	var mu sync.Mutex
	var got []report
	cfg.TrainProgress = func(stage string, done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, report{stage, done, total})
	}
	h, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.Ingest(ctx, loggedExperiment(300)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Train(ctx, api.TrainRequest{Estimator: "causal-forest:trees=40"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var fit []report
	for _, r := range got {
		if strings.HasPrefix(r.stage, "fitting causal-forest on ") && r.done > 0 {
			fit = append(fit, r)
		}
	}
	if len(fit) == 0 {
		t.Fatalf("no fit progress among %v", got)
	}
	for i, r := range fit {
		if r.total != 140 || (i > 0 && r.done <= fit[i-1].done) {
			t.Fatalf("report %d %+v after %+v: want rising counts of 140", i, r, fit[max(0, i-1)])
		}
	}
	if last := fit[len(fit)-1]; last.done != 140 {
		t.Fatalf("last fit report %+v, want 140 of 140", last)
	}
}
