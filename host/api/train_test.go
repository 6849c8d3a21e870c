package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

// gatedTrainer is a Trainer that runs until its gate closes or its context
// ends.
type gatedTrainer struct {
	started chan struct{}
	gate    chan struct{}
	err     error
}

func newGatedTrainer() *gatedTrainer {
	return &gatedTrainer{started: make(chan struct{}, 8), gate: make(chan struct{})}
}

func (g *gatedTrainer) train(ctx context.Context, req TrainRequest) (recommend.TrainResult, error) {
	g.started <- struct{}{}
	select {
	case <-g.gate:
		return recommend.TrainResult{Ranker: "popularity", Rows: 7}, g.err
	case <-ctx.Done():
		return recommend.TrainResult{}, fmt.Errorf("train: %w", ctx.Err())
	}
}

// rawDo sends body and returns the status and the whole answer.
func rawDo(t *testing.T, srv *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTrainSingleFlight runs two API servers (two replicas) on one store
// in the real Redis: while a training runs through one, a training asked
// of either is a 409 naming the running job; once it ends, training works
// again, and the job's record says how it ended.
func TestTrainSingleFlight(t *testing.T) {
	st, _ := testStore(t)
	g := newGatedTrainer()
	a := testServer(t, st, Deps{Train: g.train, Jobs: st})
	b := testServer(t, st, Deps{Train: g.train, Jobs: st})
	first := make(chan [2]any, 1)
	go func() {
		code, out := do(t, a, "POST", "/v1/train", "", nil)
		first <- [2]any{code, out}
	}()
	<-g.started
	var running string
	for name, srv := range map[string]*httptest.Server{"same replica": a, "other replica": b} {
		code, out := rawDo(t, srv, "POST", "/v1/train", `{"async": true}`)
		var body struct {
			Error      string `json:"error"`
			RunningJob string `json:"running_job"`
		}
		_ = json.Unmarshal([]byte(out), &body)
		if code != 409 || body.RunningJob == "" || !strings.Contains(body.Error, "a training is running (job "+body.RunningJob+")") {
			t.Fatalf("%s: a second training: %d %s; want 409 naming the running job", name, code, out)
		}
		running = body.RunningJob
	}
	code, out := do(t, b, "GET", "/v1/train/jobs/"+running, "", nil)
	if code != 200 || !strings.Contains(out, `"status":"running"`) {
		t.Errorf("the running job seen from the other replica: %d %s", code, out)
	}
	close(g.gate)
	if r := <-first; r[0] != 200 {
		t.Fatalf("the first training: %v", r)
	}
	var job store.TrainJob
	if code, out := do(t, b, "GET", "/v1/train/jobs/"+running, "", nil); code != 200 || json.Unmarshal([]byte(out), &job) != nil ||
		job.Status != store.JobSucceeded || job.Code != 200 || job.FinishedAt == nil || !strings.Contains(string(job.Result), `"rows":7`) {
		t.Errorf("the ended job: %d %s", code, out)
	}
	if code, out := do(t, b, "POST", "/v1/train", "", nil); code != 200 {
		t.Errorf("a training after the first ended: %d %s", code, out)
	}
	if code, out := do(t, b, "GET", "/v1/train/jobs/nope", "", nil); code != 404 || !strings.Contains(out, `no training job "nope"`) {
		t.Errorf("an unknown job: %d %s", code, out)
	}
}

// TestTrainAsync posts {"async": true}: the answer is a 202 with the job at
// once, the job runs after the request ended and its record ends with the
// result, or with the error and its status.
func TestTrainAsync(t *testing.T) {
	st, _ := testStore(t)
	for _, tc := range []struct {
		name   string
		err    error
		status string
		code   int
	}{
		{"succeeds", nil, store.JobSucceeded, 200},
		{"too little data", fmt.Errorf("fit: %w", recommend.ErrNoData), store.JobFailed, 409},
	} {
		g := newGatedTrainer()
		g.err = tc.err
		srv := testServer(t, st, Deps{Train: g.train, Jobs: st})
		code, out := rawDo(t, srv, "POST", "/v1/train", `{"async": true, "ranker": "popularity"}`)
		var acc TrainAccepted
		if code != 202 || json.Unmarshal([]byte(out), &acc) != nil || acc.JobID == "" || acc.Status != "running" || acc.Poll != "/v1/train/jobs/"+acc.JobID {
			t.Fatalf("%s: %d %s; want 202 with the job", tc.name, code, out)
		}
		<-g.started
		close(g.gate)
		var job store.TrainJob
		deadline := time.Now().Add(10 * time.Second)
		for job.Status != tc.status && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			_, out = do(t, srv, "GET", acc.Poll, "", nil)
			_ = json.Unmarshal([]byte(out), &job)
		}
		if job.Status != tc.status || job.Code != tc.code || !strings.Contains(string(job.Request), `"ranker":"popularity"`) ||
			(tc.err != nil && !strings.Contains(job.Error, tc.err.Error())) {
			t.Errorf("%s: job %s; want status %s, code %d", tc.name, out, tc.status, tc.code)
		}
	}
}

// TestTrainAsyncCancelledOnClose closes the server while an asynchronous
// training runs: the training's context ends, the job is recorded failed
// and the lease is free.
func TestTrainAsyncCancelledOnClose(t *testing.T) {
	st, _ := testStore(t)
	g := newGatedTrainer()
	s := New(Deps{Ingest: st, Models: st, Health: st, Plugins: plugins{}, Recommender: recommend.NewRanker(st, nil, nil), Train: g.train, Jobs: st})
	acc, err := s.StartTrain(context.Background(), TrainRequest{})
	if err != nil {
		t.Fatal(err)
	}
	<-g.started
	s.Close()
	job, err := st.TrainJob(context.Background(), acc.JobID)
	if err != nil || job.Status != store.JobFailed || !strings.Contains(job.Error, "context canceled") {
		t.Errorf("job after Close: %+v %v", job, err)
	}
	if _, ok, _ := st.AcquireTrainLease(context.Background(), "next", time.Minute); !ok {
		t.Error("the lease is still held")
	}
}

// TestTrainJobWithoutLease reads a job recorded running whose lease is
// gone (its server stopped, or lost Redis as the training ended): it is
// reported failed, not running for ever.
func TestTrainJobWithoutLease(t *testing.T) {
	st, _ := testStore(t)
	srv := testServer(t, st, Deps{Train: newGatedTrainer().train, Jobs: st})
	ctx := context.Background()
	if err := st.PutTrainJob(ctx, store.TrainJob{ID: "orphan", Status: store.JobRunning, StartedAt: time.Now()}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.AcquireTrainLease(ctx, "other", time.Minute); !ok {
		t.Fatal("lease taken")
	}
	var job store.TrainJob
	if code, out := rawDo(t, srv, "GET", "/v1/train/jobs/orphan", ""); code != 200 || json.Unmarshal([]byte(out), &job) != nil ||
		job.Status != store.JobFailed || !strings.Contains(job.Error, "ended without recording how") {
		t.Errorf("a running job without its lease: %d %s", code, out)
	}
	if code, out := rawDo(t, srv, "GET", "/v1/train/jobs/other", ""); code != 404 {
		t.Errorf("a lease without a job record: %d %s", code, out)
	}
}
