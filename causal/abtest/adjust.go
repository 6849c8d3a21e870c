package abtest

import (
	"fmt"
	"math"
)

// AdjustedLift is the regression-adjusted lift of sample a over sample b
// with covariates xa and xb (xa[k] is covariate k of every unit of a, of
// len(ya)): CUPED with one covariate, the pre-assignment metric (Deng et
// al. 2013), CUPAC with the serving model's prediction as well. The
// coefficients are pooled within arms, so that the treatment effect does
// not enter them:
//
//	S_xx = Σ_arms Σ_i (x_i − x̄_arm)(x_i − x̄_arm)ᵀ,  S_xy = Σ_arms Σ_i (x_i − x̄_arm)(y_i − ȳ_arm)
//	θ    = S_xx⁻¹ S_xy
//	ỹ_i  = y_i − θᵀ(x_i − x̄)                      (x̄ the mean over both arms)
//
// and the adjusted lift is Welch's comparison of the ỹ of both arms:
//
//	d̃ = (ȳ_a − ȳ_b) − θᵀ(x̄_a − x̄_b),   SE² = s̃_a²/n_a + s̃_b²/n_b.
//
// With one covariate of correlation ρ with y, SE² shrinks by the factor
// 1 − ρ². A covariate that is constant, or a linear combination of the
// covariates before it, gets θ = 0. VarianceReduction is 1 − SE²/SE²_raw
// against the unadjusted Welch SE, and SequentialCI uses
// SequentialHalfWidth with n = n_a + n_b and tuningN. names label the
// covariates in the result. AdjustedLift returns an error wrapping
// ErrInput for mismatched lengths or fewer than 2 units per sample.
func AdjustedLift(ya, yb []float64, xa, xb [][]float64, names []string, alpha, tuningN float64) (Adjusted, error) {
	k := len(xa)
	switch {
	case len(xb) != k || len(names) != k:
		return Adjusted{}, fmt.Errorf("%w: %d and %d covariates, %d names", ErrInput, len(xa), len(xb), len(names))
	case len(ya) < 2 || len(yb) < 2:
		return Adjusted{}, fmt.Errorf("%w: %d and %d units", ErrEmptyArm, len(ya), len(yb))
	}
	for c := range k {
		if len(xa[c]) != len(ya) || len(xb[c]) != len(yb) {
			return Adjusted{}, fmt.Errorf("%w: covariate %q has %d and %d values for %d and %d units", ErrInput, names[c], len(xa[c]), len(xb[c]), len(ya), len(yb))
		}
	}
	ys := [2][]float64{ya, yb}
	xs := [2][][]float64{xa, xb}
	// Within-arm centred cross products.
	sxx := make([]float64, k*k)
	sxy := make([]float64, k)
	var xmean [2][]float64
	var ymean [2]float64
	xbar := make([]float64, k) // pooled mean over both arms
	for s := range 2 {
		y := ys[s]
		n := float64(len(y))
		ymean[s] = summarize(y).mean
		xmean[s] = make([]float64, k)
		for c := range k {
			xmean[s][c] = summarize(xs[s][c]).mean
			xbar[c] += xmean[s][c] * n
		}
		for i := range y {
			dy := y[i] - ymean[s]
			for c := range k {
				dc := xs[s][c][i] - xmean[s][c]
				sxy[c] += dc * dy
				for e := range c + 1 {
					sxx[c*k+e] += dc * (xs[s][e][i] - xmean[s][e])
				}
			}
		}
	}
	for c := range k {
		xbar[c] /= float64(len(ya) + len(yb))
		for e := range c {
			sxx[e*k+c] = sxx[c*k+e]
		}
	}
	theta := solvePSD(sxx, sxy, k)

	// Adjusted values, summarised per arm.
	var adj [2]sample
	for s := range 2 {
		y := ys[s]
		t := make([]float64, len(y))
		for i := range y {
			v := y[i]
			for c := range k {
				v -= theta[c] * (xs[s][c][i] - xbar[c])
			}
			t[i] = v
		}
		adj[s] = summarize(t)
	}
	raw := Welch(ymean[0], summarize(ya).variance, len(ya), ymean[1], summarize(yb).variance, len(yb), alpha)
	w := Welch(adj[0].mean, adj[0].variance, adj[0].n, adj[1].mean, adj[1].variance, adj[1].n, alpha)
	n := len(ya) + len(yb)
	h := SequentialHalfWidth(w.SE, n, alpha, tuningN)
	out := Adjusted{
		Covariates:   append([]string(nil), names...),
		Theta:        theta,
		Lift:         w.Diff,
		SE:           w.SE,
		DF:           w.DF,
		CI:           w.CI,
		PValue:       w.PValue,
		SequentialCI: [2]float64{w.Diff - h, w.Diff + h},
		MDE:          MinimumDetectable(w.SE, w.DF, alpha, MDEPower),
	}
	if raw.SE > 0 {
		out.VarianceReduction = 1 - (w.SE*w.SE)/(raw.SE*raw.SE)
	}
	return out, nil
}

// solvePSD solves S θ = b for a k×k symmetric positive semi-definite S
// (row-major) by a Cholesky factorisation that skips a pivot which is not
// positive relative to its diagonal entry: that covariate is constant or
// collinear with the ones before it, and its coefficient is 0.
func solvePSD(s, b []float64, k int) []float64 {
	const tol = 1e-10
	l := make([]float64, k*k)
	keep := make([]bool, k)
	for j := range k {
		d := s[j*k+j]
		for p := range j {
			d -= l[j*k+p] * l[j*k+p]
		}
		if !(d > tol*s[j*k+j]) || s[j*k+j] <= 0 {
			continue // l's column j stays 0
		}
		keep[j] = true
		l[j*k+j] = math.Sqrt(d)
		for i := j + 1; i < k; i++ {
			v := s[i*k+j]
			for p := range j {
				v -= l[i*k+p] * l[j*k+p]
			}
			l[i*k+j] = v / l[j*k+j]
		}
	}
	// Forward then back substitution over the kept columns.
	z := make([]float64, k)
	for i := range k {
		if !keep[i] {
			continue
		}
		v := b[i]
		for p := range i {
			v -= l[i*k+p] * z[p]
		}
		z[i] = v / l[i*k+i]
	}
	theta := make([]float64, k)
	for i := k - 1; i >= 0; i-- {
		if !keep[i] {
			continue
		}
		v := z[i]
		for p := i + 1; p < k; p++ {
			v -= l[p*k+i] * theta[p]
		}
		theta[i] = v / l[i*k+i]
	}
	return theta
}

// adjust runs AdjustedLift for Analyze on the baseline's and the arm's
// columns (covs[c] = {baseline, arm}).
func adjust(cfg Config, covs [][2][]float64, names []string, yb, ya []float64) (*Adjusted, error) {
	xa := make([][]float64, len(covs))
	xb := make([][]float64, len(covs))
	for c, p := range covs {
		xb[c], xa[c] = p[0], p[1]
	}
	a, err := AdjustedLift(ya, yb, xa, xb, names, cfg.Alpha, cfg.TuningN)
	if err != nil {
		return nil, err
	}
	return &a, nil
}
