package causal

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"

	"gonum.org/v1/gonum/mat"
)

// DefaultL2 is the ridge penalty Linear uses when its L2 field is zero.
const DefaultL2 = 1.0

// Linear fits a penalised linear model: least squares for Regression and
// logistic regression for Classification. It implements Learner; its zero
// value is usable.
//
// Features are standardised internally to zero weighted mean and unit
// weighted standard deviation, and the fitted coefficients minimise
//
//	Σ_i w_i·L(y_i, β0 + Σ_j β_j·z_ij) + ½·L2·Σ_{j≥1} β_j²
//
// where z_ij = (x_ij − mean_j)/sd_j, L is ½(y−η)² for Regression and the
// log loss −y·log σ(η) − (1−y)·log(1−σ(η)) for Classification, and the
// intercept β0 is not penalised. The penalty acts on the weighted sum of
// losses, so it weighs less as the total weight grows. Columns with zero
// spread get a zero coefficient. The coefficients are reported on the
// original scale of x.
//
// Regression is solved in closed form; Classification by Newton's method
// (iteratively reweighted least squares) with step halving, stopped once
// the largest coefficient move, or its quadratic-convergence forecast
// move³/previous², is below Tol. Each pass over
// the data accumulates the (p+1)×(p+1) matrix Z'WZ and the gradient in one
// sweep over the rows, split across GOMAXPROCS goroutines, and solves by
// Cholesky factorisation, so memory does not grow with the number of rows.
type Linear struct {
	// L2 is the ridge penalty on the standardised coefficients. Zero
	// means DefaultL2; use a tiny positive value such as 1e-9 for an
	// essentially unpenalised fit. Negative is an error.
	L2 float64
	// MaxIter bounds the Newton iterations of a Classification fit
	// (zero means 100).
	MaxIter int
	// Tol stops Newton's method once no standardised coefficient moves by
	// more than Tol (zero means 1e-9).
	Tol float64
	// Categorical marks columns of x that hold category codes (0, 1, 2,
	// ...). When set, those columns are expanded into indicator columns
	// with an Encoder (the lowest code is the reference level) and the
	// fitted model encodes the rows it predicts for in the same way.
	Categorical []bool
}

// WithCategorical returns a copy of l that treats the marked columns as
// category codes. It implements CategoricalLearner.
func (l Linear) WithCategorical(categorical []bool) Learner {
	l.Categorical = categorical
	return l
}

// CategoricalLearner is implemented by learners that can treat some
// feature columns as category codes. The meta-learners pass
// UpliftData.Categorical to base learners that implement it.
type CategoricalLearner interface {
	Learner
	// WithCategorical returns a learner that treats the columns marked
	// true as category codes.
	WithCategorical(categorical []bool) Learner
}

// LinearModel is a fitted linear or logistic model. Its prediction for a
// row x is η = Intercept + Σ_j Coef_j·x_j for Regression and σ(η) =
// 1/(1+e^−η) for Classification. When Encoder is set, x is first expanded
// by it and Coef has one entry per encoded column.
type LinearModel struct {
	// Task is Regression or Classification.
	Task Task `json:"task"`
	// Intercept is the constant term on the original scale.
	Intercept float64 `json:"intercept"`
	// Coef holds one coefficient per (encoded) column, original scale.
	Coef []float64 `json:"coef"`
	// Encoder expands categorical columns; nil when all are numeric.
	Encoder *Encoder `json:"encoder,omitempty"`
}

// Kind implements Kinded.
func (m *LinearModel) Kind() string { return "linear" }

// Predict implements Model. It panics when x has the wrong number of
// columns.
func (m *LinearModel) Predict(dst []float64, x *mat.Dense) []float64 {
	n, p := x.Dims()
	want := len(m.Coef)
	var tabs [][]int32
	if m.Encoder != nil {
		want = len(m.Encoder.Categorical)
		if m.Encoder.Width() != len(m.Coef) {
			panic(fmt.Sprintf("causal: linear model has %d coefficients for an encoder of width %d", len(m.Coef), m.Encoder.Width()))
		}
		tabs = m.Encoder.lookup()
	}
	if p != want {
		panic(fmt.Sprintf("causal: linear model for %d columns applied to %d", want, p))
	}
	if cap(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	if n == 0 {
		return dst
	}
	raw := x.RawMatrix()
	linParallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := raw.Data[i*raw.Stride : i*raw.Stride+p]
			var eta float64
			if tabs == nil {
				eta = linDot(m.Coef, row)
			} else {
				eta = m.Encoder.dot(m.Coef, row, tabs)
			}
			eta += m.Intercept
			if m.Task == Classification {
				eta = sigmoid(eta)
			}
			dst[i] = eta
		}
	})
	return dst
}

// Fit implements Learner. src is not used: the fit is deterministic.
func (l Linear) Fit(x *mat.Dense, y, weights []float64, task Task, src rand.Source) (Model, error) {
	if l.L2 < 0 || math.IsNaN(l.L2) || math.IsInf(l.L2, 0) {
		return nil, fmt.Errorf("linear: L2 penalty %v: %w", l.L2, ErrParam)
	}
	if task != Regression && task != Classification {
		return nil, fmt.Errorf("linear: unknown task %d: %w", task, ErrParam)
	}
	if x == nil {
		return nil, fmt.Errorf("linear: nil feature matrix: %w", ErrInput)
	}
	if err := linCheckFit(x, y, weights, task); err != nil {
		return nil, fmt.Errorf("linear: %w", err)
	}
	var enc *Encoder
	if l.Categorical != nil {
		var err error
		enc, err = FitEncoder(x, l.Categorical)
		if err != nil {
			return nil, fmt.Errorf("linear: %w", err)
		}
		if enc.Width() == 0 {
			return nil, fmt.Errorf("linear: %w: no feature columns left after encoding (every categorical column has a single level)", ErrInput)
		}
		x = enc.Transform(nil, x)
	}
	lambda := l.L2
	if lambda == 0 {
		lambda = DefaultL2
	}
	maxIter := l.MaxIter
	if maxIter <= 0 {
		maxIter = 100
	}
	tol := l.Tol
	if tol <= 0 {
		tol = 1e-9
	}
	st := linStandardise(x, weights)
	var beta []float64
	var err error
	if task == Regression {
		beta, err = linSolveLS(x, y, weights, st, lambda)
	} else {
		beta, err = linSolveLogistic(x, y, weights, st, lambda, maxIter, tol, src)
	}
	if err != nil {
		return nil, fmt.Errorf("linear: %w", err)
	}
	m := &LinearModel{Task: task, Coef: make([]float64, len(st.mean)), Encoder: enc}
	m.Intercept = beta[0]
	for j := range st.mean {
		c := beta[j+1] * st.inv[j]
		m.Coef[j] = c
		m.Intercept -= c * st.mean[j]
	}
	return m, nil
}

// linCheckFit validates the shared inputs of a Fit call.
func linCheckFit(x *mat.Dense, y, w []float64, task Task) error {
	n, p := x.Dims()
	if len(y) != n {
		return fmt.Errorf("%w: %d outcomes for %d rows", ErrInput, len(y), n)
	}
	if w != nil && len(w) != n {
		return fmt.Errorf("%w: %d weights for %d rows", ErrInput, len(w), n)
	}
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: outcome %d is %v", ErrInput, i, v)
		}
		if task == Classification && (v < 0 || v > 1) {
			return fmt.Errorf("%w: classification outcome %d is %v, want a value in [0, 1]", ErrInput, i, v)
		}
	}
	var sw float64
	for i, v := range w {
		if !(v >= 0) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: weight %d is %v", ErrInput, i, v)
		}
		sw += v
	}
	if n == 0 || (w != nil && sw == 0) {
		return fmt.Errorf("%w: no rows with positive weight", ErrInput)
	}
	raw := x.RawMatrix()
	for i := 0; i < n; i++ {
		for j, v := range raw.Data[i*raw.Stride : i*raw.Stride+p] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: feature %d of row %d is %v", ErrInput, j, i, v)
			}
		}
	}
	return nil
}

// linStats holds the weighted column means and inverse standard deviations
// (zero for a constant column).
type linStats struct {
	mean, inv []float64
}

// linStandardise computes weighted column means and standard deviations in
// two passes (mean, then centred second moment).
func linStandardise(x *mat.Dense, w []float64) linStats {
	n, p := x.Dims()
	raw := x.RawMatrix()
	sums := linReduce(n, p+1, func(acc []float64, lo, hi int) {
		for i := lo; i < hi; i++ {
			wi := 1.0
			if w != nil {
				wi = w[i]
			}
			acc[p] += wi
			row := raw.Data[i*raw.Stride : i*raw.Stride+p]
			for j, v := range row {
				acc[j] += wi * v
			}
		}
	})
	sw := sums[p]
	mean := make([]float64, p)
	for j := range mean {
		mean[j] = sums[j] / sw
	}
	ss := linReduce(n, p, func(acc []float64, lo, hi int) {
		for i := lo; i < hi; i++ {
			wi := 1.0
			if w != nil {
				wi = w[i]
			}
			row := raw.Data[i*raw.Stride : i*raw.Stride+p]
			for j, v := range row {
				d := v - mean[j]
				acc[j] += wi * d * d
			}
		}
	})
	inv := make([]float64, p)
	for j := range inv {
		sd := math.Sqrt(ss[j] / sw)
		if sd > 1e-12*math.Max(1, math.Abs(mean[j])) {
			inv[j] = 1 / sd
		}
	}
	return linStats{mean: mean, inv: inv}
}

// linSolveLS solves the ridge normal equations (Z'WZ + λD)β = Z'Wy.
func linSolveLS(x *mat.Dense, y, w []float64, st linStats, lambda float64) ([]float64, error) {
	n, p := x.Dims()
	q := p + 1
	raw := x.RawMatrix()
	acc := linReduce(n, q*q+q, func(acc []float64, lo, hi int) {
		z := make([]float64, q)
		a, b := acc[:q*q], acc[q*q:]
		for i := lo; i < hi; i++ {
			wi := 1.0
			if w != nil {
				wi = w[i]
			}
			if wi == 0 {
				continue
			}
			linZRow(z, raw.Data[i*raw.Stride:i*raw.Stride+p], st)
			linRank1(a, z, wi, q)
			wy := wi * y[i]
			for j, v := range z {
				b[j] += wy * v
			}
		}
	})
	return linSolve(acc[:q*q], acc[q*q:], q, lambda)
}

// linSolveLogistic maximises the penalised log likelihood by Newton's
// method with step halving.
func linSolveLogistic(x *mat.Dense, y, w []float64, st linStats, lambda float64, maxIter int, tol float64, src rand.Source) ([]float64, error) {
	n, p := x.Dims()
	q := p + 1
	raw := x.RawMatrix()
	beta := make([]float64, q)
	var sw, swy float64
	for i := range y {
		wi := 1.0
		if w != nil {
			wi = w[i]
		}
		sw += wi
		swy += wi * y[i]
	}
	mu := math.Min(math.Max(swy/sw, 1e-6), 1-1e-6)
	beta[0] = math.Log(mu / (1 - mu))
	// pass returns Σ w·loglik and fills the Hessian and gradient.
	pass := func(beta []float64) []float64 {
		return linReduce(n, q*q+q+1, func(acc []float64, lo, hi int) {
			// Rows are added to the Hessian four at a time (see
			// linRank4); zb holds the pending rows and hw their weights.
			zb := make([]float64, 4*q)
			var hw [4]float64
			nb := 0
			a, g := acc[:q*q], acc[q*q:q*q+q]
			var ll float64
			for i := lo; i < hi; i++ {
				wi := 1.0
				if w != nil {
					wi = w[i]
				}
				if wi == 0 {
					continue
				}
				z := zb[nb*q : nb*q+q]
				linZRow(z, raw.Data[i*raw.Stride:i*raw.Stride+p], st)
				eta := linDot(beta, z)
				yi := y[i]
				// With u = e^−|η|: σ(η) = 1/(1+u) for η ≥ 0 and u/(1+u)
				// otherwise, and the log likelihood y·η − log(1+e^η) is
				// y·η − max(η, 0) − log1p(u): one exp and one log per row.
				u := math.Exp(-math.Abs(eta))
				pr := 1 / (1 + u)
				if eta < 0 {
					pr = u * pr
				}
				ll += wi * (yi*eta - max(eta, 0) - math.Log1p(u))
				hw[nb] = wi * pr * (1 - pr)
				if nb++; nb == 4 {
					linRank4(a, zb, hw, q)
					nb = 0
				}
				r := wi * (yi - pr)
				for j, v := range z {
					g[j] += r * v
				}
			}
			for k := range nb {
				linRank1(a, zb[k*q:k*q+q], hw[k], q)
			}
			acc[q*q+q] += ll
		})
	}
	penalised := func(beta []float64, ll float64) float64 {
		var s float64
		for _, b := range beta[1:] {
			s += b * b
		}
		return ll - 0.5*lambda*s
	}
	acc := pass(beta)
	obj := penalised(beta, acc[q*q+q])
	next := make([]float64, q)
	var prev float64
	for iter := 0; iter < maxIter; iter++ {
		if err := stopped(src); err != nil {
			return nil, err
		}
		g := acc[q*q : q*q+q]
		for j := 1; j < q; j++ {
			g[j] -= lambda * beta[j]
		}
		step, err := linSolve(acc[:q*q], g, q, lambda)
		if err != nil {
			return nil, err
		}
		t := 1.0
		var nacc []float64
		var nobj float64
		for half := 0; ; half++ {
			for j := range next {
				next[j] = beta[j] + t*step[j]
			}
			if err := stopped(src); err != nil {
				return nil, err
			}
			nacc = pass(next)
			nobj = penalised(next, nacc[q*q+q])
			if nobj >= obj-1e-12*math.Abs(obj) || half >= 30 {
				break
			}
			t /= 2
		}
		var move float64
		for j := range step {
			move = math.Max(move, math.Abs(t*step[j]))
		}
		copy(beta, next)
		acc, obj = nacc, nobj
		// Newton converges quadratically: the next move is about
		// move³/prev², so stop when that is below tol too.
		if move < tol || (t == 1 && prev > 0 && move*move*move < tol*prev*prev) {
			return beta, nil
		}
		prev = move
	}
	return beta, nil
}

// linSolve solves (A + λD)β = b where A is the q×q matrix accumulated in
// its upper triangle and D is the identity with D_00 = 0.
func linSolve(a, b []float64, q int, lambda float64) ([]float64, error) {
	s := mat.NewSymDense(q, nil)
	for i := 0; i < q; i++ {
		for j := i; j < q; j++ {
			v := a[i*q+j]
			if i == j && i > 0 {
				v += lambda
			}
			s.SetSym(i, j, v)
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(s) {
		return nil, fmt.Errorf("%w: normal equations are singular: all weight on too few rows", ErrInsufficientData)
	}
	var out mat.VecDense
	if err := ch.SolveVecTo(&out, mat.NewVecDense(q, append([]float64(nil), b...))); err != nil {
		var c mat.Condition
		if errors.As(err, &c) {
			return nil, fmt.Errorf("%w: solve normal equations: %w", ErrInsufficientData, err)
		}
		return nil, fmt.Errorf("solve normal equations: %w", err)
	}
	return out.RawVector().Data, nil
}

// linZRow writes [1, (x−mean)·inv] into z.
func linZRow(z, row []float64, st linStats) {
	z[0] = 1
	zz := z[1:]
	mean, inv := st.mean[:len(row)], st.inv[:len(row)]
	for j, v := range row {
		zz[j] = (v - mean[j]) * inv[j]
	}
}

// linRank1 adds w·z·z' to the upper triangle of the q×q matrix a.
func linRank1(a, z []float64, w float64, q int) {
	for j := 0; j < q; j++ {
		wz := w * z[j]
		zz := z[j:q]
		r := a[j*q+j : j*q+q]
		r = r[:len(zz)]
		for k, v := range zz {
			r[k] += wz * v
		}
	}
}

// linRank4 adds Σ_k w[k]·z_k·z_k' to the upper triangle of the q×q matrix
// a for the four rows z_k = zb[k·q : k·q+q]. Each element of a is loaded
// and stored once for four rows.
func linRank4(a, zb []float64, w [4]float64, q int) {
	z0, z1, z2, z3 := zb[:q], zb[q:2*q], zb[2*q:3*q], zb[3*q:4*q]
	for j := 0; j < q; j++ {
		w0, w1, w2, w3 := w[0]*z0[j], w[1]*z1[j], w[2]*z2[j], w[3]*z3[j]
		r := a[j*q+j : j*q+q]
		y0, y1, y2, y3 := z0[j:q], z1[j:q], z2[j:q], z3[j:q]
		y0, y1, y2, y3 = y0[:len(r)], y1[:len(r)], y2[:len(r)], y3[:len(r)]
		for k := range r {
			r[k] += w0*y0[k] + w1*y1[k] + w2*y2[k] + w3*y3[k]
		}
	}
}

func linDot(a, b []float64) float64 {
	var s float64
	b = b[:len(a)]
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// linMinChunk is the fewest rows worth a goroutine of their own.
const linMinChunk = 8192

// linWorkers returns how many goroutines to use for n rows.
func linWorkers(n int) int {
	k := runtime.GOMAXPROCS(0)
	if m := n / linMinChunk; m < k {
		k = m
	}
	return max(k, 1)
}

// linParallel calls f on disjoint row ranges covering [0, n).
func linParallel(n int, f func(lo, hi int)) {
	parallelRanges(n, linWorkers(n), func(_, lo, hi int) { f(lo, hi) })
}

// linReduce runs f on disjoint row ranges, each with its own zeroed
// accumulator of length size, and returns the sum of the accumulators.
func linReduce(n, size int, f func(acc []float64, lo, hi int)) []float64 {
	k := linWorkers(n)
	accs := make([]float64, k*size)
	parallelRanges(n, k, func(c, lo, hi int) { f(accs[c*size:(c+1)*size], lo, hi) })
	out := accs[:size]
	for c := 1; c < k; c++ {
		for j, v := range accs[c*size : (c+1)*size] {
			out[j] += v
		}
	}
	return out
}
