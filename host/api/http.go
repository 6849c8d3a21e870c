package api

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.route(mux, "POST /v1/items", true, s.handleItems)
	s.route(mux, "POST /v1/events", true, s.handleEvents)
	s.route(mux, "POST /v1/users", true, s.handleUsers)
	s.route(mux, "POST /v1/recommend", true, s.handleRecommend)
	s.route(mux, "POST /v1/train", true, s.handleTrain)
	s.route(mux, "GET /v1/train/jobs/{id}", true, s.handleTrainJob)
	s.route(mux, "GET /v1/plugins", true, s.handlePlugins)
	s.route(mux, "GET /v1/models", true, s.handleModels)
	s.route(mux, "GET /v1/models/{id}", true, s.handleModel)
	s.route(mux, "POST /v1/models/rollback", true, s.handleRollback)
	s.route(mux, "GET /v1/models/{id}/explain", true, s.handleExplain)
	s.route(mux, "POST /v1/ope", true, s.handleOPE)
	s.route(mux, "GET /v1/health", false, s.handleHealth)
	s.route(mux, "GET /v1/ready", false, s.handleReady)
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

// Is makes a 400 match recommend.ErrBadRequest, so that Go callers of the
// operations can tell a bad request with errors.Is.
func (e *httpError) Is(target error) bool {
	return target == recommend.ErrBadRequest && e.status == http.StatusBadRequest
}

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
	case errors.Is(err, recommend.ErrNoData), errors.Is(err, store.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, store.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) (any, error)

// route serves pattern with h. Routes that need the token (auth) are the
// API proper: the guards (requests in flight, rate limit) apply to them;
// the health checks go without both.
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
	if auth {
		release, no := s.guard.admit(s.guard.clientKey(r.RemoteAddr, r.Header.Get("Authorization")))
		if no != nil {
			w.Header().Set("Retry-After", strconv.Itoa(no.retryAfter))
			writeError(w, no.status, no.msg)
			return no.status
		}
		defer release()
		if !s.authorized(r.Header.Get("Authorization")) {
			writeError(w, http.StatusUnauthorized, "missing or wrong API token: send Authorization: Bearer <token>")
			return http.StatusUnauthorized
		}
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
		return writeJSON(w, code, errorBody(err))
	}
	code := http.StatusOK
	if st, ok := out.(statusCoder); ok {
		code = st.statusCode()
	}
	return writeJSON(w, code, out)
}

// statusCoder is an answer with a status other than 200.
type statusCoder interface{ statusCode() int }

// authorized reports whether the Authorization header carries the API
// token (any header does when no token is configured). The scheme name is
// case-insensitive.
func (s *Server) authorized(header string) bool {
	if s.d.Token == "" {
		return true
	}
	tok, ok := bearerToken(header)
	return ok && subtle.ConstantTimeCompare([]byte(tok), []byte(s.d.Token)) == 1
}

// writeJSON encodes v into a buffer and only then writes the status and
// the body, so that a value that cannot be encoded (a NaN, an infinity) is
// a 500 naming the problem rather than a success with an empty body. It
// returns the status written.
func writeJSON(w http.ResponseWriter, code int, v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]string{"error": "encode the answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
	return code
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// partialBody is the answer to an event batch cut midway: the error, and
// what was written, so that the client can resume.
type partialBody struct {
	Error string `json:"error"`
	IngestResult
	// FirstUnwritten is the index of the first event not known to be
	// stored.
	FirstUnwritten int `json:"first_unwritten"`
}

// errorBody is the JSON of an error answer: {"error": message}, with what
// was written for a batch cut midway.
func errorBody(err error) any {
	var pe *PartialError
	if errors.As(err, &pe) {
		return partialBody{Error: err.Error(), IngestResult: pe.Result, FirstUnwritten: pe.Next}
	}
	var tr *TrainingRunningError
	if errors.As(err, &tr) {
		return map[string]string{"error": err.Error(), "running_job": tr.Job}
	}
	return map[string]string{"error": err.Error()}
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
	raw, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over the limit of %d bytes", mbe.Limit)}
	}
	if err != nil {
		return badRequest("read request body: %v", err)
	}
	// JSON decoding would replace each invalid byte with U+FFFD and so
	// store IDs other than the ones sent.
	if !utf8.Valid(raw) {
		i := 0
		for i < len(raw) {
			r, n := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		return badRequest("request body is not valid UTF-8 (at byte %d)", i)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
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

func (s *Server) handleItems(_ http.ResponseWriter, r *http.Request) (any, error) {
	var body struct {
		Items []store.Item `json:"items"`
	}
	if err := decode(r, &body); err != nil {
		return nil, err
	}
	return s.IngestItems(r.Context(), body.Items)
}

func (s *Server) handleUsers(_ http.ResponseWriter, r *http.Request) (any, error) {
	var body struct {
		Users []store.User `json:"users"`
	}
	if err := decode(r, &body); err != nil {
		return nil, err
	}
	return s.IngestUsers(r.Context(), body.Users)
}

func (s *Server) handleEvents(_ http.ResponseWriter, r *http.Request) (any, error) {
	var body struct {
		Events []store.Event `json:"events"`
	}
	if err := decode(r, &body); err != nil {
		return nil, err
	}
	return s.IngestEvents(r.Context(), body.Events, r.Header.Get("Idempotency-Key"))
}

func (s *Server) handleRecommend(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req recommend.Request
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.Recommend(r.Context(), req)
}

func (s *Server) handleTrain(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req TrainRequest
	if err := decodeOptional(r, &req); err != nil {
		return nil, err
	}
	if req.Async {
		return s.StartTrain(r.Context(), req)
	}
	return s.Train(r.Context(), req)
}

func (s *Server) handleTrainJob(_ http.ResponseWriter, r *http.Request) (any, error) {
	return s.TrainJob(r.Context(), r.PathValue("id"))
}

func (s *Server) handleModels(_ http.ResponseWriter, r *http.Request) (any, error) {
	return s.Models(r.Context())
}

func (s *Server) handleModel(_ http.ResponseWriter, r *http.Request) (any, error) {
	return s.Model(r.Context(), r.PathValue("id"))
}

func (s *Server) handleRollback(_ http.ResponseWriter, r *http.Request) (any, error) {
	return s.Rollback(r.Context())
}

func (s *Server) handlePlugins(_ http.ResponseWriter, _ *http.Request) (any, error) {
	return s.Plugins(), nil
}

func (s *Server) handleHealth(_ http.ResponseWriter, r *http.Request) (any, error) {
	return s.Health(r.Context(), s.authorized(r.Header.Get("Authorization"))), nil
}

func (s *Server) handleReady(_ http.ResponseWriter, r *http.Request) (any, error) {
	return s.Ready(r.Context(), s.authorized(r.Header.Get("Authorization"))), nil
}
