package receval

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/causalrec/causalrec/causal"
)

// CP returns the causal precision at k of one user's ranked list,
//
//	CP@k = (1/k) Σ_{r=1}^{min(k,n)} τ_(r),
//
// where τ_(r) is the effect of the item at rank r: tau must be in ranked
// order, best first. It panics when k < 1.
func CP(tau []float64, k int) float64 {
	if k < 1 {
		panic(fmt.Sprintf("receval: CP at k=%d", k))
	}
	var s float64
	for _, t := range tau[:min(k, len(tau))] {
		s += t
	}
	return s / float64(k)
}

// CDCG returns the causal discounted cumulative gain of one user's ranked
// list (tau in ranked order, best first),
//
//	CDCG = Σ_{r=1}^{n} τ_(r) / log₂(1 + r).
//
// Higher is better.
func CDCG(tau []float64) float64 {
	var s float64
	for r, t := range tau {
		s += t / math.Log2(float64(r+2))
	}
	return s
}

// CAR returns the causal average rank of one user's ranked list (tau in
// ranked order, best first),
//
//	CAR = Σ_{r=1}^{n} r · τ_(r).
//
// Lower is better: items with positive effects should have small ranks
// and items with negative effects large ones. DLCE minimises an upper
// bound of its IPS estimate.
func CAR(tau []float64) float64 {
	var s float64
	for r, t := range tau {
		s += float64(r+1) * t
	}
	return s
}

// IPSEffects writes the inverse propensity score estimate of each row's
// effect,
//
//	τ̂ = Z·Y/P − (1−Z)·Y/(1−P),
//
// into dst (allocated when nil or too short) and returns it. Z is the
// treated flag, Y the outcome and P the propensity P(Z=1). When cap > 0
// the propensities are capped from below, P ← max(P, cap) and
// 1−P ← max(1−P, cap), trading a bias for a lower variance. E[τ̂] equals
// the true effect when cap is 0. It panics on length mismatch.
func IPSEffects(dst []float64, treated []int, propensity, outcome []float64, cap float64) []float64 {
	n := len(treated)
	if len(propensity) != n || len(outcome) != n {
		panic("receval: IPSEffects length mismatch")
	}
	if len(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	for i := range n {
		if outcome[i] == 0 {
			dst[i] = 0
			continue
		}
		if treated[i] == 1 {
			dst[i] = outcome[i] / max(propensity[i], cap)
		} else {
			dst[i] = -outcome[i] / max(1-propensity[i], cap)
		}
	}
	return dst
}

// Metric is a mean over users with its bootstrap confidence interval.
type Metric struct {
	Value float64
	CI    causal.ConfInt
}

// Report holds the causal ranking metrics of one ranking of a test log.
// Every metric is the mean over users of the per-user value of CP, CDCG
// or CAR. The ground-truth metrics use the log's Tau; the IPS metrics use
// IPSEffects of the log's treated, propensity and outcome (uncapped), an
// unbiased estimate of the same quantities.
type Report struct {
	// K is the cut-off of CP.
	K int
	// Users is the number of users ranked.
	Users int
	// HasTruth reports whether the ground-truth metrics are set.
	HasTruth bool
	// CP, CDCG and CAR are the ground-truth metrics.
	CP, CDCG, CAR Metric
	// IPSCP, IPSCDCG and IPSCAR are their IPS estimates.
	IPSCP, IPSCDCG, IPSCAR Metric
}

// Evaluate ranks each user's rows of test by score (higher first; ties
// keep row order) and computes the Report at cut-off k, with percentile
// bootstrap intervals over users from boot (its Workers field is not
// used) and src. It returns an error wrapping ErrInput when score has the
// wrong length or holds NaN, or when k < 1.
func Evaluate(test *Log, score []float64, k int, boot causal.Bootstrap, src rand.Source) (*Report, error) {
	if len(score) != test.Len() {
		return nil, fmt.Errorf("%w: %d scores for %d rows", ErrInput, len(score), test.Len())
	}
	if k < 1 {
		return nil, fmt.Errorf("%w: k must be at least 1, got %d", ErrInput, k)
	}
	for i, s := range score {
		if math.IsNaN(s) {
			return nil, fmt.Errorf("%w: score of row %d is NaN", ErrInput, i)
		}
	}
	if boot.Resamples == 0 {
		boot.Resamples = 200
	}
	if boot.Level == 0 {
		boot.Level = 0.95
	}
	if boot.Resamples < 2 || !(boot.Level > 0 && boot.Level < 1) {
		return nil, fmt.Errorf("%w: bootstrap needs at least 2 resamples and a level in (0, 1)", ErrInput)
	}
	ips := IPSEffects(nil, test.Treated, test.Propensity, test.Outcome, 0)
	groups := userRows(test)
	const nm = 6 // cp, cdcg, car, ips cp, ips cdcg, ips car
	per := make([][]float64, nm)
	for m := range per {
		per[m] = make([]float64, 0, len(groups))
	}
	var buf, tbuf []float64
	for _, rows := range groups {
		slices.SortStableFunc(rows, func(a, b int) int { return cmp.Compare(score[b], score[a]) })
		if test.Tau != nil {
			tbuf = tbuf[:0]
			for _, r := range rows {
				tbuf = append(tbuf, test.Tau[r])
			}
			per[0] = append(per[0], CP(tbuf, k))
			per[1] = append(per[1], CDCG(tbuf))
			per[2] = append(per[2], CAR(tbuf))
		}
		buf = buf[:0]
		for _, r := range rows {
			buf = append(buf, ips[r])
		}
		per[3] = append(per[3], CP(buf, k))
		per[4] = append(per[4], CDCG(buf))
		per[5] = append(per[5], CAR(buf))
	}
	nu := len(groups)
	reps := make([][]float64, nm)
	for m := range reps {
		reps[m] = make([]float64, boot.Resamples)
	}
	rng := rand.New(src)
	counts := make([]int, nu)
	for b := range boot.Resamples {
		clear(counts)
		for range nu {
			counts[rng.IntN(nu)]++
		}
		for m := range nm {
			if len(per[m]) == 0 {
				reps[m][b] = math.NaN()
				continue
			}
			var s float64
			for u, c := range counts {
				s += float64(c) * per[m][u]
			}
			reps[m][b] = s / float64(nu)
		}
	}
	metric := func(m int) Metric {
		if len(per[m]) == 0 {
			return Metric{Value: math.NaN(), CI: causal.ConfInt{Lo: math.NaN(), Hi: math.NaN()}}
		}
		var s float64
		for _, v := range per[m] {
			s += v
		}
		return Metric{Value: s / float64(nu), CI: causal.PercentileCI(reps[m], boot.Level)}
	}
	return &Report{
		K: k, Users: nu, HasTruth: test.Tau != nil,
		CP: metric(0), CDCG: metric(1), CAR: metric(2),
		IPSCP: metric(3), IPSCDCG: metric(4), IPSCAR: metric(5),
	}, nil
}

// userRows returns the row indices of each user of l, users in index
// order, rows in log order.
func userRows(l *Log) [][]int {
	cnt := make([]int, len(l.Users))
	for _, u := range l.User {
		cnt[u]++
	}
	flat := make([]int, l.Len())
	groups := make([][]int, len(l.Users))
	off := 0
	for u, c := range cnt {
		groups[u] = flat[off : off : off+c]
		off += c
	}
	for i, u := range l.User {
		groups[u] = append(groups[u], i)
	}
	out := groups[:0]
	for _, g := range groups {
		if len(g) > 0 {
			out = append(out, g)
		}
	}
	return out
}
