package ope

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/causalrec/causalrec/causal"
)

// Config configures Evaluate. The zero value is usable: the default
// estimators, the Logistic reward model cross-fitted over DefaultFolds
// folds, normal intervals at 95% and no bootstrap.
type Config struct {
	// Estimators lists the estimators in the order of the result (nil
	// means DefaultEstimators).
	Estimators []Spec
	// Rewards, when set, holds the reward model's predictions and no
	// model is fitted (for example the true expected rewards of a
	// simulation).
	Rewards *Rewards
	// Model is the reward model cross-fitted when Rewards is nil (nil
	// means Logistic{}).
	Model RewardModel
	// Folds is the number of cross-fitting folds (0 means DefaultFolds).
	Folds int
	// Resamples is the number of bootstrap resamples of the percentile
	// intervals; 0 means none: the intervals are then normal,
	// value ± z·se.
	Resamples int
	// Level is the confidence level in (0, 1) (0 means 0.95).
	Level float64
	// Workers is the number of bootstrap goroutines (0 means
	// GOMAXPROCS); the result does not depend on it.
	Workers int
	// Progress, when set, is called as bootstrap resamples finish, with
	// the number done and the total.
	Progress func(done, total int)
}

// Result is the outcome of Evaluate; its JSON form is the CLI's output.
type Result struct {
	// Rounds is the number of logged rows, Positions and Actions the
	// numbers of positions and actions.
	Rounds    int `json:"rounds"`
	Positions int `json:"positions"`
	Actions   int `json:"actions"`
	// LoggedValue is the mean logged reward, the logging policy's own
	// value.
	LoggedValue float64 `json:"logged_value"`
	// Estimates holds one entry per estimator, in the configured order.
	Estimates []Estimate `json:"estimates"`
	// Level is the confidence level of the intervals and Resamples the
	// number of bootstrap resamples (0: normal intervals).
	Level     float64 `json:"level"`
	Resamples int     `json:"bootstrap"`
	// MeanWeight is the mean importance weight, about 1 when the logged
	// propensities are right and the logging policy covers the evaluation
	// policy.
	MeanWeight float64 `json:"mean_weight"`
}

// Estimate is one estimator's estimate of V(π_e) with its interval and
// the diagnostics of the weights it puts on the logged rewards.
type Estimate struct {
	// Estimator is the estimator's spec (Spec.String).
	Estimator string
	// Value is the estimate of V(π_e).
	Value float64
	// CI is the confidence interval: the percentile bootstrap interval
	// when resampling, the normal interval otherwise.
	CI [2]float64
	// Interval is "percentile" or "normal", the kind of CI.
	Interval string
	// SE is the standard error from the influence function,
	// sd(φ)/√n with φ_i the estimate's per-row influence values.
	SE float64
	// NormalCI is Value ± z·SE with z = Φ⁻¹((1 + level)/2).
	NormalCI [2]float64
	// Lambda is the λ used by switch-dr, dros and their tuned variants
	// (NaN for the others; +Inf means no switching or shrinkage).
	Lambda float64
	// ESS is the effective sample size (Σŵ)²/Σŵ² of the weights ŵ the
	// estimator applies to the logged rewards: the importance weights w
	// for ipw, snipw, dr and sndr, w·1{w ≤ λ} for switch-dr, λw/(w² + λ)
	// for dros, and for dm, which uses no weights, those of ipw (they show
	// how far dm extrapolates; its warnings leave them out).
	ESS float64
	// MaxWeight, P99Weight and ZeroWeightShare are the largest weight, its
	// 99th percentile and the share of rows whose weight is 0.
	MaxWeight, P99Weight, ZeroWeightShare float64
	// Warnings says what makes the estimate fragile.
	Warnings []string
}

// MarshalJSON writes the CLI's JSON object: estimator, value, ci, se, ess,
// max_weight, warnings, then p99_weight, zero_weight_share, ci_normal,
// interval and, for the switching and shrinking estimators, lambda (a
// number or "inf"). NaN is written as null.
func (e Estimate) MarshalJSON() ([]byte, error) {
	type out struct {
		Estimator       string      `json:"estimator"`
		Value           *float64    `json:"value"`
		CI              [2]*float64 `json:"ci"`
		SE              *float64    `json:"se"`
		ESS             *float64    `json:"ess"`
		MaxWeight       *float64    `json:"max_weight"`
		Warnings        []string    `json:"warnings"`
		P99Weight       *float64    `json:"p99_weight"`
		ZeroWeightShare *float64    `json:"zero_weight_share"`
		NormalCI        [2]*float64 `json:"ci_normal"`
		Interval        string      `json:"interval"`
		Lambda          any         `json:"lambda,omitempty"`
	}
	o := out{
		Estimator: e.Estimator, Value: num(e.Value), CI: [2]*float64{num(e.CI[0]), num(e.CI[1])}, SE: num(e.SE),
		ESS: num(e.ESS), MaxWeight: num(e.MaxWeight), Warnings: e.Warnings, P99Weight: num(e.P99Weight),
		ZeroWeightShare: num(e.ZeroWeightShare), NormalCI: [2]*float64{num(e.NormalCI[0]), num(e.NormalCI[1])},
		Interval: e.Interval,
	}
	if o.Warnings == nil {
		o.Warnings = []string{}
	}
	switch {
	case math.IsInf(e.Lambda, 1):
		o.Lambda = "inf"
	case !math.IsNaN(e.Lambda):
		o.Lambda = e.Lambda
	}
	return json.Marshal(o)
}

// num returns &x, or nil for NaN and infinities.
func num(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// Evaluate estimates V(pol) from the log with every configured estimator.
// It validates the log and the policy, cross-fits the reward model when
// an estimator needs one and cfg.Rewards is nil, chooses the tuned
// estimators' λ on all rows, and draws cfg.Resamples bootstrap resamples
// of the rows (the same resamples for every estimator, λ held at its
// choice). src drives the folds, the model and the resampling.
func Evaluate(l *Log, pol Policy, cfg Config, src rand.Source) (*Result, error) {
	return EvaluateContext(context.Background(), l, pol, cfg, src)
}

// EvaluateContext is Evaluate that stops when ctx ends: it checks ctx
// before and after the reward model's fit and between groups of bootstrap
// resamples, and then returns ctx's error (wrapped). The result of a run
// that ctx does not end is Evaluate's.
func EvaluateContext(ctx context.Context, l *Log, pol Policy, cfg Config, src rand.Source) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ope: %w", err)
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if err := checkPolicy(l, pol); err != nil {
		return nil, err
	}
	specs := cfg.Estimators
	if specs == nil {
		for _, name := range DefaultEstimators {
			specs = append(specs, Spec{Name: name})
		}
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("%w: no estimators", ErrInput)
	}
	level := cfg.Level
	if level == 0 {
		level = 0.95
	}
	switch {
	case !(level > 0 && level < 1):
		return nil, fmt.Errorf("%w: confidence level %v is outside (0, 1)", ErrInput, cfg.Level)
	case cfg.Resamples < 0 || cfg.Resamples == 1:
		return nil, fmt.Errorf("%w: %d bootstrap resamples, want 0 or at least 2", ErrInput, cfg.Resamples)
	}
	for _, s := range specs {
		if !slices.Contains(Names, s.Name) {
			return nil, fmt.Errorf("%w: unknown estimator %q", ErrInput, s.Name)
		}
	}
	n := l.Rows()
	rng := rand.New(src)
	var q *Rewards
	for _, s := range specs {
		if !s.usesModel() {
			continue
		}
		q = cfg.Rewards
		if q == nil {
			var err error
			if q, err = FitRewards(l, pol, cfg.Model, cfg.Folds, rand.NewPCG(rng.Uint64(), rng.Uint64())); err != nil {
				return nil, err
			}
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("ope: after the reward model: %w", err)
			}
		} else if len(q.Factual) != n || len(q.Policy) != n {
			return nil, fmt.Errorf("%w: rewards for %d and %d rows, the log has %d", ErrInput, len(q.Factual), len(q.Policy), n)
		}
		break
	}
	w := importanceWeights(l, pol)
	ev := &evaluation{l: l, w: w, q: q, n: float64(n), cols: map[string]int{}, diag: map[string]*weightDiag{}}
	res := &Result{Rounds: n, Positions: l.positions(), Actions: l.Actions, Level: level, Resamples: cfg.Resamples}
	res.LoggedValue = mean(l.Reward)
	res.MeanWeight = mean(w)
	plans := make([]*plan, len(specs))
	for j, s := range specs {
		plans[j] = ev.plan(s)
	}
	z := distuv.UnitNormal.Quantile((1 + level) / 2)
	var sums []float64
	if cfg.Resamples > 0 {
		sums = resampleSums(ev.matrix(), n, len(ev.names), cfg.Resamples, rand.NewPCG(rng.Uint64(), rng.Uint64()), cfg.Workers, cfg.Progress, ctx.Done())
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("ope: during the bootstrap: %w", err)
		}
	}
	vals := make([]float64, cfg.Resamples)
	nc := len(ev.names)
	for j, p := range plans {
		e := Estimate{Estimator: specs[j].String(), Value: p.value, SE: p.se, Lambda: p.lambda, Warnings: p.warnings}
		e.NormalCI = [2]float64{p.value - z*p.se, p.value + z*p.se}
		e.CI, e.Interval = e.NormalCI, "normal"
		if cfg.Resamples > 0 {
			for b := range vals {
				vals[b] = p.fromSums(sums[b*nc:(b+1)*nc], ev.n)
			}
			ci := causal.PercentileCI(vals, level)
			e.CI, e.Interval = [2]float64{ci.Lo, ci.Hi}, "percentile"
		}
		d := ev.weightDiag(p.diagKey, p.diagWeight)
		e.ESS, e.MaxWeight, e.P99Weight, e.ZeroWeightShare = d.ess, d.max, d.p99, d.zero
		if specs[j].Name != DM {
			e.Warnings = append(e.Warnings, d.warnings(n)...)
		}
		if p.rawWeights {
			e.Warnings = append(e.Warnings, ev.meanWeightWarning()...)
		}
		res.Estimates = append(res.Estimates, e)
	}
	return res, nil
}

// importanceWeights returns w_i = π_e(a_i | x_i, k_i) / p_i.
func importanceWeights(l *Log, pol Policy) []float64 {
	w := make([]float64, l.Rows())
	if pp, ok := pol.(*PositionPolicy); ok {
		dense := make([][]float64, len(pp.acts))
		for k := range dense {
			dense[k] = make([]float64, l.Actions)
			for t, a := range pp.acts[k] {
				dense[k][a] = pp.probs[k][t]
			}
		}
		for i, a := range l.Action {
			w[i] = dense[l.pos(i)][a] / l.PScore[i]
		}
		return w
	}
	for i, a := range l.Action {
		w[i] = probOf(pol, i, a) / l.PScore[i]
	}
	return w
}

// evaluation holds what the estimators share: the weights, the reward
// predictions and the per-row columns whose resampled sums give every
// estimator's bootstrap replicates.
type evaluation struct {
	l     *Log
	w     []float64
	q     *Rewards
	n     float64
	names []string
	cols  map[string]int
	data  [][]float64
	diag  map[string]*weightDiag
}

// col returns the index of the named per-row column, computing it with f
// on first use.
func (ev *evaluation) col(name string, f func(i int) float64) int {
	if c, ok := ev.cols[name]; ok {
		return c
	}
	v := make([]float64, len(ev.w))
	for i := range v {
		v[i] = f(i)
	}
	ev.cols[name] = len(ev.names)
	ev.names = append(ev.names, name)
	ev.data = append(ev.data, v)
	return ev.cols[name]
}

// matrix returns the columns interleaved row by row.
func (ev *evaluation) matrix() []float64 {
	nc, n := len(ev.data), len(ev.w)
	out := make([]float64, n*nc)
	for c, v := range ev.data {
		for i, x := range v {
			out[i*nc+c] = x
		}
	}
	return out
}

// resid returns r_i − q̂_i.
func (ev *evaluation) resid(i int) float64 { return ev.l.Reward[i] - ev.q.Factual[i] }

// plan is one estimator's point estimate, standard error and the map
// from resampled column sums to its value.
type plan struct {
	value, se, lambda float64
	fromSums          func(s []float64, n float64) float64
	// diagKey and diagWeight give the weights of the diagnostics.
	diagKey    string
	diagWeight func(w float64) float64
	rawWeights bool
	warnings   []string
}

// plan computes the estimate of spec s.
func (ev *evaluation) plan(s Spec) *plan {
	l, w, n := ev.l, ev.w, ev.n
	p := &plan{lambda: math.NaN(), diagKey: "w", diagWeight: func(w float64) float64 { return w }}
	phi := make([]float64, len(w))
	switch s.Name {
	case IPW:
		c := ev.col("wr", func(i int) float64 { return w[i] * l.Reward[i] })
		for i := range phi {
			phi[i] = ev.data[c][i]
		}
		p.fromSums = func(s []float64, n float64) float64 { return s[c] / n }
		p.rawWeights = true
	case SNIPW:
		cwr := ev.col("wr", func(i int) float64 { return w[i] * l.Reward[i] })
		cw := ev.col("w", func(i int) float64 { return w[i] })
		sw, swr := sum(ev.data[cw]), sum(ev.data[cwr])
		v := swr / sw
		for i := range phi {
			phi[i] = v + w[i]*(l.Reward[i]-v)*n/sw
		}
		p.fromSums = func(s []float64, _ float64) float64 { return s[cwr] / s[cw] }
		p.rawWeights = true
		if sw == 0 {
			p.warnings = append(p.warnings, "every weight is 0: the self-normalised estimate is undefined")
		}
	case DM:
		cd := ev.col("d", func(i int) float64 { return ev.q.Policy[i] })
		copy(phi, ev.data[cd])
		p.fromSums = func(s []float64, n float64) float64 { return s[cd] / n }
	case DR:
		cd := ev.col("d", func(i int) float64 { return ev.q.Policy[i] })
		ce := ev.col("we", func(i int) float64 { return w[i] * ev.resid(i) })
		for i := range phi {
			phi[i] = ev.data[cd][i] + ev.data[ce][i]
		}
		p.fromSums = func(s []float64, n float64) float64 { return (s[cd] + s[ce]) / n }
		p.rawWeights = true
	case SNDR:
		cd := ev.col("d", func(i int) float64 { return ev.q.Policy[i] })
		ce := ev.col("we", func(i int) float64 { return w[i] * ev.resid(i) })
		cw := ev.col("w", func(i int) float64 { return w[i] })
		sw, se := sum(ev.data[cw]), sum(ev.data[ce])
		c := se / sw
		for i := range phi {
			phi[i] = ev.data[cd][i] + c + w[i]*(ev.resid(i)-c)*n/sw
		}
		p.fromSums = func(s []float64, n float64) float64 { return s[cd]/n + s[ce]/s[cw] }
		p.rawWeights = true
		if sw == 0 {
			p.warnings = append(p.warnings, "every weight is 0: the self-normalised estimate is undefined")
		}
	case SwitchDR, DRos, SwitchDRTuned, DRosTuned:
		shrink := s.Name == DRos || s.Name == DRosTuned
		hat := switchWeight
		if shrink {
			hat = shrinkWeight
		}
		lambda := 0.0
		if s.Name == SwitchDR || s.Name == DRos {
			lambda = s.lambda()
		} else {
			lambda = ev.tune(s, hat)
		}
		key := "sw"
		if shrink {
			key = "ros"
		}
		key += ":" + strconv.FormatFloat(lambda, 'g', -1, 64)
		cd := ev.col("d", func(i int) float64 { return ev.q.Policy[i] })
		ce := ev.col(key, func(i int) float64 { return hat(w[i], lambda) * ev.resid(i) })
		for i := range phi {
			phi[i] = ev.data[cd][i] + ev.data[ce][i]
		}
		p.fromSums = func(s []float64, n float64) float64 { return (s[cd] + s[ce]) / n }
		p.lambda, p.diagKey = lambda, key
		p.diagWeight = func(w float64) float64 { return hat(w, lambda) }
	}
	p.value = mean(phi)
	p.se = stdErr(phi)
	if s.Name == SNIPW || s.Name == SNDR {
		p.value = p.fromSums(ev.fullSums(), n)
	}
	return p
}

// fullSums returns the sums of every column over all rows (the
// resample in which every multiplicity is 1).
func (ev *evaluation) fullSums() []float64 {
	out := make([]float64, len(ev.data))
	for c, v := range ev.data {
		out[c] = sum(v)
	}
	return out
}

// tune chooses λ from the spec's grid for the switched or shrunk weights
// hat.
func (ev *evaluation) tune(s Spec, hat func(w, lambda float64) float64) float64 {
	grid := s.lambdas()
	n := len(ev.w)
	theta := make([]float64, len(grid))
	score := make([]float64, len(grid))
	phi := make([]float64, n)
	const delta = 0.05
	var meanW2, maxW float64
	for _, w := range ev.w {
		meanW2 += w * w
		maxW = math.Max(maxW, w)
	}
	meanW2 /= float64(n)
	tq := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(max(n-1, 1))}.Quantile(1 - delta)
	for g, lambda := range grid {
		var bias float64
		for i, w := range ev.w {
			wh := hat(w, lambda)
			e := ev.resid(i)
			phi[i] = ev.q.Policy[i] + wh*e
			bias += (w - wh) * e
		}
		theta[g] = mean(phi)
		v := popVar(phi)
		if s.Tuning == TuneMSE {
			b := math.Abs(bias/float64(n)) + math.Sqrt(2*meanW2*math.Log(2/delta)/float64(n)) + 2*maxW*math.Log(2/delta)/(3*float64(n))
			score[g] = v/float64(n) + b*b
		} else {
			score[g] = tq * math.Sqrt(v/float64(max(n-1, 1)))
		}
	}
	if s.Tuning == TuneMSE {
		best := 0
		for g := range score {
			if score[g] < score[best] {
				best = g
			}
		}
		return grid[best]
	}
	return slope(grid, theta, score)
}

// slope is SLOPE's selection (see TuneSLOPE) among candidates with
// estimates theta and bound widths cnf. The order matches numpy's
// argsort(cnf)[::-1]: widest first, ties by descending index.
func slope(grid, theta, cnf []float64) float64 {
	idx := make([]int, len(grid))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case cnf[a] < cnf[b]:
			return -1
		case cnf[a] > cnf[b]:
			return 1
		}
		return 0
	})
	slices.Reverse(idx)
	c := math.Sqrt(6) - 1
	var accepted []int
	for k, i := range idx {
		for _, j := range accepted {
			if math.Abs(theta[j]-theta[i]) > cnf[i]+c*cnf[j] {
				return grid[idx[k-1]]
			}
		}
		accepted = append(accepted, i)
	}
	return grid[idx[len(idx)-1]]
}

// weightDiag summarises the weights an estimator applies.
type weightDiag struct {
	ess, max, p99, zero, top float64
}

// weightDiag computes (once per key) the diagnostics of hat(w_i).
func (ev *evaluation) weightDiag(key string, hat func(w float64) float64) *weightDiag {
	if d, ok := ev.diag[key]; ok {
		return d
	}
	v := make([]float64, len(ev.w))
	var s, s2 float64
	d := &weightDiag{}
	zeros := 0
	for i, w := range ev.w {
		x := hat(w)
		v[i] = x
		s += x
		s2 += x * x
		d.max = math.Max(d.max, x)
		if x == 0 {
			zeros++
		}
	}
	if s2 > 0 {
		d.ess = s * s / s2
	}
	if s > 0 {
		d.top = d.max / s
	}
	d.zero = float64(zeros) / float64(len(v))
	d.p99 = quantile(v, 0.99)
	ev.diag[key] = d
	return d
}

// warnings returns the diagnostics' warnings for n rows.
func (d *weightDiag) warnings(n int) []string {
	var out []string
	if d.ess < 0.01*float64(n) {
		out = append(out, fmt.Sprintf("effective sample size %.1f is below 1%% of the %d rows: the estimate rests on few rows", d.ess, n))
	}
	if d.top > 0.05 {
		out = append(out, fmt.Sprintf("one row carries %.1f%% of the total weight (weight %.4g)", 100*d.top, d.max))
	}
	return out
}

// meanWeightWarning flags a mean importance weight that differs clearly
// from 1: E[w] = 1 when the propensities are right and π_b covers π_e.
func (ev *evaluation) meanWeightWarning() []string {
	m, se := mean(ev.w), stdErr(ev.w)
	if math.Abs(m-1) > 3*se && math.Abs(m-1) > 0.01 {
		return []string{fmt.Sprintf("the mean weight is %.4g ± %.2g (se), not 1: the logged propensities may be wrong, or the evaluation policy chooses actions the logging policy does not", m, se)}
	}
	return nil
}

func sum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}

func mean(v []float64) float64 { return sum(v) / float64(len(v)) }

// popVar is the population variance Σ(x − x̄)²/n.
func popVar(v []float64) float64 {
	m := mean(v)
	var s float64
	for _, x := range v {
		s += (x - m) * (x - m)
	}
	return s / float64(len(v))
}

// stdErr is the standard error of the mean, √(Σ(x − x̄)²/(n − 1))/√n.
func stdErr(v []float64) float64 {
	n := float64(len(v))
	if n < 2 {
		return math.NaN()
	}
	return math.Sqrt(popVar(v) * n / (n - 1) / n)
}

// quantile returns the linearly interpolated p-quantile of v (numpy's
// default), reordering v.
func quantile(v []float64, p float64) float64 {
	pos := p * float64(len(v)-1)
	j := int(math.Floor(pos))
	lo := selectKth(v, j)
	if j+1 >= len(v) {
		return lo
	}
	// The (j+1)-th order statistic is the smallest value after position j.
	hi := math.Inf(1)
	for _, x := range v[j+1:] {
		hi = math.Min(hi, x)
	}
	return lo + (pos-float64(j))*(hi-lo)
}

// selectKth reorders v so that v[k] is its k-th smallest value, every
// value before it no larger and every value after it no smaller, and
// returns v[k] (Hoare's selection with a median-of-three pivot).
func selectKth(v []float64, k int) float64 {
	lo, hi := 0, len(v)-1
	for hi > lo {
		mid := lo + (hi-lo)/2
		if v[mid] < v[lo] {
			v[mid], v[lo] = v[lo], v[mid]
		}
		if v[hi] < v[lo] {
			v[hi], v[lo] = v[lo], v[hi]
		}
		if v[hi] < v[mid] {
			v[hi], v[mid] = v[mid], v[hi]
		}
		pivot := v[mid]
		i, j := lo, hi
		for i <= j {
			for v[i] < pivot {
				i++
			}
			for v[j] > pivot {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return v[k]
		}
	}
	return v[k]
}
