package causal

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// AutoCombine says how AutoEstimator turns its scored candidates into one
// model.
type AutoCombine int

const (
	// AutoSelect (the zero value) refits the single candidate with the
	// lowest validation loss.
	AutoSelect AutoCombine = iota
	// AutoStack fits non-negative weights of the candidates' out-of-fold
	// effects and a free constant effect by least squares on the
	// validation loss (R-stacking, Nie and Wager 2021, Section 4.3), and
	// predicts Σ_k β_k·τ̂_k(x) + c with the weighted candidates refitted
	// on all rows. It falls back to AutoSelect when choosing one
	// candidate has the lower nested cross-validated loss.
	AutoStack
)

// String returns "select" or "stack".
func (c AutoCombine) String() string {
	switch c {
	case AutoSelect:
		return "select"
	case AutoStack:
		return "stack"
	}
	return "combine(" + strconv.Itoa(int(c)) + ")"
}

// ParseAutoCombine reads "select" or "stack".
func ParseAutoCombine(s string) (AutoCombine, error) {
	switch strings.ToLower(s) {
	case "select":
		return AutoSelect, nil
	case "stack":
		return AutoStack, nil
	}
	return 0, fmt.Errorf("%w: combine %q, want stack or select", ErrParam, s)
}

// DefaultAutoMembers is AutoEstimator's default bound on the candidates a
// stack keeps (and refits on all rows).
const DefaultAutoMembers = 4

// StackModel predicts a weighted sum of uplift models plus a constant, per
// treated arm a:
//
//	τ̂_a(x) = Constant[a] + Σ_k Members[k].Weights[a]·τ̂_{k,a}(x).
//
// It is saved under kind "stack".
type StackModel struct {
	// Members are the weighted models.
	Members []StackMember `json:"members"`
	// Constant is the constant effect of every treated arm.
	Constant []float64 `json:"constant"`
}

// StackMember is one weighted model of a StackModel.
type StackMember struct {
	// Name is the candidate's name.
	Name string `json:"name"`
	// Weights holds the member's non-negative weight per treated arm.
	Weights []float64 `json:"weights"`
	// Model is the member fitted on all rows.
	Model savedUplift `json:"model"`
}

// Kind implements Kinded.
func (m *StackModel) Kind() string { return "stack" }

// Validate checks that a decoded model has members with one weight per
// arm.
func (m *StackModel) Validate() error {
	if len(m.Members) == 0 || len(m.Constant) == 0 {
		return fmt.Errorf("stack without members or arms")
	}
	for _, s := range m.Members {
		if s.Model.UpliftModel == nil || len(s.Weights) != len(m.Constant) {
			return fmt.Errorf("stack member %q: %d weights for %d arms or no model", s.Name, len(s.Weights), len(m.Constant))
		}
	}
	return nil
}

// Effects implements UpliftModel.
func (m *StackModel) Effects(dst, x *mat.Dense) *mat.Dense {
	n, _ := x.Dims()
	arms := len(m.Constant)
	if dst == nil {
		dst = mat.NewDense(n, arms, nil)
	} else if r, c := dst.Dims(); r != n || c != arms {
		panic(fmt.Sprintf("stack: dst is %d×%d, want %d×%d", r, c, n, arms))
	}
	out := dst.RawMatrix()
	for i := range n {
		copy(out.Data[i*out.Stride:i*out.Stride+arms], m.Constant)
	}
	var buf *mat.Dense
	for _, s := range m.Members {
		if buf == nil {
			buf = mat.NewDense(n, arms, nil)
		}
		e := s.Model.Effects(buf, x).RawMatrix()
		for i := range n {
			row, src := out.Data[i*out.Stride:], e.Data[i*e.Stride:]
			for a, w := range s.Weights {
				row[a] += w * src[a]
			}
		}
	}
	return dst
}

// autoNNLS minimises Σ_i w_i·(y_i − Σ_j z_j[i]·β_j)² over β with β_j ≥ 0
// where nonneg[j], by cyclic coordinate descent on the normal equations
// (a tiny ridge, 1e-9 of the largest diagonal, keeps collinear columns
// solvable). w nil means 1; every row's weight is multiplied by count[i]
// (count nil means 1; 0 leaves the row out).
func autoNNLS(z [][]float64, y, w []float64, count []float64, nonneg []bool) []float64 {
	g, b, maxd := autoGram(z, y, w, count)
	p := len(z)
	if maxd == 0 {
		return make([]float64, p)
	}
	beta := make([]float64, p)
	for range 10000 {
		change := 0.0
		for j := range p {
			r := b[j]
			for k := range p {
				r -= g[j*p+k] * beta[k]
			}
			nb := beta[j] + r/g[j*p+j]
			if nonneg[j] && nb < 0 {
				nb = 0
			}
			change = max(change, math.Abs(nb-beta[j])*math.Sqrt(g[j*p+j]))
			beta[j] = nb
		}
		if change <= 1e-12*math.Sqrt(maxd) {
			break
		}
	}
	return beta
}

// autoGram returns the weighted normal equations of the least squares of
// y on the columns z, G = Zᵀ W Z (p×p, row-major, with a ridge of 1e-9
// of its largest diagonal) and b = Zᵀ W y, and the largest diagonal
// before the ridge (0 when every column is zero on the rows in use).
func autoGram(z [][]float64, y, w []float64, count []float64) (g, b []float64, maxd float64) {
	p := len(z)
	g = make([]float64, p*p)
	b = make([]float64, p)
	for i := range y {
		wi := autoW(w, i)
		if count != nil {
			if count[i] == 0 {
				continue
			}
			wi *= count[i]
		}
		for j := range p {
			zj := wi * z[j][i]
			b[j] += zj * y[i]
			for k := j; k < p; k++ {
				g[j*p+k] += zj * z[k][i]
			}
		}
	}
	for j := range p {
		for k := 0; k < j; k++ {
			g[j*p+k] = g[k*p+j]
		}
		maxd = max(maxd, g[j*p+j])
	}
	for j := range p {
		g[j*p+j] += 1e-9 * maxd
	}
	return g, b, maxd
}

// autoSimplexLS minimises Σ_i w_i·(y_i − Σ_j z_j[i]·β_j)² over the
// convex combinations β (β ≥ 0, Σ_j β_j = 1), by accelerated projected
// gradient descent (FISTA) on the simplex with step 1/L, L bounding the
// largest eigenvalue of the normal equations' matrix. w and count are as
// in autoNNLS.
//
// With 0 < nu < 1 it is Q-aggregation (Rigollet 2012; Lecué and Rigollet
// 2014): it minimises (1 − ν)·Q(β) + ν·Σ_j β_j·Q(e_j), Q(β) being the
// least-squares loss above and e_j the j-th column alone. Since
// Σ_j β_j·Q(e_j) = Q(β) + Σ_j β_j·Σ_i w_i(z_j[i] − ẑ_i)², ẑ = Σ_j β_j z_j,
// this is the loss plus ν times the weighted spread of the members about
// the combination: it keeps the weight off columns far from the rest
// unless they lower the loss by more.
func autoSimplexLS(z [][]float64, y, w []float64, count []float64, nu float64) []float64 {
	g, b, maxd := autoGram(z, y, w, count)
	p := len(z)
	x := make([]float64, p)
	for j := range x {
		x[j] = 1 / float64(p)
	}
	if p < 2 || maxd == 0 {
		return x
	}
	if nu > 0 {
		// Up to a constant, Q-aggregation's objective is
		// (1 − ν)·βᵀGβ − 2bᵀβ + ν·Σ_j β_j·G_jj: the least squares with
		// Gram (1 − ν)·G and b − ν·diag(G)/2.
		for j := range p {
			b[j] -= nu * g[j*p+j] / 2
		}
		for i := range g {
			g[i] *= 1 - nu
		}
	}
	lip := 0.0 // Gershgorin
	for j := range p {
		row := 0.0
		for k := range p {
			row += math.Abs(g[j*p+k])
		}
		lip = max(lip, row)
	}
	yv := slices.Clone(x)
	prev := slices.Clone(x)
	grad := make([]float64, p)
	t := 1.0
	for range 5000 {
		for j := range p {
			grad[j] = -b[j]
			for k := range p {
				grad[j] += g[j*p+k] * yv[k]
			}
		}
		copy(prev, x)
		for j := range p {
			x[j] = yv[j] - grad[j]/lip
		}
		autoProjectSimplex(x)
		tn := (1 + math.Sqrt(1+4*t*t)) / 2
		change := 0.0
		for j := range p {
			yv[j] = x[j] + (t-1)/tn*(x[j]-prev[j])
			change = max(change, math.Abs(x[j]-prev[j]))
		}
		t = tn
		if change <= 1e-10 {
			break
		}
	}
	return x
}

// autoProjectSimplex replaces v by its Euclidean projection onto the
// probability simplex {v ≥ 0, Σ v = 1} (Held, Wolfe and Crowder 1974).
func autoProjectSimplex(v []float64) {
	u := slices.Clone(v)
	slices.Sort(u)
	slices.Reverse(u)
	sum, theta := 0.0, 0.0
	for i, x := range u {
		sum += x
		if t := (sum - 1) / float64(i+1); x-t > 0 {
			theta = t
		}
	}
	for i := range v {
		v[i] = max(v[i]-theta, 0)
	}
}

// autoStackArm holds one arm's stacking columns: the target (y − m̂ for
// the R-loss, φ for the DR-loss), the multiplier of τ (t − ê, or 1) and
// the candidates' out-of-fold effects.
type autoStackArm struct {
	target, mult, w []float64
	tau             [][]float64 // [candidate][row]; nil for failed candidates
	scale           float64     // the arm's factor in autoLossTerms
	// convex makes the stack a convex combination of the candidates and
	// the constant effect fitted alone (AutoEstimator.Convex).
	convex bool
	// qagg is the share ν of Q-aggregation's spread penalty in the
	// convex weights (AutoEstimator.QAgg; 0 for none).
	qagg float64
}

func autoStackArms(arms []autoArm, taus []*mat.Dense, c AutoCriterion, convex bool, qagg float64) []autoStackArm {
	total := 0
	for _, a := range arms {
		total += len(a.idx)
	}
	out := make([]autoStackArm, len(arms))
	for k, ar := range arms {
		s := autoStackArm{w: ar.w, tau: make([][]float64, len(taus)), convex: convex, qagg: qagg}
		switch c {
		case DRLoss:
			s.target = ar.phi
			s.mult = make([]float64, len(ar.idx))
			for r := range s.mult {
				s.mult[r] = 1
			}
		case MixedLoss:
			s.target, s.mult = ar.mt, ar.mm
		default:
			s.target, s.mult = ar.ry, ar.rt
		}
		sw := 0.0
		for r := range ar.idx {
			sw += autoW(ar.w, r)
		}
		s.scale = float64(total) / (sw * float64(len(arms)))
		for j, t := range taus {
			if t == nil {
				continue
			}
			v := make([]float64, len(ar.idx))
			for r, i := range ar.idx {
				v[r] = t.At(i, k)
			}
			s.tau[j] = v
		}
		out[k] = s
	}
	return out
}

// autoStackWeights fits one arm's weights of the candidates in use (the
// last entry is the constant) on the rows kept.
func autoStackWeights(s autoStackArm, use []bool, keep []float64) []float64 {
	var z [][]float64
	var nonneg []bool
	var cols []int
	for j, t := range s.tau {
		if t == nil || !use[j] {
			continue
		}
		col := make([]float64, len(t))
		for r := range t {
			col[r] = s.mult[r] * t[r]
		}
		z = append(z, col)
		nonneg = append(nonneg, true)
		cols = append(cols, j)
	}
	var beta []float64
	c0 := 1.0
	if s.convex {
		// The constant effect fitted alone on the same rows is one more
		// member, and the weights sum to 1.
		c0 = autoConstant(s, keep)
		col := make([]float64, len(s.mult))
		for r, m := range s.mult {
			col[r] = m * c0
		}
		z = append(z, col)
		beta = autoSimplexLS(z, s.target, s.w, keep, s.qagg)
	} else {
		// A free constant effect.
		z = append(z, s.mult)
		nonneg = append(nonneg, false)
		beta = autoNNLS(z, s.target, s.w, keep, nonneg)
	}
	out := make([]float64, len(s.tau)+1)
	for i, j := range cols {
		out[j] = beta[i]
	}
	out[len(s.tau)] = beta[len(beta)-1] * c0
	return out
}

// autoStackFit fits the weights of every arm on the rows kept (keep[k][r]
// is 1 for a row in use, 0 for one left out; nil means all), then keeps
// at most members candidates (by their largest contribution β·sd(τ̂)
// over the arms) and fits the weights of those again. With bags > 0 the
// weights are the mean of the fits on bags bootstrap resamples of the
// rows kept (bagged stacking, which steadies the weights of nearly
// collinear candidates).
func autoStackFit(arms []autoStackArm, use []bool, keep [][]float64, members, bags int, rng *rand.Rand) [][]float64 {
	fit := func(use []bool) [][]float64 {
		out := make([][]float64, len(arms))
		for k, s := range arms {
			var kp []float64
			if keep != nil {
				kp = keep[k]
			}
			if bags <= 0 {
				out[k] = autoStackWeights(s, use, kp)
				continue
			}
			var rows []int
			for r := range s.target {
				if kp == nil || kp[r] > 0 {
					rows = append(rows, r)
				}
			}
			count := make([]float64, len(s.target))
			mean := make([]float64, len(s.tau)+1)
			for range bags {
				clear(count)
				for range rows {
					count[rows[rng.IntN(len(rows))]]++
				}
				for j, v := range autoStackWeights(s, use, count) {
					mean[j] += v / float64(bags)
				}
			}
			out[k] = mean
		}
		return out
	}
	beta := fit(use)
	contrib := make([]float64, len(use))
	var in []int
	for j := range use {
		for k, s := range arms {
			if s.tau[j] == nil || beta[k][j] <= 0 {
				continue
			}
			_, sd := autoMeanSD(s.tau[j])
			contrib[j] = max(contrib[j], beta[k][j]*sd)
		}
		if contrib[j] > 0 {
			in = append(in, j)
		}
	}
	if len(in) <= members {
		return beta
	}
	sort.SliceStable(in, func(a, b int) bool { return contrib[in[a]] > contrib[in[b]] })
	use2 := make([]bool, len(use))
	for _, j := range in[:members] {
		use2[j] = true
	}
	return fit(use2)
}

func autoMeanSD(v []float64) (mean, sd float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(max(1, len(v)-1)))
}

// autoStackTerms returns the loss terms of the stack beta on arm k's rows,
// scaled as autoLossTerms scales them.
func autoStackTerms(s autoStackArm, beta []float64, dst []float64) []float64 {
	c := beta[len(beta)-1]
	for r := range s.target {
		tau := c
		for j, t := range s.tau {
			if t != nil && beta[j] != 0 {
				tau += beta[j] * t[r]
			}
		}
		e := s.target[r] - s.mult[r]*tau
		dst = append(dst, e*e*autoW(s.w, r)*s.scale)
	}
	return dst
}

// autoShrinks are the factors λ by which the nested cross-validation may
// shrink a stack toward the constant effect (see autoShrink); 0 is the
// constant effect alone.
var autoShrinks = []float64{1, 0.8, 0.6, 0.4, 0.2, 0.1, 0}

// autoShrink returns the stack beta shrunk toward the constant effect c0,
// λ being the share of the stack kept:
// τ_λ(x) = λ·(c + Σ_k β_k τ̂_k(x)) + (1 − λ)·c0.
func autoShrink(beta []float64, c0, lambda float64) []float64 {
	out := make([]float64, len(beta))
	for j, b := range beta {
		out[j] = lambda * b
	}
	out[len(beta)-1] += (1 - lambda) * c0
	return out
}

// autoConstant returns arm s's constant effect fitted alone on the rows
// kept.
func autoConstant(s autoStackArm, keep []float64) float64 {
	b := autoNNLS([][]float64{s.mult}, s.target, s.w, keep, []bool{false})
	return b[0]
}

// autoNested compares stacking with choosing one candidate by nested
// cross-validation on the loss rows: each fold's rows are scored by the
// stack fitted, and by the candidate chosen, on the other folds. The
// stack is scored at every shrinkage factor of autoShrinks. It returns
// the held-out loss terms of the stack at each factor and of the choice,
// row by row. With repeated cross-fitting each arm's rows come in reps
// copies, which the folds keep together.
func autoNested(arms []autoStackArm, terms [][]float64, use []bool, members, bags, folds, reps int, rng *rand.Rand) (stack [][]float64, sel []float64) {
	reps = max(reps, 1)
	fold := make([][]int, len(arms))
	total := 0
	for k, s := range arms {
		fold[k] = make([]int, len(s.target))
		n := len(s.target) / reps
		perm := rng.Perm(n)
		for r, i := range perm {
			for c := range reps {
				fold[k][c*n+i] = r % folds
			}
		}
		total += len(s.target)
	}
	stack = make([][]float64, len(autoShrinks))
	for j := range stack {
		stack[j] = make([]float64, total)
	}
	sel = make([]float64, total)
	for f := range folds {
		keep := make([][]float64, len(arms))
		for k := range arms {
			keep[k] = make([]float64, len(fold[k]))
			for r, g := range fold[k] {
				if g != f {
					keep[k][r] = 1
				}
			}
		}
		beta := autoStackFit(arms, use, keep, members, bags, rng)
		// Choose one candidate on the other folds. terms[c] concatenates
		// the arms in order.
		best, bestLoss := -1, math.Inf(1)
		for c, t := range terms {
			if t == nil || !use[c] {
				continue
			}
			sum, cnt := 0.0, 0
			off := 0
			for k := range arms {
				for r, g := range fold[k] {
					if g != f {
						sum += t[off+r]
						cnt++
					}
				}
				off += len(fold[k])
			}
			if l := sum / float64(cnt); l < bestLoss {
				best, bestLoss = c, l
			}
		}
		off := 0
		for k, s := range arms {
			c0 := autoConstant(s, keep[k])
			for j, lambda := range autoShrinks {
				st := autoStackTerms(s, autoShrink(beta[k], c0, lambda), nil)
				for r, g := range fold[k] {
					if g == f {
						stack[j][off+r] = st[r]
					}
				}
			}
			for r, g := range fold[k] {
				if g == f {
					sel[off+r] = terms[best][off+r]
				}
			}
			off += len(fold[k])
		}
	}
	return stack, sel
}

// autoOneSE picks between the stack at the factors of autoShrinks and
// the single choice from their nested loss terms: the stack at the factor
// with the lowest mean loss, unless the single choice beats it by more
// than ses standard errors (of the per-row difference; 1 by default, a
// one-standard-error rule against betting on one candidate). It returns
// the index of the factor (−1 for the choice) and the means.
func autoOneSE(stack [][]float64, sel []float64, ses float64) (pick int, stackMean []float64, selMean float64) {
	stackMean = make([]float64, len(stack))
	pick = 0
	for j, t := range stack {
		stackMean[j] = autoMean(t, nil)
		if stackMean[j] < stackMean[pick] {
			pick = j
		}
	}
	selMean = autoMean(sel, nil)
	diff := make([]float64, len(sel))
	for i := range diff {
		diff[i] = stack[pick][i] - sel[i]
	}
	if m, se := MeanSE(diff, nil); m > ses*se {
		return -1, stackMean, selMean
	}
	return pick, stackMean, selMean
}
