package abtest

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// RatioResult is a ratio metric with its delta-method interval.
type RatioResult struct {
	// Value is Σnum/Σden, SE its standard error and CI the two-sided
	// 1 − α normal interval.
	Value float64    `json:"value"`
	SE    float64    `json:"se"`
	CI    [2]float64 `json:"ci"`
	// Units is the number of units (users) and Den the total denominator.
	Units int     `json:"units"`
	Den   float64 `json:"den"`
}

// Ratio is a ratio metric over units randomised together, such as outcomes
// per exposure when users are the unit of assignment: num[i] and den[i]
// are unit i's numerator and denominator. The exposures of one user are
// not independent, so the variance comes from the delta method over units
// (Deng, Knoblich and Lu 2018), not from a binomial over exposures:
//
//	R      = Σ num / Σ den = n̄/d̄
//	Var(R) ≈ (s_n² − 2R·s_nd + R²·s_d²) / (N·d̄²)
//	CI     = R ± z_{1−α/2}·√Var(R)
//
// with s_n², s_d², s_nd the unbiased variances and covariance over the N
// units. It is the measured value of an arm to set beside an off-policy
// estimate of the same arm's reward per logged exposure. Ratio returns an
// error wrapping ErrInput for mismatched lengths, a non-finite or too
// large value, or a zero total denominator, and one wrapping ErrEmptyArm
// for fewer than 2 units.
func Ratio(num, den []float64, alpha float64) (RatioResult, error) {
	switch {
	case len(num) != len(den):
		return RatioResult{}, fmt.Errorf("%w: %d numerators and %d denominators", ErrInput, len(num), len(den))
	case len(num) < 2:
		return RatioResult{}, fmt.Errorf("%w: ratio of %d units", ErrEmptyArm, len(num))
	case !(alpha > 0 && alpha < 1):
		return RatioResult{}, fmt.Errorf("%w: alpha %v must be in (0, 1)", ErrInput, alpha)
	}
	for i := range num {
		for _, v := range []float64{num[i], den[i]} {
			if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > MaxAbsValue {
				return RatioResult{}, fmt.Errorf("%w: unit %d has value %v", ErrInput, i, v)
			}
		}
	}
	sn, sd := summarize(num), summarize(den)
	if sd.sum == 0 {
		return RatioResult{}, fmt.Errorf("%w: ratio with a total denominator of 0", ErrInput)
	}
	var cov float64
	for i := range num {
		cov += (num[i] - sn.mean) * (den[i] - sd.mean)
	}
	n := float64(len(num))
	cov /= n - 1
	r := sn.sum / sd.sum
	v := (sn.variance - 2*r*cov + r*r*sd.variance) / (n * sd.mean * sd.mean)
	se := math.Sqrt(math.Max(v, 0))
	h := distuv.UnitNormal.Quantile(1-alpha/2) * se
	out := RatioResult{Value: r, SE: se, CI: [2]float64{r - h, r + h}, Units: len(num), Den: sd.sum}
	if math.IsNaN(h) || math.IsInf(h, 0) || math.IsInf(r, 0) {
		return RatioResult{}, fmt.Errorf("%w: ratio values too large or too small", ErrInput)
	}
	return out, nil
}
