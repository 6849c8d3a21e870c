package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// writeOverlapCSV writes n rows of x0, x1, t, y where P(t = 1 | x) =
// 1/(1 + exp(−strength·x0)).
func writeOverlapCSV(t *testing.T, path string, n int, strength float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), 11))
	var b strings.Builder
	b.WriteString("x0,x1,t,y\n")
	for range n {
		x0, x1 := rng.NormFloat64(), rng.NormFloat64()
		tr := 0
		if rng.Float64() < 1/(1+math.Exp(-strength*x0)) {
			tr = 1
		}
		fmt.Fprintf(&b, "%.6f,%.6f,%d,%.6f\n", x0, x1, tr, x0+x1*float64(tr)+rng.NormFloat64())
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestUpliftFitOverlap fits on data where treatment is nearly certain for
// a third of the rows, and on randomised data: the share of rows at the
// propensity bounds is in the model's metadata for any estimator (the
// built-in plugin measures it, fit does for a plugin that does not, such
// as the Go example), with a warning on the first data only; auto keeps
// its own count of its selection rows.
func TestUpliftFitOverlap(t *testing.T) {
	dir := t.TempDir()
	confounded, randomised := filepath.Join(dir, "confounded.csv"), filepath.Join(dir, "randomised.csv")
	writeOverlapCSV(t, confounded, 2000, 3)
	writeOverlapCSV(t, randomised, 2000, 0)
	for _, tc := range []struct {
		name, data, estimator string
		config                func(*testing.T) string
		warn                  bool
		lo, hi                float64 // overlap_clipped
	}{
		{"confounded t", confounded, "t", nil, true, 0.2, 0.5},
		{"confounded x/linear", confounded, "x", nil, true, 0.2, 0.5},
		{"randomised t", randomised, "t", nil, false, 0, 0.02},
		{"confounded auto", confounded, "auto", nil, true, -1, -1},
		{"confounded, another plugin", confounded, "ridge:t", ridgeConfig, true, 0.2, 0.5},
		{"randomised, another plugin", randomised, "ridge:t", ridgeConfig, false, 0, 0.02},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model := filepath.Join(dir, "m.json")
			args := []string{"uplift", "fit", "--data", tc.data, "--treatment", "t", "--outcome", "y", "--features", "x0,x1",
				"--estimator", tc.estimator, "--model-out", model}
			if tc.config != nil {
				args = append(args, "--config", tc.config(t))
			}
			if tc.estimator == "auto" {
				args = append(args, "--param", "candidates=t/linear,x/linear")
			}
			code, _, stderr := runCLI(t, "", args...)
			if code != 0 {
				t.Fatalf("fit: exit %d: %s", code, stderr)
			}
			if got := strings.Count(stderr, "warning: weak overlap:"); got != map[bool]int{true: 1, false: 0}[tc.warn] {
				t.Errorf("%d weak-overlap warnings, want one: %v\n%s", got, tc.warn, stderr)
			}
			m, err := readModelFile(model)
			if err != nil {
				t.Fatal(err)
			}
			if tc.lo < 0 {
				// auto's own count, not the fit command's.
				if m.Metadata["auto_clipped"] == "" || m.Metadata["overlap_clipped"] != "" {
					t.Fatalf("auto metadata %v", m.Metadata)
				}
				return
			}
			v, err := strconv.ParseFloat(m.Metadata["overlap_clipped"], 64)
			if err != nil || v < tc.lo || v > tc.hi || m.Metadata["overlap_rows"] != "2000" {
				t.Errorf("overlap_clipped %q (want [%v, %v]), rows %q", m.Metadata["overlap_clipped"], tc.lo, tc.hi, m.Metadata["overlap_rows"])
			}
			if (m.Metadata["overlap_warning"] != "") != tc.warn {
				t.Errorf("overlap_warning %q", m.Metadata["overlap_warning"])
			}
		})
	}
}
