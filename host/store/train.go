package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// One training at a time per store: a training holds the train lease, a
// key naming its job that expires unless renewed, so that a replica that
// dies while training frees the lease after the TTL. The jobs themselves
// are kept as JSON records with an expiry, so that any replica can answer
// for any job.

// TrainJob is the record of one training.
type TrainJob struct {
	ID string `json:"id"`
	// Status is "running", "succeeded" or "failed".
	Status     string          `json:"status"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	Request    json.RawMessage `json:"request,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      string          `json:"error,omitempty"`
	// Code is the HTTP status the training would have answered when run
	// synchronously (200, or the failure's status).
	Code int `json:"code,omitempty"`
}

// The statuses of a TrainJob.
const (
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
)

// AcquireTrainLease takes the store's train lease for job for ttl; when
// another job holds it, it returns ok false and that job's ID.
func (s *Store) AcquireTrainLease(ctx context.Context, job string, ttl time.Duration) (holder string, ok bool, err error) {
	ok, err = s.rdb.SetNX(ctx, s.k.trainLease(), job, ttl).Result()
	if err != nil {
		return "", false, s.wrap("acquire train lease", err)
	}
	if ok {
		return job, true, nil
	}
	holder, err = s.rdb.Get(ctx, s.k.trainLease()).Result()
	if errors.Is(err, redis.Nil) {
		// Released in between: try once more.
		return s.AcquireTrainLease(ctx, job, ttl)
	}
	if err != nil {
		return "", false, s.wrap("read train lease", err)
	}
	return holder, false, nil
}

// TrainLeaseHolder returns the ID of the job that holds the train lease,
// "" when none does.
func (s *Store) TrainLeaseHolder(ctx context.Context) (string, error) {
	holder, err := s.rdb.Get(ctx, s.k.trainLease()).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", s.wrap("read train lease", err)
	}
	return holder, nil
}

// renewLeaseScript extends the lease KEYS[1] by ARGV[2] ms when ARGV[1]
// holds it; releaseLeaseScript deletes it then.
var (
	renewLeaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)
	releaseLeaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)
)

// RenewTrainLease extends job's lease to ttl from now; it reports false
// when job no longer holds it (it expired and another took it).
func (s *Store) RenewTrainLease(ctx context.Context, job string, ttl time.Duration) (bool, error) {
	n, err := renewLeaseScript.Run(ctx, s.rdb, []string{s.k.trainLease()}, job, ttl.Milliseconds()).Int()
	if err != nil {
		return false, s.wrap("renew train lease", err)
	}
	return n == 1, nil
}

// ReleaseTrainLease gives job's lease up; a lease job does not hold is
// left alone.
func (s *Store) ReleaseTrainLease(ctx context.Context, job string) error {
	if err := releaseLeaseScript.Run(ctx, s.rdb, []string{s.k.trainLease()}, job).Err(); err != nil {
		return s.wrap("release train lease", err)
	}
	return nil
}

// PutTrainJob stores (or replaces) a job record, kept for ttl.
func (s *Store) PutTrainJob(ctx context.Context, job TrainJob, ttl time.Duration) error {
	b, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("put train job %s: %w", job.ID, err)
	}
	if err := s.rdb.Set(ctx, s.k.trainJob(job.ID), b, ttl).Err(); err != nil {
		return s.wrap("put train job", err)
	}
	return nil
}

// TrainJob returns the record of job id, or an error wrapping ErrNotFound
// (never stored, or expired).
func (s *Store) TrainJob(ctx context.Context, id string) (TrainJob, error) {
	b, err := s.rdb.Get(ctx, s.k.trainJob(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return TrainJob{}, fmt.Errorf("train job %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return TrainJob{}, s.wrap("get train job", err)
	}
	var j TrainJob
	if err := json.Unmarshal(b, &j); err != nil {
		return TrainJob{}, fmt.Errorf("train job %q: decode: %w", id, err)
	}
	return j, nil
}
