package pluginhost

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/causalrec/causalrec/plugins"
)

// TestFitStreamDeadline fits through the manager with a progress
// callback: the reports arrive (the Fit deadline is not released by the
// first answer of the stream) and a fit that outlasts the Fit deadline
// ends with a deadline error, with or without the callback.
func TestFitStreamDeadline(t *testing.T) {
	logs := &syncBuffer{}
	m, err := New([]Spec{toySpec(t)}, Options{
		Logger:       slog.New(slog.NewTextHandler(logs, nil)),
		StartTimeout: 20 * time.Second,
		Timeouts:     Timeouts{Fit: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	ctx := context.Background()
	if err := m.StartOne(ctx, "toy"); err != nil {
		t.Fatal(err)
	}
	est, err := m.Estimator("toy")
	if err != nil {
		t.Fatal(err)
	}
	req := plugins.FitRequest{Estimator: "steps", Arms: []string{"c", "t"}, Features: []plugins.Feature{{Name: "x", Kind: plugins.Numeric}},
		X: []float64{1, 2}, Arm: []int{0, 1}, Outcome: []float64{0, 1}}
	var got [][2]int
	req.Progress = func(done, total int) { got = append(got, [2]int{done, total}) }
	if _, err := est.Fit(ctx, req); err != nil {
		t.Fatalf("fit: %v", err)
	}
	if len(got) == 0 || got[len(got)-1] != [2]int{3, 3} {
		t.Fatalf("reports %v, want them to end at [3 3]", got)
	}
	for _, progress := range []bool{true, false} {
		req.Estimator, req.Progress = "block", nil
		if progress {
			req.Progress = func(int, int) {}
		}
		if _, err := est.Fit(ctx, req); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("progress %v: a fit past the Fit deadline: got %v, want %v", progress, err, context.DeadlineExceeded)
		}
	}
}
