package main

import (
	"encoding/csv"
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

// hillstromFull is the bundled Hillstrom experiment, 64,000 rows.
const hillstromFull = "../../../examples/hillstrom/hillstrom.csv.gz"

// preTreatment are Hillstrom's columns measured before the e-mails.
var preTreatment = []string{"recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel"}

// TestBalanceHillstrom is the acceptance check: with every column a
// feature, --design rct refuses conversion and spend (measured after the
// e-mail) and no pre-treatment column; --allow-imbalanced fits and records
// it in the model; without --design it fits and warns naming both.
func TestBalanceHillstrom(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.json")
	fit := []string{"uplift", "fit", "--data", hillstromFull, "--treatment", "segment", "--control", "No E-Mail",
		"--treated", "Womens E-Mail", "--outcome", "visit", "--model-out", model}

	code, _, stderr := runCLI(t, "", append(fit, "--design", "rct")...)
	if code != 1 {
		t.Fatalf("--design rct: exit %d, want 1; stderr:\n%s", code, stderr)
	}
	for _, f := range []string{"conversion", "spend"} {
		if !regexp.MustCompile(`(?m)^\s+` + f + `\s+arm "Womens E-Mail"\s+SMD \+0\.0\d+\s+p 0\.000\d+`).MatchString(stderr) {
			t.Errorf("refusal does not name %s with its SMD and p-value:\n%s", f, stderr)
		}
	}
	for _, f := range preTreatment {
		if regexp.MustCompile(`(?m)^\s+` + f + `\s+arm`).MatchString(stderr) {
			t.Errorf("pre-treatment column %s refused:\n%s", f, stderr)
		}
	}
	if !strings.Contains(stderr, "--allow-imbalanced conversion,spend") || !strings.Contains(stderr, "--features "+strings.Join(preTreatment, ",")) {
		t.Errorf("refusal does not say how to keep or leave out the columns:\n%s", stderr)
	}
	if _, err := os.Stat(model); err == nil {
		t.Error("a refused fit wrote a model file")
	}

	code, _, stderr = runCLI(t, "", append(fit, "--design", "rct", "--allow-imbalanced", "conversion,spend")...)
	if code != 0 {
		t.Fatalf("--allow-imbalanced: exit %d: %s", code, stderr)
	}
	m, err := readModelFile(model)
	if err != nil {
		t.Fatal(err)
	}
	if m.Balance == nil || m.Balance.Design != "rct" || m.Balance.Status != "allowed" || len(m.Balance.Imbalanced) != 2 ||
		m.Balance.Imbalanced[0].Feature != "conversion" || m.Balance.Imbalanced[1].Feature != "spend" ||
		!strings.Contains(m.Metadata["balance"], "conversion") || !strings.Contains(m.Metadata["balance"], "--allow-imbalanced") {
		t.Errorf("model file does not record the allowed imbalance: balance %+v, metadata %q", m.Balance, m.Metadata["balance"])
	}

	code, _, stderr = runCLI(t, "", fit...)
	if code != 0 {
		t.Fatalf("without --design: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "WARNING: 2 features differ between the arms") || !strings.Contains(stderr, "conversion") || !strings.Contains(stderr, "spend") {
		t.Errorf("no warning naming both columns:\n%s", stderr)
	}
	if m, err = readModelFile(model); err != nil || m.Balance.Status != "imbalanced" || !strings.Contains(m.Metadata["balance"], "spend") {
		t.Errorf("model metadata does not carry the warning: %+v %q (%v)", m.Balance, m.Metadata["balance"], err)
	}

	// The pre-treatment columns alone pass under --design rct.
	code, _, stderr = runCLI(t, "", append(fit, "--design", "rct", "--features", strings.Join(preTreatment, ","))...)
	if code != 0 || strings.Contains(stderr, "WARNING") {
		t.Fatalf("pre-treatment features with --design rct: exit %d: %s", code, stderr)
	}
	if m, err = readModelFile(model); err != nil || m.Balance.Status != "balanced" || m.Metadata["balance"] != "" {
		t.Errorf("balanced fit recorded %+v %q (%v)", m.Balance, m.Metadata["balance"], err)
	}
	// The size printed is the file's.
	fi, _ := os.Stat(model)
	if want := fmt.Sprintf("(%d bytes)", fi.Size()); !strings.Contains(stderr, want) {
		t.Errorf("fit does not report the file's size %s:\n%s", want, stderr)
	}
}

// TestUpliftBalanceCommand checks the table in text and JSON and the exit
// codes of uplift balance.
func TestUpliftBalanceCommand(t *testing.T) {
	args := []string{"uplift", "balance", "--data", hillstromFull, "--treatment", "segment", "--control", "No E-Mail", "--outcome", "visit"}
	code, out, stderr := runCLI(t, "", args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, arm := range []string{"Womens E-Mail", "Mens E-Mail"} {
		if !strings.Contains(out, fmt.Sprintf("arm %q", arm)) {
			t.Errorf("table lacks arm %s:\n%s", arm, out)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^(conversion|spend) .* IMBALANCED`).FindAllString(out, -1)); n != 4 {
		t.Errorf("%d IMBALANCED lines for conversion and spend in two arms, want 4:\n%s", n, out)
	}
	if strings.Count(out, "IMBALANCED") != 4 {
		t.Errorf("other columns flagged:\n%s", out)
	}

	code, out, stderr = runCLI(t, "", append(args, "--treated", "Womens E-Mail", "--json", "--design", "rct")...)
	if code != 1 || !strings.Contains(stderr, "refused by the balance check") {
		t.Fatalf("--design rct --json: exit %d, want 1 with the refusal: %s", code, stderr)
	}
	var got struct {
		Design     string
		Imbalanced []string
		Refused    []string
		Balance    struct {
			Alpha float64
			Tests int
			Arms  []struct {
				Arm      string
				OutcomeZ float64 `json:"outcome_z"`
				Features []struct {
					Feature    string
					Kind       string
					SMD        float64
					Test       string
					P          float64
					PAdjusted  float64 `json:"p_adjusted"`
					Imbalanced bool
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	a := got.Balance.Arms[0]
	if got.Design != "rct" || strings.Join(got.Imbalanced, ",") != "conversion,spend" || strings.Join(got.Refused, ",") != "conversion,spend" ||
		got.Balance.Alpha != 0.005 || got.Balance.Tests != 10 || a.Arm != "Womens E-Mail" || len(a.Features) != 10 || a.OutcomeZ < 10 {
		t.Fatalf("JSON: %s", out)
	}
	for _, f := range a.Features {
		pre := !strings.Contains("conversion spend", f.Feature)
		if f.Imbalanced == pre || (pre && f.P < 0.3) {
			t.Errorf("%s: %+v", f.Feature, f)
		}
		if want := map[string]string{"numeric": "rank-sum & mean", "categorical": "chi-squared"}[f.Kind]; f.Test != want {
			t.Errorf("%s (%s) tested by %q", f.Feature, f.Kind, f.Test)
		}
	}

	code, _, stderr = runCLI(t, "", append(args, "--allow-imbalanced", "nope")...)
	if code != 2 || !strings.Contains(stderr, `--allow-imbalanced "nope" is not a feature`) {
		t.Errorf("unknown --allow-imbalanced: exit %d: %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "", append(args, "--design", "quasi")...)
	if code != 2 || !strings.Contains(stderr, `--design "quasi"`) {
		t.Errorf("bad --design: exit %d: %s", code, stderr)
	}
}

// writeNieWager writes n units of Nie and Wager's setup s (A, C or D; see
// bench/uplift/nie_wager) with d features, the true propensity of the arm
// received and an outcome, to a CSV file.
func writeNieWager(t *testing.T, path string, s byte, n, d int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, uint64(s)))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	header := []string{"t", "y", "propensity"}
	for j := range d {
		header = append(header, fmt.Sprintf("x%d", j+1))
	}
	_ = w.Write(header)
	x := make([]float64, d)
	for range n {
		for j := range x {
			if s == 'A' {
				x[j] = rng.Float64()
			} else {
				x[j] = rng.NormFloat64()
			}
		}
		var b, e, tau float64
		switch s {
		case 'A':
			b = math.Sin(math.Pi*x[0]*x[1]) + 2*(x[2]-0.5)*(x[2]-0.5) + x[3] + 0.5*x[4]
			e = math.Min(math.Max(math.Sin(math.Pi*x[0]*x[1]), 0.1), 0.9)
			tau = (x[0] + x[1]) / 2
		case 'C':
			b = 2 * math.Log1p(math.Exp(x[0]+x[1]+x[2]))
			e = 1 / (1 + math.Exp(x[1]+x[2]))
			tau = 1
		case 'D':
			b = (math.Max(x[0]+x[1]+x[2], 0) + math.Max(x[3]+x[4], 0)) / 2
			e = 1 / (1 + math.Exp(-x[0]) + math.Exp(-x[1]))
			tau = math.Max(x[0]+x[1]+x[2], 0) - math.Max(x[3]+x[4], 0)
		}
		tr, p := 0.0, 1-e
		if rng.Float64() < e {
			tr, p = 1, e
		}
		y := b + (tr-0.5)*tau + rng.NormFloat64()
		row := []string{fmt.Sprint(tr), fmt.Sprint(y), fmt.Sprint(p)}
		for _, v := range x {
			row = append(row, fmt.Sprint(v))
		}
		_ = w.Write(row)
	}
	w.Flush()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestBalanceObservational checks that observational data keep fitting as
// before the check: IHDP and Nie and Wager's setups A, C and D, whose arms
// differ by design, fit with a warning (never silently); with the logged
// propensities the weighted balance decides, and weighting balances the
// confounders.
func TestBalanceObservational(t *testing.T) {
	dir := t.TempDir()
	ihdp := []string{"uplift", "fit", "--data", "testdata/ihdp_npci_1.csv", "--treatment", "treatment", "--outcome", "y_factual",
		"--control", "0", "--features", "x1,x2,x3,x4,x5,x6,x7,x8,x9,x10,x11,x12,x13,x14,x15,x16,x17,x18,x19,x20,x21,x22,x23,x24,x25",
		"--model-out", filepath.Join(dir, "ihdp.json")}
	code, _, stderr := runCLI(t, "", ihdp...)
	if code != 0 || !strings.Contains(stderr, "WARNING") || !strings.Contains(stderr, "Confounders differ by design") {
		t.Errorf("IHDP: exit %d, want 0 with a warning:\n%s", code, stderr)
	}
	for _, s := range []byte("ACD") {
		data := filepath.Join(dir, fmt.Sprintf("nw%c.csv", s))
		writeNieWager(t, data, s, 4000, 6, 19)
		fit := []string{"uplift", "fit", "--data", data, "--treatment", "t", "--outcome", "y", "--features", "x1,x2,x3,x4,x5,x6",
			"--estimator", "t", "--model-out", filepath.Join(dir, "m.json")}
		code, _, stderr := runCLI(t, "", fit...)
		if code != 0 || !strings.Contains(stderr, "WARNING") {
			t.Errorf("setup %c: exit %d, want 0 with a warning:\n%s", s, code, stderr)
		}
		// The confounders of setup C are x2 and x3.
		if s == 'C' && (!regexp.MustCompile(`(?m)^\s+x2\s`).MatchString(stderr) || !regexp.MustCompile(`(?m)^\s+x3\s`).MatchString(stderr)) {
			t.Errorf("setup C: the warning does not name the confounders x2 and x3:\n%s", stderr)
		}
		code, _, stderr = runCLI(t, "", append(fit, "--propensity", "propensity")...)
		if code != 0 || strings.Contains(stderr, "WARNING") {
			t.Errorf("setup %c weighted by the true propensities: exit %d, want 0 without a warning:\n%s", s, code, stderr)
		}
	}
}

// TestUpliftBalanceOverlap checks the overlap part of uplift balance: in
// the Hillstrom trial no row's propensity is near 0 or 1; in IHDP, whose
// treated children were chosen by design, about a tenth are, and the
// command warns.
func TestUpliftBalanceOverlap(t *testing.T) {
	ihdpFeatures := "x1,x2,x3,x4,x5,x6,x7,x8,x9,x10,x11,x12,x13,x14,x15,x16,x17,x18,x19,x20,x21,x22,x23,x24,x25"
	for _, tc := range []struct {
		name   string
		args   []string
		arms   int
		lo, hi float64
		warn   bool
	}{
		{"hillstrom", []string{"--data", hillstromFull, "--treatment", "segment", "--control", "No E-Mail", "--outcome", "visit",
			"--features", "recency,history_segment,history,mens,womens,zip_code,newbie,channel"}, 2, 0, 0.01, false},
		{"ihdp", []string{"--data", "testdata/ihdp_npci_1.csv", "--treatment", "treatment", "--outcome", "y_factual",
			"--features", ihdpFeatures}, 1, 0.05, 0.2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"uplift", "balance"}, tc.args...)
			code, out, stderr := runCLI(t, "", append(args, "--json")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var got struct {
				Overlap struct {
					Clip       float64
					Rows       int
					Propensity string
					Arms       []struct {
						Arm     string
						Clipped float64
					}
					Warning string
				}
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			o := got.Overlap
			if o.Clip != 0.05 || o.Rows < 700 || o.Rows > 5000+tc.arms || o.Propensity != "estimated" || len(o.Arms) != tc.arms || (o.Warning != "") != tc.warn {
				t.Fatalf("overlap %+v", o)
			}
			for _, a := range o.Arms {
				if a.Clipped < tc.lo || a.Clipped > tc.hi {
					t.Errorf("arm %s: clipped %v, want it in [%v, %v]", a.Arm, a.Clipped, tc.lo, tc.hi)
				}
			}
			code, out, stderr = runCLI(t, "", args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if strings.Count(out, "overlap: arm") != tc.arms || strings.Contains(out, "warning: weak overlap") != tc.warn {
				t.Errorf("text lacks the overlap lines or has the wrong warning:\n%s", out)
			}
		})
	}
}
