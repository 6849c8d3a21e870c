package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/experiment"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

// popularityModels stores n popularity models (they rank without a
// plugin), the first served under the default name.
func popularityModels(t *testing.T, st *store.Store, n int) []uuid.UUID {
	t.Helper()
	ctx := context.Background()
	var ids []uuid.UUID
	for range n {
		id, err := st.SaveModel(ctx, store.ModelRecord{Name: recommend.ModelName, Estimator: "popularity",
			Metadata: map[string]string{"features": "[]", "ranker": "popularity"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := st.SetServing(ctx, recommend.ModelName, ids[0]); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestExperimentsHTTP(t *testing.T) {
	st, _ := testStore(t)
	ids := popularityModels(t, st, 3)
	if _, err := st.PutItems(context.Background(), []store.Item{{ID: "a"}, {ID: "b"}, {ID: "c"}}); err != nil {
		t.Fatal(err)
	}
	srv := testServer(t, st, Deps{Token: "tok", Experiments: experiment.NewService(st, experiment.Options{})})
	body := fmt.Sprintf(`{"id": "ab1", "coverage": 0.5, "arms": [{"name": "control", "model": "default", "weight": 0.5},
		{"name": "uplift", "model": %q, "weight": 0.5, "policy": "epsilon-greedy", "epsilon": 0.1}]}`, ids[1])
	code, out := do(t, srv, "POST", "/v1/experiments", "tok", body)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, out)
	}
	var e store.Experiment
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatal(err)
	}
	if e.Status != "running" || e.StartedAt.IsZero() || e.Salt != "ab1" || e.Arms[0].ModelID != ids[0].String() || e.Coverage != 0.5 {
		t.Errorf("created %+v", e)
	}
	if !strings.Contains(out, `"started_at"`) || !strings.Contains(out, `"status":"running"`) {
		t.Errorf("created JSON %s", out)
	}
	bad := []struct {
		name, body string
		code       int
		want       string
	}{
		{"unauthorised", "", http.StatusUnauthorized, "token"},
		{"weights", `{"id": "x", "namespace": [0.5, 1], "arms": [{"name": "a", "model": "default", "weight": 0.5}, {"name": "b", "model": "default", "weight": 0.2}]}`, 400, "weights sum to 0.7"},
		{"names", `{"id": "x", "namespace": [0.5, 1], "arms": [{"name": "a", "model": "default", "weight": 0.5}, {"name": "a", "model": "default", "weight": 0.5}]}`, 400, `"a" is used twice`},
		{"model", `{"id": "x", "namespace": [0.5, 1], "arms": [{"name": "a", "model": "default", "weight": 0.5}, {"name": "b", "model": "` + uuid.NewString() + `", "weight": 0.5}]}`, 400, "does not exist"},
		{"unknown field", `{"id": "x", "arm": []}`, 400, `unknown field "arm"`},
		{"overlap", `{"id": "x", "namespace": [0.9, 1], "arms": [{"name": "a", "model": "default", "weight": 0.5}, {"name": "b", "model": "default", "weight": 0.5}]}`, 409, `overlaps running experiment "ab1"`},
		{"id in use", `{"id": "ab1", "namespace": [0.9, 1], "arms": [{"name": "a", "model": "default", "weight": 0.5}, {"name": "b", "model": "default", "weight": 0.5}]}`, 409, `experiment "ab1" exists`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			tok := "tok"
			if tt.code == http.StatusUnauthorized {
				tok = ""
			}
			code, out := do(t, srv, "POST", "/v1/experiments", tok, tt.body)
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Errorf("got %d %s, want %d containing %q", code, out, tt.code, tt.want)
			}
		})
	}
	if code, out := do(t, srv, "GET", "/v1/experiments/nope", "tok", nil); code != 404 {
		t.Errorf("get missing: %d %s", code, out)
	}
	code, out = do(t, srv, "GET", "/v1/experiments", "tok", nil)
	if code != 200 || !strings.Contains(out, `"id":"ab1"`) {
		t.Errorf("list: %d %s", code, out)
	}

	// Users in the experiment get their arm's model; the others the
	// serving model and no experiment.
	seen := map[string]int{}
	for i := range 60 {
		user := fmt.Sprint("user-", i)
		code, out := do(t, srv, "POST", "/v1/recommend", "tok", map[string]any{"user": user, "k": 2, "candidates": []string{"a", "b", "c"}})
		if code != 200 {
			t.Fatalf("recommend: %d %s", code, out)
		}
		var resp struct {
			recommend.Response
			Experiment *recommend.ExperimentRef `json:"experiment"`
		}
		if err := json.Unmarshal([]byte(out), &resp); err != nil {
			t.Fatal(err)
		}
		arm := experiment.ArmOf(e, experiment.Position(e.Salt, user))
		switch {
		case arm < 0 && (resp.Experiment != nil || resp.ModelID != ids[0].String()):
			t.Errorf("user %s outside the coverage: experiment %v, model %s", user, resp.Experiment, resp.ModelID)
		case arm >= 0 && (resp.Experiment == nil || resp.Experiment.ID != "ab1" || resp.Experiment.Arm != e.Arms[arm].Name || resp.ModelID != e.Arms[arm].ModelID):
			t.Errorf("user %s in arm %s: answer %s", user, e.Arms[arm].Name, out)
		case arm == 1 && resp.Policy != "epsilon-greedy":
			t.Errorf("user %s in arm uplift: policy %s", user, resp.Policy)
		}
		if resp.Experiment != nil {
			seen[resp.Experiment.Arm]++
		} else {
			seen[""]++
		}
	}
	if seen["control"] == 0 || seen["uplift"] == 0 || seen[""] == 0 {
		t.Errorf("arms served %v: want users in both arms and outside", seen)
	}
	users, err := st.ExperimentUsers(context.Background(), "ab1")
	if err != nil || len(users) != seen["control"]+seen["uplift"] {
		t.Errorf("roster %d users (%v), want %d", len(users), err, seen["control"]+seen["uplift"])
	}
	var logged int
	err = st.Decisions(context.Background(), "ab1", func(d store.Decision) error {
		if len(d.Candidates) != 3 || len(d.Items) != 2 || d.Propensity[0] <= 0 {
			t.Errorf("logged list %+v", d)
		}
		logged++
		return nil
	})
	if err != nil || logged != seen["control"]+seen["uplift"] {
		t.Errorf("%d lists logged (%v), want %d", logged, err, seen["control"]+seen["uplift"])
	}
	// No report without an analyzer.
	if code, out := do(t, srv, "GET", "/v1/experiments/ab1/report", "tok", nil); code != http.StatusNotImplemented {
		t.Errorf("report without an analyzer: %d %s", code, out)
	}
	code, out = do(t, srv, "POST", "/v1/experiments/ab1/stop", "tok", nil)
	if code != 200 || !strings.Contains(out, `"status":"stopped"`) || !strings.Contains(out, `"stopped_at"`) {
		t.Fatalf("stop: %d %s", code, out)
	}
	if code, out := do(t, srv, "POST", "/v1/recommend", "tok", map[string]any{"user": "user-1"}); code != 200 || strings.Contains(out, `"experiment"`) {
		t.Errorf("recommend after stop: %d %s", code, out)
	}
	if code, out := do(t, srv, "GET", "/v1/experiments/ab1", "tok", nil); code != 200 || !strings.Contains(out, `"stopped"`) {
		t.Errorf("get stopped: %d %s", code, out)
	}
}
