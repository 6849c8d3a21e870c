package causal

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
)

// progressLog records the calls of a progress callback.
type progressLog struct {
	mu    sync.Mutex
	calls [][2]int
}

func (l *progressLog) report(done, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, [2]int{done, total})
}

// check reports whether the calls came in order (done rising, total the
// same) and ended at the total, and returns the total.
func (l *progressLog) check(t *testing.T) int {
	t.Helper()
	if len(l.calls) == 0 {
		t.Fatal("no progress reported")
	}
	total := l.calls[0][1]
	for i, c := range l.calls {
		if c[1] != total {
			t.Fatalf("call %d: total %d, the first call's %d (calls %v)", i, c[1], total, l.calls)
		}
		if c[0] < 1 || c[0] > total || (i > 0 && c[0] <= l.calls[i-1][0]) {
			t.Fatalf("call %d: done %d after %v of total %d: out of order", i, c[0], l.calls[max(0, i-1)], total)
		}
	}
	if last := l.calls[len(l.calls)-1]; last[0] != total {
		t.Fatalf("last call %v does not end at the total", last)
	}
	return total
}

// TestWithProgress fits every kind of estimator with a progress callback:
// the calls come in order and end at the estimator's total (so nested fits,
// such as a T-learner's boosted base learners, report nothing), and the
// model is the one fitted without the callback.
func TestWithProgress(t *testing.T) {
	d := SimulateReference(600, rand.NewPCG(1, 2))
	dl := d
	dl.Propensity = make([]float64, len(d.Y))
	for i := range dl.Propensity {
		dl.Propensity[i] = 0.5
	}
	reg := NewRegistry()
	for _, tc := range []struct {
		name   string
		params map[string]string
		data   UpliftData
		total  int // 0: nothing reported; -1: any total
	}{
		{"causal-forest", map[string]string{"trees": "20"}, d, 20 + 2*50},
		{"causal-forest", map[string]string{"trees": "20", "seed": "4"}, dl, 20 + 2*50},
		{"uplift-forest", map[string]string{"trees": "6", "depth": "3"}, d, 6},
		{"t", map[string]string{"base": "gbt", "trees": "7"}, d, 2},
		{"t", map[string]string{}, d, 2},
		{"x", map[string]string{"base": "forest", "trees": "3"}, d, 5},
		{"r", map[string]string{"folds": "2"}, d, 3},
		{"dr", map[string]string{"folds": "2", "base": "gbt", "trees": "5"}, d, 3},
		{"s", map[string]string{"base": "gbt", "trees": "9"}, d, 9},
		{"outcome", map[string]string{"base": "forest", "trees": "4"}, d, 4},
		{"tarnet", map[string]string{"epochs": "4", "nets": "2", "hidden": "8", "head_hidden": "4"}, d, 8},
		{"dragonnet", map[string]string{"epochs": "3", "hidden": "8", "head_hidden": "4"}, d, 3 * DefaultNets(len(d.Y))},
		{"s", map[string]string{"base": "mlp", "epochs": "5", "hidden": "8"}, d, 5},
		{"dlce", map[string]string{"epochs": "3"}, d, 3},
		{"auto", map[string]string{"candidates": "t,s", "folds": "2"}, d, 4},
		{"bootstrap", map[string]string{"of": "t", "replicates": "3"}, d, 4},
		{"uplift-tree", map[string]string{"depth": "3"}, d, 0},
		{"s", map[string]string{}, d, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			est, err := reg.NewEstimator(tc.name, tc.params)
			if err != nil {
				t.Fatal(err)
			}
			var log progressLog
			got, err := est.FitUplift(tc.data, WithProgress(rand.NewPCG(3, 4), log.report))
			if err != nil {
				t.Fatal(err)
			}
			switch tc.total {
			case 0:
				if len(log.calls) != 0 {
					t.Fatalf("reported %v, want nothing", log.calls)
				}
			default:
				if total := log.check(t); total != tc.total {
					t.Fatalf("total %d, want %d", total, tc.total)
				}
			}
			want, err := est.FitUplift(tc.data, rand.NewPCG(3, 4))
			if err != nil {
				t.Fatal(err)
			}
			ge, we := got.Effects(nil, tc.data.X), want.Effects(nil, tc.data.X)
			n, k := ge.Dims()
			for i := range n {
				for j := range k {
					if ge.At(i, j) != we.At(i, j) {
						t.Fatalf("row %d arm %d: effect %v with progress, %v without", i, j, ge.At(i, j), we.At(i, j))
					}
				}
			}
		})
	}
}

// TestWithProgressStop stops a fit from its progress callback: WithStop
// and WithProgress compose in either order.
func TestWithProgressStop(t *testing.T) {
	d := SimulateReference(400, rand.NewPCG(5, 6))
	est := UpliftForest{Trees: 40, Workers: 1}
	for _, stopFirst := range []bool{false, true} {
		calls := 0
		stopErr := errors.New("enough")
		stop := func() error {
			if calls >= 3 {
				return stopErr
			}
			return nil
		}
		report := func(done, total int) { calls++ }
		src := rand.Source(rand.NewPCG(7, 8))
		if stopFirst {
			src = WithProgress(WithStop(src, stop), report)
		} else {
			src = WithStop(WithProgress(src, report), stop)
		}
		_, err := est.FitUplift(d, src)
		if !errors.Is(err, ErrStopped) || !errors.Is(err, stopErr) {
			t.Fatalf("stop first %v: got %v, want ErrStopped and the stop's error", stopFirst, err)
		}
		if calls < 3 || calls >= 40 {
			t.Fatalf("stop first %v: %d reports, want the fit stopped after 3", stopFirst, calls)
		}
	}
}
