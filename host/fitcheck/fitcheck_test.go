package fitcheck

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/plugins"
	"github.com/causalrec/causalrec/plugins/builtin/estimator"
)

// request draws a randomised trial with arms treated arms and 3 features
// x_j ~ U(−1, 1): y = x_1 + Σ_k 1{t=k}·k·x_2 + N(0, 1), or y = 1 for every
// row when flat.
func request(n, arms int, flat bool, seed uint64) plugins.FitRequest {
	rng := rand.New(rand.NewPCG(seed, 1))
	req := plugins.FitRequest{Arms: []string{"control"}, X: make([]float64, 0, 3*n), Arm: make([]int, n), Outcome: make([]float64, n)}
	for k := 1; k <= arms; k++ {
		req.Arms = append(req.Arms, "arm"+string(rune('0'+k)))
	}
	for _, name := range []string{"x1", "x2", "x3"} {
		req.Features = append(req.Features, plugins.Feature{Name: name, Kind: plugins.Numeric})
	}
	for i := range n {
		x := []float64{2*rng.Float64() - 1, 2*rng.Float64() - 1, 2*rng.Float64() - 1}
		req.X = append(req.X, x...)
		req.Arm[i] = rng.IntN(arms + 1)
		req.Outcome[i] = x[0] + float64(req.Arm[i])*x[1] + rng.NormFloat64()
		if flat {
			req.Outcome[i] = 1
		}
	}
	return req
}

func TestCheck(t *testing.T) {
	p := estimator.New(causal.NewRegistry(), "test")
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		estimator string
		params    map[string]string
		n, arms   int
		flat      bool
		want      []bool
		streamed  bool // the check reads the rows through FillX
	}{
		// An outcome that never varies: every learner fits a constant,
		// the boosted trees grow none.
		{"flat/t-gbt", "t", map[string]string{"base": "gbt"}, 2000, 1, true, []bool{true}, false},
		{"flat/dr-gbt", "dr", map[string]string{"base": "gbt"}, 2000, 1, true, []bool{true}, false},
		{"flat/x-gbt/2 arms", "x", map[string]string{"base": "gbt"}, 2000, 2, true, []bool{true, true}, false},
		// Effects that vary with x_2 are learned.
		{"varying/t-linear", "t", map[string]string{"base": "linear"}, 2000, 1, false, []bool{false}, false},
		{"varying/t-gbt/2 arms", "t", map[string]string{"base": "gbt"}, 6000, 2, false, []bool{false, false}, false},
		// More rows than MaxRows: the check predicts a sample.
		{"varying/t-linear/large", "t", map[string]string{"base": "linear"}, 12000, 1, false, []bool{false}, false},
		{"varying/t-linear/large/streamed", "t", map[string]string{"base": "linear"}, 12000, 1, false, []bool{false}, true},
		{"flat/t-gbt/streamed", "t", map[string]string{"base": "gbt"}, 2000, 1, true, []bool{true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request(tc.n, tc.arms, tc.flat, 1)
			req.Estimator, req.Params = tc.estimator, tc.params
			fit, err := p.Fit(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			x := req.X
			if tc.streamed {
				req.X, req.FillX = nil, func(dst []float64, start, end int) { copy(dst, x[3*start:3*end]) }
			}
			rep, err := Check(ctx, p, req, fit.Model)
			if err != nil {
				t.Fatal(err)
			}
			// The same rows written on demand (FillX, no X) give the
			// same report.
			lazy := req
			lazy.X, lazy.FillX = nil, func(dst []float64, start, end int) { copy(dst, x[start*3:end*3]) }
			if again, err := Check(ctx, p, lazy, fit.Model); err != nil || again.Rows != rep.Rows || !slices.Equal(again.Constant, rep.Constant) {
				t.Fatalf("with FillX: %+v, %v; with X: %+v", again, err, rep)
			}
			if rep.Rows != min(tc.n, MaxRows) || len(rep.Constant) != tc.arms {
				t.Fatalf("report of %d rows, %d arms; want %d and %d", rep.Rows, len(rep.Constant), min(tc.n, MaxRows), tc.arms)
			}
			for k, want := range tc.want {
				if rep.Constant[k] != want {
					t.Errorf("arm %d: constant %v, want %v", k+1, rep.Constant[k], want)
				}
			}
			meta, w := rep.Metadata(), rep.Warning()
			if tc.flat {
				if !strings.Contains(w, "one constant uplift") || meta["warning"] != w || len(strings.Split(meta["constant_effect"], ",")) != tc.arms {
					t.Errorf("warning %q, metadata %v", w, meta)
				}
			} else if w != "" || meta != nil {
				t.Errorf("warning %q, metadata %v for a model that learned", w, meta)
			}
		})
	}
}

func TestCheckEmpty(t *testing.T) {
	rep, err := Check(context.Background(), nil, plugins.FitRequest{}, nil)
	if err != nil || rep.Any() || rep.Warning() != "" || rep.Metadata() != nil {
		t.Errorf("empty request: %+v, %v", rep, err)
	}
}

// A streamed table (X nil, FillX set, as training sends large tables)
// gives the report the whole matrix gives.
func TestCheckStreamed(t *testing.T) {
	p := estimator.New(causal.NewRegistry(), "test")
	ctx := context.Background()
	req := request(7000, 1, false, 2)
	req.Estimator, req.Params = "t", map[string]string{"base": "linear"}
	fit, err := p.Fit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := Check(ctx, p, req, fit.Model)
	if err != nil {
		t.Fatal(err)
	}
	x, d := req.X, len(req.Features)
	req.X = nil
	req.FillX = func(dst []float64, start, end int) { copy(dst, x[start*d:end*d]) }
	streamed, err := Check(ctx, p, req, fit.Model)
	if err != nil {
		t.Fatal(err)
	}
	if streamed.Rows != whole.Rows || streamed.Constant[0] != whole.Constant[0] || streamed.Rows != MaxRows {
		t.Errorf("streamed %+v, whole %+v", streamed, whole)
	}
}
