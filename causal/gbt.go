package causal

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/mat"
)

// TreeNode is one node of a fitted decision tree stored as a flat slice:
// the root is element 0, and the children of an internal node are
// adjacent, Left and Left+1.
type TreeNode struct {
	// Feature is the column an internal node splits on; -1 marks a leaf.
	Feature int32 `json:"f"`
	// Left is the index of the left child; the right child is Left+1.
	Left int32 `json:"l,omitempty"`
	// Value is the threshold of an internal node (a row goes left when
	// x[Feature] ≤ Value) or the prediction of a leaf.
	Value float64 `json:"v"`
}

// treeLeaf returns the value of the leaf that row falls into. NaN features
// go right.
func treeLeaf(t []TreeNode, row []float64) float64 {
	k := 0
	for {
		n := &t[k]
		if n.Feature < 0 {
			return n.Value
		}
		k = int(n.Left)
		if !(row[n.Feature] <= n.Value) {
			k++
		}
	}
}

// treeCheck reports whether t is a well-formed tree over p features: every
// child index is in range and after its parent, so walks terminate.
func treeCheck(t []TreeNode, p int) error {
	if len(t) == 0 {
		return fmt.Errorf("%w: empty tree", ErrFormat)
	}
	for k, n := range t {
		if n.Feature < 0 {
			continue
		}
		if int(n.Feature) >= p || n.Left <= int32(k) || int(n.Left)+1 >= len(t) {
			return fmt.Errorf("%w: tree node %d is malformed", ErrFormat, k)
		}
	}
	return nil
}

// treeEnsemble is a set of trees compiled for fast prediction. Thresholds
// and features are compared as order keys (see orderKey), and leaves loop
// back to themselves, so a walk is a fixed number of branch-free steps:
// the depth of the tree.
type treeEnsemble struct {
	nodes []treeCNode
	vals  []float64 // leaf value of each node
	roots []int32
	depth []int32
	p     int
}

type treeCNode struct {
	left int32 // right child is left+1; a leaf's left is itself
	feat int32
	thr  int64 // order key of the threshold; math.MaxInt64 for a leaf
}

func compileTrees(trees [][]TreeNode, p int) *treeEnsemble {
	total := 0
	for _, t := range trees {
		total += len(t)
	}
	e := &treeEnsemble{
		nodes: make([]treeCNode, 0, total),
		vals:  make([]float64, 0, total),
		roots: make([]int32, len(trees)),
		depth: make([]int32, len(trees)),
		p:     p,
	}
	var depth []int32
	for ti, t := range trees {
		base := int32(len(e.nodes))
		e.roots[ti] = base
		depth = slices.Grow(depth[:0], len(t))[:len(t)]
		depth[0] = 0
		maxd := int32(0)
		for k, n := range t {
			if n.Feature < 0 {
				e.nodes = append(e.nodes, treeCNode{left: base + int32(k), thr: math.MaxInt64})
				e.vals = append(e.vals, n.Value)
				maxd = max(maxd, depth[k])
				continue
			}
			// Children come after parents, so depth[k] is known here.
			depth[n.Left] = depth[k] + 1
			depth[n.Left+1] = depth[k] + 1
			e.nodes = append(e.nodes, treeCNode{left: base + n.Left, feat: n.Feature, thr: orderKey(n.Value)})
			e.vals = append(e.vals, 0)
		}
		e.depth[ti] = maxd
	}
	return e
}

// sumStackKeys is the most order keys sum keeps on the stack, so small
// batches (one row, the serving path) allocate nothing.
const sumStackKeys = 1024

// sumKeys holds order-key buffers of sum's blocks for reuse.
var sumKeys sync.Pool

// sum writes into dst[i] the sum over trees of the leaf values of row i of
// x, plus base, on both cores for large inputs.
func (e *treeEnsemble) sum(dst []float64, x *mat.Dense, base float64) {
	n, _ := x.Dims()
	if n == 0 {
		return
	}
	raw := x.RawMatrix()
	const block = 512
	if n*e.p <= sumStackKeys {
		var keys [sumStackKeys]int64
		e.sumBlock(dst, raw.Data, raw.Stride, base, 0, n, keys[:n*e.p])
		return
	}
	blocks := (n + block - 1) / block
	parallelFor(blocks, 0, func(b int) {
		lo, hi := b*block, min(n, (b+1)*block)
		kp, _ := sumKeys.Get().(*[]int64)
		if kp == nil || len(*kp) < block*e.p {
			k := make([]int64, block*e.p)
			kp = &k
		}
		e.sumBlock(dst, raw.Data, raw.Stride, base, lo, hi, *kp)
		sumKeys.Put(kp)
	})
}

// sumBlock is sum for rows [lo, hi) of the row-major data (row stride
// stride), using keys (at least (hi−lo)·p long) for the rows' order keys.
func (e *treeEnsemble) sumBlock(dst, data []float64, stride int, base float64, lo, hi int, keys []int64) {
	nodes, vals := e.nodes, e.vals
	p := e.p
	for i := lo; i < hi; i++ {
		kr := keys[(i-lo)*p : (i-lo+1)*p]
		for j, v := range data[i*stride : i*stride+p] {
			if v != v {
				kr[j] = math.MaxInt64 // NaN goes right
			} else {
				kr[j] = orderKey(v)
			}
		}
		dst[i] = base
	}
	if hi-lo < 4 {
		// Too few rows to overlap walks of rows: overlap four trees.
		for i := lo; i < hi; i++ {
			dst[i] = e.sumRow(keys[(i-lo)*p:(i-lo+1)*p], dst[i])
		}
		return
	}
	for t, root := range e.roots {
		d := int(e.depth[t])
		i := lo
		// Four rows at a time: four independent walks overlap.
		for ; i+4 <= hi; i += 4 {
			o := (i - lo) * p
			k0, k1, k2, k3 := int(root), int(root), int(root), int(root)
			for s := 0; s < d; s++ {
				n0, n1, n2, n3 := &nodes[k0], &nodes[k1], &nodes[k2], &nodes[k3]
				k0 = int(n0.left) + binStep(n0.thr, keys[o+int(n0.feat)], 1)
				k1 = int(n1.left) + binStep(n1.thr, keys[o+p+int(n1.feat)], 1)
				k2 = int(n2.left) + binStep(n2.thr, keys[o+2*p+int(n2.feat)], 1)
				k3 = int(n3.left) + binStep(n3.thr, keys[o+3*p+int(n3.feat)], 1)
				// Stop early, every few steps, once all four are at
				// leaves (deep, unbalanced trees).
				if s&3 == 3 && nodes[k0].thr&nodes[k1].thr&nodes[k2].thr&nodes[k3].thr == math.MaxInt64 {
					break
				}
			}
			dst[i] += vals[k0]
			dst[i+1] += vals[k1]
			dst[i+2] += vals[k2]
			dst[i+3] += vals[k3]
		}
		for ; i < hi; i++ {
			kr := keys[(i-lo)*p : (i-lo+1)*p]
			k := int(root)
			for range d {
				nd := &nodes[k]
				k = int(nd.left) + binStep(nd.thr, kr[nd.feat], 1)
			}
			dst[i] += vals[k]
		}
	}
}

// sumRow returns s plus the leaf values of one row with order keys kr,
// added tree by tree in order (as sumBlock adds them), walking four trees
// at a time (a walk past its leaf stays at the leaf, so the deepest of the
// four sets the steps).
func (e *treeEnsemble) sumRow(kr []int64, s float64) float64 {
	nodes, vals := e.nodes, e.vals
	t := 0
	for ; t+4 <= len(e.roots); t += 4 {
		k0, k1, k2, k3 := int(e.roots[t]), int(e.roots[t+1]), int(e.roots[t+2]), int(e.roots[t+3])
		d := max(e.depth[t], e.depth[t+1], e.depth[t+2], e.depth[t+3])
		for range d {
			n0, n1, n2, n3 := &nodes[k0], &nodes[k1], &nodes[k2], &nodes[k3]
			k0 = int(n0.left) + binStep(n0.thr, kr[n0.feat], 1)
			k1 = int(n1.left) + binStep(n1.thr, kr[n1.feat], 1)
			k2 = int(n2.left) + binStep(n2.thr, kr[n2.feat], 1)
			k3 = int(n3.left) + binStep(n3.thr, kr[n3.feat], 1)
		}
		s += vals[k0]
		s += vals[k1]
		s += vals[k2]
		s += vals[k3]
	}
	for ; t < len(e.roots); t++ {
		k := int(e.roots[t])
		for range e.depth[t] {
			nd := &nodes[k]
			k = int(nd.left) + binStep(nd.thr, kr[nd.feat], 1)
		}
		s += vals[k]
	}
	return s
}

// histBin accumulates one histogram bin: the sums of gradients G and
// hessians H and the number of rows N.
type histBin struct {
	G, H float64
	N    int
}

// treeSplit is a candidate split: rows with code ≤ Bin in column Feature
// go left.
type treeSplit struct {
	gain    float64
	feature int
	bin     int
	gl, hl  float64
	nl      int
}

// treeConfig holds the growth limits shared by boosted and forest trees.
type treeConfig struct {
	maxDepth  int // 0 means unlimited
	maxLeaves int // 0 means unlimited (grown depth first)
	minLeaf   int
	minHess   float64
	lambda    float64
	// leafScale turns the sums into a leaf value: scale·G/(H+λ).
	leafScale float64
	// mtry > 0 draws that many candidate features per node (no
	// histogram subtraction); 0 uses every feature of the tree.
	mtry     int
	parallel bool
}

// treeOpen is a leaf of the tree being grown.
type treeOpen struct {
	node   int
	lo, hi int
	depth  int
	hist   []histBin
	g, h   float64
	split  treeSplit
}

// treeGrower grows one tree on binned data. Its buffers are reused from
// tree to tree.
type treeGrower struct {
	bins  *Bins
	cfg   treeConfig
	feats []int // the features of the current tree
	rng   *rand.Rand

	rows []int32   // row indices, partitioned so every leaf is a range
	g, h []float32 // gradient and hessian of every row
	tmpR []int32

	pool  [][]histBin
	nodes []TreeNode
	bthr  []uint8 // bin threshold of each internal node
	open  []treeOpen
	leafs []treeOpen // finished leaves, with row ranges
	perm  []int
}

func newTreeGrower(bins *Bins, cfg treeConfig, rng *rand.Rand) *treeGrower {
	return &treeGrower{bins: bins, cfg: cfg, rng: rng}
}

func (tg *treeGrower) getHist() []histBin {
	if k := len(tg.pool); k > 0 {
		h := tg.pool[k-1]
		tg.pool = tg.pool[:k-1]
		return h
	}
	return make([]histBin, tg.bins.Cols*256)
}

func (tg *treeGrower) putHist(h []histBin) {
	if h != nil {
		tg.pool = append(tg.pool, h)
	}
}

// setRows loads the rows of the next tree and the per-row gradients g and
// hessians h (indexed by row, not by position in rows).
func (tg *treeGrower) setRows(rows []int32, g, h []float32) {
	m := len(rows)
	tg.rows = append(tg.rows[:0], rows...)
	tg.g, tg.h = g, h
	tg.tmpR = slices.Grow(tg.tmpR[:0], m)[:m]
}

// sums returns the totals of g and h over rows [lo, hi).
func (tg *treeGrower) sums(lo, hi int) (g, h float64) {
	for _, r := range tg.rows[lo:hi] {
		g += float64(tg.g[r])
		h += float64(tg.h[r])
	}
	return g, h
}

// histGroup is the most features one pass over a node's rows fills.
const histGroup = 6

// buildHist fills hist for the given features over rows [lo, hi).
//
// Every feature's sums are taken over the rows in the same order whatever
// the number of goroutines, so the result does not depend on GOMAXPROCS.
func (tg *treeGrower) buildHist(hist []histBin, feats []int, lo, hi int) {
	n := tg.bins.Rows
	m := hi - lo
	rows := tg.rows[lo:hi]
	// Rows stay in increasing order within a node, so reading the
	// gradients by row index walks memory forwards.
	og, oh := tg.g, tg.h
	col := func(f int) []uint8 { return tg.bins.Codes[f*n : f*n+n] }
	hf := func(f int) *[256]histBin { return (*[256]histBin)(hist[f*256 : f*256+256]) }
	group := func(fs []int) {
		for _, f := range fs {
			clear(hf(f)[:])
		}
		if f0 := fs[0]; fs[len(fs)-1]-f0 == len(fs)-1 {
			// Consecutive features (every feature of the tree, the usual
			// case): their histograms are one block of memory.
			hc := hist[f0*256 : (f0+len(fs))*256]
			switch len(fs) {
			case 6:
				histC6((*[6 * 256]histBin)(hc), col(f0), col(f0+1), col(f0+2), col(f0+3), col(f0+4), col(f0+5), rows, og, oh)
				return
			case 5:
				histC3((*[3 * 256]histBin)(hc[:3*256]), col(f0), col(f0+1), col(f0+2), rows, og, oh)
				histC2((*[2 * 256]histBin)(hc[3*256:]), col(f0+3), col(f0+4), rows, og, oh)
				return
			case 4:
				histC4((*[4 * 256]histBin)(hc), col(f0), col(f0+1), col(f0+2), col(f0+3), rows, og, oh)
				return
			case 3:
				histC3((*[3 * 256]histBin)(hc), col(f0), col(f0+1), col(f0+2), rows, og, oh)
				return
			case 2:
				histC2((*[2 * 256]histBin)(hc), col(f0), col(f0+1), rows, og, oh)
				return
			}
		}
		switch len(fs) {
		case 6:
			hist6(hf(fs[0]), hf(fs[1]), hf(fs[2]), hf(fs[3]), hf(fs[4]), hf(fs[5]),
				col(fs[0]), col(fs[1]), col(fs[2]), col(fs[3]), col(fs[4]), col(fs[5]), rows, og, oh)
		case 5:
			hist3(hf(fs[0]), hf(fs[1]), hf(fs[2]), col(fs[0]), col(fs[1]), col(fs[2]), rows, og, oh)
			hist2(hf(fs[3]), hf(fs[4]), col(fs[3]), col(fs[4]), rows, og, oh)
		case 4:
			hist4(hf(fs[0]), hf(fs[1]), hf(fs[2]), hf(fs[3]), col(fs[0]), col(fs[1]), col(fs[2]), col(fs[3]), rows, og, oh)
		case 3:
			hist3(hf(fs[0]), hf(fs[1]), hf(fs[2]), col(fs[0]), col(fs[1]), col(fs[2]), rows, og, oh)
		case 2:
			hist2(hf(fs[0]), hf(fs[1]), col(fs[0]), col(fs[1]), rows, og, oh)
		case 1:
			hist1(hf(fs[0]), col(fs[0]), rows, og, oh)
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if !tg.cfg.parallel || workers < 2 || m*len(feats) < 1<<15 || len(feats) < 2 {
		for k := 0; k < len(feats); k += histGroup {
			group(feats[k:min(len(feats), k+histGroup)])
		}
		return
	}
	// Split the features into a multiple of the worker count of groups.
	ng := workers * ((len(feats) + histGroup*workers - 1) / (histGroup * workers))
	ng = min(ng, len(feats))
	parallelFor(ng, 0, func(k int) {
		group(feats[k*len(feats)/ng : (k+1)*len(feats)/ng])
	})
}

// histC6 is hist6 for six consecutive features whose histograms are the
// consecutive blocks of 256 bins of h. One pointer to all six keeps the
// loop's values in registers, which makes it markedly faster than hist6.
func histC6(h *[6 * 256]histBin, c0, c1, c2, c3, c4, c5 []uint8, rows []int32, og, oh []float32) {
	for _, r := range rows {
		g, hh := float64(og[r]), float64(oh[r])
		b := &h[int(c0[r])]
		b.G += g
		b.H += hh
		b.N++
		b = &h[256+int(c1[r])]
		b.G += g
		b.H += hh
		b.N++
		b = &h[2*256+int(c2[r])]
		b.G += g
		b.H += hh
		b.N++
		b = &h[3*256+int(c3[r])]
		b.G += g
		b.H += hh
		b.N++
		b = &h[4*256+int(c4[r])]
		b.G += g
		b.H += hh
		b.N++
		b = &h[5*256+int(c5[r])]
		b.G += g
		b.H += hh
		b.N++
	}
}

// histC4 is histC6 for four consecutive features.
func histC4(h *[4 * 256]histBin, c0, c1, c2, c3 []uint8, rows []int32, og, oh []float32) {
	for _, r := range rows {
		g, hh := float64(og[r]), float64(oh[r])
		b := &h[int(c0[r])]
		b.G += g
		b.H += hh
		b.N++
		b = &h[256+int(c1[r])]
		b.G += g
		b.H += hh
		b.N++
		b = &h[2*256+int(c2[r])]
		b.G += g
		b.H += hh
		b.N++
		b = &h[3*256+int(c3[r])]
		b.G += g
		b.H += hh
		b.N++
	}
}

// histC3 is histC6 for three consecutive features.
func histC3(h *[3 * 256]histBin, c0, c1, c2 []uint8, rows []int32, og, oh []float32) {
	for _, r := range rows {
		g, hh := float64(og[r]), float64(oh[r])
		b := &h[int(c0[r])]
		b.G += g
		b.H += hh
		b.N++
		b = &h[256+int(c1[r])]
		b.G += g
		b.H += hh
		b.N++
		b = &h[2*256+int(c2[r])]
		b.G += g
		b.H += hh
		b.N++
	}
}

// histC2 is histC6 for two consecutive features.
func histC2(h *[2 * 256]histBin, c0, c1 []uint8, rows []int32, og, oh []float32) {
	for _, r := range rows {
		g, hh := float64(og[r]), float64(oh[r])
		b := &h[int(c0[r])]
		b.G += g
		b.H += hh
		b.N++
		b = &h[256+int(c1[r])]
		b.G += g
		b.H += hh
		b.N++
	}
}

// hist1 adds the rows to the histogram of one feature with codes c; og and
// oh are the gradients and hessians indexed by row.
func hist1(h *[256]histBin, c []uint8, rows []int32, og, oh []float32) {
	for _, r := range rows {
		b := &h[c[r]]
		b.G += float64(og[r])
		b.H += float64(oh[r])
		b.N++
	}
}

// hist2 is hist1 for two features in one pass.
func hist2(h0, h1 *[256]histBin, c0, c1 []uint8, rows []int32, og, oh []float32) {
	for _, r := range rows {
		g, h := float64(og[r]), float64(oh[r])
		b := &h0[c0[r]]
		b.G += g
		b.H += h
		b.N++
		b = &h1[c1[r]]
		b.G += g
		b.H += h
		b.N++
	}
}

// hist3 is hist1 for three features in one pass.
func hist3(h0, h1, h2 *[256]histBin, c0, c1, c2 []uint8, rows []int32, og, oh []float32) {
	for _, r := range rows {
		g, h := float64(og[r]), float64(oh[r])
		b := &h0[c0[r]]
		b.G += g
		b.H += h
		b.N++
		b = &h1[c1[r]]
		b.G += g
		b.H += h
		b.N++
		b = &h2[c2[r]]
		b.G += g
		b.H += h
		b.N++
	}
}

// hist6 is hist1 for six features in one pass.
func hist6(h0, h1, h2, h3, h4, h5 *[256]histBin, c0, c1, c2, c3, c4, c5 []uint8, rows []int32, og, oh []float32) {
	for _, r := range rows {
		g, h := float64(og[r]), float64(oh[r])
		b := &h0[c0[r]]
		b.G += g
		b.H += h
		b.N++
		b = &h1[c1[r]]
		b.G += g
		b.H += h
		b.N++
		b = &h2[c2[r]]
		b.G += g
		b.H += h
		b.N++
		b = &h3[c3[r]]
		b.G += g
		b.H += h
		b.N++
		b = &h4[c4[r]]
		b.G += g
		b.H += h
		b.N++
		b = &h5[c5[r]]
		b.G += g
		b.H += h
		b.N++
	}
}

// hist4 is hist1 for four features in one pass.
func hist4(h0, h1, h2, h3 *[256]histBin, c0, c1, c2, c3 []uint8, rows []int32, og, oh []float32) {
	for _, r := range rows {
		g, h := float64(og[r]), float64(oh[r])
		b := &h0[c0[r]]
		b.G += g
		b.H += h
		b.N++
		b = &h1[c1[r]]
		b.G += g
		b.H += h
		b.N++
		b = &h2[c2[r]]
		b.G += g
		b.H += h
		b.N++
		b = &h3[c3[r]]
		b.G += g
		b.H += h
		b.N++
	}
}

// bestSplit returns the best split of a node with totals g, h over m rows
// among feats, using hist. A gain ≤ 0 means no valid split.
func (tg *treeGrower) bestSplit(hist []histBin, feats []int, g, h float64, m int) treeSplit {
	best := treeSplit{feature: -1}
	cfg := &tg.cfg
	lam := cfg.lambda
	parent := g * g / (h + lam)
	for _, f := range feats {
		nb := tg.bins.NumBins(f)
		hf := hist[f*256 : f*256+nb]
		var gl, hl float64
		nl := 0
		for b := 0; b < nb-1; b++ {
			gl += hf[b].G
			hl += hf[b].H
			nl += hf[b].N
			if nl < cfg.minLeaf || hl < cfg.minHess || hf[b].N == 0 {
				continue
			}
			nr := m - nl
			if nr < cfg.minLeaf {
				break
			}
			hr := h - hl
			if hr < cfg.minHess {
				break
			}
			gr := g - gl
			gain := gl*gl/(hl+lam) + gr*gr/(hr+lam) - parent
			if gain > best.gain {
				best = treeSplit{gain: gain, feature: f, bin: b, gl: gl, hl: hl, nl: nl}
			}
		}
	}
	// Guard against splits that only win by rounding.
	if best.gain <= 1e-12*math.Max(math.Abs(parent), 1e-300) {
		best.feature = -1
		best.gain = 0
	}
	return best
}

// nodeFeats returns the candidate features of a node.
func (tg *treeGrower) nodeFeats() []int {
	if tg.cfg.mtry <= 0 || tg.cfg.mtry >= len(tg.feats) {
		return tg.feats
	}
	tg.perm = append(tg.perm[:0], tg.feats...)
	for k := 0; k < tg.cfg.mtry; k++ {
		j := k + tg.rng.IntN(len(tg.perm)-k)
		tg.perm[k], tg.perm[j] = tg.perm[j], tg.perm[k]
	}
	return tg.perm[:tg.cfg.mtry]
}

// canSplit reports whether a leaf may be split further.
func (tg *treeGrower) canSplit(o *treeOpen) bool {
	return o.hi-o.lo >= 2*tg.cfg.minLeaf && (tg.cfg.maxDepth <= 0 || o.depth < tg.cfg.maxDepth)
}

// evalOpen finds the split of o. With subtraction (mtry == 0) it keeps
// o.hist for the children; otherwise it releases it.
func (tg *treeGrower) evalOpen(o *treeOpen) {
	o.split = treeSplit{feature: -1}
	if !tg.canSplit(o) {
		tg.putHist(o.hist)
		o.hist = nil
		return
	}
	feats := tg.feats
	if tg.cfg.mtry > 0 {
		feats = tg.nodeFeats()
		if o.hist == nil {
			o.hist = tg.getHist()
			tg.buildHist(o.hist, feats, o.lo, o.hi)
		}
	}
	o.split = tg.bestSplit(o.hist, feats, o.g, o.h, o.hi-o.lo)
	if tg.cfg.mtry > 0 || o.split.feature < 0 {
		tg.putHist(o.hist)
		o.hist = nil
	}
}

// partition reorders rows [lo, hi) so rows with code ≤ bin in column f come
// first, keeping the order within each side, and returns the split point.
func (tg *treeGrower) partition(lo, hi, f, bin int) int {
	n := tg.bins.Rows
	rows := tg.rows[lo:hi]
	tmp := tg.tmpR[:len(rows)]
	l := partitionRows(rows, tmp, tg.bins.Codes[f*n:f*n+n], bin)
	copy(rows[l:], tmp[:len(rows)-l])
	return lo + l
}

// partitionRows moves the rows whose code in col is ≤ bin to the front of
// rows and the others to the front of tmp, both in their original order,
// and returns the number moved to the front of rows.
func partitionRows(rows, tmp []int32, col []uint8, bin int) int {
	b := uint64(bin)
	l, r := 0, 0
	for _, row := range rows {
		// left is 1 when col[row] ≤ bin, computed without a branch.
		left := int((uint64(col[row]) - b - 1) >> 63)
		rows[l] = row
		tmp[r] = row
		l += left
		r += 1 - left
	}
	return l
}

// leafValue returns the value of a leaf with sums g and h.
func (tg *treeGrower) leafValue(g, h float64) float64 {
	if h+tg.cfg.lambda <= 0 {
		return 0
	}
	return tg.cfg.leafScale * g / (h + tg.cfg.lambda)
}

// grow grows a tree on the rows loaded by setRows using the features feats.
// Afterwards tg.nodes holds the tree (thresholds as raw values), tg.bthr the
// bin thresholds, and tg.leafs the leaves with their row ranges.
func (tg *treeGrower) grow(feats []int) {
	tg.feats = feats
	tg.nodes = tg.nodes[:0]
	tg.bthr = tg.bthr[:0]
	tg.open = tg.open[:0]
	tg.leafs = tg.leafs[:0]

	g, h := tg.sums(0, len(tg.rows))
	tg.nodes = append(tg.nodes, TreeNode{Feature: -1})
	tg.bthr = append(tg.bthr, 0)
	root := treeOpen{node: 0, lo: 0, hi: len(tg.rows), g: g, h: h}
	if tg.cfg.mtry == 0 && tg.canSplit(&root) {
		root.hist = tg.getHist()
		tg.buildHist(root.hist, feats, root.lo, root.hi)
	}
	tg.evalOpen(&root)
	tg.open = append(tg.open, root)
	leaves := 1

	for len(tg.open) > 0 {
		// Pick the open leaf to split: the best gain when the number of
		// leaves is limited, else the most recent (depth first).
		pick := len(tg.open) - 1
		if tg.cfg.maxLeaves > 0 {
			for k := range tg.open {
				if tg.open[k].split.gain > tg.open[pick].split.gain {
					pick = k
				}
			}
		}
		o := tg.open[pick]
		if o.split.feature < 0 || (tg.cfg.maxLeaves > 0 && leaves >= tg.cfg.maxLeaves) {
			if tg.cfg.maxLeaves > 0 {
				// No leaf can improve: finish them all.
				for k := range tg.open {
					tg.finish(&tg.open[k])
				}
				tg.open = tg.open[:0]
				break
			}
			tg.finish(&o)
			tg.open = tg.open[:pick]
			continue
		}
		tg.open[pick] = tg.open[len(tg.open)-1]
		tg.open = tg.open[:len(tg.open)-1]

		s := o.split
		mid := tg.partition(o.lo, o.hi, s.feature, s.bin)
		li := len(tg.nodes)
		tg.nodes[o.node] = TreeNode{Feature: int32(s.feature), Left: int32(li), Value: tg.bins.Edges[s.feature][s.bin]}
		tg.bthr[o.node] = uint8(s.bin)
		tg.nodes = append(tg.nodes, TreeNode{Feature: -1}, TreeNode{Feature: -1})
		tg.bthr = append(tg.bthr, 0, 0)
		left := treeOpen{node: li, lo: o.lo, hi: mid, depth: o.depth + 1, g: s.gl, h: s.hl}
		right := treeOpen{node: li + 1, lo: mid, hi: o.hi, depth: o.depth + 1, g: o.g - s.gl, h: o.h - s.hl}
		leaves++

		if tg.cfg.mtry == 0 {
			// Build the smaller child; the larger is parent − smaller.
			small, large := &left, &right
			if right.hi-right.lo < left.hi-left.lo {
				small, large = &right, &left
			}
			if tg.canSplit(small) || tg.canSplit(large) {
				small.hist = tg.getHist()
				tg.buildHist(small.hist, feats, small.lo, small.hi)
				large.hist = o.hist
				for _, f := range feats {
					ph := large.hist[f*256 : f*256+256]
					sh := small.hist[f*256 : f*256+256]
					for b := range ph {
						ph[b].G -= sh[b].G
						ph[b].H -= sh[b].H
						ph[b].N -= sh[b].N
					}
				}
			} else {
				tg.putHist(o.hist)
			}
		}
		tg.evalOpen(&left)
		tg.evalOpen(&right)
		tg.open = append(tg.open, right, left)
	}
}

// finish turns an open leaf into a final leaf.
func (tg *treeGrower) finish(o *treeOpen) {
	tg.putHist(o.hist)
	o.hist = nil
	tg.nodes[o.node].Value = tg.leafValue(o.g, o.h)
	tg.leafs = append(tg.leafs, *o)
}

// treeLeafBinned returns the leaf value of row i of bins in a tree grown by
// treeGrower, using bin thresholds.
func treeLeafBinned(t []TreeNode, bthr []uint8, codes []uint8, rows, i int) float64 {
	k := 0
	for {
		n := &t[k]
		if n.Feature < 0 {
			return n.Value
		}
		next := int(n.Left)
		if codes[int(n.Feature)*rows+i] > bthr[k] {
			next++
		}
		k = next
	}
}

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
	for iter := 0; iter < cfg.MaxIter; iter++ {
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
