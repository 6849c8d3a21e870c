package causal

import (
	"fmt"
	"math"
	"slices"
)

// Uplift evaluation metrics.
//
// Every metric ranks the units by a predicted uplift score, highest first,
// and compares treated and control outcomes among the top of the ranking.
// The treatment is 0 (control) or 1 (treated); the outcome may be binary or
// continuous. Weights (nil means 1 each) act as frequency weights: a unit
// with integer weight w counts exactly like w copies of itself, and the
// count of units n becomes the total weight W. With nil weights every
// metric reproduces its reference implementation (named in its doc
// comment) exactly.
//
// Ties. Curves are evaluated only at the ends of groups of equal scores,
// as scikit-uplift does (threshold indices at the last row of each group):
// units with equal scores enter the target set together, so the curve is
// the straight line between group ends and no arbitrary order inside a
// tie changes it. -0 and +0 are equal scores. Uplift at k cuts the ranking
// at a fixed count, which may split a tie group; there the order is that
// of scikit-uplift's np.argsort(score, kind="mergesort")[::-1]: score
// descending, and among equal scores the later row first.
//
// Notation for a prefix of the ranking (the units targeted so far):
// N is its size, Nt and Nc its treated and control sizes, Yt and Yc the
// sums of the outcome over its treated and control units.
//
//	Qini curve:   Q(N) = Yt − Yc·Nt/Nc          (Yt when Nc = 0)
//	uplift curve: U(N) = (Yt/Nt − Yc/Nc)·N      (a term is 0 when its group is empty)
//
// Both curves start at (0, 0) and end at the same point for every ranking.

// Curve is a Qini or uplift curve: the curve passes through the points
// (X[i], Y[i]) and is linear between them. X is the number of units
// targeted (the total weight with weights), from 0 to n.
type Curve struct {
	// Name labels the curve in plots and tables.
	Name string
	// X and Y are the knots of the curve, X increasing from 0.
	X, Y []float64
	// Perfect marks the oracle curve of a data set (drawn dashed).
	Perfect bool
}

// UpliftMetrics holds the scores of one ranking of one data set.
type UpliftMetrics struct {
	// Qini is scikit-uplift's qini_auc_score (negative_effect=True).
	Qini float64
	// QiniCausalML is CausalML's qini_score with normalize=True.
	QiniCausalML float64
	// AUUC is scikit-uplift's uplift_auc_score.
	AUUC float64
	// UpliftAtK is scikit-uplift's uplift_at_k with strategy "overall".
	UpliftAtK float64
	// K is the fraction used by UpliftAtK.
	K float64
}

// Normalisation descriptions, for reports.
const (
	QiniNormalisation         = "sklift qini_auc_score: (area under Qini curve - area under random line) / (same for the perfect Qini curve, negative_effect=True)"
	QiniCausalMLNormalisation = "causalml qini_score(normalize=True): (1/(n+1)) * sum over k=0..n of [Q(k) - Q(n)*k/n] / |Q(n)|"
	AUUCNormalisation         = "sklift uplift_auc_score: (area under uplift curve - area under random line) / (same for the perfect uplift curve)"
	UpliftAtKDefinition       = "sklift uplift_at_k(strategy=\"overall\"): mean outcome of treated minus control among the top floor(k*n) units"
)

// UpliftScores computes every uplift metric of the ranking given by score:
//
// Qini (scikit-uplift qini_auc_score, negative_effect=True):
//
//	(A(model) − A(random)) / (A(perfect) − A(random))
//
// where A is the trapezoid area under a Qini curve, the random line joins
// (0, 0) to (n, Q(n)) so A(random) = n·Q(n)/2, and the perfect curve ranks
// units by y·t − y·(1−t): treated units by outcome descending, then the
// control units by outcome ascending.
//
// QiniCausalML (CausalML qini_score with its default normalize=True):
//
//	(1/(n+1)) Σ_{k=0..n} [Q(k) − Q(n)·k/n] / |Q(n)|  =  (A'(model) − n·Q(n)/2) / ((n+1)·|Q(n)|)
//
// CausalML evaluates Q at every row k = 0..n (row 0 is 0), replaces the
// rows where Nc = 0 (NaN there) by linear interpolation, divides each
// column by the absolute value of its last entry and subtracts the mean
// of ten random orderings (numpy seed 42); the sum over rows divided by
// the number of rows n+1 is the score. Here the random orderings are
// replaced by their expectation, the straight line from (0, 0) to
// (n, Q(n)); A' is the trapezoid area under the Qini curve through its
// knots with Nc > 0, which is the row sum minus Q(n)/2. Within a tie group
// Q is interpolated linearly (CausalML orders ties arbitrarily).
//
// AUUC (scikit-uplift uplift_auc_score): the same normalisation as Qini on
// the uplift curve U, with random line from (0, 0) to (n, U(n)). For a
// binary outcome the perfect uplift curve is scikit-uplift's: rank by
// 2·[y = t] + s where s = y when the control responders outnumber the
// treated non-responders and s = t otherwise. scikit-uplift defines the
// perfect curves for binary outcomes only; for other outcomes the perfect
// uplift curve uses the perfect Qini ranking y·t − y·(1−t).
//
// UpliftAtK (scikit-uplift uplift_at_k, strategy "overall"): among the
// first floor(k·n) units of the ranking, the mean outcome of the treated
// minus the mean outcome of the control units. With non-integer weights
// the unit at the cut counts with the fraction of its weight that fits.
// It is NaN when either group is empty among the top units. k must lie in
// (0, 1).
//
// A ratio is NaN when its denominator is 0 (for example when every unit
// has the same outcome).
func UpliftScores(score []float64, treatment []int, y, weights []float64, k float64) (UpliftMetrics, error) {
	if !(k > 0 && k < 1) {
		return UpliftMetrics{}, fmt.Errorf("%w: uplift at k needs k in (0, 1), got %v", ErrInput, k)
	}
	r, err := newMetricRanking(score, treatment, y, weights)
	if err != nil {
		return UpliftMetrics{}, err
	}
	ev := newMetricEvaluator(r.binary, treatment, y, weights)
	return ev.eval(r, nil, k), nil
}

// QiniAUCScore returns scikit-uplift's qini_auc_score (negative_effect=True)
// of the ranking by score; see UpliftScores for the formula.
func QiniAUCScore(score []float64, treatment []int, y, weights []float64) (float64, error) {
	m, err := UpliftScores(score, treatment, y, weights, 0.5)
	return m.Qini, err
}

// QiniScoreCausalML returns CausalML's qini_score (normalize=True) of the
// ranking by score; see UpliftScores for the formula.
func QiniScoreCausalML(score []float64, treatment []int, y, weights []float64) (float64, error) {
	m, err := UpliftScores(score, treatment, y, weights, 0.5)
	return m.QiniCausalML, err
}

// UpliftAUCScore returns the AUUC as scikit-uplift's uplift_auc_score of the
// ranking by score; see UpliftScores for the formula.
func UpliftAUCScore(score []float64, treatment []int, y, weights []float64) (float64, error) {
	m, err := UpliftScores(score, treatment, y, weights, 0.5)
	return m.AUUC, err
}

// UpliftAtK returns scikit-uplift's uplift_at_k with strategy "overall":
// the mean treated outcome minus the mean control outcome among the first
// floor(k·n) units ranked by score, k in (0, 1); see UpliftScores.
func UpliftAtK(score []float64, treatment []int, y, weights []float64, k float64) (float64, error) {
	m, err := UpliftScores(score, treatment, y, weights, k)
	return m.UpliftAtK, err
}

// QiniCurve returns the Qini curve Q(N) = Yt − Yc·Nt/Nc of the ranking by
// score, with one knot per group of equal scores after the origin (the
// points of scikit-uplift's qini_curve).
func QiniCurve(score []float64, treatment []int, y, weights []float64) (Curve, error) {
	r, err := newMetricRanking(score, treatment, y, weights)
	if err != nil {
		return Curve{}, err
	}
	x, q, _ := r.knots()
	return Curve{Name: "Model", X: x, Y: q}, nil
}

// UpliftCurve returns the uplift curve U(N) = (Yt/Nt − Yc/Nc)·N of the
// ranking by score (the points of scikit-uplift's uplift_curve).
func UpliftCurve(score []float64, treatment []int, y, weights []float64) (Curve, error) {
	r, err := newMetricRanking(score, treatment, y, weights)
	if err != nil {
		return Curve{}, err
	}
	x, _, u := r.knots()
	return Curve{Name: "Model", X: x, Y: u}, nil
}

// PerfectQiniCurve returns the Qini curve of the oracle ranking
// y·t − y·(1−t) (scikit-uplift's perfect_qini_curve, negative_effect=True).
func PerfectQiniCurve(treatment []int, y, weights []float64) (Curve, error) {
	score, err := metricPerfectScore(treatment, y)
	if err != nil {
		return Curve{}, err
	}
	c, err := QiniCurve(score, treatment, y, weights)
	c.Name, c.Perfect = "Perfect", true
	return c, err
}

// PerfectUpliftCurve returns the uplift curve of the oracle ranking
// (scikit-uplift's perfect_uplift_curve for a binary outcome; the perfect
// Qini ranking otherwise, see UpliftScores).
func PerfectUpliftCurve(treatment []int, y, weights []float64) (Curve, error) {
	if len(treatment) != len(y) {
		return Curve{}, fmt.Errorf("%w: %d treatments but %d outcomes", ErrInput, len(treatment), len(y))
	}
	if weights != nil && len(weights) != len(y) {
		return Curve{}, fmt.Errorf("%w: %d weights but %d outcomes", ErrInput, len(weights), len(y))
	}
	binary := metricIsBinary(y)
	useY := false
	if binary {
		var cr, tn float64
		for i := range y {
			w := 1.0
			if weights != nil {
				w = weights[i]
			}
			switch {
			case treatment[i] == 0 && y[i] == 1:
				cr += w
			case treatment[i] == 1 && y[i] == 0:
				tn += w
			}
		}
		useY = cr > tn
	}
	var score []float64
	if binary {
		score = make([]float64, len(y))
		for i := range y {
			s := float64(treatment[i])
			if useY {
				s = y[i]
			}
			if y[i] == float64(treatment[i]) {
				s += 2
			}
			score[i] = s
		}
	} else {
		var err error
		if score, err = metricPerfectScore(treatment, y); err != nil {
			return Curve{}, err
		}
	}
	c, err := UpliftCurve(score, treatment, y, weights)
	c.Name, c.Perfect = "Perfect", true
	return c, err
}

// RandomCurve returns the random-targeting line of c: the straight line
// from (0, 0) to the last knot of c.
func RandomCurve(c Curve) Curve {
	if len(c.X) == 0 {
		return Curve{Name: "Random"}
	}
	n := len(c.X) - 1
	return Curve{Name: "Random", X: []float64{0, c.X[n]}, Y: []float64{0, c.Y[n]}}
}

// metricRanking is one data set ranked by one score: the rows in rank
// order with the outcome, treatment and weight copied into that order.
type metricRanking struct {
	ord    []int32   // row of each rank position
	ys     []float64 // outcome by rank
	ts     []bool    // treated by rank
	ws     []float64 // weight by rank; nil means 1
	end    []bool    // last position of a group of equal scores
	total  float64   // total weight
	binary bool      // outcome in {0, 1}
}

// metricCheck validates the inputs shared by the metrics.
func metricCheck(score []float64, treatment []int, y, weights []float64) error {
	n := len(y)
	if n == 0 {
		return fmt.Errorf("%w: no units", ErrInput)
	}
	if len(score) != n {
		return fmt.Errorf("%w: %d scores but %d outcomes", ErrInput, len(score), n)
	}
	if len(treatment) != n {
		return fmt.Errorf("%w: %d treatments but %d outcomes", ErrInput, len(treatment), n)
	}
	if weights != nil && len(weights) != n {
		return fmt.Errorf("%w: %d weights but %d outcomes", ErrInput, len(weights), n)
	}
	if n > math.MaxInt32 {
		return fmt.Errorf("%w: %d units, at most %d supported", ErrInput, n, math.MaxInt32)
	}
	var wt, wc float64
	for i := range n {
		if s := score[i]; math.IsNaN(s) || math.IsInf(s, 0) {
			return fmt.Errorf("%w: score %d is %v", ErrInput, i, s)
		}
		if v := y[i]; math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: outcome %d is %v", ErrInput, i, v)
		}
		w := 1.0
		if weights != nil {
			w = weights[i]
			if !(w >= 0) || math.IsInf(w, 0) {
				return fmt.Errorf("%w: weight %d is %v", ErrInput, i, w)
			}
		}
		switch treatment[i] {
		case 0:
			wc += w
		case 1:
			wt += w
		default:
			return fmt.Errorf("%w: treatment %d is %d, want 0 or 1", ErrInput, i, treatment[i])
		}
	}
	if wt == 0 {
		return fmt.Errorf("%w: no treated units", ErrInput)
	}
	if wc == 0 {
		return fmt.Errorf("%w: no control units", ErrInput)
	}
	return nil
}

func metricIsBinary(y []float64) bool {
	for _, v := range y {
		if v != 0 && v != 1 {
			return false
		}
	}
	return true
}

// metricPerfectScore returns y·t − y·(1−t), the perfect Qini ranking.
func metricPerfectScore(treatment []int, y []float64) ([]float64, error) {
	if len(treatment) != len(y) {
		return nil, fmt.Errorf("%w: %d treatments but %d outcomes", ErrInput, len(treatment), len(y))
	}
	s := make([]float64, len(y))
	for i, v := range y {
		if treatment[i] == 0 {
			v = -v
		}
		s[i] = v
	}
	return s, nil
}

// newMetricRanking validates the inputs and ranks the rows by score.
func newMetricRanking(score []float64, treatment []int, y, weights []float64) (*metricRanking, error) {
	if err := metricCheck(score, treatment, y, weights); err != nil {
		return nil, err
	}
	return metricRank(score, treatment, y, weights), nil
}

// metricRank ranks valid inputs by score, descending, ties by row
// descending (the order of numpy's argsort(kind="mergesort")[::-1]).
func metricRank(score []float64, treatment []int, y, weights []float64) *metricRanking {
	n := len(score)
	ord := metricSortDesc(score)
	r := &metricRanking{
		ord:    ord,
		ys:     make([]float64, n),
		ts:     make([]bool, n),
		end:    make([]bool, n),
		binary: true,
	}
	if weights != nil {
		r.ws = make([]float64, n)
	}
	for i, row := range ord {
		v := y[row]
		r.ys[i] = v
		if v != 0 && v != 1 {
			r.binary = false
		}
		r.ts[i] = treatment[row] == 1
		w := 1.0
		if weights != nil {
			w = weights[row]
			r.ws[i] = w
		}
		r.total += w
		r.end[i] = i == n-1 || score[row] != score[ord[i+1]]
	}
	return r
}

// metricSortDesc returns the rows sorted by score descending and, among
// equal scores, by row descending. Scores must be finite.
func metricSortDesc(score []float64) []int32 {
	n := len(score)
	// Descending float order as ascending uint64 order: flip the sign
	// bit of non-negative numbers and every bit of negative ones, then
	// complement. -0 and +0 map to the same key.
	keys := make([]uint64, n)
	ord := make([]int32, n)
	for i := range n {
		// Feed rows in reverse so that a stable ascending sort leaves
		// equal keys by row descending.
		row := n - 1 - i
		s := score[row]
		if s == 0 {
			s = 0
		}
		b := math.Float64bits(s)
		if b>>63 == 0 {
			b |= 1 << 63
		} else {
			b = ^b
		}
		keys[i] = ^b
		ord[i] = int32(row)
	}
	if n < 2048 {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int {
			switch {
			case keys[a] < keys[b]:
				return -1
			case keys[a] > keys[b]:
				return 1
			}
			return 0
		})
		out := make([]int32, n)
		for i, j := range idx {
			out[i] = ord[j]
		}
		return out
	}
	metricRadixSort(keys, ord)
	return ord
}

// metricRadixSort sorts keys ascending, stably, carrying vals along: an LSD
// radix sort with 16-bit digits that skips digits shared by every key.
func metricRadixSort(keys []uint64, vals []int32) {
	n := len(keys)
	var counts [4][1 << 16]int32
	for _, k := range keys {
		counts[0][k&0xffff]++
		counts[1][k>>16&0xffff]++
		counts[2][k>>32&0xffff]++
		counts[3][k>>48]++
	}
	k2 := make([]uint64, n)
	v2 := make([]int32, n)
	out := vals
	for d := range 4 {
		c := &counts[d]
		shift := uint(16 * d)
		if c[keys[0]>>shift&0xffff] == int32(n) {
			continue // every key has this digit
		}
		var sum int32
		for i := range c {
			c[i], sum = sum, sum+c[i]
		}
		for i, k := range keys {
			b := k >> shift & 0xffff
			p := c[b]
			c[b]++
			k2[p] = k
			v2[p] = vals[i]
		}
		keys, k2 = k2, keys
		vals, v2 = v2, vals
	}
	if &vals[0] != &out[0] {
		copy(out, vals)
	}
}

// knots returns the knots of the Qini and uplift curves, origin included.
func (r *metricRanking) knots() (x, q, u []float64) {
	x, q, u = []float64{0}, []float64{0}, []float64{0}
	var nt, nc, yt, yc float64
	for i, v := range r.ys {
		w := 1.0
		if r.ws != nil {
			w = r.ws[i]
		}
		if r.ts[i] {
			nt += w
			yt += w * v
		} else {
			nc += w
			yc += w * v
		}
		if r.end[i] {
			qq, uu := metricQU(nt, nc, yt, yc)
			x = append(x, nt+nc)
			q = append(q, qq)
			u = append(u, uu)
		}
	}
	return x, q, u
}

// metricQU returns the Qini and uplift curve values of a prefix with the
// scikit-uplift conventions for empty groups.
func metricQU(nt, nc, yt, yc float64) (q, u float64) {
	q = yt
	if nc > 0 {
		q -= yc * nt / nc
		u -= yc / nc
	}
	if nt > 0 {
		u += yt / nt
	}
	return q, u * (nt + nc)
}

// metricAreas is what one pass over a ranking yields.
type metricAreas struct {
	total      float64 // total weight
	aq, au     float64 // trapezoid areas under the Qini and uplift curves
	acm        float64 // area under the Qini curve through knots with Nc > 0
	qEnd, uEnd float64 // Q(n) and U(n)
	upk        float64 // uplift at k
	nt, nc     float64 // treated and control weight
	yt, yc     float64 // treated and control outcome sums
}

// weightTotal returns the total weight of the ranking under the
// multiplicities m (indexed by row; nil means 1 each).
func (r *metricRanking) weightTotal(m []uint32) float64 {
	if m == nil {
		return r.total
	}
	var s float64
	if r.ws == nil {
		for _, row := range r.ord {
			s += float64(m[row])
		}
		return s
	}
	for i, row := range r.ord {
		s += r.ws[i] * float64(m[row])
	}
	return s
}

// pass walks the ranking once with the unit weights multiplied by m
// (indexed by row; nil means 1 each) and integrates the curves. total is
// the total weight, which sets the cut floor(k·total) of uplift at k.
func (r *metricRanking) pass(m []uint32, k, total float64) metricAreas {
	cut := math.Floor(k * total)
	var nt, nc, yt, yc float64
	var pn, pq, pu, cn, cq float64
	var kn, knt, knc, kyt, kyc float64
	var a metricAreas
	ws, ord, ts, end := r.ws, r.ord, r.ts, r.end
	for i, v := range r.ys {
		w := 1.0
		if ws != nil {
			w = ws[i]
		}
		if m != nil {
			w *= float64(m[ord[i]])
		}
		if w != 0 {
			if kn < cut {
				f := min(w, cut-kn)
				kn += f
				if ts[i] {
					knt += f
					kyt += f * v
				} else {
					knc += f
					kyc += f * v
				}
			}
			if ts[i] {
				nt += w
				yt += w * v
			} else {
				nc += w
				yc += w * v
			}
		}
		if !end[i] {
			continue
		}
		n := nt + nc
		if n == pn {
			continue
		}
		q, u := metricQU(nt, nc, yt, yc)
		a.aq += (n - pn) * (q + pq) / 2
		a.au += (n - pn) * (u + pu) / 2
		if nc > 0 {
			a.acm += (n - cn) * (q + cq) / 2
			cn, cq = n, q
		}
		pn, pq, pu = n, q, u
	}
	a.total, a.qEnd, a.uEnd = nt+nc, pq, pu
	a.nt, a.nc, a.yt, a.yc = nt, nc, yt, yc
	a.upk = kyt/knt - kyc/knc
	return a
}

// metricGroupAreas integrates the Qini and uplift curves of a ranking
// given as groups of tied units by their increments of (Nt, Yt, Nc, Yc).
func metricGroupAreas(groups ...[4]float64) (aq, au float64) {
	var nt, yt, nc, yc, pn, pq, pu float64
	for _, g := range groups {
		nt += g[0]
		yt += g[1]
		nc += g[2]
		yc += g[3]
		n := nt + nc
		if n == pn {
			continue
		}
		q, u := metricQU(nt, nc, yt, yc)
		aq += (n - pn) * (q + pq) / 2
		au += (n - pn) * (u + pu) / 2
		pn, pq, pu = n, q, u
	}
	return aq, au
}

// metricPerfectBinary returns the areas under scikit-uplift's perfect Qini
// and uplift curves of a binary outcome from the weights of the four
// (treatment, outcome) cells: n11 treated responders, n10 treated
// non-responders, n01 control responders, n00 control non-responders.
func metricPerfectBinary(n11, n10, n01, n00 float64) (aq, au float64) {
	tr := [4]float64{n11, n11, 0, 0}   // treated responders
	tn := [4]float64{n10, 0, 0, 0}     // treated non-responders
	cr := [4]float64{0, 0, n01, n01}   // control responders
	cn := [4]float64{0, 0, n00, 0}     // control non-responders
	both := [4]float64{n10, 0, n00, 0} // the tie at score 0
	// Perfect Qini score y·t − y·(1−t): 1, then the tie at 0, then −1.
	aq, _ = metricGroupAreas(tr, both, cr)
	// Perfect uplift score 2·[y=t] + s, s = y if cr > tn else t.
	if n01 > n10 {
		_, au = metricGroupAreas(tr, cn, cr, tn)
	} else {
		_, au = metricGroupAreas(tr, cn, tn, cr)
	}
	return aq, au
}

// metricEvaluator turns passes over rankings of one data set into
// UpliftMetrics.
type metricEvaluator struct {
	perfect *metricRanking // ranking by the perfect score; nil for binary outcomes
}

// newMetricEvaluator prepares the evaluation of rankings of one (valid)
// data set.
func newMetricEvaluator(binary bool, treatment []int, y, weights []float64) *metricEvaluator {
	if binary {
		return &metricEvaluator{}
	}
	s, _ := metricPerfectScore(treatment, y)
	return &metricEvaluator{perfect: metricRank(s, treatment, y, weights)}
}

// eval scores the ranking r under the multiplicities m (nil means 1).
func (e *metricEvaluator) eval(r *metricRanking, m []uint32, k float64) UpliftMetrics {
	total := r.weightTotal(m)
	a := r.pass(m, k, total)
	var pq, pu float64
	if e.perfect == nil {
		pq, pu = metricPerfectBinary(a.yt, a.nt-a.yt, a.yc, a.nc-a.yc)
	} else {
		p := e.perfect.pass(m, k, total)
		pq, pu = p.aq, p.au
	}
	return metricFinish(a, pq, pu, k)
}

// metricFinish applies the normalisations to the areas of a pass.
func metricFinish(a metricAreas, perfectQ, perfectU, k float64) UpliftMetrics {
	n := a.total
	baseQ := n * a.qEnd / 2
	baseU := n * a.uEnd / 2
	return UpliftMetrics{
		Qini:         metricRatio(a.aq-baseQ, perfectQ-baseQ),
		QiniCausalML: metricRatio(a.acm-baseQ, (n+1)*math.Abs(a.qEnd)),
		AUUC:         metricRatio(a.au-baseU, perfectU-baseU),
		UpliftAtK:    a.upk,
		K:            k,
	}
}

// metricRatio returns a/b, or NaN when b is 0.
func metricRatio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}
