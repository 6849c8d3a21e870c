package causal

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"

	"gonum.org/v1/gonum/mat"
)

// EarlyStopping says when GBT stops on a validation split.
type EarlyStopping int

const (
	// EarlyStoppingAuto stops early when there are more than 10,000 rows.
	EarlyStoppingAuto EarlyStopping = iota
	// EarlyStoppingOn always holds out a validation split.
	EarlyStoppingOn
	// EarlyStoppingOff fits every iteration on all rows.
	EarlyStoppingOff
)

// GBT is a histogram-based gradient-boosted tree learner. Its zero value
// is usable: the defaults follow scikit-learn's HistGradientBoosting.
//
// Each iteration fits a tree to the gradients g_i and hessians h_i of the
// loss at the current raw prediction F(x_i): squared loss ½w(y-F)² gives
// g = w(F-y), h = w; log loss with p = σ(F) gives g = w(p-y), h = wp(1-p).
// A split's gain is G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ), a leaf's value
// is −ν·G/(H+λ) for learning rate ν and L2 penalty λ, and trees grow best
// first (largest gain first) up to MaxLeaves leaves.
type GBT struct {
	// LearningRate ν shrinks every tree (0 means 0.1).
	LearningRate float64
	// MaxIter is the number of boosting iterations (0 means 100).
	MaxIter int
	// MaxLeaves limits the leaves of each tree (0 means 31).
	MaxLeaves int
	// MaxDepth limits the depth of each tree (0 means unlimited).
	MaxDepth int
	// MinSamplesLeaf is the fewest rows in a leaf (0 means 20).
	MinSamplesLeaf int
	// L2 is the penalty λ on leaf values (0 means none).
	L2 float64
	// MaxBins is the number of histogram bins per feature (0 means 255).
	MaxBins int
	// Subsample is the fraction of training rows drawn without
	// replacement for each tree (0 means 1: all rows).
	Subsample float64
	// FeatureFraction is the fraction of features drawn for each tree
	// (0 means 1: all features).
	FeatureFraction float64
	// EarlyStopping says whether to hold out a validation split (drawn
	// with the random source) and stop when its loss stops improving; the
	// model then keeps the trees up to the iteration with the lowest
	// validation loss.
	EarlyStopping EarlyStopping
	// ValidationFraction is the held-out share of rows (0 means 0.1).
	ValidationFraction float64
	// Patience is the number of iterations without an improvement of more
	// than Tol before stopping (0 means 10).
	Patience int
	// Tol is the smallest improvement of the validation loss that counts
	// (0 means 1e-7).
	Tol float64
	// Categorical marks category columns (codes 0..MaxBins-1). Their codes
	// are split as ordered values. Nil means all numeric.
	Categorical []bool
}

// WithCategorical returns a copy of g that treats the marked columns as
// category codes. It implements CategoricalLearner.
func (g GBT) WithCategorical(categorical []bool) Learner {
	g.Categorical = categorical
	return g
}

func (g GBT) withDefaults() (GBT, error) {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&g.LearningRate, 0.1)
	defInt(&g.MaxIter, 100)
	defInt(&g.MaxLeaves, 31)
	defInt(&g.MinSamplesLeaf, 20)
	defInt(&g.MaxBins, MaxBins)
	def(&g.Subsample, 1)
	def(&g.FeatureFraction, 1)
	def(&g.ValidationFraction, 0.1)
	defInt(&g.Patience, 10)
	def(&g.Tol, 1e-7)
	switch {
	case !(g.LearningRate > 0) || math.IsInf(g.LearningRate, 0):
		return g, fmt.Errorf("%w: learning rate %v is not positive", ErrInput, g.LearningRate)
	case g.MaxIter < 0:
		return g, fmt.Errorf("%w: max iter %d is negative", ErrInput, g.MaxIter)
	case g.MaxLeaves < 2:
		return g, fmt.Errorf("%w: max leaves %d is below 2", ErrInput, g.MaxLeaves)
	case g.MaxDepth < 0:
		return g, fmt.Errorf("%w: max depth %d is negative", ErrInput, g.MaxDepth)
	case g.MinSamplesLeaf < 1:
		return g, fmt.Errorf("%w: min samples leaf %d is below 1", ErrInput, g.MinSamplesLeaf)
	case !(g.L2 >= 0) || math.IsInf(g.L2, 0):
		return g, fmt.Errorf("%w: L2 %v is negative", ErrInput, g.L2)
	case g.MaxBins < 2 || g.MaxBins > MaxBins:
		return g, fmt.Errorf("%w: max bins %d is not in [2, %d]", ErrInput, g.MaxBins, MaxBins)
	case !(g.Subsample > 0 && g.Subsample <= 1):
		return g, fmt.Errorf("%w: subsample %v is not in (0, 1]", ErrInput, g.Subsample)
	case !(g.FeatureFraction > 0 && g.FeatureFraction <= 1):
		return g, fmt.Errorf("%w: feature fraction %v is not in (0, 1]", ErrInput, g.FeatureFraction)
	case !(g.ValidationFraction > 0 && g.ValidationFraction < 1):
		return g, fmt.Errorf("%w: validation fraction %v is not in (0, 1)", ErrInput, g.ValidationFraction)
	case g.Patience < 1:
		return g, fmt.Errorf("%w: patience %d is below 1", ErrInput, g.Patience)
	case !(g.Tol >= 0):
		return g, fmt.Errorf("%w: tol %v is negative", ErrInput, g.Tol)
	}
	return g, nil
}

// checkFit validates the training data of a tree learner.
func checkFit(x *mat.Dense, y, weights []float64, task Task, categorical []bool) error {
	if x == nil {
		return fmt.Errorf("%w: nil feature matrix", ErrInput)
	}
	n, p := x.Dims()
	if n == 0 || p == 0 {
		return fmt.Errorf("%w: empty feature matrix", ErrInput)
	}
	if len(y) != n {
		return fmt.Errorf("%w: %d outcomes for %d rows", ErrInput, len(y), n)
	}
	if weights != nil && len(weights) != n {
		return fmt.Errorf("%w: %d weights for %d rows", ErrInput, len(weights), n)
	}
	if categorical != nil && len(categorical) != p {
		return fmt.Errorf("%w: %d categorical flags for %d columns", ErrInput, len(categorical), p)
	}
	if task != Regression && task != Classification {
		return fmt.Errorf("%w: unknown task %d", ErrInput, task)
	}
	var wsum float64
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: outcome %d is %v", ErrInput, i, v)
		}
		if task == Classification && (v < 0 || v > 1) {
			return fmt.Errorf("%w: outcome %d is %v, want a value in [0, 1] for classification", ErrInput, i, v)
		}
		w := 1.0
		if weights != nil {
			w = weights[i]
			if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
				return fmt.Errorf("%w: weight %d is %v", ErrInput, i, w)
			}
		}
		wsum += w
	}
	if !(wsum > 0) {
		return fmt.Errorf("%w: weights sum to zero", ErrInput)
	}
	return nil
}

// Fit fits boosted trees of y on x. It implements Learner.
func (g GBT) Fit(x *mat.Dense, y, weights []float64, task Task, src rand.Source) (Model, error) {
	m, err := g.FitGBT(x, y, weights, task, src)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// FitGBT is Fit returning the concrete model.
func (g GBT) FitGBT(x *mat.Dense, y, weights []float64, task Task, src rand.Source) (*GBTModel, error) {
	cfg, err := g.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkFit(x, y, weights, task, cfg.Categorical); err != nil {
		return nil, err
	}
	bins, err := NewBinsWeighted(x, weights, cfg.MaxBins, cfg.Categorical)
	if err != nil {
		return nil, fmt.Errorf("gbt: %w", err)
	}
	rng := rand.New(src)
	n, p := x.Dims()

	// Split off the validation rows.
	train := make([]int32, n)
	for i := range train {
		train[i] = int32(i)
	}
	var val []int32
	early := cfg.EarlyStopping == EarlyStoppingOn || (cfg.EarlyStopping == EarlyStoppingAuto && n > 10000)
	if early {
		nv := int(math.Round(cfg.ValidationFraction * float64(n)))
		if nv >= 1 && nv < n {
			rng.Shuffle(n, func(a, b int) { train[a], train[b] = train[b], train[a] })
			val = slices.Clone(train[:nv])
			train = train[nv:]
			slices.Sort(val)
			slices.Sort(train)
		} else {
			early = false
		}
	}

	w := func(i int32) float64 {
		if weights == nil {
			return 1
		}
		return weights[i]
	}
	var sw, swy float64
	for _, i := range train {
		sw += w(i)
		swy += w(i) * y[i]
	}
	if !(sw > 0) {
		return nil, fmt.Errorf("%w: training weights sum to zero", ErrInput)
	}
	mean := swy / sw
	model := &GBTModel{Task: task, Features: p}
	switch task {
	case Regression:
		model.Base = mean
	case Classification:
		pm := min(max(mean, 1e-12), 1-1e-12)
		model.Base = math.Log(pm / (1 - pm))
	}

	raw := make([]float64, n)
	for i := range raw {
		raw[i] = model.Base
	}
	grad := make([]float32, n)
	hess := make([]float32, n)
	inSample := make([]bool, n)

	tree := treeConfig{
		maxDepth:  cfg.MaxDepth,
		maxLeaves: cfg.MaxLeaves,
		minLeaf:   cfg.MinSamplesLeaf,
		minHess:   1e-3,
		lambda:    cfg.L2,
		leafScale: -cfg.LearningRate,
		parallel:  true,
	}
	grower := newTreeGrower(bins, tree, rng)
	allFeats := make([]int, p)
	for j := range allFeats {
		allFeats[j] = j
	}
	nFeats := max(1, int(math.Round(cfg.FeatureFraction*float64(p))))
	nSample := max(1, int(math.Round(cfg.Subsample*float64(len(train)))))
	sample := train
	var idx []int32
	if nSample < len(train) {
		sample = make([]int32, nSample)
		idx = make([]int32, len(train))
	}

	bestLoss := gbtLoss(task, raw, y, weights, val)
	bestIter := 0
	prog := startProgress(src, cfg.MaxIter)
	for iter := 0; iter < cfg.MaxIter; iter++ {
		if err := stopped(src); err != nil {
			return nil, err
		}
		gbtGradients(task, raw, y, weights, train, grad, hess)
		if nSample < len(train) {
			// Partial Fisher–Yates draw of nSample training rows.
			copy(idx, train)
			for k := 0; k < nSample; k++ {
				j := k + rng.IntN(len(idx)-k)
				idx[k], idx[j] = idx[j], idx[k]
			}
			copy(sample, idx[:nSample])
			slices.Sort(sample)
		}
		feats := allFeats
		if nFeats < p {
			perm := rng.Perm(p)[:nFeats]
			slices.Sort(perm)
			feats = perm
		}
		grower.setRows(sample, grad, hess)
		grower.grow(feats)
		nodes := slices.Clone(grower.nodes)
		bthr := slices.Clone(grower.bthr)
		model.Trees = append(model.Trees, nodes)
		prog.step()

		// Update the raw predictions: sampled rows from the leaf ranges,
		// the other rows by walking the binned tree.
		gbtAddLeaves(raw, nodes, grower.leafs, grower.rows)
		if nSample < len(train) {
			for _, r := range sample {
				inSample[r] = true
			}
			for _, r := range train {
				if !inSample[r] {
					raw[r] += treeLeafBinned(nodes, bthr, bins.Codes, n, int(r))
				}
			}
			for _, r := range sample {
				inSample[r] = false
			}
		}
		if !early {
			continue
		}
		loss := gbtAddTreeLoss(task, raw, y, weights, val, nodes, bthr, bins)
		if loss < bestLoss-cfg.Tol {
			bestLoss = loss
			bestIter = iter + 1
		} else if iter+1-bestIter >= cfg.Patience {
			break
		}
	}
	if early {
		model.Trees = model.Trees[:bestIter]
	}
	prog.finish()
	return model, nil
}

// gbtGradients writes the weighted gradient and hessian of the loss at raw
// for the rows in rows.
func gbtGradients(task Task, raw, y, weights []float64, rows []int32, grad, hess []float32) {
	blocks := (len(rows) + gbtBlock - 1) / gbtBlock
	parallelFor(blocks, 0, func(b int) {
		for _, i := range rows[b*gbtBlock : min(len(rows), (b+1)*gbtBlock)] {
			w := 1.0
			if weights != nil {
				w = weights[i]
			}
			switch task {
			case Classification:
				p := sigmoid(raw[i])
				grad[i] = float32(w * (p - y[i]))
				hess[i] = float32(w * p * (1 - p))
			default:
				grad[i] = float32(w * (raw[i] - y[i]))
				hess[i] = float32(w)
			}
		}
	})
}

// gbtBlock is the number of rows of one block of the parallel loops over
// rows. Sums over rows are taken block by block and the block sums added
// in order, so they do not depend on GOMAXPROCS.
const gbtBlock = 16384

// gbtAddLeaves adds to raw[r] the value of the leaf that holds r, for the
// rows of every leaf of a tree just grown (rows holds the leaves' ranges).
func gbtAddLeaves(raw []float64, nodes []TreeNode, leafs []treeOpen, rows []int32) {
	add := func(lf treeOpen) {
		v := nodes[lf.node].Value
		for _, r := range rows[lf.lo:lf.hi] {
			raw[r] += v
		}
	}
	if len(rows) < 2*gbtBlock {
		for _, lf := range leafs {
			add(lf)
		}
		return
	}
	parallelFor(len(leafs), 0, func(k int) { add(leafs[k]) })
}

// gbtAddTreeLoss adds the binned tree nodes (bin thresholds bthr) to the
// raw predictions of rows and returns the mean weighted loss over rows
// afterwards (see gbtLoss).
func gbtAddTreeLoss(task Task, raw, y, weights []float64, rows []int32, nodes []TreeNode, bthr []uint8, bins *Bins) float64 {
	return gbtLossBlocks(task, raw, y, weights, rows, func(rs []int32) {
		for _, r := range rs {
			raw[r] += treeLeafBinned(nodes, bthr, bins.Codes, bins.Rows, int(r))
		}
	})
}

// gbtLoss returns the mean weighted loss over rows: squared error
// ½(y−F)² for regression, log loss log(1+e^F) − yF for classification.
func gbtLoss(task Task, raw, y, weights []float64, rows []int32) float64 {
	return gbtLossBlocks(task, raw, y, weights, rows, nil)
}

// gbtLossBlocks is gbtLoss that first calls update (when not nil) on each
// block of rows, on all cores.
func gbtLossBlocks(task Task, raw, y, weights []float64, rows []int32, update func([]int32)) float64 {
	blocks := (len(rows) + gbtBlock - 1) / gbtBlock
	var one [2]float64
	sums := one[:]
	if blocks > 1 {
		sums = make([]float64, 2*blocks)
	}
	parallelFor(blocks, 0, func(b int) {
		rs := rows[b*gbtBlock : min(len(rows), (b+1)*gbtBlock)]
		if update != nil {
			update(rs)
		}
		var s, sw float64
		for _, i := range rs {
			w := 1.0
			if weights != nil {
				w = weights[i]
			}
			switch task {
			case Classification:
				// log(1+e^F) − yF, computed stably.
				f := raw[i]
				s += w * (softplus(f) - y[i]*f)
			default:
				d := y[i] - raw[i]
				s += w * d * d / 2
			}
			sw += w
		}
		sums[2*b], sums[2*b+1] = s, sw
	})
	var s, sw float64
	for b := range blocks {
		s += sums[2*b]
		sw += sums[2*b+1]
	}
	if sw == 0 {
		return 0
	}
	return s / sw
}

// sigmoid returns 1/(1+e^-x).
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// softplus returns log(1+e^x).
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// GBTModel is a fitted boosted tree ensemble. Its raw prediction is
// F(x) = Base + Σ_t tree_t(x); Predict returns F for regression and σ(F)
// for classification.
//
// The first prediction compiles the trees for fast walks and keeps the
// result; change Trees only by assigning a new slice (never a tree in
// place) after a model has predicted.
type GBTModel struct {
	Task     Task
	Base     float64
	Features int
	Trees    [][]TreeNode

	compiled atomic.Pointer[compiledTrees]
}

// compiledTrees is a compiled ensemble with the Trees slice it came from.
type compiledTrees struct {
	e     *treeEnsemble
	first *[]TreeNode
	n, p  int
}

// ensemble returns the compiled trees of m for p features, compiling them
// on first use or when Trees was replaced.
func (m *GBTModel) ensemble(p int) *treeEnsemble {
	var first *[]TreeNode
	if len(m.Trees) > 0 {
		first = &m.Trees[0]
	}
	if c := m.compiled.Load(); c != nil && c.first == first && c.n == len(m.Trees) && c.p == p {
		return c.e
	}
	c := &compiledTrees{e: compileTrees(m.Trees, p), first: first, n: len(m.Trees), p: p}
	m.compiled.Store(c)
	return c.e
}

// Kind implements Kinded.
func (m *GBTModel) Kind() string { return "gbt" }

// Validate reports a malformed model (for example one read from corrupt
// bytes).
func (m *GBTModel) Validate() error {
	for k, t := range m.Trees {
		if err := treeCheck(t, m.Features); err != nil {
			return fmt.Errorf("gbt tree %d: %w", k, err)
		}
	}
	return nil
}

// Predict implements Model. It panics if x does not have the number of
// columns the model was fitted on.
func (m *GBTModel) Predict(dst []float64, x *mat.Dense) []float64 {
	dst = m.PredictRaw(dst, x)
	if m.Task == Classification {
		for i, v := range dst {
			dst[i] = sigmoid(v)
		}
	}
	return dst
}

// PredictRaw writes the raw score F(x) of each row into dst (allocated
// when too short) and returns it.
func (m *GBTModel) PredictRaw(dst []float64, x *mat.Dense) []float64 {
	n, p := x.Dims()
	if p != m.Features {
		panic(fmt.Sprintf("causal: GBTModel.Predict: %d columns, model has %d", p, m.Features))
	}
	if len(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	m.ensemble(p).sum(dst, x, m.Base)
	return dst
}
