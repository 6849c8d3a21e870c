package plugins

import (
	"context"
	"slices"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/causalrec/causalrec/proto/causalrec/plugin/v1"
)

// LegacyEstimatorPlugin serves Impl as a plugin built before FitStream
// does: the UpliftEstimator service without that method, so gRPC answers
// it with UNIMPLEMENTED.
type LegacyEstimatorPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	Impl Estimator
}

// GRPCServer registers the service without FitStream.
func (p *LegacyEstimatorPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	desc := pb.UpliftEstimator_ServiceDesc
	desc.Streams = slices.DeleteFunc(slices.Clone(desc.Streams), func(d grpc.StreamDesc) bool { return d.StreamName == "FitStream" })
	s.RegisterService(&desc, &estimatorServer{impl: p.Impl, models: newModelStore(8)})
	return nil
}

// GRPCClient is EstimatorPlugin's.
func (p *LegacyEstimatorPlugin) GRPCClient(ctx context.Context, b *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return (&EstimatorPlugin{}).GRPCClient(ctx, b, c)
}
