package ui

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/experiment"
	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/host/store"
)

func TestNum(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{{0.123456, "0.1235"}, {1234567, "1.235e+06"}, {-0.5, "-0.5"}, {math.NaN(), "–"}, {math.Inf(1), "–"}}
	for _, tt := range tests {
		if got := Num(tt.in); got != tt.want {
			t.Errorf("Num(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRenderExperiment(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	rel := 0.25
	rep := experiment.Report{ID: "ab1", Status: "running", Metric: "outcomes", StartedAt: t0, At: t0.Add(time.Hour), Alpha: 0.05,
		Arms: []experiment.ArmReport{{Name: "control", Users: 10, Mean: 1}, {Name: "<b>arm</b>", Users: 12, Mean: 1.25}},
		Comparisons: []experiment.Comparison{{Arm: "<b>arm</b>", Baseline: "control", Metric: "outcomes", Lift: 0.25,
			CI: [2]float64{0.1, 0.4}, RelativeLift: &rel}},
		SRM:      experiment.SRM{PValue: 0.0001, Flag: true},
		Warnings: []string{"few users"},
		Series: []experiment.SeriesPoint{{At: t0.Add(30 * time.Minute), Arm: "<b>arm</b>", Lift: 0.2, CI: [2]float64{-0.1, 0.5}, SequentialCI: [2]float64{-0.3, 0.7}},
			{At: t0.Add(time.Hour), Arm: "<b>arm</b>", Lift: 0.25, CI: [2]float64{0.1, 0.4}, SequentialCI: [2]float64{-0.05, 0.55}}}}
	var b strings.Builder
	if err := RenderExperiment(&b, rep, ""); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{`<span id="exp-id">ab1</span>`, "&lt;b&gt;arm&lt;/b&gt;", `data-k="lift">0.25<`, `data-k="ci">[0.1, 0.4]<`,
		`id="srm-flag">mismatch`, "few users", `<svg class="band"`, "No OPE", "No calibration"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "<b>arm</b>") {
		t.Error("an arm name is not escaped")
	}
}

func TestRenderIndex(t *testing.T) {
	id := uuid.New()
	idx := Index{Experiments: []store.Experiment{{ID: "ab1", Status: "running", Coverage: 1, Namespace: [2]float64{0, 1},
		Arms: []store.ExperimentArm{{Name: "a", Weight: 0.5}, {Name: "b", Weight: 0.5}}}},
		Serving: id.String(), Models: []store.ModelRecord{{ID: id, Estimator: "t"}},
		Plugins: []pluginhost.Status{{Name: "causal", Healthy: true}, {Name: "lm", Healthy: false}}}
	var b strings.Builder
	if err := RenderIndex(&b, idx); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`href="/ui/experiments/ab1"`, "a (0.5), b (0.5)", "<strong>serving</strong>", `class="ok">healthy`, `class="bad">down`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}
