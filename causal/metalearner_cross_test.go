package causal

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// metaConfounded draws an observational design with confounding through
// x0 and x1:
//
//	x ~ N(0, I_4),  e(x) = σ(0.8·x0 − 0.5·x1),  t ~ Bernoulli(e(x)),
//	y = x0 + 2·x1 + 0.5·x2 + t·τ(x) + N(0, 1),  τ(x) = 1 + 2·x0,
//
// and returns the data (with the true propensity of the received arm in
// logged) and τ at each row.
func metaConfounded(n int, seed uint64) (d UpliftData, logged []float64, tau *mat.Dense) {
	rng := rand.New(rand.NewPCG(seed, 2))
	x := mat.NewDense(n, 4, nil)
	t := make([]int, n)
	y := make([]float64, n)
	logged = make([]float64, n)
	tau = mat.NewDense(n, 1, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < 4; j++ {
			x.Set(i, j, rng.NormFloat64())
		}
		x0, x1, x2 := x.At(i, 0), x.At(i, 1), x.At(i, 2)
		e := sigmoid(0.8*x0 - 0.5*x1)
		tau.Set(i, 0, 1+2*x0)
		y[i] = x0 + 2*x1 + 0.5*x2 + rng.NormFloat64()
		logged[i] = 1 - e
		if rng.Float64() < e {
			t[i] = 1
			y[i] += tau.At(i, 0)
			logged[i] = e
		}
	}
	return UpliftData{X: x, Treatment: t, Arms: 1, Y: y}, logged, tau
}

func TestCrossFitLearnersRecoverLinearCATE(t *testing.T) {
	d, logged, tau := metaConfounded(6000, 1)
	dl := d
	dl.Propensity = logged
	for _, tc := range []struct {
		name string
		est  UpliftEstimator
		d    UpliftData
	}{
		{"r", RLearner{}, d},
		{"dr", DRLearner{}, d},
		{"dr/logged", DRLearner{}, dl},
		{"r/logged", RLearner{Folds: 3}, dl},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.est.FitUplift(tc.d, rand.NewPCG(7, 7))
			if err != nil {
				t.Fatal(err)
			}
			got := m.Effects(nil, d.X)
			if e := metaRMSE(got, tau); e > 0.15 {
				t.Errorf("effect RMSE = %.3f, want < 0.15", e)
			}
			var lm *LinearModel
			switch m := m.(type) {
			case *RModel:
				lm = m.Tau[0].Model.(*LinearModel)
			case *DRModel:
				lm = m.Tau[0].Model.(*LinearModel)
			}
			want := []float64{2, 0, 0, 0}
			if math.Abs(lm.Intercept-1) > 0.15 {
				t.Errorf("effect intercept = %.3f, want 1", lm.Intercept)
			}
			for j, c := range lm.Coef {
				if math.Abs(c-want[j]) > 0.15 {
					t.Errorf("effect coefficient %d = %.3f, want %v", j, c, want[j])
				}
			}
			metaRoundTrip(t, m, d.X)
		})
	}
}

func TestTLearnerBiasedBaselineOnConfounded(t *testing.T) {
	// The S-learner with a linear base has a constant effect, so it cannot
	// recover τ(x) = 1 + 2·x0: the recovery test above can fail.
	d, _, tau := metaConfounded(6000, 1)
	m, err := SLearner{}.FitUplift(d, rand.NewPCG(7, 7))
	if err != nil {
		t.Fatal(err)
	}
	if e := metaRMSE(m.Effects(nil, d.X), tau); e < 1 {
		t.Errorf("S-learner effect RMSE = %.3f, want ≥ 1 (no interactions)", e)
	}
}

func TestMetaLearnersRandomisedMultiArm(t *testing.T) {
	d, tau := metaRandomised(6000, 3, 2, 1, 4)
	for _, tc := range []struct {
		name string
		est  UpliftEstimator
	}{
		{"t", TLearner{}},
		{"x", XLearner{}},
		{"r", RLearner{}},
		{"dr", DRLearner{Folds: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.est.FitUplift(d, rand.NewPCG(3, 3))
			if err != nil {
				t.Fatal(err)
			}
			got := m.Effects(nil, d.X)
			if e := metaRMSE(got, tau); e > 0.15 {
				t.Errorf("effect RMSE = %.3f, want < 0.15", e)
			}
			metaRoundTrip(t, m, d.X)
			// Deterministic for a given seed.
			again, err := tc.est.FitUplift(d, rand.NewPCG(3, 3))
			if err != nil {
				t.Fatal(err)
			}
			if !mat.Equal(again.Effects(nil, d.X), got) {
				t.Errorf("refit with the same seed gives different effects")
			}
		})
	}
}

func TestCrossFitSeedMatters(t *testing.T) {
	d, _, _ := metaConfounded(500, 3)
	a, err := DRLearner{}.FitUplift(d, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := DRLearner{}.FitUplift(d, rand.NewPCG(2, 1))
	if err != nil {
		t.Fatal(err)
	}
	if mat.Equal(a.Effects(nil, d.X), b.Effects(nil, d.X)) {
		t.Errorf("different seeds gave identical cross-fitted effects")
	}
}

func TestMetaLearnerParamErrors(t *testing.T) {
	d, _, _ := metaConfounded(200, 3)
	for _, tc := range []struct {
		name string
		est  UpliftEstimator
	}{
		{"r folds", RLearner{Folds: 1}},
		{"dr clip", DRLearner{Clip: 0.5}},
		{"x clip", XLearner{Clip: -0.1}},
		{"t outcome", TLearner{Outcome: OutcomeTask(7)}},
		{"dr outcome", DRLearner{Outcome: ClassificationOutcome}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.est.FitUplift(d, rand.NewPCG(1, 1))
			if !errors.Is(err, ErrParam) && !errors.Is(err, ErrInput) {
				t.Fatalf("err = %v, want a parameter or input error", err)
			}
		})
	}
}

func TestAIPWScores(t *testing.T) {
	y := []float64{3, 1, 2, 0}
	tr := []float64{1, 0, 1, 0}
	mu0 := []float64{1, 1.5, 0, 0.5}
	mu1 := []float64{2, 2, 1, 1}
	e := []float64{0.5, 0.25, 0.8, 0.6}
	// φ = μ1 − μ0 + t(y−μ1)/e − (1−t)(y−μ0)/(1−e), by hand:
	want := []float64{
		2 - 1 + (3-2)/0.5,      // 3
		2 - 1.5 - (1-1.5)/0.75, // 0.5 + 2/3
		1 - 0 + (2-1)/0.8,      // 2.25
		1 - 0.5 - (0-0.5)/0.4,  // 1.75
	}
	got := AIPWScores(nil, y, tr, mu0, mu1, e)
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("φ[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestMeanSE(t *testing.T) {
	x := []float64{1, 2, 3, 6}
	m, se := MeanSE(x, nil)
	// mean 3, sample variance (4+1+0+9)/3 = 14/3, se = sqrt(14/3/4).
	if math.Abs(m-3) > 1e-12 || math.Abs(se-math.Sqrt(14.0/12)) > 1e-12 {
		t.Errorf("MeanSE = %v, %v, want 3, %v", m, se, math.Sqrt(14.0/12))
	}
	// Weights: mean (1+2+6+12)/6 = 3.5; se² = 4/3·Σw²(x−m)²/6².
	w := []float64{1, 1, 2, 2}
	m, se = MeanSE([]float64{1, 2, 3, 6}, w)
	ss := 2.5*2.5 + 1.5*1.5 + 4*0.5*0.5 + 4*2.5*2.5
	if want := math.Sqrt(4.0 / 3 * ss / 36); math.Abs(m-3.5) > 1e-12 || math.Abs(se-want) > 1e-12 {
		t.Errorf("weighted MeanSE = %v, %v, want 3.5, %v", m, se, want)
	}
	if _, se := MeanSE([]float64{1}, nil); !math.IsNaN(se) {
		t.Errorf("se of one value = %v, want NaN", se)
	}
}

func TestATE(t *testing.T) {
	d, logged, _ := metaConfounded(20000, 5)
	naive, err := ATE(d, ATEOptions{Randomised: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	aipw, err := ATE(d, ATEOptions{}, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	dl := d
	dl.Propensity = logged
	oracle, err := ATE(dl, ATEOptions{}, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("naive %.3f±%.3f, aipw %.3f±%.3f, logged-propensity aipw %.3f±%.3f",
		naive[0].Effect, naive[0].SE, aipw[0].Effect, aipw[0].SE, oracle[0].Effect, oracle[0].SE)
	// The true ATE is E[1 + 2·x0] = 1. Confounding biases the naive
	// difference far beyond its standard error.
	if math.Abs(naive[0].Effect-1) < 5*naive[0].SE {
		t.Errorf("naive difference %.3f±%.3f is not biased: the design is not confounded", naive[0].Effect, naive[0].SE)
	}
	for _, est := range []ATEEstimate{aipw[0], oracle[0]} {
		if math.Abs(est.Effect-1) > 3.5*est.SE || est.SE > 0.05 || est.SE <= 0 {
			t.Errorf("AIPW %.3f±%.3f, want 1 within 3.5 SE", est.Effect, est.SE)
		}
		lo, hi := est.Interval(0.95)
		if math.Abs((hi-lo)/2-1.959963984540054*est.SE) > 1e-9 {
			t.Errorf("interval half-width %v, want 1.96·SE", (hi-lo)/2)
		}
	}
}

func TestATERandomisedMatchesDiffInMeans(t *testing.T) {
	d, _ := metaRandomised(3000, 2, 2, 1, 6)
	got, err := ATE(d, ATEOptions{Randomised: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// ATE = ȳ_k − ȳ_0, SE = sqrt(s_k²/n_k + s_0²/n_0), computed directly.
	for k := 1; k <= 2; k++ {
		var n, s, ss [2]float64
		for i, tr := range d.Treatment {
			g := -1
			switch tr {
			case 0:
				g = 0
			case k:
				g = 1
			}
			if g >= 0 {
				n[g]++
				s[g] += d.Y[i]
				ss[g] += d.Y[i] * d.Y[i]
			}
		}
		var v [2]float64
		for g := range v {
			v[g] = (ss[g] - s[g]*s[g]/n[g]) / (n[g] - 1)
		}
		ate := s[1]/n[1] - s[0]/n[0]
		se := math.Sqrt(v[1]/n[1] + v[0]/n[0])
		if got[k-1].Arm != k || math.Abs(got[k-1].Effect-ate) > 1e-9 || math.Abs(got[k-1].SE-se) > 1e-9 || got[k-1].N != int(n[0]+n[1]) {
			t.Errorf("arm %d: got %+v, want %v±%v", k, got[k-1], ate, se)
		}
	}
	// In a randomised trial AIPW agrees with the truth, E[τ_k] = k.
	aipw, err := ATE(d, ATEOptions{Folds: 3}, rand.NewPCG(2, 2))
	if err != nil {
		t.Fatal(err)
	}
	for k, est := range aipw {
		if math.Abs(est.Effect-float64(k+1)) > 3.5*est.SE {
			t.Errorf("arm %d: AIPW %.3f±%.3f, want %d", k+1, est.Effect, est.SE, k+1)
		}
		if est.SE >= got[k].SE {
			t.Errorf("arm %d: AIPW SE %.4f not below difference-in-means SE %.4f despite predictive x", k+1, est.SE, got[k].SE)
		}
	}
}

func TestMetaLearnersCategorical(t *testing.T) {
	// Column 0 is a category code whose effect is not monotone in the
	// code: τ = 1, 2, 0.5 for codes 0, 1, 2, plus 0.5·x1.
	rng := rand.New(rand.NewPCG(12, 1))
	n := 6000
	x := mat.NewDense(n, 2, nil)
	tr := make([]int, n)
	y := make([]float64, n)
	tau := mat.NewDense(n, 1, nil)
	level := []float64{1, 2, 0.5}
	for i := 0; i < n; i++ {
		c := rng.IntN(3)
		x1 := rng.NormFloat64()
		x.Set(i, 0, float64(c))
		x.Set(i, 1, x1)
		tau.Set(i, 0, level[c]+0.5*x1)
		tr[i] = rng.IntN(2)
		y[i] = float64(c) + x1 + rng.NormFloat64()
		if tr[i] == 1 {
			y[i] += tau.At(i, 0)
		}
	}
	d := UpliftData{X: x, Treatment: tr, Arms: 1, Y: y, Categorical: []bool{true, false}}
	numeric := d
	numeric.Categorical = nil
	for _, est := range []UpliftEstimator{TLearner{}, XLearner{}, RLearner{}, DRLearner{}} {
		m, err := est.FitUplift(d, rand.NewPCG(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		mn, err := est.FitUplift(numeric, rand.NewPCG(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		e, en := metaRMSE(m.Effects(nil, x), tau), metaRMSE(mn.Effects(nil, x), tau)
		if e > 0.15 || en < 0.4 {
			t.Errorf("%T: effect RMSE %.3f with categorical encoding (want < 0.15), %.3f treating codes as numbers (want ≥ 0.4)", est, e, en)
		}
		metaRoundTrip(t, m, x)
	}
}

// crossFitPlans plans, on arm 1 of d, the four cross-fits of auto's
// nuisances (propensity, outcome, control and treated outcomes) with l,
// drawing the seeds from a generator seeded with seed.
func crossFitPlans(tb testing.TB, d UpliftData, l Learner, seed uint64) []*crossFit {
	tb.Helper()
	a := metaSplitArm(d, 1)
	rng := rand.New(rand.NewPCG(seed, 3))
	f := metaFolds(a.t, 3, rng)
	var plans []*crossFit
	for _, c := range []struct {
		y       []float64
		include func(r int) bool
		task    Task
	}{
		{a.t, nil, Classification},
		{a.y, nil, Regression},
		{a.y, func(r int) bool { return a.t[r] == 0 }, Regression},
		{a.y, func(r int) bool { return a.t[r] == 1 }, Regression},
	} {
		p, err := planCrossFit("", l, a.x, c.y, a.w, f, 3, c.include, c.task, rng, nil)
		if err != nil {
			tb.Fatal(err)
		}
		plans = append(plans, p)
	}
	return plans
}

// TestRunCrossFitsConcurrentIsSerial checks that fitting the folds of
// several cross-fits concurrently gives exactly the predictions of
// fitting them one at a time.
func TestRunCrossFitsConcurrentIsSerial(t *testing.T) {
	d, _, _ := metaConfounded(3000, 7)
	for _, l := range []Learner{Linear{}, GBT{MaxDepth: 2, MaxIter: 30}} {
		serial := crossFitPlans(t, d, l, 1)
		if err := runCrossFits(1, serial...); err != nil {
			t.Fatal(err)
		}
		conc := crossFitPlans(t, d, l, 1)
		if err := runCrossFits(4, conc...); err != nil {
			t.Fatal(err)
		}
		for p := range serial {
			for i, v := range serial[p].out {
				if conc[p].out[i] != v {
					t.Fatalf("%T: fit %d row %d: concurrent %v, serial %v", l, p, i, conc[p].out[i], v)
				}
			}
		}
		other := crossFitPlans(t, d, l, 2)
		if err := runCrossFits(4, other...); err != nil {
			t.Fatal(err)
		}
		if _, ok := l.(GBT); ok && other[1].out[0] == conc[1].out[0] {
			t.Errorf("%T: another seed gave the same outcome prediction %v", l, other[1].out[0])
		}
	}
}

// failFold is a Learner whose fit fails on training sets of one size.
type failFold struct {
	Linear
	rows int
}

func (l failFold) Fit(x *mat.Dense, y, w []float64, task Task, src rand.Source) (Model, error) {
	if n, _ := x.Dims(); n == l.rows {
		return nil, errors.New("planted failure")
	}
	return l.Linear.Fit(x, y, w, task, src)
}

// panicFold is a Learner whose fit panics on training sets of one size.
type panicFold struct {
	Linear
	rows int
}

func (l panicFold) Fit(x *mat.Dense, y, w []float64, task Task, src rand.Source) (Model, error) {
	if n, _ := x.Dims(); n == l.rows {
		panic("planted panic")
	}
	return l.Linear.Fit(x, y, w, task, src)
}

// TestRunCrossFitsReportsFirstError checks that a failing fold is named,
// with the fit it belongs to, and that stopped fits report the stop.
func TestRunCrossFitsReportsFirstError(t *testing.T) {
	d, _, _ := metaConfounded(900, 3)
	plans := crossFitPlans(t, d, Linear{}, 1)
	// The outcome fit's fold 1 trains on the rows outside fold 1.
	train := len(plans[1].folds[1].train)
	plans = crossFitPlans(t, d, failFold{rows: train}, 1)
	for i, p := range plans {
		p.what = []string{"propensity", "outcome", "control", "treated"}[i]
	}
	// The first failing fold in plan and fold order is the one reported.
	want := ""
	for _, p := range plans {
		for _, fo := range p.folds {
			if want == "" && len(fo.train) == train {
				want = p.what + ": fold " + strconv.Itoa(fo.f) + ": planted failure"
			}
		}
	}
	err := runCrossFits(0, plans...)
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}

	// A panic on a fold's goroutine is that fold's error.
	plans = crossFitPlans(t, d, panicFold{rows: train}, 1)
	plans[1].what = "outcome"
	if err := runCrossFits(4, plans[1]); err == nil || err.Error() != "outcome: fold 1: panic: planted panic" {
		t.Fatalf("panicking fold: %v", err)
	}

	stop := errors.New("enough")
	src := WithStop(rand.NewPCG(1, 1), func() error { return stop })
	a := metaSplitArm(d, 1)
	rng := rand.New(rand.NewPCG(1, 3))
	f := metaFolds(a.t, 3, rng)
	_, err = metaCrossFit(Linear{}, a.x, a.y, a.w, f, 3, nil, Regression, rng, src)
	if !errors.Is(err, ErrStopped) || !errors.Is(err, stop) {
		t.Fatalf("stopped cross-fit: %v, want ErrStopped wrapping the stop", err)
	}
}

// BenchmarkAutoNuisanceFolds times auto's four nuisance cross-fits (three
// folds each, its default shallow boosting) on 20,000 rows of the
// reference data, fitted one fold at a time (workers=1) and concurrently.
func BenchmarkAutoNuisanceFolds(b *testing.B) {
	d := SimulateReference(20000, rand.NewPCG(1, 2))
	for _, w := range []int{1, 0} {
		name := "workers=gomaxprocs"
		if w == 1 {
			name = "workers=1"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := runCrossFits(w, crossFitPlans(b, d, autoNuisanceGBT, 1)...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
