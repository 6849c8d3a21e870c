package causal

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// slowGBT boosts for a million rounds: minutes on any data, so a time
// budget of a few linear fits always stops it.
var slowGBT = TLearner{Base: GBT{MaxIter: 1_000_000, LearningRate: 1e-4, MaxDepth: 2, EarlyStopping: EarlyStoppingOff}}

// budgetAnchor is the first candidate of the budget tests, fitted on
// budgetRows rows with selection on 1,000: boosting, whose fit time grows
// with the rows, so that on all rows it takes about ten times its
// cross-fitting on the subsample and the budget leaves time to start the
// candidates after it.
var budgetAnchor = NamedEstimator{Name: "t/gbt", Estimator: TLearner{Base: GBT{MaxIter: 200, MaxDepth: 3, EarlyStopping: EarlyStoppingOff}}}

const budgetRows = 40000

// TestAutoBudgetStopsSlowCandidate: on more rows than the selection uses,
// a candidate whose cross-fitting would take far past the budget is
// stopped and reported as skipped, the ones after it are not started, and
// the anchor (the first candidate, fitted on all rows before the
// selection) is chosen without a second fit.
func TestAutoBudgetStopsSlowCandidate(t *testing.T) {
	d, _ := autoTestData(budgetRows, 3, 21)
	a := AutoEstimator{
		Candidates: []NamedEstimator{
			budgetAnchor,
			{Name: "slow", Estimator: slowGBT},
			{Name: "x/linear", Estimator: XLearner{}},
		},
		MaxRows:  1000,
		Nuisance: Linear{},
		Combine:  AutoSelect,
		Budget:   3,
	}
	m, err := a.Fit(d, rand.NewPCG(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("anchor %.3fs on all rows, %.3fs cross-fitting; slow candidate %.3fs; fit %.3fs", m.BudgetUnit, m.Scores[0].Seconds, m.Scores[1].Seconds, m.Seconds)
	if m.Chosen != "t/gbt" || m.Budget != 3 || !(m.BudgetUnit > 0) {
		t.Fatalf("chose %s, budget %v × %vs", m.Chosen, m.Budget, m.BudgetUnit)
	}
	if s := m.Scores[1]; !strings.Contains(s.Skipped, "over the time budget") || s.Err != "" {
		t.Errorf("slow candidate: %+v", s)
	}
	if s := m.Scores[2]; !strings.Contains(s.Skipped, "not started") {
		t.Errorf("candidate after the budget was spent: %+v", s)
	}
	if m.Scores[0].RefitSeconds != m.BudgetUnit {
		t.Errorf("anchor refit %vs, its fit before the selection %vs: fitted twice", m.Scores[0].RefitSeconds, m.BudgetUnit)
	}
	rep := m.Report()
	if !strings.Contains(rep["auto_budget"], "skipped: slow,x/linear") || !strings.HasPrefix(rep["auto_loss.slow"], "skipped: stopped after") ||
		rep["auto_tried"] != "t/gbt" || !strings.Contains(rep["auto_reason"], "2 of 3 candidates skipped") {
		t.Errorf("report: budget %q, slow %q, tried %q, reason %q", rep["auto_budget"], rep["auto_loss.slow"], rep["auto_tried"], rep["auto_reason"])
	}
	v := reload(t, m)
	if got := v.(*AutoModel).Scores[1].Skipped; got != m.Scores[1].Skipped {
		t.Errorf("skipped reason after a round trip %q, want %q", got, m.Scores[1].Skipped)
	}
}

// TestAutoBudgetStack: under a budget the combination (a stack, or the
// single choice) reuses the anchor's fit and leaves out the skipped
// candidate.
func TestAutoBudgetStack(t *testing.T) {
	d, _ := autoTestData(budgetRows, 3, 22)
	a := AutoEstimator{
		Candidates: []NamedEstimator{
			budgetAnchor,
			{Name: "x/linear", Estimator: XLearner{}},
			{Name: "slow", Estimator: slowGBT},
		},
		MaxRows:  1000,
		Nuisance: Linear{},
		Budget:   3,
	}
	m, err := a.Fit(d, rand.NewPCG(3, 4))
	if err != nil {
		t.Fatal(err)
	}
	if m.Scores[2].Skipped == "" {
		t.Errorf("slow candidate not skipped: %+v", m.Scores[2])
	}
	if m.Scores[0].RefitSeconds != m.BudgetUnit {
		t.Errorf("anchor refit %vs, its fit before the selection %vs", m.Scores[0].RefitSeconds, m.BudgetUnit)
	}
	if st, ok := m.Unwrap().(*StackModel); ok {
		for _, mem := range st.Members {
			if mem.Name == "slow" {
				t.Error("the skipped candidate is a stack member")
			}
		}
	}
}

// TestAutoBudgetSmallData: on no more than ten times the selection rows
// the budget plays no part, and the fit is the same with and without it.
func TestAutoBudgetSmallData(t *testing.T) {
	d, _ := autoTestData(600, 3, 23)
	for _, rows := range []string{"20000", "600", "60"} {
		fit := func(budget string) *AutoModel {
			return fitAuto(t, d, map[string]string{"candidates": "x/linear,s/linear,t/linear", "nuisance": "linear", "seed": "3", "select_rows": rows, "budget": budget})
		}
		on, off := fit("3"), fit("off")
		if on.Budget != 0 || on.BudgetUnit != 0 || on.Report()["auto_budget"] != "" {
			t.Errorf("select_rows=%s: budget recorded: %v, %v", rows, on.Budget, on.Report()["auto_budget"])
		}
		if !mat.Equal(on.Effects(nil, d.X), off.Effects(nil, d.X)) || on.Chosen != off.Chosen || on.Scores[0].Name != "x/linear" {
			t.Errorf("select_rows=%s: fits differ: %s against %s, first tried %s", rows, on.Chosen, off.Chosen, on.Scores[0].Name)
		}
	}
}

func TestParseAutoBudget(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"3", 3, true}, {"1.5", 1.5, true}, {"off", 0, true}, {" OFF ", 0, true}, {"0", 0, true},
		{"1", 0, false}, {"0.5", 0, false}, {"-2", 0, false}, {"NaN", 0, false}, {"inf", 0, false}, {"", 0, false}, {"fast", 0, false},
	} {
		got, err := ParseAutoBudget(tc.in)
		if tc.ok != (err == nil) || (err == nil && got != tc.want) {
			t.Errorf("ParseAutoBudget(%q) = %v, %v", tc.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrParam) {
			t.Errorf("ParseAutoBudget(%q): error %v does not wrap ErrParam", tc.in, err)
		}
	}
}

// TestAutoByCost: the default candidates sorted by cost start with the
// linear learners and end with the networks, and keep their order within
// a rank.
func TestAutoByCost(t *testing.T) {
	specs := DefaultAutoCandidatesFor(20000, true)
	sorted := autoByCost(specs)
	if len(sorted) != len(specs) {
		t.Fatalf("%d candidates sorted, %d given", len(sorted), len(specs))
	}
	if !slices.IsSortedFunc(sorted, func(a, b AutoCandidate) int { return autoCostRank(a) - autoCostRank(b) }) {
		t.Error("not sorted by rank")
	}
	var names []string
	for _, c := range sorted {
		names = append(names, c.Name)
	}
	if names[0] != "t/linear" || names[1] != "x/linear" || names[len(names)-1] != "dragonnet" || names[len(names)-2] != "tarnet" {
		t.Errorf("order %v", names)
	}
	for _, c := range sorted {
		if strings.Contains(c.Name, "propensity=gbt") && autoCostRank(c) == 0 {
			t.Errorf("%s ranks with the linear learners", c.Name)
		}
	}
}
