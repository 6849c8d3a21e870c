package causal

import (
	"fmt"
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

// takeRest returns every parameter no getter has read yet and marks them
// read, for factories that parse a whole parameter map themselves.
func (p *Params) takeRest() map[string]string {
	out := map[string]string{}
	for name, v := range p.values {
		if !p.read[name] {
			out[name] = v
			p.read[name] = true
		}
	}
	return out
}

func newUpliftTreeEstimator(p *Params, _ Registry) (UpliftEstimator, error) {
	t, _, err := UpliftTreeFromParams(p.takeRest())
	if err != nil {
		return nil, err
	}
	return t, nil
}

func newUpliftForestEstimator(p *Params, _ Registry) (UpliftEstimator, error) {
	f, _, err := UpliftForestFromParams(p.takeRest())
	if err != nil {
		return nil, err
	}
	return f, nil
}

func newCausalForestEstimator(p *Params, _ Registry) (UpliftEstimator, error) {
	f, _, err := CausalForestFromParams(p.takeRest())
	if err != nil {
		return nil, err
	}
	return f, nil
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

// fraction reads a float parameter in (0, 1] when set.
func fraction(p *Params, name string) (float64, error) {
	v, err := p.Float(name, 0)
	if err != nil {
		return 0, err
	}
	if p.Has(name) && !(v > 0 && v <= 1) {
		return 0, fmt.Errorf("%w: %s=%v must be in (0, 1]", ErrParam, name, v)
	}
	return v, nil
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
