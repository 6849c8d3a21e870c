package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestTrainLease(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	if h, ok, err := s.AcquireTrainLease(ctx, "a", time.Minute); !ok || h != "a" || err != nil {
		t.Fatalf("first acquire: %q %v %v", h, ok, err)
	}
	if h, ok, err := s.AcquireTrainLease(ctx, "b", time.Minute); ok || h != "a" || err != nil {
		t.Fatalf("second acquire: %q %v %v, want refused naming a", h, ok, err)
	}
	if ok, err := s.RenewTrainLease(ctx, "b", time.Minute); ok || err != nil {
		t.Errorf("renewed by a job that does not hold it: %v %v", ok, err)
	}
	if err := s.ReleaseTrainLease(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.RenewTrainLease(ctx, "a", 100*time.Millisecond); !ok || err != nil {
		t.Errorf("renewed by its holder: %v %v", ok, err)
	}
	// The holder died: the lease expires.
	time.Sleep(300 * time.Millisecond)
	if h, ok, err := s.AcquireTrainLease(ctx, "b", time.Minute); !ok || h != "b" || err != nil {
		t.Fatalf("acquire after expiry: %q %v %v", h, ok, err)
	}
	if err := s.ReleaseTrainLease(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.AcquireTrainLease(ctx, "c", time.Minute); !ok {
		t.Error("not free after release")
	}

	start := time.Now().UTC().Truncate(time.Millisecond)
	if err := s.PutTrainJob(ctx, TrainJob{ID: "c", Status: JobRunning, StartedAt: start}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if j, err := s.TrainJob(ctx, "c"); err != nil || j.Status != JobRunning || !j.StartedAt.Equal(start) {
		t.Errorf("job: %+v %v", j, err)
	}
	if _, err := s.TrainJob(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown job: %v", err)
	}
}
