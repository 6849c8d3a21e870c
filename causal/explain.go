package causal

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// EffectFunc predicts the effect τ̂ of every row of x into dst (allocated
// when nil or too short) and returns it. It is all Explain needs of a
// model, so any estimator's model explains: wrap its Predict.
type EffectFunc func(dst []float64, x *mat.Dense) ([]float64, error)

// ExplainData is the input of Explain: the rows to explain a model on and,
// when they come from an experiment (or logged data with known
// propensities), the treatment and outcome that the doubly robust parts
// need.
type ExplainData struct {
	// X holds one row of features per unit.
	X *mat.Dense
	// Categorical marks category code columns (0, 1, 2, ...) of X; nil
	// means all numeric.
	Categorical []bool
	// T is 1 for treated and 0 for control units; nil leaves out the best
	// linear projection and the leaves' doubly robust effects.
	T []int
	// Y is the outcome, given with T.
	Y []float64
	// Propensity is P(T = 1 | x) of each unit; nil means the treated
	// share (a randomised experiment).
	Propensity []float64
}

// ExplainConfig configures Explain; the zero value is usable.
type ExplainConfig struct {
	// Level is the confidence level of every interval (0 means 0.95).
	Level float64
	// Repeats is the number of permutations per feature of the
	// importance (0 means 5; at least 2).
	Repeats int
	// ImportanceRows caps the rows the importance permutes, drawn
	// without replacement (0 means 10,000; the estimate is a mean over
	// rows, so more add little).
	ImportanceRows int
	// Depth is the depth of the tree (0 means 3).
	Depth int
	// MinLeaf is the fewest units in a leaf of the tree (0 means the
	// larger of 10 and 2.5% of the units).
	MinLeaf int
	// Folds is the number of cross-fitting folds of the outcome models
	// (0 means DefaultFolds).
	Folds int
	// Learner fits the outcome models μ̂₀, μ̂₁ of the doubly robust scores
	// (nil means Linear{}).
	Learner Learner
	// Progress, when set, is told each stage and its count of steps.
	Progress func(stage string, done, total int)
}

func (c ExplainConfig) withDefaults(n int) ExplainConfig {
	if c.Level == 0 {
		c.Level = 0.95
	}
	if c.Repeats == 0 {
		c.Repeats = 5
	}
	if c.ImportanceRows == 0 {
		c.ImportanceRows = 10000
	}
	if c.Depth == 0 {
		c.Depth = 3
	}
	if c.MinLeaf == 0 {
		c.MinLeaf = max(10, n/40)
	}
	if c.Folds == 0 {
		c.Folds = DefaultFolds
	}
	if c.Learner == nil {
		c.Learner = Linear{}
	}
	return c
}

func (c ExplainConfig) report(stage string, done, total int) {
	if c.Progress != nil {
		c.Progress(stage, done, total)
	}
}

// Explanation is the result of Explain.
type Explanation struct {
	// BLP is the best linear projection of the effect on the
	// standardised features (BestLinearProjection), one coefficient per
	// numeric feature and per non-reference level of a categorical one;
	// nil without T and Y. Intercept is its intercept, the average effect.
	BLP       []ProjectionCoef
	Intercept ProjectionCoef
	// Importance is the permutation importance of every feature on τ̂
	// (PermutationImportance), largest first.
	Importance []FeatureImportance
	// Tree is a shallow tree fitted to τ̂ (EffectTree).
	Tree *EffectNode
	// Tau holds τ̂ of every unit; Gamma their doubly robust scores (nil
	// without T and Y).
	Tau, Gamma []float64
}

// Explain says which features drive a model's effects τ̂(x), in the ways
// of grf and EconML but for any model, of which it only calls effect:
//
//   - with T and Y, the doubly robust scores Γ_i of the units (outcome
//     models μ̂₀, μ̂₁ cross-fitted in folds stratified by arm, the given
//     propensity or the treated share; AIPWScores) regressed on the
//     standardised features: grf's best_linear_projection
//     (BestLinearProjection);
//   - the permutation importance of each feature on τ̂
//     (PermutationImportance);
//   - a tree of depth ≤ cfg.Depth fitted to τ̂, its leaves holding the
//     mean doubly robust score with its interval (EffectTree), as EconML's
//     SingleTreeCateInterpreter.
//
// src drives the folds, the outcome models and the permutations.
func Explain(d ExplainData, effect EffectFunc, cfg ExplainConfig, src rand.Source) (*Explanation, error) {
	if d.X == nil {
		return nil, fmt.Errorf("%w: no features to explain", ErrInput)
	}
	n, p := d.X.Dims()
	switch {
	case n < 3:
		return nil, fmt.Errorf("%w: %d units, need at least 3", ErrInput, n)
	case d.Categorical != nil && len(d.Categorical) != p:
		return nil, fmt.Errorf("%w: %d categorical flags for %d features", ErrInput, len(d.Categorical), p)
	case (d.T == nil) != (d.Y == nil):
		return nil, fmt.Errorf("%w: treatment and outcome go together", ErrInput)
	case d.T != nil && (len(d.T) != n || len(d.Y) != n):
		return nil, fmt.Errorf("%w: %d units, %d treatments, %d outcomes", ErrInput, n, len(d.T), len(d.Y))
	case d.Propensity != nil && len(d.Propensity) != n:
		return nil, fmt.Errorf("%w: %d propensities for %d units", ErrInput, len(d.Propensity), n)
	case d.Propensity != nil && d.T == nil:
		return nil, fmt.Errorf("%w: propensities without a treatment", ErrInput)
	}
	cfg = cfg.withDefaults(n)
	switch {
	case !(cfg.Level > 0 && cfg.Level < 1):
		return nil, fmt.Errorf("%w: confidence level %v", ErrInput, cfg.Level)
	case cfg.Repeats < 2:
		return nil, fmt.Errorf("%w: %d permutation repeats, need at least 2", ErrInput, cfg.Repeats)
	case cfg.Depth < 1 || cfg.Depth > 6:
		return nil, fmt.Errorf("%w: tree depth %d, want 1 to 6", ErrInput, cfg.Depth)
	}
	rng := rand.New(src)
	cfg.report("predicting", 0, n)
	tau, err := effect(nil, d.X)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	if len(tau) != n {
		return nil, fmt.Errorf("predict: %d effects for %d rows", len(tau), n)
	}
	for i, v := range tau {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("predict: the effect of row %d is %v", i, v)
		}
	}
	ex := &Explanation{Tau: tau}
	if d.T != nil {
		cfg.report("doubly robust scores", 0, 0)
		if ex.Gamma, err = explainScores(d, cfg, rng); err != nil {
			return nil, err
		}
		if ex.Intercept, ex.BLP, err = BestLinearProjection(ex.Gamma, d.X, d.Categorical, cfg.Level); err != nil {
			return nil, err
		}
	}
	if ex.Importance, err = PermutationImportance(d.X, tau, effect, ImportanceOptions{
		Repeats: cfg.Repeats, Rows: cfg.ImportanceRows, Level: cfg.Level, Progress: cfg.Progress,
	}, rand.NewPCG(rng.Uint64(), rng.Uint64())); err != nil {
		return nil, err
	}
	cfg.report("tree", 0, 0)
	if ex.Tree, err = EffectTree(d.X, d.Categorical, tau, ex.Gamma, cfg.Depth, cfg.MinLeaf, cfg.Level); err != nil {
		return nil, err
	}
	return ex, nil
}

// explainScores cross-fits the outcome models as Calibrate does
// (crossFitArms) and returns the AIPW scores.
func explainScores(d ExplainData, cfg ExplainConfig, rng *rand.Rand) ([]float64, error) {
	n := len(d.T)
	folds, err := metaCheckFolds(cfg.Folds)
	if err != nil {
		return nil, err
	}
	t := make([]float64, n)
	var n1 int
	for i, v := range d.T {
		if v != 0 && v != 1 {
			return nil, fmt.Errorf("%w: treatment %d is %d, want 0 or 1", ErrInput, i, v)
		}
		if y := d.Y[i]; math.IsNaN(y) || math.IsInf(y, 0) {
			return nil, fmt.Errorf("%w: outcome %d is %v", ErrInput, i, y)
		}
		t[i] = float64(v)
		n1 += v
	}
	if n1 < folds || n-n1 < folds {
		return nil, fmt.Errorf("%w: %d treated and %d control units, need at least %d of each", ErrInput, n1, n-n1, folds)
	}
	e := make([]float64, n)
	for i := range e {
		if d.Propensity == nil {
			e[i] = float64(n1) / float64(n)
			continue
		}
		if e[i] = d.Propensity[i]; !(e[i] > 0 && e[i] < 1) {
			return nil, fmt.Errorf("%w: propensity %d is %v, want a value in (0, 1)", ErrInput, i, e[i])
		}
	}
	mu0, mu1, err := crossFitArms(cfg.Learner, d.X, d.Categorical, t, d.Y, folds, rng)
	if err != nil {
		return nil, err
	}
	return AIPWScores(nil, d.Y, t, mu0, mu1, e), nil
}

// ProjectionCoef is one coefficient of BestLinearProjection: the term is
// numeric feature Feature (Level −1) or the indicator of level Level of
// categorical feature Feature. SE is its HC3 standard error, CI its
// two-sided interval and PValue the two-sided p-value of H0: Coef = 0.
// A term that does not vary, or that is a linear combination of earlier
// terms, has NaN in every number.
type ProjectionCoef struct {
	Feature, Level   int
	Coef, SE, PValue float64
	CI               [2]float64
}

// BestLinearProjection is grf's best_linear_projection: the least-squares
// fit
//
//	Γ_i = β₀ + Σ_j β_j·z_ij + ε_i,
//
// of doubly robust scores gamma on the standardised features z_ij =
// (x_ij − x̄_j)/s_j (a categorical feature enters as the standardised
// indicators of its levels but the first, numeric codes 0, 1, ...), so
// β_j is the change of the effect per standard deviation of feature j,
// the others held fixed, and β₀ the average effect. Standard errors are
// HC3 as in BLPTest, V = n/(n−1)·(ZᵀZ)⁻¹ Zᵀ diag(e_i²/(1 − h_ii)²) Z (ZᵀZ)⁻¹;
// intervals and p-values use Student's t with n − k degrees of freedom for
// k terms. Terms that do not vary, or that are linear combinations of
// earlier terms (as R's lm pivots them out), are left out of the fit and
// reported as NaN. Semenova & Chernozhukov (2021).
func BestLinearProjection(gamma []float64, x *mat.Dense, categorical []bool, level float64) (intercept ProjectionCoef, coefs []ProjectionCoef, err error) {
	n, p := x.Dims()
	switch {
	case len(gamma) != n:
		return intercept, nil, fmt.Errorf("%w: %d scores for %d rows", ErrInput, len(gamma), n)
	case categorical != nil && len(categorical) != p:
		return intercept, nil, fmt.Errorf("%w: %d categorical flags for %d features", ErrInput, len(categorical), p)
	case !(level > 0 && level < 1):
		return intercept, nil, fmt.Errorf("%w: confidence level %v", ErrInput, level)
	}
	// The terms, each a column of Z built on the fly.
	type term struct {
		feature, level int
		mean, sd       float64
	}
	var terms []term
	value := func(tm term, i int) float64 {
		v := x.At(i, tm.feature)
		if tm.level >= 0 {
			if int(v) == tm.level {
				v = 1
			} else {
				v = 0
			}
		}
		return (v - tm.mean) / tm.sd
	}
	nan := math.NaN()
	for j := range p {
		levels := []int{-1}
		if categorical != nil && categorical[j] {
			var top int
			for i := range n {
				top = max(top, int(x.At(i, j)))
			}
			levels = levels[:0]
			for l := 1; l <= top; l++ {
				levels = append(levels, l)
			}
		}
		for _, l := range levels {
			tm := term{feature: j, level: l, sd: 1}
			var s, ss float64
			for i := range n {
				v := value(tm, i)
				s += v
				ss += v * v
			}
			tm.mean = s / float64(n)
			if v := ss/float64(n) - tm.mean*tm.mean; v > 1e-12*math.Max(1, tm.mean*tm.mean) {
				tm.sd = math.Sqrt(v * float64(n) / float64(n-1))
			} else {
				tm.sd = 0
			}
			terms = append(terms, tm)
		}
	}
	var used []int
	for k, tm := range terms {
		if tm.sd > 0 {
			used = append(used, k)
		}
	}
	k := len(used) + 1
	z := mat.NewDense(n, k, nil)
	for i := range n {
		z.Set(i, 0, 1)
		for c, t := range used {
			z.Set(i, c+1, value(terms[t], i))
		}
	}
	var a mat.SymDense
	a.SymOuterK(1, z.T())
	// Terms that are linear combinations of earlier ones (as R's lm
	// pivots them out) are left out.
	if keep := independentColumns(&a, 1e-9); len(keep) < k {
		kept := make([]int, 0, len(keep)-1)
		for _, c := range keep[1:] {
			kept = append(kept, used[c-1])
		}
		used, k = kept, len(keep)
		zk := mat.NewDense(n, k, nil)
		for i := range n {
			for c, col := range keep {
				zk.Set(i, c, z.At(i, col))
			}
		}
		z = zk
		a.Reset()
		a.SymOuterK(1, z.T())
	}
	if n <= k {
		return intercept, nil, fmt.Errorf("%w: %d units for %d terms of the linear projection", ErrInput, n, k)
	}
	var chol mat.Cholesky
	if !chol.Factorize(&a) {
		return intercept, nil, fmt.Errorf("%w: the features of the linear projection are collinear", ErrInsufficientData)
	}
	var ainv mat.SymDense
	if err := chol.InverseTo(&ainv); err != nil {
		return intercept, nil, fmt.Errorf("%w: the features of the linear projection are collinear: %v", ErrInsufficientData, err)
	}
	var zty, beta mat.VecDense
	zty.MulVec(z.T(), mat.NewVecDense(n, gamma))
	beta.MulVec(&ainv, &zty)
	// Meat Σ z zᵀ e²/(1 − h)², h_ii = z_iᵀ(ZᵀZ)⁻¹z_i.
	zw := mat.NewDense(n, k, nil)
	row := make([]float64, k)
	ar := mat.NewVecDense(k, nil)
	for i := range n {
		zi := z.RawRowView(i)
		e := gamma[i] - mat.Dot(mat.NewVecDense(k, zi), &beta)
		ar.MulVec(&ainv, mat.NewVecDense(k, zi))
		h := mat.Dot(ar, mat.NewVecDense(k, zi))
		if h >= 1 {
			h = 1 - 1e-12
		}
		u := math.Abs(e) / (1 - h)
		for c := range row {
			row[c] = zi[c] * u
		}
		zw.SetRow(i, row)
	}
	var meat mat.SymDense
	meat.SymOuterK(1, zw.T())
	var tmp, v mat.Dense
	tmp.Mul(&ainv, &meat)
	v.Mul(&tmp, &ainv)
	v.Scale(float64(n)/float64(n-1), &v)
	st := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - k)}
	q := st.Quantile((1 + level) / 2)
	coef := func(c int) ProjectionCoef {
		b, se := beta.AtVec(c), math.Sqrt(v.At(c, c))
		return ProjectionCoef{Coef: b, SE: se, CI: [2]float64{b - q*se, b + q*se}, PValue: 2 * st.CDF(-math.Abs(b/se))}
	}
	intercept = coef(0)
	intercept.Feature, intercept.Level = -1, -1
	coefs = make([]ProjectionCoef, len(terms))
	for t, tm := range terms {
		coefs[t] = ProjectionCoef{Feature: tm.feature, Level: tm.level, Coef: nan, SE: nan, PValue: nan, CI: [2]float64{nan, nan}}
	}
	for c, t := range used {
		pc := coef(c + 1)
		pc.Feature, pc.Level = terms[t].feature, terms[t].level
		coefs[t] = pc
	}
	return intercept, coefs, nil
}

// independentColumns returns, in order, the columns of a Gram matrix
// a = ZᵀZ that are not (within tol, relative to the column's own norm)
// linear combinations of the earlier columns kept: a Cholesky
// factorisation that skips a column whose pivot d = a_jj − ‖L⁻¹a_j‖²
// falls to tol·a_jj or below.
func independentColumns(a *mat.SymDense, tol float64) []int {
	k := a.SymmetricDim()
	var keep []int
	var l [][]float64 // rows of the factor of the kept columns
	for j := range k {
		ajj := a.At(j, j)
		y := make([]float64, len(keep)+1)
		var ss float64
		for r, c := range keep {
			v := a.At(c, j)
			for q := range r {
				v -= l[r][q] * y[q]
			}
			y[r] = v / l[r][r]
			ss += y[r] * y[r]
		}
		d := ajj - ss
		if !(ajj > 0) || d <= tol*ajj {
			continue
		}
		y[len(keep)] = math.Sqrt(d)
		l = append(l, y)
		keep = append(keep, j)
	}
	return keep
}
