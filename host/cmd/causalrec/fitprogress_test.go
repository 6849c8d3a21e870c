package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestUpliftFitProgressLines fits a causal forest with the progress shown
// as lines (standard error is no terminal): the lines count the plugin's
// steps (100 causal trees and 2 × 50 nuisance trees) with rising shares,
// and the last one says all 200 were done.
func TestUpliftFitProgressLines(t *testing.T) {
	t.Setenv("CAUSALREC_PROGRESS", "")
	var out, errb bytes.Buffer
	s := stdio{in: strings.NewReader(""), out: &out, err: &errb, progressEvery: 5 * time.Millisecond}
	code := run(context.Background(), []string{"uplift", "fit", "--data", hillstromSample, "--treatment", "segment", "--outcome", "visit",
		"--control", "No E-Mail", "--treated", "Womens E-Mail", "--estimator", "causal-forest", "--param", "trees=100",
		"--model-out", filepath.Join(t.TempDir(), "m.json")}, s)
	stderr := errb.String()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	step := regexp.MustCompile(`^uplift fit: fitting causal-forest on \d+ rows: +(\d+)% \(\d+ of 200 steps\)`)
	var shares []int
	final := false
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, "\r") {
			t.Fatalf("a bar on a writer that is no terminal: %q", line)
		}
		if m := step.FindStringSubmatch(line); m != nil {
			v, _ := strconv.Atoi(m[1])
			shares = append(shares, v)
		}
		final = final || strings.HasPrefix(line, "uplift fit: done, 200 steps in ")
	}
	if !final {
		t.Fatalf("no final line of 200 steps done:\n%s", stderr)
	}
	if len(shares) == 0 {
		t.Fatalf("no line with a share of the 200 steps:\n%s", stderr)
	}
	for i := 1; i < len(shares); i++ {
		if shares[i] < shares[i-1] {
			t.Fatalf("shares fall: %v\n%s", shares, stderr)
		}
	}
}

// TestUpliftCompareProgressLines compares a causal forest with a
// T-learner on 3 folds, with the progress as lines: the share of the six
// fits rises, moves within the forest's fits (the plugin reports their
// trees), and the last line counts six fits done.
func TestUpliftCompareProgressLines(t *testing.T) {
	t.Setenv("CAUSALREC_PROGRESS", "")
	var out, errb bytes.Buffer
	s := stdio{in: strings.NewReader(""), out: &out, err: &errb, progressEvery: 5 * time.Millisecond}
	code := run(context.Background(), []string{"uplift", "compare", "--data", hillstromSample, "--treatment", "segment", "--outcome", "visit",
		"--control", "No E-Mail", "--treated", "Womens E-Mail", "--estimators", "causal-forest:trees=200,t", "--folds", "3", "--bootstrap", "10"}, s)
	stderr := errb.String()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	share := regexp.MustCompile(`^uplift compare: fitting \S+: +(\d+)% \(\d of 6 fits\)`)
	var shares []int
	within := false
	for _, line := range strings.Split(stderr, "\n") {
		if m := share.FindStringSubmatch(line); m != nil {
			v, _ := strconv.Atoi(m[1])
			shares = append(shares, v)
			// Whole fits are 0, 17, 33, 50, 67, 83 and 100%.
			within = within || !slices.Contains([]int{0, 17, 33, 50, 67, 83, 100}, v)
		}
	}
	if !strings.Contains(stderr, "uplift compare: done, 6 fits in ") {
		t.Fatalf("no final line of 6 fits done:\n%s", stderr)
	}
	for i := 1; i < len(shares); i++ {
		if shares[i] < shares[i-1] {
			t.Fatalf("shares fall: %v\n%s", shares, stderr)
		}
	}
	if !within {
		t.Fatalf("no share within a fit: %v\n%s", shares, stderr)
	}
}

// TestUpliftFitProgressLinesPython fits through the Python plugin
// py-sklearn with the progress shown as lines: the plugin's FitStream
// reports one step per arm's model, so the lines count 2 steps (control
// and one treated arm) with rising shares, and the last one says both
// were done, after a line at 1 of 2.
func TestUpliftFitProgressLinesPython(t *testing.T) {
	cfg := sklearnConfig(t)
	t.Setenv("CAUSALREC_PROGRESS", "lines")
	var out, errb bytes.Buffer
	s := stdio{in: strings.NewReader(""), out: &out, err: &errb, progressEvery: 5 * time.Millisecond}
	code := run(context.Background(), []string{"uplift", "fit", "--config", cfg, "--data", hillstromSample, "--treatment", "segment",
		"--outcome", "visit", "--control", "No E-Mail", "--treated", "Womens E-Mail", "--estimator", "py-sklearn:t:max_iter=60",
		"--model-out", filepath.Join(t.TempDir(), "m.json")}, s)
	stderr := errb.String()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	step := regexp.MustCompile(`^uplift fit: fitting py-sklearn:t\S* on \d+ rows: +(\d+)% \((\d) of 2 steps\)`)
	var shares []int
	final := false
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, "\r") {
			t.Fatalf("a bar with CAUSALREC_PROGRESS=lines: %q", line)
		}
		if m := step.FindStringSubmatch(line); m != nil {
			v, _ := strconv.Atoi(m[1])
			shares = append(shares, v)
		}
		final = final || strings.HasPrefix(line, "uplift fit: done, 2 steps in ")
	}
	if !final {
		t.Fatalf("no final line of 2 steps done:\n%s", stderr)
	}
	if len(shares) == 0 {
		t.Fatalf("no line with a share of the 2 steps:\n%s", stderr)
	}
	for i := 1; i < len(shares); i++ {
		if shares[i] < shares[i-1] {
			t.Fatalf("shares fall: %v\n%s", shares, stderr)
		}
	}
	if !slices.Contains(shares, 50) {
		t.Fatalf("no line at 1 of 2 steps (the first model fitted): %v\n%s", shares, stderr)
	}
	t.Logf("shares: %v", shares)
}
