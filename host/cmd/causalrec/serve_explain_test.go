package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/redistest"
	"github.com/causalrec/causalrec/host/store"
	apiv1 "github.com/causalrec/causalrec/proto/causalrec/api/v1"
)

// plantedCatalogue logs an experiment on a catalogue of 100 items whose
// texts are random words, 15 of them with the word "gold" (and the
// catalogue attribute promo); showing an item raises the chance of an
// outcome by 0.05, and by 0.45 for a gold item.
func plantedCatalogue(t *testing.T, base string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(18, 18))
	words := []string{"red", "blue", "green", "shoe", "hat", "bag", "soft", "warm", "new", "sale", "linen", "wool"}
	var items []store.Item
	gold := map[string]bool{}
	for i := range 100 {
		var ws []string
		for range 4 {
			ws = append(ws, words[rng.IntN(len(words))])
		}
		promo := 0.0
		id := fmt.Sprintf("i%d", i)
		if i%100 < 15 {
			ws = append(ws[:1], append([]string{"gold"}, ws[1:]...)...)
			promo, gold[id] = 1, true
		}
		items = append(items, store.Item{ID: id, Text: strings.Join(ws, " "), Features: map[string]float64{"promo": promo}})
	}
	if code, body := call(t, "POST", base+"/v1/items", "", map[string]any{"items": items}, nil); code != 200 {
		t.Fatalf("items: %d %s", code, body)
	}
	var users []store.User
	var events []store.Event
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for u := range 800 {
		uid := fmt.Sprintf("u%d", u)
		users = append(users, store.User{ID: uid, Features: map[string]float64{"x": rng.NormFloat64()}})
		for _, k := range rng.Perm(100)[:4] {
			it := items[k].ID
			arm, p := "treated", 0.2
			if rng.IntN(3) == 0 {
				arm = recommend.ControlArm
			} else if p += 0.05; gold[it] {
				p += 0.4
			}
			events = append(events, store.Event{ID: uid + ":" + it + ":x", Kind: store.Exposure, User: uid, Item: it, Time: t0, Arm: arm, Propensity: 0.5})
			if rng.Float64() < p {
				events = append(events, store.Event{ID: uid + ":" + it + ":o", Kind: store.Outcome, User: uid, Item: it, Time: t0.Add(time.Hour)})
			}
		}
	}
	if code, body := call(t, "POST", base+"/v1/users", "", map[string]any{"users": users}, nil); code != 200 {
		t.Fatalf("users: %d %s", code, body)
	}
	postEvents(t, base, "", events)
}

// TestServeExplain trains on a catalogue where one planted word carries
// the uplift and asks GET /v1/models/{id}/explain, on the real Redis with
// the real plugins, without and with the text features of the lm and
// sentiment plugins: the word ranks first among the terms, the catalogue
// attribute that marks it is among the largest importances (beside the
// text features' when they are on), the answer is cached in Redis under
// the model's hash tag, gRPC's Explain answers the same, and bad requests
// get clear errors.
func TestServeExplain(t *testing.T) {
	for _, text := range []string{"off", "auto"} {
		t.Run("text="+text, func(t *testing.T) { testServeExplain(t, text) })
	}
}

func testServeExplain(t *testing.T, text string) {
	cfg := textlessConfig(t)
	cfg.TextFeatures = text
	base, gaddr := startServeGRPC(t, cfg)
	if code, body := call(t, "GET", base+"/v1/models/"+uuid.NewString()+"/explain", "", nil, nil); code != 404 || !strings.Contains(body, "not found") {
		t.Fatalf("explain an unknown model: %d %s", code, body)
	}
	if code, body := call(t, "GET", base+"/v1/models/nope/explain", "", nil, nil); code != 404 || !strings.Contains(body, `no model \"nope\"`) {
		t.Fatalf("explain an unknown name: %d %s", code, body)
	}
	plantedCatalogue(t, base)
	var tr recommend.TrainResult
	if code, body := call(t, "POST", base+"/v1/train", "", struct{}{}, &tr); code != 200 {
		t.Fatalf("train: %d %s", code, body)
	}
	url := base + "/v1/models/" + tr.ModelID.String() + "/explain"
	var res explainOut
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, body := call(t, "GET", url, "", nil, &res)
		if code == 200 {
			break
		}
		if code != 202 || time.Now().After(deadline) {
			t.Fatalf("explain: %d %s", code, body)
		}
		time.Sleep(time.Second)
	}
	if res.N != tr.Rows || len(res.BLP) == 0 || res.BLPIntercept == nil || res.Tree == nil || len(res.Importance) == 0 {
		t.Fatalf("explanation of %d rows: %+v", tr.Rows, res)
	}
	if len(res.Terms) == 0 || res.Terms[0].Term != "gold" || res.Terms[0].N != 15 || res.Terms[0].CI[0] <= 0 {
		t.Errorf("terms %+v, want gold first, in 15 items, above 0", res.Terms)
	}
	var top []string
	for _, f := range res.Importance[:min(3, len(res.Importance))] {
		top = append(top, f.Feature)
	}
	if !strings.Contains(strings.Join(top, " "), "promo") {
		t.Errorf("largest importances %v, want the promo attribute among them", top)
	}
	if hasText := slices.ContainsFunc(res.Importance, func(f importanceOut) bool { return strings.HasPrefix(f.Feature, "text:") }); hasText != (text == "auto") {
		t.Errorf("text features %s, importance %+v", text, res.Importance)
	}
	t.Logf("terms: %+v; largest importances %v", res.Terms[:min(3, len(res.Terms))], top)
	// The answer is cached in Redis.
	st, err := store.New(redistest.Client(t), store.Options{Prefix: cfg.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	cached, err := st.Explanation(context.Background(), tr.ModelID)
	if err != nil || !strings.Contains(string(cached), `"gold"`) {
		t.Fatalf("cached explanation: %v", err)
	}
	var again explainOut
	code, body := call(t, "GET", url, "", nil, &again)
	if code != 200 || again.Terms[0] != res.Terms[0] {
		t.Fatalf("explain again: %d %s", code, body)
	}
	// The served model by its name, over HTTP and gRPC: the same content.
	if code, byName := call(t, "GET", base+"/v1/models/default/explain", "", nil, nil); code != 200 || byName != body {
		t.Errorf("explain the served model by name: %d %s", code, byName)
	}
	checkGRPCExplain(t, gaddr, tr.ModelID.String(), body)
	// A popularity model has no estimator to explain.
	var pop recommend.TrainResult
	if code, body := call(t, "POST", base+"/v1/train", "", map[string]string{"ranker": "popularity"}, &pop); code != 200 {
		t.Fatalf("train popularity: %d %s", code, body)
	}
	if code, body := call(t, "GET", base+"/v1/models/"+pop.ModelID.String()+"/explain", "", nil, nil); code != 409 || !strings.Contains(body, "no estimator") {
		t.Errorf("explain a popularity model: %d %s", code, body)
	}
}

// explainJSON is an explanation's JSON with its nulls (nil).
type explainJSON struct {
	BLP          []coefJSON `json:"blp"`
	BLPIntercept *coefJSON  `json:"blp_intercept"`
	Importance   []coefJSON `json:"importance"`
	Tree         *nodeJSON  `json:"tree"`
	Terms        []coefJSON `json:"terms"`
	N            int64      `json:"n"`
	Arm          string     `json:"arm"`
	Level        float64    `json:"level"`
	Notes        []string   `json:"notes"`
}

// coefJSON is a BLP term, an importance or a text term.
type coefJSON struct {
	Feature, Term string
	Coef, Value   *float64
	Effect        *float64
	CI            [2]*float64
	PValue        *float64 `json:"p_value"`
	SE            *float64
	N             int64
}

type nodeJSON struct {
	Feature     string
	Threshold   *float64
	Level       *string
	Left, Right *nodeJSON
	N           int64
	Effect, Tau *float64
	CI          [2]*float64
}

// checkGRPCExplain asks gRPC's Explain for model id, by id and by the name
// it is served under, and checks that it answers the JSON body of the HTTP
// route field by field (null is NaN).
func checkGRPCExplain(t *testing.T, addr, id, body string) {
	t.Helper()
	var want explainJSON
	if err := json.Unmarshal([]byte(body), &want); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := apiv1.NewRecommenderClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Explain(ctx, &apiv1.ExplainRequest{Id: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("grpc explain an unknown name: %v, want NotFound", err)
	}
	for _, ref := range []string{id, recommend.ModelName} {
		got, err := c.Explain(ctx, &apiv1.ExplainRequest{Id: ref})
		if err != nil {
			t.Fatalf("grpc explain %s: %v", ref, err)
		}
		if got.GetModelId() != id || got.GetN() != want.N || got.GetArm() != want.Arm || got.GetLevel() != want.Level ||
			!slices.Equal(got.GetNotes(), want.Notes) {
			t.Errorf("grpc explain %s: model %s, n %d, arm %q, level %g, notes %q; HTTP %s", ref, got.GetModelId(), got.GetN(),
				got.GetArm(), got.GetLevel(), got.GetNotes(), body)
		}
		var diffs []string
		same := func(what string, g float64, w *float64) {
			switch {
			case w == nil && !math.IsNaN(g):
				diffs = append(diffs, fmt.Sprintf("%s: %g, HTTP null", what, g))
			case w != nil && g != *w:
				diffs = append(diffs, fmt.Sprintf("%s: %g, HTTP %g", what, g, *w))
			}
		}
		sameCoef := func(what string, g *apiv1.ExplainCoef, w coefJSON) {
			if g.GetFeature() != w.Feature {
				diffs = append(diffs, fmt.Sprintf("%s: feature %q, HTTP %q", what, g.GetFeature(), w.Feature))
			}
			same(what+" coef", g.GetCoef(), w.Coef)
			same(what+" ci_lower", g.GetCiLower(), w.CI[0])
			same(what+" ci_upper", g.GetCiUpper(), w.CI[1])
			same(what+" p_value", g.GetPValue(), w.PValue)
			same(what+" se", g.GetSe(), w.SE)
		}
		if len(got.GetBlp()) != len(want.BLP) || len(got.GetImportance()) != len(want.Importance) || len(got.GetTerms()) != len(want.Terms) ||
			(got.GetBlpIntercept() == nil) != (want.BLPIntercept == nil) {
			t.Fatalf("grpc explain %s: %d blp, %d importances, %d terms; HTTP %s", ref, len(got.GetBlp()), len(got.GetImportance()), len(got.GetTerms()), body)
		}
		for i, g := range got.GetBlp() {
			sameCoef(fmt.Sprintf("blp[%d]", i), g, want.BLP[i])
		}
		if want.BLPIntercept != nil {
			sameCoef("blp_intercept", got.GetBlpIntercept(), *want.BLPIntercept)
		}
		for i, g := range got.GetImportance() {
			w := want.Importance[i]
			if g.GetFeature() != w.Feature {
				diffs = append(diffs, fmt.Sprintf("importance[%d]: %q, HTTP %q", i, g.GetFeature(), w.Feature))
			}
			same(fmt.Sprintf("importance[%d] value", i), g.GetValue(), w.Value)
			same(fmt.Sprintf("importance[%d] ci_lower", i), g.GetCiLower(), w.CI[0])
			same(fmt.Sprintf("importance[%d] ci_upper", i), g.GetCiUpper(), w.CI[1])
		}
		for i, g := range got.GetTerms() {
			w := want.Terms[i]
			if g.GetTerm() != w.Term || g.GetN() != w.N {
				diffs = append(diffs, fmt.Sprintf("terms[%d]: %q in %d, HTTP %q in %d", i, g.GetTerm(), g.GetN(), w.Term, w.N))
			}
			same(fmt.Sprintf("terms[%d] effect", i), g.GetEffect(), w.Effect)
			same(fmt.Sprintf("terms[%d] ci_lower", i), g.GetCiLower(), w.CI[0])
			same(fmt.Sprintf("terms[%d] ci_upper", i), g.GetCiUpper(), w.CI[1])
		}
		var walk func(path string, g *apiv1.ExplainNode, w *nodeJSON)
		walk = func(path string, g *apiv1.ExplainNode, w *nodeJSON) {
			if (g == nil) != (w == nil) {
				diffs = append(diffs, fmt.Sprintf("tree%s: %v, HTTP %v", path, g, w))
				return
			}
			if w == nil {
				return
			}
			if g.GetFeature() != w.Feature || g.GetN() != w.N || (g.Level == nil) != (w.Level == nil) || (w.Level != nil && g.GetLevel() != *w.Level) ||
				(g.Threshold == nil) != (w.Threshold == nil) {
				diffs = append(diffs, fmt.Sprintf("tree%s: %v, HTTP %+v", path, g, w))
			}
			if w.Threshold != nil {
				same("tree"+path+" threshold", g.GetThreshold(), w.Threshold)
			}
			same("tree"+path+" effect", g.GetEffect(), w.Effect)
			same("tree"+path+" tau", g.GetTau(), w.Tau)
			same("tree"+path+" ci_lower", g.GetCiLower(), w.CI[0])
			same("tree"+path+" ci_upper", g.GetCiUpper(), w.CI[1])
			walk(path+".left", g.GetLeft(), w.Left)
			walk(path+".right", g.GetRight(), w.Right)
		}
		if want.Tree == nil || want.Tree.Left == nil {
			t.Errorf("HTTP explanation without a split: %s", body)
		}
		walk("", got.GetTree(), want.Tree)
		if len(diffs) > 0 {
			t.Errorf("grpc explain %s differs from HTTP:\n%s", ref, strings.Join(diffs, "\n"))
		}
	}
}
