package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
	apiv1 "github.com/causalrec/causalrec/proto/causalrec/api/v1"
)

// TestGRPCOperations calls train, models, rollback, plugins and ope over
// gRPC with a real client against a real store, and lists the service
// by server reflection: everything but Health behind the token.
func TestGRPCOperations(t *testing.T) {
	st, _ := testStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var events []store.Event
	for i := range 10 {
		u := fmt.Sprintf("u%d", i)
		for j, it := range []string{"a", "b"} {
			arm := "treated"
			if (i+j)%2 == 0 {
				arm = recommend.ControlArm
			}
			events = append(events, store.Event{Kind: store.Exposure, User: u, Item: it, Time: t0, Arm: arm, Propensity: 0.5})
			if i%3 == j {
				events = append(events, store.Event{Kind: store.Outcome, User: u, Item: it, Time: t0.Add(time.Hour)})
			}
		}
	}
	if _, err := st.AddEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	train := func(ctx context.Context, req TrainRequest) (recommend.TrainResult, error) {
		return recommend.Train(ctx, st, nil, recommend.TrainOptions{Ranker: req.Ranker}, slog.New(slog.DiscardHandler))
	}
	list := plugins{{Name: "causal", Kind: "estimator", Version: "0.1.0", Protocol: 1, PID: 7, Healthy: true, Builtin: true}}
	_, gaddr := startRunGRPC(t, Deps{Ingest: st, Models: st, Health: st, Recommender: recommend.NewRanker(st, nil, nil),
		Plugins: list, Train: train, Token: "tok"}, true)
	conn, err := grpc.NewClient(gaddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := apiv1.NewRecommenderClient(conn)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	// Without the token: Unauthenticated, reflection included.
	if _, err := c.ListModels(cctx, &apiv1.ListModelsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ListModels without the token: %v, want Unauthenticated", err)
	}
	if _, err := reflectionServices(cctx, conn); status.Code(err) != codes.Unauthenticated {
		t.Errorf("reflection without the token: %v, want Unauthenticated", err)
	}
	actx := metadata.AppendToOutgoingContext(cctx, "authorization", "Bearer tok")

	services, err := reflectionServices(actx, conn)
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	if !slices.Contains(services, "causalrec.api.v1.Recommender") || !slices.Contains(services, "grpc.reflection.v1.ServerReflection") {
		t.Errorf("reflection lists %v", services)
	}
	methods, err := reflectionMethods(actx, conn, "causalrec.api.v1.Recommender")
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	for _, m := range []string{"Health", "IngestItems", "IngestEvents", "IngestUsers", "Recommend", "Train", "ListModels", "GetModel", "Rollback", "ListPlugins", "OPE"} {
		if !slices.Contains(methods, m) {
			t.Errorf("reflection: the service lacks %s (has %v)", m, methods)
		}
	}

	if _, err := c.Train(actx, &apiv1.TrainRequest{Ranker: "best"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("train an unknown ranker: %v, want InvalidArgument", err)
	}
	var ids []string
	for range 2 {
		tr, err := c.Train(actx, &apiv1.TrainRequest{Ranker: "popularity"})
		if err != nil || tr.GetRanker() != "popularity" || tr.GetRows() != 20 || tr.GetTreated() != 10 || tr.GetText() == nil {
			t.Fatalf("train: %v %v", tr, err)
		}
		ids = append(ids, tr.GetModelId())
	}
	ml, err := c.ListModels(actx, &apiv1.ListModelsRequest{})
	if err != nil || ml.GetServing() != ids[1] || ml.GetPrevious() != ids[0] || len(ml.GetModels()) != 2 || ml.GetModels()[0].GetCreatedAtUnixMs() == 0 {
		t.Fatalf("list models: %v %v", ml, err)
	}
	m, err := c.GetModel(actx, &apiv1.GetModelRequest{Id: recommend.ModelName})
	if err != nil || m.GetId() != ids[1] || m.GetMetadata()["ranker"] != "popularity" {
		t.Errorf("get the serving model: %v %v", m, err)
	}
	if _, err := c.GetModel(actx, &apiv1.GetModelRequest{Id: "nosuch"}); status.Code(err) != codes.NotFound {
		t.Errorf("get an unknown model: %v, want NotFound", err)
	}
	ml, err = c.Rollback(actx, &apiv1.RollbackRequest{})
	if err != nil || ml.GetServing() != ids[0] || ml.GetPrevious() != ids[1] {
		t.Errorf("rollback: %v %v", ml, err)
	}
	pl, err := c.ListPlugins(actx, &apiv1.ListPluginsRequest{})
	if err != nil || !proto.Equal(pl, pluginsToProto([]pluginhost.Status(list))) {
		t.Errorf("plugins: %v %v", pl, err)
	}
	if _, err := c.OPE(actx, &apiv1.OPERequest{Model: ids[0]}); status.Code(err) != codes.Unimplemented {
		t.Errorf("ope without an estimator of policy values: %v, want Unimplemented", err)
	}
}

// reflectionServices lists the services by server reflection.
func reflectionServices(ctx context.Context, conn *grpc.ClientConn) ([]string, error) {
	resp, err := reflect1(ctx, conn, &rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		out = append(out, s.GetName())
	}
	return out, nil
}

// reflectionMethods lists the methods of service from the descriptor that
// server reflection gives.
func reflectionMethods(ctx context.Context, conn *grpc.ClientConn, service string) ([]string, error) {
	resp, err := reflect1(ctx, conn, &rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: service}})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, b := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
		var fd descriptorpb.FileDescriptorProto
		if err := proto.Unmarshal(b, &fd); err != nil {
			return nil, err
		}
		for _, s := range fd.GetService() {
			if fd.GetPackage()+"."+s.GetName() != service {
				continue
			}
			for _, m := range s.GetMethod() {
				out = append(out, m.GetName())
			}
		}
	}
	return out, nil
}

// reflect1 sends one reflection request and returns its answer.
func reflect1(ctx context.Context, conn *grpc.ClientConn, req *rpb.ServerReflectionRequest) (*rpb.ServerReflectionResponse, error) {
	stream, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	// A stream the server ends at once (refused by its guard) makes Send
	// return io.EOF; the status comes with Recv.
	if err := stream.Send(req); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	resp, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	_ = stream.CloseSend()
	if e := resp.GetErrorResponse(); e != nil {
		return nil, status.Error(codes.Code(e.GetErrorCode()), e.GetErrorMessage())
	}
	return resp, nil
}
