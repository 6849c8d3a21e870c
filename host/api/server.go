// Package api serves causalrec over HTTP (JSON under /v1, Prometheus
// metrics at /metrics) and gRPC (proto/causalrec/api/v1). Both transports
// call the same operations (IngestItems, Recommend, Train, ...), which a Go
// program may also call directly.
//
// The package depends on the small interfaces it declares here, not on the
// store, the ranker or the plugin host themselves: *store.Store is an
// Ingester, a ModelStore and a Pinger, *recommend.Ranker a Recommender and
// *pluginhost.Manager a PluginLister.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/causalrec/causalrec/host/limits"
	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
	apiv1 "github.com/causalrec/causalrec/proto/causalrec/api/v1"
)

// Recommender ranks items for a user.
type Recommender interface {
	Recommend(ctx context.Context, req recommend.Request) (recommend.Response, error)
}

// Ingester stores items, users and events. PutItems and PutUsers return
// how many records replaced one with the same ID; AddEventBatch stores a
// batch of events, each at most once, resuming a batch sent before with the
// same idempotency key (see store.Store.AddEventBatch).
type Ingester interface {
	PutItems(ctx context.Context, items []store.Item) (replaced int, err error)
	PutUsers(ctx context.Context, users []store.User) (replaced int, err error)
	AddEventBatch(ctx context.Context, events []store.Event, key string) (store.BatchResult, error)
}

// ModelStore lists the stored models of a name, reads one and switches
// the one served. LoadModel fails with an error wrapping store.ErrNotFound
// for an unknown id.
type ModelStore interface {
	Serving(ctx context.Context, name string) (current, previous uuid.UUID, err error)
	ListModels(ctx context.Context, name string) ([]store.ModelRecord, error)
	LoadModel(ctx context.Context, id uuid.UUID) (store.ModelRecord, error)
	Rollback(ctx context.Context, name string) error
}

// Pinger reports whether the store answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// FeatureCatalog counts the distinct feature names of the stored items or
// users (kind store.FeaturesOfItems or store.FeaturesOfUsers) and says
// which of names are new (see store.Store.FeatureNames).
type FeatureCatalog interface {
	FeatureNames(ctx context.Context, kind string, names []string) (count int, unseen []string, err error)
}

// PluginLister lists the plugins with their state.
type PluginLister interface {
	List() []pluginhost.Status
}

// TrainRequest is the optional body of POST /v1/train: empty fields take
// the configured values.
type TrainRequest struct {
	// Ranker is what to train: "uplift" (the configured estimator),
	// "dlce", "outcome", "outcome-ips" or "popularity".
	Ranker string `json:"ranker,omitempty"`
	// Estimator is the estimator of an uplift ranker.
	Estimator string `json:"estimator,omitempty"`
	// Async asks POST /v1/train to answer at once (202) with the job to
	// poll instead of waiting for the training (see Server.StartTrain).
	Async bool `json:"async,omitempty"`
}

// Trainer trains a serving model.
type Trainer func(ctx context.Context, req TrainRequest) (recommend.TrainResult, error)

// Defaults of Deps.
const (
	DefaultMaxBodyBytes   = 8 << 20
	DefaultRequestTimeout = 10 * time.Second
)

// Deps are the parts a Server uses.
type Deps struct {
	Ingest Ingester
	Models ModelStore
	// Health is pinged by the health check (the store).
	Health      Pinger
	Recommender Recommender
	Plugins     PluginLister
	// Train trains a serving model; nil answers POST /v1/train with 501.
	Train Trainer
	// Explain explains a stored model; nil answers GET
	// /v1/models/{id}/explain with 501. ExplainCache, when set, keeps the
	// explanations; ExplainTimeout bounds one computation (default
	// DefaultExplainTimeout).
	Explain        Explainer
	ExplainCache   ExplainCache
	ExplainTimeout time.Duration
	// Replayer and OPE evaluate stored models on the logged exposures;
	// either nil answers POST /v1/ope with 501.
	Replayer Replayer
	OPE      OPEFunc
	Logger   *slog.Logger
	// Registry receives the API's metrics; nil means a new registry.
	Registry *prometheus.Registry
	// Token, when set, is required as a bearer token.
	Token string
	// MaxBodyBytes bounds request bodies (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// RequestTimeout bounds one request (default DefaultRequestTimeout).
	RequestTimeout time.Duration
	// Server hardens the HTTP and gRPC servers (timeouts, caps, rate
	// limits); zero fields take DefaultServerOptions.
	Server ServerOptions
	// Jobs, when set, keeps one training at a time per store and the
	// records of the trainings (needed for asynchronous training).
	Jobs TrainJobs
	// TrainLease is how long a training's lease lasts unless renewed
	// (default DefaultTrainLease); TrainTimeout bounds an asynchronous
	// training (default DefaultTrainTimeout).
	TrainLease   time.Duration
	TrainTimeout time.Duration
	// Limits are the schema and value limits of what is ingested and
	// asked (400s); the zero value means limits.Default().
	Limits limits.Limits
	// Features, when set, enforces Limits.MaxCatalogFeatures.
	Features FeatureCatalog
	// Required names the plugins that must be up for the service to be
	// ready (GET /v1/ready).
	Required []string
}

// Server is the API.
type Server struct {
	d       Deps
	metrics *metrics
	guard   *guard
	// bg is the context of the asynchronous trainings and explanations,
	// which Close cancels; bgJobs counts them.
	bg         context.Context
	stopBG     context.CancelFunc
	bgJobs     sync.WaitGroup
	explaining explaining
}

// New returns a Server.
func New(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if d.RequestTimeout <= 0 {
		d.RequestTimeout = DefaultRequestTimeout
	}
	if d.ExplainTimeout <= 0 {
		d.ExplainTimeout = DefaultExplainTimeout
	}
	d.Server = d.Server.withDefaults()
	if d.Limits.MaxFeatures == 0 {
		d.Limits = limits.Default()
	}
	if d.TrainLease <= 0 {
		d.TrainLease = DefaultTrainLease
	}
	if d.TrainTimeout <= 0 {
		d.TrainTimeout = DefaultTrainTimeout
	}
	bg, stop := context.WithCancel(context.Background())
	return &Server{d: d, metrics: newMetrics(d.Registry), guard: newGuard(d.Server), bg: bg, stopBG: stop}
}

// Close cancels the asynchronous trainings and explanations and waits for
// them to end.
func (s *Server) Close() {
	s.stopBG()
	s.bgJobs.Wait()
}

// httpServer returns the HTTP server with the hardening of ServerOptions.
func (s *Server) httpServer() *http.Server {
	o := s.d.Server
	return &http.Server{Handler: s.Handler(), ReadHeaderTimeout: o.ReadHeaderTimeout, ReadTimeout: o.ReadTimeout,
		WriteTimeout: o.WriteTimeout, IdleTimeout: o.IdleTimeout, MaxHeaderBytes: o.MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(s.d.Logger.Handler(), slog.LevelDebug)}
}

// newGRPCServer returns the gRPC server with the Recommender service and
// server reflection (so that grpcurl and the like need no .proto), every
// call but Health behind the guards and the token, and the hardening of
// ServerOptions.
func (s *Server) newGRPCServer() *grpc.Server {
	o := s.d.Server
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(int(s.d.MaxBodyBytes)),
		grpc.UnaryInterceptor(s.grpcAuth), grpc.StreamInterceptor(s.grpcStreamAuth),
		grpc.MaxConcurrentStreams(uint32(o.MaxConcurrent)), grpc.ConnectionTimeout(o.ReadHeaderTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: o.IdleTimeout}))
	apiv1.RegisterRecommenderServer(gs, &grpcServer{s: s})
	reflection.Register(gs)
	return gs
}

// Run serves HTTP on httpAddr and, when grpcAddr is not empty, gRPC on
// grpcAddr until ctx ends, then shuts both down gracefully. ready, when
// not nil, receives the bound addresses once both listen.
func (s *Server) Run(ctx context.Context, httpAddr, grpcAddr string, ready func(httpAddr, grpcAddr net.Addr)) error {
	o := s.d.Server
	raw, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return fmt.Errorf("listen http %s: %w", httpAddr, err)
	}
	hl := newLimitListener(raw, o.MaxConnections)
	hs := s.httpServer()
	var gl net.Listener
	var gs *grpc.Server
	if grpcAddr != "" {
		graw, err := net.Listen("tcp", grpcAddr)
		if err != nil {
			hl.Close()
			return fmt.Errorf("listen grpc %s: %w", grpcAddr, err)
		}
		gl = newLimitListener(graw, o.MaxConnections)
		gs = s.newGRPCServer()
	}
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(hl) }()
	if gs != nil {
		go func() { errc <- gs.Serve(gl) }()
	}
	if ready != nil {
		var ga net.Addr
		if gl != nil {
			ga = gl.Addr()
		}
		ready(hl.Addr(), ga)
	}
	s.d.Logger.Info("serving", "http", hl.Addr().String(), "grpc", grpcAddr)
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if gs != nil {
		gs.GracefulStop()
	}
	if err := hs.Shutdown(sctx); err != nil {
		return err
	}
	return nil
}
