package api

import (
	"context"

	apiv1 "github.com/causalrec/causalrec/proto/causalrec/api/v1"
)

// The methods below serve the HTTP API's other operations over gRPC, one
// each: convert the request (grpc_convert.go), call the operation, map its
// error with grpcStatus, convert the answer. A new operation adds a method
// here, its converters and their test.

// Train is POST /v1/train.
func (g *grpcServer) Train(ctx context.Context, req *apiv1.TrainRequest) (*apiv1.TrainResponse, error) {
	res, err := g.s.Train(ctx, TrainRequest{Ranker: req.GetRanker(), Estimator: req.GetEstimator()})
	if err != nil {
		return nil, grpcStatus(err)
	}
	return trainToProto(res), nil
}

// ListModels is GET /v1/models.
func (g *grpcServer) ListModels(ctx context.Context, _ *apiv1.ListModelsRequest) (*apiv1.ModelList, error) {
	list, err := g.s.Models(ctx)
	if err != nil {
		return nil, grpcStatus(err)
	}
	return modelListToProto(list), nil
}

// GetModel is GET /v1/models/{id}.
func (g *grpcServer) GetModel(ctx context.Context, req *apiv1.GetModelRequest) (*apiv1.Model, error) {
	rec, err := g.s.Model(ctx, req.GetId())
	if err != nil {
		return nil, grpcStatus(err)
	}
	return modelToProto(rec), nil
}

// Rollback is POST /v1/models/rollback.
func (g *grpcServer) Rollback(ctx context.Context, _ *apiv1.RollbackRequest) (*apiv1.ModelList, error) {
	list, err := g.s.Rollback(ctx)
	if err != nil {
		return nil, grpcStatus(err)
	}
	return modelListToProto(list), nil
}

// ListPlugins is GET /v1/plugins.
func (g *grpcServer) ListPlugins(context.Context, *apiv1.ListPluginsRequest) (*apiv1.ListPluginsResponse, error) {
	return pluginsToProto(g.s.Plugins()), nil
}

// OPE is POST /v1/ope.
func (g *grpcServer) OPE(ctx context.Context, req *apiv1.OPERequest) (*apiv1.OPEResponse, error) {
	res, err := g.s.OPE(ctx, opeFromProto(req))
	if err != nil {
		return nil, grpcStatus(err)
	}
	return opeToProto(res), nil
}
