package receval

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
)

// Ranker learns from a training log how to score user–item pairs; the
// items of each user are recommended in decreasing order of score.
type Ranker interface {
	// Fit learns from train. src drives every random choice.
	Fit(train *Log, src rand.Source) (Scorer, error)
}

// Scorer scores the rows of a log.
type Scorer interface {
	// Score returns one score per row of l. Users and items unseen in
	// training get the scorer's neutral score.
	Score(l *Log) ([]float64, error)
}

// Built-in ranker names. An uplift ranker is UpliftPrefix followed by an
// estimator name of a causal.Registry, for example "uplift:x".
const (
	RankerPopularity = "popularity"
	RankerOutcome    = "outcome"
	RankerOutcomeIPS = "outcome-ips"
	RankerDLCE       = "dlce"
	UpliftPrefix     = "uplift:"
)

// OwnRankers are the estimators of a causal.Registry that are rankers of
// their own (the ranker of that name), not uplift rankers.
var OwnRankers = []string{RankerDLCE, RankerOutcome, RankerOutcomeIPS}

// SlowEstimators are the estimators DefaultRankers leaves out because
// they are prohibitively slow on the default simulation: the causal
// forest takes about 4 minutes and 1.1 GB there, against seconds for the
// rest. They run when named, as in "uplift:causal-forest".
var SlowEstimators = []string{"causal-forest"}

// DefaultRankers returns the rankers run when none are named: the
// baselines (popularity, outcome, outcome-ips), DLCE, and an uplift ranker
// for every estimator of reg but SlowEstimators and OwnRankers: s, t, x, r, dr, uplift-tree, uplift-forest first, then the
// others (such as auto and bootstrap) in name order.
func DefaultRankers(reg causal.Registry) []string {
	out := []string{RankerPopularity, RankerOutcome, RankerOutcomeIPS, RankerDLCE}
	first := []string{"s", "t", "x", "r", "dr", "uplift-tree", "uplift-forest"}
	for _, e := range first {
		if _, ok := reg.Estimators[e]; ok {
			out = append(out, UpliftPrefix+e)
		}
	}
	var rest []string
	for e := range reg.Estimators {
		if !slices.Contains(first, e) && !slices.Contains(SlowEstimators, e) && !slices.Contains(OwnRankers, e) {
			rest = append(rest, e)
		}
	}
	slices.Sort(rest)
	for _, e := range rest {
		out = append(out, UpliftPrefix+e)
	}
	return out
}

// NewRanker returns the ranker called name:
//
//	popularity    items by their number of positive outcomes in training
//	outcome       P(outcome | features) from logistic regression on all
//	              rows (least squares when outcomes are not 0/1):
//	              causal.Outcome, the estimator "outcome"
//	outcome-ips   the same fitted on the recommended rows only, weighted by
//	              1/max(P, 0.01): the outcome if recommended (the
//	              estimator "outcome-ips")
//	dlce          DLCE (see DLCE) with its defaults
//	uplift:NAME   the effect predicted by estimator NAME of reg, fitted on
//	              the features with treatment = treated and the logged
//	              propensities; NAME may carry a base learner and
//	              parameters as in causal.ParseAutoCandidate, e.g.
//	              "uplift:tarnet:l2=0.001" or "uplift:x/gbt:depth=2"
//
// An unknown name gives an error wrapping causal.ErrParam.
func NewRanker(name string, reg causal.Registry) (Ranker, error) {
	switch name {
	case RankerPopularity:
		return popularity{}, nil
	case RankerOutcome:
		return upliftRanker{est: causal.Outcome{}}, nil
	case RankerOutcomeIPS:
		return upliftRanker{est: causal.Outcome{IPS: true}}, nil
	case RankerDLCE:
		return DLCE{}, nil
	}
	if est, ok := strings.CutPrefix(name, UpliftPrefix); ok {
		c, err := causal.ParseAutoCandidate(est)
		if err != nil {
			return nil, fmt.Errorf("ranker %q: %w", name, err)
		}
		e, err := c.Build(reg)
		if err != nil {
			return nil, fmt.Errorf("ranker %q: %w", name, err)
		}
		return upliftRanker{est: e.Estimator}, nil
	}
	return nil, fmt.Errorf("%w: unknown ranker %q (known: popularity, outcome, outcome-ips, dlce, uplift:<estimator>)", causal.ErrParam, name)
}

// popularity scores an item by its number of positive outcomes.
type popularity struct{}

type popScorer map[string]float64

func (popularity) Fit(train *Log, _ rand.Source) (Scorer, error) {
	cnt := make([]float64, len(train.Items))
	for r, i := range train.Item {
		cnt[i] += train.Outcome[r]
	}
	s := make(popScorer, len(train.Items))
	for i, id := range train.Items {
		s[id] = cnt[i]
	}
	return s, nil
}

func (p popScorer) Score(l *Log) ([]float64, error) {
	out := make([]float64, l.Len())
	for r, i := range l.Item {
		out[r] = p[l.Items[i]]
	}
	return out, nil
}

func needFeatures(l *Log) error {
	if l.X == nil {
		return fmt.Errorf("%w: the training log has no feature columns", ErrInput)
	}
	return nil
}

// NewUpliftRanker returns the ranker that scores a user–item pair by the
// effect est predicts, fitted like the uplift:NAME rankers of NewRanker:
// on the features, with treatment = treated and the logged propensities.
// It is how an estimator that is not in a causal.Registry (one served by
// a plugin, say) becomes a ranker.
func NewUpliftRanker(est causal.UpliftEstimator) Ranker {
	return upliftRanker{est: est}
}

// upliftRanker ranks by the effect an estimator predicts (by the outcome
// for the estimator of the outcome rankers, causal.Outcome).
type upliftRanker struct {
	est causal.UpliftEstimator
}

type upliftScorer struct {
	train *Log
	model causal.UpliftModel
}

func (u upliftRanker) Fit(train *Log, src rand.Source) (Scorer, error) {
	if err := needFeatures(train); err != nil {
		return nil, err
	}
	p := make([]float64, train.Len())
	for r, t := range train.Treated {
		p[r] = train.Propensity[r]
		if t == 0 {
			p[r] = 1 - p[r]
		}
	}
	m, err := u.est.FitUplift(causal.UpliftData{
		X: train.X, Treatment: slices.Clone(train.Treated), Arms: 1, Y: train.Outcome, Propensity: p,
	}, src)
	if err != nil {
		return nil, fmt.Errorf("fit uplift model: %w", err)
	}
	return upliftScorer{train: train, model: m}, nil
}

func (u upliftScorer) Score(l *Log) ([]float64, error) {
	x, err := AlignFeatures(u.train, l)
	if err != nil {
		return nil, err
	}
	return mat.Col(nil, 0, u.model.Effects(nil, x)), nil
}
