package receval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"gonum.org/v1/gonum/mat"
)

// SimConfig configures Simulate. Start from DefaultSimConfig: a zero field
// is a value, not a default.
type SimConfig struct {
	// Users and Items are the numbers of users and items; every user–item
	// pair is one row of each period's log.
	Users, Items int
	// Agreement ρ in [−1, 1] is the correlation between the engagement
	// signal e and the uplift signal g: 1 makes the items users engage
	// with anyway the ones recommendation helps most, −1 the ones it
	// helps least.
	Agreement float64
	// BaseLogit is the logit of the outcome probability without
	// recommendation at average engagement.
	BaseLogit float64
	// EffectMean and EffectScale set the treatment's shift of the outcome
	// logit, EffectMean + EffectScale·g.
	EffectMean, EffectScale float64
	// PolicyLogit and PolicyStrength set the logging policy: the item is
	// recommended with probability σ(PolicyLogit + PolicyStrength·e),
	// clipped to [PropensityClip, 1 − PropensityClip].
	PolicyLogit, PolicyStrength, PropensityClip float64
}

// DefaultSimConfig returns the documented default simulation: 1000 users,
// 100 items, ρ = −0.5, base logit −3, effect 0.5 + 1·g, logging policy
// σ(−2 + 1.5·e) clipped to [0.01, 0.99].
func DefaultSimConfig() SimConfig {
	return SimConfig{
		Users: 1000, Items: 100, Agreement: -0.5,
		BaseLogit: -3, EffectMean: 0.5, EffectScale: 1,
		PolicyLogit: -2, PolicyStrength: 1.5, PropensityClip: 0.01,
	}
}

// Validate returns an error naming the first invalid field of c.
func (c SimConfig) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"agreement", c.Agreement}, {"base logit", c.BaseLogit}, {"effect mean", c.EffectMean},
		{"effect scale", c.EffectScale}, {"policy logit", c.PolicyLogit}, {"policy strength", c.PolicyStrength},
		{"propensity clip", c.PropensityClip}} {
		if !finite(f.v) {
			return fmt.Errorf("%w: simulation %s %v is not finite", ErrInput, f.name, f.v)
		}
	}
	switch {
	case c.Users < 1 || c.Items < 1:
		return fmt.Errorf("%w: simulation needs at least 1 user and 1 item, got %d and %d", ErrInput, c.Users, c.Items)
	case c.Agreement < -1 || c.Agreement > 1:
		return fmt.Errorf("%w: agreement %v is not in [-1, 1]", ErrInput, c.Agreement)
	case !(c.PropensityClip > 0 && c.PropensityClip < 0.5):
		return fmt.Errorf("%w: propensity clip %v is not in (0, 0.5)", ErrInput, c.PropensityClip)
	}
	return nil
}

// SimUserFeatures and SimItemFeatures are the numbers of observed user and
// item features of Simulate.
const (
	SimUserFeatures = 3
	SimItemFeatures = 5
)

// Simulation is the output of Simulate: the logs of a training and a test
// period over the same users and items, and the potential outcome
// probabilities of every pair. The two logs share their ids, propensities,
// features and effects (only Treated and Outcome differ); copy before
// modifying them.
type Simulation struct {
	Train, Test *Log
	// MuT and MuC are P(Y=1 | recommended) and P(Y=1 | not recommended)
	// of each row (the rows of Train and Test are the same pairs in the
	// same order); Tau = MuT − MuC is in both logs.
	MuT, MuC []float64
}

// Simulate draws a semi-synthetic recommendation log in the manner of
// Sato et al. (2020): every user–item pair has known probabilities of the
// outcome with and without recommendation, a logging policy recommends
// with known propensity, and each period draws treatment and outcome by
// Bernoulli trials. The design, for user u and item i, is
//
//	x_u ∈ R³, f_i ∈ R⁵, ε_i, ε'_i ~ N(0, 1) independently (ε hidden)
//	e_ui = (f_i0 + 0.5·ε_i + x_u0·f_i1) / 1.5              engagement
//	h_ui = (f_i2 + 0.5·ε'_i + x_u1·f_i3) / 1.5             independent uplift
//	g_ui = ρ·e_ui + √(1−ρ²)·h_ui                           uplift signal
//	μC = σ(BaseLogit + e_ui)
//	μT = σ(BaseLogit + e_ui + EffectMean + EffectScale·g_ui)
//	τ  = μT − μC
//	P  = clip(σ(PolicyLogit + PolicyStrength·e_ui))
//	Z ~ Bernoulli(P),  Y ~ Bernoulli(Z·μT + (1−Z)·μC)
//
// with σ(z) = 1/(1+e^−z). The features u0..u2 (x_u) and i0..i4 (f_i) are
// observed; x_u2 and f_i4 are noise; ε_i is a hidden popularity the
// logging policy sees too. Users are "u1".."uN", items "i1".."iM"; rows
// are in user-major order. src is used for the features, then the
// training period's draws row by row (Z, then Y), then the test period's.
func Simulate(c SimConfig, src rand.Source) (*Simulation, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(src)
	nu, ni := c.Users, c.Items
	xu := make([]float64, nu*SimUserFeatures)
	for j := range xu {
		xu[j] = rng.NormFloat64()
	}
	fi := make([]float64, ni*SimItemFeatures)
	eps := make([]float64, 2*ni)
	for i := range ni {
		for j := range SimItemFeatures {
			fi[i*SimItemFeatures+j] = rng.NormFloat64()
		}
		eps[2*i], eps[2*i+1] = rng.NormFloat64(), rng.NormFloat64()
	}
	n := nu * ni
	rho := c.Agreement
	orth := math.Sqrt(max(0, 1-rho*rho))
	mut, muc, prop := make([]float64, n), make([]float64, n), make([]float64, n)
	for u := range nu {
		x := xu[u*SimUserFeatures:]
		for i := range ni {
			f := fi[i*SimItemFeatures:]
			e := (f[0] + 0.5*eps[2*i] + x[0]*f[1]) / 1.5
			h := (f[2] + 0.5*eps[2*i+1] + x[1]*f[3]) / 1.5
			g := rho*e + orth*h
			r := u*ni + i
			muc[r] = sigmoid(c.BaseLogit + e)
			mut[r] = sigmoid(c.BaseLogit + e + c.EffectMean + c.EffectScale*g)
			prop[r] = min(max(sigmoid(c.PolicyLogit+c.PolicyStrength*e), c.PropensityClip), 1-c.PropensityClip)
		}
	}
	users := make([]string, nu)
	for u := range users {
		users[u] = "u" + strconv.Itoa(u+1)
	}
	items := make([]string, ni)
	for i := range items {
		items[i] = "i" + strconv.Itoa(i+1)
	}
	names := make([]string, 0, SimUserFeatures+SimItemFeatures)
	for j := range SimUserFeatures {
		names = append(names, "u"+strconv.Itoa(j))
	}
	for j := range SimItemFeatures {
		names = append(names, "i"+strconv.Itoa(j))
	}
	uidx, iidx := make([]int, n), make([]int, n)
	x := mat.NewDense(n, len(names), nil)
	tau := make([]float64, n)
	for u := range nu {
		for i := range ni {
			r := u*ni + i
			uidx[r], iidx[r] = u, i
			row := x.RawRowView(r)
			copy(row, xu[u*SimUserFeatures:(u+1)*SimUserFeatures])
			copy(row[SimUserFeatures:], fi[i*SimItemFeatures:(i+1)*SimItemFeatures])
			tau[r] = mut[r] - muc[r]
		}
	}
	period := func() *Log {
		l := &Log{
			Users: users, Items: items, User: uidx, Item: iidx,
			Treated: make([]int, n), Propensity: prop, Outcome: make([]float64, n),
			Tau: tau, FeatureNames: names, X: x,
		}
		for r := range n {
			mu := muc[r]
			if rng.Float64() < prop[r] {
				l.Treated[r] = 1
				mu = mut[r]
			}
			if rng.Float64() < mu {
				l.Outcome[r] = 1
			}
		}
		return l
	}
	train := period()
	test := period()
	return &Simulation{Train: train, Test: test, MuT: mut, MuC: muc}, nil
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
