package plugins

import (
	"context"
	"crypto/sha256"
	"io"
	"testing"

	"google.golang.org/grpc"

	pb "github.com/causalrec/causalrec/proto/causalrec/plugin/v1"
)

// fitStream is a Fit stream that delivers msgs and keeps the response.
type fitStream struct {
	grpc.ServerStream
	msgs []*pb.FitRequest
	resp *pb.FitResponse
}

func (f *fitStream) Context() context.Context { return context.Background() }

func (f *fitStream) Recv() (*pb.FitRequest, error) {
	if len(f.msgs) == 0 {
		return nil, io.EOF
	}
	m := f.msgs[0]
	f.msgs = f.msgs[1:]
	return m, nil
}

func (f *fitStream) SendAndClose(r *pb.FitResponse) error { f.resp = r; return nil }

type constModel struct{ Estimator }

func (constModel) Fit(context.Context, FitRequest) (FitResponse, error) {
	return FitResponse{Model: []byte("the model")}, nil
}

func (constModel) Predict(_ context.Context, req PredictRequest) (PredictResponse, error) {
	return PredictResponse{Arms: []string{string(req.Model)}, Effects: make([]float64, req.Rows())}, nil
}

// TestFitKeepsModel checks that the server holds a model it has just
// fitted, so a Predict by digest alone finds it.
func TestFitKeepsModel(t *testing.T) {
	s := &estimatorServer{impl: constModel{}, models: newModelStore(8)}
	req := FitRequest{Estimator: "c", Features: []Feature{{Name: "x", Kind: Numeric}}, Arms: []string{"0", "1"},
		X: []float64{1, 2}, Arm: []int{0, 1}, Outcome: []float64{0, 1}}
	stream := &fitStream{msgs: []*pb.FitRequest{{Header: fitHeaderToProto(req), Rows: rowChunkToProto(req, 0, 2)}}}
	if err := s.Fit(stream); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(stream.resp.GetModel())
	out, err := s.Predict(context.Background(), &pb.PredictRequest{ModelDigest: sum[:], Features: []float64{3}, NFeatures: 1})
	if err != nil {
		t.Fatalf("predict by digest after the fit: %v", err)
	}
	if got := out.GetArms(); len(got) != 1 || got[0] != "the model" {
		t.Fatalf("predict used model %q, want the fitted one", got)
	}
}
