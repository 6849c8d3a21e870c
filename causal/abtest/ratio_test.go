package abtest

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"
	"gonum.org/v1/gonum/stat"
)

func TestRatio(t *testing.T) {
	// By hand: num = 1, 0, 2, 1; den = 2, 1, 4, 1. n̄ = 1, d̄ = 2, R = 0.5;
	// s_n² = 2/3, s_d² = 2, s_nd = (0·0 + (−1)(−1) + 1·2 + 0·(−1))/3 = 1;
	// Var = (2/3 − 1 + 0.5)/(4·4) = (1/6)/16.
	r, err := Ratio([]float64{1, 0, 2, 1}, []float64{2, 1, 4, 1}, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	se := math.Sqrt(1.0 / 6 / 16)
	if !scalar.EqualWithinAbs(r.Value, 0.5, 1e-12) || !scalar.EqualWithinAbs(r.SE, se, 1e-12) || r.Units != 4 || r.Den != 8 ||
		!scalar.EqualWithinAbs(r.CI[1]-r.CI[0], 2*1.959963985*se, 1e-8) {
		t.Errorf("Ratio = %+v, want 0.5 with SE %v", r, se)
	}
	for _, bad := range []struct {
		num, den []float64
		target   error
	}{
		{[]float64{1, 2}, []float64{1}, ErrInput},
		{[]float64{1}, []float64{1}, ErrEmptyArm},
		{[]float64{1, 2}, []float64{0, 0}, ErrInput},
		{[]float64{1, math.NaN()}, []float64{1, 1}, ErrInput},
	} {
		if _, err := Ratio(bad.num, bad.den, 0.05); !errors.Is(err, bad.target) {
			t.Errorf("Ratio(%v, %v) error %v, want %v", bad.num, bad.den, err, bad.target)
		}
	}
}

// TestRatioCoverage: users see a random number of exposures and click
// each with a user-specific rate, so exposures of one user are
// correlated; the delta-method interval must cover the true rate in 0.95
// ± 3 binomial standard errors of the runs.
func TestRatioCoverage(t *testing.T) {
	runs, _ := simSize()
	rng := rand.New(rand.NewPCG(14, 5))
	cover := 0
	var ses, vals []float64
	for range runs {
		num := make([]float64, 1000)
		den := make([]float64, 1000)
		for i := range num {
			den[i] = float64(1 + rng.IntN(9))
			p := 0.1 * rng.Float64() * 2 // mean 0.1, independent of exposures
			for range int(den[i]) {
				if rng.Float64() < p {
					num[i]++
				}
			}
		}
		r, err := Ratio(num, den, 0.05)
		if err != nil {
			t.Fatal(err)
		}
		if r.CI[0] <= 0.1 && 0.1 <= r.CI[1] {
			cover++
		}
		ses = append(ses, r.SE)
		vals = append(vals, r.Value)
	}
	c := float64(cover) / float64(runs)
	t.Logf("ratio: coverage %.3f over %d runs; sd of estimates %.5f, mean SE %.5f", c, runs, stat.StdDev(vals, nil), stat.Mean(ses, nil))
	if !within(c, 0.95, 3*math.Sqrt(0.95*0.05/float64(runs))) {
		t.Errorf("ratio coverage %.3f, want 0.95", c)
	}
}
