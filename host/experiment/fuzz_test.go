package experiment

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/causalrec/causalrec/host/redistest"
	"github.com/causalrec/causalrec/host/store"
)

// FuzzBuild feeds Build any JSON body of POST /v1/experiments: it never
// panics, and what it accepts keeps the rules (unique names, weights
// summing to 1, coverage and namespace in range, known metrics, models
// resolved).
func FuzzBuild(f *testing.F) {
	for _, s := range []string{
		`{"id": "ab1", "arms": [{"name": "a", "model": "default", "weight": 0.5}, {"name": "b", "model": "default", "weight": 0.5}]}`,
		`{"id": "x", "coverage": 0.3, "namespace": [0.2, 0.4], "metric": "value", "guardrails": ["exposures"], "arms": [{"name": "a", "model": "default", "weight": 0.25, "policy": "plackett-luce", "temperature": 0.5}, {"name": "b", "model": "default", "weight": 0.75, "policy": "epsilon-greedy", "epsilon": 1}]}`,
		`{"id": "", "arms": []}`,
		`{"id": "a/b", "salt": "\u0000", "arms": [{"name": "a", "model": "00000000-0000-0000-0000-000000000000", "weight": 1e308}]}`,
	} {
		f.Add([]byte(s))
	}
	// The models come from the real store, under a prefix of the fuzz
	// test's own: one served under "default".
	ctx := context.Background()
	st, err := store.New(redistest.Client(f), store.Options{Prefix: redistest.Prefix(f)})
	if err != nil {
		f.Fatal(err)
	}
	id, err := st.SaveModel(ctx, store.ModelRecord{Name: "default", Estimator: "t", Bytes: []byte{1}})
	if err != nil {
		f.Fatal(err)
	}
	if err := st.SetServing(ctx, "default", id); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"id": "m", "arms": [{"name": "a", "model": "` + id.String() + `", "weight": 0.5}, {"name": "b", "model": "default", "weight": 0.5}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req CreateRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		e, err := Build(ctx, req, st, time.Unix(0, 0))
		if err != nil {
			return
		}
		var sum float64
		names := map[string]bool{}
		for _, a := range e.Arms {
			if names[a.Name] || a.ModelID == "" || !(a.Weight > 0) {
				t.Fatalf("accepted arm %+v", a)
			}
			names[a.Name] = true
			sum += a.Weight
		}
		if len(e.Arms) < 2 || math.Abs(sum-1) > 1e-9 || !(e.Coverage > 0 && e.Coverage <= 1) ||
			!(e.Namespace[0] >= 0 && e.Namespace[0] < e.Namespace[1] && e.Namespace[1] <= 1) || !isMetric(e.Metric) || e.Salt == "" {
			t.Fatalf("accepted %+v", e)
		}
	})
}
