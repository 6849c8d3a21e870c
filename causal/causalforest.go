package causal

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// CausalForest estimates conditional average treatment effects with a
// generalised random forest (Athey, Tibshirani & Wager 2019; grf's
// causal_forest). With K treated arms it fits one forest per arm on the
// units of that arm and the control.
//
// The outcome y and the treatment indicator w are first centred with
// out-of-bag (or cross-fitted) estimates of m(x) = E[y|x] and
// e(x) = P(w=1|x): ỹ = y − m̂(x), w̃ = w − ê(x). Each tree grows on a
// subsample drawn without replacement; with honesty one part of the
// subsample places the splits and the other fills the leaves. A node is
// split by regressing the pseudo-outcomes
//
//	ρ_i = (w̃_i − w̄)((ỹ_i − ȳ) − (w̃_i − w̄) β̂),  β̂ = Σ(w̃−w̄)(ỹ−ȳ)/Σ(w̃−w̄)²
//
// (node means w̄, ȳ) on a histogram of the binned features: the split
// maximises (Σ_L ρ)²/n_L + (Σ_R ρ)²/n_R. The estimate at x solves the
// forest-weighted moment equation,
//
//	τ̂(x) = Σ α_i (w̃_i − w̄_α)(ỹ_i − ȳ_α) / Σ α_i (w̃_i − w̄_α)²,
//	α_i(x) = 1/B Σ_b 1{i ∈ L_b(x)}/|L_b(x)|,
//
// computed from sufficient statistics kept in the leaves (a row whose leaf
// got no estimation units uses the deepest non-empty node on its path, as
// grf's pruning of empty honest leaves). With one treated arm a given
// UpliftData.Propensity replaces ê(x); with several it is ignored and ê(x)
// is estimated per arm. Category columns are split on their codes in
// numeric order.
//
// Trees come in groups of GroupSize that share a half-sample of the units;
// the spread of the group means gives the "little bags" variance estimate
// behind Intervals (Athey, Tibshirani & Wager 2019, section 4).
//
// The zero value is usable with grf's defaults — sample fraction 0.5,
// honesty fraction 0.5, min leaf 5, mtry min(⌈√p + 20⌉, p), imbalance alpha
// 0.05, groups of 2, and honest regression forests of max(50, trees/4)
// trees for the nuisance estimates — except the number of trees, which
// fits the data size (see CausalForestTrees): a tree's leaves, and so the
// model's size, grow with the number of units n.
type CausalForest struct {
	// Trees is the number of trees per arm (0 means CausalForestTrees(n)
	// for n units), rounded up to a multiple of GroupSize.
	Trees int
	// SampleFraction is the share of units each tree is grown on (0
	// means 0.5). With GroupSize > 1 it must be at most 0.5.
	SampleFraction float64
	// HonestyFraction is the share of a tree's subsample used to place
	// the splits (0 means 0.5); the rest fills the leaves.
	HonestyFraction float64
	// NoHonesty grows and fills each tree on its whole subsample.
	NoHonesty bool
	// MinLeaf is the smallest number of splitting units in a child (0
	// means 5).
	MinLeaf int
	// Mtry is the number of features tried at each split (0 means
	// min(⌈√p + 20⌉, p)).
	Mtry int
	// Alpha is the smallest share of a node's units that each child must
	// get (0 means 0.05; negative means no limit).
	Alpha float64
	// MaxDepth limits the depth of the trees (0 means no limit).
	MaxDepth int
	// GroupSize is the number of trees sharing a half-sample (0 means 2;
	// 1 turns the variance estimate off).
	GroupSize int
	// MaxBins is the number of histogram bins per feature (0 means 255).
	MaxBins int
	// Nuisance, when set, fits m(x) and e(x) by 5-fold cross-fitting
	// (regression for y, classification for w). When nil, the out-of-bag
	// predictions of regression forests of NuisanceTrees trees are used.
	Nuisance Learner
	// NuisanceTrees is the size of each nuisance forest (0 means
	// max(50, Trees/4), as grf).
	NuisanceTrees int
	// Workers is the number of goroutines (0 means GOMAXPROCS).
	Workers int
}

// CausalNode is a node of a causal forest tree while it grows. An inner
// node sends a row with x[Feature] ≤ Threshold to Left and the others (NaN
// included) to Right; Left is -1 at a leaf. N, W, Y, WY and WW are the
// weighted count and the sums of w̃, ỹ, w̃ỹ and w̃² of the estimation units
// in the node.
type CausalNode struct {
	Feature   int     `json:"f,omitempty"`
	Threshold float64 `json:"t,omitempty"`
	Left      int32   `json:"l"`
	Right     int32   `json:"r,omitempty"`
	N         float64 `json:"n"`
	W         float64 `json:"w"`
	Y         float64 `json:"y"`
	WY        float64 `json:"wy"`
	WW        float64 `json:"ww"`
	bin       int
}

// CausalForestModel is a fitted causal forest. Its trees keep, per leaf,
// only the four estimation means the moment equation needs (see
// CausalTree), so its size and the time to predict a row grow with
// trees × depth, not with the number of training units.
type CausalForestModel struct {
	Arms     int
	Features int
	// GroupSize is the number of consecutive trees that share a
	// half-sample.
	GroupSize int
	// Forests[k-1] holds the trees of arm k.
	Forests [][]CausalTree
	// thresholds[j] holds feature j's distinct split thresholds in
	// increasing order, in which every split knows its rank (cfSplit);
	// prediction bins each row once and compares ranks. Fit and
	// UnmarshalJSON set it; nil (a model built otherwise) is ranked on a
	// copy at prediction.
	thresholds [][]float64
}

// Kind implements Kinded.
func (m *CausalForestModel) Kind() string { return "causal-forest" }

// CausalForestTrees returns the default number of trees for n units:
// grf's 2000 up to 25,000 units, then 2000·25,000/n, so that trees × n (to
// which the model's size and its prediction time are proportional) stays
// at 5·10⁷, but never fewer than 500:
//
//	trees(n) = 2000 for n ≤ 25,000,  max(500, ⌊5·10⁷/n⌋) above.
func CausalForestTrees(n int) int {
	if n <= 25_000 {
		return 2000
	}
	return max(500, 50_000_000/n)
}

func (f CausalForest) withDefaults(n, p int) CausalForest {
	if f.GroupSize == 0 {
		f.GroupSize = 2
	}
	if f.Trees == 0 {
		f.Trees = CausalForestTrees(n)
	}
	f.Trees = (f.Trees + f.GroupSize - 1) / f.GroupSize * f.GroupSize
	if f.SampleFraction == 0 {
		f.SampleFraction = 0.5
	}
	if f.HonestyFraction == 0 {
		f.HonestyFraction = 0.5
	}
	if f.MinLeaf == 0 {
		f.MinLeaf = 5
	}
	if f.Mtry == 0 || f.Mtry > p {
		f.Mtry = min(int(math.Ceil(math.Sqrt(float64(p))+20)), p)
	}
	if f.Alpha == 0 {
		f.Alpha = 0.05
	} else if f.Alpha < 0 {
		f.Alpha = 0
	}
	if f.NuisanceTrees == 0 {
		f.NuisanceTrees = max(50, f.Trees/4)
	}
	if f.Workers <= 0 {
		f.Workers = runtime.GOMAXPROCS(0)
	}
	return f
}

func (f CausalForest) validate() error {
	switch {
	case f.Trees < 0:
		return fmt.Errorf("%w: %d trees", ErrInput, f.Trees)
	case f.GroupSize < 0:
		return fmt.Errorf("%w: group size %d", ErrInput, f.GroupSize)
	case !(f.SampleFraction >= 0 && f.SampleFraction <= 1):
		return fmt.Errorf("%w: sample fraction %v not in (0, 1]", ErrInput, f.SampleFraction)
	case f.GroupSize != 1 && f.SampleFraction > 0.5:
		return fmt.Errorf("%w: sample fraction %v above 0.5 with groups of %d trees (use group size 1)", ErrInput, f.SampleFraction, f.GroupSize)
	case !(f.HonestyFraction >= 0 && f.HonestyFraction < 1):
		return fmt.Errorf("%w: honesty fraction %v not in (0, 1)", ErrInput, f.HonestyFraction)
	case f.MinLeaf < 0:
		return fmt.Errorf("%w: min leaf %d", ErrInput, f.MinLeaf)
	case f.Mtry < 0:
		return fmt.Errorf("%w: mtry %d", ErrInput, f.Mtry)
	case math.IsNaN(f.Alpha) || f.Alpha >= 0.5:
		return fmt.Errorf("%w: alpha %v not below 0.5", ErrInput, f.Alpha)
	case f.MaxDepth < 0:
		return fmt.Errorf("%w: max depth %d", ErrInput, f.MaxDepth)
	case f.MaxBins < 0 || f.MaxBins > MaxBins:
		return fmt.Errorf("%w: max bins %d not in [0, %d]", ErrInput, f.MaxBins, MaxBins)
	case f.NuisanceTrees < 0:
		return fmt.Errorf("%w: %d nuisance trees", ErrInput, f.NuisanceTrees)
	}
	return nil
}

// FitUplift implements UpliftEstimator.
func (f CausalForest) FitUplift(d UpliftData, src rand.Source) (UpliftModel, error) {
	return f.Fit(d, src)
}

// Fit fits the forest and returns the concrete model, which implements
// IntervalModel.
func (f CausalForest) Fit(d UpliftData, src rand.Source) (*CausalForestModel, error) {
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("causal forest: %w", err)
	}
	if err := cfCheck(d); err != nil {
		return nil, fmt.Errorf("causal forest: %w", err)
	}
	n, p := d.X.Dims()
	cfg := f.withDefaults(n, p)
	bins, err := NewBinsWeighted(d.X, d.Weights, cfg.MaxBins, d.Categorical)
	if err != nil {
		return nil, fmt.Errorf("causal forest: bin features: %w", err)
	}
	rng := rand.New(src)
	m := &CausalForestModel{Arms: d.Arms, Features: p, GroupSize: cfg.GroupSize, Forests: make([][]CausalTree, d.Arms)}
	// Progress counts the trees of every arm: the nuisance forests' (two
	// at most) and the causal ones.
	perArm := cfg.Trees + 2*cfg.NuisanceTrees
	prog := startProgress(src, d.Arms*perArm)
	for k := 1; k <= d.Arms; k++ {
		var rows []int32
		for i, t := range d.Treatment {
			if t == 0 || t == k {
				rows = append(rows, int32(i))
			}
		}
		w := make([]float64, n)
		for _, i := range rows {
			if d.Treatment[i] == k {
				w[i] = 1
			}
		}
		if err := stopped(src); err != nil {
			return nil, err
		}
		yt, wt, err := cfg.center(d, bins, rows, w, k, rng, prog)
		if err != nil {
			return nil, fmt.Errorf("causal forest: arm %d: %w", k, err)
		}
		if err := stopped(src); err != nil {
			return nil, err
		}
		prog.to((k-1)*perArm + 2*cfg.NuisanceTrees)
		m.Forests[k-1] = cfg.grow(bins, rows, yt, wt, w, d.Weights, rng, src, prog)
	}
	if err := stopped(src); err != nil {
		return nil, err
	}
	m.rankSplits()
	prog.finish()
	return m, nil
}

// cfCheck validates d for the causal forest.
func cfCheck(d UpliftData) error {
	if d.X == nil {
		return fmt.Errorf("%w: no features", ErrInput)
	}
	n, p := d.X.Dims()
	if n == 0 || p == 0 {
		return fmt.Errorf("%w: empty feature matrix %d×%d", ErrInput, n, p)
	}
	if d.Arms < 1 {
		return fmt.Errorf("%w: %d treated arms, want at least 1", ErrInput, d.Arms)
	}
	if len(d.Y) != n || len(d.Treatment) != n {
		return fmt.Errorf("%w: %d rows, %d outcomes, %d treatments", ErrInput, n, len(d.Y), len(d.Treatment))
	}
	if d.Weights != nil && len(d.Weights) != n {
		return fmt.Errorf("%w: %d rows, %d weights", ErrInput, n, len(d.Weights))
	}
	if d.Propensity != nil && len(d.Propensity) != n {
		return fmt.Errorf("%w: %d rows, %d propensities", ErrInput, n, len(d.Propensity))
	}
	if d.Categorical != nil && len(d.Categorical) != p {
		return fmt.Errorf("%w: %d columns, %d categorical flags", ErrInput, p, len(d.Categorical))
	}
	count := make([]int, d.Arms+1)
	for i, y := range d.Y {
		t := d.Treatment[i]
		if t < 0 || t > d.Arms {
			return fmt.Errorf("%w: row %d: treatment %d not in [0, %d]", ErrInput, i, t, d.Arms)
		}
		if math.IsNaN(y) || math.IsInf(y, 0) {
			return fmt.Errorf("%w: row %d: outcome %v", ErrInput, i, y)
		}
		if d.Weights != nil {
			if w := d.Weights[i]; w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
				return fmt.Errorf("%w: row %d: weight %v", ErrInput, i, w)
			}
		}
		if d.Propensity != nil {
			if e := d.Propensity[i]; !(e > 0 && e < 1) {
				return fmt.Errorf("%w: row %d: propensity %v not in (0, 1)", ErrInput, i, e)
			}
		}
		count[t]++
	}
	for k, c := range count {
		if c < 2 {
			return fmt.Errorf("%w: arm %d has %d rows, want at least 2", ErrInput, k, c)
		}
	}
	return nil
}

// center returns ỹ = y − m̂(x) and w̃ = w − ê(x) on rows (indexed by row
// number; other entries are 0). prog counts the nuisance trees.
func (f CausalForest) center(d UpliftData, bins *Bins, rows []int32, w []float64, arm int, rng *rand.Rand, prog *progress) (yt, wt []float64, err error) {
	n := len(d.Y)
	var mh, eh []float64
	if f.Nuisance != nil {
		mh, eh, err = f.crossFit(d, rows, w, rng)
		if err != nil {
			return nil, nil, err
		}
	} else {
		mh = f.oob(bins, rows, d.Y, d.Weights, rng, prog)
		if d.Propensity == nil || d.Arms > 1 {
			eh = f.oob(bins, rows, w, d.Weights, rng, prog)
		}
	}
	if d.Propensity != nil && d.Arms == 1 {
		// The logged propensity is P(t_i | x_i); for control units
		// P(t=1|x) is its complement.
		eh = make([]float64, n)
		for _, i := range rows {
			eh[i] = d.Propensity[i]
			if d.Treatment[i] == 0 {
				eh[i] = 1 - eh[i]
			}
		}
	}
	yt = make([]float64, n)
	wt = make([]float64, n)
	for _, i := range rows {
		yt[i] = d.Y[i] - mh[i]
		wt[i] = w[i] - eh[i]
	}
	return yt, wt, nil
}

// crossFit fits f.Nuisance on 5 folds of rows and predicts the held-out
// fold.
func (f CausalForest) crossFit(d UpliftData, rows []int32, w []float64, rng *rand.Rand) (mh, eh []float64, err error) {
	n, p := d.X.Dims()
	mh = make([]float64, n)
	eh = make([]float64, n)
	perm := slices.Clone(rows)
	rng.Shuffle(len(perm), func(a, b int) { perm[a], perm[b] = perm[b], perm[a] })
	const folds = 5
	gather := func(ix []int32) (*mat.Dense, []float64, []float64, []float64) {
		x := mat.NewDense(len(ix), p, nil)
		ys := make([]float64, len(ix))
		ws := make([]float64, len(ix))
		var sw []float64
		if d.Weights != nil {
			sw = make([]float64, len(ix))
		}
		for r, i := range ix {
			copy(x.RawRowView(r), d.X.RawRowView(int(i)))
			ys[r], ws[r] = d.Y[i], w[i]
			if sw != nil {
				sw[r] = d.Weights[i]
			}
		}
		return x, ys, ws, sw
	}
	for k := range folds {
		lo, hi := k*len(perm)/folds, (k+1)*len(perm)/folds
		held := perm[lo:hi]
		train := append(slices.Clone(perm[:lo]), perm[hi:]...)
		xt, yt, wt, st := gather(train)
		xh, _, _, _ := gather(held)
		mm, err := f.Nuisance.Fit(xt, yt, st, Regression, rand.NewPCG(rng.Uint64(), rng.Uint64()))
		if err != nil {
			return nil, nil, fmt.Errorf("outcome model, fold %d: %w", k+1, err)
		}
		em, err := f.Nuisance.Fit(xt, wt, st, Classification, rand.NewPCG(rng.Uint64(), rng.Uint64()))
		if err != nil {
			return nil, nil, fmt.Errorf("treatment model, fold %d: %w", k+1, err)
		}
		pm := mm.Predict(nil, xh)
		pe := em.Predict(nil, xh)
		for r, i := range held {
			mh[i], eh[i] = pm[r], pe[r]
		}
	}
	return mh, eh, nil
}

// cfTask holds what a tree grower needs.
type cfTask struct {
	cfg    CausalForest
	bins   *Bins
	y, w   []float64 // centred outcome and treatment, or the regression target (w nil)
	treat  []float64 // raw treatment indicator (causal trees only)
	sw     []float64 // sample weights or nil
	causal bool
}

// cfGrower grows trees of a cfTask; one per goroutine.
type cfGrower struct {
	*cfTask
	rng     *rand.Rand
	rho     []float64 // weight·ρ of the node's k-th row
	wv, tv  []float64 // weight and treatment of the node's k-th row
	hist    []float64
	feats   []int
	touched []int
	scratch []int32
	nodes   []CausalNode
	mark    []uint64 // one bit a row, all zero between calls of cfSortRows
}

func newCFGrower(t *cfTask, rng *rand.Rand) *cfGrower {
	g := &cfGrower{cfTask: t, rng: rng, rho: make([]float64, t.bins.Rows), wv: make([]float64, t.bins.Rows), tv: make([]float64, t.bins.Rows), hist: make([]float64, 4*MaxBins)}
	g.feats = make([]int, t.bins.Cols)
	g.mark = make([]uint64, (t.bins.Rows+63)/64)
	return g
}

func (g *cfGrower) weight(i int32) float64 {
	if g.sw == nil {
		return 1
	}
	return g.sw[i]
}

// growTree grows a tree on the splitting rows split and fills it with the
// estimation rows est.
func (g *cfGrower) growTree(split, est []int32) []CausalNode {
	g.nodes = g.nodes[:0]
	g.grow(split, 0)
	nodes := slices.Clone(g.nodes)
	for _, i := range est {
		wi := g.weight(i)
		var a, b float64
		if g.causal {
			a, b = g.w[i], g.y[i]
		} else {
			b = g.y[i]
		}
		nd := int32(0)
		for {
			c := &nodes[nd]
			c.N += wi
			c.W += wi * a
			c.Y += wi * b
			c.WY += wi * a * b
			c.WW += wi * a * a
			if c.Left < 0 {
				break
			}
			if int(g.bins.Codes[c.Feature*g.bins.Rows+int(i)]) <= c.bin {
				nd = c.Left
			} else {
				nd = c.Right
			}
		}
	}
	return nodes
}

// grow builds the subtree of splitting rows idx and returns its index.
func (g *cfGrower) grow(idx []int32, depth int) int32 {
	id := int32(len(g.nodes))
	g.nodes = append(g.nodes, CausalNode{Left: -1, Right: -1})
	minLeaf := max(g.cfg.MinLeaf, 1)
	if len(idx) < 2*minLeaf || (g.cfg.MaxDepth > 0 && depth >= g.cfg.MaxDepth) {
		return id
	}
	// Pseudo-outcomes of the node.
	var sn, sw, sy float64
	for k, i := range idx {
		wi := g.weight(i)
		g.wv[k] = wi
		sn += wi
		sy += wi * g.y[i]
		if g.causal {
			sw += wi * g.w[i]
		}
	}
	if sn <= 0 {
		return id
	}
	ybar, wbar := sy/sn, sw/sn
	if g.causal {
		var num, den float64
		for _, i := range idx {
			wi := g.weight(i)
			dw := g.w[i] - wbar
			num += wi * dw * (g.y[i] - ybar)
			den += wi * dw * dw
		}
		if den <= 0 {
			return id
		}
		beta := num / den
		for k, i := range idx {
			dw := g.w[i] - wbar
			g.rho[k] = g.weight(i) * dw * ((g.y[i] - ybar) - dw*beta)
			g.tv[k] = g.treat[i]
		}
	} else {
		for k, i := range idx {
			g.rho[k] = g.weight(i) * (g.y[i] - ybar)
			g.tv[k] = 0
		}
	}
	minChild := max(float64(minLeaf), math.Ceil(g.cfg.Alpha*float64(len(idx))))

	p := g.bins.Cols
	for j := range g.feats {
		g.feats[j] = j
	}
	m := min(g.cfg.Mtry, p)
	for j := range m {
		k := j + g.rng.IntN(p-j)
		g.feats[j], g.feats[k] = g.feats[k], g.feats[j]
	}
	// Histogram slots per bin: weight, Σ weight·ρ, count, treated count.
	nTot := float64(len(idx))
	var tn float64
	if g.causal {
		for _, i := range idx {
			tn += g.treat[i]
		}
	}
	best, bestF, bestB := 0.0, -1, -1
	for _, j := range g.feats[:m] {
		nb := g.bins.NumBins(j)
		h := g.hist[:4*nb] // all zero on entry
		col := g.bins.Column(j)
		// A bitmap of the non-empty bins lists them in order without a
		// sort or a scan of every bin.
		var mask [MaxBins/64 + 1]uint64
		rho, wv, tv := g.rho[:len(idx)], g.wv[:len(idx)], g.tv[:len(idx)]
		for k, i := range idx {
			c := int(col[i])
			mask[c>>6] |= 1 << (c & 63)
			b := 4 * c
			h[b] += wv[k]
			h[b+1] += rho[k]
			h[b+2]++
			h[b+3] += tv[k]
		}
		touched := g.touched[:0]
		for wi, word := range mask {
			for word != 0 {
				touched = append(touched, wi<<6+bits.TrailingZeros64(word))
				word &= word - 1
			}
		}
		g.touched = touched
		var stot float64
		for _, c := range touched {
			stot += h[4*c+1]
		}
		var wl, sl, cl, tl float64
		for _, c := range touched[:len(touched)-1] {
			b := 4 * c
			wl += h[b]
			sl += h[b+1]
			cl += h[b+2]
			tl += h[b+3]
			cr := nTot - cl
			if cl < minChild {
				continue
			}
			if cr < minChild {
				break
			}
			if g.causal && (tl < 1 || cl-tl < 1 || tn-tl < 1 || cr-(tn-tl) < 1) {
				continue
			}
			wr := sn - wl
			if wl <= 0 || wr <= 0 {
				continue
			}
			sr := stot - sl
			if gain := sl*sl/wl + sr*sr/wr; gain > best {
				best, bestF, bestB = gain, j, c
			}
		}
		for _, c := range touched {
			clear(h[4*c : 4*c+4])
		}
	}
	if bestF < 0 {
		return id
	}
	// Stable partition, so the rows stay in ascending order.
	col := g.bins.Column(bestF)
	right := g.scratch[:0]
	lo := 0
	for _, i := range idx {
		if int(col[i]) <= bestB {
			idx[lo] = i
			lo++
		} else {
			right = append(right, i)
		}
	}
	copy(idx[lo:], right)
	g.scratch = right
	g.nodes[id].Feature = bestF
	g.nodes[id].bin = bestB
	g.nodes[id].Threshold = g.bins.Edges[bestF][bestB]
	l := g.grow(idx[:lo], depth+1)
	r := g.grow(idx[lo:], depth+1)
	g.nodes[id].Left, g.nodes[id].Right = l, r
	return id
}

// cfSample draws k distinct entries of from (which it reorders) and
// returns them sorted (see cfSortRows).
func cfSample(from []int32, k int, rng *rand.Rand, mark []uint64) []int32 {
	for j := range k {
		r := j + rng.IntN(len(from)-j)
		from[j], from[r] = from[r], from[j]
	}
	out := slices.Clone(from[:k])
	cfSortRows(out, mark)
	return out
}

// cfSortRows sorts rows, indexes below 64·len(mark), in increasing order.
// Distinct rows, as the forest's samples are, are sorted by setting their
// bits in mark and reading the set bits back in order, O(len(rows) +
// len(mark)) instead of a comparison sort's O(len(rows)·log len(rows));
// rows with a repeat are sorted by slices.Sort. mark must be all zero, and
// is again on return.
func cfSortRows(rows []int32, mark []uint64) {
	for i, r := range rows {
		w, b := r>>6, uint64(1)<<(r&63)
		if mark[w]&b != 0 {
			for _, r := range rows[:i] {
				mark[r>>6] = 0
			}
			slices.Sort(rows)
			return
		}
		mark[w] |= b
	}
	i := 0
	for w, word := range mark {
		if word == 0 {
			continue
		}
		mark[w] = 0
		for word != 0 {
			rows[i] = int32(w<<6 + bits.TrailingZeros64(word))
			i++
			word &= word - 1
		}
	}
}

// grow grows the causal trees of one arm on rows; prog counts them.
func (f CausalForest) grow(bins *Bins, rows []int32, yt, wt, treat, sw []float64, rng *rand.Rand, src rand.Source, prog *progress) []CausalTree {
	task := &cfTask{cfg: f, bins: bins, y: yt, w: wt, treat: treat, sw: sw, causal: true}
	groups := f.Trees / f.GroupSize
	seeds := make([][2]uint64, groups)
	for g := range seeds {
		seeds[g] = [2]uint64{rng.Uint64(), rng.Uint64()}
	}
	n := len(rows)
	s := max(2, int(f.SampleFraction*float64(n)))
	half := n
	if f.GroupSize > 1 {
		half = n / 2
	}
	s = min(s, half)
	trees := make([]CausalTree, f.Trees)
	growers := make(chan *cfGrower, f.Workers)
	for range f.Workers {
		growers <- newCFGrower(task, nil)
	}
	parallelFor(groups, f.Workers, func(gi int) {
		if stopped(src) != nil {
			return // the caller sees the stop and drops the trees
		}
		g := <-growers
		defer func() { growers <- g }()
		g.rng = rand.New(rand.NewPCG(seeds[gi][0], seeds[gi][1]))
		pool := slices.Clone(rows)
		if f.GroupSize > 1 {
			pool = cfSample(pool, half, g.rng, g.mark)
		}
		for b := range f.GroupSize {
			sub := cfSample(slices.Clone(pool), s, g.rng, g.mark)
			split, est := sub, sub
			if !f.NoHonesty {
				ns := max(1, int(f.HonestyFraction*float64(len(sub))))
				g.rng.Shuffle(len(sub), func(a, c int) { sub[a], sub[c] = sub[c], sub[a] })
				split, est = sub[:ns], sub[ns:]
				cfSortRows(split, g.mark)
				cfSortRows(est, g.mark)
			}
			trees[gi*f.GroupSize+b] = compactTree(g.growTree(split, est))
		}
		prog.add(f.GroupSize)
	})
	return trees
}

// oob returns out-of-bag predictions of target on rows from an honest
// regression forest of f.NuisanceTrees trees grown on half-samples
// (indexed by row number); prog counts the trees.
func (f CausalForest) oob(bins *Bins, rows []int32, target, sw []float64, rng *rand.Rand, prog *progress) []float64 {
	n := bins.Rows
	task := &cfTask{cfg: f, bins: bins, y: target, sw: sw}
	// grf's regression forest defaults: min leaf 5, imbalance alpha
	// 0.05 (which also keeps noise-chasing end cuts from growing deep,
	// chain-like trees).
	task.cfg.MinLeaf = 5
	task.cfg.MaxDepth = 0
	task.cfg.Alpha = 0.05
	trees := f.NuisanceTrees
	seeds := make([][2]uint64, trees)
	for b := range seeds {
		seeds[b] = [2]uint64{rng.Uint64(), rng.Uint64()}
	}
	// Trees are summed in fixed shards (tree b in shard b mod 4, in
	// order) so the result does not depend on the number of workers.
	const shards = 4
	sums := make([][]float64, shards)
	counts := make([][]float64, shards)
	s := max(1, len(rows)/2)
	parallelFor(shards, f.Workers, func(k int) {
		sums[k] = make([]float64, n)
		counts[k] = make([]float64, n)
		g := newCFGrower(task, nil)
		pool := make([]int32, len(rows))
		for b := k; b < trees; b += shards {
			g.rng = rand.New(rand.NewPCG(seeds[b][0], seeds[b][1]))
			copy(pool, rows)
			// An honest tree as grf's regression forest: half of the
			// subsample places the splits, the other half fills the
			// leaves, and the rows outside it get the prediction.
			in := cfSample(pool, s, g.rng, g.mark)
			g.rng.Shuffle(len(in), func(a, c int) { in[a], in[c] = in[c], in[a] })
			split, est := in[:len(in)/2], in[len(in)/2:]
			cfSortRows(split, g.mark)
			nodes := g.growTree(split, est)
			for _, i := range pool[s:] {
				nd := int32(0)
				for nodes[nd].Left >= 0 {
					c := &nodes[nd]
					if int(bins.Codes[c.Feature*n+int(i)]) <= c.bin {
						nd = c.Left
					} else {
						nd = c.Right
					}
				}
				if c := &nodes[nd]; c.N > 0 {
					sums[k][i] += c.Y / c.N
					counts[k][i]++
				}
			}
			prog.step()
		}
	})
	var total, tw float64
	for _, i := range rows {
		w := 1.0
		if sw != nil {
			w = sw[i]
		}
		total += w * target[i]
		tw += w
	}
	mean := 0.0
	if tw > 0 {
		mean = total / tw
	}
	out := make([]float64, n)
	for _, i := range rows {
		var s, c float64
		for k := range shards {
			s += sums[k][i]
			c += counts[k][i]
		}
		if c > 0 {
			out[i] = s / c
		} else {
			out[i] = mean
		}
	}
	return out
}

// cfMoments holds forest-averaged leaf means of w̃, ỹ, w̃ỹ and w̃².
type cfMoments struct{ w, y, wy, ww float64 }

func (m cfMoments) tau() (tau, q float64) {
	q = m.ww - m.w*m.w
	if q <= 0 {
		return 0, 0
	}
	return (m.wy - m.w*m.y) / q, q
}

// moments returns the means of leaf l in float64.
func (l *cfLeaf) moments() cfMoments {
	return cfMoments{float64(l[0]), float64(l[1]), float64(l[2]), float64(l[3])}
}

// cfSym is a symmetric 4×4 matrix over the components (w̃, ỹ, w̃ỹ, w̃²) of
// cfMoments, its upper triangle row by row.
type cfSym [10]float64

// addOuter adds d·dᵀ to s.
func (s *cfSym) addOuter(d cfMoments) {
	s[0] += d.w * d.w
	s[1] += d.w * d.y
	s[2] += d.w * d.wy
	s[3] += d.w * d.ww
	s[4] += d.y * d.y
	s[5] += d.y * d.wy
	s[6] += d.y * d.ww
	s[7] += d.wy * d.wy
	s[8] += d.wy * d.ww
	s[9] += d.ww * d.ww
}

// quad returns uᵀ·s·u.
func (s *cfSym) quad(u cfMoments) float64 {
	return s[0]*u.w*u.w + s[4]*u.y*u.y + s[7]*u.wy*u.wy + s[9]*u.ww*u.ww +
		2*(s[1]*u.w*u.y+s[2]*u.w*u.wy+s[3]*u.w*u.ww+s[5]*u.y*u.wy+s[6]*u.y*u.ww+s[8]*u.wy*u.ww)
}

// add adds o to m.
func (m *cfMoments) add(o cfMoments) {
	m.w += o.w
	m.y += o.y
	m.wy += o.wy
	m.ww += o.ww
}

func (m cfMoments) sub(o cfMoments) cfMoments {
	return cfMoments{m.w - o.w, m.y - o.y, m.wy - o.wy, m.ww - o.ww}
}

func (m cfMoments) dot(o cfMoments) float64 {
	return m.w*o.w + m.y*o.y + m.wy*o.wy + m.ww*o.ww
}

// cfRowStats accumulates, for one row and one arm, what its estimate and
// little-bags variance need, one group of trees at a time, so that no
// tree's leaf has to be kept: the sum of the non-empty leaves' means and
// their number, and over the G groups whose every leaf is non-empty the
// scatter of the group means ḡ_g around the first one's (B1, B2) and the
// scatter of the leaves' means m_b around their group's mean (W).
type cfRowStats struct {
	sum    cfMoments
	n      int32
	groups int32
	ref    cfMoments // the first full group's mean
	b1     cfMoments // Σ_g (ḡ_g − ref)
	b2     cfSym     // Σ_g (ḡ_g − ref)(ḡ_g − ref)ᵀ
	w      cfSym     // Σ_g Σ_{b∈g} (m_b − ḡ_g)(m_b − ḡ_g)ᵀ
}

// addGroup adds the leaves ls of one group of trees (in tree order).
func (s *cfRowStats) addGroup(ls []*cfLeaf) {
	full := true
	var g cfMoments
	for _, l := range ls {
		if l.empty() {
			full = false
			continue
		}
		mb := l.moments()
		s.sum.add(mb)
		s.n++
		g.add(mb)
	}
	if !full || len(ls) < 2 {
		return
	}
	inv := 1 / float64(len(ls))
	g = cfMoments{g.w * inv, g.y * inv, g.wy * inv, g.ww * inv}
	for _, l := range ls {
		s.w.addOuter(l.moments().sub(g))
	}
	if s.groups == 0 {
		s.ref = g
	}
	s.groups++
	d := g.sub(s.ref)
	s.b1.add(d)
	s.b2.addOuter(d)
}

// estimate returns τ̂(x) and, when withVar, its little-bags variance, from
// the statistics of the trees of one arm in groups of l.
//
// τ = (wy − w·y)/(ww − w²) is linearised around the forest average:
// ψ_b = uᵀ(m_b − m̄)/q with u = (2w̄τ − ȳ, −w̄, 1, −τ) over (w̃, ỹ, w̃ỹ, w̃²)
// and q = ww − w². Over the G full groups (T = G·l trees) the variance of
// the group means of ψ and the within-group noise are
//
//	between = uᵀ(B2/G − (B1/G)(B1/G)ᵀ)u/q²,  noise = uᵀWu/(q²·T·(l−1)),
//
// which cfDebias turns into the variance estimate.
func (s *cfRowStats) estimate(l int, withVar bool) (tau, v float64) {
	if s.n == 0 {
		return 0, math.Inf(1)
	}
	inv := 1 / float64(s.n)
	avg := cfMoments{s.sum.w * inv, s.sum.y * inv, s.sum.wy * inv, s.sum.ww * inv}
	tau, q := avg.tau()
	if !withVar {
		return tau, 0
	}
	if q <= 0 || l < 2 || s.groups < 2 {
		return tau, math.Inf(1)
	}
	u := cfMoments{2*avg.w*tau - avg.y, -avg.w, 1, -tau}
	g := float64(s.groups)
	mean := u.dot(s.b1) / g
	between := (s.b2.quad(u)/g - mean*mean) / (q * q)
	noise := s.w.quad(u) / (q * q * g * float64(l) * float64(l-1))
	return tau, cfDebias(between, noise, int(s.groups))
}

// cfDebias removes the Monte Carlo noise of finitely many groups from the
// between-group variance, as grf's objective Bayes debiaser: with
// V₀ = between − noise and s = max(between, noise)·√(2/G), it returns the
// mean of a N(V₀, s²) prior truncated to positive values,
// V₀ + s·φ(V₀/s)/Φ(V₀/s).
func cfDebias(between, noise float64, groups int) float64 {
	v0 := between - noise
	s := max(between, noise) * math.Sqrt(2/float64(groups))
	if s <= 0 {
		return max(v0, 0)
	}
	r := v0 / s
	num := math.Exp(-r*r/2) / math.Sqrt(2*math.Pi)
	den := 0.5 * math.Erfc(-r/math.Sqrt2)
	if den <= 0 {
		return 0
	}
	return v0 + s*num/den
}

// Effects implements UpliftModel. It panics if x has the wrong number of
// columns.
func (m *CausalForestModel) Effects(dst, x *mat.Dense) *mat.Dense {
	dst = upliftEffectsDst(dst, x, m.Features, m.Arms)
	m.rows(x, false, func(i, k int, tau, _ float64) { dst.Set(i, k, tau) })
	return dst
}

// Variances returns the n×K matrix of the little-bags variance estimates
// of the effects (+Inf where it cannot be estimated, for example when
// GroupSize is 1).
func (m *CausalForestModel) Variances(dst, x *mat.Dense) *mat.Dense {
	dst = upliftEffectsDst(dst, x, m.Features, m.Arms)
	m.rows(x, true, func(i, k int, _, v float64) { dst.Set(i, k, v) })
	return dst
}

// Intervals implements IntervalModel: τ̂ ± z·√V̂ with z the (1+level)/2
// normal quantile and V̂ the little-bags variance. It panics if level is
// not in (0, 1) or the shapes do not match.
func (m *CausalForestModel) Intervals(lo, hi, x *mat.Dense, level float64) (*mat.Dense, *mat.Dense) {
	if !(level > 0 && level < 1) {
		panic(fmt.Sprintf("causal: interval level %v not in (0, 1)", level))
	}
	lo = upliftEffectsDst(lo, x, m.Features, m.Arms)
	hi = upliftEffectsDst(hi, x, m.Features, m.Arms)
	z := distuv.UnitNormal.Quantile((1 + level) / 2)
	m.rows(x, true, func(i, k int, tau, v float64) {
		h := z * math.Sqrt(v)
		lo.Set(i, k, tau-h)
		hi.Set(i, k, tau+h)
	})
	return lo, hi
}

// EffectsIntervals returns what Effects and Intervals return, from one walk
// of the trees.
func (m *CausalForestModel) EffectsIntervals(eff, lo, hi, x *mat.Dense, level float64) (*mat.Dense, *mat.Dense, *mat.Dense) {
	if !(level > 0 && level < 1) {
		panic(fmt.Sprintf("causal: interval level %v not in (0, 1)", level))
	}
	eff = upliftEffectsDst(eff, x, m.Features, m.Arms)
	lo = upliftEffectsDst(lo, x, m.Features, m.Arms)
	hi = upliftEffectsDst(hi, x, m.Features, m.Arms)
	z := distuv.UnitNormal.Quantile((1 + level) / 2)
	m.rows(x, true, func(i, k int, tau, v float64) {
		h := z * math.Sqrt(v)
		eff.Set(i, k, tau)
		lo.Set(i, k, tau-h)
		hi.Set(i, k, tau+h)
	})
	return eff, lo, hi
}

// cfBlock is the most rows that are sorted through a tree before the
// next tree. Every tree is read from memory once per block (a default
// forest on Hillstrom holds 65 MB of trees), so a block must be large; its
// per-row sums, bins and indexes must stay in a core's cache.
const cfBlock = 8192

// cfMinBlock is the fewest rows of a block made smaller so that the
// workers get equal shares. Small blocks walk the trees (see cfSortFrom),
// whose time is per row, so even a request of 64 rows is split: on the
// Hillstrom forest it took half the time on two cores.
const cfMinBlock = 32

// cfBlocks returns the number of blocks for n rows and the rows of each
// but the last: at most cfBlock rows a block, and as many blocks as it
// takes to give the workers equal numbers (three blocks on two cores
// would leave one core idle for a third of the time), as long as blocks
// keep at least cfMinBlock rows:
//
//	blocks = max(⌈n/cfBlock⌉, min(⌈⌈n/cfBlock⌉/w⌉·w, ⌊n/cfMinBlock⌋)),  size = ⌈n/blocks⌉.
func cfBlocks(n, workers int) (blocks, size int) {
	if n == 0 {
		return 0, 0
	}
	w := max(workers, 1)
	blocks = (n + cfBlock - 1) / cfBlock
	blocks = max(blocks, min((blocks+w-1)/w*w, n/cfMinBlock))
	size = (n + blocks - 1) / blocks
	return (n + size - 1) / size, size
}

// rows calls f with the estimate (and variance) of every row and arm. It
// takes the rows in blocks (see cfBlocks), bins each block's rows once (see
// cfRank; a byte a value for tables of up to 255 thresholds), then sorts
// the whole block through every tree before the next (see cfSorter); the
// block's per-row sums (32 bytes a row for the estimate, 264 with the
// variance), bins and row indexes are all the memory it needs.
func (m *CausalForestModel) rows(x *mat.Dense, withVar bool, f func(i, k int, tau, v float64)) {
	if m.thresholds == nil {
		m = m.ranked()
	}
	widest := 0
	for _, th := range m.thresholds {
		widest = max(widest, len(th))
	}
	switch {
	case widest <= math.MaxUint8:
		cfRows[uint8](m, x, withVar, f)
	case widest <= math.MaxUint16:
		cfRows[uint16](m, x, withVar, f)
	default:
		cfRows[uint32](m, x, withVar, f)
	}
}

// ranked returns a copy of m whose splits know their ranks, for a model
// built without Fit or UnmarshalJSON.
func (m *CausalForestModel) ranked() *CausalForestModel {
	c := *m
	c.Forests = make([][]CausalTree, len(m.Forests))
	for k, trees := range m.Forests {
		c.Forests[k] = slices.Clone(trees)
		for b := range c.Forests[k] {
			c.Forests[k][b].split = slices.Clone(trees[b].split)
		}
	}
	c.rankSplits()
	return &c
}

// cfRows is rows for a model whose widest threshold table fits in E.
func cfRows[E cfBin](m *CausalForestModel, x *mat.Dense, withVar bool, f func(i, k int, tau, v float64)) {
	n, p := x.Dims()
	blocks, size := cfBlocks(n, runtime.GOMAXPROCS(0))
	sortFrom := cfSortFrom(m)
	raw := x.RawMatrix()
	if !withVar {
		// The point estimate needs only each row's running sums of the
		// leaf means.
		parallelWork(blocks, 0, func() func(int) {
			sums := make([]cfMoments, size)
			nt := make([]int32, size)
			s := newCFSorter[E](size, p, sortFrom)
			idx := make([]int32, size)
			return func(c int) {
				lo, hi := c*size, min(n, (c+1)*size)
				nr := hi - lo
				s.bin(m.thresholds, raw.Data[lo*raw.Stride:], raw.Stride, nr, p)
				for k, trees := range m.Forests {
					clear(sums[:nr])
					clear(nt[:nr])
					for b := range trees {
						t := &trees[b]
						s.index(t, idx)
						for r, leaf := range idx[:nr] {
							l := &t.leaves[leaf]
							if l.empty() {
								continue
							}
							sums[r].add(l.moments())
							nt[r]++
						}
					}
					for r := range nr {
						tau := 0.0
						if nt[r] > 0 {
							inv := 1 / float64(nt[r])
							sum := sums[r]
							tau, _ = cfMoments{sum.w * inv, sum.y * inv, sum.wy * inv, sum.ww * inv}.tau()
						}
						f(lo+r, k, tau, 0)
					}
				}
			}
		})
		return
	}
	// Per row the variance needs sums over the trees and over their
	// groups (cfRowStats, 264 bytes); the block's rows are sorted through
	// the l trees of a group, keeping only the index of the leaf each
	// reaches, and added to their sums before the next group.
	parallelWork(blocks, 0, func() func(int) {
		stats := make([]cfRowStats, size)
		s := newCFSorter[E](size, p, sortFrom)
		l := max(m.GroupSize, 1)
		idx := make([][]int32, l)
		for b := range idx {
			idx[b] = make([]int32, size)
		}
		ls := make([]*cfLeaf, l)
		return func(c int) {
			lo, hi := c*size, min(n, (c+1)*size)
			nr := hi - lo
			s.bin(m.thresholds, raw.Data[lo*raw.Stride:], raw.Stride, nr, p)
			for k, trees := range m.Forests {
				clear(stats[:nr])
				for g := 0; g < len(trees); g += l {
					group := trees[g:min(g+l, len(trees))]
					for b := range group {
						s.index(&group[b], idx[b])
					}
					gl := ls[:len(group)]
					if len(group) < l {
						// A last, incomplete group counts only towards
						// the estimate.
						for b := range group {
							gl = ls[:1]
							for r := range nr {
								gl[0] = &group[b].leaves[idx[b][r]]
								stats[r].addGroup(gl)
							}
						}
						break
					}
					for r := range nr {
						for b := range group {
							gl[b] = &group[b].leaves[idx[b][r]]
						}
						stats[r].addGroup(gl)
					}
				}
				for r := range nr {
					tau, v := stats[r].estimate(l, withVar)
					f(lo+r, k, tau, v)
				}
			}
		}
	})
}
