package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
	apiv1 "github.com/causalrec/causalrec/proto/causalrec/api/v1"
)

// grpcServer serves the Recommender service with the Server's operations.
type grpcServer struct {
	apiv1.UnimplementedRecommenderServer
	s *Server
}

var _ apiv1.RecommenderServer = (*grpcServer)(nil)

// grpcAuth admits every call but Health past the guards (requests in
// flight, rate limit: ResourceExhausted or Unavailable with a RetryInfo),
// checks its bearer token in the "authorization" metadata, and bounds each
// call by the request timeout.
func (s *Server) grpcAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if !strings.HasSuffix(info.FullMethod, "/Health") {
		release, err := s.grpcAdmit(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	ctx, cancel := context.WithTimeout(ctx, s.d.RequestTimeout)
	defer cancel()
	return h(ctx, req)
}

// grpcStreamAuth guards the streaming calls (server reflection) as
// grpcAuth guards the unary ones: past the guards, with the token.
func (s *Server) grpcStreamAuth(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	release, err := s.grpcAdmit(ss.Context())
	if err != nil {
		return err
	}
	defer release()
	return h(srv, ss)
}

// grpcAdmit lets a call past the guards and checks its token; release
// ends its turn.
func (s *Server) grpcAdmit(ctx context.Context) (release func(), err error) {
	var addr string
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
	}
	release, no := s.guard.admit(s.guard.clientKey(addr, grpcAuthorization(ctx)))
	if no != nil {
		code := codes.ResourceExhausted
		if no.status == http.StatusServiceUnavailable {
			code = codes.Unavailable
		}
		st := status.New(code, no.msg)
		if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(no.retryAfter) * time.Second)}); err == nil {
			st = d
		}
		return nil, st.Err()
	}
	if !s.grpcAuthorized(ctx) {
		release()
		return nil, status.Error(codes.Unauthenticated, "missing or wrong API token: send metadata authorization: Bearer <token>")
	}
	return release, nil
}

// grpcAuthorization returns the call's "authorization" metadata.
func grpcAuthorization(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) > 0 {
		return v[0]
	}
	return ""
}

// grpcAuthorized reports whether the call carries the API token.
func (s *Server) grpcAuthorized(ctx context.Context) bool {
	if s.d.Token == "" {
		return true
	}
	tok, ok := bearerToken(grpcAuthorization(ctx))
	return ok && subtle.ConstantTimeCompare([]byte(tok), []byte(s.d.Token)) == 1
}

// grpcStatus maps an operation's error to a gRPC status. An event batch
// cut midway carries an ErrorInfo (reason PARTIAL_WRITE) whose metadata say
// what was written: received, written, duplicates and first_unwritten.
func grpcStatus(err error) error {
	code := codes.Internal
	switch statusOf(err) {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		code = codes.InvalidArgument
	case http.StatusConflict:
		code = codes.FailedPrecondition
		var tr *TrainingRunningError
		switch {
		case errors.As(err, &tr):
			code = codes.Aborted // a training runs: retry later
		case errors.Is(err, store.ErrConflict):
			code = codes.AlreadyExists
		}
	case http.StatusServiceUnavailable:
		code = codes.Unavailable
	case http.StatusGatewayTimeout:
		code = codes.DeadlineExceeded
	case http.StatusNotFound:
		code = codes.NotFound
	case http.StatusNotImplemented:
		code = codes.Unimplemented
	}
	st := status.New(code, err.Error())
	var pe *PartialError
	if errors.As(err, &pe) {
		r := pe.Result
		if d, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: "PARTIAL_WRITE", Domain: "causalrec", Metadata: map[string]string{
			"received": strconv.Itoa(r.Received), "written": strconv.Itoa(r.Written), "duplicates": strconv.Itoa(r.Duplicates),
			"first_unwritten": strconv.Itoa(pe.Next),
		}}); derr == nil {
			st = d
		}
	}
	return st.Err()
}

func (g *grpcServer) IngestItems(ctx context.Context, req *apiv1.IngestItemsRequest) (*apiv1.IngestResponse, error) {
	items := make([]store.Item, len(req.GetItems()))
	for i, it := range req.GetItems() {
		items[i] = itemFromProto(it)
	}
	res, err := g.s.IngestItems(ctx, items)
	if err != nil {
		return nil, grpcStatus(err)
	}
	return ingestToProto(res), nil
}

func (g *grpcServer) IngestEvents(ctx context.Context, req *apiv1.IngestEventsRequest) (*apiv1.IngestResponse, error) {
	events := make([]store.Event, len(req.GetEvents()))
	for i, e := range req.GetEvents() {
		events[i] = eventFromProto(e)
	}
	var key string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("idempotency-key"); len(v) > 0 {
			key = v[0]
		}
	}
	res, err := g.s.IngestEvents(ctx, events, key)
	if err != nil {
		return nil, grpcStatus(err)
	}
	return ingestToProto(res), nil
}

func (g *grpcServer) IngestUsers(ctx context.Context, req *apiv1.IngestUsersRequest) (*apiv1.IngestResponse, error) {
	users := make([]store.User, len(req.GetUsers()))
	for i, u := range req.GetUsers() {
		users[i] = store.User{ID: u.GetId(), Features: u.GetFeatures()}
	}
	res, err := g.s.IngestUsers(ctx, users)
	if err != nil {
		return nil, grpcStatus(err)
	}
	return ingestToProto(res), nil
}

func (g *grpcServer) Recommend(ctx context.Context, req *apiv1.RecommendRequest) (*apiv1.RecommendResponse, error) {
	resp, err := g.s.Recommend(ctx, recommendFromProto(req))
	if err != nil {
		return nil, grpcStatus(err)
	}
	return recommendToProto(resp), nil
}

// Health answers the readiness check (GET /v1/ready); the details only
// to a caller with the token.
func (g *grpcServer) Health(ctx context.Context, _ *apiv1.HealthRequest) (*apiv1.HealthResponse, error) {
	return healthToProto(g.s.Ready(ctx, g.s.grpcAuthorized(ctx))), nil
}

// Converters between the API's proto messages and the domain types.

func itemFromProto(p *apiv1.Item) store.Item {
	return store.Item{ID: p.GetId(), Text: p.GetText(), Category: p.GetCategory(), Features: p.GetFeatures(), Meta: p.GetMeta()}
}

func eventFromProto(p *apiv1.Event) store.Event {
	e := store.Event{
		ID: p.GetId(), Kind: store.EventKind(p.GetKind()), User: p.GetUser(), Item: p.GetItem(), Arm: p.GetArm(),
		Propensity: p.GetPropensity(), Position: int(p.GetPosition()), PolicyID: p.GetPolicyId(), Value: p.GetValue(),
	}
	if ms := p.GetTimeUnixMs(); ms != 0 {
		e.Time = time.UnixMilli(ms).UTC()
	}
	return e
}

func ingestToProto(r IngestResult) *apiv1.IngestResponse {
	return &apiv1.IngestResponse{Received: int64(r.Received), Written: int64(r.Written), Duplicates: int64(r.Duplicates)}
}

func recommendFromProto(p *apiv1.RecommendRequest) recommend.Request {
	return recommend.Request{
		User: p.GetUser(), Candidates: p.GetCandidates(), K: int(p.GetK()),
		IncludeConsumed: p.GetIncludeConsumed(), MaxPerCategory: int(p.GetMaxPerCategory()), RelevanceWeight: p.GetRelevanceWeight(),
		Policy: p.GetPolicy(), Epsilon: p.GetEpsilon(), Temperature: p.GetTemperature(), IntervalLevel: p.GetIntervalLevel(),
		RequestID: p.GetRequestId(),
	}
}

func recommendToProto(r recommend.Response) *apiv1.RecommendResponse {
	out := &apiv1.RecommendResponse{RequestId: r.RequestID, Ranker: r.Ranker, FallbackReason: r.FallbackReason, ModelId: r.ModelID,
		Policy: r.Policy, Warnings: r.Warnings, RedisRoundTrips: int32(r.RedisRoundTrips)}
	for _, it := range r.Items {
		p := &apiv1.ScoredItem{Item: it.Item, Category: it.Category, Score: it.Score, Propensity: it.Propensity, Position: int32(it.Position)}
		if it.Uplift != nil {
			p.Uplift, p.HasUplift = *it.Uplift, true
		}
		if it.UpliftLower != nil && it.UpliftUpper != nil {
			p.UpliftLower, p.UpliftUpper, p.HasInterval = *it.UpliftLower, *it.UpliftUpper, true
		}
		out.Items = append(out.Items, p)
	}
	return out
}

func healthToProto(h Health) *apiv1.HealthResponse {
	out := &apiv1.HealthResponse{Ok: h.OK, Redis: h.Redis != nil && *h.Redis}
	for _, p := range h.Plugins {
		out.Plugins = append(out.Plugins, &apiv1.PluginHealth{Name: p.Name, Kind: p.Kind, Healthy: p.Healthy, Error: p.Error})
	}
	return out
}
