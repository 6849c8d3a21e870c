package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/experiment"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

func TestParseArm(t *testing.T) {
	tests := []struct {
		in   string
		want experiment.ArmRequest
		bad  string
	}{
		{"control=default:0.5", experiment.ArmRequest{Name: "control", Model: "default", Weight: 0.5}, ""},
		{"u=1b6a-x:0.25:epsilon-greedy:0.1", experiment.ArmRequest{Name: "u", Model: "1b6a-x", Weight: 0.25, Policy: "epsilon-greedy", Epsilon: 0.1}, ""},
		{"p=name:with:colons:0.5:plackett-luce:2", experiment.ArmRequest{Name: "p", Model: "name:with:colons", Weight: 0.5, Policy: "plackett-luce", Temperature: 2}, ""},
		{"nomodel", experiment.ArmRequest{}, "want NAME=MODEL"},
		{"a=default", experiment.ArmRequest{}, "no weight"},
		{"a=default:0.5:epsilon-greedy:x", experiment.ArmRequest{}, "not a number"},
		{"a=default:0.5:greedy:1:2", experiment.ArmRequest{}, "too many fields"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseArm(tt.in)
			if tt.bad != "" {
				if err == nil || !strings.Contains(err.Error(), tt.bad) {
					t.Errorf("error %v, want one containing %q", err, tt.bad)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v (%v), want %+v", got, err, tt.want)
			}
		})
	}
}

func FuzzParseArm(f *testing.F) {
	for _, s := range []string{"control=default:0.5", "u=m:0.2:epsilon-greedy:0.1", "=:", "a=b:c:1e308:plackett-luce:NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseArm(s)
		if err == nil && (a.Name == "" || !strings.Contains(s, a.Model)) {
			t.Errorf("parseArm(%q) = %+v", s, a)
		}
	})
}

// The experiment commands against a running serve: create (flags and
// --file), list, stop, report as JSON and as a page.
func TestExperimentCommands(t *testing.T) {
	cfg := textlessConfig(t)
	cfg.APIToken = "tok"
	base := startServe(t, cfg)
	st := storeOf(t, cfg)
	ctx := context.Background()
	var ids []string
	for range 2 {
		id, err := st.SaveModel(ctx, store.ModelRecord{Name: recommend.ModelName, Estimator: "popularity",
			Metadata: map[string]string{"features": "[]", "ranker": "popularity"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id.String())
	}
	if err := st.SetServing(ctx, recommend.ModelName, uuidOf(t, ids[0])); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--server", base, "--token", "tok"}
	code, out, errOut := runCLI(t, "", append([]string{"experiment", "create", "--id", "ab1", "--namespace", "0,0.5",
		"--arm", "control=default:0.5", "--arm", "uplift=" + ids[1] + ":0.5:epsilon-greedy:0.1"}, flags...)...)
	if code != 0 {
		t.Fatalf("create: %d %s %s", code, out, errOut)
	}
	var e store.Experiment
	if err := json.Unmarshal([]byte(out), &e); err != nil || e.Status != "running" || e.Arms[1].Epsilon != 0.1 || e.Arms[0].ModelID != ids[0] {
		t.Fatalf("created %s (%v)", out, err)
	}
	// The API's validation, through the CLI: a clear error, exit code 1.
	code, _, errOut = runCLI(t, `{"id": "ab2", "arms": [{"name": "a", "model": "default", "weight": 0.5}, {"name": "b", "model": "default", "weight": 0.5}]}`,
		append([]string{"experiment", "create", "--file", "-"}, flags...)...)
	if code != 1 || !strings.Contains(errOut, `overlaps running experiment "ab1"`) || !strings.Contains(errOut, "409") {
		t.Errorf("overlapping create: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", append([]string{"experiment", "create", "--id", "x"}, flags...)...); code != 2 || !strings.Contains(errOut, "--arm") {
		t.Errorf("create without arms: %d %s", code, errOut)
	}
	code, out, errOut = runCLI(t, "", append([]string{"experiment", "list"}, flags...)...)
	if code != 0 || !strings.Contains(out, "ab1") || !strings.Contains(out, "running") || !strings.Contains(out, "control=0.5,uplift=0.5") {
		t.Errorf("list: %d %s %s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "", append([]string{"experiment", "report", "--id", "ab1"}, flags...)...)
	var rep experiment.Report
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.ID != "ab1" || len(rep.Arms) != 2 {
		t.Errorf("report: %d %s %s", code, out, errOut)
	}
	page := filepath.Join(t.TempDir(), "ab1.html")
	if code, _, errOut := runCLI(t, "", append([]string{"experiment", "report", "--id", "ab1", "--html", page}, flags...)...); code != 0 {
		t.Fatalf("report --html: %d %s", code, errOut)
	}
	if b, err := os.ReadFile(page); err != nil || !strings.Contains(string(b), `<span id="exp-id">ab1</span>`) {
		t.Errorf("page: %v %.300s", err, b)
	}
	code, out, errOut = runCLI(t, "", append([]string{"experiment", "stop", "--id", "ab1"}, flags...)...)
	if code != 0 || !strings.Contains(out, `"status": "stopped"`) {
		t.Errorf("stop: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "", append([]string{"experiment", "report", "--id", "nope"}, flags...)...); code != 1 || !strings.Contains(errOut, "404") {
		t.Errorf("report of a missing experiment: %d %s", code, errOut)
	}
}

func uuidOf(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
