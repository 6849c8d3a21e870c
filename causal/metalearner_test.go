package causal

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// metaRandomised draws a randomised trial with K treated arms (equal
// shares), p standard-normal features and outcome
//
//	y = x0 + 0.5·x1 + τ_t(x) + N(0, noise²),  τ_k(x) = k·(1 + 2·x1) − (k−1)·x0,
//
// and returns the data and the true n×K effects.
func metaRandomised(n, p, arms int, noise float64, seed uint64) (UpliftData, *mat.Dense) {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := mat.NewDense(n, p, nil)
	t := make([]int, n)
	y := make([]float64, n)
	tau := mat.NewDense(n, arms, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < p; j++ {
			x.Set(i, j, rng.NormFloat64())
		}
		x0, x1 := x.At(i, 0), x.At(i, 1)
		for k := 1; k <= arms; k++ {
			tau.Set(i, k-1, float64(k)*(1+2*x1)-float64(k-1)*x0)
		}
		t[i] = rng.IntN(arms + 1)
		y[i] = x0 + 0.5*x1 + noise*rng.NormFloat64()
		if t[i] > 0 {
			y[i] += tau.At(i, t[i]-1)
		}
	}
	return UpliftData{X: x, Treatment: t, Arms: arms, Y: y}, tau
}

// metaRMSE is the root mean squared difference of two n×K matrices.
func metaRMSE(a, b *mat.Dense) float64 {
	var d mat.Dense
	d.Sub(a, b)
	r, c := d.Dims()
	n := mat.Norm(&d, 2)
	if r*c == 0 {
		return 0
	}
	return n / math.Sqrt(float64(r*c))
}

// metaRoundTrip saves and reloads m and checks the effects are identical.
func metaRoundTrip(t *testing.T, m UpliftModel, x *mat.Dense) {
	t.Helper()
	v := reload(t, m.(Kinded))
	got, want := v.(UpliftModel).Effects(nil, x), m.Effects(nil, x)
	if !mat.Equal(got, want) {
		t.Fatalf("effects differ after reload")
	}
}

func TestTLearnerRecoversLinearEffects(t *testing.T) {
	for _, arms := range []int{1, 2} {
		d, tau := metaRandomised(3000, 4, arms, 1, uint64(arms))
		m, err := TLearner{}.FitUplift(d, rand.NewPCG(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		got := m.Effects(nil, d.X)
		if r, c := got.Dims(); r != 3000 || c != arms {
			t.Fatalf("effects are %d×%d, want 3000×%d", r, c, arms)
		}
		if e := metaRMSE(got, tau); e > 0.15 {
			t.Errorf("arms=%d: effect RMSE = %.3f, want < 0.15", arms, e)
		}
		metaRoundTrip(t, m, d.X)
	}
}

func TestTLearnerReferenceDesign(t *testing.T) {
	d := SimulateReference(40000, rand.NewPCG(3, 3))
	m, err := TLearner{}.FitUplift(d, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	got := m.Effects(nil, d.X)
	want := mat.NewDense(40000, 1, ReferenceEffects(nil, d.X))
	// The constant true average effect is the baseline to beat.
	var mean float64
	for _, v := range want.RawMatrix().Data {
		mean += v / 40000
	}
	flat := mat.NewDense(40000, 1, nil)
	for i := 0; i < 40000; i++ {
		flat.Set(i, 0, mean)
	}
	e, base := metaRMSE(got, want), metaRMSE(flat, want)
	t.Logf("effect RMSE %.4f, constant-ATE RMSE %.4f", e, base)
	if e > 0.025 || e > base/2 {
		t.Errorf("effect RMSE = %.4f, want < 0.025 and < half the constant-ATE RMSE %.4f", e, base)
	}
	metaRoundTrip(t, m, d.X)
}

func TestSLearnerConstantEffect(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	n, arms := 3000, 2
	x := mat.NewDense(n, 3, nil)
	tr := make([]int, n)
	y := make([]float64, n)
	for i := 0; i < n; i++ {
		for j := 0; j < 3; j++ {
			x.Set(i, j, rng.NormFloat64())
		}
		tr[i] = rng.IntN(arms + 1)
		y[i] = x.At(i, 0) - x.At(i, 2) + 0.7*float64(tr[i]) + rng.NormFloat64()
	}
	d := UpliftData{X: x, Treatment: tr, Arms: arms, Y: y}
	m, err := SLearner{}.FitUplift(d, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	got := m.Effects(nil, x)
	for k := 0; k < arms; k++ {
		want := 0.7 * float64(k+1)
		for i := 0; i < n; i++ {
			if math.Abs(got.At(i, k)-want) > 0.1 {
				t.Fatalf("arm %d row %d: effect %v, want about %v", k+1, i, got.At(i, k), want)
			}
		}
	}
	metaRoundTrip(t, m, x)
}

func TestMetaCheckErrors(t *testing.T) {
	good, _ := metaRandomised(20, 2, 1, 1, 9)
	for _, tc := range []struct {
		name string
		edit func(d *UpliftData)
	}{
		{"no arms", func(d *UpliftData) { d.Arms = 0 }},
		{"arm out of range", func(d *UpliftData) { d.Treatment = append([]int{5}, d.Treatment[1:]...) }},
		{"short y", func(d *UpliftData) { d.Y = d.Y[1:] }},
		{"nan y", func(d *UpliftData) { d.Y = append([]float64{math.NaN()}, d.Y[1:]...) }},
		{"short weights", func(d *UpliftData) { d.Weights = []float64{1} }},
		{"bad propensity", func(d *UpliftData) { d.Propensity = make([]float64, 20) }},
		{"empty control", func(d *UpliftData) { d.Treatment = make([]int, 20); d.Treatment[0] = 0; d.Arms = 2 }},
		{"nil x", func(d *UpliftData) { d.X = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := good
			d.Treatment = append([]int(nil), good.Treatment...)
			tc.edit(&d)
			for _, est := range []UpliftEstimator{TLearner{}, SLearner{}} {
				if _, err := est.FitUplift(d, rand.NewPCG(1, 1)); err == nil {
					t.Errorf("%T: no error", est)
				}
			}
		})
	}
}
