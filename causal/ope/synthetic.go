package ope

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// SyntheticConfig describes a synthetic bandit environment in the manner
// of OBP's SyntheticBanditDataset, with positions. Zero fields take the
// defaults in brackets.
type SyntheticConfig struct {
	// Actions is the number of actions [20].
	Actions int
	// Positions is the number of positions [3].
	Positions int
	// Numeric is the number of standard normal context features [3].
	Numeric int
	// Categorical is the number of category context features [2], each
	// uniform over Levels levels [4].
	Categorical, Levels int
	// Intercept is b in the reward logit [−1].
	Intercept float64
	// LoggingBeta is the inverse temperature of the logging policy [0.5].
	LoggingBeta float64
	// EvalBeta is the inverse temperature of the evaluation policy [2].
	EvalBeta float64
	// ContextFree makes the evaluation policy depend on the position
	// only, as a policy written to a context-free policy file.
	ContextFree bool
}

// SyntheticEnv is a drawn environment: the expected reward
//
//	q(x, a, k) = σ(f(x, a, k)),
//	f(x, a, k) = b + μ_a − 0.3·k + θ_a·x_num/√m + Σ_j ψ_{a,j}(c_j) + 0.5·κ_a·(x_1² − 1),
//
// with x_num the m numeric features, c_j the category features and
// μ_a, ψ ~ N(0, 0.5²), θ_a, κ_a ~ N(0, I); the last term is not linear in
// x, so a logistic reward model is misspecified. The logging policy is
// π_b(a | x, k) ∝ exp(β_b·(f(x, a, k) + ζ_a)) with an action preference
// ζ_a ~ N(0, 1) that the evaluation policy does not share; the evaluation
// policy is π_e(a | x, k) ∝ exp(β_e·f(x, a, k)), or, context-free,
// π_e(a | k) ∝ exp(β_e·E_x f(x, a, k)).
type SyntheticEnv struct {
	cfg             SyntheticConfig
	mu, zeta, kappa []float64
	theta           *mat.Dense  // A×m
	psi             [][]float64 // [a][j*L + level]
	evalFree        [][]float64 // [k][a], context-free policy
}

// Synthetic is a simulated log with its evaluation policy and the exact
// value of that policy on the simulated contexts.
type Synthetic struct {
	Log    *Log
	Policy Policy
	// Truth is V(π_e) = (1/n) Σ_i Σ_a π_e(a | x_i, k_i)·q(x_i, a, k_i),
	// from the expected rewards (no reward noise).
	Truth float64
	// Expected holds the true q at the logged actions and averaged over
	// π_e: an exact reward model.
	Expected *Rewards
	// EvalProb holds π_e(a | k) of a context-free policy ([k][a]); nil
	// for a contextual one.
	EvalProb [][]float64
}

// NewSyntheticEnv draws an environment from src.
func NewSyntheticEnv(cfg SyntheticConfig, src rand.Source) (*SyntheticEnv, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.Actions, 20)
	def(&cfg.Positions, 3)
	def(&cfg.Numeric, 3)
	def(&cfg.Categorical, 2)
	def(&cfg.Levels, 4)
	if cfg.Intercept == 0 {
		cfg.Intercept = -1
	}
	if cfg.LoggingBeta == 0 {
		cfg.LoggingBeta = 0.5
	}
	if cfg.EvalBeta == 0 {
		cfg.EvalBeta = 2
	}
	if cfg.Actions < 2 || cfg.Positions < 1 || cfg.Numeric < 1 || cfg.Categorical < 0 || cfg.Levels < 1 {
		return nil, fmt.Errorf("%w: synthetic environment %+v", ErrInput, cfg)
	}
	rng := rand.New(src)
	A, m := cfg.Actions, cfg.Numeric
	e := &SyntheticEnv{cfg: cfg, mu: make([]float64, A), zeta: make([]float64, A), kappa: make([]float64, A),
		theta: mat.NewDense(A, m, nil), psi: make([][]float64, A)}
	for a := range A {
		e.mu[a] = 0.5 * rng.NormFloat64()
		e.zeta[a] = rng.NormFloat64()
		e.kappa[a] = rng.NormFloat64()
		for j := range m {
			e.theta.Set(a, j, rng.NormFloat64())
		}
		e.psi[a] = make([]float64, cfg.Categorical*cfg.Levels)
		for j := range e.psi[a] {
			e.psi[a][j] = 0.5 * rng.NormFloat64()
		}
	}
	e.evalFree = make([][]float64, cfg.Positions)
	for k := range e.evalFree {
		logit := make([]float64, A)
		for a := range A {
			f := cfg.Intercept + e.mu[a] - 0.3*float64(k)
			for j := range cfg.Categorical {
				var s float64
				for lv := range cfg.Levels {
					s += e.psi[a][j*cfg.Levels+lv]
				}
				f += s / float64(cfg.Levels)
			}
			logit[a] = cfg.EvalBeta * f
		}
		e.evalFree[k] = softmax(logit)
	}
	return e, nil
}

// Config returns the environment's configuration with defaults filled.
func (e *SyntheticEnv) Config() SyntheticConfig { return e.cfg }

// EvalProb returns the context-free evaluation policy π_e(a | k).
func (e *SyntheticEnv) EvalProb() [][]float64 { return e.evalFree }

// logits writes f(x, a, k) for every action into dst.
func (e *SyntheticEnv) logits(dst, num []float64, cat []int, k int) {
	cfg := e.cfg
	inv := 1 / math.Sqrt(float64(cfg.Numeric))
	nl := 0.5 * (num[0]*num[0] - 1)
	for a := range dst {
		f := cfg.Intercept + e.mu[a] - 0.3*float64(k)
		var s float64
		for j, x := range num {
			s += e.theta.At(a, j) * x
		}
		f += s * inv
		for j, c := range cat {
			f += e.psi[a][j*cfg.Levels+c]
		}
		f += nl * e.kappa[a]
		dst[a] = f
	}
}

// Sample draws n logged rows: contexts, positions uniform over 0..P-1,
// actions from the logging policy and Bernoulli rewards.
func (e *SyntheticEnv) Sample(n int, src rand.Source) *Synthetic {
	cfg := e.cfg
	A, m, nc := cfg.Actions, cfg.Numeric, cfg.Categorical
	rng := rand.New(src)
	l := &Log{Actions: A, Positions: cfg.Positions, Action: make([]int32, n), Position: make([]int32, n),
		Reward: make([]float64, n), PScore: make([]float64, n), Context: mat.NewDense(n, m+nc, nil),
		Categorical: make([]bool, m+nc)}
	for j := m; j < m+nc; j++ {
		l.Categorical[j] = true
	}
	s := &Synthetic{Log: l, Expected: &Rewards{Factual: make([]float64, n), Policy: make([]float64, n)}}
	var rp *RowPolicy
	if cfg.ContextFree {
		s.EvalProb = e.evalFree
	} else {
		rp = &RowPolicy{Start: make([]int, 1, n+1), Action: make([]int32, 0, n*A), Prob: make([]float64, 0, n*A)}
	}
	f, pb, fe, pe0 := make([]float64, A), make([]float64, A), make([]float64, A), make([]float64, A)
	num, cat := make([]float64, m), make([]int, nc)
	all := make([]int32, A)
	for a := range all {
		all[a] = int32(a)
	}
	var truth float64
	for i := range n {
		row := l.Context.RawRowView(i)
		for j := range num {
			num[j] = rng.NormFloat64()
			row[j] = num[j]
		}
		for j := range cat {
			cat[j] = rng.IntN(cfg.Levels)
			row[m+j] = float64(cat[j])
		}
		k := rng.IntN(cfg.Positions)
		l.Position[i] = int32(k)
		e.logits(f, num, cat, k)
		for a := range pb {
			pb[a] = cfg.LoggingBeta * (f[a] + e.zeta[a])
		}
		pb = softmaxTo(pb, pb)
		a := drawIndex(pb, rng.Float64())
		l.Action[i], l.PScore[i] = int32(a), pb[a]
		qa := sigmoid(f[a])
		if rng.Float64() < qa {
			l.Reward[i] = 1
		}
		var pe []float64
		if cfg.ContextFree {
			pe = e.evalFree[k]
		} else {
			for t := range f {
				fe[t] = cfg.EvalBeta * f[t]
			}
			pe = softmaxTo(pe0, fe)
			rp.Append(all, pe)
		}
		var v float64
		for t, p := range pe {
			v += p * sigmoid(f[t])
		}
		s.Expected.Factual[i], s.Expected.Policy[i] = qa, v
		truth += v
	}
	s.Truth = truth / float64(n)
	if cfg.ContextFree {
		s.Policy, _ = NewPositionPolicy(l.Position, e.evalFree)
	} else {
		s.Policy = rp
	}
	return s
}

// drawIndex returns the index whose cumulative probability first exceeds
// u.
func drawIndex(p []float64, u float64) int {
	var c float64
	for i, v := range p {
		c += v
		if u < c {
			return i
		}
	}
	return len(p) - 1
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// softmax returns exp(x)/Σexp(x) in a new slice.
func softmax(x []float64) []float64 { return softmaxTo(make([]float64, len(x)), x) }

// softmaxTo writes softmax(x) into dst (which may be x) and returns it.
func softmaxTo(dst, x []float64) []float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, v)
	}
	var s float64
	for i, v := range x {
		dst[i] = math.Exp(v - mx)
		s += dst[i]
	}
	for i := range dst {
		dst[i] /= s
	}
	return dst
}
