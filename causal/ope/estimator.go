package ope

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The estimator names.
const (
	IPW           = "ipw"
	SNIPW         = "snipw"
	DM            = "dm"
	DR            = "dr"
	SNDR          = "sndr"
	SwitchDR      = "switch-dr"
	DRos          = "dros"
	SwitchDRTuned = "switch-dr-tuned"
	DRosTuned     = "dros-tuned"
)

// Names lists every estimator name.
var Names = []string{IPW, SNIPW, DM, DR, SNDR, SwitchDR, DRos, SwitchDRTuned, DRosTuned}

// DefaultEstimators are the estimators of the CLI's --estimators default.
var DefaultEstimators = []string{IPW, SNIPW, DM, DR, SNDR, SwitchDR, DRos}

// Default hyperparameters of the untuned switch-dr and dros: switch-dr
// hands rows whose weight exceeds 100 to the reward model alone; dros
// shrinks a weight w to λw/(w² + λ), which halves it at w = √λ = 100.
const (
	DefaultSwitchLambda = 100
	DefaultDRosLambda   = 10000
)

// DefaultLambdas is the grid the tuned estimators choose λ from, OBP's
// in its Open Bandit Dataset example.
var DefaultLambdas = []float64{10, 50, 100, 500, 1000, 5000, 10000, math.Inf(1)}

// Tuning is how switch-dr-tuned and dros-tuned choose λ.
type Tuning int

const (
	// TuneSLOPE (the default) is SLOPE (Su, Srinath & Krishnamurthy 2020)
	// in the form of Tucker & Lee (2021) that OBP implements: the
	// candidates are ordered by the width c_λ of a one-sided Student-t
	// bound, c_λ = t_{n−1, 1−δ}·sd(φ_λ)/√(n−1) with δ = 0.05 and φ_λ the
	// per-row terms whose mean is the estimate V_λ, widest (least biased)
	// first; each narrower candidate is accepted while
	// |V_λ − V_μ| ≤ c_λ + (√6 − 1)·c_μ for every candidate μ accepted
	// before it, and the last accepted candidate wins.
	TuneSLOPE Tuning = iota
	// TuneMSE picks the λ with the smallest estimated mean squared error
	// var(φ_λ)/n + B_λ², with the high-probability bias bound of Su et
	// al. (2020) as OBP computes it: B_λ = |mean((w − ŵ_λ)(r − q̂))| +
	// √(2·mean(w²)·log(2/δ)/n) + 2·max(w)·log(2/δ)/(3n), where ŵ_λ is
	// the switched or shrunk weight.
	TuneMSE
)

// String returns "slope" or "mse".
func (t Tuning) String() string {
	if t == TuneMSE {
		return "mse"
	}
	return "slope"
}

// ParseTuning reads "slope" or "mse".
func ParseTuning(s string) (Tuning, error) {
	switch s {
	case "slope":
		return TuneSLOPE, nil
	case "mse":
		return TuneMSE, nil
	}
	return 0, fmt.Errorf("%w: tuning %q, want slope or mse", ErrInput, s)
}

// Spec names one estimator and its hyperparameters.
type Spec struct {
	// Name is one of Names.
	Name string
	// Lambda is λ of switch-dr and dros (0 means DefaultSwitchLambda or
	// DefaultDRosLambda; +Inf turns either into dr).
	Lambda float64
	// Lambdas is the grid of switch-dr-tuned and dros-tuned (nil means
	// DefaultLambdas).
	Lambdas []float64
	// Tuning is how the tuned estimators choose λ.
	Tuning Tuning
}

// String returns the spec as ParseSpec reads it.
func (s Spec) String() string {
	out := s.Name
	if s.Lambda != 0 {
		out += ":lambda=" + fmtLambda(s.Lambda)
	}
	if s.Lambdas != nil {
		var parts []string
		for _, l := range s.Lambdas {
			parts = append(parts, fmtLambda(l))
		}
		out += ":lambdas=" + strings.Join(parts, "/")
	}
	if s.Tuning != TuneSLOPE {
		out += ":tuning=" + s.Tuning.String()
	}
	return out
}

func fmtLambda(l float64) string {
	if math.IsInf(l, 1) {
		return "inf"
	}
	return strconv.FormatFloat(l, 'g', -1, 64)
}

// ParseSpec reads "name" or "name:key=value:...": switch-dr and dros take
// lambda=V (a number ≥ 0 or inf); the tuned estimators take lambdas=V/V/...
// and tuning=slope|mse.
func ParseSpec(s string) (Spec, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	sp := Spec{Name: parts[0]}
	if !slices.Contains(Names, sp.Name) {
		return Spec{}, fmt.Errorf("%w: unknown estimator %q (known: %s)", ErrInput, sp.Name, strings.Join(Names, ", "))
	}
	tuned := sp.Name == SwitchDRTuned || sp.Name == DRosTuned
	for _, kv := range parts[1:] {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			return Spec{}, fmt.Errorf("%w: estimator %q: %q is not key=value", ErrInput, s, kv)
		case k == "lambda" && (sp.Name == SwitchDR || sp.Name == DRos):
			l, err := parseLambda(v)
			if err != nil {
				return Spec{}, fmt.Errorf("estimator %q: %w", s, err)
			}
			if l == 0 {
				return Spec{}, fmt.Errorf("%w: estimator %q: lambda 0 is the dm estimator", ErrInput, s)
			}
			sp.Lambda = l
		case k == "lambdas" && tuned:
			sp.Lambdas = nil
			for _, f := range strings.Split(v, "/") {
				l, err := parseLambda(f)
				if err != nil {
					return Spec{}, fmt.Errorf("estimator %q: %w", s, err)
				}
				sp.Lambdas = append(sp.Lambdas, l)
			}
		case k == "tuning" && tuned:
			t, err := ParseTuning(v)
			if err != nil {
				return Spec{}, fmt.Errorf("estimator %q: %w", s, err)
			}
			sp.Tuning = t
		default:
			return Spec{}, fmt.Errorf("%w: estimator %q does not take %q", ErrInput, sp.Name, k)
		}
	}
	return sp, nil
}

func parseLambda(s string) (float64, error) {
	if s == "inf" || s == "Inf" || s == "+inf" {
		return math.Inf(1), nil
	}
	l, err := strconv.ParseFloat(s, 64)
	if err != nil || !(l >= 0) || math.IsInf(l, 0) {
		return 0, fmt.Errorf("%w: lambda %q, want a number ≥ 0 or inf", ErrInput, s)
	}
	return l, nil
}

// ParseSpecs reads a comma-separated list of specs; the names must be
// distinct.
func ParseSpecs(s string) ([]Spec, error) {
	var out []Spec
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		sp, err := ParseSpec(part)
		if err != nil {
			return nil, err
		}
		if seen[sp.String()] {
			return nil, fmt.Errorf("%w: estimator %q listed twice", ErrInput, sp.String())
		}
		seen[sp.String()] = true
		out = append(out, sp)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no estimators", ErrInput)
	}
	return out, nil
}

// usesModel reports whether the estimator needs a reward model.
func (s Spec) usesModel() bool { return s.Name != IPW && s.Name != SNIPW }

// lambda resolves the untuned λ.
func (s Spec) lambda() float64 {
	if s.Lambda != 0 {
		return s.Lambda
	}
	if s.Name == SwitchDR {
		return DefaultSwitchLambda
	}
	return DefaultDRosLambda
}

// lambdas resolves the grid.
func (s Spec) lambdas() []float64 {
	if s.Lambdas != nil {
		return s.Lambdas
	}
	return DefaultLambdas
}

// switchWeight is w·1{w ≤ λ}.
func switchWeight(w, lambda float64) float64 {
	if w <= lambda {
		return w
	}
	return 0
}

// shrinkWeight is λw/(w² + λ) (w itself for λ = +Inf).
func shrinkWeight(w, lambda float64) float64 {
	if math.IsInf(lambda, 1) {
		return w
	}
	if lambda == 0 {
		return 0
	}
	return lambda * w / (w*w + lambda)
}
