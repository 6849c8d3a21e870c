package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/store"
)

// Explainer explains a stored model: the JSON of `causalrec uplift
// explain` computed on the model's stored training sample. An error
// wrapping store.ErrNotFound is a 404, one wrapping recommend.ErrNoData
// (no sample, a model without a plugin) a 409.
type Explainer func(ctx context.Context, id uuid.UUID) (json.RawMessage, error)

// ExplainCache keeps explanations by model (in Redis: *store.Store). A
// missing one is an error wrapping store.ErrNotFound.
type ExplainCache interface {
	Explanation(ctx context.Context, id uuid.UUID) ([]byte, error)
	PutExplanation(ctx context.Context, id uuid.UUID, explanation []byte) error
}

// DefaultExplainTimeout bounds the computation of one explanation.
const DefaultExplainTimeout = 5 * time.Minute

// ExplainPending answers GET /v1/models/{id}/explain with 202 while the
// explanation is computed: ask again after RetryAfter seconds.
type ExplainPending struct {
	ModelID    string `json:"model_id"`
	Status     string `json:"status"`
	RetryAfter int    `json:"retry_after"`
}

func (ExplainPending) statusCode() int { return http.StatusAccepted }

// explaining holds the explanations being computed, one per model, so
// that requests for the same model share one computation.
type explaining struct {
	mu    sync.Mutex
	calls map[uuid.UUID]*explainCall
}

type explainCall struct {
	done chan struct{}
	out  json.RawMessage
	err  error
}

// Explain returns the explanation of model id from the cache, or computes
// it (once for concurrent requests, bounded by the explain timeout, not
// the request's, and cancelled by Close) and caches it. When the request's deadline comes first
// the computation goes on and the answer is ExplainPending.
func (s *Server) Explain(ctx context.Context, id uuid.UUID) (any, error) {
	if s.d.Explain == nil {
		return nil, &httpError{http.StatusNotImplemented, "explanations are not configured"}
	}
	if s.d.ExplainCache != nil {
		b, err := s.d.ExplainCache.Explanation(ctx, id)
		if err == nil {
			return json.RawMessage(b), nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	call := s.startExplain(id)
	select {
	case <-call.done:
		if errors.Is(call.err, store.ErrNotFound) {
			return nil, &httpError{http.StatusNotFound, call.err.Error()}
		}
		return call.out, call.err
	case <-ctx.Done():
		return ExplainPending{ModelID: id.String(), Status: "computing", RetryAfter: 5}, nil
	}
}

// startExplain returns the computation of model id's explanation in
// flight, starting it when there is none.
func (s *Server) startExplain(id uuid.UUID) *explainCall {
	s.explaining.mu.Lock()
	defer s.explaining.mu.Unlock()
	if c, ok := s.explaining.calls[id]; ok {
		return c
	}
	if s.explaining.calls == nil {
		s.explaining.calls = map[uuid.UUID]*explainCall{}
	}
	c := &explainCall{done: make(chan struct{})}
	s.explaining.calls[id] = c
	s.bgJobs.Add(1)
	go func() {
		defer s.bgJobs.Done()
		defer func() {
			s.explaining.mu.Lock()
			delete(s.explaining.calls, id)
			s.explaining.mu.Unlock()
			close(c.done)
		}()
		ctx, cancel := context.WithTimeout(s.bg, s.d.ExplainTimeout)
		defer cancel()
		start := time.Now()
		c.out, c.err = s.d.Explain(ctx, id)
		if c.err != nil {
			c.err = fmt.Errorf("explain model %s: %w", id, c.err)
			return
		}
		s.d.Logger.Info("model explained", "model", id, "seconds", time.Since(start).Seconds())
		if s.d.ExplainCache != nil {
			if err := s.d.ExplainCache.PutExplanation(ctx, id, c.out); err != nil {
				s.d.Logger.Warn("explanation not cached", "model", id, "error", err)
			}
		}
	}()
	return c
}

func (s *Server) handleExplain(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return nil, badRequest("model id %q: %v", r.PathValue("id"), err)
	}
	out, err := s.Explain(r.Context(), id)
	if p, ok := out.(ExplainPending); ok {
		w.Header().Set("Retry-After", fmt.Sprint(p.RetryAfter))
	}
	return out, err
}
