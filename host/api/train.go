package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

// TrainJobs keeps one training at a time per store (a lease that expires
// unless renewed, so that it works across replicas and frees itself when a
// replica dies) and the records of the trainings (*store.Store).
type TrainJobs interface {
	AcquireTrainLease(ctx context.Context, job string, ttl time.Duration) (holder string, ok bool, err error)
	RenewTrainLease(ctx context.Context, job string, ttl time.Duration) (bool, error)
	ReleaseTrainLease(ctx context.Context, job string) error
	TrainLeaseHolder(ctx context.Context) (string, error)
	PutTrainJob(ctx context.Context, job store.TrainJob, ttl time.Duration) error
	TrainJob(ctx context.Context, id string) (store.TrainJob, error)
}

// Defaults of the training jobs.
const (
	// DefaultTrainLease is how long a training's lease lasts unless
	// renewed; it is renewed every third of that while the training runs.
	DefaultTrainLease = 30 * time.Second
	// DefaultTrainTimeout bounds an asynchronous training.
	DefaultTrainTimeout = time.Hour
	// TrainJobRetention is how long a training's record is kept after it
	// last changed.
	TrainJobRetention = 24 * time.Hour
)

// TrainingRunningError is the answer to a training asked for while
// another runs on the same store (409): Job is the running one's ID.
type TrainingRunningError struct{ Job string }

func (e *TrainingRunningError) Error() string {
	return fmt.Sprintf("a training is running (job %s); one runs at a time per store: poll GET /v1/train/jobs/%s", e.Job, e.Job)
}

// Unwrap makes the error a store.ErrConflict (409).
func (e *TrainingRunningError) Unwrap() error { return store.ErrConflict }

// TrainAccepted answers an asynchronous POST /v1/train (202): the job to
// poll.
type TrainAccepted struct {
	JobID  string `json:"job_id"`
	Status string `json:"status"`
	// Poll is the path of the job's record.
	Poll string `json:"poll"`
}

func (TrainAccepted) statusCode() int { return http.StatusAccepted }

// Train trains a serving model with the configured Trainer and waits for
// it; an unknown ranker is a bad request, too little data a conflict
// (409), and so is a training asked for while another runs on the store
// (a *TrainingRunningError naming it). The training is recorded as a job
// (see TrainJob). req.Async is not read here (see StartTrain).
func (s *Server) Train(ctx context.Context, req TrainRequest) (recommend.TrainResult, error) {
	job, err := s.beginTrain(ctx, req)
	if err != nil {
		return recommend.TrainResult{}, err
	}
	return s.runTrain(ctx, job, req)
}

// StartTrain starts a training as Train does but answers at once with the
// job to poll (GET /v1/train/jobs/{id}); the training runs until it ends,
// DefaultTrainTimeout (Deps.TrainTimeout) passes or the server closes.
func (s *Server) StartTrain(ctx context.Context, req TrainRequest) (TrainAccepted, error) {
	if s.d.Jobs == nil {
		return TrainAccepted{}, &httpError{http.StatusNotImplemented, "asynchronous training needs a store for its jobs"}
	}
	job, err := s.beginTrain(ctx, req)
	if err != nil {
		return TrainAccepted{}, err
	}
	s.bgJobs.Add(1)
	go func() {
		defer s.bgJobs.Done()
		ctx, cancel := context.WithTimeout(s.bg, s.d.TrainTimeout)
		defer cancel()
		_, _ = s.runTrain(ctx, job, req)
	}()
	return TrainAccepted{JobID: job.ID, Status: job.Status, Poll: "/v1/train/jobs/" + job.ID}, nil
}

// TrainJob returns the record of a training: its status, and its result or
// error once it ended; an unknown (or expired) job is a 404.
func (s *Server) TrainJob(ctx context.Context, id string) (store.TrainJob, error) {
	if s.d.Jobs == nil {
		return store.TrainJob{}, &httpError{http.StatusNotFound, fmt.Sprintf("no training job %q", id)}
	}
	j, err := s.d.Jobs.TrainJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return j, &httpError{http.StatusNotFound, fmt.Sprintf("no training job %q (kept %v after it ended)", id, TrainJobRetention)}
	}
	if err != nil || j.Status != store.JobRunning {
		return j, err
	}
	// A job recorded running whose lease is gone ended without recording
	// it: its server stopped, or could not reach Redis when it ended.
	holder, err := s.d.Jobs.TrainLeaseHolder(ctx)
	if err != nil {
		return j, err
	}
	if holder != j.ID {
		j.Status, j.Code = store.JobFailed, http.StatusInternalServerError
		j.Error = "the training ended without recording how (its server stopped, or lost Redis as it ended); its lease is gone"
	}
	return j, nil
}

// beginTrain checks the request, takes the store's train lease for a new
// job and records the job as running.
func (s *Server) beginTrain(ctx context.Context, req TrainRequest) (store.TrainJob, error) {
	if s.d.Train == nil {
		return store.TrainJob{}, &httpError{http.StatusNotImplemented, "training is not configured"}
	}
	if req.Ranker != "" && !slices.Contains(recommend.Rankers, req.Ranker) {
		return store.TrainJob{}, badRequest("unknown ranker %q (want %s)", req.Ranker, strings.Join(recommend.Rankers, ", "))
	}
	job := store.TrainJob{ID: uuid.NewString(), Status: store.JobRunning, StartedAt: time.Now().UTC()}
	if s.d.Jobs == nil {
		return job, nil
	}
	holder, ok, err := s.d.Jobs.AcquireTrainLease(ctx, job.ID, s.d.TrainLease)
	if err != nil {
		return job, err
	}
	if !ok {
		return job, &TrainingRunningError{Job: holder}
	}
	job.Request, _ = json.Marshal(req)
	if err := s.d.Jobs.PutTrainJob(ctx, job, TrainJobRetention); err != nil {
		s.releaseLease(job.ID)
		return job, err
	}
	return job, nil
}

// runTrain runs the training of job, renewing its lease while it runs
// (losing the lease cancels it), records how it ended and gives the lease
// up.
func (s *Server) runTrain(ctx context.Context, job store.TrainJob, req TrainRequest) (recommend.TrainResult, error) {
	if s.d.Jobs == nil {
		return s.train(ctx, req)
	}
	defer s.releaseLease(job.ID)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(s.d.TrainLease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			ok, err := s.d.Jobs.RenewTrainLease(ctx, job.ID, s.d.TrainLease)
			switch {
			case err != nil:
				s.d.Logger.Warn("renew the train lease", "job", job.ID, "error", err)
			case !ok:
				s.d.Logger.Error("the train lease was lost (expired and taken); the training stops", "job", job.ID)
				cancel(errors.New("the train lease was lost"))
				return
			}
		}
	}()
	res, err := s.train(ctx, req)
	cancel(nil)
	<-renewed
	now := time.Now().UTC()
	job.FinishedAt = &now
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = fmt.Errorf("%w (%v)", err, cause)
		}
		job.Status, job.Error, job.Code = store.JobFailed, err.Error(), statusOf(err)
	} else {
		job.Status, job.Code = store.JobSucceeded, http.StatusOK
		job.Result, _ = json.Marshal(res)
	}
	s.recordEnd(job)
	return res, err
}

// recordEnd writes the record of an ended job, trying again for up to the
// lease's TTL when Redis does not take it (say it restarts); the lease is
// released after it (deferred by the caller), so a poll never sees a
// running job without its lease while the record can still be written.
func (s *Server) recordEnd(job store.TrainJob) {
	deadline := time.Now().Add(s.d.TrainLease)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.d.Jobs.PutTrainJob(ctx, job, TrainJobRetention)
		cancel()
		if err == nil {
			return
		}
		if time.Now().Add(wait).After(deadline) {
			s.d.Logger.Error("record the end of a training", "job", job.ID, "error", err)
			return
		}
		time.Sleep(wait)
	}
}

// train runs the Trainer and logs a success.
func (s *Server) train(ctx context.Context, req TrainRequest) (recommend.TrainResult, error) {
	res, err := s.d.Train(ctx, req)
	if err != nil {
		return recommend.TrainResult{}, err
	}
	s.d.Logger.Info("model trained and serving", "model", res.ModelID, "previous", res.Previous, "ranker", res.Ranker, "rows", res.Rows, "seconds", res.Seconds)
	return res, nil
}

// releaseLease gives job's lease up, even when the request's context has
// ended.
func (s *Server) releaseLease(job string) {
	var err error
	for try := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = s.d.Jobs.ReleaseTrainLease(ctx, job)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(time.Duration(100<<try) * time.Millisecond)
	}
	s.d.Logger.Warn("release the train lease (it expires by itself)", "job", job, "error", err)
}
