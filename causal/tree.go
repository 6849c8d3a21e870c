package causal

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"gonum.org/v1/gonum/mat"
)

// This file holds the decision trees shared by GBT, Forest and the
// causal forest's nuisance models: the flat node slice a fitted tree is
// saved as, and the compiled ensemble that predicts with many trees at
// once.

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
