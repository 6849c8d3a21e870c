package experiment

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/redistest"
	"github.com/causalrec/causalrec/host/store"
)

// newTestStore returns a store on the real Redis under a prefix of the
// test's own, holding two models, one served under "default".
func newTestStore(t *testing.T) (*store.Store, uuid.UUID, uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	st, err := store.New(redistest.Client(t), store.Options{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	var ids [2]uuid.UUID
	for i := range ids {
		if ids[i], err = st.SaveModel(ctx, store.ModelRecord{Name: "default", Estimator: "t", Bytes: []byte{1}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetServing(ctx, "default", ids[0]); err != nil {
		t.Fatal(err)
	}
	return st, ids[0], ids[1]
}

func ptr[T any](v T) *T { return &v }

func TestBuild(t *testing.T) {
	ctx := context.Background()
	st, served, other := newTestStore(t)
	arms := func(w0, w1 float64) []ArmRequest {
		return []ArmRequest{{Name: "control", Model: "default", Weight: w0}, {Name: "uplift", Model: other.String(), Weight: w1}}
	}
	tests := []struct {
		name string
		req  CreateRequest
		want string // substring of the error; "" for none
	}{
		{"defaults", CreateRequest{ID: "ab1", Arms: arms(0.5, 0.5)}, ""},
		{"bad id", CreateRequest{ID: "a b", Arms: arms(0.5, 0.5)}, `id "a b"`},
		{"one arm", CreateRequest{ID: "x", Arms: arms(1, 0)[:1]}, "at least 2"},
		{"weights", CreateRequest{ID: "x", Arms: arms(0.5, 0.6)}, "sum to 1.1"},
		{"zero weight", CreateRequest{ID: "x", Arms: arms(1, 0)}, `arm "uplift": weight 0`},
		{"duplicate", CreateRequest{ID: "x", Arms: []ArmRequest{{Name: "a", Model: "default", Weight: 0.5}, {Name: "a", Model: "default", Weight: 0.5}}}, `"a" is used twice`},
		{"missing model id", CreateRequest{ID: "x", Arms: []ArmRequest{{Name: "a", Model: "default", Weight: 0.5}, {Name: "b", Model: uuid.NewString(), Weight: 0.5}}}, "does not exist"},
		{"unknown serving name", CreateRequest{ID: "x", Arms: []ArmRequest{{Name: "a", Model: "nosuch", Weight: 0.5}, {Name: "b", Model: "default", Weight: 0.5}}}, `"nosuch" is neither`},
		{"no model", CreateRequest{ID: "x", Arms: []ArmRequest{{Name: "a", Weight: 0.5}, {Name: "b", Model: "default", Weight: 0.5}}}, "model is required"},
		{"policy", CreateRequest{ID: "x", Arms: []ArmRequest{{Name: "a", Model: "default", Weight: 0.5, Policy: "epsilon-greedy"}, {Name: "b", Model: "default", Weight: 0.5}}}, `arm "a": bad request: epsilon-greedy needs epsilon`},
		{"coverage", CreateRequest{ID: "x", Arms: arms(0.5, 0.5), Coverage: ptr(0.0)}, "coverage 0"},
		{"namespace", CreateRequest{ID: "x", Arms: arms(0.5, 0.5), Namespace: &[2]float64{0.5, 0.5}}, "namespace [0.5, 0.5)"},
		{"metric", CreateRequest{ID: "x", Arms: arms(0.5, 0.5), Metric: "revenue"}, `unknown metric "revenue"`},
		{"guardrail", CreateRequest{ID: "x", Arms: arms(0.5, 0.5), Guardrails: []string{"latency"}}, `unknown guardrail metric "latency"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Build(ctx, tt.req, st, time.Unix(100, 0))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if e.Salt != "ab1" || e.Coverage != 1 || e.Namespace != [2]float64{0, 1} || e.Metric != "outcomes" ||
					e.Status != "running" || e.Arms[0].ModelID != served.String() || e.Arms[1].ModelID != other.String() {
					t.Errorf("Build = %+v", e)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrBadRequest) {
				t.Errorf("Build error %v, want a bad request containing %q", err, tt.want)
			}
		})
	}
}

// Two services (two replicas) over one store route every user alike, a
// user keeps the arm recorded first, and users outside the coverage or
// the namespace are in no experiment.
func TestRoute(t *testing.T) {
	ctx := context.Background()
	st, _, other := newTestStore(t)
	a, b := NewService(st, Options{}), NewService(st, Options{Refresh: time.Hour})
	e, err := a.Create(ctx, CreateRequest{ID: "ab1", Coverage: ptr(0.6), Namespace: &[2]float64{0, 0.5}, Arms: []ArmRequest{
		{Name: "control", Model: "default", Weight: 0.5},
		{Name: "uplift", Model: other.String(), Weight: 0.5, Policy: "epsilon-greedy", Epsilon: 0.2}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Create(ctx, CreateRequest{ID: "ab2", Namespace: &[2]float64{0.4, 1}, Arms: []ArmRequest{
		{Name: "x", Model: "default", Weight: 0.5}, {Name: "y", Model: "default", Weight: 0.5}}}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("overlapping create: %v, want ErrConflict", err)
	}
	arms := map[string]int{}
	for i := range 400 {
		user := fmt.Sprintf("u%d-ü", i)
		ra, err := a.Route(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.Route(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		inside := InNamespace(e, Position("", user)) && Position(e.Salt, user) < 0.6
		if (ra != nil) != inside || (rb != nil) != inside {
			t.Fatalf("user %q: routes %v and %v, in the experiment %v", user, ra, rb, inside)
		}
		if ra == nil {
			continue
		}
		if ra.Arm.Name != rb.Arm.Name || ra.ModelID != rb.ModelID {
			t.Fatalf("user %q: replicas disagree: %+v vs %+v", user, ra, rb)
		}
		arms[ra.Arm.Name]++
		req := recommend.Request{User: user, Policy: "greedy"}
		ra.Apply(&req)
		if req.ModelID != ra.ModelID || (ra.Arm.Name == "uplift") != (req.Policy == "epsilon-greedy") {
			t.Errorf("Apply: %+v for arm %+v", req, ra.Arm)
		}
	}
	if arms["control"] < 20 || arms["uplift"] < 20 {
		t.Errorf("arms %v: want both used", arms)
	}
	// The recorded arm stands even where the hash says otherwise: a user
	// the hash puts in control, recorded in uplift, is served uplift.
	pinned := ""
	for i := 0; pinned == ""; i++ {
		u := fmt.Sprint("pinned-", i)
		if InNamespace(e, Position("", u)) && ArmOf(e, Position(e.Salt, u)) == 0 {
			pinned = u
		}
	}
	if _, err := st.Assign(ctx, "ab1", pinned, "uplift", time.Now()); err != nil {
		t.Fatal(err)
	}
	if r, err := NewService(st, Options{}).Route(ctx, pinned); err != nil || r == nil || r.Arm.Name != "uplift" {
		t.Errorf("Route(%q) = %+v, %v; want the recorded arm uplift", pinned, r, err)
	}
	users, err := st.ExperimentUsers(ctx, "ab1")
	if want := arms["control"] + arms["uplift"] + 1; err != nil || len(users) != want {
		t.Errorf("roster has %d users (%v), want %d", len(users), err, want)
	}
	// Stopped, it routes no one.
	if _, err := a.Stop(ctx, "ab1"); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if r, err := a.Route(ctx, fmt.Sprintf("u%d-ü", i)); r != nil || err != nil {
			t.Fatalf("stopped experiment routed: %+v, %v", r, err)
		}
	}
}

// With LogBuffer, Log hands the lists to Run, which writes them all, the
// last ones when its context ends.
func TestLogAsync(t *testing.T) {
	ctx := context.Background()
	st, _, _ := newTestStore(t)
	const n = 300
	s := NewService(st, Options{LogBuffer: n})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	r := &Route{Experiment: "ab1", Arm: store.ExperimentArm{Name: "uplift"}}
	for i := range n {
		resp := recommend.Response{RequestID: fmt.Sprint("r", i), User: "u", Considered: []string{"a", "b"},
			Items: []recommend.Ranked{{Item: "b", Propensity: 0.9}}}
		if err := s.Log(ctx, r, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.Experiment == nil || resp.Experiment.Arm != "uplift" {
			t.Fatalf("Log did not name the experiment: %+v", resp.Experiment)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var got int
	if err := st.Decisions(ctx, "ab1", func(d store.Decision) error { got++; return nil }); err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Errorf("%d lists logged, want %d", got, n)
	}
}

// BenchmarkRouteAndLog is the work an experiment adds to a list once the
// user's assignment is known: route, apply, and hand the list to the log
// writer (drained by Run, as in serve).
func BenchmarkRouteAndLog(b *testing.B) {
	ctx := context.Background()
	st, err := store.New(redistest.Client(b), store.Options{Prefix: redistest.Prefix(b)})
	if err != nil {
		b.Fatal(err)
	}
	id, err := st.SaveModel(ctx, store.ModelRecord{Name: "default", Estimator: "t", Bytes: []byte{1}})
	if err != nil {
		b.Fatal(err)
	}
	s := NewService(st, Options{LogBuffer: 8192, Refresh: time.Hour})
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = s.Run(rctx) }()
	if _, err := s.Create(ctx, CreateRequest{ID: "bench", Arms: []ArmRequest{{Name: "a", Model: id.String(), Weight: 0.5},
		{Name: "b", Model: id.String(), Weight: 0.5, Policy: "epsilon-greedy", Epsilon: 0.1}}}); err != nil {
		b.Fatal(err)
	}
	users := make([]string, 2000)
	for i := range users {
		users[i] = fmt.Sprint("u", i)
		if _, err := s.Route(ctx, users[i]); err != nil {
			b.Fatal(err)
		}
	}
	items := make([]recommend.Ranked, 10)
	for i := range items {
		items[i] = recommend.Ranked{Item: fmt.Sprint("i", i), Propensity: 0.9, Position: i + 1}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r, err := s.Route(ctx, users[i%len(users)])
		if err != nil || r == nil {
			b.Fatal(r, err)
		}
		req := recommend.Request{User: users[i%len(users)]}
		r.Apply(&req)
		resp := recommend.Response{RequestID: "r", User: req.User, Items: items}
		if err := s.Log(ctx, r, &resp); err != nil {
			b.Fatal(err)
		}
	}
}
