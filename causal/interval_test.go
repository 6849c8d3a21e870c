package causal

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

func TestBootstrappedIntervals(t *testing.T) {
	x := mat.NewDense(3, 4, []float64{0, 0, 0, 0, 1, 1, 0, 0, 0, -1, 1, 0})
	// τ(x) = 1 + 2·x_1.
	truth := []float64{1, 3, -1}
	widths := map[int]float64{}
	for _, n := range []int{400, 1600} {
		d, _ := autoTestData(n, 4, uint64(n))
		for _, method := range []IntervalMethod{PercentileInterval, NormalInterval} {
			t.Run(fmt.Sprintf("n=%d/%s", n, method), func(t *testing.T) {
				m, err := Bootstrapped{Estimator: TLearner{}, B: 60, Method: method}.Fit(d, rand.NewPCG(5, 6))
				if err != nil {
					t.Fatal(err)
				}
				eff := m.Effects(nil, x)
				lo, hi := m.Intervals(nil, nil, x, 0.95)
				for i := range truth {
					e, l, h := eff.At(i, 0), lo.At(i, 0), hi.At(i, 0)
					if !(l < e && e < h) {
						t.Errorf("row %d: estimate %v outside [%v, %v]", i, e, l, h)
					}
					// A 95% interval misses a fixed truth rarely;
					// allow 5 standard widths before failing.
					if w := h - l; truth[i] < l-2*w || truth[i] > h+2*w {
						t.Errorf("row %d: truth %v far outside [%v, %v]", i, truth[i], l, h)
					}
				}
				if method == NormalInterval {
					// Normal intervals are symmetric about the estimate.
					for i := range truth {
						if d := (hi.At(i, 0) - eff.At(i, 0)) - (eff.At(i, 0) - lo.At(i, 0)); math.Abs(d) > 1e-9 {
							t.Errorf("row %d: asymmetric normal interval", i)
						}
					}
					widths[n] = hi.At(0, 0) - lo.At(0, 0)
				}
				// A lower level gives a narrower interval.
				lo90, hi90 := m.Intervals(nil, nil, x, 0.5)
				if !(hi90.At(0, 0)-lo90.At(0, 0) < hi.At(0, 0)-lo.At(0, 0)) {
					t.Error("50% interval not narrower than 95%")
				}
			})
		}
	}
	// The width shrinks like 1/√n: 4× the rows, about half the width.
	if r := widths[400] / widths[1600]; r < 1.4 || r > 2.8 {
		t.Errorf("width ratio n=400 / n=1600 = %v, want about 2", r)
	}
}

// TestBootstrappedCoverage checks the coverage of the normal interval of
// a difference in means (a T-learner over a constant model) over repeated
// trials.
func TestBootstrappedCoverage(t *testing.T) {
	const trials = 40
	x := mat.NewDense(1, 1, []float64{0})
	covered := 0
	for s := 0; s < trials; s++ {
		rng := rand.New(rand.NewPCG(uint64(s), 99))
		n := 200
		d := UpliftData{X: mat.NewDense(n, 1, nil), Treatment: make([]int, n), Arms: 1, Y: make([]float64, n)}
		for i := 0; i < n; i++ {
			d.Treatment[i] = i % 2
			d.Y[i] = 0.5*float64(d.Treatment[i]) + rng.NormFloat64()
		}
		// A linear model on a zero column fits each arm's mean.
		m, err := Bootstrapped{Estimator: TLearner{}, B: 40, Method: NormalInterval}.Fit(d, rand.NewPCG(uint64(s), 1))
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := m.Intervals(nil, nil, x, 0.9)
		if lo.At(0, 0) <= 0.5 && 0.5 <= hi.At(0, 0) {
			covered++
		}
	}
	// 90% nominal: P(Binomial(40, 0.9) < 30) ≈ 0.002.
	if covered < 30 {
		t.Errorf("covered %d of %d, want about 36", covered, trials)
	}
}

func TestBootstrappedRoundTripAndErrors(t *testing.T) {
	d, _ := autoTestData(300, 3, 21)
	est, err := NewRegistry().NewEstimator("bootstrap", map[string]string{"of": "dr", "base": "linear", "folds": "2", "replicates": "5", "interval": "normal", "seed": "3"})
	if err != nil {
		t.Fatal(err)
	}
	fit, err := est.FitUplift(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := fit.(*BootstrappedModel)
	if len(m.Replicates) != 5 || m.Method != "normal" {
		t.Fatalf("model has %d replicates, method %q", len(m.Replicates), m.Method)
	}
	v := reload(t, m)
	m2 := v.(IntervalModel)
	lo1, hi1 := m.Intervals(nil, nil, d.X, 0.9)
	lo2, hi2 := m2.Intervals(nil, nil, d.X, 0.9)
	if !mat.Equal(m.Effects(nil, d.X), m2.Effects(nil, d.X)) || !mat.Equal(lo1, lo2) || !mat.Equal(hi1, hi2) {
		t.Error("effects or intervals differ after a save/load round trip")
	}
	// Normal width is 2·z·sd of the replicate effects.
	reps := make([]float64, len(m.Replicates))
	for r, rm := range m.Replicates {
		reps[r] = rm.Effects(nil, d.X).At(0, 0)
	}
	z := distuv.UnitNormal.Quantile(0.95)
	if got, want := hi1.At(0, 0)-lo1.At(0, 0), 2*z*intervalSD(reps); math.Abs(got-want) > 1e-9 {
		t.Errorf("normal width %v, want %v", got, want)
	}

	for _, bad := range []map[string]string{
		{"of": "nosuch"},
		{"of": "bootstrap"},
		{"replicates": "1"},
		{"interval": "bca"},
		{"of": "t", "criterion": "KL"},
	} {
		if _, err := NewRegistry().NewEstimator("bootstrap", bad); !errors.Is(err, ErrParam) {
			t.Errorf("params %v: err = %v, want ErrParam", bad, err)
		}
	}
	if _, err := (Bootstrapped{Estimator: TLearner{}, B: 1}).Fit(d, rand.NewPCG(1, 1)); !errors.Is(err, ErrParam) {
		t.Errorf("B=1: err = %v, want ErrParam", err)
	}
	if _, err := Unmarshal([]byte(`{"format":1,"kind":"bootstrap","payload":{"method":"normal"}}`)); !errors.Is(err, ErrFormat) {
		t.Errorf("empty bootstrap model: err = %v, want ErrFormat", err)
	}
}

// An uplift-tree/forest (binary outcome) can be bootstrapped too.
func TestBootstrappedUpliftForest(t *testing.T) {
	d := SimulateReference(2000, rand.NewPCG(1, 2))
	est, err := NewRegistry().NewEstimator("bootstrap", map[string]string{"of": "uplift-forest", "trees": "5", "depth": "3", "replicates": "4", "seed": "1"})
	if err != nil {
		t.Fatal(err)
	}
	fit, err := est.FitUplift(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := fit.(IntervalModel).Intervals(nil, nil, d.X, 0.9)
	for i := 0; i < 20; i++ {
		if !(lo.At(i, 0) <= hi.At(i, 0)) {
			t.Fatalf("row %d: lo %v > hi %v", i, lo.At(i, 0), hi.At(i, 0))
		}
	}
}

func ExampleBootstrapped() {
	// y = 2·t + ε: the effect is 2 for everyone.
	rng := rand.New(rand.NewPCG(1, 2))
	n := 400
	d := UpliftData{X: mat.NewDense(n, 1, nil), Treatment: make([]int, n), Arms: 1, Y: make([]float64, n)}
	for i := 0; i < n; i++ {
		d.X.Set(i, 0, rng.NormFloat64())
		d.Treatment[i] = i % 2
		d.Y[i] = 2*float64(d.Treatment[i]) + d.X.At(i, 0) + rng.NormFloat64()
	}
	m, err := Bootstrapped{Estimator: TLearner{}, B: 100}.Fit(d, rand.NewPCG(3, 4))
	if err != nil {
		fmt.Println(err)
		return
	}
	x := mat.NewDense(1, 1, []float64{0})
	lo, hi := m.Intervals(nil, nil, x, 0.95)
	fmt.Printf("effect %.1f, 95%% interval contains 2: %v\n", m.Effects(nil, x).At(0, 0), lo.At(0, 0) < 2 && 2 < hi.At(0, 0))
	// Output:
	// effect 2.1, 95% interval contains 2: true
}
