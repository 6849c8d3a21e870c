package abtest

import (
	"math"
	"slices"
)

// Holm adjusts the p-values p for multiple testing by Holm's step-down
// method (Holm 1979), which controls the family-wise error rate without
// assumptions on the dependence between the tests. With the m p-values
// sorted ascending, p_(1) ≤ … ≤ p_(m),
//
//	p̃_(i) = min(1, max_{j ≤ i} (m − j + 1)·p_(j)),
//
// and the adjusted p-values are returned in the order of p. A NaN p-value
// counts as 1. The result is stored in dst, allocated when nil; Holm
// panics if dst is not nil and its length differs from p's.
func Holm(dst, p []float64) []float64 {
	if dst == nil {
		dst = make([]float64, len(p))
	}
	if len(dst) != len(p) {
		panic("abtest: Holm: length mismatch")
	}
	m := len(p)
	order := make([]int, m)
	for i := range order {
		order[i] = i
	}
	val := func(i int) float64 {
		if math.IsNaN(p[i]) {
			return 1
		}
		return p[i]
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch va, vb := val(a), val(b); {
		case va < vb:
			return -1
		case va > vb:
			return 1
		}
		return 0
	})
	running := 0.0
	for rank, i := range order {
		running = math.Max(running, math.Min(1, float64(m-rank)*val(i)))
		dst[i] = running
	}
	return dst
}

// HolmAcross sets PValueHolm of every comparison of every report by one
// Holm correction over all of them: pass one report per metric (the
// primary metric and the guardrails of an experiment) to control the
// family-wise error rate across arms and metrics. Analyze already applies
// it to its own report (across arms).
// The sequential p-values get their own correction in
// SequentialPValueHolm.
func HolmAcross(reports ...*Report) {
	var p, sp []float64
	for _, r := range reports {
		for _, c := range r.Comparisons {
			p = append(p, c.PValue)
			sp = append(sp, c.SequentialPValue)
		}
	}
	adj, sadj := Holm(nil, p), Holm(nil, sp)
	k := 0
	for _, r := range reports {
		for i := range r.Comparisons {
			r.Comparisons[i].PValueHolm = adj[k]
			r.Comparisons[i].SequentialPValueHolm = sadj[k]
			k++
		}
	}
}
