package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// explainCSV writes a randomised trial whose effect is x1 + log(1 + e^x2)
// plus 1 for rows whose item text holds the word "gold" (the feature
// promo marks them, as a text score would), with 3 more covariates and
// a categorical one.
func explainCSV(t *testing.T, n int) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(18, 1))
	words := []string{"red", "blue", "green", "shoe", "hat", "bag", "soft", "warm", "new", "sale", "linen", "wool"}
	var b strings.Builder
	b.WriteString("x1,x2,x3,x4,x5,city,promo,item,text,arm,y\n")
	for range n {
		x := make([]float64, 5)
		for j := range x {
			x[j] = rng.NormFloat64()
		}
		item := rng.IntN(300)
		ir := rand.New(rand.NewPCG(uint64(item), 7)) // an item's text is fixed
		var ws []string
		for range 5 {
			ws = append(ws, words[ir.IntN(len(words))])
		}
		promo := 0
		if item%8 == 0 {
			ws = append(ws[:2], append([]string{"gold"}, ws[2:]...)...)
			promo = 1
		}
		w := rng.IntN(2)
		tau := x[0] + math.Log1p(math.Exp(x[1])) + float64(promo)
		y := math.Max(0, x[2]) + x[3] + (float64(w)-0.5)*tau + rng.NormFloat64()
		fmt.Fprintf(&b, "%.5f,%.5f,%.5f,%.5f,%.5f,c%d,%d,i%d,%q,%s,%.5f\n", x[0], x[1], x[2], x[3], x[4], rng.IntN(3), promo, item,
			strings.Join(ws, " ")+".", []string{"ctl", "mail"}[w], y)
	}
	path := filepath.Join(t.TempDir(), "explain.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type importanceOut struct {
	Feature string
	Value   float64
	CI      [2]float64
}

type explainOut struct {
	BLP []struct {
		Feature string
		Coef    float64
		CI      [2]float64
	}
	BLPIntercept *struct{ Coef float64 } `json:"blp_intercept"`
	Importance   []importanceOut
	Tree         *struct {
		Feature   string
		Threshold *float64
		Left      map[string]any
		N         int
	}
	Terms []struct {
		Term   string
		Effect float64
		CI     [2]float64
		N      int
	}
	N int
}

// TestUpliftExplain fits a model through the built-in plugin and explains
// it: the effect's features lead the BLP, the importance and the tree, and
// the planted word leads the terms.
func TestUpliftExplain(t *testing.T) {
	data := explainCSV(t, 4000)
	dir := t.TempDir()
	model := filepath.Join(dir, "m.json")
	feats := "x1,x2,x3,x4,x5,city,promo"
	if code, _, stderr := runCLI(t, "", "uplift", "fit", "--data", data, "--treatment", "arm", "--control", "ctl", "--outcome", "y",
		"--features", feats, "--estimator", "t", "--param", "base=gbt", "--model-out", model, "--design", "rct"); code != 0 {
		t.Fatalf("fit: exit %d: %s", code, stderr)
	}
	svg := filepath.Join(dir, "explain.svg")
	args := []string{"uplift", "explain", "--model", model, "--data", data, "--treatment", "arm", "--outcome", "y",
		"--text", "text", "--item", "item", "--design", "rct"}
	code, stdout, stderr := runCLI(t, "", append(args, "--plot", svg)...)
	if code != 0 {
		t.Fatalf("explain: exit %d: %s", code, stderr)
	}
	var res explainOut
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	if res.N != 4000 || res.BLPIntercept == nil || len(res.BLP) != 8 { // 5 numeric, 2 of the 3 cities, promo
		t.Fatalf("n %d, blp %+v", res.N, res.BLP)
	}
	for _, c := range res.BLP {
		excl := c.CI[0] > 0 || c.CI[1] < 0
		if want := c.Feature == "x1" || c.Feature == "x2" || c.Feature == "promo"; want && !excl {
			t.Errorf("BLP %s: interval %v holds 0", c.Feature, c.CI)
		}
	}
	if len(res.Importance) != 7 || res.Importance[0].Feature != "x1" || res.Importance[0].CI[0] > res.Importance[0].Value {
		t.Errorf("importance %+v, want x1 first", res.Importance)
	}
	if res.Tree == nil || res.Tree.Feature != "x1" || res.Tree.Threshold == nil || res.Tree.N != 4000 || res.Tree.Left == nil {
		t.Errorf("tree %+v, want a first split on x1", res.Tree)
	}
	if len(res.Terms) == 0 || res.Terms[0].Term != "gold" || res.Terms[0].CI[0] <= 0 {
		t.Errorf("terms %+v, want gold first with an interval above 0", res.Terms)
	}
	if b, err := os.ReadFile(svg); err != nil || !strings.Contains(string(b), "Permutation importance") || !strings.Contains(string(b), "Best linear projection") {
		t.Errorf("plot: %v", err)
	}
	// Text: the tree as rules, one per leaf.
	code, stdout, stderr = runCLI(t, "", append(args, "--format", "text", "--top", "3")...)
	if code != 0 {
		t.Fatalf("explain --format text: exit %d: %s", code, stderr)
	}
	if rules := regexp.MustCompile(`(?m)^  if (\S+ < )?x1 (≤|>) .*: \d+ rows, predicted effect .*, effect .* \[.*\]$`).FindAllString(stdout, -1); len(rules) < 2 {
		t.Errorf("text output has %d rules:\n%s", len(rules), stdout)
	}
	if !strings.Contains(stdout, "gold") || !strings.Contains(stdout, "Best linear projection") {
		t.Errorf("text output:\n%s", stdout)
	}
	// Without treatment and outcome: importance and tree only.
	code, stdout, stderr = runCLI(t, "", "uplift", "explain", "--model", model, "--data", data, "--top", "2")
	if code != 0 {
		t.Fatalf("explain without treatment: exit %d: %s", code, stderr)
	}
	res = explainOut{}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.BLP) != 0 || res.BLPIntercept != nil || len(res.Importance) != 2 || res.Tree == nil || res.Tree.Feature != "x1" {
		t.Errorf("without treatment: %+v", res)
	}
	// Bad input.
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--model", model, "--data", data, "--treatment", "arm"}, 2, "go together"},
		{[]string{"--model", model, "--data", data, "--format", "xml"}, 2, "want json or text"},
		{[]string{"--model", model, "--data", data, "--arm", "sms"}, 2, `"sms" is not a treated arm`},
		{[]string{"--model", model, "--data", data, "--treatment", "arm", "--outcome", "text"}, 1, "not found or not numeric"},
		{[]string{"--model", filepath.Join(dir, "none.json"), "--data", data}, 1, "read model"},
		{[]string{"--model", model, "--data", data, "--treatment", "arm", "--outcome", "y", "--propensity", "x1"}, 1, "is outside (0, 1)"},
		{[]string{"--model", model, "--data", data, "--propensity", "x1"}, 2, "needs --treatment"},
		{[]string{"--model", model, "--data", data, "--item", "item"}, 2, "--item needs --text"},
		{[]string{"--model", model, "--data", data, "--depth", "7"}, 2, "--depth must be 1 to 6"},
	} {
		code, _, stderr := runCLI(t, "", append([]string{"uplift", "explain"}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d, %q; want exit %d with %q", tc.args, code, stderr, tc.code, tc.msg)
		}
	}
}

// TestExplainBalance runs the balance check on the features explain
// explains: a model fitted on every Hillstrom column is refused under
// --design rct naming conversion and spend; one on the pre-treatment
// columns passes.
func TestExplainBalance(t *testing.T) {
	dir := t.TempDir()
	all, pre := filepath.Join(dir, "all.json"), filepath.Join(dir, "pre.json")
	arms := []string{"--treatment", "segment", "--control", "No E-Mail", "--outcome", "visit"}
	fit := []string{"uplift", "fit", "--data", hillstromFull, "--treated", "Womens E-Mail", "--estimator", "t"}
	if code, _, stderr := runCLI(t, "", append(append(fit, "--model-out", all), arms...)...); code != 0 {
		t.Fatalf("fit on every column: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "", append(append(fit, "--model-out", pre, "--features", strings.Join(preTreatment, ",")), arms...)...); code != 0 {
		t.Fatalf("fit on the pre-treatment columns: exit %d: %s", code, stderr)
	}
	explain := append([]string{"uplift", "explain", "--data", hillstromFull, "--design", "rct", "--repeats", "2"}, arms...)
	code, out, stderr := runCLI(t, "", append(explain, "--model", all)...)
	if code != 1 || out != "" || !strings.Contains(stderr, "conversion") || !strings.Contains(stderr, "spend") {
		t.Fatalf("explain a model of every column with --design rct: exit %d, out %q, stderr:\n%s", code, out, stderr)
	}
	for _, f := range preTreatment {
		if regexp.MustCompile(`(?m)^\s+` + f + `\s+arm`).MatchString(stderr) {
			t.Errorf("pre-treatment column %s refused:\n%s", f, stderr)
		}
	}
	code, out, stderr = runCLI(t, "", append(explain, "--model", pre)...)
	if code != 0 || !strings.Contains(out, `"blp"`) || strings.Contains(stderr, "WARNING") {
		t.Fatalf("explain the pre-treatment model: exit %d: %s", code, stderr)
	}
}

// nieWagerBCSV writes n rows of Nie and Wager's setup B with d covariates
// x1..xd and σ = 1: a randomised trial with τ = x1 + log(1 + e^x2).
func nieWagerBCSV(t testing.TB, n, d int, seed uint64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0xb))
	var b strings.Builder
	for j := range d {
		fmt.Fprintf(&b, "x%d,", j+1)
	}
	b.WriteString("w,y\n")
	x := make([]float64, d)
	for range n {
		for j := range x {
			x[j] = rng.NormFloat64()
			fmt.Fprintf(&b, "%.5f,", x[j])
		}
		base := math.Max(0, math.Max(x[0]+x[1], x[2])) + math.Max(0, x[3]+x[4])
		tau := x[0] + math.Log1p(math.Exp(x[1]))
		w := rng.IntN(2)
		fmt.Fprintf(&b, "%d,%.5f\n", w, base+(float64(w)-0.5)*tau+rng.NormFloat64())
	}
	path := filepath.Join(t.TempDir(), "nw_b.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestExplainAcrossPlugins explains models of the built-in plugin and of
// the Python plugin py-sklearn (only their Predict is used) on Nie and
// Wager's setup B with 10 covariates and 5,000 rows: BLP intervals exclude
// 0 for x1 and x2 and for at most one other covariate, the two largest
// importances are x1 and x2, and the tree's first split is on one of them.
func TestExplainAcrossPlugins(t *testing.T) {
	data := nieWagerBCSV(t, 5000, 10, 1)
	for _, tc := range []struct {
		name      string
		config    func(*testing.T) string
		estimator string
	}{
		{"built-in", nil, "t:base=gbt"},
		{"python", sklearnConfig, "py-sklearn:t"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg []string
			if tc.config != nil {
				cfg = []string{"--config", tc.config(t)}
			}
			model := filepath.Join(t.TempDir(), "m.json")
			fit := append([]string{"uplift", "fit", "--data", data, "--treatment", "w", "--outcome", "y", "--estimator", tc.estimator,
				"--model-out", model, "--design", "rct"}, cfg...)
			if code, _, stderr := runCLI(t, "", fit...); code != 0 {
				t.Fatalf("fit: exit %d: %s", code, stderr)
			}
			code, stdout, stderr := runCLI(t, "", append([]string{"uplift", "explain", "--model", model, "--data", data, "--treatment", "w",
				"--outcome", "y", "--design", "rct"}, cfg...)...)
			if code != 0 {
				t.Fatalf("explain: exit %d: %s", code, stderr)
			}
			var res explainOut
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatal(err)
			}
			var excl []string
			for _, c := range res.BLP {
				if c.CI[0] > 0 || c.CI[1] < 0 {
					excl = append(excl, c.Feature)
				}
			}
			if len(excl) < 2 || len(excl) > 3 || excl[0] != "x1" || excl[1] != "x2" {
				t.Errorf("BLP intervals exclude 0 for %v, want x1, x2 and at most one other", excl)
			}
			top := map[string]bool{res.Importance[0].Feature: true, res.Importance[1].Feature: true}
			if !top["x1"] || !top["x2"] {
				t.Errorf("largest importances %+v, want x1 and x2", res.Importance[:3])
			}
			if f := res.Tree.Feature; f != "x1" && f != "x2" {
				t.Errorf("first split on %q, want x1 or x2", f)
			}
			t.Logf("BLP excluding 0: %v; importance %+v; first split %s", excl, res.Importance[:3], res.Tree.Feature)
		})
	}
}

// BenchmarkUpliftExplain runs uplift explain, with treatment and outcome,
// on a boosted-tree T-learner of the built-in plugin fitted on Nie and
// Wager's setup B with 20 covariates (the fit is not timed): reading the
// CSV, the balance check, the plugin's predictions and the explanation.
func BenchmarkUpliftExplain(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("rows=%d/features=20", n), func(b *testing.B) {
			data := nieWagerBCSV(b, n, 20, 1)
			model := filepath.Join(b.TempDir(), "m.json")
			var out, errb bytes.Buffer
			s := stdio{in: strings.NewReader(""), out: &out, err: &errb}
			if code := run(context.Background(), []string{"uplift", "fit", "--data", data, "--treatment", "w", "--outcome", "y",
				"--estimator", "t:base=gbt", "--model-out", model}, s); code != 0 {
				b.Fatalf("fit: exit %d: %s", code, errb.String())
			}
			args := []string{"uplift", "explain", "--model", model, "--data", data, "--treatment", "w", "--outcome", "y"}
			b.ResetTimer()
			for b.Loop() {
				out.Reset()
				if code := run(context.Background(), args, s); code != 0 {
					b.Fatalf("explain: exit %d: %s", code, errb.String())
				}
			}
		})
	}
}
