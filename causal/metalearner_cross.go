package causal

import (
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// metaStages resolves the learners of a multi-stage meta-learner: the
// outcome learner (nil means Linear{}), the propensity learner (nil means
// Linear{}) and the final effect learner (nil means the outcome learner),
// each told about categorical columns.
func metaStages(base, prop, final Learner, cat []bool) (Learner, Learner, Learner) {
	if final == nil {
		final = base
	}
	return metaBase(base, cat), metaBase(prop, cat), metaBase(final, cat)
}

// armEffects predicts one effect model per arm into an n×K matrix.
func armEffects(dst, x *mat.Dense, tau []savedModel) *mat.Dense {
	n, _ := x.Dims()
	dst = metaEffectsDst(dst, n, len(tau))
	if n == 0 {
		return dst
	}
	buf := make([]float64, n)
	for k, m := range tau {
		buf = m.Predict(buf, x)
		for i, v := range buf {
			dst.Set(i, k, v)
		}
	}
	return dst
}

// XLearner is the X-learner of Künzel, Sekhon, Bickel and Yu (2019). For
// each treated arm k, on the rows of arm k and control, it
//
//  1. fits outcome models μ_0 on control rows and μ_k on arm-k rows;
//  2. imputes individual effects D = y − μ_0(x) for arm-k rows and
//     D = μ_k(x) − y for control rows;
//  3. regresses D on x separately in each group, giving τ_1 (arm-k rows)
//     and τ_0 (control rows);
//  4. combines them as τ_k(x) = e(x)·τ_0(x) + (1 − e(x))·τ_1(x), where
//     e(x) = P(t=k | x, t ∈ {0,k}) is a propensity model fitted on the
//     same rows and clipped to [Clip, 1−Clip].
//
// The propensity model is always fitted (logged propensities are not
// available for new rows). The X-learner does well when one group is much
// smaller than the other. It implements UpliftEstimator.
type XLearner struct {
	// Base fits the outcome models (nil means Linear{}).
	Base Learner
	// Propensity fits e(x) as Classification (nil means Linear{}).
	Propensity Learner
	// Final fits τ_0 and τ_1 as Regression (nil means Base).
	Final Learner
	// Clip bounds the propensity to [Clip, 1−Clip]; zero means
	// DefaultClip.
	Clip float64
	// Outcome is the task of the outcome models (AutoOutcome by default).
	Outcome OutcomeTask
}

// XModel is a fitted XLearner, saved under kind "x-learner".
type XModel struct {
	// Arms holds the models of each treated arm, in arm order.
	Arms []XArm `json:"arms"`
	// Clip bounds the propensity used in the combination.
	Clip float64 `json:"clip"`
}

// XArm holds the fitted models of one treated arm of an XModel.
type XArm struct {
	// Tau0 is the effect model fitted on control rows.
	Tau0 savedModel `json:"tau0"`
	// Tau1 is the effect model fitted on treated rows.
	Tau1 savedModel `json:"tau1"`
	// Propensity predicts P(t=k | x, t ∈ {0,k}).
	Propensity savedModel `json:"propensity"`
}

// Kind implements Kinded.
func (m *XModel) Kind() string { return "x-learner" }

// FitUplift implements UpliftEstimator.
func (l XLearner) FitUplift(d UpliftData, src rand.Source) (UpliftModel, error) {
	if err := metaCheck(d); err != nil {
		return nil, fmt.Errorf("x-learner: %w", err)
	}
	task, err := l.Outcome.resolve(d.Y)
	if err != nil {
		return nil, fmt.Errorf("x-learner: %w", err)
	}
	clip, err := metaCheckClip(l.Clip)
	if err != nil {
		return nil, fmt.Errorf("x-learner: %w", err)
	}
	base, prop, final := metaStages(l.Base, l.Propensity, l.Final, d.Categorical)
	rng := rand.New(src)
	m := &XModel{Arms: make([]XArm, d.Arms), Clip: clip}
	// Five models per arm: two outcome models, two effect models and the
	// propensity.
	prog := startProgress(src, 5*d.Arms)
	for k := 1; k <= d.Arms; k++ {
		a := metaSplitArm(d, k)
		ctl, trt := a.rows(0), a.rows(1)
		mu0, err := metaFitRows(base, a.x, a.y, a.w, ctl, task, metaSource(src, rng))
		if err != nil {
			return nil, fmt.Errorf("x-learner: arm %d: control outcome model: %w", k, err)
		}
		prog.step()
		muk, err := metaFitRows(base, a.x, a.y, a.w, trt, task, metaSource(src, rng))
		if err != nil {
			return nil, fmt.Errorf("x-learner: arm %d: treated outcome model: %w", k, err)
		}
		prog.step()
		xc, xt := metaRows(a.x, ctl), metaRows(a.x, trt)
		d0 := muk.Predict(nil, xc)
		for r, i := range ctl {
			d0[r] -= a.y[i]
		}
		d1 := mu0.Predict(nil, xt)
		for r, i := range trt {
			d1[r] = a.y[i] - d1[r]
		}
		tau0, err := final.Fit(xc, d0, metaPick(a.w, ctl), Regression, metaSource(src, rng))
		if err != nil {
			return nil, fmt.Errorf("x-learner: arm %d: control effect model: %w", k, err)
		}
		prog.step()
		tau1, err := final.Fit(xt, d1, metaPick(a.w, trt), Regression, metaSource(src, rng))
		if err != nil {
			return nil, fmt.Errorf("x-learner: arm %d: treated effect model: %w", k, err)
		}
		prog.step()
		e, err := prop.Fit(a.x, a.t, a.w, Classification, metaSource(src, rng))
		if err != nil {
			return nil, fmt.Errorf("x-learner: arm %d: propensity model: %w", k, err)
		}
		m.Arms[k-1] = XArm{Tau0: savedModel{tau0}, Tau1: savedModel{tau1}, Propensity: savedModel{e}}
		prog.step()
	}
	return m, nil
}

// Effects implements UpliftModel.
func (m *XModel) Effects(dst *mat.Dense, x *mat.Dense) *mat.Dense {
	n, _ := x.Dims()
	dst = metaEffectsDst(dst, n, len(m.Arms))
	if n == 0 {
		return dst
	}
	t0, t1, e := make([]float64, n), make([]float64, n), make([]float64, n)
	for k, a := range m.Arms {
		t0 = a.Tau0.Predict(t0, x)
		t1 = a.Tau1.Predict(t1, x)
		e = a.Propensity.Predict(e, x)
		for i := range e {
			g := min(max(e[i], m.Clip), 1-m.Clip)
			dst.Set(i, k, g*t0[i]+(1-g)*t1[i])
		}
	}
	return dst
}

// RLearner is the R-learner of Nie and Wager (2021). For each treated arm
// k, on the rows of arm k and control (t = 1 for arm k, 0 for control), it
// cross-fits with Folds folds the outcome mean m(x) = E[y | x] and the
// propensity e(x) = P(t=1 | x), clipped to [Clip, 1−Clip] (the logged
// propensity is used instead when the data has one treated arm and a
// Propensity column), and then minimises the R-loss
//
//	Σ_i w_i·((y_i − m(x_i)) − (t_i − e(x_i))·τ(x_i))²
//
// by regressing the pseudo-outcome (y − m)/(t − e) on x with weights
// w·(t − e)². It implements UpliftEstimator.
type RLearner struct {
	// Base fits the outcome mean m(x) (nil means Linear{}).
	Base Learner
	// Propensity fits e(x) as Classification (nil means Linear{}).
	Propensity Learner
	// Final fits the effect as Regression (nil means Base).
	Final Learner
	// Folds is the number of cross-fitting folds (zero means
	// DefaultFolds; at least 2).
	Folds int
	// Clip bounds the propensity to [Clip, 1−Clip]; zero means
	// DefaultClip.
	Clip float64
	// Outcome is the task of the outcome model (AutoOutcome by default).
	Outcome OutcomeTask
}

// RModel is a fitted RLearner, saved under kind "r-learner".
type RModel struct {
	// Tau[k-1] predicts the effect of arm k.
	Tau []savedModel `json:"tau"`
}

// Kind implements Kinded.
func (m *RModel) Kind() string { return "r-learner" }

// Effects implements UpliftModel.
func (m *RModel) Effects(dst *mat.Dense, x *mat.Dense) *mat.Dense { return armEffects(dst, x, m.Tau) }

// FitUplift implements UpliftEstimator.
func (l RLearner) FitUplift(d UpliftData, src rand.Source) (UpliftModel, error) {
	tau, err := crossFitEffects(d, src, "r-learner", l.Base, l.Propensity, l.Final, l.Folds, l.Clip, l.Outcome, rPseudo)
	if err != nil {
		return nil, err
	}
	return &RModel{Tau: tau}, nil
}

// rPseudo writes the R-learner pseudo-outcome and weights.
func rPseudo(a *metaArm, base Learner, task Task, folds []int, k int, e []float64, rng *rand.Rand, src rand.Source) ([]float64, []float64, error) {
	m, err := metaCrossFit(base, a.x, a.y, a.w, folds, k, nil, task, rng, src)
	if err != nil {
		return nil, nil, fmt.Errorf("outcome model: %w", err)
	}
	z := make([]float64, len(a.y))
	w := make([]float64, len(a.y))
	for r := range z {
		res := a.t[r] - e[r]
		z[r] = (a.y[r] - m[r]) / res
		w[r] = res * res
		if a.w != nil {
			w[r] *= a.w[r]
		}
	}
	return z, w, nil
}

// DRLearner is the doubly robust (DR-) learner of Kennedy (2023). For
// each treated arm k, on the rows of arm k and control (t = 1 for arm k),
// it cross-fits with Folds folds the arm outcome models μ_0(x) and μ_1(x)
// (each fitted on its own group's training rows) and the propensity e(x),
// clipped to [Clip, 1−Clip] (the logged propensity is used instead when
// the data has one treated arm and a Propensity column), forms the AIPW
// pseudo-outcome
//
//	φ = μ_1(x) − μ_0(x) + t·(y − μ_1(x))/e(x) − (1 − t)·(y − μ_0(x))/(1 − e(x))
//
// and regresses φ on x. The effect estimate is consistent when either the
// outcome models or the propensity model is right. It implements
// UpliftEstimator.
type DRLearner struct {
	// Base fits the outcome models (nil means Linear{}).
	Base Learner
	// Propensity fits e(x) as Classification (nil means Linear{}).
	Propensity Learner
	// Final fits the effect as Regression (nil means Base).
	Final Learner
	// Folds is the number of cross-fitting folds (zero means
	// DefaultFolds; at least 2).
	Folds int
	// Clip bounds the propensity to [Clip, 1−Clip]; zero means
	// DefaultClip.
	Clip float64
	// Outcome is the task of the outcome models (AutoOutcome by default).
	Outcome OutcomeTask
}

// DRModel is a fitted DRLearner, saved under kind "dr-learner".
type DRModel struct {
	// Tau[k-1] predicts the effect of arm k.
	Tau []savedModel `json:"tau"`
}

// Kind implements Kinded.
func (m *DRModel) Kind() string { return "dr-learner" }

// Effects implements UpliftModel.
func (m *DRModel) Effects(dst *mat.Dense, x *mat.Dense) *mat.Dense { return armEffects(dst, x, m.Tau) }

// FitUplift implements UpliftEstimator.
func (l DRLearner) FitUplift(d UpliftData, src rand.Source) (UpliftModel, error) {
	tau, err := crossFitEffects(d, src, "dr-learner", l.Base, l.Propensity, l.Final, l.Folds, l.Clip, l.Outcome, drPseudo)
	if err != nil {
		return nil, err
	}
	return &DRModel{Tau: tau}, nil
}

// drScores cross-fits μ_0 and μ_1 and returns the AIPW scores φ.
func drScores(a *metaArm, base Learner, task Task, folds []int, k int, e []float64, rng *rand.Rand, src rand.Source) ([]float64, error) {
	p0, p1, err := planArmOutcomes(a, base, task, folds, k, rng, src)
	if err != nil {
		return nil, err
	}
	if err := runCrossFits(0, p0, p1); err != nil {
		return nil, err
	}
	return AIPWScores(nil, a.y, a.t, p0.out, p1.out, e), nil
}

// planArmOutcomes plans drScores' cross-fits of μ_0, on the control rows,
// and of μ_1, on the treated rows, drawing their seeds in that order.
func planArmOutcomes(a *metaArm, base Learner, task Task, folds []int, k int, rng *rand.Rand, src rand.Source) (p0, p1 *crossFit, err error) {
	if p0, err = planCrossFit("control outcome model", base, a.x, a.y, a.w, folds, k, func(r int) bool { return a.t[r] == 0 }, task, rng, src); err != nil {
		return nil, nil, err
	}
	if p1, err = planCrossFit("treated outcome model", base, a.x, a.y, a.w, folds, k, func(r int) bool { return a.t[r] == 1 }, task, rng, src); err != nil {
		return nil, nil, err
	}
	return p0, p1, nil
}

// drPseudo writes the DR-learner pseudo-outcome and weights.
func drPseudo(a *metaArm, base Learner, task Task, folds []int, k int, e []float64, rng *rand.Rand, src rand.Source) ([]float64, []float64, error) {
	phi, err := drScores(a, base, task, folds, k, e, rng, src)
	return phi, a.w, err
}

// pseudoFunc computes a pseudo-outcome and its weights on one arm subset.
type pseudoFunc func(a *metaArm, base Learner, task Task, folds []int, k int, e []float64, rng *rand.Rand, src rand.Source) ([]float64, []float64, error)

// crossFitEffects runs the shared steps of the R- and DR-learners for each
// arm: validate, split, fold, cross-fit the propensity, build the
// pseudo-outcome and fit the final effect model.
func crossFitEffects(d UpliftData, src rand.Source, name string, base, prop, final Learner, folds int, clip float64, outcome OutcomeTask, pseudo pseudoFunc) ([]savedModel, error) {
	if err := metaCheck(d); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	task, err := outcome.resolve(d.Y)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if clip, err = metaCheckClip(clip); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if folds, err = metaCheckFolds(folds); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	base, prop, final = metaStages(base, prop, final, d.Categorical)
	rng := rand.New(src)
	tau := make([]savedModel, d.Arms)
	// Three stages per arm: the propensity, the outcome models of the
	// pseudo-outcome and the effect model.
	prog := startProgress(src, 3*d.Arms)
	for k := 1; k <= d.Arms; k++ {
		a := metaSplitArm(d, k)
		f := metaFolds(a.t, folds, rng)
		e, err := metaPropensity(&a, prop, f, folds, clip, rng, src)
		if err != nil {
			return nil, fmt.Errorf("%s: arm %d: %w", name, k, err)
		}
		prog.step()
		z, w, err := pseudo(&a, base, task, f, folds, e, rng, src)
		if err != nil {
			return nil, fmt.Errorf("%s: arm %d: %w", name, k, err)
		}
		prog.step()
		m, err := final.Fit(a.x, z, w, Regression, metaSource(src, rng))
		if err != nil {
			return nil, fmt.Errorf("%s: arm %d: effect model: %w", name, k, err)
		}
		tau[k-1] = savedModel{m}
		prog.step()
	}
	return tau, nil
}
