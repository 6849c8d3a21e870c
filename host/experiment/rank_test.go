package experiment

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

// driftRanker ranks candidates by a per-model preferred item that the test
// moves, as popularity counts and histories move a real model's choice.
// It counts its calls and keeps the relevance weights it was asked for.
type driftRanker struct {
	mu        sync.Mutex
	first     map[uuid.UUID]string
	calls     int
	relevance []float64
}

func (r *driftRanker) set(id uuid.UUID, item string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.first[id] = item
}

func (r *driftRanker) Recommend(_ context.Context, req recommend.Request) (recommend.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.relevance = append(r.relevance, req.RelevanceWeight)
	top := r.first[req.ModelID]
	resp := recommend.Response{User: req.User, Ranker: "uplift:t", ModelID: req.ModelID.String()}
	var rest []recommend.Ranked
	for i, c := range req.Candidates {
		it := recommend.Ranked{Item: c, Score: float64(i) / 10}
		if c == top {
			it.Score = 1
			resp.Items = append(resp.Items, it)
			continue
		}
		rest = append(rest, it)
	}
	resp.Items = append(resp.Items, rest...)
	return resp, nil
}

// weights returns the relevance weights of the calls so far.
func (r *driftRanker) weights() []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.relevance)
}

func (r *driftRanker) nCalls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// captureAnalyzer keeps the data it is given.
type captureAnalyzer struct{ d Data }

func (a *captureAnalyzer) Analyze(_ context.Context, d Data) (Report, error) {
	if d.OPE != nil {
		a.d = d
	}
	return Report{}, nil
}

// The arms rank a list when it is logged, and the report uses those
// rankings, not the arms' rankings at the time of the report: a model whose
// choice moves after the lists were served must not move the report's
// policies. Lists logged without rankings are ranked again at the report.
// The arms rank with the relevance blend the list was served with.
func TestLoggedRankings(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run(fmt.Sprint("async=", async), func(t *testing.T) {
			ctx := context.Background()
			st, served, other := newTestStore(t)
			rk := &driftRanker{first: map[uuid.UUID]string{served: "a", other: "b"}}
			an := &captureAnalyzer{}
			opts := Options{Reports: st, Analyzer: an, Ranker: rk}
			if async {
				opts.LogBuffer = 64
			}
			s := NewService(st, opts)
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- s.Run(rctx) }()
			if _, err := s.Create(ctx, CreateRequest{ID: "ab1", Arms: []ArmRequest{
				{Name: "control", Model: served.String(), Weight: 0.5, Policy: recommend.PolicyEpsilonGreedy, Epsilon: 0.2},
				{Name: "uplift", Model: other.String(), Weight: 0.5}}}); err != nil {
				t.Fatal(err)
			}
			cands := []string{"a", "b", "c"}
			const users = 20
			weight := func(u int) float64 { return float64(u%3) / 4 }
			for u := range users {
				user := fmt.Sprint("u", u)
				r, err := s.Route(ctx, user)
				if err != nil || r == nil || !r.Candidates || len(r.Arms) != 2 {
					t.Fatalf("route %s: %+v, %v", user, r, err)
				}
				req := recommend.Request{User: user, RelevanceWeight: weight(u)}
				r.Apply(&req)
				// The served list's scores rank as the arm's model does
				// (control's prefers a, uplift's b): the served arm's
				// ranking is taken from them, the other arm ranks.
				scores := []float64{1, 0.2, 0.1}
				if r.Arm.Name == "uplift" {
					scores = []float64{0.1, 1, 0.2}
				}
				resp := recommend.Response{RequestID: uuid.NewString(), User: user, Ranker: "uplift:t", Considered: cands,
					ConsideredScores: scores, Items: []recommend.Ranked{{Item: "c", Propensity: 0.5, Position: 1}}}
				if u == users-1 {
					resp.Considered = nil // logged without candidates: nothing to rank
				}
				if err := s.Log(ctx, r, &resp); err != nil {
					t.Fatal(err)
				}
			}
			// Run ranks the lists off the request path; they are all ranked
			// before it stops (a list still queued then is logged unranked).
			for deadline := time.Now().Add(10 * time.Second); rk.nCalls() < users-1 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			logged := rk.nCalls()
			if logged != users-1 {
				t.Errorf("%d rankings when logging, want %d (the arm not served, %d lists with candidates)", logged, users-1, users-1)
			}
			var want []float64
			for u := range users - 1 {
				want = append(want, weight(u))
			}
			got := rk.weights()
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("the arms ranked with relevance weights %v, want the lists' %v", got, want)
			}
			var decs []store.Decision
			if err := st.Decisions(ctx, "ab1", func(d store.Decision) error { decs = append(decs, d); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(decs) != users {
				t.Fatalf("%d lists logged, want %d", len(decs), users)
			}
			for _, d := range decs {
				var ui int
				if _, err := fmt.Sscanf(d.User, "u%d", &ui); err != nil || d.Relevance != weight(ui) {
					t.Errorf("list of %s logged with relevance weight %g, want %g", d.User, d.Relevance, weight(ui))
				}
				if d.Candidates == nil {
					if d.Arms != nil {
						t.Errorf("a list without candidates logged rankings %+v", d.Arms)
					}
					continue
				}
				c, u := d.Arms["control"], d.Arms["uplift"]
				if c.Top != 0 || u.Top != 1 || c.Ranker != "uplift:t" || u.Ranker != "uplift:t" || len(c.Score) != 3 || c.Score[0] != 1 || u.Score[1] != 1 || c.Missing != nil {
					t.Errorf("logged rankings %+v", d.Arms)
				}
			}

			// The models' choices move; the report keeps the logged ones.
			rk.set(served, "c")
			rk.set(other, "c")
			if _, err := s.Report(ctx, "ab1"); err != nil {
				t.Fatal(err)
			}
			if n := rk.nCalls() - logged; n != 0 {
				t.Errorf("the report ranked %d times, want none: every list carries its rankings", n)
			}
			checkTops(t, an.d, map[string]int{"control": 0, "uplift": 1}, 0.2)

			// A list logged without rankings (as before they were logged)
			// is ranked at the report, which says so.
			r, err := s.Route(ctx, "late")
			if err != nil || r == nil {
				t.Fatal(r, err)
			}
			r.Apply(&recommend.Request{User: "late", RelevanceWeight: 0.9})
			st2 := NewService(st, Options{})
			resp := recommend.Response{RequestID: uuid.NewString(), User: "late", Considered: cands,
				Items: []recommend.Ranked{{Item: "a", Propensity: 0.5, Position: 1}}}
			if err := st2.Log(ctx, r, &resp); err != nil {
				t.Fatal(err)
			}
			before := rk.nCalls()
			rep, err := s.Report(ctx, "ab1")
			if err != nil {
				t.Fatal(err)
			}
			if n := rk.nCalls() - before; n != 2 {
				t.Errorf("the report ranked %d times, want 2 (one list, two arms)", n)
			}
			if w := rk.weights()[before:]; !slices.Equal(w, []float64{0.9, 0.9}) {
				t.Errorf("the report ranked the late list with relevance weights %v, want the list's 0.9", w)
			}
			if !slices.ContainsFunc(rep.Warnings, func(w string) bool {
				return w == "ope: 1 logged lists carry no rankings of their time and were ranked again with the models and data of the report's time"
			}) {
				t.Errorf("warnings %q", rep.Warnings)
			}
		})
	}
}

// checkTops checks that every OPE row's target distributions put the
// greedy mass on the candidate at index top[arm] of its list.
func checkTops(t *testing.T, d Data, top map[string]int, eps float64) {
	t.Helper()
	if d.OPE == nil {
		t.Fatal("no OPE data")
	}
	rows := 0
	for _, lg := range d.OPE.Logs {
		for _, e := range d.Experiment.Arms {
			rd := lg.Targets[e.Name]
			for i := 0; i+1 < len(rd.Start); i++ {
				rows++
				p := rd.Prob[rd.Start[i]:rd.Start[i+1]]
				want := 1.0
				if e.Policy == recommend.PolicyEpsilonGreedy {
					want = 1 - eps + eps/float64(len(p))
				}
				if math.Abs(p[top[e.Name]]-want) > 1e-12 {
					t.Errorf("arm %s on a list of %s's log: probabilities %v, want %v at %d", e.Name, lg.Arm, p, want, top[e.Name])
				}
			}
		}
	}
	if rows == 0 {
		t.Error("no OPE rows")
	}
}

func TestPolicyDist(t *testing.T) {
	as := store.ArmScores{Top: 2, Score: []float32{0, 1, 2, 0}, Missing: []int{3}}
	z := math.Exp(-2) + math.Exp(-1) + 1
	tests := []struct {
		name string
		arm  store.ExperimentArm
		as   store.ArmScores
		want []float64
	}{
		{"greedy", store.ExperimentArm{}, as, []float64{0, 0, 1, 0}},
		{"epsilon-greedy", store.ExperimentArm{Policy: recommend.PolicyEpsilonGreedy, Epsilon: 0.4}, as, []float64{0.1, 0.1, 0.7, 0.1}},
		{"plackett-luce leaves the unknown item out", store.ExperimentArm{Policy: recommend.PolicyPlackettLuce, Temperature: 1}, as,
			[]float64{math.Exp(-2) / z, math.Exp(-1) / z, 1 / z, 0}},
		{"no top", store.ExperimentArm{}, store.ArmScores{Top: -1, Score: []float32{0, 0}}, []float64{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := policyDist(tt.arm, tt.as)
			if len(got) != len(tt.want) {
				t.Fatalf("policyDist = %v, want %v", got, tt.want)
			}
			for i := range got {
				if math.Abs(got[i]-tt.want[i]) > 1e-9 {
					t.Fatalf("policyDist = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestArmScores(t *testing.T) {
	resp := recommend.Response{Ranker: "dlce", FallbackReason: "",
		Items: []recommend.Ranked{{Item: "c", Score: 3}, {Item: "a", Score: math.Inf(1)}, {Item: "zz", Score: 9}}}
	got := armScores(resp, []string{"a", "b", "c"})
	if got.Ranker != "dlce" || got.Top != 2 || got.Score[0] != math.MaxFloat32 || got.Score[2] != 3 || !slices.Equal(got.Missing, []int{1}) || got.Fallback {
		t.Errorf("armScores = %+v", got)
	}
	resp = recommend.Response{Ranker: "popularity", FallbackReason: "down", Items: []recommend.Ranked{{Item: "zz"}}}
	if got := armScores(resp, []string{"a"}); got.Top != -1 || !got.Fallback || !slices.Equal(got.Missing, []int{0}) {
		t.Errorf("armScores = %+v", got)
	}
}

func TestServedScores(t *testing.T) {
	tests := []struct {
		name   string
		cands  []string
		scores []float64
		top    int
		ok     bool
	}{
		{"highest", []string{"a", "b", "c"}, []float64{0.1, 0.3, 0.2}, 1, true},
		{"ties by item id", []string{"c", "a", "b"}, []float64{0.5, 0.5, 0.1}, 1, true},
		{"no scores", []string{"a", "b"}, nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as, ok := servedScores(&recommend.Response{Ranker: "dlce", Considered: tt.cands, ConsideredScores: tt.scores})
			if ok != tt.ok || (ok && (as.Top != tt.top || as.Ranker != "dlce" || len(as.Score) != len(tt.cands))) {
				t.Errorf("servedScores = %+v, %v; want top %d, %v", as, ok, tt.top, tt.ok)
			}
		})
	}
}
