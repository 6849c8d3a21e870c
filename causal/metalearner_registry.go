package causal

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// ErrParam reports an unknown parameter name or an invalid parameter
// value. Check with errors.Is.
var ErrParam = errors.New("invalid parameter")

// Params is a set of named string parameters, as given on a command line
// (--param folds=5) or in a plugin request, that factories turn into
// typed configuration. Every getter records the name it read; after the
// factories have run, Registry.NewEstimator rejects the names nobody read,
// so a misspelt or meaningless parameter is an error rather than silently
// ignored.
type Params struct {
	values map[string]string
	read   map[string]bool
}

// NewParams wraps values (which it does not modify).
func NewParams(values map[string]string) *Params {
	return &Params{values: values, read: make(map[string]bool)}
}

// ParseParams turns "name=value" strings into a parameter map. It rejects
// a string without '=', an empty name and a name given twice.
func ParseParams(kv []string) (map[string]string, error) {
	out := make(map[string]string, len(kv))
	for i, s := range kv {
		name, value, ok := strings.Cut(s, "=")
		name = strings.TrimSpace(name)
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: parameter %d %q is not name=value", ErrParam, i+1, s)
		case name == "":
			return nil, fmt.Errorf("%w: parameter %d %q has an empty name", ErrParam, i+1, s)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%w: parameter %q given twice", ErrParam, name)
		}
		out[name] = strings.TrimSpace(value)
	}
	return out, nil
}

// Values returns a copy of every parameter, read or not, without marking
// any read.
func (p *Params) Values() map[string]string { return maps.Clone(p.values) }

// Has reports whether the parameter is set, without marking it read.
func (p *Params) Has(name string) bool {
	_, ok := p.values[name]
	return ok
}

// String returns the parameter's value, or def when it is not set.
func (p *Params) String(name, def string) string {
	p.read[name] = true
	if v, ok := p.values[name]; ok {
		return v
	}
	return def
}

// Int returns the parameter as an int, or def when it is not set.
func (p *Params) Int(name string, def int) (int, error) {
	s := p.String(name, "")
	if !p.Has(name) {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%q is not an integer", ErrParam, name, s)
	}
	return v, nil
}

// Uint64 returns the parameter as a uint64, or def when it is not set.
func (p *Params) Uint64(name string, def uint64) (uint64, error) {
	s := p.String(name, "")
	if !p.Has(name) {
		return def, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%q is not a non-negative integer", ErrParam, name, s)
	}
	return v, nil
}

// Float returns the parameter as a finite float64, or def when it is not
// set.
func (p *Params) Float(name string, def float64) (float64, error) {
	s := p.String(name, "")
	if !p.Has(name) {
		return def, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%w: %s=%q is not a finite number", ErrParam, name, s)
	}
	return v, nil
}

// Bool returns the parameter as a bool (true/false/1/0), or def when it is
// not set.
func (p *Params) Bool(name string, def bool) (bool, error) {
	s := p.String(name, "")
	if !p.Has(name) {
		return def, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%w: %s=%q is not true or false", ErrParam, name, s)
	}
	return v, nil
}

// Unread returns the sorted names of the parameters no getter has read.
func (p *Params) Unread() []string {
	var out []string
	for name := range p.values {
		if !p.read[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// LearnerFactory builds a base learner from parameters (for example
// "l2" for Linear). It reads only the parameters it understands.
type LearnerFactory func(p *Params) (Learner, error)

// EstimatorFactory builds an uplift estimator from parameters. It builds
// any base learners it needs through r.Learner, so a new base learner
// registered in r is available to every estimator.
type EstimatorFactory func(p *Params, r Registry) (UpliftEstimator, error)

// Registry maps names to estimator and base learner factories. It is a
// plain value built explicitly: start from NewRegistry and add entries,
// for example
//
//	r := causal.NewRegistry()
//	r.Learners["gbt"] = func(p *causal.Params) (causal.Learner, error) { ... }
//	r.Estimators["causal-forest"] = func(p *causal.Params, r causal.Registry) (causal.UpliftEstimator, error) { ... }
//	est, err := r.NewEstimator("dr", map[string]string{"base": "gbt", "folds": "3"})
//
// The maps are shared by copies of the Registry value; clone them first
// when a variant must not change the original.
type Registry struct {
	// Estimators maps an estimator name (the --estimator flag) to its
	// factory.
	Estimators map[string]EstimatorFactory
	// Learners maps a base learner name (the value of base=, final= and
	// propensity= parameters) to its factory.
	Learners map[string]LearnerFactory
}

// NewRegistry returns a Registry holding every built-in estimator and learner:
//
//	estimator  type        parameters (defaults)
//	s          SLearner    base (linear), outcome (auto)
//	t          TLearner    base (linear), outcome (auto)
//	x          XLearner    base (linear), propensity (linear), final (= base), clip (0.01), outcome (auto)
//	r          RLearner    base (linear), propensity (linear), final (= base), folds (5), clip (0.01), outcome (auto)
//	dr         DRLearner   base (linear), propensity (linear), final (= base), folds (5), clip (0.01), outcome (auto)
//	uplift-tree, uplift-forest, causal-forest: see registry_trees.go
//	auto       stacks or picks candidates by cross-validated loss: candidates, criterion (mixed-loss; r-loss, dr-loss), mix (0.25), folds (5 on at most 5,000 selection rows, else 3), select_rows, nuisance, clip (0.05), combine (stack), members (4), bags (20), weights (convex; nonneg), qagg (0.5), propensity (model; select, constant), prefer_select (-1), mix_overlap (5; 0 off), budget (3; off)
//	bootstrap  of (t), replicates, interval (percentile); other parameters go to the bootstrapped estimator
//	dlce       DLCE        dim (10), epochs (60), negatives (5), learn_rate (0.003), l2 (0.1), cap (0.05), user_col, item_col (-1)
//	outcome    Outcome     base (linear), outcome (auto): the predicted outcome, not an effect (a recommender's baseline)
//	outcome-ips Outcome    as outcome, fitted on the treated rows weighted by 1/max(propensity, cap); cap (0.01)
//	tarnet     TARNet      hidden (64), layers (2), head_hidden (32), head_layers (1), epochs (DefaultEpochs), batch (DefaultNetBatch), learn_rate (DefaultNetLearnRate), l2 (DefaultNetL2), patience (30), val_fraction (0.2), nets (DefaultNets), outcome (auto)
//	dragonnet  TARNet      as tarnet, plus alpha (1), the weight of the propensity head
//
//	learner    type        parameters (defaults)
//	linear     Linear      l2 (DefaultL2)
//	gbt        GBT         histogram gradient-boosted trees (see registry_trees.go)
//	forest     Forest      random forest (see registry_trees.go)
//	mlp        MLP         hidden (64), layers (2), epochs, batch, learn_rate, l2, patience, val_fraction, nets (as tarnet, but batch 64, learn_rate 0.001, nets 1)
//
// base, propensity and final name registered learners; outcome is auto,
// regression or classification (see OutcomeTask); folds is the number of
// cross-fitting folds (at least 2); clip bounds propensities to
// [clip, 1−clip] with 0 < clip < 0.5. A learner's own parameters (such as
// l2) are shared by every stage that uses it. Every estimator also takes
// seed (see NewEstimator).
func NewRegistry() Registry {
	return Registry{
		Estimators: map[string]EstimatorFactory{
			"s":             newSLearner,
			"t":             newTLearner,
			"x":             newXLearner,
			"r":             newRLearner,
			"dr":            newDRLearner,
			"uplift-tree":   newUpliftTreeEstimator,
			"uplift-forest": newUpliftForestEstimator,
			"causal-forest": newCausalForestEstimator,
			"auto":          newAutoEstimator,
			"bootstrap":     newBootstrapEstimator,
			"dlce":          newDLCEEstimator,
			"outcome":       newOutcomeEstimator(false),
			"outcome-ips":   newOutcomeEstimator(true),
			"tarnet":        newTARNetEstimator,
			"dragonnet":     newDragonNetEstimator,
		},
		Learners: map[string]LearnerFactory{
			"linear": newLinear,
			"gbt":    newGBTLearner,
			"forest": newForestLearner,
			"mlp":    newMLPLearner,
		},
	}
}

// NewEstimator builds the estimator registered under name from params.
// It rejects an unknown name, an unknown base learner, a parameter that
// no factory read and a value that does not parse, with an error that
// wraps ErrParam and names the problem.
//
// The parameter seed (a non-negative integer) is handled here for every
// estimator: when set, the result is a SeededEstimator that ignores the
// source passed to FitUplift, so a fit is reproducible from its
// parameters alone.
func (r Registry) NewEstimator(name string, params map[string]string) (UpliftEstimator, error) {
	f, ok := r.Estimators[name]
	if !ok {
		return nil, fmt.Errorf("%w: unknown estimator %q (known: %s)", ErrParam, name, strings.Join(regNames(r.Estimators), ", "))
	}
	p := NewParams(params)
	seeded := p.Has("seed")
	seed, err := p.Uint64("seed", 0)
	if err != nil {
		return nil, fmt.Errorf("estimator %q: %w", name, err)
	}
	est, err := f(p, r)
	if err != nil {
		return nil, fmt.Errorf("estimator %q: %w", name, err)
	}
	if un := p.Unread(); len(un) > 0 {
		return nil, fmt.Errorf("%w: estimator %q does not take parameter %s", ErrParam, name, strings.Join(quoteAll(un), ", "))
	}
	if seeded {
		return SeededEstimator{Estimator: est, Seed: seed}, nil
	}
	return est, nil
}

// Learner builds the base learner named by parameter param (def when the
// parameter is not set).
func (r Registry) Learner(p *Params, param, def string) (Learner, error) {
	name := p.String(param, def)
	f, ok := r.Learners[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s=%q is not a known learner (known: %s)", ErrParam, param, name, strings.Join(regNames(r.Learners), ", "))
	}
	l, err := f(p)
	if err != nil {
		return nil, fmt.Errorf("learner %q: %w", name, err)
	}
	return l, nil
}

// SeededEstimator fits Estimator with a source seeded from Seed, ignoring
// the draws of the source given to FitUplift (but keeping its stop signal,
// see WithStop).
type SeededEstimator struct {
	Estimator UpliftEstimator
	Seed      uint64
}

// FitUplift implements UpliftEstimator.
func (s SeededEstimator) FitUplift(d UpliftData, src rand.Source) (UpliftModel, error) {
	return s.Estimator.FitUplift(d, derive(src, s.Seed, 0x9e3779b97f4a7c15))
}

func regNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strconv.Quote(v)
	}
	return out
}

// newLinear builds Linear from l2.
func newLinear(p *Params) (Learner, error) {
	l2, err := p.Float("l2", 0)
	if err != nil {
		return nil, err
	}
	if l2 < 0 {
		return nil, fmt.Errorf("%w: l2=%v is negative", ErrParam, l2)
	}
	return Linear{L2: l2}, nil
}

// regOutcome parses the outcome parameter.
func regOutcome(p *Params) (OutcomeTask, error) {
	switch s := p.String("outcome", "auto"); s {
	case "auto":
		return AutoOutcome, nil
	case "regression":
		return RegressionOutcome, nil
	case "classification":
		return ClassificationOutcome, nil
	default:
		return 0, fmt.Errorf("%w: outcome=%q, want auto, regression or classification", ErrParam, s)
	}
}

// regStages reads the parameters shared by the X-, R- and DR-learners.
type regStages struct {
	base, prop, final Learner
	folds             int
	clip              float64
	outcome           OutcomeTask
}

func regReadStages(p *Params, r Registry, folds bool) (regStages, error) {
	var s regStages
	var err error
	if s.base, err = r.Learner(p, "base", "linear"); err != nil {
		return s, err
	}
	if s.prop, err = r.Learner(p, "propensity", "linear"); err != nil {
		return s, err
	}
	if p.Has("final") {
		if s.final, err = r.Learner(p, "final", ""); err != nil {
			return s, err
		}
	}
	if s.clip, err = p.Float("clip", DefaultClip); err != nil {
		return s, err
	}
	if _, err = metaCheckClip(s.clip); err != nil || s.clip == 0 {
		return s, fmt.Errorf("%w: clip=%v, want 0 < clip < 0.5", ErrParam, s.clip)
	}
	if folds {
		if s.folds, err = p.Int("folds", DefaultFolds); err != nil {
			return s, err
		}
		if s.folds < 2 {
			return s, fmt.Errorf("%w: folds=%d, want at least 2", ErrParam, s.folds)
		}
	}
	s.outcome, err = regOutcome(p)
	return s, err
}

func newSLearner(p *Params, r Registry) (UpliftEstimator, error) {
	base, err := r.Learner(p, "base", "linear")
	if err != nil {
		return nil, err
	}
	o, err := regOutcome(p)
	return SLearner{Base: base, Outcome: o}, err
}

func newTLearner(p *Params, r Registry) (UpliftEstimator, error) {
	base, err := r.Learner(p, "base", "linear")
	if err != nil {
		return nil, err
	}
	o, err := regOutcome(p)
	return TLearner{Base: base, Outcome: o}, err
}

func newXLearner(p *Params, r Registry) (UpliftEstimator, error) {
	s, err := regReadStages(p, r, false)
	return XLearner{Base: s.base, Propensity: s.prop, Final: s.final, Clip: s.clip, Outcome: s.outcome}, err
}

func newRLearner(p *Params, r Registry) (UpliftEstimator, error) {
	s, err := regReadStages(p, r, true)
	return RLearner{Base: s.base, Propensity: s.prop, Final: s.final, Folds: s.folds, Clip: s.clip, Outcome: s.outcome}, err
}

func newDRLearner(p *Params, r Registry) (UpliftEstimator, error) {
	s, err := regReadStages(p, r, true)
	return DRLearner{Base: s.base, Propensity: s.prop, Final: s.final, Folds: s.folds, Clip: s.clip, Outcome: s.outcome}, err
}
