package causal

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/causalrec/causalrec/causal/jsonobj"
)

// CausalTree is one tree of a fitted causal forest in the form prediction
// reads: the inner nodes, and per leaf the means of w̃, ỹ, w̃ỹ and w̃² over
// its estimation units, the only statistics the moment equation needs. A
// row walks from the root; where a child got no estimation units the walk
// ends at its parent (grf's pruning of empty honest leaves), which the
// compact form encodes as a leaf holding the parent's means.
type CausalTree struct {
	// split holds the inner nodes in preorder (children after their
	// parent); the root is split[0], or leaves[0] when split is empty.
	split []cfSplit
	// leaves holds the leaf means; a leaf with NaN means had no
	// estimation units (only possible at the root).
	leaves []cfLeaf
	// scale[c] is the largest |mean| of component c over the leaves: a
	// leaf's means are stored as half-precision multiples of it (see
	// quantize).
	scale [4]float32
}

// cfSplit is an inner node: a row goes left when x[feature] ≤ threshold
// (NaN goes right). A child c ≥ 0 is split[c], c < 0 is leaves[^c]. rank
// is the threshold's index in its model's sorted distinct thresholds of
// the feature (CausalForestModel.thresholds), which prediction compares
// instead (see cfRank); it fills what would be padding.
type cfSplit struct {
	threshold float64
	feature   int32
	child     [2]int32 // left, right
	rank      uint32
}

// cfLeaf holds the means of w̃, ỹ, w̃ỹ and w̃² over a leaf's estimation
// units, each rounded to 11 significant bits relative to the largest of
// its kind in the tree (see quantize): what matters is their average over
// hundreds of trees, whose rounding errors are independent, and it makes a
// leaf 8 bytes in the saved model.
type cfLeaf [4]float32

func (l *cfLeaf) empty() bool { return math.IsNaN(float64(l[0])) }

// leafMeans returns the leaf of a grown node.
func leafMeans(nd *CausalNode) cfLeaf {
	if nd.N <= 0 {
		nan := float32(math.NaN())
		return cfLeaf{nan, nan, nan, nan}
	}
	return cfLeaf{float32(nd.W / nd.N), float32(nd.Y / nd.N), float32(nd.WY / nd.N), float32(nd.WW / nd.N)}
}

// compactTree converts grown nodes (preorder, children after their parent)
// to a CausalTree. An inner node both of whose children are empty becomes
// a leaf; an empty child becomes a leaf with its parent's means.
func compactTree(nodes []CausalNode) CausalTree {
	var t CausalTree
	type item struct {
		node, parent int32 // parent: index into t.split, -1 for the root
		right, copy  bool  // copy: a leaf with the means of node
	}
	stack := []item{{node: 0, parent: -1}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		nd := &nodes[it.node]
		var code int32
		if it.copy || nd.N <= 0 || nd.Left < 0 || (nodes[nd.Left].N <= 0 && nodes[nd.Right].N <= 0) {
			code = ^int32(len(t.leaves))
			t.leaves = append(t.leaves, leafMeans(nd))
		} else {
			code = int32(len(t.split))
			t.split = append(t.split, cfSplit{threshold: nd.Threshold, feature: int32(nd.Feature)})
			// Right first, so the left subtree comes next in preorder.
			for _, c := range []struct {
				child int32
				right bool
			}{{nd.Right, true}, {nd.Left, false}} {
				if nodes[c.child].N > 0 {
					stack = append(stack, item{node: c.child, parent: code, right: c.right})
				} else {
					stack = append(stack, item{node: it.node, parent: code, right: c.right, copy: true})
				}
			}
		}
		switch {
		case it.parent < 0:
		case it.right:
			t.split[it.parent].child[1] = code
		default:
			t.split[it.parent].child[0] = code
		}
	}
	t.split = slices.Clip(t.split)
	t.leaves = slices.Clip(t.leaves)
	t.quantize()
	return t
}

// quantize sets t.scale to the largest |mean| of each component over the
// leaves (1 when all are 0) and rounds every mean v to
// fromHalf(toHalf(v/scale))·scale, the value the saved model restores
// exactly: an error of at most 2⁻¹¹ of v, or 2⁻²⁵ of the scale for the
// tiny ones.
func (t *CausalTree) quantize() {
	for c := range t.scale {
		var m float32
		for i := range t.leaves {
			if v := float32(math.Abs(float64(t.leaves[i][c]))); v > m { // NaN is not
				m = v
			}
		}
		if m == 0 || math.IsInf(float64(m), 0) {
			m = 1
		}
		t.scale[c] = m
		for i := range t.leaves {
			t.leaves[i][c] = fromHalf(toHalf(t.leaves[i][c]/m)) * m
		}
	}
}

// leaf returns the leaf that row x reaches.
func (t *CausalTree) leaf(x []float64) *cfLeaf {
	c := int32(-1)
	if len(t.split) > 0 {
		c = 0
	}
	for c >= 0 {
		s := &t.split[c]
		c = s.child[cfRight(x[s.feature], s.threshold)]
	}
	return &t.leaves[^c]
}

// cfBin is the type of a row's binned values: the smallest unsigned type
// that holds the ranks of the model's largest threshold table.
type cfBin interface{ ~uint8 | ~uint16 | ~uint32 }

// cfRank returns the bin of value v among the sorted distinct thresholds
// th: the number of thresholds below v, len(th) for NaN. For the
// threshold th[j], v ≤ th[j] exactly when cfRank(v) ≤ j, so a split on
// th[j] sends a row left when its bin is at most j, NaN included (it goes
// right, as with the thresholds themselves).
func cfRank(th []float64, v float64) int {
	if v != v {
		// slices.BinarySearch orders NaN first.
		return len(th)
	}
	i, _ := slices.BinarySearch(th, v)
	return i
}

// cfBinRows writes the bins of the n rows of x (p columns, a stride
// apart) into dst: row-major n×p (dst[r·p+j]), or, byColumn, column by
// column (dst[j·n+r]), so that a split reads its feature's bins from n
// consecutive values.
func cfBinRows[E cfBin](dst []E, thresholds [][]float64, x []float64, stride, n, p int, byColumn bool) {
	rowStep, colStep := p, 1
	if byColumn {
		rowStep, colStep = 1, n
	}
	for r := range n {
		row := x[r*stride : r*stride+p]
		for j, v := range row {
			dst[r*rowStep+j*colStep] = E(cfRank(thresholds[j], v))
		}
	}
}

// cfWalk4 walks four binned rows down the tree together, so that their
// memory loads overlap, and returns the complements (^index) of the
// leaves they reach.
func cfWalk4[E cfBin](sp []cfSplit, x0, x1, x2, x3 []E) (c0, c1, c2, c3 int32) {
	for c0&c1&c2&c3 >= 0 {
		if c0 >= 0 {
			s := &sp[c0]
			c0 = s.child[cfAbove(uint32(x0[s.feature]), s.rank)]
		}
		if c1 >= 0 {
			s := &sp[c1]
			c1 = s.child[cfAbove(uint32(x1[s.feature]), s.rank)]
		}
		if c2 >= 0 {
			s := &sp[c2]
			c2 = s.child[cfAbove(uint32(x2[s.feature]), s.rank)]
		}
		if c3 >= 0 {
			s := &sp[c3]
			c3 = s.child[cfAbove(uint32(x3[s.feature]), s.rank)]
		}
	}
	return c0, c1, c2, c3
}

// cfWalk returns the complement of the leaf the binned row x reaches in a
// tree with at least one split.
func cfWalk[E cfBin](sp []cfSplit, x []E) int32 {
	c := int32(0)
	for c >= 0 {
		s := &sp[c]
		c = s.child[cfAbove(uint32(x[s.feature]), s.rank)]
	}
	return c
}

// cfSortFrom returns the fewest rows of a block that cfSorter sorts
// through m's trees: the mean number of leaves of a tree. Fewer walk
// down from the root, four at a time: with fewer rows than leaves the
// sorting touches about as many nodes as the walks do, one after the
// other, where four walks keep four of their loads (often misses of the
// caches) in flight. The two took equally long at about 128 rows for 200
// trees of about 80 leaves and at 500 to 1000 rows for the 2000 trees of
// about 800 leaves of a default forest on Hillstrom.
func cfSortFrom(m *CausalForestModel) int {
	var leaves, trees int
	for _, f := range m.Forests {
		for b := range f {
			leaves += len(f[b].leaves)
		}
		trees += len(f)
	}
	if trees == 0 {
		return 0
	}
	return leaves / trees
}

// cfSorter sorts a block of binned rows into the leaves of one tree after
// another. Rather than walking each row from the root (a chain of
// dependent loads per row and level), it partitions the block's row
// indexes at every split the rows reach, in preorder, so that every step
// is a pass over consecutive indexes and every node is read once per
// block: the rows reaching a split on feature j at rank k are divided
// into those whose bin is at most k (left) and the others.
// Partitions alternate between two buffers by depth; a node's rows are
// a range of the buffer of its depth's parity, which its descendants'
// ranges subdivide, so neither buffer needs more than the block's n
// indexes. Blocks of fewer than sortFrom rows (see cfSortFrom) walk
// instead.
type cfSorter[E cfBin] struct {
	bins     []E // the block's bins: column-major (see cfBinRows) when sorted, row-major when walked
	n, p     int
	sortFrom int
	bufs     [2][]int32
	stack    []cfRange
}

// cfRange is the rows of node (a split, or ^leaf) during a sort: the range
// [lo, hi) of the buffer of its depth's parity.
type cfRange struct {
	node, lo, hi, depth int32
}

func newCFSorter[E cfBin](rows, p, sortFrom int) *cfSorter[E] {
	return &cfSorter[E]{
		bins:     make([]E, rows*p),
		sortFrom: sortFrom,
		bufs:     [2][]int32{make([]int32, rows), make([]int32, rows)},
	}
}

// bin bins the n rows of x (p columns, a stride apart) as the block.
func (s *cfSorter[E]) bin(thresholds [][]float64, x []float64, stride, n, p int) {
	s.n, s.p = n, p
	cfBinRows(s.bins[:n*p], thresholds, x, stride, n, p, n >= s.sortFrom)
}

// index writes to out[r] the index of the leaf of t that row r of the
// block reaches.
func (s *cfSorter[E]) index(t *CausalTree, out []int32) {
	n := s.n
	sp := t.split
	if len(sp) == 0 {
		clear(out[:n])
		return
	}
	if n < s.sortFrom {
		x, p := s.bins, s.p
		r := 0
		for ; r+4 <= n; r += 4 {
			c0, c1, c2, c3 := cfWalk4(sp, x[r*p:], x[(r+1)*p:], x[(r+2)*p:], x[(r+3)*p:])
			out[r], out[r+1], out[r+2], out[r+3] = ^c0, ^c1, ^c2, ^c3
		}
		for ; r < n; r++ {
			out[r] = ^cfWalk(sp, x[r*p:])
		}
		return
	}
	first := s.bufs[0][:n]
	for r := range first {
		first[r] = int32(r)
	}
	stack := append(s.stack[:0], cfRange{0, 0, int32(n), 0})
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		src := s.bufs[f.depth&1][f.lo:f.hi]
		if f.node < 0 {
			for _, r := range src {
				out[r] = ^f.node
			}
			continue
		}
		nd := &sp[f.node]
		col := s.bins[int(nd.feature)*n : int(nd.feature+1)*n]
		rank := nd.rank
		// Left rows fill dst from the front, right rows from the back;
		// both slots are written so that the loop has no branch on the
		// bins, which rows of real data would mispredict half the time.
		dst := s.bufs[(f.depth+1)&1][f.lo:f.hi]
		left, right := 0, len(dst)-1
		for _, r := range src {
			a := cfAbove(uint32(col[r]), rank)
			dst[left] = r
			dst[right] = r
			left += 1 - a
			right -= a
		}
		// Left is taken first: the left subtree follows its parent in
		// t.split, so the nodes are read in the order they are stored.
		mid := f.lo + int32(left)
		if mid < f.hi {
			stack = append(stack, cfRange{nd.child[1], mid, f.hi, f.depth + 1})
		}
		if mid > f.lo {
			stack = append(stack, cfRange{nd.child[0], f.lo, mid, f.depth + 1})
		}
	}
	s.stack = stack
}

// cfAbove returns 1 when bin > rank (the row goes right) and 0 otherwise;
// the compiler makes it a flag set, not a branch, which rows of real data
// would mispredict half the time.
func cfAbove(bin, rank uint32) int {
	r := 0
	if bin > rank {
		r = 1
	}
	return r
}

// rankSplits sets m.thresholds to every feature's sorted distinct split
// thresholds and every split's rank in them.
func (m *CausalForestModel) rankSplits() {
	th := make([][]float64, m.Features)
	distinct := make([]int, m.Features) // th[j][:distinct[j]] is sorted and distinct
	for _, trees := range m.Forests {
		for b := range trees {
			for _, s := range trees[b].split {
				f := s.feature
				th[f] = append(th[f], s.threshold)
				// Trees split on the same few thresholds (the bins'):
				// compacting now and then keeps the lists short.
				if len(th[f]) >= 2*distinct[f]+1024 {
					slices.Sort(th[f])
					th[f] = slices.Compact(th[f])
					distinct[f] = len(th[f])
				}
			}
		}
	}
	for j := range th {
		slices.Sort(th[j])
		th[j] = slices.Clip(slices.Compact(th[j]))
		if th[j] == nil {
			th[j] = []float64{}
		}
	}
	for _, trees := range m.Forests {
		for b := range trees {
			sp := trees[b].split
			for i := range sp {
				r, _ := slices.BinarySearch(th[sp[i].feature], sp[i].threshold)
				sp[i].rank = uint32(r)
			}
		}
	}
	m.thresholds = th
}

// cfRight returns 1 when a row with value v goes right at a split on
// threshold (v > threshold, or v is NaN) and 0 when it goes left; the
// compiler makes it a flag set, not a branch, which rows of real data
// would mispredict half the time.
func cfRight(v, threshold float64) int {
	r := 0
	if !(v <= threshold) {
		r = 1
	}
	return r
}

// Size returns the numbers of inner nodes and leaves of the tree.
func (t *CausalTree) Size() (inner, leaves int) { return len(t.split), len(t.leaves) }

// cfEncoding is the version of the compact encoding of a causal forest.
// Models saved before it (encoding 0: every node with its sums, as JSON;
// encoding 2: leaves in single precision) are still read and converted.
const cfEncoding = 3

// cfJSON is the saved form of a CausalForestModel. Thresholds[j] lists the
// distinct split thresholds on feature j; Forests[k] is arm k+1's trees in
// binary (see appendTree), base64 in the JSON.
type cfJSON struct {
	Encoding   int         `json:"encoding"`
	Arms       int         `json:"arms"`
	Features   int         `json:"features"`
	GroupSize  int         `json:"group_size"`
	Thresholds [][]float64 `json:"thresholds"`
	Forests    [][]byte    `json:"forests"`
}

// MarshalJSON implements json.Marshaler with the compact encoding: per
// arm, the number of trees, then per tree its numbers of inner nodes and
// leaves, its four scales (little-endian float32) and its nodes in
// preorder, an inner node as uvarint(feature+1), uvarint(index of its
// threshold in Thresholds[feature]) followed by its left and right
// subtrees, a leaf as a 0 byte and its four means as little-endian
// binary16 multiples of the scales. About 3 bytes per inner node and 9 per
// leaf.
func (m *CausalForestModel) MarshalJSON() ([]byte, error) {
	out := cfJSON{Encoding: cfEncoding, Arms: m.Arms, Features: m.Features, GroupSize: m.GroupSize,
		Thresholds: make([][]float64, m.Features), Forests: make([][]byte, len(m.Forests))}
	for _, trees := range m.Forests {
		for b := range trees {
			for _, s := range trees[b].split {
				if s.feature < 0 || int(s.feature) >= m.Features {
					return nil, fmt.Errorf("causal forest: split on feature %d of %d", s.feature, m.Features)
				}
			}
		}
	}
	if m.thresholds == nil {
		m = m.ranked()
	}
	// The tables are the ranked ones, and a split's rank its index.
	out.Thresholds = m.thresholds
	for k, trees := range m.Forests {
		b := binary.AppendUvarint(nil, uint64(len(trees)))
		for i := range trees {
			b = appendTree(b, &trees[i])
		}
		out.Forests[k] = b
	}
	return json.Marshal(out)
}

// appendTree appends the binary form of t (see MarshalJSON).
func appendTree(b []byte, t *CausalTree) []byte {
	b = binary.AppendUvarint(b, uint64(len(t.split)))
	b = binary.AppendUvarint(b, uint64(len(t.leaves)))
	for _, v := range t.scale {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	root := int32(-1)
	if len(t.split) > 0 {
		root = 0
	}
	stack := []int32{root}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if c < 0 {
			b = append(b, 0)
			for k, v := range t.leaves[^c] {
				b = binary.LittleEndian.AppendUint16(b, toHalf(v/t.scale[k]))
			}
			continue
		}
		s := &t.split[c]
		b = binary.AppendUvarint(b, uint64(s.feature)+1)
		b = binary.AppendUvarint(b, uint64(s.rank))
		stack = append(stack, s.child[1], s.child[0])
	}
	return b
}

// readTree decodes one tree from b and returns the bytes after it. It
// checks every index, so corrupt bytes give an error, never a panic or a
// walk that does not end.
func readTree(b []byte, thresholds [][]float64, encoding int) (CausalTree, []byte, error) {
	var t CausalTree
	ns, k := binary.Uvarint(b)
	if k <= 0 {
		return t, nil, fmt.Errorf("truncated tree")
	}
	b = b[k:]
	nl, k := binary.Uvarint(b)
	if k <= 0 {
		return t, nil, fmt.Errorf("truncated tree")
	}
	b = b[k:]
	leafBytes := 8 // binary16 means
	if encoding == 2 {
		leafBytes = 16 // float32 means, no scales
	} else {
		if len(b) < 16 {
			return t, nil, fmt.Errorf("truncated tree")
		}
		for c := range t.scale {
			t.scale[c] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*c:]))
			if !(t.scale[c] > 0) || math.IsInf(float64(t.scale[c]), 0) {
				return t, nil, fmt.Errorf("tree scale %v", t.scale[c])
			}
		}
		b = b[16:]
	}
	// Every inner node takes at least 2 bytes and every leaf 1 +
	// leafBytes, and a binary tree has one leaf more than it has inner
	// nodes.
	if nl != ns+1 || ns > uint64(len(b))/2 || nl > uint64(len(b))/uint64(1+leafBytes) {
		return t, nil, fmt.Errorf("tree of %d inner nodes and %d leaves in %d bytes", ns, nl, len(b))
	}
	t.split = make([]cfSplit, 0, ns)
	t.leaves = make([]cfLeaf, 0, nl)
	type slot struct {
		parent int32
		right  bool
	}
	stack := []slot{{parent: -1}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		tag, k := binary.Uvarint(b)
		if k <= 0 {
			return t, nil, fmt.Errorf("truncated tree")
		}
		b = b[k:]
		var code int32
		if tag == 0 {
			if len(b) < leafBytes || len(t.leaves) == cap(t.leaves) {
				return t, nil, fmt.Errorf("leaf %d of a tree of %d leaves in %d bytes", len(t.leaves), nl, len(b))
			}
			var l cfLeaf
			for j := range l {
				if encoding == 2 {
					l[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
				} else {
					l[j] = fromHalf(binary.LittleEndian.Uint16(b[2*j:])) * t.scale[j]
				}
			}
			b = b[leafBytes:]
			code = ^int32(len(t.leaves))
			t.leaves = append(t.leaves, l)
		} else {
			f := tag - 1
			if f >= uint64(len(thresholds)) || len(t.split) == cap(t.split) {
				return t, nil, fmt.Errorf("inner node %d splits on feature %d of %d", len(t.split), f, len(thresholds))
			}
			ti, k := binary.Uvarint(b)
			if k <= 0 || ti >= uint64(len(thresholds[f])) {
				return t, nil, fmt.Errorf("inner node %d: bad threshold index", len(t.split))
			}
			b = b[k:]
			code = int32(len(t.split))
			t.split = append(t.split, cfSplit{threshold: thresholds[f][ti], feature: int32(f), rank: uint32(ti)})
			stack = append(stack, slot{code, true}, slot{code, false})
		}
		switch {
		case it.parent < 0:
		case it.right:
			t.split[it.parent].child[1] = code
		default:
			t.split[it.parent].child[0] = code
		}
	}
	if len(t.split) != int(ns) || len(t.leaves) != int(nl) {
		return t, nil, fmt.Errorf("tree declares %d inner nodes and %d leaves, holds %d and %d", ns, nl, len(t.split), len(t.leaves))
	}
	if encoding == 2 {
		t.quantize()
	}
	return t, b, nil
}

// UnmarshalJSON implements json.Unmarshaler. It reads the compact encoding
// and the earlier one (every node with its sums), which it converts, and
// checks that every tree is well formed.
func (m *CausalForestModel) UnmarshalJSON(b []byte) error {
	in, ok := cfDecodeBulk(b)
	if !ok {
		var probe struct {
			Encoding int `json:"encoding"`
		}
		if err := json.Unmarshal(b, &probe); err != nil {
			return err
		}
		switch probe.Encoding {
		case 0:
			return m.unmarshalNodes(b)
		case 2, cfEncoding:
		default:
			return fmt.Errorf("causal forest encoding %d, this build reads %d, 2 and 0", probe.Encoding, cfEncoding)
		}
		if err := json.Unmarshal(b, &in); err != nil {
			return err
		}
	}
	if in.Arms < 1 || in.Features < 1 || in.GroupSize < 1 || len(in.Forests) != in.Arms || len(in.Thresholds) != in.Features {
		return fmt.Errorf("causal forest with %d arms, %d features, group size %d, %d forests, %d threshold lists",
			in.Arms, in.Features, in.GroupSize, len(in.Forests), len(in.Thresholds))
	}
	*m = CausalForestModel{Arms: in.Arms, Features: in.Features, GroupSize: in.GroupSize, Forests: make([][]CausalTree, in.Arms)}
	for k, raw := range in.Forests {
		nt, n := binary.Uvarint(raw)
		if n <= 0 || nt == 0 || nt > uint64(len(raw))/11 {
			return fmt.Errorf("causal forest arm %d: bad tree count", k+1)
		}
		raw = raw[n:]
		trees := make([]CausalTree, nt)
		for i := range trees {
			var err error
			if trees[i], raw, err = readTree(raw, in.Thresholds, in.Encoding); err != nil {
				return fmt.Errorf("causal forest arm %d tree %d: %w", k+1, i, err)
			}
		}
		if len(raw) != 0 {
			return fmt.Errorf("causal forest arm %d: %d bytes after the last tree", k+1, len(raw))
		}
		m.Forests[k] = trees
	}
	// The saved thresholds are each feature's sorted distinct ones, and
	// readTree took their indices as the ranks; a table written otherwise
	// is ranked again.
	m.thresholds = in.Thresholds
	for _, th := range in.Thresholds {
		for i := 1; i < len(th); i++ {
			if !(th[i-1] < th[i]) {
				m.rankSplits()
				return nil
			}
		}
	}
	return nil
}

// cfDecodeBulk decodes the JSON of the compact encodings (2 and 3) with
// the forests' base64 strings, nearly all of its bytes, taken out by
// jsonobj and decoded directly. It returns false for anything else (the
// encoding before, a string with escapes, corrupt bytes), which
// encoding/json then decodes or rejects.
func cfDecodeBulk(b []byte) (cfJSON, bool) {
	forests, rest, ok := jsonobj.Split(b, "forests")
	if !ok {
		return cfJSON{}, false
	}
	var in cfJSON
	if json.Unmarshal(rest, &in) != nil || (in.Encoding != 2 && in.Encoding != cfEncoding) {
		return cfJSON{}, false
	}
	strs, ok := jsonobj.Strings(forests)
	if !ok {
		return cfJSON{}, false
	}
	in.Forests = make([][]byte, len(strs))
	for k, s := range strs {
		buf := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
		n, err := base64.StdEncoding.Decode(buf, s)
		// Decode skips line breaks, which a JSON string cannot hold.
		if err != nil || base64.StdEncoding.EncodedLen(n) != len(s) {
			return cfJSON{}, false
		}
		in.Forests[k] = buf[:n]
	}
	return in, true
}

// unmarshalNodes reads the encoding before the compact one:
// {"Arms", "Features", "GroupSize", "Forests": [[{"Nodes": [...]}]]}, every
// node with its split, children and sums.
func (m *CausalForestModel) unmarshalNodes(b []byte) error {
	var in struct {
		Arms      int
		Features  int
		GroupSize int
		Forests   [][]struct{ Nodes []CausalNode }
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	if in.Arms < 1 || in.Features < 1 || in.GroupSize < 1 || len(in.Forests) != in.Arms {
		return fmt.Errorf("causal forest with %d arms, %d features, group size %d, %d forests", in.Arms, in.Features, in.GroupSize, len(in.Forests))
	}
	*m = CausalForestModel{Arms: in.Arms, Features: in.Features, GroupSize: in.GroupSize, Forests: make([][]CausalTree, in.Arms)}
	for k, trees := range in.Forests {
		if len(trees) == 0 {
			return fmt.Errorf("causal forest arm %d has no trees", k+1)
		}
		m.Forests[k] = make([]CausalTree, len(trees))
		for i, t := range trees {
			if len(t.Nodes) == 0 {
				return fmt.Errorf("causal forest arm %d tree %d has no nodes", k+1, i)
			}
			// Children come after their parent and have one parent each.
			child := make([]bool, len(t.Nodes))
			for j, nd := range t.Nodes {
				if nd.Left < 0 {
					continue
				}
				if int(nd.Left) <= j || int(nd.Right) <= j || int(nd.Left) >= len(t.Nodes) || int(nd.Right) >= len(t.Nodes) ||
					nd.Left == nd.Right || child[nd.Left] || child[nd.Right] || nd.Feature < 0 || nd.Feature >= in.Features {
					return fmt.Errorf("causal forest arm %d tree %d node %d is malformed", k+1, i, j)
				}
				child[nd.Left], child[nd.Right] = true, true
			}
			m.Forests[k][i] = compactTree(t.Nodes)
		}
	}
	m.rankSplits()
	return nil
}
