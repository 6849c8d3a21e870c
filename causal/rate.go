package causal

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// RATETarget is the weighting of the rank-weighted average treatment
// effect.
type RATETarget int

const (
	// AUTOC weighs every q equally: the area under the TOC curve.
	AUTOC RATETarget = iota
	// QiniRATE weighs q by q: the Qini coefficient of the TOC curve.
	QiniRATE
)

// String returns "AUTOC" or "QINI".
func (t RATETarget) String() string {
	if t == QiniRATE {
		return "QINI"
	}
	return "AUTOC"
}

// RATEEstimate is a RATE (or a difference of two) with its half-sample
// bootstrap standard error and normal interval Value ± z·SE.
type RATEEstimate struct {
	Value, SE float64
	CI        [2]float64
}

// RATEResult holds the RATEs of several priority rules computed on the
// same half-samples, and their paired differences.
type RATEResult struct {
	Target RATETarget
	// Estimates holds one RATE per rule.
	Estimates []RATEEstimate
	// Diff[a][b] (a < b) is rule a's RATE minus rule b's, with the
	// standard error of the difference over the same half-samples.
	Diff [][]RATEEstimate
	// Resamples is the number of half-samples.
	Resamples int
}

// RATE computes the rank-weighted average treatment effect of grf's
// rank_average_treatment_effect (Yadlowsky, Fleming, Shah, Brunskill &
// Wager 2024): with the units sorted by priority, highest first, and the
// doubly robust scores Γ of the units in a group of equal priorities
// replaced by the group's mean, the targeting operator characteristic is
//
//	TOC(i/n) = (1/i)·Σ_{j≤i} Γ_(j) − (1/n)·Σ_j Γ_j,
//
// and RATE = (1/n)·Σ_i TOC(i/n) (AUTOC) or (1/n)·Σ_i (i/n)·TOC(i/n)
// (QINI). gamma holds the scores (e.g. AIPWScores) and priority the rule.
// It panics when the lengths differ.
func RATE(gamma, priority []float64, target RATETarget) float64 {
	if len(gamma) != len(priority) {
		panic("causal: RATE length mismatch")
	}
	order := rateOrder(priority)
	return rateOn(gamma, priority, order, nil, target)
}

// rateOrder returns the units by priority, highest first.
func rateOrder(priority []float64) []int {
	order := make([]int, len(priority))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case priority[a] > priority[b]:
			return -1
		case priority[a] < priority[b]:
			return 1
		}
		return 0
	})
	return order
}

// rateOn computes RATE over the units of order for which keep is true
// (nil: all).
func rateOn(gamma, priority []float64, order []int, keep []bool, target RATETarget) float64 {
	var m int
	var total float64
	for _, i := range order {
		if keep == nil || keep[i] {
			m++
			total += gamma[i]
		}
	}
	if m == 0 {
		return math.NaN()
	}
	ate := total / float64(m)
	var rate, cum float64
	pos := 0 // units placed so far
	for g := 0; g < len(order); {
		// The tie group starting at g.
		p := priority[order[g]]
		var gs float64
		gn := 0
		e := g
		for ; e < len(order) && priority[order[e]] == p; e++ {
			if i := order[e]; keep == nil || keep[i] {
				gs += gamma[i]
				gn++
			}
		}
		if gn > 0 {
			avg := gs / float64(gn)
			for range gn {
				pos++
				cum += avg
				toc := cum/float64(pos) - ate
				if target == QiniRATE {
					toc *= float64(pos) / float64(m)
				}
				rate += toc
			}
		}
		g = e
	}
	return rate / float64(m)
}

// RATEs computes the RATE of every priority rule on the scores gamma and
// their standard errors by grf's half-sample bootstrap: each of resamples
// draws ⌊n/2⌋ units without replacement, and the standard error is the
// standard deviation of the rule's RATE over the half-samples (half
// sampling without replacement has the variance of the full sample's
// estimate). All rules share the half-samples, so the differences between
// rules get paired standard errors. Intervals are Value ± z·SE,
// z = Φ⁻¹((1 + level)/2).
func RATEs(gamma []float64, priorities [][]float64, target RATETarget, resamples int, level float64, src rand.Source) (*RATEResult, error) {
	n := len(gamma)
	switch {
	case n < 2:
		return nil, fmt.Errorf("%w: RATE needs at least 2 units, got %d", ErrInput, n)
	case len(priorities) == 0:
		return nil, fmt.Errorf("%w: RATE without a priority rule", ErrInput)
	case resamples < 2:
		return nil, fmt.Errorf("%w: RATE needs at least 2 half-samples, got %d", ErrInput, resamples)
	case !(level > 0 && level < 1):
		return nil, fmt.Errorf("%w: confidence level %v", ErrInput, level)
	}
	for i, g := range gamma {
		if math.IsNaN(g) || math.IsInf(g, 0) {
			return nil, fmt.Errorf("%w: score %d is %v", ErrInput, i, g)
		}
	}
	orders := make([][]int, len(priorities))
	for r, p := range priorities {
		if len(p) != n {
			return nil, fmt.Errorf("%w: rule %d has %d priorities for %d units", ErrInput, r, len(p), n)
		}
		for i, v := range p {
			if math.IsNaN(v) {
				return nil, fmt.Errorf("%w: rule %d: priority %d is NaN", ErrInput, r, i)
			}
		}
		orders[r] = rateOrder(p)
	}
	res := &RATEResult{Target: target, Resamples: resamples, Estimates: make([]RATEEstimate, len(priorities))}
	reps := make([][]float64, len(priorities))
	for r := range reps {
		reps[r] = make([]float64, resamples)
		res.Estimates[r].Value = rateOn(gamma, priorities[r], orders[r], nil, target)
	}
	rng := rand.New(src)
	keep := make([]bool, n)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	half := n / 2
	for b := range resamples {
		// A partial Fisher–Yates shuffle picks the half-sample.
		clear(keep)
		for i := range half {
			j := i + rng.IntN(n-i)
			perm[i], perm[j] = perm[j], perm[i]
			keep[perm[i]] = true
		}
		for r := range priorities {
			reps[r][b] = rateOn(gamma, priorities[r], orders[r], keep, target)
		}
	}
	z := distuv.UnitNormal.Quantile((1 + level) / 2)
	est := func(v float64, rep []float64) RATEEstimate {
		se := sampleSD(rep)
		return RATEEstimate{Value: v, SE: se, CI: [2]float64{v - z*se, v + z*se}}
	}
	diff := make([]float64, resamples)
	res.Diff = make([][]RATEEstimate, len(priorities))
	for a := range priorities {
		res.Estimates[a] = est(res.Estimates[a].Value, reps[a])
		res.Diff[a] = make([]RATEEstimate, len(priorities))
		for b := a + 1; b < len(priorities); b++ {
			for i := range diff {
				diff[i] = reps[a][i] - reps[b][i]
			}
			res.Diff[a][b] = est(res.Estimates[a].Value-res.Estimates[b].Value, diff)
		}
	}
	return res, nil
}

// sampleSD is the standard deviation with denominator m − 1 (R's sd).
func sampleSD(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	mean := s / float64(len(v))
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return math.Sqrt(ss / float64(len(v)-1))
}
