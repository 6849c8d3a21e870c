package causal

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// UpliftCriterion is the divergence that an uplift tree maximises when it
// splits a node (Rzepakowski & Jaroszewicz 2012).
type UpliftCriterion int

const (
	// KL is the Kullback-Leibler divergence of each treated arm's outcome
	// distribution from the control's, summed over arms:
	//	D = Σ_k p_k log(p_k/q) + (1-p_k) log((1-p_k)/(1-q))
	// where p_k is the rate of y=1 in arm k and q the control rate.
	KL UpliftCriterion = iota
	// ED is the squared Euclidean distance, D = Σ_k 2(p_k - q)².
	ED
	// Chi is the chi-squared divergence,
	//	D = Σ_k (p_k-q)²/q + (p_k-q)²/(1-q).
	Chi
	// DDP is the difference of uplifts between the two children,
	//	gain = Σ_k |(p_k^L - q^L) - (p_k^R - q^R)|.
	// It is used without the normalisation term.
	DDP
)

// String returns the name of the criterion as ParseUpliftCriterion reads it.
func (c UpliftCriterion) String() string {
	switch c {
	case KL:
		return "KL"
	case ED:
		return "ED"
	case Chi:
		return "Chi"
	case DDP:
		return "DDP"
	}
	return fmt.Sprintf("UpliftCriterion(%d)", int(c))
}

// ParseUpliftCriterion reads "KL", "ED", "Chi" or "DDP" (case-insensitive).
func ParseUpliftCriterion(s string) (UpliftCriterion, error) {
	switch strings.ToLower(s) {
	case "kl":
		return KL, nil
	case "ed":
		return ED, nil
	case "chi":
		return Chi, nil
	case "ddp":
		return DDP, nil
	}
	return 0, fmt.Errorf("%w: unknown uplift criterion %q (want KL, ED, Chi or DDP)", ErrInput, s)
}

// upliftEps bounds the control rate away from 0 and 1 in the KL and Chi
// divergences.
const upliftEps = 1e-6

// upliftKL is the binary KL divergence KL(p‖q). It is 0 when q is 0, and q
// is clamped to [1e-6, 1-1e-6] otherwise.
func upliftKL(p, q float64) float64 {
	if q == 0 {
		return 0
	}
	q = min(max(q, upliftEps), 1-upliftEps)
	switch p {
	case 0:
		return -math.Log(1 - q)
	case 1:
		return -math.Log(q)
	}
	return p*math.Log(p/q) + (1-p)*math.Log((1-p)/(1-q))
}

// upliftEntropy is -p log q (or -p log p when q < 0), 0 when undefined.
func upliftEntropy(p, q float64) float64 {
	if q < 0 {
		if p > 0 {
			return -p * math.Log(p)
		}
		return 0
	}
	if q > 0 {
		return -p * math.Log(q)
	}
	return 0
}

// upliftDivergence returns the divergence D of a node from its outcome
// rates: rates[0] is the control rate, rates[k] the rate of arm k. DDP
// returns the summed uplift Σ_k (p_k - q).
func upliftDivergence(c UpliftCriterion, rates []float64) float64 {
	q := rates[0]
	var d float64
	for _, p := range rates[1:] {
		switch c {
		case KL:
			d += upliftKL(p, q)
		case ED:
			d += 2 * (p - q) * (p - q)
		case Chi:
			d += (p-q)*(p-q)/max(upliftEps, q) + (p-q)*(p-q)/max(upliftEps, 1-q)
		case DDP:
			d += p - q
		default:
			panic(fmt.Sprintf("causal: unknown uplift criterion %d", int(c)))
		}
	}
	return d
}

// upliftNormI is the normalisation term of Rzepakowski & Jaroszewicz (2012)
// for a binary split that sends nLeft[k] of the n[k] units of arm k (arm 0
// the control) to the left child:
//
//	I = α H(N_T/N, N_C/N) KL(P_T(L) ‖ P_C(L))
//	  + (1-α) Σ_k H(N_k/(N_k+N_C), N_C/(N_k+N_C)) KL(P_k(L) ‖ P_C(L))
//	  + Σ_k N_k/N H(P_k(L)) + N_C/N H(P_C(L)) + 1/2
//
// with α = 0.9, P_k(L) = nLeft[k]/(n[k]+0.1), H(p, q) = -p log q and
// H(p) = -p log p, as in CausalML.
func upliftNormI(n, nLeft []float64) float64 {
	const alpha = 0.9
	nc, ncL := n[0], nLeft[0]
	var nt, ntL float64
	for k := 1; k < len(n); k++ {
		nt += n[k]
		ntL += nLeft[k]
	}
	ptA := ntL / (nt + 0.1)
	pcA := ncL / (nc + 0.1)
	res := alpha * upliftEntropy(nt/(nt+nc), nc/(nt+nc)) * upliftKL(ptA, pcA)
	for k := 1; k < len(n); k++ {
		pk := nLeft[k] / (n[k] + 0.1)
		res += (1 - alpha) * upliftEntropy(n[k]/(n[k]+nc), nc/(n[k]+nc)) * upliftKL(pk, pcA)
		res += n[k] / (nt + nc) * upliftEntropy(pk, -1)
	}
	res += nc / (nt + nc) * upliftEntropy(pcA, -1)
	return res + 0.5
}

// upliftSummary writes into rates the outcome rate of each arm of a node
// whose cell sums are cells (cells[2k] is the weight with y=0 in arm k,
// cells[2k+1] with y=1), shrunk toward the parent's rates:
//
//	p_k = (pos_k + nReg·parent_k)/(n_k + nReg)   if n_k > minTreat
//	p_k = parent_k                               otherwise
//
// At the root (parent nil) p_k = pos_k/n_k, and 0 for an empty arm. It
// returns rates.
func upliftSummary(rates, cells, parent []float64, nReg, minTreat float64) []float64 {
	for k := range rates {
		pos := cells[2*k+1]
		n := cells[2*k] + pos
		switch {
		case parent == nil:
			rates[k] = 0
			if n > 0 {
				rates[k] = pos / n
			}
		case n > minTreat:
			rates[k] = (pos + parent[k]*nReg) / (n + nReg)
		default:
			rates[k] = parent[k]
		}
	}
	return rates
}

// upliftSplit holds the settings and scratch space to score candidate
// splits of one node.
type upliftSplit struct {
	crit      UpliftCriterion
	norm      bool
	nReg      float64
	minTreat  float64
	minLeaf   float64
	parent    []float64 // regularised rates of the node
	score     float64   // divergence of the node
	n, nLeft  []float64 // per-arm sizes of the node and the left child
	rl, rr    []float64 // rates of the children
	nodeTotal float64
}

func newUpliftSplit(groups int) *upliftSplit {
	return &upliftSplit{
		parent: make([]float64, groups),
		n:      make([]float64, groups),
		nLeft:  make([]float64, groups),
		rl:     make([]float64, groups),
		rr:     make([]float64, groups),
	}
}

// setNode prepares s to score splits of a node with cell sums cells whose
// regularised rates are rates.
func (s *upliftSplit) setNode(cells, rates []float64) {
	copy(s.parent, rates)
	s.score = upliftDivergence(s.crit, rates)
	s.nodeTotal = 0
	for k := range s.n {
		s.n[k] = cells[2*k] + cells[2*k+1]
		s.nodeTotal += s.n[k]
	}
}

// gain returns the gain of the split that sends the cell sums left to the
// left child and right to the right child, and false when the split breaks
// the minimum leaf size or the minimum per-arm size. For KL, ED and Chi
//
//	gain = (n_L/n D(L) + n_R/n D(R) - D(node)) / I
//
// with I the normalisation term (upliftNormI, or 1 without normalisation),
// where the children's rates are shrunk toward the node's (upliftSummary).
// For DDP the gain is Σ_k |(p_k^L - q^L) - (p_k^R - q^R)|.
func (s *upliftSplit) gain(left, right []float64) (float64, bool) {
	var nl, nr float64
	for k := range s.n {
		a := left[2*k] + left[2*k+1]
		b := right[2*k] + right[2*k+1]
		if a < s.minTreat || b < s.minTreat {
			return 0, false
		}
		s.nLeft[k] = a
		nl += a
		nr += b
	}
	if nl < s.minLeaf || nr < s.minLeaf || nl == 0 || nr == 0 {
		return 0, false
	}
	upliftSummary(s.rl, left, s.parent, s.nReg, s.minTreat)
	upliftSummary(s.rr, right, s.parent, s.nReg, s.minTreat)
	if s.crit == DDP {
		var g float64
		for k := 1; k < len(s.rl); k++ {
			g += math.Abs((s.rl[k] - s.rl[0]) - (s.rr[k] - s.rr[0]))
		}
		return g, true
	}
	p := nl / (nl + nr)
	g := p*upliftDivergence(s.crit, s.rl) + (1-p)*upliftDivergence(s.crit, s.rr) - s.score
	if s.norm {
		g /= upliftNormI(s.n, s.nLeft)
	}
	return g, true
}

// UpliftTree fits one uplift decision tree for a binary outcome with one
// or more treated arms against a control (Rzepakowski & Jaroszewicz 2012,
// as in CausalML's UpliftTreeClassifier). Splits are searched on a
// histogram of the binned features. The zero value is usable: KL
// criterion, depth 5, leaves of at least 100 units with at least 10 of each
// arm, shrinkage weight 100, normalisation on, all features tried, 255 bins.
//
// Each leaf stores the outcome rate of every arm; the effect of arm k is
// p_k - p_0. Category columns (UpliftData.Categorical) are split on their
// codes in numeric order, as numeric columns are. The tree assumes a
// randomised trial: UpliftData.Propensity is ignored. Depth counts splits: a
// tree of depth d has at most 2^d leaves (CausalML's max_depth counts
// levels, so its max_depth=d+1 matches depth d here).
type UpliftTree struct {
	// Criterion is the split divergence.
	Criterion UpliftCriterion
	// MaxDepth is the largest number of splits from the root to a leaf
	// (0 means 5).
	MaxDepth int
	// MinLeaf is the smallest total weight of a child (0 means 100).
	MinLeaf float64
	// MinTreatment is the smallest weight of each arm in a child (0 means
	// 10; negative means no limit).
	MinTreatment float64
	// NReg is the weight, in units, of the parent's rates in the shrunk
	// rates of a child when scoring a split (0 means 100; negative means
	// none).
	NReg float64
	// NoNormalization drops the normalisation term from the gain.
	NoNormalization bool
	// MaxFeatures is the number of features drawn at random for each
	// split (0 or more than the number of features means all).
	MaxFeatures int
	// MaxBins is the number of histogram bins per feature (0 means 255).
	MaxBins int
}

func (t UpliftTree) withDefaults() UpliftTree {
	if t.MaxDepth == 0 {
		t.MaxDepth = 5
	}
	if t.MinLeaf == 0 {
		t.MinLeaf = 100
	}
	if t.MinTreatment == 0 {
		t.MinTreatment = 10
	} else if t.MinTreatment < 0 {
		t.MinTreatment = 0
	}
	if t.NReg == 0 {
		t.NReg = 100
	} else if t.NReg < 0 {
		t.NReg = 0
	}
	return t
}

func (t UpliftTree) validate() error {
	if t.Criterion < KL || t.Criterion > DDP {
		return fmt.Errorf("%w: unknown uplift criterion %d", ErrInput, int(t.Criterion))
	}
	if t.MaxDepth < 0 {
		return fmt.Errorf("%w: max depth %d is negative", ErrInput, t.MaxDepth)
	}
	if t.MinLeaf < 0 || math.IsNaN(t.MinLeaf) {
		return fmt.Errorf("%w: min leaf %v is negative", ErrInput, t.MinLeaf)
	}
	if t.MaxBins < 0 || t.MaxBins > MaxBins {
		return fmt.Errorf("%w: max bins %d is not in [0, %d]", ErrInput, t.MaxBins, MaxBins)
	}
	return nil
}

// UpliftNode is a node of a fitted uplift tree. An inner node sends a row
// with x[Feature] ≤ Threshold to Left and the others (NaN included) to
// Right; a leaf has Left = -1 and holds the outcome rate of each arm in
// Rates (Rates[0] is the control).
type UpliftNode struct {
	Feature   int       `json:"f,omitempty"`
	Threshold float64   `json:"t,omitempty"`
	Left      int32     `json:"l"`
	Right     int32     `json:"r,omitempty"`
	Rates     []float64 `json:"p,omitempty"`
}

// UpliftTreeModel is a fitted uplift tree.
type UpliftTreeModel struct {
	// Arms is the number of treated arms K.
	Arms int
	// Features is the number of columns of X.
	Features int
	// Nodes are the nodes in depth-first order; Nodes[0] is the root.
	Nodes []UpliftNode
}

// Kind implements Kinded.
func (m *UpliftTreeModel) Kind() string { return "uplift-tree" }

// UnmarshalJSON implements json.Unmarshaler and checks that the nodes
// form a tree whose leaves hold Arms+1 rates.
func (m *UpliftTreeModel) UnmarshalJSON(b []byte) error {
	type plain UpliftTreeModel
	if err := json.Unmarshal(b, (*plain)(m)); err != nil {
		return err
	}
	return m.check()
}

// check reports a malformed tree: children must come after their parent
// in Nodes, so every path ends at a leaf.
func (m *UpliftTreeModel) check() error {
	if m.Arms < 1 || m.Features < 1 || len(m.Nodes) == 0 {
		return fmt.Errorf("uplift tree with %d arms, %d features, %d nodes", m.Arms, m.Features, len(m.Nodes))
	}
	for k, nd := range m.Nodes {
		if nd.Left < 0 {
			if len(nd.Rates) != m.Arms+1 {
				return fmt.Errorf("uplift tree node %d: %d rates, want %d", k, len(nd.Rates), m.Arms+1)
			}
			continue
		}
		if int(nd.Left) <= k || int(nd.Right) <= k || int(nd.Left) >= len(m.Nodes) || int(nd.Right) >= len(m.Nodes) {
			return fmt.Errorf("uplift tree node %d: children %d and %d out of order", k, nd.Left, nd.Right)
		}
		if nd.Feature < 0 || nd.Feature >= m.Features {
			return fmt.Errorf("uplift tree node %d: feature %d of %d", k, nd.Feature, m.Features)
		}
	}
	return nil
}

// leaf returns the leaf reached by row x.
func (m *UpliftTreeModel) leaf(x []float64) *UpliftNode {
	nd := &m.Nodes[0]
	for nd.Left >= 0 {
		if x[nd.Feature] <= nd.Threshold {
			nd = &m.Nodes[nd.Left]
		} else {
			nd = &m.Nodes[nd.Right]
		}
	}
	return nd
}

// Effects implements UpliftModel: the effect of arm k is p_k - p_0 in the
// leaf each row falls in. It panics if x has the wrong number of columns.
func (m *UpliftTreeModel) Effects(dst, x *mat.Dense) *mat.Dense {
	dst = upliftEffectsDst(dst, x, m.Features, m.Arms)
	upliftRows(x, func(i int, row []float64) {
		r := m.leaf(row).Rates
		for k := 1; k <= m.Arms; k++ {
			dst.Set(i, k-1, r[k]-r[0])
		}
	})
	return dst
}

// upliftEffectsDst checks x and returns an n×arms destination, reusing dst
// when it has that shape.
func upliftEffectsDst(dst, x *mat.Dense, features, arms int) *mat.Dense {
	n, p := x.Dims()
	if p != features {
		panic(fmt.Sprintf("causal: %d features, model has %d", p, features))
	}
	if dst == nil || dst.IsEmpty() {
		return mat.NewDense(max(n, 1), arms, nil).Slice(0, n, 0, arms).(*mat.Dense)
	}
	if r, c := dst.Dims(); r != n || c != arms {
		panic(fmt.Sprintf("causal: dst is %d×%d, want %d×%d", r, c, n, arms))
	}
	return dst
}

// upliftRows calls f for every row of x, on all cores for large x.
func upliftRows(x *mat.Dense, f func(i int, row []float64)) {
	n, _ := x.Dims()
	const chunk = 4096
	chunks := (n + chunk - 1) / chunk
	parallelFor(chunks, 0, func(c int) {
		for i := c * chunk; i < min(n, (c+1)*chunk); i++ {
			f(i, x.RawRowView(i))
		}
	})
}

// upliftInput is the validated, binned training data of an uplift tree.
type upliftInput struct {
	bins   *Bins
	cls    []uint8 // 2·arm + y
	w      []float64
	arms   int
	groups int
}

// newUpliftInput checks d (binary outcome, arms in [0, Arms], every arm
// present) and bins its features.
func newUpliftInput(d UpliftData, maxBins int) (*upliftInput, error) {
	if d.X == nil {
		return nil, fmt.Errorf("%w: no features", ErrInput)
	}
	n, p := d.X.Dims()
	if n == 0 || p == 0 {
		return nil, fmt.Errorf("%w: empty feature matrix %d×%d", ErrInput, n, p)
	}
	if d.Arms < 1 {
		return nil, fmt.Errorf("%w: %d treated arms, want at least 1", ErrInput, d.Arms)
	}
	if d.Arms > 127 {
		return nil, fmt.Errorf("%w: %d treated arms, at most 127 supported", ErrInput, d.Arms)
	}
	if len(d.Y) != n || len(d.Treatment) != n {
		return nil, fmt.Errorf("%w: %d rows, %d outcomes, %d treatments", ErrInput, n, len(d.Y), len(d.Treatment))
	}
	if d.Weights != nil && len(d.Weights) != n {
		return nil, fmt.Errorf("%w: %d rows, %d weights", ErrInput, n, len(d.Weights))
	}
	if d.Categorical != nil && len(d.Categorical) != p {
		return nil, fmt.Errorf("%w: %d columns, %d categorical flags", ErrInput, p, len(d.Categorical))
	}
	in := &upliftInput{cls: make([]uint8, n), w: d.Weights, arms: d.Arms, groups: d.Arms + 1}
	seen := make([]bool, in.groups)
	for i, y := range d.Y {
		t := d.Treatment[i]
		if t < 0 || t > d.Arms {
			return nil, fmt.Errorf("%w: row %d: treatment %d not in [0, %d]", ErrInput, i, t, d.Arms)
		}
		if y != 0 && y != 1 {
			return nil, fmt.Errorf("%w: row %d: outcome %v is not 0 or 1", ErrInput, i, y)
		}
		if d.Weights != nil {
			if w := d.Weights[i]; w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
				return nil, fmt.Errorf("%w: row %d: weight %v", ErrInput, i, w)
			}
		}
		seen[t] = true
		in.cls[i] = uint8(2*t + int(y))
	}
	for k, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("%w: arm %d has no rows", ErrInput, k)
		}
	}
	b, err := NewBinsWeighted(d.X, d.Weights, maxBins, d.Categorical)
	if err != nil {
		return nil, fmt.Errorf("bin features: %w", err)
	}
	in.bins = b
	return in, nil
}

// upliftGrower grows one tree on a set of rows.
type upliftGrower struct {
	cfg     UpliftTree
	in      *upliftInput
	cells   int
	off     []int // offset of each feature's histogram
	histLen int
	rng     *rand.Rand
	workers int
	split   *upliftSplit
	left    []float64
	right   []float64
	feats   []int
	scratch []int32
	pool    [][]float64
	nodes   []UpliftNode
}

func newUpliftGrower(cfg UpliftTree, in *upliftInput, rng *rand.Rand, workers int) *upliftGrower {
	g := &upliftGrower{cfg: cfg, in: in, cells: 2 * in.groups, rng: rng, workers: workers}
	p := in.bins.Cols
	g.off = make([]int, p+1)
	for j := range p {
		g.off[j+1] = g.off[j] + in.bins.NumBins(j)*g.cells
	}
	g.histLen = g.off[p]
	g.split = newUpliftSplit(in.groups)
	g.split.crit = cfg.Criterion
	g.split.norm = !cfg.NoNormalization
	g.split.nReg = cfg.NReg
	g.split.minTreat = cfg.MinTreatment
	g.split.minLeaf = max(cfg.MinLeaf, 1)
	g.left = make([]float64, g.cells)
	g.right = make([]float64, g.cells)
	g.feats = make([]int, p)
	return g
}

func (g *upliftGrower) getHist() []float64 {
	if k := len(g.pool); k > 0 {
		h := g.pool[k-1]
		g.pool = g.pool[:k-1]
		clear(h)
		return h
	}
	return make([]float64, g.histLen)
}

func (g *upliftGrower) putHist(h []float64) { g.pool = append(g.pool, h) }

// fillHist accumulates the histograms of every feature over rows idx.
func (g *upliftGrower) fillHist(h []float64, idx []int32) {
	b := g.in.bins
	work := 1
	if len(idx) >= 1<<15 {
		work = g.workers
	}
	parallelFor(b.Cols, work, func(j int) {
		hj := h[g.off[j]:g.off[j+1]]
		col := b.Column(j)
		cls := g.in.cls
		cells := g.cells
		if w := g.in.w; w != nil {
			for _, i := range idx {
				hj[int(col[i])*cells+int(cls[i])] += w[i]
			}
			return
		}
		for _, i := range idx {
			hj[int(col[i])*cells+int(cls[i])]++
		}
	})
}

// grow builds the subtree of rows idx, whose feature histograms are hist
// (nil when the node cannot split) and cell sums tot, and returns its
// index. parentRates are the node's parent's shrunk rates (nil at the root)
// and parentRaw the parent's raw rates. grow takes ownership of hist.
func (g *upliftGrower) grow(idx []int32, hist, tot, parentRates, parentRaw []float64, depth int) int32 {
	groups := g.in.groups
	id := int32(len(g.nodes))
	raw := make([]float64, groups)
	for k := range raw {
		n := tot[2*k] + tot[2*k+1]
		switch {
		case n > 0:
			raw[k] = tot[2*k+1] / n
		case parentRaw != nil:
			raw[k] = parentRaw[k]
		}
	}
	g.nodes = append(g.nodes, UpliftNode{Left: -1, Right: -1, Rates: raw})
	if hist == nil {
		return id
	}
	rates := upliftSummary(make([]float64, groups), tot, parentRates, g.cfg.NReg, g.cfg.MinTreatment)
	g.split.setNode(tot, rates)

	// Draw the features to try.
	p := g.in.bins.Cols
	for j := range g.feats {
		g.feats[j] = j
	}
	m := p
	if g.cfg.MaxFeatures > 0 && g.cfg.MaxFeatures < p {
		m = g.cfg.MaxFeatures
		for j := range m {
			k := j + g.rng.IntN(p-j)
			g.feats[j], g.feats[k] = g.feats[k], g.feats[j]
		}
	}
	bestGain, bestF, bestB := 0.0, -1, -1
	for _, j := range g.feats[:m] {
		hj := hist[g.off[j]:g.off[j+1]]
		nb := len(hj) / g.cells
		clear(g.left)
		for b := 0; b+1 < nb; b++ {
			row := hj[b*g.cells : (b+1)*g.cells]
			for c, v := range row {
				g.left[c] += v
			}
			for c := range g.right {
				g.right[c] = tot[c] - g.left[c]
			}
			gain, ok := g.split.gain(g.left, g.right)
			if ok && gain > bestGain {
				bestGain, bestF, bestB = gain, j, b
			}
		}
	}
	if bestF < 0 {
		g.putHist(hist)
		return id
	}

	// Stable partition of idx: rows in bins ≤ bestB go left.
	col := g.in.bins.Column(bestF)
	if cap(g.scratch) < len(idx) {
		g.scratch = make([]int32, len(idx))
	}
	right := g.scratch[:0]
	nl := 0
	totL := make([]float64, g.cells)
	totR := make([]float64, g.cells)
	for _, i := range idx {
		if int(col[i]) <= bestB {
			idx[nl] = i
			nl++
		} else {
			right = append(right, i)
		}
	}
	copy(idx[nl:], right)
	hj := hist[g.off[bestF]:g.off[bestF+1]]
	for b := 0; b*g.cells < len(hj); b++ {
		dst := totR
		if b <= bestB {
			dst = totL
		}
		for c := range g.cells {
			dst[c] += hj[b*g.cells+c]
		}
	}
	li, ri := idx[:nl], idx[nl:]

	canSplit := func(t []float64) bool {
		var s float64
		for _, v := range t {
			s += v
		}
		return depth+1 < g.cfg.MaxDepth && s >= 2*g.split.minLeaf
	}
	var hl, hr []float64
	if canSplit(totL) || canSplit(totR) {
		small := g.getHist()
		if len(li) <= len(ri) {
			g.fillHist(small, li)
			for k := range hist {
				hist[k] -= small[k]
			}
			hl, hr = small, hist
		} else {
			g.fillHist(small, ri)
			for k := range hist {
				hist[k] -= small[k]
			}
			hl, hr = hist, small
		}
		if !canSplit(totL) {
			g.putHist(hl)
			hl = nil
		}
		if !canSplit(totR) {
			g.putHist(hr)
			hr = nil
		}
	} else {
		g.putHist(hist)
	}
	g.nodes[id].Feature = bestF
	g.nodes[id].Threshold = g.in.bins.Edges[bestF][bestB]
	g.nodes[id].Rates = nil
	l := g.grow(li, hl, totL, rates, raw, depth+1)
	r := g.grow(ri, hr, totR, rates, raw, depth+1)
	g.nodes[id].Left, g.nodes[id].Right = l, r
	return id
}

// growTree grows a tree on rows idx (which it reorders).
func (g *upliftGrower) growTree(idx []int32) []UpliftNode {
	g.nodes = nil
	tot := make([]float64, g.cells)
	var hist []float64
	if g.cfg.MaxDepth > 0 {
		hist = g.getHist()
		g.fillHist(hist, idx)
		h0 := hist[g.off[0]:g.off[1]]
		for k, v := range h0 {
			tot[k%g.cells] += v
		}
	} else {
		for _, i := range idx {
			w := 1.0
			if g.in.w != nil {
				w = g.in.w[i]
			}
			tot[g.in.cls[i]] += w
		}
	}
	g.grow(idx, hist, tot, nil, nil, 0)
	return slices.Clip(g.nodes)
}

// FitUplift implements UpliftEstimator. The outcome must be 0 or 1. src
// drives the feature sampling at each split.
func (t UpliftTree) FitUplift(d UpliftData, src rand.Source) (UpliftModel, error) {
	return t.Fit(d, src)
}

// Fit fits the tree and returns the concrete model.
func (t UpliftTree) Fit(d UpliftData, src rand.Source) (*UpliftTreeModel, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	cfg := t.withDefaults()
	in, err := newUpliftInput(d, cfg.MaxBins)
	if err != nil {
		return nil, fmt.Errorf("uplift tree: %w", err)
	}
	n := in.bins.Rows
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	g := newUpliftGrower(cfg, in, rand.New(src), runtime.GOMAXPROCS(0))
	return &UpliftTreeModel{Arms: d.Arms, Features: in.bins.Cols, Nodes: g.growTree(idx)}, nil
}
