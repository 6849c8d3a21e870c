package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/redistest"
	"github.com/causalrec/causalrec/host/store"
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
// the model's hash tag, and bad requests get clear errors.
func TestServeExplain(t *testing.T) {
	for _, text := range []string{"off", "auto"} {
		t.Run("text="+text, func(t *testing.T) { testServeExplain(t, text) })
	}
}

func testServeExplain(t *testing.T, text string) {
	cfg := textlessConfig(t)
	cfg.TextFeatures = text
	base := startServe(t, cfg)
	if code, body := call(t, "GET", base+"/v1/models/"+uuid.NewString()+"/explain", "", nil, nil); code != 404 || !strings.Contains(body, "not found") {
		t.Fatalf("explain an unknown model: %d %s", code, body)
	}
	if code, body := call(t, "GET", base+"/v1/models/nope/explain", "", nil, nil); code != 400 || !strings.Contains(body, `model id \"nope\"`) {
		t.Fatalf("explain a bad id: %d %s", code, body)
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
	if code, body := call(t, "GET", url, "", nil, &again); code != 200 || again.Terms[0] != res.Terms[0] {
		t.Fatalf("explain again: %d %s", code, body)
	}
	// A popularity model has no estimator to explain.
	var pop recommend.TrainResult
	if code, body := call(t, "POST", base+"/v1/train", "", map[string]string{"ranker": "popularity"}, &pop); code != 200 {
		t.Fatalf("train popularity: %d %s", code, body)
	}
	if code, body := call(t, "GET", base+"/v1/models/"+pop.ModelID.String()+"/explain", "", nil, nil); code != 409 || !strings.Contains(body, "no estimator") {
		t.Errorf("explain a popularity model: %d %s", code, body)
	}
}
