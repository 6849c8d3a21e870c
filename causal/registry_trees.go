package causal

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// The registry entries of the tree learners and the forest estimators.
//
//	estimator      type           parameters (defaults)
//	uplift-tree    UpliftTree     depth, min_leaf, min_treatment, n_reg, criterion (KL), normalization, mtry, bins
//	uplift-forest  UpliftForest   the uplift-tree parameters, trees, bootstrap
//	causal-forest  CausalForest   trees, min_leaf, honesty_fraction, honesty, mtry, sample_fraction, alpha,
//	                              depth, ci_group_size, bins, nuisance_trees
//
//	learner        type           parameters (defaults)
//	gbt            GBT            trees (100), lr (0.1), leaves (31), depth (none), min_leaf (20), l2 (0),
//	                              bins (255), subsample (1), colsample (1), early_stopping (auto|on|off)
//	forest         Forest         trees (100), depth (none), min_leaf, mtry, bins (255), sample_fraction (1)

// readUpliftTree reads the parameters of an uplift tree: depth,
// min_leaf, min_treatment, n_reg, criterion (KL|ED|Chi|DDP),
// normalization (true|false), mtry and bins.
func readUpliftTree(p *Params) (UpliftTree, error) {
	var t UpliftTree
	var err error
	if t.MaxDepth, err = positive(p, "depth", 0, 1); err != nil {
		return t, err
	}
	if t.MinLeaf, err = floatIn(p, "min_leaf", 1, math.MaxFloat64, false); err != nil {
		return t, err
	}
	if t.MinTreatment, err = floatIn(p, "min_treatment", 1, math.MaxFloat64, false); err != nil {
		return t, err
	}
	if t.NReg, err = floatIn(p, "n_reg", 0, math.MaxFloat64, false); err != nil {
		return t, err
	}
	if t.MaxFeatures, err = positive(p, "mtry", 0, 1); err != nil {
		return t, err
	}
	if t.MaxBins, err = positive(p, "bins", 0, 2); err != nil {
		return t, err
	}
	if p.Has("criterion") {
		s := p.String("criterion", "")
		if t.Criterion, err = ParseUpliftCriterion(s); err != nil {
			return t, fmt.Errorf("%w: criterion=%q, want KL, ED, Chi or DDP", ErrParam, s)
		}
	}
	norm, err := p.Bool("normalization", true)
	t.NoNormalization = !norm
	if err != nil {
		return t, err
	}
	return t, t.validate()
}

// readUpliftForest reads the parameters of an uplift forest: those of its
// tree (see readUpliftTree), trees and bootstrap (true|false).
func readUpliftForest(p *Params) (UpliftForest, error) {
	var f UpliftForest
	var err error
	if f.Tree, err = readUpliftTree(p); err != nil {
		return f, err
	}
	if f.Trees, err = positive(p, "trees", 0, 1); err != nil {
		return f, err
	}
	boot, err := p.Bool("bootstrap", true)
	f.NoBootstrap = !boot
	return f, err
}

// readCausalForest reads the parameters of a causal forest: trees,
// min_leaf, honesty_fraction, honesty (true|false), mtry,
// sample_fraction, alpha, depth, ci_group_size, bins and nuisance_trees.
func readCausalForest(p *Params) (CausalForest, error) {
	var f CausalForest
	ints := []struct {
		name string
		dst  *int
		lo   int
	}{{"trees", &f.Trees, 1}, {"min_leaf", &f.MinLeaf, 1}, {"mtry", &f.Mtry, 1}, {"depth", &f.MaxDepth, 1},
		{"ci_group_size", &f.GroupSize, 1}, {"bins", &f.MaxBins, 2}, {"nuisance_trees", &f.NuisanceTrees, 1}}
	for _, c := range ints {
		v, err := positive(p, c.name, 0, c.lo)
		if err != nil {
			return f, err
		}
		*c.dst = v
	}
	floats := []struct {
		name   string
		dst    *float64
		lo, hi float64
		openLo bool
	}{{"honesty_fraction", &f.HonestyFraction, 0, 0.99, true}, {"sample_fraction", &f.SampleFraction, 0, 1, true},
		{"alpha", &f.Alpha, 0, 0.49, false}}
	for _, c := range floats {
		v, err := floatIn(p, c.name, c.lo, c.hi, c.openLo)
		if err != nil {
			return f, err
		}
		*c.dst = v
	}
	honest, err := p.Bool("honesty", true)
	f.NoHonesty = !honest
	if err != nil {
		return f, err
	}
	return f, f.validate()
}

func newUpliftTreeEstimator(p *Params, _ Registry) (UpliftEstimator, error) {
	return readUpliftTree(p)
}

func newUpliftForestEstimator(p *Params, _ Registry) (UpliftEstimator, error) {
	return readUpliftForest(p)
}

func newCausalForestEstimator(p *Params, _ Registry) (UpliftEstimator, error) {
	return readCausalForest(p)
}

// UpliftTreeFromParams builds an UpliftTree from string parameters (see
// readUpliftTree) and seed, and returns the tree and the seed (0 when not
// given). Unknown names and bad values are errors wrapping ErrParam, and
// values the tree refuses together errors wrapping ErrInput; every error
// wraps ErrInput, as it did before these functions read Params.
func UpliftTreeFromParams(params map[string]string) (UpliftTree, uint64, error) {
	return fromParams("uplift tree", params, readUpliftTree)
}

// UpliftForestFromParams is UpliftTreeFromParams for an UpliftForest:
// the tree's parameters, trees and bootstrap (true|false).
func UpliftForestFromParams(params map[string]string) (UpliftForest, uint64, error) {
	return fromParams("uplift forest", params, readUpliftForest)
}

// CausalForestFromParams is UpliftTreeFromParams for a CausalForest:
// trees, min_leaf, honesty_fraction, honesty (true|false), mtry,
// sample_fraction, alpha, depth, ci_group_size, bins and nuisance_trees.
func CausalForestFromParams(params map[string]string) (CausalForest, uint64, error) {
	return fromParams("causal forest", params, readCausalForest)
}

// fromParams reads a seed and the estimator of read from params, and
// rejects the parameters read did not take.
func fromParams[E any](what string, params map[string]string, read func(*Params) (E, error)) (E, uint64, error) {
	var zero E
	p := NewParams(params)
	seed, err := p.Uint64("seed", 0)
	if err != nil {
		return zero, 0, fmt.Errorf("%s: %w (%w)", what, err, ErrInput)
	}
	e, err := read(p)
	if err == nil {
		if un := p.Unread(); len(un) > 0 {
			err = fmt.Errorf("%w: unknown parameter %s", ErrParam, strings.Join(quoteAll(un), ", "))
		}
	}
	if err != nil {
		if !errors.Is(err, ErrInput) {
			err = fmt.Errorf("%w (%w)", err, ErrInput)
		}
		return zero, 0, fmt.Errorf("%s: %w", what, err)
	}
	return e, seed, nil
}

// positive reads an int parameter that must be at least lo when set.
func positive(p *Params, name string, def, lo int) (int, error) {
	v, err := p.Int(name, def)
	if err != nil {
		return 0, err
	}
	if p.Has(name) && v < lo {
		return 0, fmt.Errorf("%w: %s=%d must be at least %d", ErrParam, name, v, lo)
	}
	return v, nil
}

// floatIn reads a float parameter that must lie in [lo, hi] when set, or
// in (lo, hi] with openLo; unset, it is 0.
func floatIn(p *Params, name string, lo, hi float64, openLo bool) (float64, error) {
	v, err := p.Float(name, 0)
	if err != nil || !p.Has(name) {
		return 0, err
	}
	switch {
	case openLo && !(v > lo && v <= hi):
		return 0, fmt.Errorf("%w: %s=%v must be in (%g, %g]", ErrParam, name, v, lo, hi)
	case !openLo && !(v >= lo && v <= hi):
		if hi == math.MaxFloat64 {
			return 0, fmt.Errorf("%w: %s=%v must be at least %g", ErrParam, name, v, lo)
		}
		return 0, fmt.Errorf("%w: %s=%v must be in [%g, %g]", ErrParam, name, v, lo, hi)
	}
	return v, nil
}

// fraction reads a float parameter in (0, 1] when set.
func fraction(p *Params, name string) (float64, error) {
	return floatIn(p, name, 0, 1, true)
}

// newGBTLearner builds GBT from its parameters.
func newGBTLearner(p *Params) (Learner, error) {
	var g GBT
	var err error
	if g.MaxIter, err = positive(p, "trees", 0, 1); err != nil {
		return nil, err
	}
	if g.LearningRate, err = p.Float("lr", 0); err != nil {
		return nil, err
	}
	if p.Has("lr") && !(g.LearningRate > 0 && g.LearningRate <= 1) {
		return nil, fmt.Errorf("%w: lr=%v must be in (0, 1]", ErrParam, g.LearningRate)
	}
	if g.MaxLeaves, err = positive(p, "leaves", 0, 2); err != nil {
		return nil, err
	}
	if g.MaxDepth, err = positive(p, "depth", 0, 1); err != nil {
		return nil, err
	}
	if g.MinSamplesLeaf, err = positive(p, "min_leaf", 0, 1); err != nil {
		return nil, err
	}
	if g.L2, err = p.Float("l2", 0); err != nil {
		return nil, err
	}
	if g.L2 < 0 {
		return nil, fmt.Errorf("%w: l2=%v is negative", ErrParam, g.L2)
	}
	if g.MaxBins, err = positive(p, "bins", 0, 2); err != nil {
		return nil, err
	}
	if g.MaxBins > 255 {
		return nil, fmt.Errorf("%w: bins=%d must be at most 255", ErrParam, g.MaxBins)
	}
	if g.Subsample, err = fraction(p, "subsample"); err != nil {
		return nil, err
	}
	if g.FeatureFraction, err = fraction(p, "colsample"); err != nil {
		return nil, err
	}
	switch s := p.String("early_stopping", "auto"); s {
	case "auto":
		g.EarlyStopping = EarlyStoppingAuto
	case "on":
		g.EarlyStopping = EarlyStoppingOn
	case "off":
		g.EarlyStopping = EarlyStoppingOff
	default:
		return nil, fmt.Errorf("%w: early_stopping=%q, want auto, on or off", ErrParam, s)
	}
	return g, nil
}

// newForestLearner builds Forest from its parameters.
func newForestLearner(p *Params) (Learner, error) {
	var f Forest
	var err error
	if f.Trees, err = positive(p, "trees", 0, 1); err != nil {
		return nil, err
	}
	if f.MaxDepth, err = positive(p, "depth", 0, 1); err != nil {
		return nil, err
	}
	if f.MinSamplesLeaf, err = positive(p, "min_leaf", 0, 1); err != nil {
		return nil, err
	}
	if f.MaxFeatures, err = positive(p, "mtry", 0, 1); err != nil {
		return nil, err
	}
	if f.MaxBins, err = positive(p, "bins", 0, 2); err != nil {
		return nil, err
	}
	if f.MaxBins > 255 {
		return nil, fmt.Errorf("%w: bins=%d must be at most 255", ErrParam, f.MaxBins)
	}
	if f.SampleFraction, err = fraction(p, "sample_fraction"); err != nil {
		return nil, err
	}
	return f, nil
}
