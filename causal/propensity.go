package causal

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// DefaultClip is the default propensity clipping bound: estimated and
// logged propensities e are clipped to [DefaultClip, 1−DefaultClip] before
// they are used as inverse weights or residual denominators, which bounds
// the weight of any unit by 1/DefaultClip = 100.
const DefaultClip = 0.01

// DefaultFolds is the default number of cross-fitting folds.
const DefaultFolds = 5

// metaArm holds the rows of one treated arm k and of control, the subset
// on which the effect of arm k is estimated.
type metaArm struct {
	k   int
	idx []int      // rows of d in the subset
	x   *mat.Dense // features of the subset
	y   []float64  // outcomes
	w   []float64  // weights (nil means 1)
	t   []float64  // 1 for arm k, 0 for control
	e   []float64  // logged P(t=k | x, t ∈ {0,k}); nil when unknown
}

// metaSplitArm extracts the rows of arm k and control. Logged propensities
// determine the arm-versus-control propensity only when there is a single
// treated arm (e = p for treated rows, 1 − p for control rows); with
// several arms P(t=k | x, t ∈ {0,k}) = p_k/(p_k+p_0) needs the
// probabilities of arms the unit did not get, so it is estimated instead.
func metaSplitArm(d UpliftData, k int) metaArm {
	a := metaArm{k: k, idx: metaArmRows(d.Treatment, 0, k)}
	a.x = metaRows(d.X, a.idx)
	a.y = metaPick(d.Y, a.idx)
	a.w = metaPick(d.Weights, a.idx)
	a.t = make([]float64, len(a.idx))
	for r, i := range a.idx {
		if d.Treatment[i] == k {
			a.t[r] = 1
		}
	}
	if d.Propensity != nil && d.Arms == 1 {
		a.e = make([]float64, len(a.idx))
		for r, i := range a.idx {
			p := d.Propensity[i]
			if a.t[r] == 0 {
				p = 1 - p
			}
			a.e[r] = p
		}
	}
	return a
}

// rows returns the subset rows r with t[r] == v.
func (a *metaArm) rows(v float64) []int {
	var out []int
	for r, t := range a.t {
		if t == v {
			out = append(out, r)
		}
	}
	return out
}

// metaFolds assigns each of the n subset rows to one of k folds, stratified
// by treatment so each fold holds a share of both groups.
func metaFolds(t []float64, k int, rng *rand.Rand) []int {
	folds := make([]int, len(t))
	for _, v := range []float64{0, 1} {
		var idx []int
		for r, tv := range t {
			if tv == v {
				idx = append(idx, r)
			}
		}
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		for r, i := range idx {
			folds[i] = r % k
		}
	}
	return folds
}

// metaCrossFit returns out-of-fold predictions: for each fold f, l is fitted
// on the rows outside f for which include is true (nil means all) and
// predicts every row in f. The fits carry the stop signal of parent (see
// WithStop; nil: none), which is checked before each fold. The folds' seeds
// are drawn from rng in fold order and the folds are then fitted
// concurrently, so the predictions do not depend on the scheduling.
func metaCrossFit(l Learner, x *mat.Dense, y, w []float64, folds []int, k int, include func(r int) bool, task Task, rng *rand.Rand, parent rand.Source) ([]float64, error) {
	p, err := planCrossFit("", l, x, y, w, folds, k, include, task, rng, parent)
	if err != nil {
		return nil, err
	}
	if err := runCrossFits(0, p); err != nil {
		return nil, err
	}
	return p.out, nil
}

// crossFit is a planned metaCrossFit: its folds with their seeds drawn,
// and the predictions once runCrossFits has fitted them.
type crossFit struct {
	what   string // names the fit in errors ("" for none)
	l      Learner
	x      *mat.Dense
	y, w   []float64
	task   Task
	parent rand.Source
	folds  []crossFold
	out    []float64
}

// crossFold is one fold of a crossFit.
type crossFold struct {
	f           int
	train, test []int
	src         rand.Source
}

// planCrossFit splits the rows as metaCrossFit does and draws each
// fold's seed from rng, in fold order, without fitting anything. what
// names the fit in its errors, the plan's and the fits' ("" for none).
func planCrossFit(what string, l Learner, x *mat.Dense, y, w []float64, folds []int, k int, include func(r int) bool, task Task, rng *rand.Rand, parent rand.Source) (*crossFit, error) {
	n, _ := x.Dims()
	p := &crossFit{what: what, l: l, x: x, y: y, w: w, task: task, parent: parent, out: make([]float64, n)}
	for f := 0; f < k; f++ {
		var train, test []int
		for r := 0; r < n; r++ {
			switch {
			case folds[r] == f:
				test = append(test, r)
			case include == nil || include(r):
				train = append(train, r)
			}
		}
		if len(test) == 0 {
			continue
		}
		if len(train) == 0 {
			return nil, p.wrap(fmt.Errorf("%w: fold %d leaves no training rows", ErrInput, f))
		}
		p.folds = append(p.folds, crossFold{f: f, train: train, test: test, src: metaSource(parent, rng)})
	}
	return p, nil
}

// wrap prefixes err with the fit's name, if any.
func (p *crossFit) wrap(err error) error {
	if p.what == "" {
		return err
	}
	return fmt.Errorf("%s: %w", p.what, err)
}

// runCrossFits fits the folds of every plan concurrently, on up to workers
// goroutines (GOMAXPROCS when workers ≤ 0), and fills each plan's
// predictions; nil plans are skipped. It returns the first error in plan
// and fold order; a fit's panic is returned as an error.
func runCrossFits(workers int, plans ...*crossFit) error {
	type job struct{ p, f int }
	var jobs []job
	for p, pl := range plans {
		if pl == nil {
			continue
		}
		for f := range pl.folds {
			jobs = append(jobs, job{p, f})
		}
	}
	errs := make([]error, len(jobs))
	parallelFor(len(jobs), workers, func(j int) {
		pl := plans[jobs[j].p]
		fo := pl.folds[jobs[j].f]
		defer func() {
			// A fold may run on a goroutine of its own, where a panic
			// would end the process: it becomes the fold's error.
			if r := recover(); r != nil {
				errs[j] = pl.wrap(fmt.Errorf("fold %d: panic: %v", fo.f, r))
			}
		}()
		if err := stopped(pl.parent); err != nil {
			errs[j] = pl.wrap(err)
			return
		}
		m, err := metaFitRows(pl.l, pl.x, pl.y, pl.w, fo.train, pl.task, fo.src)
		if err != nil {
			errs[j] = pl.wrap(fmt.Errorf("fold %d: %w", fo.f, err))
			return
		}
		pred := m.Predict(nil, metaRows(pl.x, fo.test))
		for r, i := range fo.test {
			pl.out[i] = pred[r]
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// metaPropensity returns the clipped propensity of arm k against control
// for each subset row: the logged one when known, otherwise out-of-fold
// predictions of l (a Classification fit of t on x).
func metaPropensity(a *metaArm, l Learner, folds []int, k int, clip float64, rng *rand.Rand, src rand.Source) ([]float64, error) {
	p, err := planPropensity(a, l, folds, k, rng, src)
	if err != nil {
		return nil, err
	}
	if err := runCrossFits(0, p); err != nil {
		return nil, err
	}
	return clippedPropensity(a, p, clip), nil
}

// planPropensity plans metaPropensity's cross-fit of t on x, or returns
// nil when the propensity is logged.
func planPropensity(a *metaArm, l Learner, folds []int, k int, rng *rand.Rand, src rand.Source) (*crossFit, error) {
	if a.e != nil {
		return nil, nil
	}
	return planCrossFit("propensity model", l, a.x, a.t, a.w, folds, k, nil, Classification, rng, src)
}

// clippedPropensity returns the propensity of every subset row, the
// logged one or that of p once fitted (see planPropensity), clipped to
// [clip, 1 − clip].
func clippedPropensity(a *metaArm, p *crossFit, clip float64) []float64 {
	var e []float64
	if p == nil {
		e = append([]float64(nil), a.e...)
	} else {
		e = p.out
	}
	for r, v := range e {
		e[r] = math.Min(math.Max(v, clip), 1-clip)
	}
	return e
}

// metaCheckClip validates a clipping bound (zero means DefaultClip).
func metaCheckClip(clip float64) (float64, error) {
	if clip == 0 {
		return DefaultClip, nil
	}
	if !(clip > 0 && clip < 0.5) {
		return 0, fmt.Errorf("propensity clip %v, want a value in (0, 0.5): %w", clip, ErrParam)
	}
	return clip, nil
}

// metaCheckFolds validates a fold count (zero means DefaultFolds).
func metaCheckFolds(k int) (int, error) {
	if k == 0 {
		return DefaultFolds, nil
	}
	if k < 2 {
		return 0, fmt.Errorf("%d cross-fitting folds, want at least 2: %w", k, ErrParam)
	}
	return k, nil
}
