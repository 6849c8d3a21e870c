package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/causalrec/causalrec/plugins/python/pyenv"
)

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// pluginConfig writes a config file declaring one external estimator
// plugin at path and returns its path.
func pluginConfig(t *testing.T, name, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"plugins": [{"name": %q, "kind": "uplift_estimator", "path": %q, "sha256": %q}]}`, name, abs, sha256File(t, abs))
	p := filepath.Join(t.TempDir(), name+".json")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sklearnConfig declares the Python plugin py-sklearn (its wrapper).
func sklearnConfig(t *testing.T) string {
	t.Helper()
	pyenv.Require(t, pyenv.GRPC, pyenv.Sklearn)
	return pluginConfig(t, "py-sklearn", "../../../plugins/python/estimator/causalrec-sklearn-estimator")
}

// ridgeConfig builds the Go example plugin, a module of its own, and
// declares it as ridge.
func ridgeConfig(t *testing.T) string {
	t.Helper()
	return pluginConfig(t, "ridge", buildRidge(t))
}

// buildRidge builds the Go example plugin and returns the binary's path.
func buildRidge(t *testing.T) string {
	t.Helper()
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("building the example plugin needs the go command: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "ridge-estimator")
	cmd := exec.Command(gocmd, "build", "-o", bin, ".")
	cmd.Dir = "../../../examples/ridge-estimator"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build in %s: %v\n%s", cmd.Dir, err, out)
	}
	return bin
}

// TestCompareAcrossPlugins runs uplift compare on a built-in estimator and
// one of another plugin in one run: the Python plugin and the Go example.
func TestCompareAcrossPlugins(t *testing.T) {
	tests := []struct {
		name   string
		config func(*testing.T) string
		other  string
	}{
		{"python", sklearnConfig, "py-sklearn:t:max_iter=30"},
		{"go example", ridgeConfig, "ridge:t:l2=10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.config(t)
			out := filepath.Join(t.TempDir(), "cmp.json")
			code, table, stderr := runCLI(t, "", "uplift", "compare", "--config", cfg, "--data", hillstromSample, "--treatment", "segment",
				"--outcome", "visit", "--control", "No E-Mail", "--treated", "Womens E-Mail", "--estimators", "t,"+tc.other,
				"--folds", "3", "--bootstrap", "30", "--json-out", out)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(table, "paired differences") || !strings.Contains(table, tc.other) {
				t.Errorf("table lacks %s or the paired differences:\n%s", tc.other, table)
			}
			var got struct {
				Arms []struct {
					Estimators []struct {
						Estimator string
						Qini      float64
						QiniCI    [2]float64 `json:"qini_ci"`
					}
					Pairs []struct {
						A, B       string
						QiniDiffCI [2]float64 `json:"qini_diff_ci"`
					}
				}
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Arms) != 1 || len(got.Arms[0].Estimators) != 2 || len(got.Arms[0].Pairs) != 1 {
				t.Fatalf("comparison JSON: %s", b)
			}
			e := got.Arms[0].Estimators[1]
			p := got.Arms[0].Pairs[0]
			if e.Estimator != tc.other || !(e.QiniCI[0] <= e.Qini && e.Qini <= e.QiniCI[1]) || e.QiniCI[0] == e.QiniCI[1] {
				t.Errorf("%s: qini %v, interval %v", e.Estimator, e.Qini, e.QiniCI)
			}
			if p.A != "t" || p.B != tc.other || !(p.QiniDiffCI[0] < p.QiniDiffCI[1]) {
				t.Errorf("pair %+v: want t against %s with an interval", p, tc.other)
			}
		})
	}
}

// TestFitWithPluginNames fits through the Python plugin with the two ways
// of naming it, predicts with the model file, and checks the errors of
// names that do not resolve.
func TestFitWithPluginNames(t *testing.T) {
	cfg := sklearnConfig(t)
	dir := t.TempDir()
	data := []string{"--config", cfg, "--data", hillstromSample, "--treatment", "segment", "--outcome", "visit", "--control", "No E-Mail", "--treated", "Womens E-Mail"}
	for i, est := range [][]string{
		{"--plugin", "py-sklearn", "--estimator", "t", "--param", "max_iter=20"},
		{"--estimator", "py-sklearn:t:max_iter=20"},
	} {
		model := filepath.Join(dir, fmt.Sprintf("m%d.json", i))
		args := append(append([]string{"uplift", "fit"}, data...), append(est, "--model-out", model)...)
		if code, _, stderr := runCLI(t, "", args...); code != 0 {
			t.Fatalf("fit %v: exit %d: %s", est, code, stderr)
		}
		m, err := readModelFile(model)
		if err != nil {
			t.Fatal(err)
		}
		if m.Plugin != "py-sklearn" || m.Estimator != "t" || m.Params["max_iter"] != "20" || m.Metadata["task"] != "classification" {
			t.Fatalf("model file of %v: plugin %q, estimator %q, params %v, metadata %v", est, m.Plugin, m.Estimator, m.Params, m.Metadata)
		}
		pred := filepath.Join(dir, fmt.Sprintf("p%d.csv", i))
		if code, _, stderr := runCLI(t, "", "uplift", "predict", "--config", cfg, "--model", model, "--data", hillstromSample, "--out", pred); code != 0 {
			t.Fatalf("predict: exit %d: %s", code, stderr)
		}
		if rows := readCSVFile(t, pred); len(rows) != 3001 || rows[0][0] != "uplift" {
			t.Fatalf("predictions: %d rows, header %v", len(rows), rows[0])
		}
	}
	errs := []struct {
		args []string
		want string
	}{
		{append(append([]string{"uplift", "fit"}, data...), "--plugin", "causal", "--estimator", "py-sklearn:t", "--model-out", filepath.Join(dir, "x")),
			"--plugin causal and --estimator py-sklearn:t name different plugins"},
		{append(append([]string{"uplift", "fit"}, data...), "--estimator", "py-sklearn:t:max_iter=5", "--param", "max_iter=6", "--model-out", filepath.Join(dir, "x")),
			"parameter max_iter is set both"},
		{append(append([]string{"uplift", "compare"}, data...), "--estimators", "t,py-sklearn:s"),
			`unknown estimator "s" of plugin py-sklearn (it fits: t)`},
		{append(append([]string{"uplift", "compare"}, data...), "--estimators", "t,nope:t"),
			`unknown plugin "nope"`},
	}
	for _, e := range errs {
		code, _, stderr := runCLI(t, "", e.args...)
		if code == 0 || !strings.Contains(stderr, e.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error containing %q", e.args, code, stderr, e.want)
		}
	}
}

// TestRecEvalPluginRanker ranks through an estimator plugin: the built-in
// T-learner run as the plugin process "causal" ranks exactly as the same
// estimator in process.
func TestRecEvalPluginRanker(t *testing.T) {
	train, test := recSim(t, t.TempDir())
	code, out, stderr := runRecCLI(t, "eval", "--train", train, "--test", test, "--rankers", "uplift:t,uplift:causal:t", "--bootstrap", "20")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	res := parseRecLines(t, out)
	in, plugin := res["uplift:t"], res["uplift:causal:t"]
	if in == nil || plugin == nil {
		t.Fatalf("missing rankers in %s", out)
	}
	for _, k := range []string{"cp@10", "cdcg", "car", "ips_cp@10"} {
		if in[k] == nil || fmt.Sprint(in[k]) != fmt.Sprint(plugin[k]) {
			t.Errorf("%s: in process %v, through the plugin %v", k, in[k], plugin[k])
		}
	}
	code, _, stderr = runRecCLI(t, "eval", "--train", train, "--test", test, "--rankers", "uplift:causal:nope")
	if code == 0 || !strings.Contains(stderr, `unknown estimator "nope" of plugin causal`) {
		t.Errorf("unknown estimator of a plugin: exit %d, %s", code, stderr)
	}
}

// TestPluginDevMode declares the example plugin without a checksum: the
// host refuses it, unless plugin_dev_mode is on, which it says loudly, and
// which an API token turns away.
func TestPluginDevMode(t *testing.T) {
	t.Setenv("CAUSALREC_API_TOKEN", "")
	bin := buildRidge(t)
	dir := t.TempDir()
	write := func(name, extra string) string {
		p := filepath.Join(dir, name)
		cfg := fmt.Sprintf(`{%s"plugins": [{"name": "ridge", "kind": "uplift_estimator", "path": %q}]}`, extra, bin)
		if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	strict, dev := write("strict.json", ""), write("dev.json", `"plugin_dev_mode": true, `)
	if code, _, stderr := runCLI(t, "", "plugins", "list", "--config", strict); code == 0 || !strings.Contains(stderr, `plugin "ridge": no sha256`) {
		t.Errorf("no checksum, no development mode: exit %d, %s", code, stderr)
	}
	code, out, stderr := runCLI(t, "", "plugins", "list", "--config", dev)
	if code != 0 {
		t.Fatalf("development mode: exit %d, %s", code, stderr)
	}
	for _, want := range []string{"PLUGIN DEVELOPMENT MODE", "WITHOUT a checksum check", "sha256=" + sha256File(t, bin)} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(out, "ridge") {
		t.Errorf("plugins list does not show ridge:\n%s", out)
	}
	t.Setenv("CAUSALREC_API_TOKEN", "secret")
	if code, _, stderr := runCLI(t, "", "plugins", "list", "--config", dev); code == 0 || !strings.Contains(stderr, "cannot be used with an API token") {
		t.Errorf("development mode with an API token: exit %d, %s", code, stderr)
	}
}
