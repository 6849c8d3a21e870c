package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	obdSample = "testdata/obd_random_men_600.csv"
	obdPrior  = "testdata/obd_prior_bts_men.csv"
)

// opeResult is the JSON of causalrec ope.
type opeResult struct {
	Rounds, Positions, Actions int
	LoggedValue                float64 `json:"logged_value"`
	Estimates                  []struct {
		Estimator string
		Value     float64
		CI        [2]float64
		SE        float64
		ESS       float64
		MaxWeight float64 `json:"max_weight"`
		Warnings  []string
	}
}

// TestOPEOnOBD runs the pipeline on a slice of the Open Bandit
// Dataset: the Bernoulli TS policy file, then every estimator against the
// uniform random log.
func TestOPEOnOBD(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "bts.csv")
	code, _, stderr := runCLI(t, "", "ope", "policy", "--bts", obdPrior, "--positions", "3", "--samples", "20000", "--seed", "1", "--out", pol)
	if code != 0 {
		t.Fatalf("ope policy: exit %d: %s", code, stderr)
	}
	rows := readCSVFile(t, pol)
	if len(rows) != 1+3*34 || strings.Join(rows[0], ",") != "item_id,position,prob" || rows[1][1] != "1" || rows[len(rows)-1][1] != "3" {
		t.Fatalf("policy file: %d rows, header %v, positions %v..%v", len(rows), rows[0], rows[1][1], rows[len(rows)-1][1])
	}
	out := filepath.Join(dir, "ope.json")
	svg := filepath.Join(dir, "ope.svg")
	all := "ipw,snipw,dm,dr,sndr,switch-dr,dros,switch-dr-tuned,dros-tuned"
	code, stdout, stderr := runCLI(t, "", "ope", "--log", obdSample, "--policy", pol, "--estimators", all,
		"--bootstrap", "200", "--out", out, "--plot", svg)
	if code != 0 {
		t.Fatalf("ope: exit %d: %s", code, stderr)
	}
	var res opeResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != stdout {
		t.Errorf("--out differs from standard output: %v", err)
	}
	if b, err := os.ReadFile(svg); err != nil || !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "switch-dr-tuned") {
		t.Errorf("no SVG plot with the estimators: %v", err)
	}
	if res.Rounds != 600 || res.Positions != 3 || res.Actions != 34 {
		t.Errorf("rounds %d positions %d actions %d", res.Rounds, res.Positions, res.Actions)
	}
	if len(res.Estimates) != 9 {
		t.Fatalf("%d estimates, want 9", len(res.Estimates))
	}
	for i, name := range strings.Split(all, ",") {
		e := res.Estimates[i]
		if e.Estimator != name {
			t.Errorf("estimate %d is %q, want %q (the --estimators order)", i, e.Estimator, name)
		}
		if !(e.CI[0] <= e.Value && e.Value <= e.CI[1]) || !(e.SE > 0) || !(e.ESS > 0) || !(e.MaxWeight > 0) {
			t.Errorf("%s: value %v ci %v se %v ess %v max weight %v", name, e.Value, e.CI, e.SE, e.ESS, e.MaxWeight)
		}
	}
	// The uniform logging propensity is 1/34: ipw's largest weight is
	// 34·max π_e.
	if w := res.Estimates[0].MaxWeight; w < 1 || w > 34 {
		t.Errorf("ipw max weight %v", w)
	}
	if !strings.Contains(stderr, "600 rows, 34 actions, 3 positions, 38 features (4 categorical)") {
		t.Errorf("stderr does not summarise the log:\n%s", stderr)
	}
}

// TestOPEEvaluatesLoggingPolicy: evaluating the uniform random policy on
// its own log gives weights of 1, so ipw is the logged value exactly.
func TestOPEEvaluatesLoggingPolicy(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "uniform.csv")
	var b strings.Builder
	b.WriteString("item_id,position,prob\n")
	for k := 1; k <= 3; k++ {
		for a := range 34 {
			fmt.Fprintf(&b, "%d,%d,%v\n", a, k, 1.0/34)
		}
	}
	if err := os.WriteFile(pol, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "", "ope", "--log", obdSample, "--policy", pol, "--estimators", "ipw,snipw", "--bootstrap", "0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res opeResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Estimates {
		if d := e.Value - res.LoggedValue; d > 1e-12 || d < -1e-12 || e.MaxWeight != 1 || e.ESS < 599.999 {
			t.Errorf("%s: value %v (logged %v), max weight %v, ess %v", e.Estimator, e.Value, res.LoggedValue, e.MaxWeight, e.ESS)
		}
	}
	// The reward model can be gradient-boosted trees, and the features
	// a chosen few.
	code, stdout, stderr = runCLI(t, "", "ope", "--log", obdSample, "--policy", pol, "--estimators", "dm,dr",
		"--reward-model", "gbt:trees=20:depth=2", "--features", "user_feature_0,user_feature_1", "--bootstrap", "0")
	if code != 0 {
		t.Fatalf("gbt: exit %d: %s", code, stderr)
	}
	res = opeResult{}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	// Under the logging policy dr's correction has mean 0 in expectation:
	// dr is within a few standard errors of the logged value.
	if dr := res.Estimates[1]; dr.Value-res.LoggedValue > 4*dr.SE || res.LoggedValue-dr.Value > 4*dr.SE {
		t.Errorf("gbt dr %v ± %v, logged %v", dr.Value, dr.SE, res.LoggedValue)
	}
	if !strings.Contains(stderr, "2 features (2 categorical)") {
		t.Errorf("--features not used: %s", stderr)
	}
}

// TestOPEBadInput: every bad input gets one clear error, exit 1, and no
// output at all.
func TestOPEBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	log := "item_id,position,click,propensity_score,x\n0,1,0,0.5,a\n1,1,1,0.5,b\n0,2,1,0.25,a\n1,2,0,0.75,b\n"
	good := "item_id,position,prob\n0,1,0.5\n1,1,0.5\n0,2,1\n1,2,0\n"
	tests := []struct{ name, log, policy, want string }{
		{"zero propensity", strings.Replace(log, ",0.25,", ",0,", 1), good, "line 4: propensity 0 is outside (0, 1]"},
		{"negative propensity", strings.Replace(log, ",0.25,", ",-0.1,", 1), good, "line 4: propensity -0.1 is outside (0, 1]"},
		{"propensity above 1", strings.Replace(log, ",0.25,", ",1.01,", 1), good, "propensity 1.01 is outside (0, 1]"},
		{"propensity not a number", strings.Replace(log, ",0.25,", ",abc,", 1), good, `line 4: propensity "abc" is not a number`},
		{"propensity empty", strings.Replace(log, ",0.25,", ",,", 1), good, `line 4: column "propensity_score" is empty`},
		{"policy sum", log, "item_id,position,prob\n0,1,0.5\n1,1,0.4\n0,2,1\n1,2,0\n", "position 1: probabilities sum to 0.9, not 1"},
		{"per-round sum", log, "round,item_id,position,prob\n0,0,1,0.5\n1,0,1,1\n2,0,2,1\n3,1,2,1\n", "round 0, position 1: probabilities sum to 0.5"},
		{"policy item the log lacks", log, good + "7,1,0\n", `item "7" does not appear in the log`},
		{"policy position the log lacks", log, good + "0,3,1\n", `position "3" does not appear in the log`},
		{"logged item the policy lacks", log, "item_id,position,prob\n0,1,1\n0,2,1\n", "item 1 of the log (line 3) is not in the policy"},
		{"rounds exceed the log", log, "round,item_id,position,prob\n0,0,1,1\n1,0,1,1\n2,0,2,1\n3,1,2,1\n4,0,1,1\n", "round 4 exceeds the log's 4 rows"},
		{"one action", strings.ReplaceAll(strings.ReplaceAll(log, "\n1,", "\n0,"), ",b\n", ",a\n"), "item_id,position,prob\n0,1,1\n0,2,1\n", "holds one action"},
		{"empty log", "", good, "empty input"},
		{"empty policy", log, "", "empty input"},
		{"header-only log", "item_id,position,click,propensity_score\n", good, "no data rows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, svg := filepath.Join(dir, "out.json"), filepath.Join(dir, "out.svg")
			code, stdout, stderr := runCLI(t, "", "ope", "--log", write("log.csv", tt.log), "--policy", write("policy.csv", tt.policy),
				"--bootstrap", "20", "--out", out, "--plot", svg)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr %s", code, stderr)
			}
			if !strings.Contains(stderr, tt.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
				t.Errorf("stderr %q, want one line containing %q", stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("standard output %q, want nothing", stdout)
			}
			for _, p := range []string{out, svg, out + ".tmp"} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s was written", p)
					os.Remove(p)
				}
			}
		})
	}
	// Usage errors exit 2.
	for _, args := range [][]string{{"ope"}, {"ope", "--log", "a.csv"}, {"ope", "--log", "a", "--policy", "b", "--plot", "x.pdf"},
		{"ope", "--log", "a", "--policy", "b", "--estimators", "foo"}, {"ope", "--log", "a", "--policy", "b", "--reward-model", "tree"}} {
		if code, _, stderr := runCLI(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, stderr)
		}
	}
}
