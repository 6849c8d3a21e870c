package causal

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
)

// This file holds the histogram tree grower of GBT and Forest: per-node
// histograms of gradients and hessians over binned features (the hist*
// kernels), the best-gain split search, the partition of rows and the
// best-first growth of one tree.

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
