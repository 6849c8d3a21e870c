package main

import (
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

// TestUpliftCalibrate runs uplift calibrate on a simulated experiment with
// a known effect, scored by the truth.
func TestUpliftCalibrate(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	var b strings.Builder
	b.WriteString(",x0,x1,city,arm,y,tau\n")
	for i := range 3000 {
		x0, x1 := rng.NormFloat64(), rng.NormFloat64()
		w := rng.IntN(2)
		tau := 0.5 + x0
		y := x1 + float64(w)*tau + rng.NormFloat64()
		arm := []string{"ctl", "mail"}[w]
		fmt.Fprintf(&b, "%d,%.6f,%.6f,c%d,%s,%.6f,%.6f\n", i, x0, x1, rng.IntN(3), arm, y, tau)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "rct.csv")
	if err := os.WriteFile(data, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	svg := filepath.Join(dir, "cal.svg")
	code, stdout, stderr := runCLI(t, "", "uplift", "calibrate", "--data", data, "--treatment", "arm", "--control", "ctl",
		"--outcome", "y", "--score", "tau", "--bins", "5", "--bootstrap", "100", "--plot", svg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		BLP struct {
			Mean, Differential struct {
				Coef   float64
				CI     [2]float64
				PValue float64 `json:"p_value"`
			}
		}
		Bins []struct {
			Lo, Hi, Predicted, Observed float64
			N                           int
			CI                          [2]float64
		}
		CalibrationR2 float64 `json:"calibration_r2"`
		RATE          struct {
			AUTOC, Qini struct {
				Value float64
				CI    [2]float64
			}
		}
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	d := res.BLP.Differential
	if !(d.CI[0] <= 1 && 1 <= d.CI[1]) || d.PValue >= 0.01 {
		t.Errorf("differential %+v, want an interval holding 1 and p < 0.01", d)
	}
	if len(res.Bins) != 5 || res.Bins[0].N != 600 || res.Bins[4].Predicted <= res.Bins[0].Predicted {
		t.Errorf("bins %+v", res.Bins)
	}
	if res.CalibrationR2 < 0.5 || res.RATE.AUTOC.CI[0] <= 0 || res.RATE.Qini.CI[0] <= 0 || math.IsNaN(res.RATE.Qini.Value) {
		t.Errorf("calibration R² %v, RATE %+v", res.CalibrationR2, res.RATE)
	}
	if b, err := os.ReadFile(svg); err != nil || !strings.Contains(string(b), "Calibration of tau") {
		t.Errorf("plot: %v", err)
	}
	// Bad input: a missing score column, a non-numeric score; usage errors.
	code, stdout, stderr = runCLI(t, "", "uplift", "calibrate", "--data", data, "--treatment", "arm", "--control", "ctl", "--outcome", "y", "--score", "nope")
	if code != 1 || stdout != "" || !strings.Contains(stderr, `score column "nope" not found`) {
		t.Errorf("missing score column: exit %d, %q", code, stderr)
	}
	code, _, stderr = runCLI(t, "", "uplift", "calibrate", "--data", data, "--treatment", "arm", "--control", "ctl", "--outcome", "y", "--score", "city")
	if code != 1 || !strings.Contains(stderr, `score column "city" is not numeric`) {
		t.Errorf("text score column: exit %d, %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "", "uplift", "calibrate", "--data", data, "--treatment", "arm"); code != 2 {
		t.Errorf("missing flags: exit %d, want 2", code)
	}
}

// TestCalibrateBalance runs the balance check on calibrate's outcome-model
// features: with --design rct, Hillstrom's columns measured after the
// e-mail are refused by name; the pre-treatment columns pass.
func TestCalibrateBalance(t *testing.T) {
	dir := t.TempDir()
	model, scored := filepath.Join(dir, "m.json"), filepath.Join(dir, "scored.csv")
	arms := []string{"--treatment", "segment", "--control", "No E-Mail", "--treated", "Womens E-Mail", "--outcome", "visit"}
	if code, _, stderr := runCLI(t, "", append([]string{"uplift", "fit", "--data", hillstromFull, "--features", strings.Join(preTreatment, ","), "--model-out", model}, arms...)...); code != 0 {
		t.Fatalf("fit: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "", "uplift", "predict", "--model", model, "--data", hillstromFull, "--keep", "all", "--out", scored); code != 0 {
		t.Fatalf("predict: exit %d: %s", code, stderr)
	}
	calibrate := append([]string{"uplift", "calibrate", "--data", scored, "--score", "uplift", "--bootstrap", "20", "--design", "rct"}, arms...)
	code, out, stderr := runCLI(t, "", calibrate...)
	if code != 1 || out != "" || !strings.Contains(stderr, "conversion") || !strings.Contains(stderr, "spend") {
		t.Fatalf("calibrate on every column with --design rct: exit %d, out %q, stderr:\n%s", code, out, stderr)
	}
	for _, f := range preTreatment {
		if regexp.MustCompile(`(?m)^\s+` + f + `\s+arm`).MatchString(stderr) {
			t.Errorf("pre-treatment column %s refused:\n%s", f, stderr)
		}
	}
	code, out, stderr = runCLI(t, "", append(calibrate, "--features", strings.Join(preTreatment, ","))...)
	if code != 0 || !strings.Contains(out, `"blp"`) || strings.Contains(stderr, "WARNING") {
		t.Fatalf("calibrate on the pre-treatment columns: exit %d: %s", code, stderr)
	}
}
