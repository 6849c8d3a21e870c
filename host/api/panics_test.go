package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
	apiv1 "github.com/causalrec/causalrec/proto/causalrec/api/v1"
)

// panickingTrainer is a Trainer with a bug: it panics.
func panickingTrainer(context.Context, TrainRequest) (recommend.TrainResult, error) {
	var rows []int
	_ = rows[3] // index out of range
	return recommend.TrainResult{}, nil
}

// TestPanicsContained trains with a Trainer that panics, over HTTP
// (synchronously and as a job) and gRPC: each call fails alone with a 500
// (INTERNAL) naming the panic, the job is recorded failed, and the server
// answers the next request.
func TestPanicsContained(t *testing.T) {
	st, _ := testStore(t)
	d := Deps{Ingest: st, Models: st, Health: st, Recommender: recommend.NewRanker(st, nil, nil),
		Plugins: plugins{}, Train: panickingTrainer, Jobs: st}
	srv := testServer(t, st, d)
	_, gaddr := startRunGRPC(t, d, true)

	code, out := rawDo(t, srv, "POST", "/v1/train", `{"ranker": "popularity"}`)
	if code != 500 || !strings.Contains(out, "training failed: internal error") || !strings.Contains(out, "index out of range") {
		t.Errorf("train: %d %s; want a 500 naming the panic", code, out)
	}

	code, out = rawDo(t, srv, "POST", "/v1/train", `{"async": true, "ranker": "popularity"}`)
	var acc TrainAccepted
	if code != 202 || json.Unmarshal([]byte(out), &acc) != nil {
		t.Fatalf("async train: %d %s", code, out)
	}
	var job store.TrainJob
	for deadline := time.Now().Add(10 * time.Second); job.Status != store.JobFailed && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		_, out = rawDo(t, srv, "GET", acc.Poll, "")
		_ = json.Unmarshal([]byte(out), &job)
	}
	if job.Status != store.JobFailed || job.Code != 500 || !strings.Contains(job.Error, "index out of range") {
		t.Errorf("async job: %s; want failed with 500 naming the panic", out)
	}

	conn, err := grpc.NewClient(gaddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := apiv1.NewRecommenderClient(conn).Train(ctx, &apiv1.TrainRequest{}); status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "index out of range") {
		t.Errorf("gRPC train: %v; want INTERNAL naming the panic", err)
	}

	if code, out := rawDo(t, srv, "GET", "/v1/health", ""); code != 200 {
		t.Errorf("health after the panics: %d %s", code, out)
	}
}
