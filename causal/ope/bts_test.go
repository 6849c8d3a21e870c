package ope

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBernoulliTS checks the Monte Carlo list distribution against exact
// values: with two actions the first position holds action 0 with
// probability P(θ0 > θ1), which for Beta(2,1) against Beta(1,1) (θ0 has
// density 2x) is ∫ 2x·x dx = 2/3.
func TestBernoulliTS(t *testing.T) {
	prob, err := BernoulliTS([]float64{2, 1}, []float64{1, 1}, 2, 200000, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(prob[0][0]-2.0/3) > 0.005 || math.Abs(prob[1][1]-2.0/3) > 0.005 {
		t.Errorf("prob %v, want position 0 action 0 and position 1 action 1 at 2/3", prob)
	}
	for k, row := range prob {
		if s := row[0] + row[1]; math.Abs(s-1) > 1e-12 {
			t.Errorf("position %d sums to %v", k, s)
		}
	}
	if _, err := BernoulliTS([]float64{1}, []float64{1, 2}, 1, 10, rand.NewPCG(1, 1)); err == nil {
		t.Error("mismatched priors accepted")
	}
	if _, err := BernoulliTS([]float64{1, 1}, []float64{1, 0}, 1, 10, rand.NewPCG(1, 1)); err == nil {
		t.Error("Beta(1, 0) accepted")
	}
	if _, err := BernoulliTS([]float64{1, 1}, []float64{1, 1}, 3, 10, rand.NewPCG(1, 1)); err == nil {
		t.Error("3 positions for 2 actions accepted")
	}
}
