package causal

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// calibRCT simulates a randomised experiment with a known effect:
// x ~ N(0, I₃), w ~ Bernoulli(1/2), τ(x) = 0.5 + x₀,
// y = x₁ + w·τ(x) + ε with ε ~ N(0, 1).
func calibRCT(n int, seed uint64) (d CalibrationData, tau []float64) {
	rng := rand.New(rand.NewPCG(seed, 77))
	x := mat.NewDense(n, 3, nil)
	d = CalibrationData{X: x, T: make([]int, n), Y: make([]float64, n)}
	tau = make([]float64, n)
	for i := range n {
		for j := range 3 {
			x.Set(i, j, rng.NormFloat64())
		}
		tau[i] = 0.5 + x.At(i, 0)
		d.T[i] = rng.IntN(2)
		d.Y[i] = x.At(i, 1) + float64(d.T[i])*tau[i] + rng.NormFloat64()
	}
	return d, tau
}

func scaled(v []float64, c float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = c * x
	}
	return out
}

// TestCalibrateKnownEffect: the true effect is calibrated (differential
// coefficient's interval holds 1, p < 0.01); twice the effect has a
// coefficient of 0.5 whose interval does not hold 1.
func TestCalibrateKnownEffect(t *testing.T) {
	d, tau := calibRCT(4000, 1)
	d.Score = tau
	c, err := Calibrate(d, CalibrationConfig{Resamples: 100}, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("score = τ: mean %+v, differential %+v, R² %.3f, AUTOC %+v", c.Mean, c.Differential, c.R2, c.AUTOC)
	if ci := c.Differential.CI; !(ci[0] <= 1 && 1 <= ci[1]) || c.Differential.PValue >= 0.01 {
		t.Errorf("score = τ: differential %+v, want an interval holding 1 and p < 0.01", c.Differential)
	}
	if ci := c.Mean.CI; !(ci[0] <= 1 && 1 <= ci[1]) {
		t.Errorf("score = τ: mean coefficient %+v, want an interval holding 1", c.Mean)
	}
	if c.R2 < 0.8 || c.AUTOC.CI[0] <= 0 || c.Qini.CI[0] <= 0 {
		t.Errorf("score = τ: R² %v, AUTOC %+v, Qini %+v", c.R2, c.AUTOC, c.Qini)
	}
	d.Score = scaled(tau, 2)
	c, err = Calibrate(d, CalibrationConfig{Resamples: 100}, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("score = 2τ: differential %+v, R² %.3f", c.Differential, c.R2)
	if ci := c.Differential.CI; !(ci[0] <= 0.5 && 0.5 <= ci[1]) || ci[1] >= 1 {
		t.Errorf("score = 2τ: differential %+v, want an interval holding 0.5 and not 1", c.Differential)
	}
	if c.R2 > 0.5 {
		t.Errorf("score = 2τ: calibration R² %v, want well below 1", c.R2)
	}
}

// TestCalibrateNoise: a score of pure noise is not significant at 5% in
// at least 90 of 100 seeds.
func TestCalibrateNoise(t *testing.T) {
	const seeds = 100
	significant := 0
	for s := range seeds {
		d, _ := calibRCT(1000, uint64(100+s))
		rng := rand.New(rand.NewPCG(uint64(s), 5))
		d.Score = make([]float64, len(d.T))
		for i := range d.Score {
			d.Score[i] = rng.NormFloat64()
		}
		c, err := Calibrate(d, CalibrationConfig{Resamples: 2, Bins: 4}, rand.NewPCG(uint64(s), 6))
		if err != nil {
			t.Fatal(err)
		}
		if c.Differential.PValue < 0.05 {
			significant++
		}
	}
	t.Logf("noise scores significant at 5%% in %d of %d seeds", significant, seeds)
	if significant > seeds/10 {
		t.Errorf("noise scores significant at 5%% in %d of %d seeds, want at most %d", significant, seeds, seeds/10)
	}
}

// TestBLPTestAgainstOLS checks the coefficients and the HC3 standard
// errors on a small problem computed by hand with gonum's matrices.
func TestBLPTestAgainstOLS(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	n := 50
	yr, wr, tau := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		wr[i] = float64(rng.IntN(2)) - 0.5
		tau[i] = 1 + rng.NormFloat64()
		yr[i] = wr[i]*tau[i] + 0.3*rng.NormFloat64()*(1+math.Abs(tau[i]))
	}
	mean, diff, err := BLPTest(yr, wr, tau, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	var tbar float64
	for _, v := range tau {
		tbar += v / float64(n)
	}
	X := mat.NewDense(n, 2, nil)
	for i := range n {
		X.Set(i, 0, wr[i]*tbar)
		X.Set(i, 1, wr[i]*(tau[i]-tbar))
	}
	var xtx, inv mat.Dense
	xtx.Mul(X.T(), X)
	if err := inv.Inverse(&xtx); err != nil {
		t.Fatal(err)
	}
	var beta mat.VecDense
	var xty mat.VecDense
	xty.MulVec(X.T(), mat.NewVecDense(n, yr))
	beta.MulVec(&inv, &xty)
	var hat mat.Dense
	hat.Product(X, &inv, X.T())
	meat := mat.NewDense(2, 2, nil)
	for i := range n {
		e := yr[i] - mat.Dot(X.RowView(i), &beta)
		u := e * e / math.Pow(1-hat.At(i, i), 2)
		for a := range 2 {
			for b := range 2 {
				meat.Set(a, b, meat.At(a, b)+X.At(i, a)*X.At(i, b)*u)
			}
		}
	}
	var v mat.Dense
	v.Product(&inv, meat, &inv)
	v.Scale(float64(n)/float64(n-1), &v)
	for k, c := range []BLPCoef{mean, diff} {
		if math.Abs(c.Coef-beta.AtVec(k)) > 1e-10 || math.Abs(c.SE-math.Sqrt(v.At(k, k))) > 1e-10 {
			t.Errorf("coefficient %d: %+v, want %v se %v", k, c, beta.AtVec(k), math.Sqrt(v.At(k, k)))
		}
	}
}

// TestRATE checks the definition on a small example with a tie.
func TestRATE(t *testing.T) {
	gamma := []float64{4, 0, 2, -2}
	prio := []float64{3, 1, 2, 2} // order: 0, {2, 3} tied, 1
	// ATE 1. Sorted scores with the tie averaged: 4, 0, 0, 0.
	// TOC: 4−1=3, 2−1=1, 4/3−1=1/3, 1−1=0.
	autoc := (3 + 1 + 1.0/3 + 0) / 4
	qini := (0.25*3 + 0.5*1 + 0.75/3 + 0) / 4
	if got := RATE(gamma, prio, AUTOC); math.Abs(got-autoc) > 1e-12 {
		t.Errorf("AUTOC %v, want %v", got, autoc)
	}
	if got := RATE(gamma, prio, QiniRATE); math.Abs(got-qini) > 1e-12 {
		t.Errorf("QINI %v, want %v", got, qini)
	}
	// A rule ranking by the truth beats its reverse; the paired
	// difference is significant.
	rng := rand.New(rand.NewPCG(4, 4))
	n := 2000
	g, good, bad := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		good[i] = rng.NormFloat64()
		bad[i] = -good[i]
		g[i] = good[i] + 2*rng.NormFloat64()
	}
	r, err := RATEs(g, [][]float64{good, bad}, AUTOC, 200, 0.95, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if r.Estimates[0].CI[0] <= 0 || r.Estimates[1].CI[1] >= 0 || r.Diff[0][1].CI[0] <= 0 {
		t.Errorf("good %+v, bad %+v, difference %+v", r.Estimates[0], r.Estimates[1], r.Diff[0][1])
	}
}
