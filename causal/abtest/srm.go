package abtest

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// SRM is the sample ratio mismatch check: do the users per arm match the
// planned weights?
type SRM struct {
	// Chi2 is Pearson's statistic with DF = arms − 1 degrees of freedom.
	Chi2 float64 `json:"chi2"`
	DF   int     `json:"df"`
	// PValue is P(χ²_DF ≥ Chi2); Flag is PValue < SRMThreshold.
	PValue float64 `json:"p_value"`
	Flag   bool    `json:"flag"`
	// Expected are the users expected per arm, N·w_j/Σw.
	Expected []float64 `json:"expected"`
}

// SRMTest is Pearson's chi-square goodness-of-fit test of the users per
// arm against the planned weights (Kohavi, Tang and Xu 2020, ch. 21):
//
//	E_j = N·w_j/Σ_k w_k,   χ² = Σ_j (n_j − E_j)²/E_j,   p = P(χ²_{J−1} ≥ χ²)
//
// where N = Σ_j n_j. A mismatch is flagged at p < SRMThreshold, a level
// low enough that a healthy experiment looked at daily rarely raises a
// false alarm. With no users at all the p-value is 1. SRMTest returns an
// error wrapping ErrInput for fewer than 2 arms, mismatched lengths, a
// negative count or a weight that is not positive and finite.
func SRMTest(users []int, weights []float64) (SRM, error) {
	if len(users) < 2 || len(weights) != len(users) {
		return SRM{}, fmt.Errorf("%w: SRM test of %d counts and %d weights", ErrInput, len(users), len(weights))
	}
	var total int
	var wsum float64
	for j := range users {
		if users[j] < 0 {
			return SRM{}, fmt.Errorf("%w: arm %d has %d users", ErrInput, j, users[j])
		}
		if !(weights[j] > 0) || math.IsInf(weights[j], 1) {
			return SRM{}, fmt.Errorf("%w: arm %d has weight %v", ErrInput, j, weights[j])
		}
		total += users[j]
		wsum += weights[j]
	}
	r := SRM{DF: len(users) - 1, PValue: 1, Expected: make([]float64, len(users))}
	for j := range users {
		r.Expected[j] = float64(total) * weights[j] / wsum
	}
	if total == 0 {
		return r, nil
	}
	for j, n := range users {
		d := float64(n) - r.Expected[j]
		r.Chi2 += d * d / r.Expected[j]
	}
	r.PValue = distuv.ChiSquared{K: float64(r.DF)}.Survival(r.Chi2)
	r.Flag = r.PValue < SRMThreshold
	return r, nil
}
