package main

import (
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// spreadRate returns the share of trials in which the largest of draws
// independent σ²χ²_k variates exceeds limit times their median: how
// often a cell's "no draw above 3× its median" check fails for an
// estimator whose test MSE is σ²χ²_k over the draws. With k = 1 that is
// an estimator of one number, for example the constant effect of setup C
// (τ = 1), whose error is one normal deviate.
func spreadRate(k float64, draws, trials int, limit float64, src rand.Source) float64 {
	chi := distuv.ChiSquared{K: k, Src: src}
	v := make([]float64, draws)
	over := 0
	for range trials {
		for i := range v {
			v[i] = chi.Rand()
		}
		if _, spread := spreadOf(v); spread > limit {
			over++
		}
	}
	return float64(over) / float64(trials)
}

// TestSpreadRate checks the figures docs/estimators.md quotes for the
// grid's spread check (go test ./bench/uplift/nie_wager -run SpreadRate -v
// prints them): with 10 draws, a χ²_1 error fails it about 90% of the
// time, a χ²_10 error about 3%.
func TestSpreadRate(t *testing.T) {
	for _, c := range []struct{ k, lo, hi float64 }{
		{1, 0.87, 0.93},
		{2, 0.64, 0.72},
		{5, 0.19, 0.27},
		{10, 0.015, 0.05},
	} {
		got := spreadRate(c.k, 10, 40000, 3, rand.NewPCG(1, uint64(c.k)))
		t.Logf("k=%v: P(max > 3·median of 10 draws) = %.3f", c.k, got)
		if got < c.lo || got > c.hi {
			t.Errorf("k=%v: rate %.3f, want within [%v, %v]", c.k, got, c.lo, c.hi)
		}
	}
}
