package causal

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/stat/distuv"
)

// ATEEstimate is the estimated average effect of one treated arm against
// control with its standard error.
type ATEEstimate struct {
	// Arm is the treated arm, 1..K.
	Arm int
	// Effect is the estimated average treatment effect.
	Effect float64
	// SE is its standard error.
	SE float64
	// N is the number of rows used (the arm's rows plus control's).
	N int
}

// Interval returns the two-sided normal confidence interval
// Effect ± z·SE at the given level (e.g. 0.95), z = Φ⁻¹((1+level)/2).
func (e ATEEstimate) Interval(level float64) (lo, hi float64) {
	if !(level > 0 && level < 1) {
		panic(fmt.Sprintf("causal: confidence level %v outside (0, 1)", level))
	}
	z := distuv.UnitNormal.Quantile((1 + level) / 2)
	return e.Effect - z*e.SE, e.Effect + z*e.SE
}

// AIPWScores writes the augmented inverse-propensity-weighted scores
//
//	φ_i = μ1_i − μ0_i + t_i·(y_i − μ1_i)/e_i − (1 − t_i)·(y_i − μ0_i)/(1 − e_i)
//
// into dst (allocated when nil or too short) and returns it. t holds 1 for
// treated and 0 for control units, μ0 and μ1 the predicted outcomes under
// control and treatment, and e the propensity P(t=1 | x), which must lie
// strictly between 0 and 1. The mean of φ is the AIPW estimate of the
// average treatment effect. It panics when the lengths differ.
func AIPWScores(dst, y, t, mu0, mu1, e []float64) []float64 {
	n := len(y)
	if len(t) != n || len(mu0) != n || len(mu1) != n || len(e) != n {
		panic("causal: AIPWScores length mismatch")
	}
	if cap(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	for i := range dst {
		phi := mu1[i] - mu0[i]
		if t[i] == 1 {
			phi += (y[i] - mu1[i]) / e[i]
		} else {
			phi -= (y[i] - mu0[i]) / (1 - e[i])
		}
		dst[i] = phi
	}
	return dst
}

// MeanSE returns the weighted mean of x and the standard error of that
// mean treated as a sample average of independent terms,
//
//	m = Σ w_i·x_i / Σ w_i,
//	se² = n/(n−1) · Σ w_i²·(x_i − m)² / (Σ w_i)²,
//
// where n is the number of terms with positive weight (nil weights mean 1,
// which gives se² = s²/n with the sample variance s²). se is NaN when
// n < 2. It panics when the lengths differ.
func MeanSE(x, weights []float64) (mean, se float64) {
	if weights != nil && len(weights) != len(x) {
		panic("causal: MeanSE length mismatch")
	}
	var sw float64
	n := 0
	for i, v := range x {
		w := 1.0
		if weights != nil {
			w = weights[i]
		}
		if w > 0 {
			n++
		}
		sw += w
		mean += w * v
	}
	mean /= sw
	if n < 2 {
		return mean, math.NaN()
	}
	var ss float64
	for i, v := range x {
		w := 1.0
		if weights != nil {
			w = weights[i]
		}
		d := w * (v - mean)
		ss += d * d
	}
	return mean, math.Sqrt(ss / (sw * sw) * float64(n) / float64(n-1))
}

// DiffInMeans returns, for each treated arm k, the difference between the
// (weighted) mean outcomes of arm k and control, with standard error
//
//	se² = se_k² + se_0²
//
// from MeanSE within each group (without weights, se² = s_k²/n_k +
// s_0²/n_0 with sample variances s²). It is unbiased when treatment is
// randomised.
func DiffInMeans(d UpliftData) ([]ATEEstimate, error) {
	if err := metaCheck(d); err != nil {
		return nil, fmt.Errorf("difference in means: %w", err)
	}
	ys := make([][]float64, d.Arms+1)
	ws := make([][]float64, d.Arms+1)
	for i, t := range d.Treatment {
		ys[t] = append(ys[t], d.Y[i])
		if d.Weights != nil {
			ws[t] = append(ws[t], d.Weights[i])
		}
	}
	m0, s0 := MeanSE(ys[0], ws[0])
	out := make([]ATEEstimate, d.Arms)
	for k := 1; k <= d.Arms; k++ {
		mk, sk := MeanSE(ys[k], ws[k])
		out[k-1] = ATEEstimate{Arm: k, Effect: mk - m0, SE: math.Hypot(sk, s0), N: len(ys[k]) + len(ys[0])}
	}
	return out, nil
}

// ATEOptions configures ATE.
type ATEOptions struct {
	// Randomised selects the difference in means (DiffInMeans) instead
	// of AIPW; use it only when treatment was randomised.
	Randomised bool
	// Base fits the outcome models (nil means Linear{}).
	Base Learner
	// Propensity fits e(x) as Classification (nil means Linear{}).
	Propensity Learner
	// Folds is the number of cross-fitting folds (zero means
	// DefaultFolds; at least 2).
	Folds int
	// Clip bounds the propensity to [Clip, 1−Clip]; zero means
	// DefaultClip.
	Clip float64
	// Outcome is the task of the outcome models (AutoOutcome by default).
	Outcome OutcomeTask
}

// ATE estimates the average effect of each treated arm against control,
// on the population of that arm's and control's rows.
//
// By default it is the cross-fitted AIPW (doubly robust) estimator: on the
// rows of arm k and control it cross-fits μ_0, μ_1 and e exactly as
// DRLearner does, computes the scores φ of AIPWScores and returns their
// weighted mean with the influence-function standard error of MeanSE,
//
//	ATE = Σ w·φ / Σ w,  se² = n/(n−1)·Σ w²·(φ − ATE)² / (Σ w)².
//
// With opt.Randomised it returns DiffInMeans(d) and src is not used.
func ATE(d UpliftData, opt ATEOptions, src rand.Source) ([]ATEEstimate, error) {
	if opt.Randomised {
		return DiffInMeans(d)
	}
	if err := metaCheck(d); err != nil {
		return nil, fmt.Errorf("aipw: %w", err)
	}
	task, err := opt.Outcome.resolve(d.Y)
	if err != nil {
		return nil, fmt.Errorf("aipw: %w", err)
	}
	clip, err := metaCheckClip(opt.Clip)
	if err != nil {
		return nil, fmt.Errorf("aipw: %w", err)
	}
	folds, err := metaCheckFolds(opt.Folds)
	if err != nil {
		return nil, fmt.Errorf("aipw: %w", err)
	}
	base, prop, _ := metaStages(opt.Base, opt.Propensity, nil, d.Categorical)
	rng := rand.New(src)
	out := make([]ATEEstimate, d.Arms)
	for k := 1; k <= d.Arms; k++ {
		a := metaSplitArm(d, k)
		f := metaFolds(a.t, folds, rng)
		e, err := metaPropensity(&a, prop, f, folds, clip, rng, src)
		if err != nil {
			return nil, fmt.Errorf("aipw: arm %d: %w", k, err)
		}
		phi, err := drScores(&a, base, task, f, folds, e, rng, src)
		if err != nil {
			return nil, fmt.Errorf("aipw: arm %d: %w", k, err)
		}
		m, se := MeanSE(phi, a.w)
		out[k-1] = ATEEstimate{Arm: k, Effect: m, SE: se, N: len(phi)}
	}
	return out, nil
}
