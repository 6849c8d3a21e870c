package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/causalrec/causalrec/host/api"
	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
	apiv1 "github.com/causalrec/causalrec/proto/causalrec/api/v1"
)

// opeWorld is the pipeline test's world after the service served it: the
// simulated log ingested, popularity and uplift:t trained (uplift:t
// serving), every user's greedy top k served by /v1/recommend and logged
// as exposures (policy_id "served", with the returned propensities and
// positions) with outcomes drawn from the simulation's P(outcome |
// recommended).
type opeWorld struct {
	base                string
	prefix              string
	popularity, upliftT string
	// served[user] is the list served; popList the popularity model's
	// list (the same for every user: the items by training outcomes).
	served  map[string][]string
	popList []string
	// muT[user][item] is P(outcome | recommended).
	muT map[string]map[string]float64
	// rewards is the number of outcomes of the served exposures.
	rewards, rows int
}

const opeWorldPolicy = "served"

func newOPEWorld(t *testing.T) *opeWorld {
	t.Helper()
	const nUsers, nItems, k = 500, 40, 10
	sim, err := pipelineScenario(nUsers, nItems, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix = redisURL(), testPrefix(t)
	cfg.TextRelevance = true
	cfg.RequestTimeout, cfg.WriteTimeout = config.Duration(5*time.Minute), config.Duration(6*time.Minute)
	w := &opeWorld{base: startServe(t, cfg), prefix: cfg.Prefix, served: map[string][]string{}, muT: map[string]map[string]float64{}}
	users, items, events := simIngest(sim)
	if code, body := call(t, "POST", w.base+"/v1/users", "", map[string]any{"users": users}, nil); code != 200 {
		t.Fatalf("users: %d %s", code, body)
	}
	if code, body := call(t, "POST", w.base+"/v1/items", "", map[string]any{"items": items}, nil); code != 200 {
		t.Fatalf("items: %d %s", code, body)
	}
	w.postEvents(t, events)
	for r := range sim.Train.Len() {
		u, i := sim.Train.Users[sim.Train.User[r]], sim.Train.Items[sim.Train.Item[r]]
		if w.muT[u] == nil {
			w.muT[u] = map[string]float64{}
		}
		w.muT[u][i] = sim.MuT[r]
	}
	// The popularity model's list: the items by their training outcomes
	// (ties by id), as place orders them.
	outcomes := map[string]int{}
	for _, e := range events {
		if e.Kind == store.Outcome {
			outcomes[e.Item]++
		}
	}
	w.popList = slices.Clone(sim.Train.Items)
	slices.SortStableFunc(w.popList, func(a, b string) int {
		if c := cmp.Compare(outcomes[b], outcomes[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	w.popList = w.popList[:k]
	for _, tc := range []struct {
		ranker string
		id     *string
	}{{"popularity", &w.popularity}, {"uplift", &w.upliftT}} {
		var tr recommend.TrainResult
		if code, body := call(t, "POST", w.base+"/v1/train", "", map[string]string{"ranker": tc.ranker}, &tr); code != 200 {
			t.Fatalf("train %s: %d %s", tc.ranker, code, body)
		}
		*tc.id = tr.ModelID.String()
	}
	// Serve every user and log what was served, a day after the log.
	t1 := time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(7, 7))
	var served []store.Event
	for _, u := range sim.Train.Users {
		var rec recommend.Response
		req := recommend.Request{User: u, Candidates: sim.Train.Items, K: k, IncludeConsumed: true}
		if code, body := call(t, "POST", w.base+"/v1/recommend", "", req, &rec); code != 200 {
			t.Fatalf("recommend %s: %d %s", u, code, body)
		}
		if rec.ModelID != w.upliftT || rec.Policy != recommend.PolicyGreedy || len(rec.Items) != k {
			t.Fatalf("recommend %s: model %s policy %s, %d items; want %s greedy %d", u, rec.ModelID, rec.Policy, len(rec.Items), w.upliftT, k)
		}
		for _, it := range rec.Items {
			w.served[u] = append(w.served[u], it.Item)
			served = append(served, store.Event{ID: fmt.Sprintf("s:%s:%s", u, it.Item), Kind: store.Exposure, User: u, Item: it.Item,
				Time: t1, Arm: store.DefaultArm, Propensity: it.Propensity, Position: it.Position, PolicyID: opeWorldPolicy})
			w.rows++
			if rng.Float64() < w.muT[u][it.Item] {
				w.rewards++
				served = append(served, store.Event{ID: fmt.Sprintf("so:%s:%s", u, it.Item), Kind: store.Outcome, User: u, Item: it.Item, Time: t1.Add(time.Hour)})
			}
		}
	}
	w.postEvents(t, served)
	return w
}

func (w *opeWorld) postEvents(t *testing.T, events []store.Event) {
	t.Helper()
	for lo := 0; lo < len(events); lo += 5000 {
		if code, body := call(t, "POST", w.base+"/v1/events", "", map[string]any{"events": events[lo:min(lo+5000, len(events))]}, nil); code != 200 {
			t.Fatalf("events: %d %s", code, body)
		}
	}
}

// truth is the expected reward per logged row of a policy that places
// list(u)[k−1] at position k, under position-wise independence: the mean of
// P(outcome | recommended) over the logged rows' users and positions.
func (w *opeWorld) truth(list func(u string) []string) float64 {
	var sum float64
	var n int
	for u, s := range w.served {
		for k := range s {
			sum += w.muT[u][list(u)[k]]
			n++
		}
	}
	return sum / float64(n)
}

func estimateOf(t *testing.T, res api.OPEResult, name string) api.OPEEstimate {
	t.Helper()
	for _, e := range res.Estimates {
		if e.Estimator == name {
			if e.Value == nil || e.CI[0] == nil || e.CI[1] == nil {
				t.Fatalf("%s: value or interval is null: %+v", name, e)
			}
			return e
		}
	}
	t.Fatalf("no estimate %s in %+v", name, res.Estimates)
	return api.OPEEstimate{}
}

// TestServiceOPE evaluates the service's own models on its own log (the
// pipeline test's world): the model that served (uplift:t, greedy) gets
// weights 1 and the logged value inside its intervals; popularity and
// uplift:t are compared, by POST /v1/ope and by `causalrec ope --redis`.
func TestServiceOPE(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugins, trains two models and serves 500 users")
	}
	w := newOPEWorld(t)
	logged := float64(w.rewards) / float64(w.rows)
	ests := []string{"ipw", "snipw", "dm", "dr", "sndr"}
	body := func(model string) map[string]any {
		return map[string]any{"model": model, "policy": "greedy", "policy_id": opeWorldPolicy, "include_consumed": true,
			"estimators": ests, "bootstrap": 300}
	}

	// The served model, by id and by its serving name.
	var served api.OPEResult
	if code, b := call(t, "POST", w.base+"/v1/ope", "", body(w.upliftT), &served); code != 200 {
		t.Fatalf("ope %s: %d %s", w.upliftT, code, b)
	}
	if served.Rounds != w.rows || served.Lists != len(w.served) || served.Positions != 10 || served.ModelID != w.upliftT || served.Ranker != "uplift:t" {
		t.Fatalf("served model: %d rows in %d lists, %d positions, model %s %s; want %d rows in %d lists, 10 positions, %s uplift:t",
			served.Rounds, served.Lists, served.Positions, served.ModelID, served.Ranker, w.rows, len(w.served), w.upliftT)
	}
	if math.Abs(served.LoggedValue-logged) > 1e-12 || served.MeanWeight != 1 {
		t.Fatalf("served model: logged value %v (want %v), mean weight %v (want 1)", served.LoggedValue, logged, served.MeanWeight)
	}
	if served.Skipped.OtherPolicy == 0 || served.Skipped.Control == 0 || served.Skipped.Unplaced != 0 {
		t.Errorf("skipped %+v: want the simulated log's exposures left out (other policy and hold-outs), none unplaced", served.Skipped)
	}
	for _, name := range ests {
		e := estimateOf(t, served, name)
		lo, hi := *e.CI[0], *e.CI[1]
		if *e.MaxWeight != 1 || *e.ZeroWeightShare != 0 || math.Abs(*e.ESS-float64(w.rows)) > 1e-6 {
			t.Errorf("%s of the served model: max weight %v, zero-weight share %v, ess %v; want 1, 0, %d", name, *e.MaxWeight, *e.ZeroWeightShare, *e.ESS, w.rows)
		}
		if name != "dm" && math.Abs(*e.Value-logged) > 1e-9 {
			t.Errorf("%s of the served model = %v, want the logged value %v (weights 1)", name, *e.Value, logged)
		}
		if !(lo <= logged && logged <= hi) {
			t.Errorf("%s of the served model: interval [%v, %v] misses the logged value %v", name, lo, hi, logged)
		}
		t.Logf("served uplift:t, %s: %.4f [%.4f, %.4f]", name, *e.Value, lo, hi)
	}
	if b, err := json.Marshal(served); err == nil {
		t.Logf("served model's answer: %s", b)
	}
	var byName api.OPEResult
	if code, b := call(t, "POST", w.base+"/v1/ope", "", body(recommend.ModelName), &byName); code != 200 {
		t.Fatalf("ope default: %d %s", code, b)
	}
	if byName.ModelID != w.upliftT || *estimateOf(t, byName, "dr").Value != *estimateOf(t, served, "dr").Value {
		t.Errorf("ope of %q evaluated %s (dr %v), want the serving model %s (dr %v)", recommend.ModelName, byName.ModelID,
			*estimateOf(t, byName, "dr").Value, w.upliftT, *estimateOf(t, served, "dr").Value)
	}

	// Popularity on the same log: its list differs from the served one, so
	// the rows where it does get weight 0.
	var pop api.OPEResult
	if code, b := call(t, "POST", w.base+"/v1/ope", "", body(w.popularity), &pop); code != 200 {
		t.Fatalf("ope popularity: %d %s", code, b)
	}
	differ := 0
	for _, s := range w.served {
		for k, it := range s {
			if w.popList[k] != it {
				differ++
			}
		}
	}
	ipw := estimateOf(t, pop, "ipw")
	if pop.Ranker != "popularity" || math.Abs(*ipw.ZeroWeightShare-float64(differ)/float64(w.rows)) > 1e-9 {
		t.Errorf("popularity: ranker %s, zero-weight share %v; want popularity, %v (rows where its list differs from the served one)",
			pop.Ranker, *ipw.ZeroWeightShare, float64(differ)/float64(w.rows))
	}
	truthServed := w.truth(func(u string) []string { return w.served[u] })
	truthPop := w.truth(func(string) []string { return w.popList })
	t.Logf("logged value %.4f over %d rows; true value: served uplift:t %.4f, popularity %.4f; popularity's list differs at %d rows",
		logged, w.rows, truthServed, truthPop, differ)
	for _, name := range ests {
		e := estimateOf(t, pop, name)
		t.Logf("| popularity | %s | %.4f [%.4f, %.4f] | ess %.0f | warnings %v |", name, *e.Value, *e.CI[0], *e.CI[1], *e.ESS, e.Warnings)
	}
	if len(estimateOf(t, pop, "ipw").Warnings) == 0 {
		t.Error("popularity's ipw has no warning, though its mean weight is far from 1 (a greedy log does not cover it)")
	}

	// uplift:t with a random policy: the logged items keep weight ≤ 1.
	var pl api.OPEResult
	plBody := body(w.upliftT)
	plBody["policy"], plBody["temperature"], plBody["samples"] = "plackett-luce", 0.05, 200
	if code, b := call(t, "POST", w.base+"/v1/ope", "", plBody, &pl); code != 200 {
		t.Fatalf("ope plackett-luce: %d %s", code, b)
	}
	if e := estimateOf(t, pl, "ipw"); !(*e.MaxWeight <= 1 && *e.MaxWeight > 0 && pl.Policy == recommend.PolicyPlackettLuce) {
		t.Errorf("plackett-luce: max weight %v, policy %s", *e.MaxWeight, pl.Policy)
	}
	for _, name := range []string{"ipw", "dm", "dr"} {
		e := estimateOf(t, pl, name)
		t.Logf("| uplift:t, plackett-luce T=0.05 | %s | %.4f [%.4f, %.4f] | ess %.0f |", name, *e.Value, *e.CI[0], *e.CI[1], *e.ESS)
	}

	// The command gives the API's answer.
	code, out, errOut := runCLI(t, "", "ope", "--redis", redisURL(), "--prefix", w.prefix, "--model", w.upliftT, "--policy-id", opeWorldPolicy,
		"--include-consumed", "--estimators", strings.Join(ests, ","), "--bootstrap", "300")
	if code != 0 {
		t.Fatalf("ope --redis: exit %d: %s", code, errOut)
	}
	var cli api.OPEResult
	if err := json.Unmarshal([]byte(out), &cli); err != nil {
		t.Fatalf("ope --redis: %v in %s", err, out)
	}
	a, b := estimateOf(t, cli, "dr"), estimateOf(t, served, "dr")
	if cli.Rounds != served.Rounds || *a.Value != *b.Value || *a.CI[0] != *b.CI[0] || *a.CI[1] != *b.CI[1] {
		t.Errorf("ope --redis: %d rows, dr %v [%v, %v]; POST /v1/ope: %d rows, dr %v [%v, %v]",
			cli.Rounds, *a.Value, *a.CI[0], *a.CI[1], served.Rounds, *b.Value, *b.CI[0], *b.CI[1])
	}
}

// smallOPEWorld starts serve (with the token "s3cret") on a small log:
// simulatedEvents' users and items a, b (c never logged), a popularity
// model trained on it, then lists of a and b served to every user a day
// later, logged under policy_id "p1" with propensities and some outcomes,
// under "noprop" without propensities, and under "p0" with propensities
// and no outcomes. It returns the HTTP base URL, the gRPC address, the model id
// and the key prefix.
func smallOPEWorld(t *testing.T) (base, grpcAddr, model, prefix string) {
	t.Helper()
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix, cfg.APIToken = redisURL(), testPrefix(t), "s3cret"
	cfg.TextFeatures = recommend.TextOff
	base, grpcAddr = startServeGRPC(t, cfg)
	const tok = "s3cret"
	ingestUsers(t, base, tok, 20)
	if code, body := call(t, "POST", base+"/v1/items", tok, map[string]any{"items": []store.Item{{ID: "a"}, {ID: "b"}, {ID: "c"}}}, nil); code != 200 {
		t.Fatalf("items: %d %s", code, body)
	}
	if code, body := call(t, "POST", base+"/v1/events", tok, map[string]any{"events": simulatedEvents(20, 0)}, nil); code != 200 {
		t.Fatalf("events: %d %s", code, body)
	}
	var tr recommend.TrainResult
	if code, body := call(t, "POST", base+"/v1/train", tok, map[string]string{"ranker": "popularity"}, &tr); code != 200 {
		t.Fatalf("train: %d %s", code, body)
	}
	// Lists served later: by policy p1 with propensities, by policy
	// noprop without.
	var events []store.Event
	t1 := time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)
	for i := range 20 {
		u := fmt.Sprintf("u%d", i)
		for k, it := range []string{"a", "b"} {
			events = append(events,
				store.Event{ID: fmt.Sprintf("p1:%s:%s", u, it), Kind: store.Exposure, User: u, Item: it, Time: t1, Propensity: 1, Position: k + 1, PolicyID: "p1"},
				store.Event{ID: fmt.Sprintf("np:%s:%s", u, it), Kind: store.Exposure, User: u, Item: it, Time: t1.Add(time.Hour), Position: k + 1, PolicyID: "noprop"},
				store.Event{ID: fmt.Sprintf("p0:%s:%s", u, it), Kind: store.Exposure, User: u, Item: it, Time: t1.Add(2 * time.Hour), Propensity: 1, Position: k + 1, PolicyID: "p0"})
			if (i+k)%3 == 0 {
				events = append(events, store.Event{ID: fmt.Sprintf("p1o:%s:%s", u, it), Kind: store.Outcome, User: u, Item: it, Time: t1.Add(time.Minute)})
			}
		}
	}
	if code, body := call(t, "POST", base+"/v1/events", tok, map[string]any{"events": events}, nil); code != 200 {
		t.Fatalf("events: %d %s", code, body)
	}
	return base, grpcAddr, tr.ModelID.String(), cfg.Prefix
}

// TestServiceOPERejectsBadInput checks that POST /v1/ope and `causalrec
// ope --redis` refuse what they cannot evaluate with one clear error, and
// that the service stays up.
func TestServiceOPERejectsBadInput(t *testing.T) {
	base, _, model, prefix := smallOPEWorld(t)
	const tok = "s3cret"
	ok := map[string]any{"model": model, "policy_id": "p1", "bootstrap": 50, "estimators": []string{"ipw", "snipw"}}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range ok {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		name string
		body any
		code int
		want string
	}{
		{"no model", with("model", nil), 400, "model is required"},
		{"unknown model id", with("model", "6f1c1d7e-0000-4000-8000-000000000000"), 400, "unknown model 6f1c1d7e"},
		{"unknown model name", with("model", "nosuch"), 400, `unknown model "nosuch"`},
		{"no exposures of the policy", with("policy_id", "nope"), 400, `no logged exposures of policy_id "nope"`},
		{"no propensities", with("policy_id", "noprop"), 400, "40 of 40 exposures to evaluate have no logged propensity"},
		{"no propensities among others", with("policy_id", nil), 400, "40 of 120 exposures to evaluate have no logged propensity"},
		{"unknown policy", with("policy", "softmax"), 400, `unknown policy "softmax"`},
		{"epsilon-greedy without epsilon", with("policy", "epsilon-greedy"), 400, "epsilon-greedy needs epsilon in (0, 1]"},
		{"plackett-luce without temperature", with("policy", "plackett-luce"), 400, "plackett-luce needs a positive temperature"},
		{"unknown candidate", with("candidates", []string{"a", "zz"}), 400, `unknown items "zz"`},
		{"candidate twice", with("candidates", []string{"a", "a"}), 400, `candidate "a" listed twice`},
		{"unknown estimator", with("estimators", []string{"ipw", "ipx"}), 400, "estimators:"},
		{"unknown reward model", with("reward_model", "svm"), 400, `unknown reward model "svm"`},
		{"one bootstrap resample", with("bootstrap", 1), 400, "bootstrap=1"},
		{"level", with("level", 1.5), 400, "level=1.5"},
		{"folds", with("folds", 1), 400, "folds=1"},
		{"samples", with("samples", -1), 400, "samples=-1"},
		{"unknown field", with("modle", "x"), 400, `unknown field "modle"`},
		{"fine", ok, 200, `"ranker":"popularity"`},
		{"dr", with("estimators", []string{"dr"}, "candidates", []string{"c", "b"}, "bootstrap", 0), 200, `"estimator":"dr"`},
		{"reward model", with("estimators", []string{"dr"}, "policy_id", "p0"), 400, "the reward model could not be fitted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(t, "POST", base+"/v1/ope", tok, tc.body, nil)
			if code != 200 {
				var e struct{ Error string }
				if err := json.Unmarshal([]byte(body), &e); err != nil {
					t.Fatalf("%d %s: %v", code, body, err)
				}
				body = e.Error
			}
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("got %d %s, want %d with %q", code, body, tc.code, tc.want)
			}
		})
	}
	if code, _ := call(t, "POST", base+"/v1/ope", "", ok, nil); code != 401 {
		t.Errorf("without the token: %d, want 401", code)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--redis", redisURL(), "--prefix", prefix}, 2, "--redis needs --model"},
		{[]string{"--model", model, "--log", "x.csv"}, 2, "give one of them"},
		{[]string{"--redis", redisURL(), "--prefix", prefix, "--model", "nosuch"}, 1, `unknown model "nosuch"`},
		{[]string{"--redis", redisURL(), "--prefix", prefix, "--model", model, "--policy-id", "noprop"}, 1, "have no logged propensity"},
	} {
		code, out, errOut := runCLI(t, "", append([]string{"ope"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("ope %v: exit %d, stdout %q, stderr %q; want exit %d naming %q and nothing on stdout", tc.args, code, out, errOut, tc.code, tc.want)
		}
	}
}

// TestGRPCOPE evaluates a stored model over gRPC against a real serve
// (real Redis, real plugins): the answer is POST /v1/ope's, converted.
func TestGRPCOPE(t *testing.T) {
	base, addr, model, _ := smallOPEWorld(t)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := apiv1.NewRecommenderClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := &apiv1.OPERequest{Model: model, PolicyId: "p1", IncludeConsumed: true, Estimators: []string{"ipw", "dr", "switch-dr"}, Bootstrap: proto.Int32(100)}
	if _, err := c.OPE(ctx, req); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("without the token: %v, want Unauthenticated", err)
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer s3cret")
	got, err := c.OPE(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var want api.OPEResult
	if code, body := call(t, "POST", base+"/v1/ope", "s3cret", map[string]any{"model": model, "policy_id": "p1",
		"include_consumed": true, "estimators": []string{"ipw", "dr", "switch-dr"}, "bootstrap": 100}, &want); code != 200 {
		t.Fatalf("POST /v1/ope: %d %s", code, body)
	}
	if got.GetRounds() != int64(want.Rounds) || got.GetRounds() != 40 || got.GetLoggedValue() != want.LoggedValue || got.GetModelId() != model ||
		got.GetRanker() != "popularity" || got.GetLists() != 20 || got.GetSkipped().GetOtherPolicy() != int64(want.Skipped.OtherPolicy) || got.GetSkipped().GetUnplaced() != 0 ||
		len(got.GetEstimates()) != 3 || got.GetBootstrap() != 100 {
		t.Fatalf("gRPC %v\nHTTP %+v", got, want)
	}
	for i, e := range got.GetEstimates() {
		w := want.Estimates[i]
		if e.GetEstimator() != w.Estimator || e.GetValue() != *w.Value || e.GetCiLower() != *w.CI[0] || e.GetCiUpper() != *w.CI[1] || e.GetEss() != *w.ESS {
			t.Errorf("estimate %d: gRPC %v, HTTP %+v", i, e, w)
		}
	}
	if sw := got.GetEstimates()[2]; !sw.GetHasLambda() || sw.GetLambda() != 100 || got.GetEstimates()[0].GetHasLambda() {
		t.Errorf("lambda: switch-dr %v, ipw %v", sw, got.GetEstimates()[0])
	}
	if _, err := c.OPE(ctx, &apiv1.OPERequest{Model: "nosuch"}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `unknown model "nosuch"`) {
		t.Errorf("unknown model: %v, want InvalidArgument naming it", err)
	}
}
