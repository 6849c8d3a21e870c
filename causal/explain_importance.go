package causal

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// FeatureImportance is the permutation importance of feature Feature: the
// mean over repeats of the share of τ̂'s variance lost when the feature is
// permuted, with the repeats' t interval.
type FeatureImportance struct {
	Feature int
	Value   float64
	CI      [2]float64
}

// ImportanceOptions configures PermutationImportance.
type ImportanceOptions struct {
	// Repeats is the number of permutations per feature (at least 2).
	Repeats int
	// Rows caps the rows used, drawn without replacement (0 means all).
	Rows int
	// Level is the confidence level of the intervals.
	Level float64
	// Progress, when set, is told the permutations done.
	Progress func(stage string, done, total int)
}

// PermutationImportance measures how much of the variation of a model's
// effects τ̂ each feature carries. For feature j and repeat r it permutes
// column j of x (rows π) and predicts again, τ̂^{(j,r)}, and takes
//
//	I_jr = Σ_i (τ̂_i − τ̂_i^{(j,r)})² / (2·Σ_i (τ̂_i − τ̄)²),
//
// the share of τ̂'s variance lost: Jansen's estimator of the total Sobol
// index of feature j, 1 for a feature that carries all the variation, 0
// for one the model ignores, and for an additive τ̂ = Σ_j f_j(x_j) of
// independent features the share Var f_j/Var τ̂. The result, largest mean
// first, gives each feature the mean of I_jr over the repeats with a
// Student-t interval over them. tau holds τ̂ on the rows of x; with
// opt.Rows below the number of rows a random subset is used throughout.
// When τ̂ is constant every importance is 0.
func PermutationImportance(x *mat.Dense, tau []float64, effect EffectFunc, opt ImportanceOptions, src rand.Source) ([]FeatureImportance, error) {
	n, p := x.Dims()
	switch {
	case len(tau) != n:
		return nil, fmt.Errorf("%w: %d effects for %d rows", ErrInput, len(tau), n)
	case opt.Repeats < 2:
		return nil, fmt.Errorf("%w: %d permutation repeats, need at least 2", ErrInput, opt.Repeats)
	case !(opt.Level > 0 && opt.Level < 1):
		return nil, fmt.Errorf("%w: confidence level %v", ErrInput, opt.Level)
	case n < 2:
		return nil, fmt.Errorf("%w: %d rows, need at least 2", ErrInput, n)
	}
	rng := rand.New(src)
	rows, base := x, tau
	if opt.Rows > 0 && opt.Rows < n {
		idx := rng.Perm(n)[:opt.Rows]
		slices.Sort(idx)
		rows = metaRows(x, idx)
		base = metaPick(tau, idx)
		n = opt.Rows
	}
	var mean, ss float64
	for _, v := range base {
		mean += v
	}
	mean /= float64(n)
	for _, v := range base {
		ss += (v - mean) * (v - mean)
	}
	out := make([]FeatureImportance, p)
	st := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(opt.Repeats - 1)}
	q := st.Quantile((1 + opt.Level) / 2)
	perm := mat.DenseCopyOf(rows)
	col := make([]float64, n)
	var pred []float64
	vals := make([]float64, opt.Repeats)
	for j := range p {
		out[j].Feature = j
		if !(ss > 1e-12*float64(n)*math.Max(1, mean*mean)) {
			continue // a constant τ̂: no feature moves it
		}
		mat.Col(col, j, rows)
		for r := range opt.Repeats {
			if opt.Progress != nil {
				opt.Progress("permutation importance", j*opt.Repeats+r, p*opt.Repeats)
			}
			order := rng.Perm(n)
			for i, k := range order {
				perm.Set(i, j, col[k])
			}
			var err error
			if pred, err = effect(pred, perm); err != nil {
				return nil, fmt.Errorf("predict with feature %d permuted: %w", j, err)
			}
			if len(pred) != n {
				return nil, fmt.Errorf("predict: %d effects for %d rows", len(pred), n)
			}
			var d2 float64
			for i, v := range pred {
				d2 += (base[i] - v) * (base[i] - v)
			}
			vals[r] = d2 / (2 * ss)
		}
		perm.SetCol(j, col)
		m, se := MeanSE(vals, nil)
		out[j] = FeatureImportance{Feature: j, Value: m, CI: [2]float64{m - q*se, m + q*se}}
	}
	if opt.Progress != nil {
		opt.Progress("permutation importance", p*opt.Repeats, p*opt.Repeats)
	}
	slices.SortStableFunc(out, func(a, b FeatureImportance) int {
		switch {
		case a.Value > b.Value:
			return -1
		case a.Value < b.Value:
			return 1
		}
		return 0
	})
	return out, nil
}
