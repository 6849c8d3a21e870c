package causal

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// EffectNode is a node of EffectTree. An inner node splits on feature
// Feature: a numeric feature sends x ≤ Threshold to Left, a categorical
// one sends code Level (Threshold is then NaN) to Left; the rest go Right.
// A leaf (Left and Right nil, Feature −1) holds its N units' mean
// predicted effect Tau and, when doubly robust scores were given, their
// mean Effect with its normal interval CI (else Effect is Tau and CI is
// NaN). Inner nodes hold the same numbers for all their units.
type EffectNode struct {
	Feature     int
	Threshold   float64
	Level       int
	Left, Right *EffectNode
	N           int
	Tau, Effect float64
	CI          [2]float64
}

// Leaf reports whether the node is a leaf.
func (nd *EffectNode) Leaf() bool { return nd.Left == nil }

// EffectTree fits a regression tree of depth ≤ depth to the effects tau
// (EconML's SingleTreeCateInterpreter): each split is the one, over every
// feature and threshold (numeric: midpoints between consecutive distinct
// values; categorical: one level against the rest), that most reduces
// the squared error Σ (τ̂_i − τ̄_node)², with at least minLeaf units on
// each side; a node with no such split, or none that reduces the error,
// is a leaf. Every node reports its units' mean τ̂ and, when gamma (the
// doubly robust scores of the units) is given, their mean with its
// normal interval at level, the effect the units actually had.
func EffectTree(x *mat.Dense, categorical []bool, tau, gamma []float64, depth, minLeaf int, level float64) (*EffectNode, error) {
	n, p := x.Dims()
	switch {
	case len(tau) != n:
		return nil, fmt.Errorf("%w: %d effects for %d rows", ErrInput, len(tau), n)
	case gamma != nil && len(gamma) != n:
		return nil, fmt.Errorf("%w: %d doubly robust scores for %d rows", ErrInput, len(gamma), n)
	case categorical != nil && len(categorical) != p:
		return nil, fmt.Errorf("%w: %d categorical flags for %d features", ErrInput, len(categorical), p)
	case depth < 0 || minLeaf < 1:
		return nil, fmt.Errorf("%w: depth %d, minimum leaf %d", ErrInput, depth, minLeaf)
	case !(level > 0 && level < 1):
		return nil, fmt.Errorf("%w: confidence level %v", ErrInput, level)
	case n == 0:
		return nil, fmt.Errorf("%w: no rows", ErrInput)
	}
	isCat := func(j int) bool { return categorical != nil && categorical[j] }
	// Each numeric feature's rows in increasing order, sorted once; every
	// level of the tree scans them for all its nodes at once.
	order := make([][]int32, p)
	parallelFor(p, 0, func(j int) {
		if isCat(j) {
			return
		}
		o := make([]int32, n)
		for i := range o {
			o[i] = int32(i)
		}
		slices.SortFunc(o, func(a, b int32) int {
			va, vb := x.At(int(a), j), x.At(int(b), j)
			switch {
			case va < vb:
				return -1
			case va > vb:
				return 1
			}
			return 0
		})
		order[j] = o
	})
	z := distuv.UnitNormal.Quantile((1 + level) / 2)
	root := &EffectNode{}
	frontier := []*EffectNode{root}
	node := make([]int32, n) // the unit's node in frontier, −1 when settled
	type split struct {
		gain, threshold float64
		feature, level  int
	}
	for d := 0; ; d++ {
		k := len(frontier)
		cnt, sum := make([]float64, k), make([]float64, k)
		var unitsOf = make([][]int, k)
		for i := range n {
			if c := node[i]; c >= 0 {
				cnt[c]++
				sum[c] += tau[i]
				unitsOf[c] = append(unitsOf[c], i)
			}
		}
		for c, nd := range frontier {
			treeNodeStats(nd, unitsOf[c], tau, gamma, z)
		}
		if d == depth {
			break
		}
		best := make([]split, k)
		for c := range best {
			best[c].feature = -1
		}
		parent := func(c int) float64 { return sum[c] * sum[c] / cnt[c] }
		consider := func(c int, nl, sl float64, s split) {
			nr, sr := cnt[c]-nl, sum[c]-sl
			if nl < float64(minLeaf) || nr < float64(minLeaf) {
				return
			}
			s.gain = sl*sl/nl + sr*sr/nr - parent(c)
			if s.gain > best[c].gain*(1+1e-12)+1e-12*math.Abs(parent(c)) {
				best[c] = s
			}
		}
		lc, ls, last := make([]float64, k), make([]float64, k), make([]float64, k)
		for j := range p {
			if isCat(j) {
				var levels int
				for i := range n {
					levels = max(levels, int(x.At(i, j))+1)
				}
				lcnt, lsum := make([]float64, k*levels), make([]float64, k*levels)
				for i := range n {
					if c := node[i]; c >= 0 {
						l := int(x.At(i, j))
						lcnt[int(c)*levels+l]++
						lsum[int(c)*levels+l] += tau[i]
					}
				}
				for c := range k {
					for l := range levels {
						if lcnt[c*levels+l] > 0 {
							consider(c, lcnt[c*levels+l], lsum[c*levels+l], split{feature: j, level: l, threshold: math.NaN()})
						}
					}
				}
				continue
			}
			clear(lc)
			clear(ls)
			for _, i32 := range order[j] {
				i := int(i32)
				c := node[i]
				if c < 0 {
					continue
				}
				v := x.At(i, j)
				if lc[c] > 0 && v > last[c] {
					consider(int(c), lc[c], ls[c], split{feature: j, level: -1, threshold: last[c] + (v-last[c])/2})
				}
				lc[c]++
				ls[c] += tau[i]
				last[c] = v
			}
		}
		var next []*EffectNode
		child := make([]int32, 2*k)
		for c, nd := range frontier {
			child[2*c], child[2*c+1] = -1, -1
			s := best[c]
			if s.feature < 0 || !(s.gain > 0) {
				continue
			}
			nd.Feature, nd.Threshold, nd.Level = s.feature, s.threshold, s.level
			nd.Left, nd.Right = &EffectNode{}, &EffectNode{}
			child[2*c], child[2*c+1] = int32(len(next)), int32(len(next)+1)
			next = append(next, nd.Left, nd.Right)
		}
		for i := range n {
			c := node[i]
			if c < 0 {
				continue
			}
			nd := frontier[c]
			if nd.Left == nil {
				node[i] = -1
				continue
			}
			v := x.At(i, nd.Feature)
			left := v <= nd.Threshold
			if nd.Level >= 0 {
				left = int(v) == nd.Level
			}
			if left {
				node[i] = child[2*c]
			} else {
				node[i] = child[2*c+1]
			}
		}
		if len(next) == 0 {
			break
		}
		frontier = next
	}
	return root, nil
}

// treeNodeStats fills a node's count, mean τ̂ and effect; it marks it a
// leaf until it is split.
func treeNodeStats(nd *EffectNode, units []int, tau, gamma []float64, z float64) {
	nd.Feature, nd.Level, nd.Threshold = -1, -1, math.NaN()
	nd.N = len(units)
	var s float64
	for _, i := range units {
		s += tau[i]
	}
	nd.Tau = s / float64(len(units))
	nd.Effect, nd.CI = nd.Tau, [2]float64{math.NaN(), math.NaN()}
	if gamma != nil {
		g := metaPick(gamma, units)
		m, se := MeanSE(g, nil)
		nd.Effect, nd.CI = m, [2]float64{m - z*se, m + z*se}
	}
}
