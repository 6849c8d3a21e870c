package causal

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// BLPCoef is one coefficient of the best linear predictor test with its
// heteroskedasticity-robust (HC3) standard error, two-sided interval and
// one-sided p-value for H0: coefficient ≤ 0.
type BLPCoef struct {
	Coef, SE, PValue float64
	CI               [2]float64
}

// BLPTest is grf's test_calibration (Chernozhukov, Demirer, Duflo &
// Fernández-Val 2018): the least-squares fit without intercept of
//
//	y_i − m̂_i = β₁·(w_i − ê_i)·τ̄ + β₂·(w_i − ê_i)·(τ̂_i − τ̄) + ε_i,
//
// with yRes = y − m̂ (m̂ cross-fitted E[y | x]), wRes = w − ê and τ̄ the
// mean of the scores tau. β₁ = 1 says the scores' mean is right (the
// average effect), β₂ = 1 that their spread is right, β₂ > 0 that they
// find real heterogeneity. Standard errors are HC3 as sandwich::vcovCL
// computes them for grf (each unit its own cluster, so with the factor
// n/(n − 1)): V = n/(n−1)·(XᵀX)⁻¹ Xᵀ diag(e_i²/(1 − h_ii)²) X (XᵀX)⁻¹. The
// intervals and one-sided p-values use Student's t with n − 2 degrees of
// freedom, as lmtest::coeftest does.
func BLPTest(yRes, wRes, tau []float64, level float64) (mean, differential BLPCoef, err error) {
	n := len(yRes)
	switch {
	case len(wRes) != n || len(tau) != n:
		return mean, differential, fmt.Errorf("%w: %d outcome residuals, %d treatment residuals, %d scores", ErrInput, n, len(wRes), len(tau))
	case n < 3:
		return mean, differential, fmt.Errorf("%w: the BLP test needs at least 3 units, got %d", ErrInput, n)
	case !(level > 0 && level < 1):
		return mean, differential, fmt.Errorf("%w: confidence level %v", ErrInput, level)
	}
	var tbar float64
	for _, t := range tau {
		tbar += t
	}
	tbar /= float64(n)
	x1, x2 := make([]float64, n), make([]float64, n)
	var a11, a12, a22, b1, b2 float64
	for i := range n {
		x1[i] = wRes[i] * tbar
		x2[i] = wRes[i] * (tau[i] - tbar)
		a11 += x1[i] * x1[i]
		a12 += x1[i] * x2[i]
		a22 += x2[i] * x2[i]
		b1 += x1[i] * yRes[i]
		b2 += x2[i] * yRes[i]
	}
	det := a11*a22 - a12*a12
	if !(det > 1e-12*math.Max(a11*a22, 1e-300)) {
		return mean, differential, fmt.Errorf("%w: the BLP regressors are collinear (constant scores, or a mean score of 0)", ErrInput)
	}
	// (XᵀX)⁻¹
	i11, i12, i22 := a22/det, -a12/det, a11/det
	beta1, beta2 := i11*b1+i12*b2, i12*b1+i22*b2
	// Meat Σ x xᵀ e²/(1 − h)², h_ii = x_iᵀ(XᵀX)⁻¹x_i.
	var m11, m12, m22 float64
	for i := range n {
		e := yRes[i] - beta1*x1[i] - beta2*x2[i]
		h := x1[i]*(i11*x1[i]+i12*x2[i]) + x2[i]*(i12*x1[i]+i22*x2[i])
		if h >= 1 {
			h = 1 - 1e-12
		}
		u := e * e / ((1 - h) * (1 - h))
		m11 += x1[i] * x1[i] * u
		m12 += x1[i] * x2[i] * u
		m22 += x2[i] * x2[i] * u
	}
	adj := float64(n) / float64(n-1)
	// V = A⁻¹ M A⁻¹ for the symmetric 2×2 A⁻¹.
	v11 := adj * (i11*(m11*i11+m12*i12) + i12*(m12*i11+m22*i12))
	v22 := adj * (i12*(m11*i12+m12*i22) + i22*(m12*i12+m22*i22))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 2)}
	q := t.Quantile((1 + level) / 2)
	coef := func(b, v float64) BLPCoef {
		se := math.Sqrt(v)
		c := BLPCoef{Coef: b, SE: se, CI: [2]float64{b - q*se, b + q*se}}
		c.PValue = 1 - t.CDF(b/se)
		return c
	}
	return coef(beta1, v11), coef(beta2, v22), nil
}

// CalibrationBin is one score bin: units whose score lies in [Lo, Hi)
// (the last bin includes Hi), their mean score (Predicted) and their mean
// doubly robust score (Observed), the effect the bin actually had, with
// its normal interval.
type CalibrationBin struct {
	Lo, Hi              float64
	N                   int
	Predicted, Observed float64
	CI                  [2]float64
}

// CalibrationBins groups the units by quantiles of score into bins (cut
// points at the j/bins quantiles, numpy's linear interpolation; empty bins
// are left out) and compares each bin's mean score with its mean doubly
// robust score gamma, as EconML's DRTester.evaluate_cal. r2 is its
// calibration R²,
//
//	1 − Σ_g p_g·|Γ̄_g − τ̂_g| / Σ_g p_g·|Γ̄_g − Γ̄|,
//
// with p_g the share of units in bin g, Γ̄_g and τ̂_g its mean doubly robust
// score and mean score and Γ̄ the overall mean doubly robust score: 1 for
// perfectly calibrated bins, 0 for scores no better than the average
// effect, negative for worse.
func CalibrationBins(score, gamma []float64, bins int, level float64) ([]CalibrationBin, float64, error) {
	n := len(score)
	switch {
	case len(gamma) != n:
		return nil, 0, fmt.Errorf("%w: %d scores and %d doubly robust scores", ErrInput, n, len(gamma))
	case bins < 1 || n < bins:
		return nil, 0, fmt.Errorf("%w: %d bins for %d units", ErrInput, bins, n)
	case !(level > 0 && level < 1):
		return nil, 0, fmt.Errorf("%w: confidence level %v", ErrInput, level)
	}
	sorted := slices.Clone(score)
	slices.Sort(sorted)
	cuts := make([]float64, bins+1)
	for j := range cuts {
		cuts[j] = bootQuantile(sorted, float64(j)/float64(bins))
	}
	var ate float64
	for _, g := range gamma {
		ate += g
	}
	ate /= float64(n)
	z := distuv.UnitNormal.Quantile((1 + level) / 2)
	var out []CalibrationBin
	var num, den float64
	for j := range bins {
		var gs, ss []float64
		for i, s := range score {
			if s >= cuts[j] && (s < cuts[j+1] || (j == bins-1 && s <= cuts[j+1])) {
				gs = append(gs, gamma[i])
				ss = append(ss, s)
			}
		}
		if len(gs) == 0 {
			continue
		}
		obs, se := MeanSE(gs, nil)
		pred, _ := MeanSE(ss, nil)
		if len(gs) < 2 {
			se = math.NaN()
		}
		p := float64(len(gs)) / float64(n)
		num += p * math.Abs(obs-pred)
		den += p * math.Abs(obs-ate)
		out = append(out, CalibrationBin{Lo: cuts[j], Hi: cuts[j+1], N: len(gs), Predicted: pred, Observed: obs, CI: [2]float64{obs - z*se, obs + z*se}})
	}
	r2 := math.NaN()
	if den > 0 {
		r2 = 1 - num/den
	}
	return out, r2, nil
}

// CalibrationData is the input of Calibrate: a randomised experiment (or
// logged data with known propensities) with one treated arm, and the
// scores to check.
type CalibrationData struct {
	// X holds features for the outcome models (nil: none, the models are
	// the arms' means).
	X *mat.Dense
	// Categorical marks category code columns of X.
	Categorical []bool
	// T is 1 for treated and 0 for control units.
	T []int
	// Y is the outcome.
	Y []float64
	// Score is the predicted effect τ̂ of each unit, fitted on other data
	// (or out of fold).
	Score []float64
	// Propensity is P(T = 1 | x) of each unit; nil means the treated share
	// (a randomised experiment).
	Propensity []float64
}

// CalibrationConfig configures Calibrate; the zero value is usable.
type CalibrationConfig struct {
	// Bins is the number of score bins (0 means 10).
	Bins int
	// Resamples is the number of RATE half-samples (0 means 200).
	Resamples int
	// Level is the confidence level (0 means 0.95).
	Level float64
	// Folds is the number of cross-fitting folds of the outcome models (0
	// means DefaultFolds).
	Folds int
	// Learner fits the outcome models μ̂₀, μ̂₁ (nil means Linear{}).
	Learner Learner
}

// Calibration is the result of Calibrate.
type Calibration struct {
	// Mean and Differential are the BLP test's coefficients (BLPTest).
	Mean, Differential BLPCoef
	// Bins and R2 are CalibrationBins' output.
	Bins []CalibrationBin
	R2   float64
	// AUTOC and Qini are the scores' RATE (RATEs) with half-sample
	// standard errors.
	AUTOC, Qini RATEEstimate
	// ATE is the mean doubly robust score, N the number of units.
	ATE float64
	N   int
}

// Calibrate checks uplift scores against an experiment: it cross-fits the
// outcome models μ̂₀(x), μ̂₁(x) of each arm (folds stratified by arm), forms
// m̂ = ê·μ̂₁ + (1 − ê)·μ̂₀ and the AIPW scores (AIPWScores), and reports the
// BLP test (BLPTest), the score bins with the calibration R²
// (CalibrationBins) and the RATE of the scores as a priority rule, AUTOC
// and Qini (RATEs). src drives the folds, the fits and the half-samples.
func Calibrate(d CalibrationData, cfg CalibrationConfig, src rand.Source) (*Calibration, error) {
	n := len(d.T)
	switch {
	case len(d.Y) != n || len(d.Score) != n:
		return nil, fmt.Errorf("%w: %d treatments, %d outcomes, %d scores", ErrInput, n, len(d.Y), len(d.Score))
	case d.Propensity != nil && len(d.Propensity) != n:
		return nil, fmt.Errorf("%w: %d propensities for %d units", ErrInput, len(d.Propensity), n)
	}
	if cfg.Bins == 0 {
		cfg.Bins = 10
	}
	if cfg.Resamples == 0 {
		cfg.Resamples = 200
	}
	if cfg.Level == 0 {
		cfg.Level = 0.95
	}
	folds, err := metaCheckFolds(cfg.Folds)
	if err != nil {
		return nil, err
	}
	learner := cfg.Learner
	if learner == nil {
		learner = Linear{}
	}
	var n1 int
	t := make([]float64, n)
	for i, v := range d.T {
		if v != 0 && v != 1 {
			return nil, fmt.Errorf("%w: treatment %d is %d, want 0 or 1", ErrInput, i, v)
		}
		t[i] = float64(v)
		n1 += v
	}
	if n1 < folds || n-n1 < folds {
		return nil, fmt.Errorf("%w: %d treated and %d control units, need at least %d of each", ErrInput, n1, n-n1, folds)
	}
	for i := range n {
		if y, s := d.Y[i], d.Score[i]; math.IsNaN(y) || math.IsInf(y, 0) || math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("%w: unit %d has outcome %v and score %v", ErrInput, i, y, s)
		}
	}
	e := make([]float64, n)
	for i := range e {
		if d.Propensity != nil {
			e[i] = d.Propensity[i]
			if !(e[i] > 0 && e[i] < 1) {
				return nil, fmt.Errorf("%w: propensity %d is %v, want a value in (0, 1)", ErrInput, i, e[i])
			}
		} else {
			e[i] = float64(n1) / float64(n)
		}
	}
	x, cat := d.X, d.Categorical
	if x == nil {
		x, cat = mat.NewDense(n, 1, nil), nil // a constant: the models are means
	}
	rng := rand.New(src)
	mu0, mu1, err := crossFitArms(learner, x, cat, t, d.Y, folds, rng)
	if err != nil {
		return nil, err
	}
	gamma := AIPWScores(nil, d.Y, t, mu0, mu1, e)
	yRes, wRes := make([]float64, n), make([]float64, n)
	for i := range n {
		yRes[i] = d.Y[i] - (e[i]*mu1[i] + (1-e[i])*mu0[i])
		wRes[i] = t[i] - e[i]
	}
	c := &Calibration{N: n}
	c.ATE, _ = MeanSE(gamma, nil)
	if c.Mean, c.Differential, err = BLPTest(yRes, wRes, d.Score, cfg.Level); err != nil {
		return nil, err
	}
	if c.Bins, c.R2, err = CalibrationBins(d.Score, gamma, cfg.Bins, cfg.Level); err != nil {
		return nil, err
	}
	hs := rand.NewPCG(rng.Uint64(), rng.Uint64())
	for _, target := range []RATETarget{AUTOC, QiniRATE} {
		r, err := RATEs(gamma, [][]float64{d.Score}, target, cfg.Resamples, cfg.Level, hs)
		if err != nil {
			return nil, err
		}
		if target == AUTOC {
			c.AUTOC = r.Estimates[0]
		} else {
			c.Qini = r.Estimates[0]
		}
	}
	return c, nil
}

// crossFitArms returns out-of-fold predictions of the outcome models of
// the control and the treated units (t 0 or 1), each fitted by learner
// (told the categorical columns cat) in folds stratified by arm: the
// nuisances of AIPWScores. A binary outcome makes them classifiers. rng
// draws the folds, then the treated model's fits, then the control's.
func crossFitArms(learner Learner, x *mat.Dense, cat []bool, t, y []float64, folds int, rng *rand.Rand) (mu0, mu1 []float64, err error) {
	if cl, ok := learner.(CategoricalLearner); ok && cat != nil {
		learner = cl.WithCategorical(cat)
	}
	task := Regression
	if metricIsBinary(y) {
		task = Classification
	}
	fold := metaFolds(t, folds, rng)
	if mu1, err = metaCrossFit(learner, x, y, nil, fold, folds, func(r int) bool { return t[r] == 1 }, task, rng, nil); err != nil {
		return nil, nil, fmt.Errorf("treated outcome model: %w", err)
	}
	if mu0, err = metaCrossFit(learner, x, y, nil, fold, folds, func(r int) bool { return t[r] == 0 }, task, rng, nil); err != nil {
		return nil, nil, fmt.Errorf("control outcome model: %w", err)
	}
	return mu0, mu1, nil
}
