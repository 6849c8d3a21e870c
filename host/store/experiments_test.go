package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"
)

func testExperiment(id string, lo, hi float64) Experiment {
	return Experiment{ID: id, Salt: id, Coverage: 1, Namespace: [2]float64{lo, hi}, Metric: "outcomes",
		Status: ExperimentRunning, StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Arms: []ExperimentArm{{Name: "control", Model: "default", ModelID: "m1", Weight: 0.5},
			{Name: "uplift", Model: "m2", ModelID: "m2", Weight: 0.5, Policy: "epsilon-greedy", Epsilon: 0.1}}}
}

func TestExperimentLifecycle(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	if err := s.CreateExperiment(ctx, testExperiment("ab1", 0, 0.5)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		e    Experiment
		want error
	}{
		{"same id", testExperiment("ab1", 0.5, 1), ErrConflict},
		{"overlap", testExperiment("ab2", 0.4, 0.6), ErrConflict},
		{"disjoint", testExperiment("ab3", 0.5, 1), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CreateExperiment(ctx, tt.e)
			if !errors.Is(err, tt.want) {
				t.Fatalf("CreateExperiment: %v, want %v", err, tt.want)
			}
		})
	}
	got, err := s.Experiment(ctx, "ab1")
	if err != nil || got.Arms[1].Epsilon != 0.1 || got.Namespace[1] != 0.5 || !got.StartedAt.Equal(testExperiment("", 0, 0).StartedAt) {
		t.Fatalf("Experiment = %+v, %v", got, err)
	}
	if _, err := s.Experiment(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing experiment: %v, want ErrNotFound", err)
	}
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	stopped, err := s.StopExperiment(ctx, "ab1", at)
	if err != nil || stopped.Status != ExperimentStopped || !stopped.StoppedAt.Equal(at) {
		t.Fatalf("StopExperiment = %+v, %v", stopped, err)
	}
	// A stopped experiment's namespace is free again.
	if err := s.CreateExperiment(ctx, testExperiment("ab4", 0.1, 0.2)); err != nil {
		t.Errorf("create over a stopped experiment's namespace: %v", err)
	}
	all, err := s.Experiments(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("Experiments = %d, %v; want 3", len(all), err)
	}
	if _, err := s.StopExperiment(ctx, "nope", at); !errors.Is(err, ErrNotFound) {
		t.Errorf("stop missing: %v, want ErrNotFound", err)
	}
}

// Concurrent creates of overlapping experiments: exactly one wins.
func TestCreateExperimentRace(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateExperiment(ctx, testExperiment(fmt.Sprint("e", i), 0.1*float64(i)/n, 0.5+0.1*float64(i)/n))
		}()
	}
	wg.Wait()
	var ok int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrConflict):
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d overlapping creates succeeded, want 1: %v", ok, n, errs)
	}
}

func TestAssign(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{BatchSize: 2})
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	users := []string{"u1", "ünï {cödé}", "a}b", "with space"}
	for i, u := range users {
		a, err := s.Assign(ctx, "ab1", u, "arm "+fmt.Sprint(i), t0.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if a.Arm != "arm "+fmt.Sprint(i) || !a.Time.Equal(t0.Add(time.Duration(i)*time.Second)) {
			t.Errorf("first Assign(%q) = %+v", u, a)
		}
	}
	// A second assignment keeps the first.
	a, err := s.Assign(ctx, "ab1", "u1", "other", t0.Add(time.Hour))
	if err != nil || a.Arm != "arm 0" || !a.Time.Equal(t0) {
		t.Errorf("second Assign = %+v, %v; want the first", a, err)
	}
	got, err := s.ExperimentUsers(ctx, "ab1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(users) {
		t.Fatalf("ExperimentUsers = %v, want %d users", got, len(users))
	}
	for i, a := range got {
		if a.User != users[i] || a.Arm != "arm "+fmt.Sprint(i) {
			t.Errorf("user %d = %+v, want %s in arm %d", i, a, users[i], i)
		}
	}
}

func TestDecisions(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{BatchSize: 2})
	for i := range 5 {
		d := Decision{Request: fmt.Sprint("r", i), User: "u", Arm: "a", Time: time.UnixMilli(int64(i)).UTC(),
			Candidates: []string{"x", "y"}, NCand: 2, Items: []string{"y"}, Propensity: []float64{0.95},
			Arms: map[string]ArmScores{"a": {Ranker: "uplift:t", Top: 1, Score: []float32{Float32(-1e300), Float32(0.25)}},
				"b": {Ranker: "popularity", Top: -1, Score: []float32{0, 0}, Missing: []int{0, 1}, Fallback: true}}}
		if i == 4 {
			// Over MaxLoggedCandidates: neither candidates nor rankings.
			d.Candidates = make([]string, MaxLoggedCandidates+1)
		}
		if err := s.LogDecision(ctx, "ab1", d); err != nil {
			t.Fatal(err)
		}
	}
	var got []Decision
	if err := s.Decisions(ctx, "ab1", func(d Decision) error { got = append(got, d); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got[4].Request != "r4" || got[2].Propensity[0] != 0.95 || got[3].Candidates[1] != "y" {
		t.Errorf("Decisions = %+v", got)
	}
	a, b := got[3].Arms["a"], got[3].Arms["b"]
	if a.Ranker != "uplift:t" || a.Top != 1 || a.Score[0] != -math.MaxFloat32 || a.Score[1] != 0.25 || a.Fallback ||
		b.Top != -1 || !slices.Equal(b.Missing, []int{0, 1}) || !b.Fallback {
		t.Errorf("arms of a logged list = %+v", got[3].Arms)
	}
	if got[4].Candidates != nil || got[4].Arms != nil {
		t.Errorf("a list over MaxLoggedCandidates kept candidates %d and arms %v", len(got[4].Candidates), got[4].Arms)
	}
}
