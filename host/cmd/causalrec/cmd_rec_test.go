package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/causalrec/causalrec/causal/receval"
)

// runRecCLI runs "causalrec rec args..." through runCLI once main.go
// registers the command, and through runRec with the same exit codes
// until then.
func runRecCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	for _, c := range commands() {
		if c.name == "rec" {
			return runCLI(t, "", append([]string{"rec"}, args...)...)
		}
	}
	var out, errb bytes.Buffer
	err := runRec(context.Background(), stdio{in: strings.NewReader(""), out: &out, err: &errb}, args)
	code := 0
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintf(&errb, "causalrec rec: %v\n", err)
		code = 2
	default:
		fmt.Fprintf(&errb, "causalrec rec: %v\n", err)
		code = 1
	}
	return code, out.String(), errb.String()
}

// recSim writes a small simulation into dir and returns the paths.
func recSim(t *testing.T, dir string, extra ...string) (train, test string) {
	t.Helper()
	train, test = filepath.Join(dir, "train.csv"), filepath.Join(dir, "test.csv")
	args := append([]string{"simulate", "--out-train", train, "--out-test", test, "--users", "200", "--items", "40", "--seed", "3"}, extra...)
	if code, _, stderr := runRecCLI(t, args...); code != 0 {
		t.Fatalf("rec simulate: exit %d: %s", code, stderr)
	}
	return train, test
}

func parseRecLines(t *testing.T, out string) map[string]map[string]any {
	t.Helper()
	res := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		name, _ := m["ranker"].(string)
		res[name] = m
	}
	return res
}

func TestRecEval(t *testing.T) {
	train, test := recSim(t, t.TempDir())
	code, out, stderr := runRecCLI(t, "eval", "--train", train, "--test", test,
		"--rankers", "popularity,outcome,uplift:t,dlce", "--k", "5", "--bootstrap", "50")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	res := parseRecLines(t, out)
	if len(res) != 4 {
		t.Fatalf("got %d rankers, want 4:\n%s", len(res), out)
	}
	if !strings.Contains(stderr, "rec eval: fitting popularity (1 of 4)") || !strings.Contains(stderr, "rec eval: fitting dlce (4 of 4)") {
		t.Errorf("no progress on stderr: %q", stderr)
	}
	for name, m := range res {
		for _, key := range []string{"cp@5", "cdcg", "car", "ips_cp@5", "ips_cdcg", "ips_car"} {
			v, ok := m[key].(float64)
			ci, ok2 := m[key+"_ci"].([]any)
			if !ok || !ok2 || len(ci) != 2 {
				t.Fatalf("%s: key %s or %s_ci missing or malformed: %v", name, key, key, m)
			}
			lo, hi := ci[0].(float64), ci[1].(float64)
			if !(lo <= v+1e-9 && v <= hi+1e-9) {
				t.Errorf("%s %s = %v outside its interval [%v, %v]", name, key, v, lo, hi)
			}
		}
		if _, ok := m["cp@10"]; ok {
			t.Errorf("%s: key cp@10 with --k 5", name)
		}
	}
	if u, o := res["uplift:t"]["cp@5"].(float64), res["outcome"]["cp@5"].(float64); !(u > o) {
		t.Errorf("uplift:t cp@5 %v is not above outcome's %v", u, o)
	}
}

func TestRecEvalDefaultsNoTruth(t *testing.T) {
	dir := t.TempDir()
	train, test := recSim(t, dir, "--users", "60", "--items", "20")
	// Drop the tau column of the test log.
	data, err := os.ReadFile(test)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if i := strings.LastIndexByte(line, ','); i >= 0 {
			line = line[:i] + "\n"
		}
		b.WriteString(line)
	}
	notau := filepath.Join(dir, "notau.csv")
	if err := os.WriteFile(notau, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runRecCLI(t, "eval", "--train", train, "--test", notau, "--bootstrap", "20")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	res := parseRecLines(t, out)
	if want := len(receval.DefaultRankers(causalRegistry())); len(res) != want {
		t.Errorf("got %d rankers, want every built-in ranker (%d):\n%s", len(res), want, out)
	}
	for name, m := range res {
		if _, ok := m["cp@10"]; ok {
			t.Errorf("%s: ground-truth cp@10 without a tau column", name)
		}
		if _, ok := m["ips_cp@10"].(float64); !ok {
			t.Errorf("%s: ips_cp@10 missing: %v", name, m)
		}
	}
}

func TestRecErrors(t *testing.T) {
	dir := t.TempDir()
	train, test := recSim(t, dir, "--users", "20", "--items", "10")
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("user,item,treated,propensity,outcome,f\nu1,i1,1,0.5,1,2\nu1,i2,1,0.5,yes,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.csv")
	if err := os.WriteFile(other, []byte("user,item,treated,propensity,outcome,f\nu1,i1,1,0.5,1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no subcommand", nil, 2, "want a subcommand"},
		{"help", []string{"--help"}, 0, "Subcommands:"},
		{"eval help", []string{"eval", "--help"}, 0, "--rankers"},
		{"unknown subcommand", []string{"fit"}, 2, `unknown subcommand "fit"`},
		{"no train", []string{"eval", "--test", test}, 2, "--train is required"},
		{"unknown ranker", []string{"eval", "--train", train, "--test", test, "--rankers", "magic"}, 2, `unknown ranker "magic"`},
		{"unknown estimator", []string{"eval", "--train", train, "--test", test, "--rankers", "uplift:zz"}, 2, `"zz"`},
		{"bad k", []string{"eval", "--train", train, "--test", test, "--k", "0"}, 2, "--k"},
		{"malformed line", []string{"eval", "--train", bad, "--test", test}, 1, `line 3: outcome "yes"`},
		{"feature mismatch", []string{"eval", "--train", train, "--test", other}, 1, `test feature "f" is not in the training log`},
		{"simulate outputs", []string{"simulate", "--out-train", train}, 2, "--out-test"},
		{"simulate agreement", []string{"simulate", "--out-train", train, "--out-test", test, "--agreement", "2"}, 2, "agreement"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runRecCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tc.code, tc.want)
			}
		})
	}
}
