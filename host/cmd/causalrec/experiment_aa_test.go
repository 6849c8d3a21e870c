package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/causalrec/causalrec/host/experiment"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

// TestExperimentAA runs an A/A experiment through serve: two arms with the
// same popularity model and policy, users drawn from one population. The
// report finds no significant difference in the metric or the guardrail,
// no sample ratio mismatch, and its confidence sequence holds 0. The
// client's draws are seeded and the lists greedy, so the run is the same
// every time: a single A/A, checked to be read as one.
func TestExperimentAA(t *testing.T) {
	if testing.Short() {
		t.Skip("drives 800 users through serve")
	}
	const token = "tok"
	cfg := textlessConfig(t)
	cfg.APIToken = token
	base := startServe(t, cfg)
	w := newWorld()
	rng := rand.New(rand.NewPCG(14, 3))
	items := make([]store.Item, len(w.items))
	for i, id := range w.items {
		items[i] = store.Item{ID: id, Features: map[string]float64{"f": w.f[id]}}
	}
	if code, body := call(t, "POST", base+"/v1/items", token, map[string]any{"items": items}, nil); code != 200 {
		t.Fatalf("items: %d %s", code, body)
	}
	var events []store.Event
	t0 := time.Now().Add(-time.Hour).UTC()
	for u := range 300 {
		events = append(events, store.Event{Kind: store.Outcome, User: fmt.Sprint("o", u), Item: w.items[u%len(w.items)], Time: t0})
	}
	postEvents(t, base, token, events)
	// Two popularity models, the first served.
	st := storeOf(t, cfg)
	var ids []string
	for range 2 {
		id, err := st.SaveModel(context.Background(), store.ModelRecord{Name: recommend.ModelName, Estimator: "popularity",
			Metadata: map[string]string{"features": "[]", "ranker": "popularity"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id.String())
	}
	if err := st.SetServing(context.Background(), recommend.ModelName, uuidOf(t, ids[0])); err != nil {
		t.Fatal(err)
	}
	spec := map[string]any{"id": "aa", "guardrails": []string{"exposures"}, "arms": []map[string]any{
		{"name": "a1", "model": "default", "weight": 0.5}, {"name": "a2", "model": ids[1], "weight": 0.5}}}
	if code, body := call(t, "POST", base+"/v1/experiments", token, spec, nil); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	for u := range 800 {
		user := fmt.Sprint("aa", u)
		a := 0.5 + rng.Float64()
		var evs []store.Event
		for range 2 {
			var resp recommend.Response
			if code, body := call(t, "POST", base+"/v1/recommend", token, map[string]any{"user": user, "k": 1, "candidates": w.items, "include_consumed": true}, &resp); code != 200 {
				t.Fatalf("recommend: %d %s", code, body)
			}
			now := time.Now().UTC()
			top := resp.Items[0].Item
			evs = append(evs, store.Event{Kind: store.Exposure, User: user, Item: top, Time: now, Propensity: 1, Position: 1})
			for _, it := range w.items {
				p := a * w.base[it]
				if it == top {
					p = w.reward(a, it)
				}
				if rng.Float64() < p {
					evs = append(evs, store.Event{Kind: store.Outcome, User: user, Item: it, Time: now.Add(time.Millisecond)})
				}
			}
		}
		postEvents(t, base, token, evs)
	}
	var rep experiment.Report
	if code, body := call(t, "GET", base+"/v1/experiments/aa/report", token, nil, &rep); code != 200 {
		t.Fatalf("report: %d %s", code, body)
	}
	if len(rep.Comparisons) != 2 || rep.Comparisons[1].Metric != "exposures" {
		t.Fatalf("comparisons %+v: want the metric and the guardrail", rep.Comparisons)
	}
	for _, c := range rep.Comparisons {
		t.Logf("%s: lift %.4f %v, p %.3f (Holm %.3f), sequential %v", c.Metric, c.Lift, c.CI, c.PValue, c.PValueHolm, c.SequentialCI)
		if c.PValueHolm < 0.05 || c.SequentialCI[0] > 0 || c.SequentialCI[1] < 0 {
			t.Errorf("A/A %s: significant: %+v", c.Metric, c)
		}
	}
	if rep.SRM.Flag {
		t.Errorf("SRM flagged: %+v", rep.SRM)
	}
}
