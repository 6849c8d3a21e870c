// Package api serves causalrec over HTTP (JSON under /v1, Prometheus
// metrics at /metrics) and gRPC (proto/causalrec/api/v1). Both transports
// call the same operations.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
	apiv1 "github.com/causalrec/causalrec/proto/causalrec/api/v1"
)

// TrainRequest is the optional body of POST /v1/train: empty fields take
// the configured values.
type TrainRequest struct {
	// Ranker is what to train: "uplift" (the configured estimator),
	// "dlce", "outcome", "outcome-ips" or "popularity".
	Ranker string `json:"ranker,omitempty"`
	// Estimator is the estimator of an uplift ranker.
	Estimator string `json:"estimator,omitempty"`
}

// Trainer trains a serving model.
type Trainer func(ctx context.Context, req TrainRequest) (recommend.TrainResult, error)

// Deps are the parts a Server uses.
type Deps struct {
	Store   *store.Store
	Ranker  *recommend.Ranker
	Plugins *pluginhost.Manager
	Train   Trainer
	Logger  *slog.Logger
	// Registerer receives the API's metrics; nil means a new registry.
	Registry *prometheus.Registry
	// Token, when set, is required as a bearer token.
	Token string
	// MaxBodyBytes bounds request bodies (default 8 MiB).
	MaxBodyBytes int64
	// RequestTimeout bounds one request (default 10s).
	RequestTimeout time.Duration
}

// Server is the API.
type Server struct {
	d       Deps
	metrics *metrics
}

// New returns a Server.
func New(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 8 << 20
	}
	if d.RequestTimeout <= 0 {
		d.RequestTimeout = 10 * time.Second
	}
	return &Server{d: d, metrics: newMetrics(d.Registry)}
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.route(mux, "POST /v1/items", true, s.handleItems)
	s.route(mux, "POST /v1/events", true, s.handleEvents)
	s.route(mux, "POST /v1/users", true, s.handleUsers)
	s.route(mux, "POST /v1/recommend", true, s.handleRecommend)
	s.route(mux, "POST /v1/train", true, s.handleTrain)
	s.route(mux, "GET /v1/plugins", true, s.handlePlugins)
	s.route(mux, "GET /v1/models", true, s.handleModels)
	s.route(mux, "POST /v1/models/rollback", true, s.handleRollback)
	s.route(mux, "GET /v1/health", false, s.handleHealth)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.d.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// httpError is an error with an HTTP status.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

// statusOf maps an operation's error to an HTTP status.
func statusOf(err error) int {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.Is(err, recommend.ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, recommend.ErrNoData):
		return http.StatusConflict
	case errors.Is(err, store.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) (any, error)

func (s *Server) route(mux *http.ServeMux, pattern string, auth bool, h handlerFunc) {
	name := pattern[strings.Index(pattern, " ")+1:]
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := s.serve(w, r, auth, h)
		s.metrics.requests.WithLabelValues(name, strconv.Itoa(code)).Inc()
		s.metrics.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, auth bool, h handlerFunc) int {
	if auth && !s.authorized(r.Header.Get("Authorization")) {
		writeError(w, http.StatusUnauthorized, "missing or wrong API token: send Authorization: Bearer <token>")
		return http.StatusUnauthorized
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.d.RequestTimeout)
	defer cancel()
	r = r.WithContext(ctx)
	r.Body = http.MaxBytesReader(w, r.Body, s.d.MaxBodyBytes)
	out, err := h(w, r)
	if err != nil {
		code := statusOf(err)
		if code >= 500 {
			s.d.Logger.Error("request failed", "path", r.URL.Path, "error", err)
		}
		writeError(w, code, err.Error())
		return code
	}
	writeJSON(w, http.StatusOK, out)
	return http.StatusOK
}

func (s *Server) authorized(header string) bool {
	if s.d.Token == "" {
		return true
	}
	tok, ok := strings.CutPrefix(header, "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(tok), []byte(s.d.Token)) == 1
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// decode reads one JSON value into v, rejecting unknown fields, trailing
// data and bodies over the limit with a message that names the problem.
func decode(r *http.Request, v any) error {
	return decodeBody(r, v, false)
}

// decodeOptional is decode for a body that may be empty (or only white
// space): v is then left as it is.
func decodeOptional(r *http.Request, v any) error {
	return decodeBody(r, v, true)
}

func decodeBody(r *http.Request, v any, optional bool) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over the limit of %d bytes", mbe.Limit)}
		case errors.Is(err, io.EOF) && optional:
			return nil
		case errors.Is(err, io.EOF):
			return badRequest("empty request body: want a JSON object")
		case errors.As(err, &se):
			return badRequest("malformed JSON at byte %d: %v", se.Offset, err)
		case errors.As(err, &te) && te.Field == "":
			return badRequest("request body: want a JSON object, got JSON %s", te.Value)
		case errors.As(err, &te):
			return badRequest("field %q: want %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return badRequest("invalid request body: %v", err)
	}
	if dec.More() {
		return badRequest("trailing data after the JSON object")
	}
	return nil
}

// IngestResult answers an ingest call.
type IngestResult struct {
	Received   int `json:"received"`
	Written    int `json:"written"`
	Duplicates int `json:"duplicates"`
}

func (s *Server) handleItems(_ http.ResponseWriter, r *http.Request) (any, error) {
	var body struct {
		Items []store.Item `json:"items"`
	}
	if err := decode(r, &body); err != nil {
		return nil, err
	}
	return s.ingestItems(r.Context(), body.Items)
}

func (s *Server) ingestItems(ctx context.Context, items []store.Item) (IngestResult, error) {
	if len(items) == 0 {
		return IngestResult{}, badRequest("items: empty list")
	}
	for i, it := range items {
		if err := it.Validate(); err != nil {
			return IngestResult{}, badRequest("items[%d]: %v", i, err)
		}
	}
	if err := s.d.Store.PutItems(ctx, items); err != nil {
		return IngestResult{}, err
	}
	return IngestResult{Received: len(items), Written: len(items)}, nil
}

func (s *Server) handleUsers(_ http.ResponseWriter, r *http.Request) (any, error) {
	var body struct {
		Users []store.User `json:"users"`
	}
	if err := decode(r, &body); err != nil {
		return nil, err
	}
	return s.ingestUsers(r.Context(), body.Users)
}

func (s *Server) ingestUsers(ctx context.Context, users []store.User) (IngestResult, error) {
	if len(users) == 0 {
		return IngestResult{}, badRequest("users: empty list")
	}
	for i, u := range users {
		if err := u.Validate(); err != nil {
			return IngestResult{}, badRequest("users[%d]: %v", i, err)
		}
	}
	if err := s.d.Store.PutUsers(ctx, users); err != nil {
		return IngestResult{}, err
	}
	return IngestResult{Received: len(users), Written: len(users)}, nil
}

func (s *Server) handleEvents(_ http.ResponseWriter, r *http.Request) (any, error) {
	var body struct {
		Events []store.Event `json:"events"`
	}
	if err := decode(r, &body); err != nil {
		return nil, err
	}
	return s.ingestEvents(r.Context(), body.Events)
}

func (s *Server) ingestEvents(ctx context.Context, events []store.Event) (IngestResult, error) {
	if len(events) == 0 {
		return IngestResult{}, badRequest("events: empty list")
	}
	now := time.Now().UTC()
	for i := range events {
		if events[i].Time.IsZero() {
			events[i].Time = now
		}
		if err := events[i].Validate(); err != nil {
			return IngestResult{}, badRequest("events[%d]: %v", i, err)
		}
	}
	added, err := s.d.Store.AddEvents(ctx, events)
	if err != nil {
		return IngestResult{}, err
	}
	s.metrics.events.Add(float64(added))
	return IngestResult{Received: len(events), Written: added, Duplicates: len(events) - added}, nil
}

func (s *Server) handleRecommend(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req recommend.Request
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.recommend(r.Context(), req)
}

func (s *Server) recommend(ctx context.Context, req recommend.Request) (recommend.Response, error) {
	resp, err := s.d.Ranker.Recommend(ctx, req)
	if err != nil {
		return resp, err
	}
	if resp.FallbackReason != "" {
		s.metrics.fallbacks.Inc()
	}
	return resp, nil
}

func (s *Server) handleTrain(_ http.ResponseWriter, r *http.Request) (any, error) {
	if s.d.Train == nil {
		return nil, &httpError{http.StatusNotImplemented, "training is not configured"}
	}
	var req TrainRequest
	if err := decodeOptional(r, &req); err != nil {
		return nil, err
	}
	if req.Ranker != "" && !slices.Contains(recommend.Rankers, req.Ranker) {
		return nil, badRequest("unknown ranker %q (want %s)", req.Ranker, strings.Join(recommend.Rankers, ", "))
	}
	res, err := s.d.Train(r.Context(), req)
	if err != nil {
		return nil, err
	}
	s.d.Logger.Info("model trained and serving", "model", res.ModelID, "previous", res.Previous, "ranker", res.Ranker, "rows", res.Rows, "seconds", res.Seconds)
	return res, nil
}

// ModelList answers GET /v1/models.
type ModelList struct {
	Serving  string              `json:"serving"`
	Previous string              `json:"previous,omitempty"`
	Models   []store.ModelRecord `json:"models"`
}

func (s *Server) modelList(ctx context.Context) (ModelList, error) {
	var out ModelList
	cur, prev, err := s.d.Store.Serving(ctx, recommend.ModelName)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return out, err
	}
	if cur != uuid.Nil {
		out.Serving = cur.String()
	}
	if prev != uuid.Nil {
		out.Previous = prev.String()
	}
	models, err := s.d.Store.ListModels(ctx, recommend.ModelName)
	if err != nil {
		return out, err
	}
	for i := range models {
		models[i].Bytes = nil
	}
	out.Models = models
	if out.Models == nil {
		out.Models = []store.ModelRecord{}
	}
	return out, nil
}

func (s *Server) handleModels(_ http.ResponseWriter, r *http.Request) (any, error) {
	return s.modelList(r.Context())
}

func (s *Server) handleRollback(_ http.ResponseWriter, r *http.Request) (any, error) {
	if err := s.d.Store.Rollback(r.Context(), recommend.ModelName); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, &httpError{http.StatusConflict, "no previous model to roll back to"}
		}
		return nil, err
	}
	list, err := s.modelList(r.Context())
	if err != nil {
		return nil, err
	}
	s.d.Logger.Info("serving model rolled back", "model", list.Serving, "replaced", list.Previous)
	return list, nil
}

func (s *Server) handlePlugins(_ http.ResponseWriter, _ *http.Request) (any, error) {
	return s.d.Plugins.List(), nil
}

// Health is the answer of /v1/health.
type Health struct {
	OK      bool                `json:"ok"`
	Redis   bool                `json:"redis"`
	Error   string              `json:"error,omitempty"`
	Plugins []pluginhost.Status `json:"plugins"`
}

func (s *Server) health(ctx context.Context) Health {
	h := Health{Redis: true, Plugins: s.d.Plugins.List()}
	if err := s.d.Store.Ping(ctx); err != nil {
		h.Redis, h.Error = false, err.Error()
	}
	h.OK = h.Redis
	return h
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) (any, error) {
	h := s.health(r.Context())
	if !h.OK {
		return nil, &httpError{http.StatusServiceUnavailable, h.Error}
	}
	return h, nil
}

// Run serves HTTP on httpAddr and, when grpcAddr is not empty, gRPC on
// grpcAddr until ctx ends, then shuts both down gracefully. ready, when
// not nil, receives the bound addresses once both listen.
func (s *Server) Run(ctx context.Context, httpAddr, grpcAddr string, ready func(httpAddr, grpcAddr net.Addr)) error {
	hl, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return fmt.Errorf("listen http %s: %w", httpAddr, err)
	}
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	var gl net.Listener
	var gs *grpc.Server
	if grpcAddr != "" {
		if gl, err = net.Listen("tcp", grpcAddr); err != nil {
			hl.Close()
			return fmt.Errorf("listen grpc %s: %w", grpcAddr, err)
		}
		gs = grpc.NewServer(grpc.MaxRecvMsgSize(int(s.d.MaxBodyBytes)), grpc.UnaryInterceptor(s.grpcAuth))
		apiv1.RegisterRecommenderServer(gs, &grpcServer{s: s})
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

type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	events    prometheus.Counter
	fallbacks prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "causalrec_http_requests_total", Help: "HTTP API requests by route and status code."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "causalrec_http_request_duration_seconds", Help: "HTTP API request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"route"}),
		events:    prometheus.NewCounter(prometheus.CounterOpts{Name: "causalrec_events_ingested_total", Help: "Events written (duplicates excluded)."}),
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{Name: "causalrec_recommend_fallbacks_total", Help: "Recommendations that fell back to popularity."}),
	}
	reg.MustRegister(m.requests, m.latency, m.events, m.fallbacks)
	return m
}
