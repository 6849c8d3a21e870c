package causal

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// IntervalMethod says how Bootstrapped turns replicate effects into an
// interval.
type IntervalMethod int

const (
	// PercentileInterval (the zero value) takes the (1−level)/2 and
	// (1+level)/2 quantiles of the B replicate effects.
	PercentileInterval IntervalMethod = iota
	// NormalInterval takes τ̂(x) ± z·s(x), with τ̂ the full-data effect,
	// s the standard deviation of the replicate effects and
	// z = Φ⁻¹((1+level)/2).
	NormalInterval
)

// String returns "percentile" or "normal".
func (m IntervalMethod) String() string {
	if m == NormalInterval {
		return "normal"
	}
	return "percentile"
}

// ParseIntervalMethod reads "percentile" or "normal".
func ParseIntervalMethod(s string) (IntervalMethod, error) {
	switch strings.ToLower(s) {
	case "percentile":
		return PercentileInterval, nil
	case "normal":
		return NormalInterval, nil
	}
	return 0, fmt.Errorf("%w: interval method %q, want percentile or normal", ErrParam, s)
}

// DefaultReplicates is Bootstrapped's default number of replicates.
const DefaultReplicates = 50

// Bootstrapped gives any uplift estimator confidence intervals by the
// bootstrap. It fits Estimator on all rows (the point estimate τ̂) and on
// B bootstrap resamples (rows drawn with replacement within each arm, so
// every arm keeps its size), τ̂*_1..τ̂*_B, and reports for each x
//
//	percentile: [q_{(1−level)/2}(τ̂*(x)), q_{(1+level)/2}(τ̂*(x))],
//	normal:     τ̂(x) ± Φ⁻¹((1+level)/2)·sd(τ̂*(x)).
//
// The intervals cover the estimator's sampling variability for a fixed x
// (not its bias). Fitting costs B+1 fits of Estimator; predicting costs
// B+1 predictions. It implements UpliftEstimator; the fitted model is a
// *BootstrappedModel, an IntervalModel.
type Bootstrapped struct {
	// Estimator is the estimator being bootstrapped.
	Estimator UpliftEstimator
	// B is the number of replicates (0 means DefaultReplicates; at
	// least 2).
	B int
	// Method is the interval method (percentile by default).
	Method IntervalMethod
}

// BootstrappedModel is a fitted Bootstrapped, saved under kind
// "bootstrap".
type BootstrappedModel struct {
	// Point is fitted on all rows and gives the effects.
	Point savedUplift `json:"point"`
	// Replicates are fitted on the bootstrap resamples.
	Replicates []savedUplift `json:"replicates"`
	// Method is "percentile" or "normal".
	Method string `json:"method"`
}

// Kind implements Kinded.
func (m *BootstrappedModel) Kind() string { return "bootstrap" }

// Validate checks a decoded model.
func (m *BootstrappedModel) Validate() error {
	if m.Point.UpliftModel == nil {
		return fmt.Errorf("bootstrap model without a point model")
	}
	if len(m.Replicates) < 2 {
		return fmt.Errorf("bootstrap model with %d replicates, want at least 2", len(m.Replicates))
	}
	for i, r := range m.Replicates {
		if r.UpliftModel == nil {
			return fmt.Errorf("bootstrap replicate %d is empty", i)
		}
	}
	if _, err := ParseIntervalMethod(m.Method); err != nil {
		return err
	}
	return nil
}

// FitUplift implements UpliftEstimator.
func (b Bootstrapped) FitUplift(d UpliftData, src rand.Source) (UpliftModel, error) {
	m, err := b.Fit(d, src)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Fit fits the point model and the B replicates.
func (b Bootstrapped) Fit(d UpliftData, src rand.Source) (*BootstrappedModel, error) {
	if b.Estimator == nil {
		panic("causal: Bootstrapped without an estimator")
	}
	reps := b.B
	if reps == 0 {
		reps = DefaultReplicates
	}
	if reps < 2 {
		return nil, fmt.Errorf("bootstrap: %w: %d replicates, want at least 2", ErrParam, reps)
	}
	if err := metaCheck(d); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	rng := rand.New(src)
	prog := startProgress(src, reps+1)
	point, err := b.Estimator.FitUplift(d, metaSource(src, rng))
	if err != nil {
		return nil, fmt.Errorf("bootstrap: point fit: %w", err)
	}
	prog.step()
	if _, ok := point.(Kinded); !ok {
		return nil, fmt.Errorf("bootstrap: model %T cannot be saved", point)
	}
	m := &BootstrappedModel{Point: savedUplift{point}, Method: b.Method.String(), Replicates: make([]savedUplift, reps)}
	byArm := make([][]int, d.Arms+1)
	for i, t := range d.Treatment {
		byArm[t] = append(byArm[t], i)
	}
	rows := make([]int, 0, len(d.Treatment))
	for r := range m.Replicates {
		if err := stopped(src); err != nil {
			return nil, err
		}
		rows = rows[:0]
		for _, idx := range byArm {
			for range idx {
				rows = append(rows, idx[rng.IntN(len(idx))])
			}
		}
		slices.Sort(rows)
		fit, err := b.Estimator.FitUplift(cmpSubset(d, rows), metaSource(src, rng))
		if err != nil {
			return nil, fmt.Errorf("bootstrap: replicate %d: %w", r+1, err)
		}
		m.Replicates[r] = savedUplift{fit}
		prog.step()
	}
	return m, nil
}

// Effects implements UpliftModel: the point model's effects.
func (m *BootstrappedModel) Effects(dst, x *mat.Dense) *mat.Dense {
	return m.Point.Effects(dst, x)
}

// Intervals implements IntervalModel (see Bootstrapped). It panics when
// level is not in (0, 1) or a non-nil lo or hi has the wrong shape.
func (m *BootstrappedModel) Intervals(lo, hi, x *mat.Dense, level float64) (*mat.Dense, *mat.Dense) {
	if !(level > 0 && level < 1) {
		panic(fmt.Sprintf("causal: confidence level %v outside (0, 1)", level))
	}
	point := m.Point.Effects(nil, x)
	n, k := point.Dims()
	lo = metaEffectsDst(lo, n, k)
	hi = metaEffectsDst(hi, n, k)
	if n == 0 {
		return lo, hi
	}
	b := len(m.Replicates)
	// reps holds replicate r's n×k effects at reps[r*n*k:].
	reps := make([]float64, b*n*k)
	for r, rm := range m.Replicates {
		rm.Effects(mat.NewDense(n, k, reps[r*n*k:(r+1)*n*k]), x)
	}
	normal := m.Method == NormalInterval.String()
	z := distuv.UnitNormal.Quantile((1 + level) / 2)
	v := make([]float64, b)
	for i := 0; i < n; i++ {
		for j := 0; j < k; j++ {
			for r := range v {
				v[r] = reps[r*n*k+i*k+j]
			}
			if normal {
				sd := intervalSD(v)
				p := point.At(i, j)
				lo.Set(i, j, p-z*sd)
				hi.Set(i, j, p+z*sd)
				continue
			}
			ci := PercentileCI(v, level)
			lo.Set(i, j, ci.Lo)
			hi.Set(i, j, ci.Hi)
		}
	}
	return lo, hi
}

// intervalSD is the sample standard deviation (n−1 denominator).
func intervalSD(v []float64) float64 {
	var m float64
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	var ss float64
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / float64(len(v)-1))
}

// newBootstrapEstimator builds the "bootstrap" registry entry: of names
// the estimator to bootstrap (default t; every other parameter is passed
// to it), replicates is B (default DefaultReplicates) and interval is
// percentile or normal.
func newBootstrapEstimator(p *Params, r Registry) (UpliftEstimator, error) {
	of := p.String("of", "t")
	if of == "bootstrap" {
		return nil, fmt.Errorf("%w: of=bootstrap cannot bootstrap itself", ErrParam)
	}
	f, ok := r.Estimators[of]
	if !ok {
		return nil, fmt.Errorf("%w: of=%q is not a known estimator (known: %s)", ErrParam, of, strings.Join(regNames(r.Estimators), ", "))
	}
	b, err := p.Int("replicates", DefaultReplicates)
	if err != nil {
		return nil, err
	}
	if b < 2 {
		return nil, fmt.Errorf("%w: replicates=%d, want at least 2", ErrParam, b)
	}
	method, err := ParseIntervalMethod(p.String("interval", "percentile"))
	if err != nil {
		return nil, err
	}
	inner, err := f(p, r)
	if err != nil {
		return nil, fmt.Errorf("estimator %q: %w", of, err)
	}
	return Bootstrapped{Estimator: inner, B: b, Method: method}, nil
}
