package causal

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"

	"gonum.org/v1/gonum/mat"
)

// UpliftForest fits a random forest of uplift trees (as in CausalML's
// UpliftRandomForestClassifier): each tree grows on a bootstrap sample of
// the rows with the settings of Tree, and the forest's effect is the mean
// of the trees' effects,
//
//	τ_k(x) = 1/B Σ_b (p_k^b(x) - p_0^b(x)).
//
// The features are binned once and the trees grow in parallel on all
// cores. The result depends only on the data, the settings and src. The
// zero value is usable: 10 trees with UpliftTree's defaults.
type UpliftForest struct {
	// Trees is the number of trees (0 means 10).
	Trees int
	// Tree holds the settings of every tree.
	Tree UpliftTree
	// NoBootstrap grows every tree on all rows instead of a bootstrap
	// sample (trees then differ only through feature sampling).
	NoBootstrap bool
	// Workers is the number of trees grown at once (0 means GOMAXPROCS).
	Workers int
}

// UpliftForestModel is a fitted uplift forest.
type UpliftForestModel struct {
	Arms     int
	Features int
	Trees    []*UpliftTreeModel
}

// Kind implements Kinded.
func (m *UpliftForestModel) Kind() string { return "uplift-forest" }

// UnmarshalJSON implements json.Unmarshaler and checks every tree.
func (m *UpliftForestModel) UnmarshalJSON(b []byte) error {
	type plain UpliftForestModel
	if err := json.Unmarshal(b, (*plain)(m)); err != nil {
		return err
	}
	if len(m.Trees) == 0 {
		return fmt.Errorf("uplift forest without trees")
	}
	for b, t := range m.Trees {
		if t == nil || t.Arms != m.Arms || t.Features != m.Features {
			return fmt.Errorf("uplift forest tree %d does not match the forest", b)
		}
	}
	return nil
}

// Effects implements UpliftModel. It panics if x has the wrong number of
// columns.
func (m *UpliftForestModel) Effects(dst, x *mat.Dense) *mat.Dense {
	dst = upliftEffectsDst(dst, x, m.Features, m.Arms)
	inv := 1 / float64(len(m.Trees))
	upliftRows(x, func(i int, row []float64) {
		out := dst.RawRowView(i)
		clear(out)
		for _, t := range m.Trees {
			r := t.leaf(row).Rates
			for k := range out {
				out[k] += r[k+1] - r[0]
			}
		}
		for k := range out {
			out[k] *= inv
		}
	})
	return dst
}

// FitUplift implements UpliftEstimator. The outcome must be 0 or 1.
func (f UpliftForest) FitUplift(d UpliftData, src rand.Source) (UpliftModel, error) {
	return f.Fit(d, src)
}

// Fit fits the forest and returns the concrete model.
func (f UpliftForest) Fit(d UpliftData, src rand.Source) (*UpliftForestModel, error) {
	if f.Trees < 0 {
		return nil, fmt.Errorf("uplift forest: %w: %d trees", ErrInput, f.Trees)
	}
	if err := f.Tree.validate(); err != nil {
		return nil, fmt.Errorf("uplift forest: %w", err)
	}
	trees := f.Trees
	if trees == 0 {
		trees = 10
	}
	cfg := f.Tree.withDefaults()
	in, err := newUpliftInput(d, cfg.MaxBins)
	if err != nil {
		return nil, fmt.Errorf("uplift forest: %w", err)
	}
	rng := rand.New(src)
	seeds := make([][2]uint64, trees)
	for b := range seeds {
		seeds[b] = [2]uint64{rng.Uint64(), rng.Uint64()}
	}
	workers := f.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Trees run in parallel; a tree only parallelises its own histogram
	// scans when there are more cores than trees.
	inner := max(1, workers/trees)
	n := in.bins.Rows
	m := &UpliftForestModel{Arms: d.Arms, Features: in.bins.Cols, Trees: make([]*UpliftTreeModel, trees)}
	prog := startProgress(src, trees)
	parallelFor(trees, workers, func(b int) {
		if stopped(src) != nil {
			return
		}
		trng := rand.New(rand.NewPCG(seeds[b][0], seeds[b][1]))
		idx := upliftBootstrap(n, !f.NoBootstrap, trng)
		g := newUpliftGrower(cfg, in, trng, inner)
		m.Trees[b] = &UpliftTreeModel{Arms: d.Arms, Features: in.bins.Cols, Nodes: g.growTree(idx)}
		prog.step()
	})
	if err := stopped(src); err != nil {
		return nil, err
	}
	prog.finish()
	return m, nil
}

// upliftBootstrap returns n row indices drawn with replacement from [0, n)
// in ascending order (or 0..n-1 when boot is false).
func upliftBootstrap(n int, boot bool, rng *rand.Rand) []int32 {
	idx := make([]int32, n)
	if !boot {
		for i := range idx {
			idx[i] = int32(i)
		}
		return idx
	}
	counts := make([]uint8, n)
	var over map[int32]int // counts above 255 (practically never)
	for range n {
		i := rng.IntN(n)
		if counts[i] == 255 {
			if over == nil {
				over = map[int32]int{}
			}
			over[int32(i)]++
			continue
		}
		counts[i]++
	}
	k := 0
	for i, c := range counts {
		c := int(c)
		if over != nil {
			c += over[int32(i)]
		}
		for range c {
			idx[k] = int32(i)
			k++
		}
	}
	return idx
}
