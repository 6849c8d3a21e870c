package abtest

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"
)

func TestWelch(t *testing.T) {
	for _, tc := range []struct {
		name           string
		ma, va         float64
		na             int
		mb, vb         float64
		nb             int
		diff, se, df   float64
		p, lo, hi, tol float64
	}{
		// Equal sizes and variances: ν = 2(n−1) = 10, and d/SE is the
		// textbook t_{10, 0.975} = 2.228139, so p = 0.05 and lo = 0.
		{name: "t10", ma: 2.228139, va: 3, na: 6, mb: 0, vb: 3, nb: 6, diff: 2.228139, se: 1, df: 10, p: 0.05, lo: 0, hi: 4.456278, tol: 1e-5},
		// y_a = 2,4,6,8,10 and y_b = 1,…,5 by hand: SE² = 10/5 + 2.5/5,
		// ν = 6.25/((2²)/4 + 0.5²/4) = 100/17.
		{name: "hand", ma: 6, va: 10, na: 5, mb: 3, vb: 2.5, nb: 5, diff: 3, se: math.Sqrt(2.5), df: 100.0 / 17, p: math.NaN(), tol: 1e-12},
		{name: "zero variance equal", ma: 1, va: 0, na: 3, mb: 1, vb: 0, nb: 3, diff: 0, se: 0, df: 4, p: 1, lo: 0, hi: 0, tol: 0},
		{name: "zero variance unequal", ma: 2, va: 0, na: 3, mb: 1, vb: 0, nb: 3, diff: 1, se: 0, df: 4, p: 0, lo: 1, hi: 1, tol: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := Welch(tc.ma, tc.va, tc.na, tc.mb, tc.vb, tc.nb, 0.05)
			check := func(what string, got, want float64) {
				t.Helper()
				if !math.IsNaN(want) && !scalar.EqualWithinAbsOrRel(got, want, tc.tol, tc.tol) {
					t.Errorf("%s = %.9g, want %.9g", what, got, want)
				}
			}
			check("diff", w.Diff, tc.diff)
			check("se", w.SE, tc.se)
			check("df", w.DF, tc.df)
			check("p", w.PValue, tc.p)
			if !math.IsNaN(tc.p) {
				check("lo", w.CI[0], tc.lo)
				check("hi", w.CI[1], tc.hi)
			}
		})
	}
}

func TestRelative(t *testing.T) {
	// Var = 1/(100·1) + 1.21·1/(100·1) = 0.0221; h = 1.959964·√0.0221.
	r, ci := Relative(1.1, 1, 100, 1, 1, 100, 0.05)
	h := 1.959963985 * math.Sqrt(0.0221)
	if !scalar.EqualWithinAbs(r, 0.1, 1e-12) || !scalar.EqualWithinAbs(ci[0], 0.1-h, 1e-8) || !scalar.EqualWithinAbs(ci[1], 0.1+h, 1e-8) {
		t.Errorf("Relative = %v %v, want 0.1 ± %v", r, ci, h)
	}
	if r, ci := Relative(1, 1, 10, 0, 1, 10, 0.05); !math.IsNaN(r) || !math.IsNaN(ci[0]) {
		t.Errorf("Relative with baseline mean 0 = %v %v, want NaN", r, ci)
	}
}

func TestSRMTest(t *testing.T) {
	for _, tc := range []struct {
		users   []int
		weights []float64
		chi2    float64
		flag    bool
	}{
		{users: []int{50, 50}, weights: []float64{0.5, 0.5}, chi2: 0},
		{users: []int{600, 400}, weights: []float64{1, 1}, chi2: 40, flag: true},
		{users: []int{520, 480}, weights: []float64{0.5, 0.5}, chi2: 1.6},
		{users: []int{300, 700}, weights: []float64{0.3, 0.7}, chi2: 0},
		{users: []int{0, 0}, weights: []float64{0.3, 0.7}, chi2: 0},
	} {
		r, err := SRMTest(tc.users, tc.weights)
		if err != nil {
			t.Fatal(err)
		}
		// χ²₁ survival is erfc(√(x/2)).
		p := math.Erfc(math.Sqrt(tc.chi2 / 2))
		if !scalar.EqualWithinAbs(r.Chi2, tc.chi2, 1e-9) || !scalar.EqualWithinAbsOrRel(r.PValue, p, 1e-9, 1e-6) || r.Flag != tc.flag || r.DF != 1 {
			t.Errorf("SRMTest(%v, %v) = %+v, want chi2 %v p %v flag %v", tc.users, tc.weights, r, tc.chi2, p, tc.flag)
		}
	}
	for _, bad := range []struct {
		users   []int
		weights []float64
	}{
		{[]int{1}, []float64{1}},
		{[]int{1, 2}, []float64{1}},
		{[]int{1, -2}, []float64{1, 1}},
		{[]int{1, 2}, []float64{1, 0}},
		{[]int{1, 2}, []float64{1, math.NaN()}},
	} {
		if _, err := SRMTest(bad.users, bad.weights); !errors.Is(err, ErrInput) {
			t.Errorf("SRMTest(%v, %v) error %v, want ErrInput", bad.users, bad.weights, err)
		}
	}
}

func TestHolm(t *testing.T) {
	for _, tc := range []struct {
		p, want []float64
	}{
		{p: []float64{0.01, 0.04, 0.03, 0.005}, want: []float64{0.03, 0.06, 0.06, 0.02}},
		{p: []float64{0.5, 0.9}, want: []float64{1, 1}},
		{p: []float64{0.2}, want: []float64{0.2}},
		{p: []float64{math.NaN(), 0.01}, want: []float64{1, 0.02}},
		{p: nil, want: []float64{}},
	} {
		got := Holm(nil, tc.p)
		for i := range tc.want {
			if !scalar.EqualWithinAbs(got[i], tc.want[i], 1e-12) {
				t.Errorf("Holm(%v) = %v, want %v", tc.p, got, tc.want)
				break
			}
		}
	}
}

func TestSequentialHalfWidth(t *testing.T) {
	// By hand: ρ² = (−2 ln 0.05 + ln(1 − 2 ln 0.05))/5000 = 7.936165/5000,
	// nρ² = 7.936165, σ̂² = 5000·0.01 = 50,
	// h² = 50 · 2·8.936165/(5000·7.936165) · ln(√8.936165/0.05) = 0.0921244.
	h := SequentialHalfWidth(0.1, 5000, 0.05, 5000)
	if !scalar.EqualWithinRel(h, math.Sqrt(0.0921244), 1e-5) {
		t.Errorf("SequentialHalfWidth = %.7g, want %.7g", h, math.Sqrt(0.0921244))
	}
	// At n = n* it is 1.549 times the fixed-horizon z_{0.975}·SE.
	if r := h / (0.1 * 1.959963985); !scalar.EqualWithinAbs(r, 1.549, 5e-4) {
		t.Errorf("sequential/fixed half-width at n = n* = %.4f, want 1.549", r)
	}
	// The p-value is alpha exactly at the boundary.
	if p := SequentialPValue(h, 0.1, 5000, 0.05, 5000); !scalar.EqualWithinAbs(p, 0.05, 1e-9) {
		t.Errorf("SequentialPValue at the boundary = %v, want 0.05", p)
	}
	// Always wider than the fixed-horizon interval.
	for _, n := range []int{10, 100, 1000, 5000, 50000, 5000000} {
		if h := SequentialHalfWidth(1, n, 0.05, 5000); h <= 1.96 {
			t.Errorf("n=%d: half-width %v not wider than 1.96·SE", n, h)
		}
	}
}

func TestAnalyzeErrors(t *testing.T) {
	good := func() []Arm {
		return []Arm{
			{Name: "control", Weight: 0.5, Y: []float64{0, 1, 2}},
			{Name: "uplift", Weight: 0.5, Y: []float64{1, 1, 3}},
		}
	}
	for _, tc := range []struct {
		name   string
		edit   func(a []Arm) []Arm
		cfg    Config
		target error
		msg    string
	}{
		{"one arm", func(a []Arm) []Arm { return a[:1] }, Config{}, ErrInput, "1 arms"},
		{"empty arm", func(a []Arm) []Arm { a[1].Y = nil; return a }, Config{}, ErrEmptyArm, `"uplift" has 0 users`},
		{"one user", func(a []Arm) []Arm { a[0].Y = []float64{1}; return a }, Config{}, ErrEmptyArm, `"control" has 1 users`},
		{"duplicate", func(a []Arm) []Arm { a[1].Name = "control"; return a }, Config{}, ErrInput, "duplicate"},
		{"no name", func(a []Arm) []Arm { a[1].Name = ""; return a }, Config{}, ErrInput, "no name"},
		{"zero weight", func(a []Arm) []Arm { a[1].Weight = 0; return a }, Config{}, ErrInput, "weight"},
		{"inf weight", func(a []Arm) []Arm { a[1].Weight = math.Inf(1); return a }, Config{}, ErrInput, "weight"},
		{"nan y", func(a []Arm) []Arm { a[1].Y[2] = math.NaN(); return a }, Config{}, ErrInput, "y[2] is NaN"},
		{"inf pre", func(a []Arm) []Arm { a[0].Pre = []float64{0, math.Inf(-1), 0}; return a }, Config{}, ErrInput, "pre[1] is -Inf"},
		{"pre length", func(a []Arm) []Arm { a[0].Pre = []float64{0}; return a }, Config{}, ErrInput, "1 pre values for 3 users"},
		{"pred length", func(a []Arm) []Arm { a[1].Pred = []float64{0, 1, 2, 3}; return a }, Config{}, ErrInput, "4 predictions for 3 users"},
		{"negative exposures", func(a []Arm) []Arm { a[1].Exposures = -1; return a }, Config{}, ErrInput, "exposures"},
		{"alpha", func(a []Arm) []Arm { return a }, Config{Alpha: 1.5}, ErrInput, "alpha"},
		{"tuning", func(a []Arm) []Arm { return a }, Config{TuningN: -3}, ErrInput, "tuning"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Analyze(tc.edit(good()), tc.cfg)
			if !errors.Is(err, tc.target) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want %v containing %q", err, tc.target, tc.msg)
			}
		})
	}
	if _, err := Analyze(good(), Config{}); err != nil {
		t.Errorf("good input: %v", err)
	}
}

func TestAnalyzeSummary(t *testing.T) {
	arms := []Arm{
		{Name: "control", Weight: 1, Y: []float64{0, 0, 1, 3}, Exposures: 40},
		{Name: "uplift", Weight: 1, Y: []float64{1, 2, 3}, Exposures: 30},
		{Name: "random", Weight: 2, Y: []float64{0, 0}, Exposures: 10},
	}
	rep, err := Analyze(arms, Config{})
	if err != nil {
		t.Fatal(err)
	}
	a := rep.Arms[0]
	if a.Users != 4 || a.Outcomes != 4 || a.Mean != 1 || !scalar.EqualWithinAbs(a.Variance, 2, 1e-12) || a.Exposures != 40 || a.Weight != 0.25 || a.Share != 4.0/9 {
		t.Errorf("control summary %+v", a)
	}
	if len(rep.Comparisons) != 2 || rep.Comparisons[0].Arm != "uplift" || rep.Comparisons[1].Baseline != "control" {
		t.Fatalf("comparisons %+v", rep.Comparisons)
	}
	c := rep.Comparisons[0]
	if c.Lift != 1 || !scalar.EqualWithinAbs(c.RelativeLift, 1, 1e-12) {
		t.Errorf("uplift lift %v relative %v, want 1 and 1", c.Lift, c.RelativeLift)
	}
	if !(c.SequentialCI[0] < c.CI[0] && c.SequentialCI[1] > c.CI[1]) {
		t.Errorf("sequential %v not wider than fixed %v", c.SequentialCI, c.CI)
	}
	holm := Holm(nil, []float64{rep.Comparisons[0].PValue, rep.Comparisons[1].PValue})
	if rep.Comparisons[0].PValueHolm != holm[0] || rep.Comparisons[1].PValueHolm != holm[1] {
		t.Errorf("holm %v %v, want %v", rep.Comparisons[0].PValueHolm, rep.Comparisons[1].PValueHolm, holm)
	}
	sholm := Holm(nil, []float64{rep.Comparisons[0].SequentialPValue, rep.Comparisons[1].SequentialPValue})
	if rep.Comparisons[0].SequentialPValueHolm != sholm[0] || rep.Comparisons[1].SequentialPValueHolm != sholm[1] {
		t.Errorf("sequential holm %v %v, want %v", rep.Comparisons[0].SequentialPValueHolm, rep.Comparisons[1].SequentialPValueHolm, sholm)
	}
	// Every arm is below the default minimum of users.
	if n := strings.Count(strings.Join(rep.Warnings, "\n"), "fewer than the minimum"); n != 3 {
		t.Errorf("%d minimum-sample warnings, want 3: %q", n, rep.Warnings)
	}
	if c.CUPED != nil || c.CUPAC != nil {
		t.Errorf("adjusted results without covariates: %+v %+v", c.CUPED, c.CUPAC)
	}
}

func TestReportJSON(t *testing.T) {
	arms := []Arm{
		{Name: "control", Weight: 1, Y: []float64{0, 0, 0}},
		{Name: "uplift", Weight: 1, Y: []float64{1, 0, 2}, Pre: []float64{1, 0, 1}},
	}
	rep, err := Analyze(arms, Config{MinUsers: -1})
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(rep.Comparisons[0].RelativeLift) || !strings.Contains(strings.Join(rep.Warnings, " "), "undefined") {
		t.Errorf("relative %v warnings %q", rep.Comparisons[0].RelativeLift, rep.Warnings)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	c := m["comparisons"].([]any)[0].(map[string]any)
	for _, k := range []string{"arm", "baseline", "lift", "ci", "p_value", "p_value_holm", "relative_lift", "relative_ci", "sequential_ci", "cuped", "cupac"} {
		if _, ok := c[k]; !ok {
			t.Errorf("comparison JSON lacks %q: %s", k, b)
		}
	}
	if c["relative_lift"] != nil || c["relative_ci"] != nil || c["cuped"] != nil {
		t.Errorf("relative_lift %v relative_ci %v cuped %v, want null", c["relative_lift"], c["relative_ci"], c["cuped"])
	}
	srm := m["srm"].(map[string]any)
	if _, ok := srm["p_value"]; !ok {
		t.Errorf("srm JSON lacks p_value: %s", b)
	}
	if _, ok := srm["flag"]; !ok {
		t.Errorf("srm JSON lacks flag: %s", b)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(back.Comparisons[0].RelativeLift) || back.Comparisons[0].Lift != rep.Comparisons[0].Lift || back.Comparisons[0].CI != rep.Comparisons[0].CI {
		t.Errorf("round trip %+v, want %+v", back.Comparisons[0], rep.Comparisons[0])
	}
}

func TestMinimumDetectable(t *testing.T) {
	// With ν = ∞ (normal): (1.959964 + 0.841621)·SE = 2.801585·SE; with
	// ν = 10: t_{10, 0.975} = 2.228139.
	for _, tc := range []struct{ se, df, want float64 }{
		{1, math.Inf(1), 2.801585},
		{0.5, 10, 0.5 * (2.228139 + 0.841621)},
		{0, 10, 0},
	} {
		if got := MinimumDetectable(tc.se, tc.df, 0.05, 0.8); !scalar.EqualWithinAbs(got, tc.want, 1e-5) {
			t.Errorf("MinimumDetectable(%v, %v) = %v, want %v", tc.se, tc.df, got, tc.want)
		}
	}
}

func TestWelchLargeSamples(t *testing.T) {
	// At ν in the billions the t is the normal: d/SE = 1.959964 gives p =
	// 0.05 and the interval's lower end 0.
	w := Welch(1.959963985, 1e12, 2e12, 0, 1e12, 2e12, 0.05)
	if w.DF < 1e12 || !scalar.EqualWithinAbs(w.PValue, 0.05, 1e-8) || !scalar.EqualWithinAbs(w.CI[0], 0, 1e-8) {
		t.Errorf("Welch at ν = %v: p %v ci %v, want 0.05 and 0", w.DF, w.PValue, w.CI)
	}
}

func TestHolmAcross(t *testing.T) {
	// Two metrics of two comparisons each: one family of four.
	a := Report{Comparisons: []Comparison{{PValue: 0.01, SequentialPValue: 0.2}, {PValue: 0.04, SequentialPValue: 0.01}}}
	b := Report{Comparisons: []Comparison{{PValue: 0.03, SequentialPValue: 1}, {PValue: 0.005, SequentialPValue: 0.02}}}
	HolmAcross(&a, &b)
	got := []float64{a.Comparisons[0].PValueHolm, a.Comparisons[1].PValueHolm, b.Comparisons[0].PValueHolm, b.Comparisons[1].PValueHolm}
	want := []float64{0.03, 0.06, 0.06, 0.02}
	sgot := []float64{a.Comparisons[0].SequentialPValueHolm, a.Comparisons[1].SequentialPValueHolm, b.Comparisons[0].SequentialPValueHolm, b.Comparisons[1].SequentialPValueHolm}
	swant := []float64{0.4, 0.04, 1, 0.06}
	for i := range want {
		if !scalar.EqualWithinAbs(got[i], want[i], 1e-12) || !scalar.EqualWithinAbs(sgot[i], swant[i], 1e-12) {
			t.Fatalf("HolmAcross: %v and %v, want %v and %v", got, sgot, want, swant)
		}
	}
}

func TestSkewnessMinUsers(t *testing.T) {
	// 0, 0, 0, 3: ȳ = 0.75, m₂ = (3·0.5625 + 5.0625)/4 = 1.6875,
	// m₃ = (3·(−0.421875) + 11.390625)/4 = 2.53125, γ = m₃/m₂^1.5 = 1.1547.
	g := 2.53125 / math.Pow(1.6875, 1.5)
	for _, tc := range []struct {
		y    []float64
		want float64
	}{
		{[]float64{0, 0, 0, 3}, 355 * g * g},
		{[]float64{1, 2, 3}, 0},
		{[]float64{1, 1, 1}, 0},
		{[]float64{1, 5}, 0},
	} {
		if got := SkewnessMinUsers(tc.y); !scalar.EqualWithinAbsOrRel(got, tc.want, 1e-9, 1e-9) {
			t.Errorf("SkewnessMinUsers(%v) = %v, want %v", tc.y, got, tc.want)
		}
	}
	// A metric with one heavy user in 200 warns; a symmetric one does not.
	heavy := make([]float64, 200)
	heavy[0] = 100
	sym := make([]float64, 200)
	for i := range sym {
		sym[i] = float64(i % 2)
	}
	rep, err := Analyze([]Arm{{Name: "control", Weight: 1, Y: sym}, {Name: "uplift", Weight: 1, Y: heavy}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], `"uplift" has 200 users but its metric is so skewed`) {
		t.Errorf("warnings %q, want one skewness warning for uplift", rep.Warnings)
	}
}
