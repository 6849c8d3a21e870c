package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/causalrec/causalrec/causal/receval"
	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

// pipelineText sets the text features of TestPipelineRanksByTrueEffect:
// "relevance" (the per-item lm and sentiment features and the relevance),
// "items" (without relevance) or "off"; docs/recommend.md compares them.
var pipelineText = flag.String("pipeline.text", "relevance", "text features of the pipeline test: relevance, items or off")

// pipelineScenario is the simulated log of the pipeline test and of
// docs/recommend.md: receval's default simulation at a smaller size.
func pipelineScenario(users, items int, seed uint64) (*receval.Simulation, error) {
	cfg := receval.DefaultSimConfig()
	cfg.Users, cfg.Items = users, items
	return receval.Simulate(cfg, rand.NewPCG(seed, 0x5eed))
}

// simItemText gives item i a short text: a few words chosen by its index,
// so that the texts differ in wording and in sentiment.
func simItemText(i int) string {
	adj := []string{"small", "large", "bright", "quiet", "heavy", "light", "old"}
	noun := []string{"lamp", "chair", "kettle", "novel", "jacket"}
	mood := []string{"a wonderful, delightful buy", "a terrible, disappointing buy", "an ordinary buy"}
	return fmt.Sprintf("The %s %s is %s.", adj[i%len(adj)], noun[i%len(noun)], mood[i%len(mood)])
}

// simIngest turns the training period of sim into users, items (with
// texts) and events: every row is an exposure, in the treated arm with
// propensity P when recommended, else in the control arm with 1 − P, and
// an outcome event when the outcome is 1.
func simIngest(sim *receval.Simulation) ([]store.User, []store.Item, []store.Event) {
	l := sim.Train
	users := make([]store.User, len(l.Users))
	items := make([]store.Item, len(l.Items))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var events []store.Event
	for r := range l.Len() {
		u, i := l.User[r], l.Item[r]
		if users[u].ID == "" {
			users[u] = store.User{ID: l.Users[u], Features: map[string]float64{}}
		}
		if items[i].ID == "" {
			items[i] = store.Item{ID: l.Items[i], Text: simItemText(i), Features: map[string]float64{}}
		}
		for j, name := range l.FeatureNames {
			v := l.X.At(r, j)
			if strings.HasPrefix(name, "u") {
				users[u].Features[name] = v
			} else {
				items[i].Features[name] = v
			}
		}
		e := store.Event{ID: fmt.Sprintf("x:%d", r), Kind: store.Exposure, User: l.Users[u], Item: l.Items[i], Time: t0, Arm: store.DefaultArm, Propensity: l.Propensity[r]}
		if l.Treated[r] == 0 {
			e.Arm, e.Propensity = recommend.ControlArm, 1-l.Propensity[r]
		}
		events = append(events, e)
		if l.Outcome[r] != 0 {
			events = append(events, store.Event{ID: fmt.Sprintf("o:%d", r), Kind: store.Outcome, User: l.Users[u], Item: l.Items[i], Time: t0.Add(time.Hour)})
		}
	}
	return users, items, events
}

// TestPipelineRanksByTrueEffect ingests a simulated log into a real serve
// (real Redis, real plugin processes), trains every ranker through the
// API, asks for every user's top 10 and scores the served lists by the
// simulation's true effects.
func TestPipelineRanksByTrueEffect(t *testing.T) {
	testPipeline(t, redisURL(), testPrefix(t))
}

// TestPipelineRanksByTrueEffectCluster is the pipeline test on a Redis
// Cluster (REDIS_CLUSTER_URL).
func TestPipelineRanksByTrueEffectCluster(t *testing.T) {
	url, prefix := clusterRedis(t)
	testPipeline(t, url, prefix)
}

func testPipeline(t *testing.T, url, prefix string) {
	if testing.Short() {
		t.Skip("starts plugins and trains five models")
	}
	const nUsers, nItems, k = 500, 40, 10
	sim, err := pipelineScenario(nUsers, nItems, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix = url, prefix
	wantText := []string{"text:lm:lm_logprob", "text:lm:log10_perplexity", "text:sentiment:sentiment", "text:missing", "text:lm:relevance"}
	switch *pipelineText {
	case "relevance":
		cfg.TextRelevance = true
	case "items":
		wantText = wantText[:4]
	case "off":
		cfg.TextFeatures, wantText = "off", nil
	default:
		t.Fatalf("-pipeline.text=%q: want relevance, items or off", *pipelineText)
	}
	base := startServe(t, cfg)

	users, items, events := simIngest(sim)
	if code, body := call(t, "POST", base+"/v1/users", "", map[string]any{"users": users}, nil); code != 200 {
		t.Fatalf("users: %d %s", code, body)
	}
	if code, body := call(t, "POST", base+"/v1/items", "", map[string]any{"items": items}, nil); code != 200 {
		t.Fatalf("items: %d %s", code, body)
	}
	for lo := 0; lo < len(events); lo += 5000 {
		if code, body := call(t, "POST", base+"/v1/events", "", map[string]any{"events": events[lo:min(lo+5000, len(events))]}, nil); code != 200 {
			t.Fatalf("events: %d %s", code, body)
		}
	}
	cands := make([]string, nItems)
	for i := range cands {
		cands[i] = sim.Train.Items[i]
	}
	// tau[user][item] is the true effect of recommending.
	tau := map[string]map[string]float64{}
	for r := range sim.Train.Len() {
		u, i := sim.Train.Users[sim.Train.User[r]], sim.Train.Items[sim.Train.Item[r]]
		if tau[u] == nil {
			tau[u] = map[string]float64{}
		}
		tau[u][i] = sim.Train.Tau[r]
	}

	meanTau := map[string]float64{}
	for _, tc := range []struct {
		train  map[string]string
		ranker string
	}{
		{map[string]string{"ranker": "uplift", "estimator": "t"}, "uplift:t"},
		{map[string]string{"ranker": "popularity"}, "popularity"},
		{map[string]string{"ranker": "outcome"}, "outcome"},
		{map[string]string{"ranker": "outcome-ips"}, "outcome-ips"},
		{map[string]string{"ranker": "dlce"}, "dlce"},
	} {
		var tr recommend.TrainResult
		if code, body := call(t, "POST", base+"/v1/train", "", tc.train, &tr); code != 200 {
			t.Fatalf("train %v: %d %s", tc.train, code, body)
		}
		if tr.Ranker != tc.ranker || tr.Rows != nUsers*nItems || tr.Propensity != "logged" {
			t.Fatalf("train %v: ranker %q, %d rows (want %d), propensity %s", tc.train, tr.Ranker, tr.Rows, nUsers*nItems, tr.Propensity)
		}
		if tc.ranker != "popularity" {
			for _, f := range append(wantText, "user_outcomes_log", "item_outcomes_log") {
				if !strings.Contains(strings.Join(tr.Features, ","), f) {
					t.Fatalf("ranker %s: feature %s missing from %v (text %+v)", tc.ranker, f, tr.Features, tr.Text)
				}
			}
		}
		var sum float64
		for _, u := range sim.Train.Users {
			var rec recommend.Response
			req := recommend.Request{User: u, Candidates: cands, K: k, IncludeConsumed: true}
			if code, body := call(t, "POST", base+"/v1/recommend", "", req, &rec); code != 200 {
				t.Fatalf("recommend %s: %d %s", u, code, body)
			}
			if rec.Ranker != tc.ranker || rec.FallbackReason != "" || len(rec.Items) != k || len(rec.Warnings) != 0 {
				t.Fatalf("recommend %s with %s: %+v", u, tc.ranker, rec)
			}
			for _, it := range rec.Items {
				if !(it.Propensity > 0 && it.Propensity <= 1) {
					t.Fatalf("%s: propensity %v of %s not in (0, 1]", tc.ranker, it.Propensity, it.Item)
				}
				if (it.Uplift != nil) != strings.HasPrefix(tc.ranker, "uplift:") {
					t.Fatalf("%s: item %+v: uplift present only for uplift rankers", tc.ranker, it)
				}
				sum += tau[u][it.Item]
			}
		}
		meanTau[tc.ranker] = sum / float64(nUsers*k)
	}
	var oracle, all float64
	for _, m := range tau {
		v := make([]float64, 0, len(m))
		for _, x := range m {
			v = append(v, x)
			all += x
		}
		slices.Sort(v)
		for _, x := range v[len(v)-k:] {
			oracle += x
		}
	}
	t.Logf("mean true effect τ of the served top %d over %d users (text features: %s):", k, nUsers, *pipelineText)
	for _, r := range []string{"uplift:t", "dlce", "outcome-ips", "popularity", "outcome"} {
		t.Logf("| %s | %.4f |", r, meanTau[r])
	}
	t.Logf("| best possible (top %d by true τ) | %.4f |", k, oracle/float64(nUsers*k))
	t.Logf("| random (mean τ of all pairs) | %.4f |", all/float64(nUsers*nItems))
	// The uplift ranker serves items with larger true effects than the
	// rankers that ignore the effect (measured margins: see
	// docs/recommend.md).
	for _, r := range []string{"uplift:t", "dlce"} {
		for _, other := range []string{"popularity", "outcome"} {
			if !(meanTau[r] >= meanTau[other]+0.015) {
				t.Errorf("mean τ of the top %d: %s %.4f, %s %.4f; want %s ahead by 0.015", k, r, meanTau[r], other, meanTau[other], r)
			}
		}
	}
}

// TestTrainCommandRankers runs `causalrec train` for each kind of ranker
// on a small log in the real Redis: the text scorers run as plugin
// processes, and the result names the ranker and the text features used.
func TestTrainCommandRankers(t *testing.T) {
	prefix := testPrefix(t)
	rdb := redis.NewClient(mustParseRedis(t))
	defer rdb.Close()
	st, err := store.New(rdb, store.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := pipelineScenario(40, 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	users, items, events := simIngest(sim)
	ctx := context.Background()
	if _, err := st.PutUsers(ctx, users); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutItems(ctx, items); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args       []string
		ranker     string
		text, code int
	}{
		{[]string{"--ranker", "outcome"}, "outcome", 2, 0},
		{[]string{"--ranker", "dlce", "--text-features", "off"}, "dlce", 0, 0},
		{[]string{"--estimator", "x"}, "uplift:x", 2, 0},
		{[]string{"--ranker", "popularity"}, "popularity", 0, 0},
		{[]string{"--ranker", "best"}, "", 0, 2},
	} {
		code, out, errOut := runCLI(t, "", append([]string{"train", "--redis", redisURL(), "--prefix", prefix}, tc.args...)...)
		if code != tc.code {
			t.Fatalf("train %v: exit %d, want %d: %s", tc.args, code, tc.code, errOut)
		}
		if code != 0 {
			continue
		}
		var res recommend.TrainResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("train %v: %v in %s", tc.args, err, out)
		}
		if res.Ranker != tc.ranker || len(res.Text.Used) != tc.text || res.Rows != 400 {
			t.Errorf("train %v: ranker %q, text %+v, %d rows; want %q, %d text scorers, 400 rows", tc.args, res.Ranker, res.Text, res.Rows, tc.ranker, tc.text)
		}
	}
}
