package causal

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// Forest is a random-forest learner on binned features. Its zero value is
// usable.
//
// Each tree is grown on a bootstrap sample (row i drawn c_i times) and, at
// every node, searches MaxFeatures randomly drawn features for the split
// that most reduces the weighted squared error
//
//	Σ_L c w (y-ȳ_L)² + Σ_R c w (y-ȳ_R)²,  gain = S_L²/W_L + S_R²/W_R − S²/W
//
// with S = Σ c w y and W = Σ c w. A leaf predicts its weighted mean ȳ; the
// forest predicts the mean of its trees' leaf means, which for 0/1
// outcomes (Classification) is a probability.
type Forest struct {
	// Trees is the number of trees (0 means 100).
	Trees int
	// MaxFeatures is the number of features tried at each split (0 means
	// ⌈√p⌉ for classification and ⌈p/3⌉ for regression).
	MaxFeatures int
	// MaxDepth limits the depth of each tree (0 means unlimited).
	MaxDepth int
	// MinSamplesLeaf is the fewest distinct rows in a leaf (0 means 1 for
	// classification and 5 for regression).
	MinSamplesLeaf int
	// MaxBins is the number of histogram bins per feature (0 means 255).
	MaxBins int
	// SampleFraction is the size of each bootstrap sample as a fraction of
	// the rows (0 means 1).
	SampleFraction float64
	// Categorical marks category columns, split as ordered codes. Nil means
	// all numeric.
	Categorical []bool
}

// WithCategorical returns a copy of f that treats the marked columns as
// category codes. It implements CategoricalLearner.
func (f Forest) WithCategorical(categorical []bool) Learner {
	f.Categorical = categorical
	return f
}

func (f Forest) withDefaults(p int, task Task) (Forest, error) {
	if f.Trees == 0 {
		f.Trees = 100
	}
	if f.MaxFeatures == 0 {
		if task == Classification {
			f.MaxFeatures = int(math.Ceil(math.Sqrt(float64(p))))
		} else {
			f.MaxFeatures = (p + 2) / 3
		}
	}
	if f.MinSamplesLeaf == 0 {
		f.MinSamplesLeaf = 5
		if task == Classification {
			f.MinSamplesLeaf = 1
		}
	}
	if f.MaxBins == 0 {
		f.MaxBins = MaxBins
	}
	if f.SampleFraction == 0 {
		f.SampleFraction = 1
	}
	switch {
	case f.Trees < 1:
		return f, fmt.Errorf("%w: %d trees", ErrInput, f.Trees)
	case f.MaxFeatures < 1 || f.MaxFeatures > p:
		return f, fmt.Errorf("%w: max features %d is not in [1, %d]", ErrInput, f.MaxFeatures, p)
	case f.MaxDepth < 0:
		return f, fmt.Errorf("%w: max depth %d is negative", ErrInput, f.MaxDepth)
	case f.MinSamplesLeaf < 1:
		return f, fmt.Errorf("%w: min samples leaf %d is below 1", ErrInput, f.MinSamplesLeaf)
	case f.MaxBins < 2 || f.MaxBins > MaxBins:
		return f, fmt.Errorf("%w: max bins %d is not in [2, %d]", ErrInput, f.MaxBins, MaxBins)
	case !(f.SampleFraction > 0) || math.IsInf(f.SampleFraction, 0):
		return f, fmt.Errorf("%w: sample fraction %v is not positive", ErrInput, f.SampleFraction)
	}
	return f, nil
}

// Fit fits a random forest of y on x. It implements Learner.
func (f Forest) Fit(x *mat.Dense, y, weights []float64, task Task, src rand.Source) (Model, error) {
	m, err := f.FitForest(x, y, weights, task, src)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// FitForest is Fit returning the concrete model.
func (f Forest) FitForest(x *mat.Dense, y, weights []float64, task Task, src rand.Source) (*ForestModel, error) {
	if err := checkFit(x, y, weights, task, f.Categorical); err != nil {
		return nil, err
	}
	n, p := x.Dims()
	cfg, err := f.withDefaults(p, task)
	if err != nil {
		return nil, err
	}
	bins, err := NewBinsWeighted(x, weights, cfg.MaxBins, cfg.Categorical)
	if err != nil {
		return nil, fmt.Errorf("forest: %w", err)
	}
	// One seed per tree, drawn up front so the forest does not depend on
	// how trees are shared among goroutines.
	rng := rand.New(src)
	seeds := make([][2]uint64, cfg.Trees)
	for t := range seeds {
		seeds[t] = [2]uint64{rng.Uint64(), rng.Uint64()}
	}
	tc := treeConfig{
		maxDepth:  cfg.MaxDepth,
		minLeaf:   cfg.MinSamplesLeaf,
		leafScale: 1,
		mtry:      cfg.MaxFeatures,
	}
	feats := make([]int, p)
	for j := range feats {
		feats[j] = j
	}
	draws := max(1, int(math.Round(cfg.SampleFraction*float64(n))))
	model := &ForestModel{Task: task, Features: p, Trees: make([][]TreeNode, cfg.Trees)}
	prog := startProgress(src, cfg.Trees)

	parallelWork(cfg.Trees, 0, func() func(k int) {
		count := make([]int32, n)
		g := make([]float32, n)
		h := make([]float32, n)
		var rows []int32
		var tg *treeGrower
		return func(k int) {
			if stopped(src) != nil {
				return
			}
			trng := rand.New(rand.NewPCG(seeds[k][0], seeds[k][1]))
			if tg == nil {
				tg = newTreeGrower(bins, tc, trng)
			}
			tg.rng = trng
			clear(count)
			for range draws {
				count[trng.IntN(n)]++
			}
			rows = rows[:0]
			for i, c := range count {
				if c == 0 {
					continue
				}
				w := float64(c)
				if weights != nil {
					w *= weights[i]
				}
				g[i] = float32(w * y[i])
				h[i] = float32(w)
				rows = append(rows, int32(i))
			}
			tg.setRows(rows, g, h)
			tg.grow(feats)
			model.Trees[k] = append([]TreeNode(nil), tg.nodes...)
			prog.step()
		}
	})
	if err := stopped(src); err != nil {
		return nil, err
	}
	prog.finish()
	return model, nil
}

// ForestModel is a fitted random forest: the prediction is the mean over
// trees of the leaf value each row falls into.
type ForestModel struct {
	Task     Task
	Features int
	Trees    [][]TreeNode
}

// Kind implements Kinded.
func (m *ForestModel) Kind() string { return "forest" }

// Validate reports a malformed model (for example one read from corrupt
// bytes).
func (m *ForestModel) Validate() error {
	if len(m.Trees) == 0 {
		return fmt.Errorf("%w: forest has no trees", ErrFormat)
	}
	for k, t := range m.Trees {
		if err := treeCheck(t, m.Features); err != nil {
			return fmt.Errorf("forest tree %d: %w", k, err)
		}
	}
	return nil
}

// Predict implements Model. It panics if x does not have the number of
// columns the model was fitted on.
func (m *ForestModel) Predict(dst []float64, x *mat.Dense) []float64 {
	n, p := x.Dims()
	if p != m.Features {
		panic(fmt.Sprintf("causal: ForestModel.Predict: %d columns, model has %d", p, m.Features))
	}
	if len(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	compileTrees(m.Trees, p).sum(dst, x, 0)
	inv := 1 / float64(len(m.Trees))
	for i := range dst {
		dst[i] *= inv
	}
	return dst
}
