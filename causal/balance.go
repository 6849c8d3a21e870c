package causal

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// DefaultBalanceAlpha is the family-wise false-alarm rate of Balance's
// rule when BalanceOptions.Alpha is 0: in a randomised trial whose
// features are all measured before treatment, the probability that any
// feature of any arm is flagged is at most this.
const DefaultBalanceAlpha = 0.005

// BalanceOptions configures Balance. The zero value is usable.
type BalanceOptions struct {
	// Alpha is the family-wise false-alarm rate (0 means
	// DefaultBalanceAlpha).
	Alpha float64
	// IPW weights every unit by 1/Propensity (times its weight, if any):
	// the balance an inverse-propensity-weighted estimator sees. Weighting
	// balances confounders; it does not balance columns measured after
	// treatment.
	IPW bool
}

// Balance test names.
const (
	// BalanceRankMean is the test of a numeric feature: the larger of the
	// rank-sum (Wilcoxon–Mann–Whitney) and the mean-difference z
	// statistics, with the exact p-value of that maximum.
	BalanceRankMean = "rank-sum & mean"
	// BalanceChiSquared is Pearson's χ² test of a categorical feature's
	// level counts between the two arms.
	BalanceChiSquared = "chi-squared"
)

// BalanceReport is the balance of every feature between each treated arm
// and control; see Balance.
type BalanceReport struct {
	// Alpha is the family-wise false-alarm rate of the rule.
	Alpha float64
	// Tests is the size m of the family: features × treated arms.
	Tests int
	// Weighted reports whether the units were inverse-propensity
	// weighted (BalanceOptions.IPW).
	Weighted bool
	// Arms holds one entry per treated arm, in arm order.
	Arms []ArmBalance
}

// ArmBalance is the balance of the features between treated arm Arm and
// control.
type ArmBalance struct {
	Arm int
	// Treated and Control count the units of the two arms; with weights,
	// NTreated and NControl are Kish's effective sizes (Σw)²/Σw².
	Treated, Control   int
	NTreated, NControl float64
	// OutcomeZ is the z statistic of the outcome's difference in (weighted)
	// means between the arms; NaN without an outcome.
	OutcomeZ float64
	// Features holds one entry per feature, in column order.
	Features []FeatureBalance
}

// FeatureBalance is the balance of one feature between two arms.
type FeatureBalance struct {
	// Feature is the column of X.
	Feature     int
	Categorical bool
	// MeanTreated and MeanControl are the (weighted) means of a numeric
	// feature; for a categorical feature, the shares of level Level.
	MeanTreated, MeanControl float64
	// SMD is the standardised mean difference (treated − control) divided
	// by sqrt((s²_t + s²_c)/2); for a categorical feature, that of the
	// indicator of the level with the largest |SMD|, Level.
	SMD   float64
	Level int
	// Test names the two-sample test (BalanceRankMean or
	// BalanceChiSquared), Statistic is its z (the larger of ZRank and
	// ZMean in absolute value) or χ² with DF degrees of freedom and P its
	// two-sided p-value.
	Test      string
	Statistic float64
	DF        int
	P         float64
	// ZRank and ZMean are the rank-sum and the mean-difference z of a
	// numeric feature.
	ZRank, ZMean float64
	// OutcomeR2 is the share of the outcome's within-arm variance that
	// the feature explains (the larger squared correlation of its values or ranks, or the
	// correlation ratio of a categorical feature; adjusted for degrees of
	// freedom), and Expected the z the feature's imbalance would have if
	// the feature were derived from the outcome: sqrt(OutcomeR2)·|OutcomeZ|.
	OutcomeR2, Expected float64
	// Weight is the test's share of the family-wise rate (mean 1 over the
	// family), PAdjusted its weighted-Holm adjusted p-value and Imbalanced
	// reports PAdjusted ≤ Alpha.
	Weight     float64
	PAdjusted  float64
	Imbalanced bool
}

// Imbalanced returns the flagged features of every arm.
func (r *BalanceReport) Imbalanced() []FeatureBalance {
	var out []FeatureBalance
	for _, a := range r.Arms {
		for _, f := range a.Features {
			if f.Imbalanced {
				out = append(out, f)
			}
		}
	}
	return out
}

// balanceFloor is the share of the family-wise rate spread evenly over the
// tests; the rest goes by each test's Expected z (see Balance).
const balanceFloor = 0.25

// Balance tests whether every feature of d has the same distribution in
// each treated arm as in control, as it has in a randomised trial when the
// feature was measured before treatment. A feature measured after
// treatment (a leak of the outcome, such as a purchase amount when the
// outcome is a visit) differs between the arms.
//
// For each treated arm k and feature j it reports the size of the
// difference, the standardised mean difference
//
//	SMD = (x̄_k − x̄_0) / sqrt((s²_k + s²_0)/2)
//
// (Austin and Stuart, Statistics in Medicine 34, 2015; weighted means and
// variances with weights), and the evidence for it. A numeric feature has
// two z statistics, each the difference of the arms' (weighted) mean
// scores over its standard error under no difference (the permutation
// variance, with Kish's effective sizes under weights): of the mid-ranks
// (the rank-sum test of Wilcoxon, Mann and Whitney, with ties), which
// keeps its power on heavy-tailed columns such as amounts that are mostly
// 0, and of the values winsorised at their pooled 1% and 99% quantiles (a
// two-sample t test, Yuen's remedy for skewed tails), which keeps it on
// columns near a few values, such as a binary outcome with noise added. The test
// takes the larger |z|; its p-value is that of the maximum of two normals
// whose correlation, that of the values with their ranks, is computed
// without the arm labels (so the choice costs little when the two agree,
// and nothing for a binary column). A categorical feature is tested by
// Pearson's χ² test of its level counts, levels with an expected count
// below 5 pooled.
//
// The rule over the m = features × arms tests is the weighted Holm
// procedure (Holm, Scandinavian Journal of Statistics 6, 1979, Section 5),
// which keeps the probability of flagging any feature of a randomised trial
// at most Alpha whatever the weights, as long as they do not depend on the
// p-values. The weights follow the "bad control" view: a column derived
// from the outcome is imbalanced by the outcome's own imbalance scaled by
// its association with the outcome, so its expected z is
//
//	μ_j = sqrt(R²_j) · |z_Y|
//
// (FeatureBalance.Expected), where z_Y is the z of the outcome's difference
// in means between the arms and R²_j the share of the outcome's within-arm
// variance the feature explains (the larger of its values' and its ranks'
// squared correlation with the outcome, or the correlation ratio of a
// categorical feature). Within an arm the power of test j grows
// with μ²_j, so it gets the weight
//
//	w_jk = m · (f/m + (1−f) · (1/K) · R²_jk / Σ_j R²_jk),  f = 1/4,
//
// for feature j and arm k of K: columns that would move the estimated
// effect if controlled for are tested at a higher level, and every column
// keeps a quarter of an even share, enough to flag a clear imbalance of a
// column unrelated to the outcome (a broken randomisation). R² is computed
// within arms (ranks and outcomes centred per arm), which leaves it
// independent of the between-arm differences the p-values measure; the
// arms share the family evenly for the same reason. Without an outcome
// (d.Y nil) the weights are equal (Holm's procedure). The false-alarm rate
// of the rule is measured by TestBalanceFalseAlarms (see its doc comment
// for the full run and docs/balance.md for the result).
func Balance(d UpliftData, opt BalanceOptions) (*BalanceReport, error) {
	if d.X == nil {
		return nil, fmt.Errorf("%w: no feature matrix", ErrInput)
	}
	n, p := d.X.Dims()
	switch {
	case len(d.Treatment) != n:
		return nil, fmt.Errorf("%w: %d feature rows but %d treatments", ErrInput, n, len(d.Treatment))
	case d.Y != nil && len(d.Y) != n:
		return nil, fmt.Errorf("%w: %d feature rows but %d outcomes", ErrInput, n, len(d.Y))
	case d.Weights != nil && len(d.Weights) != n:
		return nil, fmt.Errorf("%w: %d weights but %d rows", ErrInput, len(d.Weights), n)
	case d.Categorical != nil && len(d.Categorical) != p:
		return nil, fmt.Errorf("%w: %d categorical flags but %d features", ErrInput, len(d.Categorical), p)
	case d.Arms < 1:
		return nil, fmt.Errorf("%w: %d treated arms, need at least 1", ErrInput, d.Arms)
	case opt.IPW && len(d.Propensity) != n:
		return nil, fmt.Errorf("%w: inverse-propensity weighting needs %d propensities, got %d", ErrInput, n, len(d.Propensity))
	case opt.Alpha < 0 || opt.Alpha >= 1:
		return nil, fmt.Errorf("%w: balance alpha %v outside [0, 1)", ErrInput, opt.Alpha)
	}
	alpha := opt.Alpha
	if alpha == 0 {
		alpha = DefaultBalanceAlpha
	}
	w := make([]float64, n)
	for i := range w {
		w[i] = 1
		if d.Weights != nil {
			w[i] = d.Weights[i]
		}
		if opt.IPW {
			e := d.Propensity[i]
			if !(e > 0 && e <= 1) {
				return nil, fmt.Errorf("%w: propensity %d is %v, want (0, 1]", ErrInput, i, e)
			}
			w[i] /= e
		}
		if !(w[i] >= 0) || math.IsInf(w[i], 0) {
			return nil, fmt.Errorf("%w: weight %d is %v", ErrInput, i, w[i])
		}
		if t := d.Treatment[i]; t < 0 || t > d.Arms {
			return nil, fmt.Errorf("%w: treatment %d is %d, want 0..%d", ErrInput, i, t, d.Arms)
		}
	}
	for i, v := range d.Y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: outcome %d is %v", ErrInput, i, v)
		}
	}
	rep := &BalanceReport{Alpha: alpha, Tests: p * d.Arms, Weighted: opt.IPW}
	arms := make([]balanceArm, d.Arms)
	for k := range arms {
		if err := arms[k].init(d, w, k+1); err != nil {
			return nil, err
		}
		a := &arms[k]
		rep.Arms = append(rep.Arms, ArmBalance{Arm: k + 1, Treated: a.count[1], Control: a.count[0],
			NTreated: a.neff[1], NControl: a.neff[0], OutcomeZ: a.outcomeZ})
	}
	col := make([]float64, n)
	var order []int32
	for j := range p {
		for i := range col {
			col[i] = d.X.At(i, j)
		}
		cat := d.Categorical != nil && d.Categorical[j]
		var codes []int32
		if cat {
			var err error
			if codes, err = balanceCodes(col); err != nil {
				return nil, fmt.Errorf("%w: feature %d: %v", ErrInput, j, err)
			}
		} else {
			for i, v := range col {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, fmt.Errorf("%w: feature %d of row %d is %v", ErrInput, j, i, v)
				}
			}
			if order == nil {
				order = make([]int32, n)
			}
			balanceArgsort(order, col)
		}
		for k := range arms {
			var fb FeatureBalance
			if cat {
				fb = arms[k].categorical(codes)
			} else {
				fb = arms[k].numeric(col, order)
			}
			fb.Feature = j
			fb.Expected = 0
			if z := arms[k].outcomeZ; !math.IsNaN(z) {
				fb.Expected = math.Sqrt(fb.OutcomeR2) * math.Abs(z)
			}
			rep.Arms[k].Features = append(rep.Arms[k].Features, fb)
		}
	}
	rep.adjust()
	return rep, nil
}

// adjust sets the weights, the weighted-Holm adjusted p-values and the
// flags of every test.
func (r *BalanceReport) adjust() {
	var tests []*FeatureBalance
	for a := range r.Arms {
		for f := range r.Arms[a].Features {
			tests = append(tests, &r.Arms[a].Features[f])
		}
	}
	m := float64(len(tests))
	for _, a := range r.Arms {
		var sum float64
		for _, f := range a.Features {
			sum += f.OutcomeR2
		}
		for i := range a.Features {
			f := &a.Features[i]
			f.Weight = 1
			if sum > 0 {
				f.Weight = balanceFloor + (1-balanceFloor)*m/float64(len(r.Arms))*f.OutcomeR2/sum
			}
		}
	}
	slices.SortStableFunc(tests, func(a, b *FeatureBalance) int { return cmp.Compare(a.P/a.Weight, b.P/b.Weight) })
	rest := m // weight of the tests not yet passed in the step-down
	prev := 0.0
	for _, t := range tests {
		adj := math.Min(1, math.Max(prev, t.P/t.Weight*rest))
		t.PAdjusted, prev = adj, adj
		t.Imbalanced = adj <= r.Alpha
		rest -= t.Weight
	}
}

// balanceArm holds the rows of one treated arm and control with their
// weights and centred outcomes.
type balanceArm struct {
	arm      int
	in       []int8 // per row of d: 1 treated arm, 0 control, -1 left out
	rows     []int  // rows in the comparison
	w        []float64
	count    [2]int
	sw, sw2  [2]float64 // Σw and Σw² per side
	neff     [2]float64
	ntot     float64 // Kish's effective size of both sides together
	yc       []float64
	syy      float64 // Σ w·yc² (0 without an outcome)
	outcomeZ float64
	r        []float64 // mid-rank scratch, per row of d
	v        []float64 // winsorised-value scratch, per row of d
}

func (b *balanceArm) init(d UpliftData, w []float64, arm int) error {
	n := len(d.Treatment)
	b.arm, b.w = arm, w
	b.in, b.yc, b.r, b.v = make([]int8, n), make([]float64, n), make([]float64, n), make([]float64, n)
	var sy [2]float64
	for i, t := range d.Treatment {
		b.in[i] = -1
		switch t {
		case 0:
			b.in[i] = 0
		case arm:
			b.in[i] = 1
		default:
			continue
		}
		s := b.in[i]
		b.rows = append(b.rows, i)
		b.count[s]++
		b.sw[s] += w[i]
		b.sw2[s] += w[i] * w[i]
		if d.Y != nil {
			sy[s] += w[i] * d.Y[i]
		}
	}
	for s := range 2 {
		if b.count[s] < 2 || b.sw[s] <= 0 {
			name := "control"
			if s == 1 {
				name = fmt.Sprintf("arm %d", arm)
			}
			return fmt.Errorf("%w: balance needs at least 2 units of positive weight in %s", ErrInput, name)
		}
		b.neff[s] = b.sw[s] * b.sw[s] / b.sw2[s]
	}
	all := b.sw[0] + b.sw[1]
	b.ntot = all * all / (b.sw2[0] + b.sw2[1])
	b.syy, b.outcomeZ = 0, math.NaN()
	if d.Y == nil {
		return nil
	}
	mean := [2]float64{sy[0] / b.sw[0], sy[1] / b.sw[1]}
	var v [2]float64 // Σ w²(y − ȳ)² per side
	for _, i := range b.rows {
		s := b.in[i]
		b.yc[i] = d.Y[i] - mean[s]
		b.syy += w[i] * b.yc[i] * b.yc[i]
		v[s] += w[i] * w[i] * b.yc[i] * b.yc[i]
	}
	// Linearised variance of the difference of two weighted means, with
	// the small-sample factor n/(n−1) per side.
	se := math.Sqrt(v[1]/(b.sw[1]*b.sw[1])*b.neff[1]/(b.neff[1]-1) + v[0]/(b.sw[0]*b.sw[0])*b.neff[0]/(b.neff[0]-1))
	b.outcomeZ = 0
	if se > 0 {
		b.outcomeZ = (mean[1] - mean[0]) / se
	}
	return nil
}

// numeric tests one numeric column; order sorts all rows of col.
func (b *balanceArm) numeric(col []float64, order []int32) FeatureBalance {
	fb := FeatureBalance{Test: BalanceRankMean, Level: -1}
	var m, ss [2]float64
	for _, i := range b.rows {
		m[b.in[i]] += b.w[i] * col[i]
	}
	m[0] /= b.sw[0]
	m[1] /= b.sw[1]
	for _, i := range b.rows {
		dv := col[i] - m[b.in[i]]
		ss[b.in[i]] += b.w[i] * dv * dv
	}
	fb.MeanTreated, fb.MeanControl = m[1], m[0]
	fb.SMD = balanceSMD(m[1]-m[0], ss[1]/b.sw[1]*b.neff[1]/(b.neff[1]-1), ss[0]/b.sw[0]*b.neff[0]/(b.neff[0]-1))

	// Weighted mid-ranks on [0, 1]: the share of weight below a value
	// plus half the share at it.
	total := b.sw[0] + b.sw[1]
	below := 0.0
	for g := 0; g < len(order); {
		h := g
		tie := 0.0
		for ; h < len(order) && col[order[h]] == col[order[g]]; h++ {
			if i := order[h]; b.in[i] >= 0 {
				tie += b.w[i]
			}
		}
		mid := (below + tie/2) / total
		for _, i := range order[g:h] {
			b.r[i] = mid
		}
		below += tie
		g = h
	}
	var rm [2]float64
	for _, i := range b.rows {
		rm[b.in[i]] += b.w[i] * b.r[i]
	}
	rm[0] /= b.sw[0]
	rm[1] /= b.sw[1]
	// The mean test reads the values winsorised at their pooled 1% and 99%
	// quantiles (label-free, so the test stays exact under no difference),
	// which keeps its normal tails on skewed columns.
	lo, hi := b.quantile(col, order, 0.01), b.quantile(col, order, 0.99)
	var wm [2]float64
	for _, i := range b.rows {
		b.v[i] = math.Min(hi, math.Max(lo, col[i]))
		wm[b.in[i]] += b.w[i] * b.v[i]
	}
	wm[0] /= b.sw[0]
	wm[1] /= b.sw[1]
	mu := (wm[0]*b.sw[0] + wm[1]*b.sw[1]) / total // pooled mean
	// Pooled co-moments about the pooled means (ranks average 1/2), and
	// within-arm co-moments with the outcome.
	var rr, xx, xr, ry, rc, xy, xc float64
	for _, i := range b.rows {
		w, dr, dx := b.w[i], b.r[i]-0.5, b.v[i]-mu
		rr += w * dr * dr
		xx += w * dx * dx
		xr += w * dx * dr
		cr, cx := b.r[i]-rm[b.in[i]], b.v[i]-wm[b.in[i]]
		rc += w * cr * cr
		xc += w * cx * cx
		ry += w * cr * b.yc[i]
		xy += w * cx * b.yc[i]
	}
	// Under no difference the mean score of a side has variance
	// σ²·Σw²/(Σw)², with the finite-population factor n/(n−1); without
	// weights this is the permutation variance (for ranks the
	// tie-corrected variance of Mann–Whitney's U).
	f := (b.sw2[1]/(b.sw[1]*b.sw[1]) + b.sw2[0]/(b.sw[0]*b.sw[0])) * b.ntot / (b.ntot - 1) / total
	fb.P = 1
	switch {
	case rr > 0 && xx > 0:
		fb.ZRank = (rm[1] - rm[0]) / math.Sqrt(rr*f)
		fb.ZMean = (wm[1] - wm[0]) / math.Sqrt(xx*f)
		fb.Statistic = fb.ZRank
		if math.Abs(fb.ZMean) > math.Abs(fb.ZRank) {
			fb.Statistic = fb.ZMean
		}
		fb.P = balanceMaxAbsP(math.Abs(fb.Statistic), xr/math.Sqrt(xx*rr))
	case rr > 0:
		// Winsorising left one value (a column that is mostly one value):
		// the ranks alone.
		fb.ZRank = (rm[1] - rm[0]) / math.Sqrt(rr*f)
		fb.Statistic = fb.ZRank
		fb.P = math.Erfc(math.Abs(fb.ZRank) / math.Sqrt2)
	}
	if b.syy > 0 && rc > 0 {
		r2 := ry * ry / (rc * b.syy)
		if xc > 0 {
			r2 = math.Max(r2, xy*xy/(xc*b.syy))
		}
		fb.OutcomeR2 = balanceAdjustR2(r2, b.ntot, 1)
	}
	return fb
}

// quantile returns the pooled weighted q-quantile of col over the rows of
// the comparison, order sorting all rows: the first value at which the
// cumulative weight reaches q of the total.
func (b *balanceArm) quantile(col []float64, order []int32, q float64) float64 {
	target := q * (b.sw[0] + b.sw[1])
	var cum float64
	last := math.NaN()
	for _, i := range order {
		if b.in[i] < 0 {
			continue
		}
		cum += b.w[i]
		last = col[i]
		if cum >= target {
			return last
		}
	}
	return last
}

// balanceMaxAbsP is P(max(|Z₁|, |Z₂|) ≥ m) for standard normal Z₁, Z₂ of
// correlation rho:
//
//	P = 2Φ̄(m) + ∫_{−m}^{m} φ(z)·[Φ̄((m−ρz)/s) + Φ((−m−ρz)/s)] dz,  s = sqrt(1−ρ²),
//
// integrated by Simpson's rule (the complement is computed directly, so
// small p-values keep their precision).
func balanceMaxAbsP(m, rho float64) float64 {
	tail := math.Erfc(m / math.Sqrt2) // 2Φ̄(m)
	if rho > 1-1e-9 || m == 0 {
		return math.Min(1, tail)
	}
	s := math.Sqrt(1 - rho*rho)
	upper := func(x float64) float64 { return math.Erfc(x/math.Sqrt2) / 2 } // Φ̄
	g := func(z float64) float64 {
		phi := math.Exp(-z*z/2) / math.Sqrt(2*math.Pi)
		return phi * (upper((m-rho*z)/s) + upper((m+rho*z)/s))
	}
	const steps = 2000 // even
	h := 2 * m / steps
	sum := g(-m) + g(m)
	for k := 1; k < steps; k++ {
		c := 2.0
		if k%2 == 1 {
			c = 4
		}
		sum += c * g(-m+float64(k)*h)
	}
	return math.Min(1, tail+sum*h/3)
}

// categorical tests one categorical column given its codes per row.
func (b *balanceArm) categorical(codes []int32) FeatureBalance {
	fb := FeatureBalance{Categorical: true, Test: BalanceChiSquared}
	levels := 0
	for _, i := range b.rows {
		levels = max(levels, int(codes[i])+1)
	}
	cnt := make([][2]float64, levels) // weight per level and side
	ysum := make([]float64, levels)   // Σ w·yc per level
	for _, i := range b.rows {
		c := codes[i]
		cnt[c][b.in[i]] += b.w[i]
		ysum[c] += b.w[i] * b.yc[i]
	}
	// Size: the level whose indicator has the largest |SMD|.
	fb.Level = -1
	for l, c := range cnt {
		if c[0]+c[1] == 0 {
			continue
		}
		p1, p0 := c[1]/b.sw[1], c[0]/b.sw[0]
		smd := balanceSMD(p1-p0, p1*(1-p1), p0*(1-p0))
		if fb.Level < 0 || math.Abs(smd) > math.Abs(fb.SMD) {
			fb.Level, fb.SMD, fb.MeanTreated, fb.MeanControl = l, smd, p1, p0
		}
	}
	// Evidence: Pearson's χ² on counts scaled to the effective sizes,
	// levels with an expected count below 5 on either side pooled.
	scale := [2]float64{b.neff[0] / b.sw[0], b.neff[1] / b.sw[1]}
	nside := [2]float64{b.neff[0], b.neff[1]}
	ntot := nside[0] + nside[1]
	type cell struct{ o [2]float64 }
	var kept []cell
	var pool cell
	used := 0
	for _, c := range cnt {
		o := [2]float64{c[0] * scale[0], c[1] * scale[1]}
		row := o[0] + o[1]
		if row == 0 {
			continue
		}
		used++
		if row*nside[0]/ntot < 5 || row*nside[1]/ntot < 5 {
			pool.o[0] += o[0]
			pool.o[1] += o[1]
			continue
		}
		kept = append(kept, cell{o})
	}
	if pool.o[0]+pool.o[1] > 0 {
		row := pool.o[0] + pool.o[1]
		if (row*nside[0]/ntot < 5 || row*nside[1]/ntot < 5) && len(kept) > 0 {
			// Still too rare: merge into the smallest kept level.
			s := 0
			for i := range kept {
				if kept[i].o[0]+kept[i].o[1] < kept[s].o[0]+kept[s].o[1] {
					s = i
				}
			}
			kept[s].o[0] += pool.o[0]
			kept[s].o[1] += pool.o[1]
		} else {
			kept = append(kept, pool)
		}
	}
	fb.P = 1
	if len(kept) >= 2 {
		var x2 float64
		for _, c := range kept {
			row := c.o[0] + c.o[1]
			for s := range 2 {
				e := row * nside[s] / ntot
				x2 += (c.o[s] - e) * (c.o[s] - e) / e
			}
		}
		fb.Statistic, fb.DF = x2, len(kept)-1
		fb.P = distuv.ChiSquared{K: float64(fb.DF)}.Survival(x2)
	}
	if b.syy > 0 && used > 1 {
		var between float64
		for l, c := range cnt {
			if wl := c[0] + c[1]; wl > 0 {
				between += ysum[l] * ysum[l] / wl
			}
		}
		fb.OutcomeR2 = balanceAdjustR2(between/b.syy, b.ntot, used-1)
	}
	return fb
}

// balanceSMD is d / sqrt((v1 + v0)/2), 0 when both d and the variances
// are 0 and ±Inf when only d is not.
func balanceSMD(d, v1, v0 float64) float64 {
	s := math.Sqrt((v1 + v0) / 2)
	switch {
	case s > 0:
		return d / s
	case d == 0:
		return 0
	}
	return math.Copysign(math.Inf(1), d)
}

// balanceAdjustR2 is the R² of a fit with df parameters on n units,
// adjusted for degrees of freedom and clipped to [0, 1].
func balanceAdjustR2(r2, n float64, df int) float64 {
	if n-float64(df)-1 <= 0 {
		return 0
	}
	adj := 1 - (1-r2)*(n-1)/(n-float64(df)-1)
	return math.Min(1, math.Max(0, adj))
}

// balanceCodes converts the category codes of col.
func balanceCodes(col []float64) ([]int32, error) {
	codes := make([]int32, len(col))
	for i, v := range col {
		if v != math.Trunc(v) || v < 0 || v > MaxCategoryCode {
			return nil, fmt.Errorf("category code %v of row %d is not an integer in [0, %d]", v, i, MaxCategoryCode)
		}
		codes[i] = int32(v)
	}
	return codes, nil
}

// balanceArgsort fills order with the rows of col in increasing order.
func balanceArgsort(order []int32, col []float64) {
	type kv struct {
		v float64
		i int32
	}
	s := make([]kv, len(col))
	for i, v := range col {
		s[i] = kv{v, int32(i)}
	}
	slices.SortFunc(s, func(a, b kv) int { return cmp.Compare(a.v, b.v) })
	for i := range s {
		order[i] = s[i].i
	}
}
