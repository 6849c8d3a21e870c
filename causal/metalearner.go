package causal

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// OutcomeTask chooses the task of the outcome models of a meta-learner.
type OutcomeTask int

const (
	// AutoOutcome (the zero value) fits outcome models as Classification
	// when every outcome is 0 or 1 and as Regression otherwise.
	AutoOutcome OutcomeTask = iota
	// RegressionOutcome always fits outcome models by squared loss.
	RegressionOutcome
	// ClassificationOutcome always fits outcome models by log loss; the
	// outcomes must lie in [0, 1].
	ClassificationOutcome
)

// resolve returns the Task for outcomes y.
func (o OutcomeTask) resolve(y []float64) (Task, error) {
	switch o {
	case AutoOutcome:
		for _, v := range y {
			if v != 0 && v != 1 {
				return Regression, nil
			}
		}
		return Classification, nil
	case RegressionOutcome:
		return Regression, nil
	case ClassificationOutcome:
		return Classification, nil
	}
	return 0, fmt.Errorf("outcome task %d: %w", o, ErrParam)
}

// metaBase returns l, or the default Linear learner when l is nil, told
// about the categorical columns when it can use them.
func metaBase(l Learner, categorical []bool) Learner {
	if l == nil {
		l = Linear{}
	}
	if categorical != nil {
		if c, ok := l.(CategoricalLearner); ok {
			return c.WithCategorical(categorical)
		}
	}
	return l
}

// metaCheck validates uplift training data.
func metaCheck(d UpliftData) error {
	if d.X == nil {
		return fmt.Errorf("%w: nil feature matrix", ErrInput)
	}
	n, p := d.X.Dims()
	if d.Arms < 1 {
		return fmt.Errorf("%w: %d treated arms, want at least 1", ErrInput, d.Arms)
	}
	if len(d.Treatment) != n {
		return fmt.Errorf("%w: %d treatments for %d rows", ErrInput, len(d.Treatment), n)
	}
	if len(d.Y) != n {
		return fmt.Errorf("%w: %d outcomes for %d rows", ErrInput, len(d.Y), n)
	}
	if d.Weights != nil && len(d.Weights) != n {
		return fmt.Errorf("%w: %d weights for %d rows", ErrInput, len(d.Weights), n)
	}
	if d.Propensity != nil && len(d.Propensity) != n {
		return fmt.Errorf("%w: %d propensities for %d rows", ErrInput, len(d.Propensity), n)
	}
	if d.Categorical != nil && len(d.Categorical) != p {
		return fmt.Errorf("%w: %d categorical flags for %d columns", ErrInput, len(d.Categorical), p)
	}
	count := make([]int, d.Arms+1)
	for i, t := range d.Treatment {
		if t < 0 || t > d.Arms {
			return fmt.Errorf("%w: row %d has arm %d, want 0..%d", ErrInput, i, t, d.Arms)
		}
		if d.Weights == nil || d.Weights[i] > 0 {
			count[t]++
		}
	}
	for k, c := range count {
		if c == 0 {
			return fmt.Errorf("%w: arm %d has no rows with positive weight", ErrInput, k)
		}
	}
	for i, v := range d.Y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: outcome of row %d is %v", ErrInput, i, v)
		}
	}
	for i, v := range d.Weights {
		if !(v >= 0) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: weight of row %d is %v", ErrInput, i, v)
		}
	}
	for i, v := range d.Propensity {
		if !(v > 0 && v <= 1) {
			return fmt.Errorf("%w: propensity of row %d is %v, want a value in (0, 1]", ErrInput, i, v)
		}
	}
	raw := d.X.RawMatrix()
	for i := 0; i < n; i++ {
		for j, v := range raw.Data[i*raw.Stride : i*raw.Stride+p] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: feature %d of row %d is %v", ErrInput, j, i, v)
			}
		}
	}
	return nil
}

// metaRows copies the rows idx of x into a new matrix.
func metaRows(x *mat.Dense, idx []int) *mat.Dense {
	_, p := x.Dims()
	if len(idx) == 0 {
		return &mat.Dense{}
	}
	out := mat.NewDense(len(idx), p, nil)
	src, dst := x.RawMatrix(), out.RawMatrix()
	for r, i := range idx {
		copy(dst.Data[r*dst.Stride:r*dst.Stride+p], src.Data[i*src.Stride:i*src.Stride+p])
	}
	return out
}

// metaPick returns v[idx], or nil when v is nil.
func metaPick(v []float64, idx []int) []float64 {
	if v == nil {
		return nil
	}
	out := make([]float64, len(idx))
	for r, i := range idx {
		out[r] = v[i]
	}
	return out
}

// metaSource returns a fresh source seeded from rng, so each fit gets its
// own reproducible stream, carrying the stop signal of src (see WithStop).
func metaSource(src rand.Source, rng *rand.Rand) rand.Source {
	return derive(src, rng.Uint64(), rng.Uint64())
}

// metaArmRows returns the rows whose arm is in arms.
func metaArmRows(t []int, arms ...int) []int {
	var idx []int
	for i, a := range t {
		for _, b := range arms {
			if a == b {
				idx = append(idx, i)
				break
			}
		}
	}
	return idx
}

// metaFitRows fits l on the rows idx of x.
func metaFitRows(l Learner, x *mat.Dense, y, w []float64, idx []int, task Task, src rand.Source) (Model, error) {
	return l.Fit(metaRows(x, idx), metaPick(y, idx), metaPick(w, idx), task, src)
}

// metaEffectsDst returns dst sized n×k, allocating it when nil. It panics
// when a non-nil dst has the wrong shape.
func metaEffectsDst(dst *mat.Dense, n, k int) *mat.Dense {
	if dst == nil {
		if n == 0 {
			return &mat.Dense{}
		}
		return mat.NewDense(n, k, nil)
	}
	if r, c := dst.Dims(); r != n || c != k {
		panic(fmt.Sprintf("causal: effects matrix is %d×%d, want %d×%d", r, c, n, k))
	}
	return dst
}

// TLearner is the two-model (T-) learner: it fits the outcome μ_k(x) =
// E[y | x, t=k] separately on the rows of each arm k (control included)
// and estimates the effect of arm k as
//
//	τ_k(x) = μ_k(x) − μ_0(x).
//
// It is unbiased under randomisation or unconfoundedness when the base
// learner fits each arm well, but its effect estimates inherit the error
// of both outcome models. It implements UpliftEstimator.
type TLearner struct {
	// Base fits the outcome models (nil means Linear{}).
	Base Learner
	// Outcome is the task of the outcome models (AutoOutcome by default).
	Outcome OutcomeTask
}

// TModel is a fitted TLearner, saved under kind "t-learner".
type TModel struct {
	// Control predicts the outcome under control.
	Control savedModel `json:"control"`
	// Treated[k-1] predicts the outcome under arm k.
	Treated []savedModel `json:"treated"`
}

// Kind implements Kinded.
func (m *TModel) Kind() string { return "t-learner" }

// FitUplift implements UpliftEstimator.
func (l TLearner) FitUplift(d UpliftData, src rand.Source) (UpliftModel, error) {
	if err := metaCheck(d); err != nil {
		return nil, fmt.Errorf("t-learner: %w", err)
	}
	task, err := l.Outcome.resolve(d.Y)
	if err != nil {
		return nil, fmt.Errorf("t-learner: %w", err)
	}
	base := metaBase(l.Base, d.Categorical)
	rng := rand.New(src)
	m := &TModel{Treated: make([]savedModel, d.Arms)}
	prog := startProgress(src, d.Arms+1) // an outcome model per arm
	for k := 0; k <= d.Arms; k++ {
		idx := metaArmRows(d.Treatment, k)
		fit, err := metaFitRows(base, d.X, d.Y, d.Weights, idx, task, metaSource(src, rng))
		if err != nil {
			return nil, fmt.Errorf("t-learner: outcome model of arm %d: %w", k, err)
		}
		if k == 0 {
			m.Control = savedModel{fit}
		} else {
			m.Treated[k-1] = savedModel{fit}
		}
		prog.step()
	}
	return m, nil
}

// Effects implements UpliftModel.
func (m *TModel) Effects(dst *mat.Dense, x *mat.Dense) *mat.Dense {
	n, _ := x.Dims()
	dst = metaEffectsDst(dst, n, len(m.Treated))
	if n == 0 {
		return dst
	}
	base := m.Control.Predict(nil, x)
	buf := make([]float64, n)
	for k, tm := range m.Treated {
		buf = tm.Predict(buf, x)
		for i, v := range buf {
			dst.Set(i, k, v-base[i])
		}
	}
	return dst
}

// SLearner is the single-model (S-) learner: it fits one outcome model
// μ(x, t) on the features plus one indicator column per treated arm
// (1{t=1}, ..., 1{t=K}) over all rows, and estimates
//
//	τ_k(x) = μ(x, e_k) − μ(x, 0).
//
// With a linear base learner and Regression outcomes the effect is the
// same for every x (the model has no interactions); with logistic
// outcomes it varies only through the link. Tree learners can find
// interactions. It implements UpliftEstimator.
type SLearner struct {
	// Base fits the outcome model (nil means Linear{}).
	Base Learner
	// Outcome is the task of the outcome model (AutoOutcome by default).
	Outcome OutcomeTask
}

// SModel is a fitted SLearner, saved under kind "s-learner".
type SModel struct {
	// Model predicts the outcome from the features followed by Arms
	// treatment indicator columns.
	Model savedModel `json:"model"`
	// Arms is the number of treated arms K.
	Arms int `json:"arms"`
}

// Kind implements Kinded.
func (m *SModel) Kind() string { return "s-learner" }

// FitUplift implements UpliftEstimator.
func (l SLearner) FitUplift(d UpliftData, src rand.Source) (UpliftModel, error) {
	if err := metaCheck(d); err != nil {
		return nil, fmt.Errorf("s-learner: %w", err)
	}
	task, err := l.Outcome.resolve(d.Y)
	if err != nil {
		return nil, fmt.Errorf("s-learner: %w", err)
	}
	var cat []bool
	if d.Categorical != nil {
		cat = append(append(cat, d.Categorical...), make([]bool, d.Arms)...)
	}
	base := metaBase(l.Base, cat)
	xa := sAugment(d.X, d.Arms, func(i int) int { return d.Treatment[i] })
	fit, err := base.Fit(xa, d.Y, d.Weights, task, metaSource(src, rand.New(src)))
	if err != nil {
		return nil, fmt.Errorf("s-learner: outcome model: %w", err)
	}
	return &SModel{Model: savedModel{fit}, Arms: d.Arms}, nil
}

// sAugment returns x with arms indicator columns appended; row i has a 1
// in the column of arm(i) when arm(i) > 0.
func sAugment(x *mat.Dense, arms int, arm func(i int) int) *mat.Dense {
	n, p := x.Dims()
	out := mat.NewDense(n, p+arms, nil)
	src, dst := x.RawMatrix(), out.RawMatrix()
	for i := 0; i < n; i++ {
		row := dst.Data[i*dst.Stride : i*dst.Stride+p+arms]
		copy(row, src.Data[i*src.Stride:i*src.Stride+p])
		if a := arm(i); a > 0 {
			row[p+a-1] = 1
		}
	}
	return out
}

// Effects implements UpliftModel.
func (m *SModel) Effects(dst *mat.Dense, x *mat.Dense) *mat.Dense {
	n, p := x.Dims()
	dst = metaEffectsDst(dst, n, m.Arms)
	if n == 0 {
		return dst
	}
	xa := sAugment(x, m.Arms, func(int) int { return 0 })
	base := m.Model.Predict(nil, xa)
	buf := make([]float64, n)
	for k := 1; k <= m.Arms; k++ {
		for i := 0; i < n; i++ {
			if k > 1 {
				xa.Set(i, p+k-2, 0)
			}
			xa.Set(i, p+k-1, 1)
		}
		buf = m.Model.Predict(buf, xa)
		for i, v := range buf {
			dst.Set(i, k-1, v-base[i])
		}
	}
	return dst
}
