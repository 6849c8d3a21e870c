package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
	apiv1 "github.com/causalrec/causalrec/proto/causalrec/api/v1"
)

// TestGRPCExplain calls Explain with a real gRPC client against a real
// store, behind the token: while the one computation runs the answer is
// Unavailable with a RetryInfo and an EXPLANATION_PENDING ErrorInfo; then
// it is the explanation, for the model's id and for the name it is served
// under, read from Redis; errors map as over HTTP; without an explainer
// the method is Unimplemented.
func TestGRPCExplain(t *testing.T) {
	st, _ := testStore(t)
	ctx := context.Background()
	known, err := st.SaveModel(ctx, store.ModelRecord{Name: recommend.ModelName, Estimator: "t", Plugin: "causal"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetServing(ctx, recommend.ModelName, known); err != nil {
		t.Fatal(err)
	}
	stale := uuid.New()
	const report = `{"blp": [{"feature": "x1", "coef": 0.9, "ci": [0.8, 1], "p_value": null, "se": 0.05}],
		"importance": [{"feature": "x1", "value": 0.7, "ci": [0.6, 0.8]}],
		"tree": {"feature": "x1", "threshold": 0.5, "n": 10, "effect": 1, "ci": [0, 2], "tau": 1,
			"left": {"n": 5, "effect": 0, "ci": [-1, 1], "tau": 0.5}, "right": {"n": 5, "effect": 2, "ci": [1, 3], "tau": 1.5}},
		"terms": [{"term": "gold", "effect": 1, "ci": [0.5, 1.5], "n": 12}], "n": 10, "arm": "recommended", "level": 0.95}`
	release := make(chan struct{})
	var calls atomic.Int32
	explain := func(ctx context.Context, id uuid.UUID) (json.RawMessage, error) {
		calls.Add(1)
		switch id {
		case known:
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return json.RawMessage(report), nil
		case stale:
			return nil, fmt.Errorf("%w: no stored training sample", recommend.ErrNoData)
		}
		return nil, fmt.Errorf("load model %s: %w", id, store.ErrNotFound)
	}
	_, gaddr := startRunGRPC(t, Deps{Ingest: st, Models: st, Health: st, Recommender: recommend.NewRanker(st, nil, nil),
		Plugins: plugins{}, Explain: explain, ExplainCache: st, RequestTimeout: 200 * time.Millisecond, Token: "tok"}, true)
	c := grpcClient(t, gaddr)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := c.Explain(cctx, &apiv1.ExplainRequest{Id: known.String()}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("explain without the token: %v, want Unauthenticated", err)
	}
	actx := metadata.AppendToOutgoingContext(cctx, "authorization", "Bearer tok")

	for _, ref := range []string{known.String(), recommend.ModelName} {
		_, err := c.Explain(actx, &apiv1.ExplainRequest{Id: ref})
		st := status.Convert(err)
		var retry *errdetails.RetryInfo
		var info *errdetails.ErrorInfo
		for _, d := range st.Details() {
			switch d := d.(type) {
			case *errdetails.RetryInfo:
				retry = d
			case *errdetails.ErrorInfo:
				info = d
			}
		}
		if st.Code() != codes.Unavailable || retry == nil || retry.GetRetryDelay().AsDuration() != 5*time.Second ||
			info == nil || info.GetReason() != "EXPLANATION_PENDING" || info.GetMetadata()["model_id"] != known.String() {
			t.Fatalf("explain %s while computing: %v (details %v); want Unavailable, RetryInfo 5s, EXPLANATION_PENDING", ref, err, st.Details())
		}
	}
	close(release)
	var got *apiv1.ExplainResponse
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, err = c.Explain(actx, &apiv1.ExplainRequest{Id: known.String()})
		if status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			break
		}
	}
	rep, derr := DecodeExplainReport([]byte(report))
	if derr != nil {
		t.Fatal(derr)
	}
	if want := explainToProto(known.String(), rep); err != nil || !proto.Equal(got, want) {
		t.Fatalf("explain: %v %v\nwant %v", got, err, want)
	}
	if got.GetTree().GetRight().GetEffect() != 2 || got.GetTerms()[0].GetTerm() != "gold" {
		t.Errorf("explain: tree %v, terms %v", got.GetTree(), got.GetTerms())
	}
	byName, err := c.Explain(actx, &apiv1.ExplainRequest{Id: recommend.ModelName})
	if err != nil || !proto.Equal(byName, got) {
		t.Errorf("explain the served model by name: %v %v", byName, err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the explainer ran %d times for one model, want once", n)
	}
	for _, tc := range []struct {
		id   string
		code codes.Code
		msg  string
	}{
		{uuid.NewString(), codes.NotFound, "not found"},
		{"nosuch", codes.NotFound, `no model "nosuch"`},
		{"", codes.NotFound, `no model ""`},
		{stale.String(), codes.FailedPrecondition, "no stored training sample"},
	} {
		if _, err := c.Explain(actx, &apiv1.ExplainRequest{Id: tc.id}); status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("explain %q: %v, want %v with %q", tc.id, err, tc.code, tc.msg)
		}
	}

	_, none := startRunGRPC(t, Deps{Ingest: st, Models: st, Health: st, Recommender: recommend.NewRanker(st, nil, nil), Plugins: plugins{}}, true)
	if _, err := grpcClient(t, none).Explain(cctx, &apiv1.ExplainRequest{Id: known.String()}); status.Code(err) != codes.Unimplemented {
		t.Errorf("explain without an explainer: %v, want Unimplemented", err)
	}
}

// grpcClient is a client of the Recommender service at addr.
func grpcClient(t *testing.T, addr string) apiv1.RecommenderClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return apiv1.NewRecommenderClient(conn)
}
