package ope

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
)

// Rewards holds a reward model's predictions at every logged row.
type Rewards struct {
	// Factual holds q̂_i = q̂(x_i, a_i, k_i), the prediction at the
	// logged action.
	Factual []float64
	// Policy holds d_i = Σ_a π_e(a | x_i, k_i)·q̂(x_i, a, k_i), the
	// prediction averaged over the evaluation policy.
	Policy []float64
}

// RewardModel fits a model of the expected reward q(x, a, k) = E[r | x,
// a, k] on some rows of a log.
type RewardModel interface {
	// FitRewards fits on the given rows of l. x holds the encoded context
	// of every row of l (numeric columns as they are, category columns
	// one-hot) and is nil when the log has no context. src drives every
	// random choice.
	FitRewards(l *Log, x *mat.Dense, rows []int, src rand.Source) (RewardPredictor, error)
}

// RewardPredictor is a fitted reward model.
type RewardPredictor interface {
	// Predict writes q̂(x_i, a, k_i) for every row i = rows[j] and every
	// action a into dst[j·A + a], where A = l.Actions. It may be called
	// from several goroutines at once.
	Predict(dst []float64, l *Log, x *mat.Dense, rows []int)
}

// warmStarter is implemented by reward models that can start a fit from
// a previous fold's fitted model.
type warmStarter interface {
	warmStart(prev RewardPredictor) RewardModel
}

// DefaultFolds is the number of cross-fitting folds of FitRewards.
const DefaultFolds = 3

// FitRewards cross-fits model on l: the rows are shuffled and dealt into
// folds, the model is fitted on all folds but one and predicts the rows of
// the held-out fold, so that no row's prediction saw its own reward
// (folds 0 means DefaultFolds). Fold f is fitted with the source
// rand.NewPCG(s_f, f), where the seeds s_f are drawn from src first. The
// context is encoded once for all folds with causal.Encoder (numeric
// columns as they are, category columns one-hot with the first level as
// the reference).
func FitRewards(l *Log, pol Policy, model RewardModel, folds int, src rand.Source) (*Rewards, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if err := checkPolicy(l, pol); err != nil {
		return nil, err
	}
	if model == nil {
		model = Logistic{}
	}
	if folds == 0 {
		folds = DefaultFolds
	}
	n := l.Rows()
	if folds < 2 || folds > n {
		return nil, fmt.Errorf("%w: %d folds for %d rows", ErrInput, folds, n)
	}
	x, err := encodeContext(l)
	if err != nil {
		return nil, err
	}
	rng := rand.New(src)
	order := rng.Perm(n)
	seeds := make([]uint64, folds)
	for f := range seeds {
		seeds[f] = rng.Uint64()
	}
	fold := make([]int, n)
	for j, i := range order {
		fold[i] = j % folds
	}
	out := &Rewards{Factual: make([]float64, n), Policy: make([]float64, n)}
	var prev RewardPredictor
	for f := range folds {
		var train, test []int
		for i, g := range fold {
			if g == f {
				test = append(test, i)
			} else {
				train = append(train, i)
			}
		}
		fm := model
		if ws, ok := model.(warmStarter); ok && prev != nil {
			fm = ws.warmStart(prev)
		}
		m, err := fm.FitRewards(l, x, train, rand.NewPCG(seeds[f], uint64(f)))
		if err != nil {
			return nil, fmt.Errorf("reward model, fold %d of %d: %w", f+1, folds, err)
		}
		prev = m
		PredictRewards(out, m, l, x, pol, test)
	}
	return out, nil
}

// PredictRewards fills out.Factual and out.Policy at the given rows with
// the predictions of m, in blocks of rows spread over GOMAXPROCS
// goroutines.
func PredictRewards(out *Rewards, m RewardPredictor, l *Log, x *mat.Dense, pol Policy, rows []int) {
	const block = 1024
	A := l.Actions
	bufs := make([][]float64, runtime.GOMAXPROCS(0))
	parallelBlocks(len(rows), block, 0, func(worker, lo, hi int) {
		if bufs[worker] == nil {
			bufs[worker] = make([]float64, block*A)
		}
		buf := bufs[worker][:(hi-lo)*A]
		m.Predict(buf, l, x, rows[lo:hi])
		for j, i := range rows[lo:hi] {
			q := buf[j*A : (j+1)*A]
			out.Factual[i] = q[l.Action[i]]
			acts, probs := pol.Dist(i)
			var d float64
			for t, a := range acts {
				d += probs[t] * q[a]
			}
			out.Policy[i] = d
		}
	})
}

// parallelBlocks calls f on the blocks [lo, hi) of [0, n), block rows at
// a time, from workers goroutines (0 means GOMAXPROCS) numbered 0, 1, …
// (worker), each taking the next block when it is done with one.
func parallelBlocks(n, block, workers int, f func(worker, lo, hi int)) {
	nb := (n + block - 1) / block
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, nb)
	if workers <= 1 {
		for lo := 0; lo < n; lo += block {
			f(0, lo, min(lo+block, n))
		}
		return
	}
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				b := next
				next++
				mu.Unlock()
				if b >= nb {
					return
				}
				f(w, b*block, min((b+1)*block, n))
			}
		}()
	}
	wg.Wait()
}

// encodeContext one-hot encodes the category columns of the log's
// context; nil when there is none.
func encodeContext(l *Log) (*mat.Dense, error) {
	if l.contextCols() == 0 {
		return nil, nil
	}
	cat := l.Categorical
	if cat == nil {
		cat = make([]bool, l.contextCols())
	}
	enc, err := causal.FitEncoder(l.Context, cat)
	if err != nil {
		return nil, fmt.Errorf("%w: context: %v", ErrInput, err)
	}
	if enc.Width() == 0 {
		return nil, nil
	}
	return enc.Transform(nil, l.Context), nil
}

// rewardTask returns Classification when every reward is in [0, 1] and
// Regression otherwise.
func rewardTask(r []float64) causal.Task {
	for _, v := range r {
		if v < 0 || v > 1 {
			return causal.Regression
		}
	}
	return causal.Classification
}

// LearnerRewards adapts any causal.Learner into a RewardModel. Its
// features are the encoded context, the action one-hot and the position
// one-hot: x_i, 1{a = 0..A-1}, 1{k = 0..P-1}. The task is classification
// when every reward is in [0, 1] and regression otherwise. It is how the
// gradient-boosted trees (causal.GBT) model rewards.
type LearnerRewards struct {
	Learner causal.Learner
}

// FitRewards implements RewardModel.
func (lr LearnerRewards) FitRewards(l *Log, x *mat.Dense, rows []int, src rand.Source) (RewardPredictor, error) {
	if lr.Learner == nil {
		return nil, fmt.Errorf("%w: LearnerRewards without a learner", ErrInput)
	}
	d := learnerDesign(l, x, rows, nil)
	y := make([]float64, len(rows))
	for j, i := range rows {
		y[j] = l.Reward[i]
	}
	m, err := lr.Learner.Fit(d, y, nil, rewardTask(l.Reward), src)
	if err != nil {
		return nil, err
	}
	return learnerPredictor{m}, nil
}

type learnerPredictor struct{ m causal.Model }

// Predict implements RewardPredictor: for each action a it builds the
// rows' design with action a and predicts them.
func (p learnerPredictor) Predict(dst []float64, l *Log, x *mat.Dense, rows []int) {
	A := l.Actions
	act := make([]int32, len(rows))
	pred := make([]float64, len(rows))
	var d *mat.Dense
	for a := range A {
		for j := range act {
			act[j] = int32(a)
		}
		d = learnerDesign(l, x, rows, act)
		pred = p.m.Predict(pred, d)
		for j, v := range pred {
			dst[j*A+a] = v
		}
	}
}

// learnerDesign builds the rows [x_i, onehot(a), onehot(k_i)] where a is
// act[j] (the logged action when act is nil).
func learnerDesign(l *Log, x *mat.Dense, rows []int, act []int32) *mat.Dense {
	dx := 0
	if x != nil {
		_, dx = x.Dims()
	}
	A, P := l.Actions, l.positions()
	w := dx + A + P
	d := mat.NewDense(len(rows), w, nil)
	raw := d.RawMatrix()
	for j, i := range rows {
		row := raw.Data[j*raw.Stride : j*raw.Stride+w]
		if dx > 0 {
			copy(row, x.RawRowView(i))
		}
		a := l.Action[i]
		if act != nil {
			a = act[j]
		}
		row[dx+int(a)] = 1
		row[dx+A+l.pos(i)] = 1
	}
	return d
}
