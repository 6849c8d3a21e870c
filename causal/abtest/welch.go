package abtest

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// sample holds the summary statistics of one arm's metric.
type sample struct {
	n              int
	sum            float64
	mean, variance float64
}

// summarize computes n, Σy, ȳ and s² = Σ(y − ȳ)²/(n − 1) in two passes.
func summarize(y []float64) sample {
	s := sample{n: len(y)}
	for _, v := range y {
		s.sum += v
	}
	if s.n == 0 {
		return s
	}
	s.mean = s.sum / float64(s.n)
	if s.n < 2 {
		return s
	}
	var ss, c float64
	for _, v := range y {
		d := v - s.mean
		ss += d * d
		c += d
	}
	// Corrected two-pass formula (Chan, Golub and LeVeque 1983).
	s.variance = (ss - c*c/float64(s.n)) / float64(s.n-1)
	if s.variance < 0 {
		s.variance = 0
	}
	return s
}

// WelchResult is a two-sample comparison of means.
type WelchResult struct {
	// Diff is ȳ_a − ȳ_b, SE its standard error, DF the degrees of freedom.
	Diff, SE, DF float64
	// CI is the two-sided 1 − α interval and PValue the two-sided p-value
	// of Diff = 0.
	CI     [2]float64
	PValue float64
}

// Welch compares the mean of sample a (mean ma, unbiased variance va, na
// units) with that of sample b by Welch's unequal-variances t test:
//
//	d  = ȳ_a − ȳ_b
//	SE = √(s_a²/n_a + s_b²/n_b)
//	ν  = SE⁴ / ((s_a²/n_a)²/(n_a − 1) + (s_b²/n_b)²/(n_b − 1))   (Welch–Satterthwaite)
//	CI = d ± t_{ν, 1−α/2}·SE,   p = 2·P(T_ν > |d|/SE).
//
// When SE is 0 the interval is [d, d] and p is 1 if d = 0, else 0. Welch
// panics if na or nb is below 2.
func Welch(ma, va float64, na int, mb, vb float64, nb int, alpha float64) WelchResult {
	if na < 2 || nb < 2 {
		panic("abtest: Welch needs at least 2 units per sample")
	}
	d := ma - mb
	qa, qb := va/float64(na), vb/float64(nb)
	se2 := qa + qb
	r := WelchResult{Diff: d, SE: math.Sqrt(se2)}
	if se2 == 0 {
		r.DF = float64(na + nb - 2)
		r.CI = [2]float64{d, d}
		r.PValue = 1
		if d != 0 {
			r.PValue = 0
		}
		return r
	}
	// ν in terms of the shares of SE², which neither underflow nor
	// overflow.
	fa, fb := qa/se2, qb/se2
	r.DF = 1 / (fa*fa/float64(na-1) + fb*fb/float64(nb-1))
	t := tDist(r.DF)
	q := t.Quantile(1 - alpha/2)
	r.CI = [2]float64{d - q*r.SE, d + q*r.SE}
	r.PValue = math.Min(1, 2*t.Survival(math.Abs(d)/r.SE))
	return r
}

// Relative returns the relative lift r = ȳ_a/ȳ_b − 1 of sample a over
// sample b and its two-sided 1 − α interval by the delta method, treating
// the two means as independent and normal:
//
//	Var(ȳ_a/ȳ_b) ≈ s_a²/(n_a·ȳ_b²) + ȳ_a²·s_b²/(n_b·ȳ_b⁴)
//	CI = r ± z_{1−α/2}·√Var
//
// (Deng, Knoblich and Lu 2018, Applying the delta method in metric
// analytics, KDD). Both are NaN when ȳ_b is 0.
func Relative(ma, va float64, na int, mb, vb float64, nb int, alpha float64) (float64, [2]float64) {
	if mb == 0 {
		return math.NaN(), [2]float64{math.NaN(), math.NaN()}
	}
	q := ma / mb
	// √Var = √(s_a²/n_a + q²·s_b²/n_b) / |ȳ_b|, which keeps tiny means
	// from underflowing ȳ_b⁴.
	sd := math.Sqrt(va/float64(na)+q*q*vb/float64(nb)) / math.Abs(mb)
	h := distuv.UnitNormal.Quantile(1-alpha/2) * sd
	r := q - 1
	if math.IsInf(q, 0) || math.IsInf(h, 0) || math.IsNaN(h) {
		return math.NaN(), [2]float64{math.NaN(), math.NaN()}
	}
	return r, [2]float64{r - h, r + h}
}

// MinimumDetectable is the smallest absolute lift that a two-sided level-α
// test with standard error se and ν degrees of freedom detects with the
// given power (the normal approximation of the power of the t test):
//
//	MDE = (t_{ν, 1−α/2} + z_power)·SE
//
// For a planned experiment, SE scales as 1/√n: quadrupling the users
// halves the MDE. It is 0 when se is 0.
func MinimumDetectable(se, df, alpha, power float64) float64 {
	if se == 0 {
		return 0
	}
	t := tDist(df).Quantile(1 - alpha/2)
	return (t + distuv.UnitNormal.Quantile(power)) * se
}

// tDist is Student's t distribution with ν degrees of freedom, or the
// standard normal beyond ν = 10⁷, where the two agree to 10⁻⁷ and gonum's
// t loses precision (its 0.975 quantile at ν = 10¹⁴ is 1.98).
func tDist(df float64) interface {
	Quantile(p float64) float64
	Survival(x float64) float64
} {
	if df > 1e7 {
		return distuv.UnitNormal
	}
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}
}

// SkewnessMinUsers is the number of users the normal approximation of the
// mean of y wants by Kohavi's rule of thumb for skewed metrics (Kohavi,
// Deng, Longbotham and Xu 2014, Seven rules of thumb for web site
// experimenters, KDD, rule 7):
//
//	n ≥ 355·γ²,   γ = m₃/m₂^{3/2}   (the sample skewness, m_k = Σ(y − ȳ)^k/n)
//
// which keeps the error of a 95% interval's tail probabilities within
// 10%. It is 0 when y has fewer than 3 values or no spread.
func SkewnessMinUsers(y []float64) float64 {
	if len(y) < 3 {
		return 0
	}
	mean := summarize(y).mean
	var m2, m3 float64
	for _, v := range y {
		d := v - mean
		m2 += d * d
		m3 += d * d * d
	}
	n := float64(len(y))
	m2 /= n
	m3 /= n
	if m2 == 0 {
		return 0
	}
	g := m3 / math.Pow(m2, 1.5)
	return 355 * g * g
}
