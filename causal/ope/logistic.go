package ope

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
)

// Logistic is the default reward model: a ridge-penalised logistic
// regression (least squares when some reward is outside [0, 1]) of r on
//
//	η(x, a, k) = b + β·x + β_k + α_a + γ_a·x,
//
// that is on the design [x, onehot(k), onehot(a), onehot(a) ⊗ x]: the
// encoded context, the position and action indicators and every action ×
// context interaction. It minimises exactly causal.Linear's objective on
// that design,
//
//	Σ_i L(r_i, η_i) + ½·L2·Σ_j (s_j·θ_j)²,
//
// with s_j the standard deviation of design column j over the training
// rows (Linear standardises every column and penalises the standardised
// coefficients; the unpenalised intercept absorbs the centring, so the
// optimum is the same), L the log loss (squared loss for regression), a
// column without spread held at 0, and the intercept not penalised. Like
// Linear it runs Newton's method with step halving and stops once no
// standardised coefficient moves by more than Tol.
//
// It never builds the 1 + d + P + A·(1 + d) columns of the design. Each
// Newton pass accumulates, per action a, T_a = Σ h_i·v_i·v_iᵀ with
// v_i = (1, x_i), and per action and position the vector Σ h_i·v_i;
// every block of the Hessian is a sum of these. The Hessian is then an
// arrowhead: the action blocks (α_a, γ_a) touch only the shared block
// (b, β, β_k), so one Newton step costs A small Cholesky solves and a
// Schur complement of the shared block, O(A·(1+d)³), instead of a
// Cholesky factorisation of the whole design's Hessian.
type Logistic struct {
	// L2 is the ridge penalty on the standardised coefficients (0 means
	// causal.DefaultL2, as causal.Linear). Negative is an error.
	L2 float64
	// MaxIter bounds the Newton iterations (0 means 100).
	MaxIter int
	// Tol stops Newton's method once no standardised coefficient moves by
	// more than Tol (0 means 1e-9).
	Tol float64

	// start, when it has the design's size, is where Newton's method
	// starts: FitRewards starts each fold from the previous fold's fit,
	// which is close to its optimum (the optimum is unique, so only the
	// number of iterations changes).
	start []float64
}

// warmStart implements warmStarter.
func (m Logistic) warmStart(prev RewardPredictor) RewardModel {
	if p, ok := prev.(*logisticModel); ok {
		m.start = p.theta
	}
	return m
}

// MaxLogisticParams bounds the number of coefficients of Logistic's
// design; the action × context interactions of a high-cardinality
// category column would exceed it.
const MaxLogisticParams = 200000

// logisticModel is a fitted Logistic.
type logisticModel struct {
	d, P, A int
	task    causal.Task
	// theta holds the shared block (b, β (d), β_k (P)) and then, per
	// action, (α_a, γ_a (d)).
	theta []float64
}

// logisticLayout gives the sizes of the parameter blocks: D = 1 + d
// entries of v = (1, x), S = D + P shared coefficients.
type logisticLayout struct{ d, D, P, A, S int }

func (lay logisticLayout) params() int { return lay.S + lay.A*lay.D }

// FitRewards implements RewardModel.
func (m Logistic) FitRewards(l *Log, x *mat.Dense, rows []int, _ rand.Source) (RewardPredictor, error) {
	l2 := m.L2
	if l2 == 0 {
		l2 = causal.DefaultL2
	}
	if !(l2 > 0) || math.IsInf(l2, 0) {
		return nil, fmt.Errorf("%w: logistic reward model: L2 %v", ErrInput, m.L2)
	}
	maxIter := m.MaxIter
	if maxIter <= 0 {
		maxIter = 100
	}
	tol := m.Tol
	if tol <= 0 {
		tol = 1e-9
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: logistic reward model: no training rows", ErrInput)
	}
	d := 0
	if x != nil {
		_, d = x.Dims()
	}
	lay := logisticLayout{d: d, D: 1 + d, P: l.positions(), A: l.Actions}
	lay.S = lay.D + lay.P
	if lay.params() > MaxLogisticParams {
		return nil, fmt.Errorf("%w: logistic reward model: %d actions × %d encoded context columns give %d coefficients (at most %d); leave out high-cardinality columns or use gradient-boosted trees",
			ErrInput, lay.A, d, lay.params(), MaxLogisticParams)
	}
	// The passes take the rows grouped by action (a counting sort, stable).
	byAction := make([]int, 0, len(rows))
	start := make([]int, lay.A+1)
	for _, i := range rows {
		start[l.Action[i]+1]++
	}
	for a := range lay.A {
		start[a+1] += start[a]
	}
	byAction = byAction[:len(rows)]
	for _, i := range rows {
		a := l.Action[i]
		byAction[start[a]] = i
		start[a]++
	}
	// A compact copy of the training rows in that order, so that every
	// pass reads memory in sequence.
	f := &logisticFitter{lay: lay, task: rewardTask(l.Reward), l2: l2, m: len(rows),
		xs: make([]float64, len(rows)*d), act: make([]int32, len(rows)), pos: make([]int32, len(rows)), y: make([]float64, len(rows))}
	for r, i := range byAction {
		if d > 0 {
			copy(f.xs[r*d:(r+1)*d], x.RawRowView(i))
		}
		f.act[r], f.pos[r], f.y[r] = l.Action[i], int32(l.pos(i)), l.Reward[i]
	}
	f.scales()
	var from []float64
	if len(m.start) == lay.params() {
		from = m.start
	}
	theta, err := f.newton(from, maxIter, tol)
	if err != nil {
		return nil, fmt.Errorf("logistic reward model: %w", err)
	}
	return &logisticModel{d: d, P: lay.P, A: lay.A, task: f.task, theta: theta}, nil
}

// logisticFitter holds one fit's data and work space: the m training
// rows' encoded context xs (m×d, row-major), actions, positions and
// rewards, grouped by action.
type logisticFitter struct {
	lay      logisticLayout
	m        int
	xs       []float64
	act, pos []int32
	y        []float64
	task     causal.Task
	l2       float64
	// pen holds L2·s_j² per coefficient (0 for the intercept); active
	// marks coefficients whose column has spread.
	pen    []float64
	scale  []float64
	active []bool
}

// vrow writes v = (1, x_r) into v.
func (f *logisticFitter) vrow(v []float64, r int) {
	v[0] = 1
	d := f.lay.d
	copy(v[1:1+d], f.xs[r*d:(r+1)*d])
}

// scales computes every design column's standard deviation over the
// training rows: of x_j, of the indicators 1{k} and 1{a}, and of the
// interactions 1{a}·x_j.
func (f *logisticFitter) scales() {
	lay := f.lay
	D := lay.D
	m1 := make([]float64, lay.A*D) // Σ_{a_i=a} v_i
	m2 := make([]float64, lay.A*D) // Σ_{a_i=a} v_i²
	kc := make([]float64, lay.P)
	v := make([]float64, D)
	for i := range f.m {
		f.vrow(v, i)
		a := int(f.act[i])
		s1, s2 := m1[a*D:(a+1)*D], m2[a*D:(a+1)*D]
		for j, x := range v {
			s1[j] += x
			s2[j] += x * x
		}
		kc[f.pos[i]]++
	}
	n := float64(f.m)
	np := lay.params()
	f.pen, f.scale, f.active = make([]float64, np), make([]float64, np), make([]bool, np)
	set := func(c int, mean, meanSq float64) {
		sd := math.Sqrt(math.Max(meanSq-mean*mean, 0))
		if sd > 1e-12*math.Max(1, math.Abs(mean)) {
			f.scale[c], f.active[c], f.pen[c] = sd, true, f.l2*sd*sd
		}
	}
	f.scale[0], f.active[0] = 1, true // intercept
	for j := 1; j < D; j++ {
		var s1, s2 float64
		for a := range lay.A {
			s1 += m1[a*D+j]
			s2 += m2[a*D+j]
		}
		set(j, s1/n, s2/n)
	}
	for k := range lay.P {
		p := kc[k] / n
		set(D+k, p, p)
	}
	for a := range lay.A {
		off := lay.S + a*D
		for j := range D {
			set(off+j, m1[a*D+j]/n, m2[a*D+j]/n)
		}
	}
}

// logisticAcc is one pass's accumulation: per action the upper triangle
// of T_a (D×D), per action and position u_{a,k} = Σ h·v (D), the
// gradient of the log likelihood and the log likelihood.
type logisticAcc struct {
	t, u, g []float64
	ll      float64
}

// pass evaluates the log likelihood, its gradient and the Hessian blocks
// at theta, over fixed chunks of rows (so the sums do not depend on the
// number of goroutines).
func (f *logisticFitter) pass(theta []float64) *logisticAcc {
	lay := f.lay
	D, S := lay.D, lay.S
	nchunk := min(max(f.m/8192, 1), 16)
	accs := make([]*logisticAcc, nchunk)
	parallelBlocks(nchunk, 1, 0, func(_, c, _ int) {
		acc := &logisticAcc{t: make([]float64, lay.A*D*D), u: make([]float64, lay.A*lay.P*D), g: make([]float64, lay.params())}
		// Rows come grouped by action, so
		// T_a takes four rows at a time: vb holds the pending rows'
		// v and hb their h.
		vb := make([]float64, 4*D)
		var hb [4]float64
		nb, cur := 0, -1
		flush := func() {
			if nb > 0 {
				rank4(acc.t[cur*D*D:(cur+1)*D*D], vb, hb, nb, D)
				nb = 0
			}
		}
		lo, hi := c*f.m/nchunk, (c+1)*f.m/nchunk
		for i := lo; i < hi; i++ {
			a, k := int(f.act[i]), int(f.pos[i])
			if a != cur {
				flush()
				cur = a
			}
			v := vb[nb*D : (nb+1)*D]
			f.vrow(v, i)
			ta := theta[S+a*D : S+(a+1)*D]
			eta := theta[D+k]
			for j, x := range v {
				eta += (theta[j] + ta[j]) * x
			}
			y := f.y[i]
			var h, r float64
			if f.task == causal.Classification {
				u := math.Exp(-math.Abs(eta))
				p := 1 / (1 + u)
				if eta < 0 {
					p = u * p
				}
				acc.ll += y*eta - max(eta, 0) - math.Log1p(u)
				h, r = p*(1-p), y-p
			} else {
				h, r = 1, y-eta
				acc.ll -= 0.5 * r * r
			}
			uak := acc.u[(a*lay.P+k)*D : (a*lay.P+k+1)*D]
			gs, ga := acc.g[:D], acc.g[S+a*D:S+(a+1)*D]
			for j, x := range v {
				uak[j] += h * x
				gs[j] += r * x
				ga[j] += r * x
			}
			acc.g[D+k] += r
			hb[nb] = h
			if nb++; nb == 4 {
				flush()
			}
		}
		flush()
		accs[c] = acc
	})
	out := accs[0]
	for _, acc := range accs[1:] {
		for j, v := range acc.t {
			out.t[j] += v
		}
		for j, v := range acc.u {
			out.u[j] += v
		}
		for j, v := range acc.g {
			out.g[j] += v
		}
		out.ll += acc.ll
	}
	return out
}

// rank4 adds Σ_{r<nb} h[r]·v_r·v_rᵀ to the upper triangle of the D×D
// matrix t, for the rows v_r = vb[r·D : (r+1)·D]; each element of t is
// loaded and stored once for up to four rows.
func rank4(t, vb []float64, h [4]float64, nb, D int) {
	for r := nb; r < 4; r++ {
		h[r] = 0
		clear(vb[r*D : (r+1)*D])
	}
	v0, v1, v2, v3 := vb[:D], vb[D:2*D], vb[2*D:3*D], vb[3*D:4*D]
	for j := range D {
		w0, w1, w2, w3 := h[0]*v0[j], h[1]*v1[j], h[2]*v2[j], h[3]*v3[j]
		row := t[j*D+j : j*D+D]
		y0, y1, y2, y3 := v0[j:D], v1[j:D], v2[j:D], v3[j:D]
		y0, y1, y2, y3 = y0[:len(row)], y1[:len(row)], y2[:len(row)], y3[:len(row)]
		for q := range row {
			row[q] += w0*y0[q] + w1*y1[q] + w2*y2[q] + w3*y3[q]
		}
	}
}

// objective is the penalised log likelihood.
func (f *logisticFitter) objective(theta []float64, ll float64) float64 {
	var s float64
	for j, p := range f.pen {
		s += p * theta[j] * theta[j]
	}
	return ll - 0.5*s
}

// newton maximises the penalised log likelihood.
func (f *logisticFitter) newton(start []float64, maxIter int, tol float64) ([]float64, error) {
	lay := f.lay
	theta := make([]float64, lay.params())
	if start != nil {
		// Columns without spread in these rows keep coefficient 0: a
		// value from another fold would not change this fit's objective
		// but would change its predictions.
		for j, v := range start {
			if f.active[j] {
				theta[j] = v
			}
		}
	} else if f.task == causal.Classification {
		var sy float64
		for _, y := range f.y {
			sy += y
		}
		mu := math.Min(math.Max(sy/float64(f.m), 1e-6), 1-1e-6)
		theta[0] = math.Log(mu / (1 - mu))
	}
	acc := f.pass(theta)
	obj := f.objective(theta, acc.ll)
	next := make([]float64, len(theta))
	var prev float64
	for range maxIter {
		step, err := f.step(theta, acc)
		if err != nil {
			return nil, err
		}
		t := 1.0
		var nacc *logisticAcc
		var nobj float64
		for half := 0; ; half++ {
			for j := range next {
				next[j] = theta[j] + t*step[j]
			}
			nacc = f.pass(next)
			nobj = f.objective(next, nacc.ll)
			if nobj >= obj-1e-12*math.Abs(obj) || half >= 30 {
				break
			}
			t /= 2
		}
		var move float64
		for j, s := range step {
			move = math.Max(move, math.Abs(t*s)*f.scale[j])
		}
		copy(theta, next)
		acc, obj = nacc, nobj
		if move < tol || (t == 1 && prev > 0 && move*move*move < tol*prev*prev) {
			break
		}
		prev = move
	}
	return theta, nil
}

// step solves (H + diag(pen))·Δ = g − pen∘θ for the Newton step, where H
// is the negative Hessian of the log likelihood, by the Schur complement
// of the shared block.
func (f *logisticFitter) step(theta []float64, acc *logisticAcc) ([]float64, error) {
	lay := f.lay
	D, S, P := lay.D, lay.S, lay.P
	grad := make([]float64, len(theta))
	for j := range grad {
		if f.active[j] {
			grad[j] = acc.g[j] - f.pen[j]*theta[j]
		}
	}
	// The shared block H_ss, in full.
	hss := mat.NewSymDense(S, nil)
	for a := range lay.A {
		t := acc.t[a*D*D : (a+1)*D*D]
		for i := range D {
			for j := i; j < D; j++ {
				hss.SetSym(i, j, hss.At(i, j)+t[i*D+j])
			}
		}
		for k := range P {
			u := acc.u[(a*P+k)*D : (a*P+k+1)*D]
			for j := range D {
				hss.SetSym(j, D+k, hss.At(j, D+k)+u[j])
			}
			hss.SetSym(D+k, D+k, hss.At(D+k, D+k)+u[0])
		}
	}
	for i := range S {
		hss.SetSym(i, i, hss.At(i, i)+f.pen[i])
		if !f.active[i] {
			for j := range S {
				if j != i {
					hss.SetSym(i, j, 0)
				}
			}
			hss.SetSym(i, i, 1)
		}
	}
	rhs := mat.NewVecDense(S, append([]float64(nil), grad[:S]...))
	schur := mat.NewDense(S, S, nil)
	schur.Copy(hss)
	zs := make([]*mat.Dense, lay.A)
	haa := mat.NewSymDense(D, nil)
	has := mat.NewDense(D, S+1, nil)
	hsa := mat.NewDense(S, D, nil)
	var ch mat.Cholesky
	tmp := mat.NewDense(S, S+1, nil)
	for a := range lay.A {
		off := S + a*D
		t := acc.t[a*D*D : (a+1)*D*D]
		for i := range D {
			for j := i; j < D; j++ {
				haa.SetSym(i, j, t[i*D+j])
			}
		}
		has.Zero()
		for i := range D {
			for j := range D {
				v := t[min(i, j)*D+max(i, j)]
				has.Set(i, j, v)
			}
			for k := range P {
				has.Set(i, D+k, acc.u[(a*P+k)*D+i])
			}
			has.Set(i, S, grad[off+i])
		}
		for i := range D {
			haa.SetSym(i, i, haa.At(i, i)+f.pen[off+i])
			if !f.active[off+i] {
				for j := range D {
					if j != i {
						haa.SetSym(i, j, 0)
					}
				}
				haa.SetSym(i, i, 1)
				for j := range S + 1 {
					has.Set(i, j, 0)
				}
			}
		}
		for j := range S {
			if !f.active[j] {
				for i := range D {
					has.Set(i, j, 0)
				}
			}
		}
		if !ch.Factorize(haa) {
			return nil, errors.New("the normal equations of an action block are singular")
		}
		z := mat.NewDense(D, S+1, nil)
		if err := ch.SolveTo(z, has); err != nil {
			return nil, fmt.Errorf("solve an action block: %w", err)
		}
		zs[a] = z
		hsa.CloneFrom(has.Slice(0, D, 0, S).T())
		tmp.Mul(hsa, z)
		schur.Sub(schur, tmp.Slice(0, S, 0, S))
		for i := range S {
			rhs.SetVec(i, rhs.AtVec(i)-tmp.At(i, S))
		}
	}
	ssym := mat.NewSymDense(S, nil)
	for i := range S {
		for j := i; j < S; j++ {
			ssym.SetSym(i, j, 0.5*(schur.At(i, j)+schur.At(j, i)))
		}
	}
	if !ch.Factorize(ssym) {
		return nil, errors.New("the normal equations of the shared block are singular")
	}
	var ds mat.VecDense
	if err := ch.SolveVecTo(&ds, rhs); err != nil {
		return nil, fmt.Errorf("solve the shared block: %w", err)
	}
	step := make([]float64, len(theta))
	for i := range S {
		step[i] = ds.AtVec(i)
	}
	for a, z := range zs {
		off := S + a*D
		for i := range D {
			v := z.At(i, S)
			for j := range S {
				v -= z.At(i, j) * step[j]
			}
			step[off+i] = v
		}
	}
	for j := range step {
		if !f.active[j] {
			step[j] = 0
		}
	}
	return step, nil
}

// Predict implements RewardPredictor: η for every action of a row is the
// row's shared part plus (1, x_i)·(α_a, γ_a), one matrix product per
// block of rows.
func (m *logisticModel) Predict(dst []float64, l *Log, x *mat.Dense, rows []int) {
	D, S, A := 1+m.d, 1+m.d+m.P, m.A
	n := len(rows)
	if n == 0 {
		return
	}
	v := mat.NewDense(n, D, nil)
	base := make([]float64, n)
	for j, i := range rows {
		row := v.RawRowView(j)
		row[0] = 1
		if m.d > 0 {
			copy(row[1:], x.RawRowView(i))
		}
		b := m.theta[D+l.pos(i)]
		for q, xv := range row {
			b += m.theta[q] * xv
		}
		base[j] = b
	}
	coef := mat.NewDense(A, D, m.theta[S:S+A*D])
	out := mat.NewDense(n, A, dst[:n*A])
	out.Mul(v, coef.T())
	for j := range n {
		row := dst[j*A : (j+1)*A]
		for a, e := range row {
			e += base[j]
			if m.task == causal.Classification {
				if e >= 0 {
					e = 1 / (1 + math.Exp(-e))
				} else {
					u := math.Exp(e)
					e = u / (1 + u)
				}
			}
			row[a] = e
		}
	}
}
