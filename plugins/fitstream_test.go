package plugins_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/causalrec/causalrec/plugins"
)

// progressRequest is a fit of n rows with two features that records the
// progress reports it gets.
func progressRequest(n int, got *[][2]int) plugins.FitRequest {
	req := plugins.FitRequest{
		Estimator: "meandiff", Arms: []string{"c", "t"},
		Features: []plugins.Feature{{Name: "a", Kind: plugins.Numeric}, {Name: "b", Kind: plugins.Numeric}},
		X:        make([]float64, 2*n), Arm: make([]int, n), Outcome: make([]float64, n),
		Progress: func(done, total int) { *got = append(*got, [2]int{done, total}) },
	}
	for i := range n {
		req.Arm[i] = i % 2
		req.Outcome[i] = float64(i % 2)
		req.X[2*i+1] = float64(i)
	}
	return req
}

// TestFitProgressOverGRPC fits in a real plugin process with a progress
// callback: the reports arrive in order, at the plugin's total, and end at
// the total; the model is the one Fit gives. 300,000 rows are more than
// one chunk, so the reports come after rows streamed in several messages.
func TestFitProgressOverGRPC(t *testing.T) {
	est := startPlugin(t, plugins.KindEstimator).(plugins.Estimator)
	ctx := context.Background()
	var got [][2]int
	req := progressRequest(300_000, &got)
	fit, err := est.Fit(ctx, req)
	if err != nil {
		t.Fatalf("fit: %v", err)
	}
	if len(fit.ATE) != 1 || math.Abs(fit.ATE[0]-1) > 1e-12 || fit.Metadata["rows"] != "300000" {
		t.Fatalf("fit = ATE %v, metadata %v; want ATE [1] on 300000 rows", fit.ATE, fit.Metadata)
	}
	if len(got) == 0 {
		t.Fatal("no progress reports")
	}
	for i, r := range got {
		if r[1] != progressSteps || r[0] < 1 || r[0] > progressSteps {
			t.Fatalf("report %d = %d of %d, want 1..%d of %d", i, r[0], r[1], progressSteps, progressSteps)
		}
		if i > 0 && r[0] <= got[i-1][0] {
			t.Fatalf("report %d = %d after %d: out of order", i, r[0], got[i-1][0])
		}
	}
	if last := got[len(got)-1]; last != [2]int{progressSteps, progressSteps} {
		t.Fatalf("last report %v, want [%d %d]", last, progressSteps, progressSteps)
	}
	// Without a callback the same plugin is called through Fit.
	req.Progress = nil
	again, err := est.Fit(ctx, req)
	if err != nil || string(again.Model) != string(fit.Model) {
		t.Fatalf("fit without progress: %v (models equal: %v)", err, string(again.Model) == string(fit.Model))
	}
	// An error of the plugin's arrives as from Fit.
	bad := progressRequest(10, &got)
	bad.Estimator = "nope"
	if _, err := est.Fit(ctx, bad); !errors.Is(err, plugins.ErrInvalid) || !strings.Contains(err.Error(), `unknown estimator "nope"`) {
		t.Fatalf("unknown estimator with progress: got %v, want ErrInvalid naming it", err)
	}
}

// TestFitProgressLegacyPlugin fits with a progress callback in a plugin
// process built without FitStream: the fit succeeds through Fit with no
// report, twice (the second time the client knows and calls Fit at once).
func TestFitProgressLegacyPlugin(t *testing.T) {
	est := startPluginAs(t, plugins.KindEstimator, "legacy").(plugins.Estimator)
	for round := range 2 {
		var got [][2]int
		fit, err := est.Fit(context.Background(), progressRequest(1000, &got))
		if err != nil {
			t.Fatalf("round %d: fit: %v", round, err)
		}
		if len(fit.ATE) != 1 || math.Abs(fit.ATE[0]-1) > 1e-12 {
			t.Fatalf("round %d: ATE %v, want [1]", round, fit.ATE)
		}
		if len(got) != 0 {
			t.Fatalf("round %d: a plugin without FitStream reported %v", round, got)
		}
	}
}
