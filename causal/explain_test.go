package causal

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

var explainSeeds = flag.Int("explain.seeds", 3, "draws of Nie and Wager's setup B in TestExplainNieWagerB (the acceptance runs 20)")

// nieWagerB draws n units of Nie and Wager's setup B with d covariates
// and noise σ: x ~ N(0, I_d), a randomised treatment with e = 1/2,
//
//	y = max(0, x1 + x2, x3) + max(0, x4 + x5) + (w − 1/2)·τ(x) + σ·ε,
//	τ(x) = x1 + log(1 + e^{x2}).
func nieWagerB(n, d int, sigma float64, rng *rand.Rand) (UpliftData, []float64) {
	x := mat.NewDense(n, d, nil)
	t := make([]int, n)
	y := make([]float64, n)
	tau := make([]float64, n)
	for i := range n {
		row := x.RawRowView(i)
		for j := range row {
			row[j] = rng.NormFloat64()
		}
		b := math.Max(0, math.Max(row[0]+row[1], row[2])) + math.Max(0, row[3]+row[4])
		tau[i] = row[0] + math.Log1p(math.Exp(row[1]))
		w := 0.0
		if rng.Float64() < 0.5 {
			t[i], w = 1, 1
		}
		y[i] = b + (w-0.5)*tau[i] + sigma*rng.NormFloat64()
	}
	return UpliftData{X: x, Treatment: t, Arms: 1, Y: y}, tau
}

// effectOf adapts a fitted uplift model's first arm to an EffectFunc.
func effectOf(m UpliftModel) EffectFunc {
	return func(dst []float64, x *mat.Dense) ([]float64, error) {
		e := m.Effects(nil, x)
		n, _ := x.Dims()
		if cap(dst) < n {
			dst = make([]float64, n)
		}
		dst = dst[:n]
		mat.Col(dst, 0, e)
		return dst, nil
	}
}

// TestExplainNieWagerB is the acceptance check of explain on Nie and
// Wager's setup B with 10 covariates and 5,000 rows: over the draws, the
// BLP intervals exclude 0 for x1 and x2 and for at most one other
// covariate in at least 90% of them; in every draw the two largest
// importances are x1 and x2 and the tree's first split is on x1 or x2.
// -explain.seeds=20 runs the acceptance's 20 draws.
func TestExplainNieWagerB(t *testing.T) {
	seeds := *explainSeeds
	var blpOK int
	for s := range seeds {
		rng := rand.New(rand.NewPCG(uint64(s)+1, 0xb))
		d, _ := nieWagerB(5000, 10, 1, rng)
		m, err := TLearner{Base: GBT{MaxIter: 100, MaxLeaves: 15}}.FitUplift(d, rand.NewPCG(uint64(s), 1))
		if err != nil {
			t.Fatal(err)
		}
		ex, err := Explain(ExplainData{X: d.X, T: d.Treatment, Y: d.Y}, effectOf(m), ExplainConfig{}, rand.NewPCG(uint64(s), 2))
		if err != nil {
			t.Fatal(err)
		}
		var excl []int
		for _, c := range ex.BLP {
			if c.CI[0] > 0 || c.CI[1] < 0 {
				excl = append(excl, c.Feature)
			}
		}
		ok := slices.Contains(excl, 0) && slices.Contains(excl, 1) && len(excl) <= 3
		if ok {
			blpOK++
		}
		top := []int{ex.Importance[0].Feature, ex.Importance[1].Feature}
		slices.Sort(top)
		t.Logf("seed %d: BLP x1 %.3f [%.3f, %.3f], x2 %.3f [%.3f, %.3f], excluding 0: %v; importance %v; first split x%d",
			s+1, ex.BLP[0].Coef, ex.BLP[0].CI[0], ex.BLP[0].CI[1], ex.BLP[1].Coef, ex.BLP[1].CI[0], ex.BLP[1].CI[1],
			excl, fmtImportance(ex.Importance[:3]), ex.Tree.Feature+1)
		if !slices.Equal(top, []int{0, 1}) {
			t.Errorf("seed %d: the two largest importances are features %v, want x1 and x2", s+1, top)
		}
		if f := ex.Tree.Feature; f != 0 && f != 1 {
			t.Errorf("seed %d: the tree's first split is on x%d, want x1 or x2", s+1, f+1)
		}
	}
	t.Logf("BLP: x1 and x2 and at most one other covariate exclude 0 in %d of %d draws", blpOK, seeds)
	if float64(blpOK) < 0.9*float64(seeds) {
		t.Errorf("BLP right in %d of %d draws, want at least 90%%", blpOK, seeds)
	}
}

func fmtImportance(fs []FeatureImportance) string {
	s := ""
	for _, f := range fs {
		s += fmt.Sprintf("x%d %.3f [%.3f, %.3f] ", f.Feature+1, f.Value, f.CI[0], f.CI[1])
	}
	return s
}

// TestBestLinearProjectionHC3 checks the coefficients and HC3 standard
// errors against a direct computation with explicit matrices.
func TestBestLinearProjectionHC3(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 400
	x := mat.NewDense(n, 3, nil)
	gamma := make([]float64, n)
	for i := range n {
		a, b := rng.NormFloat64()*2+1, rng.Float64()
		c := float64(rng.IntN(3)) // categorical codes 0, 1, 2
		x.SetRow(i, []float64{a, b, c})
		gamma[i] = 0.5 + 1.5*a - b + 2*boolf(c == 2) + (1+math.Abs(a))*rng.NormFloat64()
	}
	cat := []bool{false, false, true}
	icpt, coefs, err := BestLinearProjection(gamma, x, cat, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	if len(coefs) != 4 {
		t.Fatalf("got %d terms, want 4 (a, b, c=1, c=2)", len(coefs))
	}
	// Direct: Z with standardised columns, β = (ZᵀZ)⁻¹Zᵀγ, HC3 sandwich.
	cols := [][]float64{make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)}
	for i := range n {
		cols[0][i], cols[1][i] = x.At(i, 0), x.At(i, 1)
		cols[2][i], cols[3][i] = boolf(x.At(i, 2) == 1), boolf(x.At(i, 2) == 2)
	}
	z := mat.NewDense(n, 5, nil)
	for c, col := range cols {
		m, se := MeanSE(col, nil)
		sd := se * math.Sqrt(float64(n))
		for i := range n {
			z.Set(i, 0, 1)
			z.Set(i, c+1, (col[i]-m)/sd)
		}
	}
	var ztz, inv mat.Dense
	ztz.Mul(z.T(), z)
	if err := inv.Inverse(&ztz); err != nil {
		t.Fatal(err)
	}
	var beta mat.VecDense
	beta.MulVec(z.T(), mat.NewVecDense(n, gamma))
	beta.MulVec(&inv, &beta)
	var h mat.Dense
	h.Product(z, &inv, z.T())
	omega := mat.NewDiagDense(n, nil)
	for i := range n {
		var fit float64
		for c := range 5 {
			fit += z.At(i, c) * beta.AtVec(c)
		}
		e := gamma[i] - fit
		omega.SetDiag(i, e*e/((1-h.At(i, i))*(1-h.At(i, i))))
	}
	var v mat.Dense
	v.Product(&inv, z.T(), omega, z, &inv)
	v.Scale(float64(n)/float64(n-1), &v)
	q := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 5)}.Quantile(0.95)
	got := append([]ProjectionCoef{icpt}, coefs...)
	for c, g := range got {
		b, se := beta.AtVec(c), math.Sqrt(v.At(c, c))
		if !near(g.Coef, b, 1e-9) || !near(g.SE, se, 1e-9) || !near(g.CI[1], b+q*se, 1e-9) {
			t.Errorf("term %d: got %.6f (SE %.6f, CI %v), want %.6f (SE %.6f)", c, g.Coef, g.SE, g.CI, b, se)
		}
	}
	// The planted structure: a and c=2 raise the effect, b lowers it, c=1
	// does nothing.
	if coefs[0].PValue > 1e-6 || coefs[1].CI[1] > 0 || coefs[3].CI[0] < 0 || coefs[2].Feature != 2 || coefs[2].Level != 1 {
		t.Errorf("coefficients %+v do not show the planted structure", coefs)
	}
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

// TestBestLinearProjectionCollinear: a feature that is a linear
// combination of earlier ones is left out (NaN), and the others get the
// fit without it.
func TestBestLinearProjectionCollinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	n := 300
	x := mat.NewDense(n, 4, nil)
	y := mat.NewDense(n, 2, nil)
	gamma := make([]float64, n)
	for i := range n {
		a, b := rng.NormFloat64(), rng.NormFloat64()
		x.SetRow(i, []float64{a, b, 3 - a + 2*b, a})
		y.SetRow(i, []float64{a, b})
		gamma[i] = a - b + rng.NormFloat64()
	}
	_, got, err := BestLinearProjection(gamma, x, nil, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	_, want, err := BestLinearProjection(gamma, y, nil, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(got[2].Coef) || !math.IsNaN(got[3].Coef) || !math.IsNaN(got[3].CI[0]) {
		t.Errorf("collinear features got %+v and %+v, want NaN", got[2], got[3])
	}
	for j := range 2 {
		if !near(got[j].Coef, want[j].Coef, 1e-9) || !near(got[j].SE, want[j].SE, 1e-9) {
			t.Errorf("feature %d: %+v, want %+v as without the collinear features", j, got[j], want[j])
		}
	}
}

func TestBestLinearProjectionConstantFeature(t *testing.T) {
	x := mat.NewDense(5, 2, []float64{1, 3, 2, 3, 3, 3, 4, 3, 5, 3})
	gamma := []float64{1, 2.5, 2.9, 4.2, 5}
	_, coefs, err := BestLinearProjection(gamma, x, nil, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	if math.IsNaN(coefs[0].Coef) || !math.IsNaN(coefs[1].Coef) {
		t.Errorf("got %+v, want a coefficient for feature 0 and NaN for the constant feature 1", coefs)
	}
}

// TestPermutationImportanceAdditive checks the importance of an additive
// effect against its variance shares: τ = 2·x0 + x1 with independent unit
// normal features gives shares 4/5, 1/5 and 0.
func TestPermutationImportanceAdditive(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	n := 20000
	x := mat.NewDense(n, 3, nil)
	for i := range n {
		x.SetRow(i, []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()})
	}
	f := func(dst []float64, x *mat.Dense) ([]float64, error) {
		r, _ := x.Dims()
		dst = slices.Grow(dst[:0], r)[:r]
		for i := range r {
			dst[i] = 2*x.At(i, 0) + x.At(i, 1)
		}
		return dst, nil
	}
	tau, _ := f(nil, x)
	imp, err := PermutationImportance(x, tau, f, ImportanceOptions{Repeats: 4, Rows: 10000, Level: 0.95}, rand.NewPCG(7, 8))
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]float64{0: 0.8, 1: 0.2, 2: 0}
	for k, fi := range imp {
		if fi.Feature != k {
			t.Errorf("rank %d is feature %d, want %d", k, fi.Feature, k)
		}
		if math.Abs(fi.Value-want[fi.Feature]) > 0.03 {
			t.Errorf("feature %d: importance %.4f, want %.2f ± 0.03", fi.Feature, fi.Value, want[fi.Feature])
		}
		if fi.CI[0] > fi.Value || fi.CI[1] < fi.Value {
			t.Errorf("feature %d: interval %v does not hold %.4f", fi.Feature, fi.CI, fi.Value)
		}
	}
	// A constant effect: nothing moves it.
	zero := func(dst []float64, x *mat.Dense) ([]float64, error) { r, _ := x.Dims(); return make([]float64, r), nil }
	imp, err = PermutationImportance(x, make([]float64, n), zero, ImportanceOptions{Repeats: 2, Level: 0.95}, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, fi := range imp {
		if fi.Value != 0 {
			t.Errorf("constant effect: feature %d has importance %v", fi.Feature, fi.Value)
		}
	}
}

// TestEffectTree plants a step effect: τ = 1 when x1 > 0.3 (numeric) and
// 3 more for category 2 of x0; the tree finds both splits and its
// leaves' doubly robust means match.
func TestEffectTree(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	n := 4000
	x := mat.NewDense(n, 3, nil)
	tau, gamma := make([]float64, n), make([]float64, n)
	for i := range n {
		c, a := float64(rng.IntN(4)), rng.Float64()
		x.SetRow(i, []float64{c, a, rng.NormFloat64()})
		tau[i] = boolf(a > 0.3) + 3*boolf(c == 2)
		gamma[i] = tau[i] + rng.NormFloat64()
	}
	// Intervals at 99.9% for four leaves: a miss is a bug, not chance.
	root, err := EffectTree(x, []bool{true, false, false}, tau, gamma, 3, 50, 0.999)
	if err != nil {
		t.Fatal(err)
	}
	if root.Feature != 0 || root.Level != 2 || !math.IsNaN(root.Threshold) {
		t.Fatalf("root splits on feature %d level %d threshold %v, want category 2 of feature 0", root.Feature, root.Level, root.Threshold)
	}
	for _, child := range []*EffectNode{root.Left, root.Right} {
		if child.Feature != 1 || math.Abs(child.Threshold-0.3) > 0.01 {
			t.Errorf("child splits on feature %d at %v, want feature 1 at 0.3", child.Feature, child.Threshold)
		}
		for _, leaf := range []*EffectNode{child.Left, child.Right} {
			if !(leaf.CI[0] < leaf.Tau && leaf.Tau < leaf.CI[1]) {
				t.Errorf("leaf with τ̂ %.3f: the doubly robust interval %v misses it", leaf.Tau, leaf.CI)
			}
			if leaf.Leaf() == false && leaf.Left.N+leaf.Right.N != leaf.N {
				t.Errorf("children hold %d + %d units of %d", leaf.Left.N, leaf.Right.N, leaf.N)
			}
		}
	}
	if root.N != n || root.Left.N+root.Right.N != n {
		t.Errorf("root %d units, children %d + %d", root.N, root.Left.N, root.Right.N)
	}
	// A constant effect is one leaf.
	root, err = EffectTree(x, nil, make([]float64, n), nil, 3, 10, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	if !root.Leaf() || !math.IsNaN(root.CI[0]) {
		t.Errorf("constant effect: got %+v, want one leaf without an interval", root)
	}
}

// TestTermEffectsPlanted: documents holding "gold" have effect 1 more; the
// term ranks first, and rare terms are left out.
func TestTermEffectsPlanted(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	words := []string{"red", "blue", "green", "shoe", "hat", "bag", "soft", "warm", "new", "sale"}
	n := 600
	tau := make([]float64, n)
	docs := make([][]string, n)
	for i := range n {
		for range 4 {
			docs[i] = append(docs[i], words[rng.IntN(len(words))])
		}
		tau[i] = 0.1 * rng.NormFloat64()
		if rng.Float64() < 0.1 {
			docs[i] = append(docs[i], "gold")
			tau[i] += 1
		}
		if i < 3 {
			docs[i] = append(docs[i], "rare")
		}
	}
	got, err := TermEffects(tau, docs, 10, 5, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got[0].Term != "gold" {
		t.Fatalf("got %+v, want gold first of 5", got)
	}
	if g := got[0]; math.Abs(g.Effect-1) > 0.05 || g.CI[0] > 1 || g.CI[1] < 1 {
		t.Errorf("gold: effect %.3f %v, want 1 inside", g.Effect, g.CI)
	}
	all, _ := TermEffects(tau, docs, 10, 0, 0.95)
	if slices.ContainsFunc(all, func(e TermEffect) bool { return e.Term == "rare" }) {
		t.Errorf("a term of 3 documents passed a minimum support of 10")
	}
}

func TestExplainErrors(t *testing.T) {
	x := mat.NewDense(4, 1, []float64{1, 2, 3, 4})
	ok := func(dst []float64, x *mat.Dense) ([]float64, error) { r, _ := x.Dims(); return make([]float64, r), nil }
	short := func(dst []float64, x *mat.Dense) ([]float64, error) { return []float64{1}, nil }
	nan := func(dst []float64, x *mat.Dense) ([]float64, error) {
		r, _ := x.Dims()
		out := make([]float64, r)
		out[1] = math.NaN()
		return out, nil
	}
	for _, tc := range []struct {
		name string
		d    ExplainData
		f    EffectFunc
		cfg  ExplainConfig
	}{
		{"no features", ExplainData{}, ok, ExplainConfig{}},
		{"treatment without outcome", ExplainData{X: x, T: []int{0, 1, 0, 1}}, ok, ExplainConfig{}},
		{"short treatment", ExplainData{X: x, T: []int{0, 1}, Y: []float64{1, 2}}, ok, ExplainConfig{}},
		{"short prediction", ExplainData{X: x}, short, ExplainConfig{}},
		{"NaN prediction", ExplainData{X: x}, nan, ExplainConfig{}},
		{"one repeat", ExplainData{X: x}, ok, ExplainConfig{Repeats: 1}},
		{"deep tree", ExplainData{X: x}, ok, ExplainConfig{Depth: 9}},
		{"level", ExplainData{X: x}, ok, ExplainConfig{Level: 1}},
	} {
		if _, err := Explain(tc.d, tc.f, tc.cfg, rand.NewPCG(1, 1)); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}
