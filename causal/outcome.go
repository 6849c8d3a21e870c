package causal

import (
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// DefaultOutcomeCap is the propensity cap of Outcome's IPS weights.
const DefaultOutcomeCap = 0.01

// Outcome is the estimator of the outcome rankers of a recommender: it
// predicts the outcome, not an effect, and serves it where an effect is
// expected, so that a recommender can rank items by it as a baseline.
//
// Without IPS it fits μ(x) = E[y | x] on every row, whatever the arm: the
// outcome a user would have anyway plus any effect of the logged
// recommendations. With IPS it fits on the rows of the treated arm only,
// each weighted by 1/max(P, Cap) with P the logged propensity of the
// treatment,
//
//	μ₁(x) = argmin Σ_{i: t_i=1} w_i ℓ(y_i, μ(x_i)) / max(P_i, Cap),
//
// the outcome if recommended, debiased for the logging policy (the
// inverse propensity scoring of the "IPS" baselines of Sato et al. 2020,
// "Unbiased Learning for the Causal Effect of Recommendation"). The
// "effect" of a fitted model is μ(x) for its one treated arm. Only one
// treated arm is supported.
type Outcome struct {
	// Base fits the outcome (nil means Linear{}: logistic regression for
	// 0/1 outcomes, least squares otherwise).
	Base Learner
	// Task says how to treat the outcome (AutoOutcome by default).
	Task OutcomeTask
	// IPS fits the treated rows with inverse propensity weights; it needs
	// the logged propensities.
	IPS bool
	// Cap is the lower cap of the propensities in the IPS weights, in
	// (0, 1) (0 means DefaultOutcomeCap).
	Cap float64
}

// OutcomeModel is a fitted Outcome: its effect is the predicted outcome.
// Its exported fields describe it completely (it is saved with Marshal
// under kind "outcome").
type OutcomeModel struct {
	// Model predicts the outcome.
	Model savedModel `json:"model"`
	// IPS says the model was fitted on the treated rows with inverse
	// propensity weights.
	IPS bool `json:"ips,omitempty"`
}

// NewOutcomeModel serves m, a model of the outcome, as an OutcomeModel.
func NewOutcomeModel(m Model, ips bool) *OutcomeModel {
	return &OutcomeModel{Model: savedModel{m}, IPS: ips}
}

// Kind implements Kinded.
func (m *OutcomeModel) Kind() string { return "outcome" }

// Validate reports a model without its outcome model.
func (m *OutcomeModel) Validate() error {
	if m.Model.Model == nil {
		return fmt.Errorf("%w: outcome model without its model", ErrFormat)
	}
	return nil
}

// FitUplift implements UpliftEstimator.
func (o Outcome) FitUplift(d UpliftData, src rand.Source) (UpliftModel, error) {
	name := "outcome"
	if o.IPS {
		name = "outcome-ips"
	}
	if err := metaCheck(d); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if d.Arms != 1 {
		return nil, fmt.Errorf("%w: %s supports one treated arm, got %d", ErrInput, name, d.Arms)
	}
	c := o.Cap
	if c == 0 {
		c = DefaultOutcomeCap
	}
	if !(c > 0 && c < 1) {
		return nil, fmt.Errorf("%w: %s: cap %v is not in (0, 1)", ErrInput, name, c)
	}
	task, err := o.Task.resolve(d.Y)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	x, y, w := d.X, d.Y, d.Weights
	if o.IPS {
		if d.Propensity == nil {
			return nil, fmt.Errorf("%w: %s needs the logged propensities", ErrInput, name)
		}
		rows := metaArmRows(d.Treatment, 1)
		w = make([]float64, len(rows))
		for k, r := range rows {
			w[k] = 1 / max(d.Propensity[r], c)
			if d.Weights != nil {
				w[k] *= d.Weights[r]
			}
		}
		x, y = metaRows(d.X, rows), metaPick(d.Y, rows)
	}
	m, err := metaBase(o.Base, d.Categorical).Fit(x, y, w, task, src)
	if err != nil {
		return nil, fmt.Errorf("%s: fit the outcome: %w", name, err)
	}
	return NewOutcomeModel(m, o.IPS), nil
}

// Effects implements UpliftModel: the predicted outcome of each row, in
// the one column of the treated arm.
func (m *OutcomeModel) Effects(dst *mat.Dense, x *mat.Dense) *mat.Dense {
	n, _ := x.Dims()
	dst = metaEffectsDst(dst, n, 1)
	if n == 0 {
		return dst
	}
	pred := m.Model.Predict(nil, x)
	for i, v := range pred {
		dst.Set(i, 0, v)
	}
	return dst
}

// newOutcomeEstimator builds Outcome (ips false) or its IPS form from
// base (linear), outcome (auto) and, with ips, cap (DefaultOutcomeCap).
func newOutcomeEstimator(ips bool) EstimatorFactory {
	return func(p *Params, r Registry) (UpliftEstimator, error) {
		base, err := r.Learner(p, "base", "linear")
		if err != nil {
			return nil, err
		}
		task, err := regOutcome(p)
		if err != nil {
			return nil, err
		}
		o := Outcome{Base: base, Task: task, IPS: ips}
		if ips {
			if o.Cap, err = p.Float("cap", DefaultOutcomeCap); err != nil {
				return nil, err
			}
			if !(o.Cap > 0 && o.Cap < 1) {
				return nil, fmt.Errorf("%w: cap=%v, want 0 < cap < 1", ErrParam, o.Cap)
			}
		}
		return o, nil
	}
}
