package main

import (
	"bytes"
	"compress/gzip"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	dir := t.TempDir()
	tr, te := filepath.Join(dir, "train.csv"), filepath.Join(dir, "test.csv")
	split := func(extra ...string) (int, string) {
		args := append([]string{"split", "--data", hillstromSample, "--test", "0.3", "--seed", "7", "--train-out", tr, "--test-out", te}, extra...)
		code, _, stderr := runCLI(t, "", args...)
		return code, stderr
	}
	if code, stderr := split("--stratify", "segment,visit"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	in := readCSVFile(t, hillstromSample)
	a, b := readCSVFile(t, tr), readCSVFile(t, te)
	if !slices.Equal(a[0], in[0]) || !slices.Equal(b[0], in[0]) {
		t.Fatalf("headers %v / %v, want %v", a[0], b[0], in[0])
	}
	if len(b)-1 != 900 || len(a)-1 != 2100 {
		t.Fatalf("%d train and %d test rows, want 2100 and 900", len(a)-1, len(b)-1)
	}
	// Every input row is in exactly one file, unchanged, in input order.
	var merged [][]string
	ia, ib := 1, 1
	for _, row := range in[1:] {
		switch {
		case ia < len(a) && slices.Equal(a[ia], row):
			ia++
		case ib < len(b) && slices.Equal(b[ib], row):
			ib++
		default:
			t.Fatalf("row %v is in neither file at its place", row)
		}
		merged = append(merged, row)
	}
	if len(merged) != 3000 || ia != len(a) || ib != len(b) {
		t.Fatalf("rows lost or added")
	}
	// Stratified: each (segment, visit) group is split 70/30 up to rounding.
	count := func(rows [][]string) map[string]int {
		m := map[string]int{}
		for _, r := range rows[1:] {
			m[r[8]+"/"+r[9]]++
		}
		return m
	}
	all, test := count(in), count(b)
	for g, n := range all {
		if d := float64(test[g]) - 0.3*float64(n); d < -1 || d > 1 {
			t.Errorf("group %s: %d of %d rows in the test file, want %.1f±1", g, test[g], n, 0.3*float64(n))
		}
	}
	// The same seed gives the same split; another seed another.
	first, _ := os.ReadFile(te)
	if code, _ := split("--stratify", "segment,visit"); code != 0 {
		t.Fatal("second split failed")
	}
	again, _ := os.ReadFile(te)
	if !bytes.Equal(first, again) {
		t.Error("the same seed gave another split")
	}
	code, _, _ := runCLI(t, "", "split", "--data", hillstromSample, "--test", "0.3", "--seed", "8", "--train-out", tr, "--test-out", te)
	other, _ := os.ReadFile(te)
	if code != 0 || bytes.Equal(first, other) {
		t.Error("another seed gave the same split")
	}
	// A count of rows, and gzip in and out.
	gz := filepath.Join(dir, "test.csv.gz")
	code, _, stderr := runCLI(t, "", "split", "--data", hillstromFull, "--test", "1000", "--train-out", filepath.Join(dir, "big.csv"), "--test-out", gz)
	if code != 0 {
		t.Fatalf("gzip split: exit %d: %s", code, stderr)
	}
	f, err := os.Open(gz)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	f.Close()
	if n := strings.Count(string(raw), "\n"); n != 1001 {
		t.Errorf("gzip test file has %d lines, want 1001", n)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--test", "0"}, "--test"},
		{[]string{"--test", "1.5"}, "whole number"},
		{[]string{"--test", "5000"}, "both files need rows"},
		{[]string{"--test", "0.3", "--stratify", "nope"}, `column "nope" not found`},
	} {
		args := append([]string{"split", "--data", hillstromSample, "--train-out", tr, "--test-out", te}, c.args...)
		if code, _, stderr := runCLI(t, "", args...); code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want it to mention %q", c.args, code, stderr, c.want)
		}
	}
	if code, _, stderr := runCLI(t, "", "split", "--data", hillstromSample, "--test", "0.3", "--train-out", tr, "--test-out", tr); code != 2 || !strings.Contains(stderr, "same file") {
		t.Errorf("same output twice: exit %d: %s", code, stderr)
	}
}

// TestPredictKeepAndPlots runs fit, predict --keep, eval on predict's
// output with both plots, and compare --plot.
func TestPredictKeepAndPlots(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.json")
	feats := strings.Join(preTreatment, ",")
	arms := []string{"--treatment", "segment", "--control", "No E-Mail", "--treated", "Womens E-Mail", "--outcome", "visit"}
	if code, _, stderr := runCLI(t, "", append([]string{"uplift", "fit", "--data", hillstromSample, "--features", feats, "--design", "rct", "--model-out", model}, arms...)...); code != 0 {
		t.Fatalf("fit: exit %d: %s", code, stderr)
	}
	scored := filepath.Join(dir, "scored.csv")
	if code, _, stderr := runCLI(t, "", "uplift", "predict", "--model", model, "--data", hillstromSample, "--keep", "all", "--out", scored); code != 0 {
		t.Fatalf("predict: exit %d: %s", code, stderr)
	}
	in, out := readCSVFile(t, hillstromSample), readCSVFile(t, scored)
	if len(out) != len(in) || !slices.Equal(out[0], append(slices.Clone(in[0]), "uplift")) {
		t.Fatalf("--keep all: %d rows, header %v", len(out), out[0])
	}
	for i := range in {
		if !slices.Equal(out[i][:len(in[i])], in[i]) {
			t.Fatalf("row %d: %v, want the input %v first", i, out[i], in[i])
		}
	}
	// A list keeps those columns, in its order.
	code, stdout, stderr := runCLI(t, "", "uplift", "predict", "--model", model, "--data", hillstromSample, "--keep", "visit,segment", "--out", "-")
	if code != 0 || !strings.HasPrefix(stdout, "visit,segment,uplift\n0,Womens E-Mail,") {
		t.Fatalf("--keep visit,segment: exit %d, output starts %q: %s", code, stdout[:min(len(stdout), 60)], stderr)
	}
	if code, _, stderr := runCLI(t, "", "uplift", "predict", "--model", model, "--data", scored, "--keep", "all", "--out", filepath.Join(dir, "again.csv")); code != 2 || !strings.Contains(stderr, `input column "uplift"`) {
		t.Errorf("keeping a column named uplift: exit %d: %s", code, stderr)
	}
	// eval runs on predict's output directly.
	qini, deciles := filepath.Join(dir, "qini.png"), filepath.Join(dir, "deciles.svg")
	code, stdout, stderr = runCLI(t, "", append([]string{"uplift", "eval", "--data", scored, "--score", "uplift", "--label", "t-learner", "--bootstrap", "20",
		"--plot", qini, "--decile-plot", deciles}, arms...)...)
	if code != 0 || !strings.Contains(stdout, `"qini"`) {
		t.Fatalf("eval: exit %d: %s %s", code, stdout, stderr)
	}
	checkPNG(t, qini)
	if b, err := os.ReadFile(deciles); err != nil || !strings.Contains(string(b), "t-learner") || !strings.Contains(string(b), "ATE") {
		t.Errorf("decile SVG lacks the label or the ATE (%v)", err)
	}
	if code, _, stderr := runCLI(t, "", append([]string{"uplift", "eval", "--data", scored, "--score", "uplift", "--plot", "q.pdf"}, arms...)...); code != 2 || !strings.Contains(stderr, ".svg or .png") {
		t.Errorf("--plot q.pdf: exit %d: %s", code, stderr)
	}

	// compare --plot: one curve per estimator with its Qini value.
	cmpPlot := filepath.Join(dir, "compare.svg")
	code, table, stderr := runCLI(t, "", append([]string{"uplift", "compare", "--data", hillstromSample, "--features", feats, "--estimators", "t,s",
		"--folds", "3", "--bootstrap", "20", "--plot", cmpPlot}, arms...)...)
	if code != 0 {
		t.Fatalf("compare: exit %d: %s", code, stderr)
	}
	if !strings.Contains(table, `arm "Womens E-Mail" vs control "No E-Mail"`) {
		t.Errorf("compare names the arm by number:\n%s", table)
	}
	b, err := os.ReadFile(cmpPlot)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{">t<", ">s<", "Qini 0.", "Random targeting", "Perfect ranking", "Qini curves: Womens E-Mail vs No E-Mail"} {
		if !strings.Contains(string(b), s) {
			t.Errorf("compare plot lacks %q", s)
		}
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 600 {
		t.Errorf("%s is %v", path, b)
	}
}

func TestGroupHelp(t *testing.T) {
	for _, c := range []struct {
		group string
		subs  []string
	}{
		{"uplift", []string{"balance", "fit", "predict", "eval", "compare"}},
		{"plugins", []string{"list"}},
	} {
		for _, h := range []string{"--help", "-h", "help"} {
			code, out, stderr := runCLI(t, "", c.group, h)
			if code != 0 {
				t.Errorf("%s %s: exit %d: %s", c.group, h, code, stderr)
			}
			for _, s := range c.subs {
				if !strings.Contains(out, "\n  "+s+" ") {
					t.Errorf("%s %s does not list %s:\n%s", c.group, h, s, out)
				}
			}
		}
		code, _, stderr := runCLI(t, "", c.group, "frob")
		if code != 2 || !strings.Contains(stderr, `unknown subcommand "frob"`) {
			t.Errorf("%s frob: exit %d: %s", c.group, code, stderr)
		}
	}
	if code, _, stderr := runCLI(t, "", "uplift"); code != 2 || !strings.Contains(stderr, "Subcommands:") {
		t.Errorf("uplift alone: exit %d: %s", code, stderr)
	}
}
