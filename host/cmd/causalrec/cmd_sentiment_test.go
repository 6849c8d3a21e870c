package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// runSentimentCLI runs the CLI with args and stdin and returns the exit
// code, standard output and standard error.
func runSentimentCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, stdio{in: strings.NewReader(stdin), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func TestSentimentScoreVADER(t *testing.T) {
	code, out, stderr := runSentimentCLI(t, "The book was good.\nThe book was not good.\r\n\nno newline at end :(",
		"sentiment", "score")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	want := []string{"0.4404", "-0.3412", "0.0000"}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines %q, want 4", len(lines), out)
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("line %d = %q, want %q", i+1, lines[i], w)
		}
	}
	if x, err := strconv.ParseFloat(lines[3], 64); err != nil || x >= 0 {
		t.Errorf("line 4 = %q, want a negative score", lines[3])
	}
}

func TestSentimentTrainAndScore(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.json")
	data := filepath.Join("..", "..", "..", "lm", "sentiment", "testdata", "amazon_cells_labelled.txt")
	code, _, stderr := runSentimentCLI(t, "", "sentiment", "train", "--data", data, "--out", model, "--epochs", "5")
	if code != 0 {
		t.Fatalf("train: exit %d, stderr %s", code, stderr)
	}
	if !strings.Contains(stderr, "word features") {
		t.Errorf("train log %q does not report the features", stderr)
	}
	code, out, stderr := runSentimentCLI(t, "great phone, works perfectly\nit broke after a day, terrible\n",
		"sentiment", "score", "--model", model)
	if code != 0 {
		t.Fatalf("score: exit %d, stderr %s", code, stderr)
	}
	lines := strings.Fields(out)
	if len(lines) != 2 {
		t.Fatalf("score printed %q, want 2 lines", out)
	}
	pos, _ := strconv.ParseFloat(lines[0], 64)
	neg, _ := strconv.ParseFloat(lines[1], 64)
	if !(pos > 0 && pos <= 1 && neg < 0 && neg >= -1) {
		t.Errorf("scores %v, %v; want one in (0, 1] and one in [-1, 0)", pos, neg)
	}
}

func TestSentimentErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.tsv")
	if err := os.WriteFile(bad, []byte("good\t1\nbad\t0\nno label here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	oldModel := filepath.Join(dir, "old.json")
	if err := os.WriteFile(oldModel, []byte(`{"format":"causalrec-sentiment-classifier","version":99}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "m.json")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no subcommand", []string{"sentiment"}, 2, "missing subcommand"},
		{"unknown subcommand", []string{"sentiment", "frobnicate"}, 2, `unknown subcommand "frobnicate"`},
		{"missing data", []string{"sentiment", "train", "--out", out}, 2, "--data is required"},
		{"missing out", []string{"sentiment", "train", "--data", bad}, 2, "--out is required"},
		{"unknown flag", []string{"sentiment", "score", "--nope"}, 2, "nope"},
		{"malformed line", []string{"sentiment", "train", "--data", bad, "--out", out}, 1, "line 3: no tab"},
		{"missing data file", []string{"sentiment", "train", "--data", filepath.Join(dir, "none"), "--out", out}, 1, "no such file"},
		{"missing model", []string{"sentiment", "score", "--model", filepath.Join(dir, "none")}, 1, "no such file"},
		{"other model version", []string{"sentiment", "score", "--model", oldModel}, 1, "version 99"},
	}
	for _, tt := range tests {
		code, _, stderr := runSentimentCLI(t, "text\n", tt.args...)
		if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", tt.name, code, stderr, tt.wantCode, tt.wantErr)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed train left %s behind", out)
	}
}

func TestSentimentHelp(t *testing.T) {
	for _, args := range [][]string{
		{"sentiment", "--help"}, {"sentiment", "score", "--help"}, {"sentiment", "train", "-h"},
	} {
		code, out, _ := runSentimentCLI(t, "", args...)
		if code != 0 || !strings.Contains(out, "Usage") {
			t.Errorf("%v: exit %d, output %q; want 0 and a usage text", args, code, out)
		}
	}
}
