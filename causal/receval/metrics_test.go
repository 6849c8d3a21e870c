package receval

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"

	"github.com/causalrec/causalrec/causal"
)

func TestListMetrics(t *testing.T) {
	for _, tc := range []struct {
		name          string
		tau           []float64
		k             int
		cp, cdcg, car float64
	}{
		{"one", []float64{0.5}, 1, 0.5, 0.5, 0.5},
		// CDCG = 0.3/1 + 0.1/log2(3) − 0.2/2; CAR = 0.3 + 0.2 − 0.6.
		{"three", []float64{0.3, 0.1, -0.2}, 2, 0.2, 0.3 + 0.1/math.Log2(3) - 0.1, -0.1},
		// k beyond the list divides by k all the same.
		{"short", []float64{0.4, 0.2}, 4, 0.15, 0.4 + 0.2/math.Log2(3), 0.8},
		{"empty", nil, 3, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CP(tc.tau, tc.k); !scalar.EqualWithinAbs(got, tc.cp, 1e-12) {
				t.Errorf("CP = %v, want %v", got, tc.cp)
			}
			if got := CDCG(tc.tau); !scalar.EqualWithinAbs(got, tc.cdcg, 1e-12) {
				t.Errorf("CDCG = %v, want %v", got, tc.cdcg)
			}
			if got := CAR(tc.tau); !scalar.EqualWithinAbs(got, tc.car, 1e-12) {
				t.Errorf("CAR = %v, want %v", got, tc.car)
			}
		})
	}
}

func TestIPSEffects(t *testing.T) {
	treated := []int{1, 0, 1, 0, 1}
	p := []float64{0.25, 0.2, 0.01, 0.99, 0.5}
	y := []float64{1, 1, 1, 1, 0}
	got := IPSEffects(nil, treated, p, y, 0)
	want := []float64{4, -1.25, 100, -100, 0}
	for i := range want {
		if !scalar.EqualWithinAbsOrRel(got[i], want[i], 1e-12, 1e-12) {
			t.Errorf("row %d: τ̂ = %v, want %v", i, got[i], want[i])
		}
	}
	got = IPSEffects(got, treated, p, y, 0.1)
	want = []float64{4, -1.25, 10, -10, 0}
	for i := range want {
		if !scalar.EqualWithinAbsOrRel(got[i], want[i], 1e-12, 1e-12) {
			t.Errorf("capped row %d: τ̂ = %v, want %v", i, got[i], want[i])
		}
	}
}

// TestIPSEffectsUnbiased checks E[τ̂] = τ by simulation of one pair.
func TestIPSEffectsUnbiased(t *testing.T) {
	const n = 200000
	rng := rand.New(rand.NewPCG(1, 2))
	p, muT, muC := 0.2, 0.3, 0.1
	tr, pr, y := make([]int, n), make([]float64, n), make([]float64, n)
	for i := range n {
		pr[i] = p
		mu := muC
		if rng.Float64() < p {
			tr[i], mu = 1, muT
		}
		if rng.Float64() < mu {
			y[i] = 1
		}
	}
	var s float64
	for _, v := range IPSEffects(nil, tr, pr, y, 0) {
		s += v
	}
	if got := s / n; math.Abs(got-(muT-muC)) > 0.01 {
		t.Errorf("mean τ̂ = %v, want %v ± 0.01", got, muT-muC)
	}
}

// smallLog is two users with three items each.
func smallLog() *Log {
	return &Log{
		Users: []string{"a", "b"}, Items: []string{"x", "y", "z"},
		User:       []int{0, 0, 0, 1, 1, 1},
		Item:       []int{0, 1, 2, 0, 1, 2},
		Treated:    []int{1, 0, 0, 0, 1, 1},
		Propensity: []float64{0.5, 0.5, 0.25, 0.5, 0.5, 0.25},
		Outcome:    []float64{1, 1, 0, 0, 1, 1},
		Tau:        []float64{0.1, 0.3, -0.2, 0.2, 0, 0.4},
	}
}

func TestEvaluateHand(t *testing.T) {
	l := smallLog()
	score := []float64{3, 2, 1, 1, 2, 3} // user a: x y z; user b: z y x
	rep, err := Evaluate(l, score, 1, causal.Bootstrap{Resamples: 50}, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	// True: user a ranks τ (0.1, 0.3, −0.2), user b (0.4, 0, 0.2).
	l3 := 1 / math.Log2(3)
	wantCP := (0.1 + 0.4) / 2
	wantCDCG := ((0.1 + 0.3*l3 - 0.1) + (0.4 + 0 + 0.1)) / 2
	wantCAR := ((0.1 + 0.6 - 0.6) + (0.4 + 0 + 0.6)) / 2
	// IPS: τ̂ = (2, −2, 0) for a; (0, 2, 4) for b, ranked (4, 2, 0).
	wantICP := (2 + 4) / 2.0
	wantICDCG := ((2 - 2*l3) + (4 + 2*l3)) / 2
	wantICAR := ((2 - 4) + (4 + 4)) / 2.0
	for _, c := range []struct {
		name   string
		got    Metric
		want   float64
		lo, hi float64 // the per-user extremes bound the bootstrap means
	}{
		{"cp", rep.CP, wantCP, 0.1, 0.4},
		{"cdcg", rep.CDCG, wantCDCG, 0.1 + 0.3*l3 - 0.1, 0.5},
		{"car", rep.CAR, wantCAR, 0.1, 1},
		{"ips_cp", rep.IPSCP, wantICP, 2, 4},
		{"ips_cdcg", rep.IPSCDCG, wantICDCG, 2 - 2*l3, 4 + 2*l3},
		{"ips_car", rep.IPSCAR, wantICAR, -2, 8},
	} {
		if !scalar.EqualWithinAbs(c.got.Value, c.want, 1e-12) {
			t.Errorf("%s = %v, want %v", c.name, c.got.Value, c.want)
		}
		if c.got.CI.Lo < c.lo-1e-12 || c.got.CI.Hi > c.hi+1e-12 || c.got.CI.Lo > c.got.CI.Hi {
			t.Errorf("%s interval [%v, %v] is outside [%v, %v]", c.name, c.got.CI.Lo, c.got.CI.Hi, c.lo, c.hi)
		}
	}
	if rep.Users != 2 || !rep.HasTruth || rep.K != 1 {
		t.Errorf("users %d, truth %v, k %d; want 2, true, 1", rep.Users, rep.HasTruth, rep.K)
	}
}

func TestEvaluateNoTruth(t *testing.T) {
	l := smallLog()
	l.Tau = nil
	rep, err := Evaluate(l, make([]float64, 6), 2, causal.Bootstrap{}, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if rep.HasTruth || !math.IsNaN(rep.CP.Value) {
		t.Errorf("without tau: HasTruth %v, CP %v; want false, NaN", rep.HasTruth, rep.CP.Value)
	}
	// Ties keep row order: a ranks (2, −2, 0), b (0, 2, 4).
	if want := (0.0/2 + 2.0/2) / 2; !scalar.EqualWithinAbs(rep.IPSCP.Value, want, 1e-12) {
		t.Errorf("ips cp@2 = %v, want %v", rep.IPSCP.Value, want)
	}
}

func TestEvaluateErrors(t *testing.T) {
	l := smallLog()
	for _, tc := range []struct {
		name  string
		score []float64
		k     int
		boot  causal.Bootstrap
	}{
		{"short", make([]float64, 5), 1, causal.Bootstrap{}},
		{"nan", []float64{0, 0, math.NaN(), 0, 0, 0}, 1, causal.Bootstrap{}},
		{"k", make([]float64, 6), 0, causal.Bootstrap{}},
		{"resamples", make([]float64, 6), 1, causal.Bootstrap{Resamples: 1}},
		{"level", make([]float64, 6), 1, causal.Bootstrap{Level: 1.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Evaluate(l, tc.score, tc.k, tc.boot, rand.NewPCG(1, 1)); !errors.Is(err, ErrInput) {
				t.Errorf("err = %v, want ErrInput", err)
			}
		})
	}
}
