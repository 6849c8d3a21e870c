package causal

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// WithProgress returns a source that draws from src and carries progress,
// a function told how far a fit has got: done of total steps, in the fit's
// own unit. The estimator or learner given the source reports its steps:
//
//	fit                      a step is                                  total
//	causal-forest            a tree, of the nuisance forests or causal  treated arms × (trees + 2 × nuisance trees)
//	uplift-forest, Forest    a tree                                     trees
//	GBT                      a boosting round                           the most rounds
//	tarnet, dragonnet, MLP   an epoch of one network                    epochs × networks
//	dlce                     an epoch                                   epochs
//	t                        an outcome model                           treated arms + 1
//	x                        a model                                    5 × treated arms
//	r, dr                    a stage: propensity, outcomes, effect      3 × treated arms
//	auto                     the nuisances, a candidate, the refit      candidates + 2
//	bootstrap                the point fit, a replicate                 replicates + 1
//	s, outcome               their base learner's steps
//	uplift-tree, Linear      nothing
//
// The fits run inside it (a meta-learner's base learners, auto's
// candidates) report nothing: the first fit that starts reporting owns
// the callback, so it serves one fit (wrap a source for each fit). The calls come one at a time, in order, from the fit's
// goroutines: total stays the same, done rises and ends at total when the
// fit succeeds (a fit that stops early, such as boosting or a network at
// its patience, jumps to the total). progress must return quickly.
//
// The draws are those of src; a stop signal src carries (WithStop) is
// kept. A nil progress returns src.
func WithProgress(src rand.Source, progress func(done, total int)) rand.Source {
	if progress == nil {
		return src
	}
	h := &progressHook{fn: progress}
	if s, ok := src.(stopSource); ok {
		s.progress = h
		return s
	}
	return stopSource{Source: src, progress: h}
}

// progressHook is a fit's progress callback and whether a fit owns it.
type progressHook struct {
	fn    func(done, total int)
	owned atomic.Bool
}

// progress is the reporter of one fit's steps. A nil *progress reports
// nothing; its methods are safe for concurrent use.
type progress struct {
	mu          sync.Mutex
	fn          func(done, total int)
	done, total int
}

// startProgress returns the reporter of a fit of total steps given src:
// nil when src carries no callback or a fit already owns it (the fit that
// called this one).
func startProgress(src rand.Source, total int) *progress {
	s, ok := src.(stopSource)
	if !ok || s.progress == nil || !s.progress.owned.CompareAndSwap(false, true) {
		return nil
	}
	return &progress{fn: s.progress.fn, total: total}
}

// step reports one more step done.
func (p *progress) step() { p.add(1) }

// add reports n more steps done.
func (p *progress) add(n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setLocked(p.done + n)
}

// to reports done steps done, when that is more than reported so far.
func (p *progress) to(done int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setLocked(done)
}

// finish reports every step done.
func (p *progress) finish() { p.to(math.MaxInt) }

// setLocked raises the count to done, at most the total, and reports it
// when it rose.
func (p *progress) setLocked(done int) {
	done = min(done, p.total)
	if done <= p.done {
		return
	}
	p.done = done
	p.fn(p.done, p.total)
}
