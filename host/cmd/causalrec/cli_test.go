package main

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const hillstromSample = "testdata/hillstrom_sample.csv"

func TestUpliftFitPredictEval(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.json")
	code, _, stderr := runCLI(t, "", "uplift", "fit", "--data", hillstromSample, "--treatment", "segment", "--outcome", "visit",
		"--control", "No E-Mail", "--treated", "Womens E-Mail", "--estimator", "t", "--model-out", model)
	if code != 0 {
		t.Fatalf("fit: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "left out") || !strings.Contains(stderr, `"Womens E-Mail"`) {
		t.Errorf("fit does not report the arms and the rows left out:\n%s", stderr)
	}
	pred := filepath.Join(dir, "pred.csv")
	code, _, stderr = runCLI(t, "", "uplift", "predict", "--model", model, "--data", hillstromSample, "--out", pred)
	if code != 0 {
		t.Fatalf("predict: exit %d: %s", code, stderr)
	}
	rows := readCSVFile(t, pred)
	if len(rows) != 3001 || len(rows[0]) != 1 || rows[0][0] != "uplift" {
		t.Fatalf("predict wrote %d rows with header %v; want 3001 rows with header [uplift]", len(rows), rows[0])
	}
	// Join the scores to the data and evaluate.
	data := readCSVFile(t, hillstromSample)
	scored := filepath.Join(dir, "scored.csv")
	f, err := os.Create(scored)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	for i := range data {
		_ = w.Write(append(data[i], rows[i][0]))
	}
	w.Flush()
	f.Close()
	code, out, stderr := runCLI(t, "", "uplift", "eval", "--data", scored, "--treatment", "segment", "--outcome", "visit",
		"--score", "uplift", "--control", "No E-Mail", "--treated", "Womens E-Mail", "--plot", filepath.Join(dir, "q.svg"), "--bootstrap", "20")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("eval output is not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"qini", "auuc", "uplift_at_30", "qini_normalisation"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("eval output lacks %q", k)
		}
	}
	if q, _ := rep["qini"].(float64); q <= 0 {
		t.Errorf("in-sample qini %v is not positive", rep["qini"])
	}
	if b, err := os.ReadFile(filepath.Join(dir, "q.svg")); err != nil || !strings.Contains(string(b), "<svg") {
		t.Errorf("no SVG plot written: %v", err)
	}
	// Without --treated, eval refuses to mix the third arm in.
	code, _, stderr = runCLI(t, "", "uplift", "eval", "--data", scored, "--treatment", "segment", "--outcome", "visit",
		"--score", "uplift", "--control", "No E-Mail")
	if code == 0 || !strings.Contains(stderr, "--treated") {
		t.Errorf("eval on three arms without --treated: exit %d, %s", code, stderr)
	}
}

func TestUpliftMultiArmHeader(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.json")
	if code, _, stderr := runCLI(t, "", "uplift", "fit", "--data", hillstromSample, "--treatment", "segment", "--outcome", "visit",
		"--control", "No E-Mail", "--features", "recency,history,zip_code,channel", "--model-out", model); code != 0 {
		t.Fatalf("fit: exit %d: %s", code, stderr)
	}
	pred := filepath.Join(dir, "pred.csv")
	if code, _, stderr := runCLI(t, "", "uplift", "predict", "--model", model, "--data", hillstromSample, "--out", pred); code != 0 {
		t.Fatalf("predict: exit %d: %s", code, stderr)
	}
	rows := readCSVFile(t, pred)
	want := "uplift_Womens E-Mail,uplift_Mens E-Mail"
	if got := strings.Join(rows[0], ","); got != want || len(rows) != 3001 {
		t.Fatalf("header %q (%d rows), want %q (3001 rows)", got, len(rows), want)
	}
}

// TestUpliftFitAutoLog: an auto fit says on standard error what it chose
// and why, the runner-up included.
func TestUpliftFitAutoLog(t *testing.T) {
	model := filepath.Join(t.TempDir(), "m.json")
	code, _, stderr := runCLI(t, "", "uplift", "fit", "--data", hillstromSample, "--treatment", "segment", "--outcome", "visit",
		"--control", "No E-Mail", "--treated", "Womens E-Mail", "--features", "recency,history,mens,womens,newbie",
		"--estimator", "auto", "--param", "candidates=s/linear,t/linear", "--param", "combine=select", "--model-out", model)
	if code != 0 {
		t.Fatalf("fit: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "auto chose ") || !strings.Contains(stderr, "runner-up ") {
		t.Errorf("no choice in the log: %s", stderr)
	}
}

func readCSVFile(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestCLIErrors checks that each kind of bad input gives one clear error
// naming the problem and a non-zero exit.
func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	writeConfig := func(name, path, sha string) string {
		p := filepath.Join(dir, name)
		cfg := fmt.Sprintf(`{"plugins": [{"name": "causal", "kind": "uplift_estimator", "path": %q, "sha256": %q, "args": ["plugins", "serve", "causal"]}]}`, path, sha)
		if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	wrongSum := writeConfig("wrong.json", exe, strings.Repeat("0", 64))
	missing := writeConfig("missing.json", filepath.Join(dir, "no-such-plugin"), hex.EncodeToString(sum[:]))
	goodSum := writeConfig("good.json", exe, hex.EncodeToString(sum[:]))
	fit := []string{"uplift", "fit", "--data", hillstromSample, "--treatment", "segment", "--outcome", "visit", "--control", "No E-Mail", "--model-out", filepath.Join(dir, "m.json")}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"malformed csv line", []string{"uplift", "fit", "--data", "testdata/bad_line.csv", "--treatment", "segment", "--outcome", "visit", "--control", "No E-Mail", "--model-out", filepath.Join(dir, "x.json")},
			`line 4: column "history": "NaN" is not a finite number`},
		{"wrong checksum", append(fit, "--config", wrongSum), "does not match the configured sha256 " + strings.Repeat("0", 64) + ": its sha256 is " + hex.EncodeToString(sum[:])},
		{"missing plugin binary", append(fit, "--config", missing), "no-such-plugin: no such file or directory"},
		{"unknown estimator", append(fit, "--estimator", "magic"), `unknown estimator "magic"`},
		{"bad parameter", append(fit, "--param", "folds=3"), `does not take parameter "folds"`},
		{"redis unreachable", []string{"train", "--redis", "redis://127.0.0.1:1"}, "127.0.0.1:1"},
		{"missing data file", []string{"uplift", "fit", "--data", "nope.csv", "--treatment", "t", "--outcome", "y", "--model-out", "m"}, "nope.csv: no such file"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "", tt.args...)
			if code == 0 {
				t.Fatalf("exit 0, want non-zero; stderr:\n%s", stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Fatalf("stderr does not name the problem %q:\n%s", tt.want, stderr)
			}
		})
	}
	// The same config with the right checksum works.
	if code, _, stderr := runCLI(t, "", append(fit, "--config", goodSum)...); code != 0 {
		t.Fatalf("right checksum: exit %d: %s", code, stderr)
	}
}

func TestPluginsList(t *testing.T) {
	code, out, stderr := runCLI(t, "", "plugins", "list", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var list []struct {
		Name     string
		Kind     string
		Version  string
		Protocol int
		PID      int
		Healthy  bool
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range list {
		if !p.Healthy || p.PID <= 0 || p.Protocol != 1 || p.Version == "" {
			t.Errorf("plugin %+v not healthy", p)
		}
		found = found || p.Name == "causal"
	}
	if !found {
		t.Errorf("no causal plugin in %s", out)
	}
}

func TestImportReportsBadLines(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "events.jsonl")
	lines := `{"kind": "exposure", "user": "u1", "item": "i1", "time": "2026-01-01T00:00:00Z"}
{"kind": "outcome", "user": "u1", "item": "i1", "time": "2026-01-01T00:01:00Z"}
{"kind": "exposure", "user": "u2", "item": 
`
	if err := os.WriteFile(bad, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	prefix := testPrefix(t)
	code, _, stderr := runCLI(t, "", "import", "--redis", redisURL(), "--prefix", prefix, "--kind", "events", bad)
	if code == 0 || !strings.Contains(stderr, "events.jsonl:3:") || !strings.Contains(stderr, "nothing written") {
		t.Fatalf("reject: exit %d, stderr:\n%s", code, stderr)
	}
	code, out, stderr := runCLI(t, "", "import", "--redis", redisURL(), "--prefix", prefix, "--kind", "events", "--on-error", "skip", bad)
	if code != 0 || !strings.Contains(stderr+out, "events.jsonl:3:") {
		t.Fatalf("skip: exit %d, out %s, stderr:\n%s", code, out, stderr)
	}
}

func TestUpliftCompare(t *testing.T) {
	out := filepath.Join(t.TempDir(), "cmp.json")
	code, table, stderr := runCLI(t, "", "uplift", "compare", "--data", hillstromSample, "--treatment", "segment", "--outcome", "visit",
		"--control", "No E-Mail", "--treated", "Womens E-Mail", "--estimators", "t,uplift-forest:trees=10:depth=3:min_leaf=50",
		"--folds", "3", "--bootstrap", "30", "--json-out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(table, "paired differences") || !strings.Contains(table, "uplift-forest:trees=10") {
		t.Errorf("table lacks the estimators or the paired differences:\n%s", table)
	}
	var got struct {
		Folds int
		Arms  []struct {
			Arm        string
			Estimators []struct {
				Estimator string
				Qini      float64
				QiniCI    [2]float64 `json:"qini_ci"`
			}
			Pairs []struct{ A, B string }
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Folds != 3 || len(got.Arms) != 1 || got.Arms[0].Arm != "Womens E-Mail" || len(got.Arms[0].Estimators) != 2 || len(got.Arms[0].Pairs) != 1 {
		t.Fatalf("comparison JSON: %s", b)
	}
	for _, e := range got.Arms[0].Estimators {
		if !(e.QiniCI[0] <= e.Qini && e.Qini <= e.QiniCI[1]) {
			t.Errorf("%s: qini %v outside its interval %v", e.Estimator, e.Qini, e.QiniCI)
		}
	}
	code, _, stderr = runCLI(t, "", "uplift", "compare", "--data", hillstromSample, "--treatment", "segment", "--outcome", "visit",
		"--control", "No E-Mail", "--estimators", "t,nope")
	if code == 0 || !strings.Contains(stderr, `unknown estimator "nope"`) {
		t.Errorf("unknown estimator: exit %d, %s", code, stderr)
	}
}
