package python_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/causalrec/causalrec/plugins"
	pb "github.com/causalrec/causalrec/proto/causalrec/plugin/v1"
)

// fitMessages returns the header and the row chunks (of at most per rows)
// of req, as the Go SDK's client sends them.
func fitMessages(req plugins.FitRequest, per int) (*pb.FitHeader, []*pb.RowChunk) {
	h := &pb.FitHeader{Estimator: req.Estimator, Params: req.Params, Arms: req.Arms, Seed: req.Seed, HasWeights: req.Weight != nil}
	for _, f := range req.Features {
		kind := pb.FeatureKind_FEATURE_KIND_NUMERIC
		if f.Kind == plugins.Categorical {
			kind = pb.FeatureKind_FEATURE_KIND_CATEGORICAL
		}
		h.Features = append(h.Features, &pb.Feature{Name: f.Name, Kind: kind, Levels: f.Levels})
	}
	d := len(req.Features)
	var chunks []*pb.RowChunk
	for start := 0; start < req.Rows(); start += per {
		end := min(start+per, req.Rows())
		c := &pb.RowChunk{Features: req.X[start*d : end*d], Outcome: req.Outcome[start:end]}
		for _, a := range req.Arm[start:end] {
			c.Arm = append(c.Arm, int32(a))
		}
		if req.Weight != nil {
			c.Weight = req.Weight[start:end]
		}
		chunks = append(chunks, c)
	}
	return h, chunks
}

// TestSklearnFitStreamWire talks FitStream to the py-sklearn plugin over
// plain gRPC, without the Go SDK, to pin down the call's contract: the
// header is answered with progress 0 before any row is sent; the progress
// of a fit rises to done = total (one step per arm) before the result;
// bad streams end with the codes Fit gives them; and a client that goes
// away during a fit stops it at its next report, the plugin serving on.
func TestSklearnFitStreamWire(t *testing.T) {
	needSklearn(t)
	env := []string{cookie, "PLUGIN_CLIENT_CERT="}
	cmd, line, stderr, _, done := startPlugin(t, skScript, env)
	conn, err := grpc.NewClient(strings.Split(line, "|")[3], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewUpliftEstimatorClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	c := skCases[0] // three arms
	c.params = map[string]string{"max_iter": "20"}
	req, _ := skFit(t, c)
	header, chunks := fitMessages(req, 1000)
	arms := int64(len(req.Arms))
	if len(chunks) < 2 {
		t.Fatalf("%d chunks: the test means to stream several", len(chunks))
	}

	// open starts a call, sends the header alone, and returns the stream
	// and the first event.
	open := func(ctx context.Context, h *pb.FitHeader) (grpc.BidiStreamingClient[pb.FitRequest, pb.FitEvent], *pb.FitEvent) {
		t.Helper()
		stream, err := client.FitStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&pb.FitRequest{Header: h}); err != nil {
			t.Fatal(err)
		}
		first, err := stream.Recv()
		if err != nil {
			t.Fatalf("answer to the header: %v", err)
		}
		return stream, first
	}
	sendRows := func(stream grpc.BidiStreamingClient[pb.FitRequest, pb.FitEvent]) {
		t.Helper()
		for _, ch := range chunks {
			if err := stream.Send(&pb.FitRequest{Rows: ch}); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
		}
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
	}
	isZero := func(ev *pb.FitEvent) bool {
		p := ev.GetProgress()
		return p != nil && p.GetDone() == 0 && p.GetTotal() == 0
	}

	t.Run("fit", func(t *testing.T) {
		stream, first := open(ctx, header)
		if !isZero(first) {
			t.Fatalf("answer to the header: %v, want progress 0 of 0", first)
		}
		sendRows(stream)
		var reports []*pb.FitProgress
		var result *pb.FitResponse
		for {
			ev, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("after %d reports: %v", len(reports), err)
			}
			if result != nil {
				t.Fatalf("an event after the result: %v", ev)
			}
			if p := ev.GetProgress(); p != nil {
				reports = append(reports, p)
			}
			result = ev.GetResult()
		}
		if result == nil || len(result.GetModel()) == 0 || len(result.GetAte()) != int(arms)-1 {
			t.Fatalf("result %v: want a model and %d effects", result, arms-1)
		}
		if n := len(reports); n == 0 || reports[n-1].GetDone() != arms || reports[n-1].GetTotal() != arms {
			t.Fatalf("reports %v: want them to end at %d of %d", reports, arms, arms)
		}
		for i, p := range reports {
			if p.GetTotal() != arms || (i > 0 && p.GetDone() <= reports[i-1].GetDone()) {
				t.Fatalf("reports %v: want done rising, of %d", reports, arms)
			}
		}
		t.Logf("reports: %v", reports)
	})

	t.Run("bad streams", func(t *testing.T) {
		withParams := func(p map[string]string) *pb.FitHeader {
			h := proto.Clone(header).(*pb.FitHeader)
			maps.Copy(h.Params, p)
			return h
		}
		unknown := proto.Clone(header).(*pb.FitHeader)
		unknown.Estimator = "x"
		for _, tc := range []struct {
			name string
			h    *pb.FitHeader
			want string
		}{
			{"negative learning rate", withParams(map[string]string{"learning_rate": "-1"}), "parameter learning_rate=-1: must be positive"},
			{"unknown parameter", withParams(map[string]string{"folds": "3"}), `does not take parameter "folds"`},
			{"unknown estimator", unknown, `unknown estimator "x" (plugin py-sklearn fits: t)`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				stream, first := open(ctx, tc.h)
				if !isZero(first) {
					t.Fatalf("answer to the header: %v, want progress 0 of 0", first)
				}
				sendRows(stream)
				var err error
				for err == nil {
					var ev *pb.FitEvent
					if ev, err = stream.Recv(); err == nil && ev.GetResult() != nil {
						t.Fatal("a result for a bad request")
					}
				}
				if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want INVALID_ARGUMENT containing %q", err, tc.want)
				}
			})
		}
		stream, err := client.FitStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = stream.CloseSend()
		if _, err := stream.Recv(); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "empty Fit stream") {
			t.Errorf("an empty stream: %v, want INVALID_ARGUMENT", err)
		}
		stream, err = client.FitStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = stream.Send(&pb.FitRequest{Rows: chunks[0]})
		if _, err := stream.Recv(); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "must carry the header") {
			t.Errorf("a stream without a header: %v, want INVALID_ARGUMENT", err)
		}
	})

	t.Run("client goes away", func(t *testing.T) {
		fitted := strings.Count(stderr.String(), "model fitted")
		// Long enough per arm that the call is cancelled during the first
		// model: 400 trees, no early stopping.
		slow := proto.Clone(header).(*pb.FitHeader)
		slow.Params = map[string]string{"max_iter": "400", "early_stopping": "false"}
		cctx, ccancel := context.WithCancel(ctx)
		defer ccancel()
		stream, _ := open(cctx, slow)
		sendRows(stream)
		ev, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if p := ev.GetProgress(); p == nil || p.GetDone() != 0 || p.GetTotal() != arms {
			t.Fatalf("first report of the fit: %v, want 0 of %d", ev, arms)
		}
		ccancel()
		deadline := time.Now().Add(time.Minute)
		for !strings.Contains(stderr.String(), "fit cancelled: the client went away") {
			if time.Now().After(deadline) {
				t.Fatalf("the plugin did not log the fit's cancellation in a minute:\n%s", stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if n := strings.Count(stderr.String(), "model fitted"); n != fitted {
			t.Errorf("the cancelled fit ran to its end (%d models fitted, %d before it)", n, fitted)
		}
		// The plugin serves on.
		if _, err := client.Info(ctx, &pb.EstimatorInfoRequest{}); err != nil {
			t.Fatalf("info after the cancelled fit: %v", err)
		}
	})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(t, done, stderr); err != nil {
		t.Fatalf("exit after SIGTERM: %v; stderr:\n%s", err, stderr.String())
	}
}
