package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

// IngestResult answers an ingest call.
type IngestResult struct {
	Received   int `json:"received"`
	Written    int `json:"written"`
	Duplicates int `json:"duplicates"`
	// Replayed says an event batch's idempotency key named a batch already
	// stored: nothing was written and the counts are the stored batch's.
	Replayed bool `json:"replayed,omitempty"`
}

// IngestItems validates items and stores them; an empty or invalid list is
// an error wrapping ErrBadRequest that writes nothing.
func (s *Server) IngestItems(ctx context.Context, items []store.Item) (IngestResult, error) {
	if len(items) == 0 {
		return IngestResult{}, badRequest("items: empty list")
	}
	names := map[string]bool{}
	for i, it := range items {
		if err := it.Validate(); err != nil {
			return IngestResult{}, badRequest("items[%d]: %v", i, err)
		}
		if err := s.d.Limits.CheckItem(it); err != nil {
			return IngestResult{}, badRequest("items[%d]: %v", i, err)
		}
		for n := range it.Features {
			names[n] = true
		}
	}
	if err := s.checkCatalog(ctx, store.FeaturesOfItems, names); err != nil {
		return IngestResult{}, err
	}
	if _, err := s.d.Ingest.PutItems(ctx, items); err != nil {
		return IngestResult{}, err
	}
	return IngestResult{Received: len(items), Written: len(items)}, nil
}

// IngestUsers validates users and stores them, as IngestItems.
func (s *Server) IngestUsers(ctx context.Context, users []store.User) (IngestResult, error) {
	if len(users) == 0 {
		return IngestResult{}, badRequest("users: empty list")
	}
	names := map[string]bool{}
	for i, u := range users {
		if err := u.Validate(); err != nil {
			return IngestResult{}, badRequest("users[%d]: %v", i, err)
		}
		if err := s.d.Limits.CheckUser(u); err != nil {
			return IngestResult{}, badRequest("users[%d]: %v", i, err)
		}
		for n := range u.Features {
			names[n] = true
		}
	}
	if err := s.checkCatalog(ctx, store.FeaturesOfUsers, names); err != nil {
		return IngestResult{}, err
	}
	if _, err := s.d.Ingest.PutUsers(ctx, users); err != nil {
		return IngestResult{}, err
	}
	return IngestResult{Received: len(users), Written: len(users)}, nil
}

// IngestEvents validates events and stores the new ones; an event
// without a time gets the time of ingestion. key, when not empty, is the
// batch's idempotency key: a retry of the batch with the same key stores
// each event once and answers for the whole batch, and an event without an
// ID gets one derived from the key and its index (store.KeyedEventID).
//
// Nothing is written when an event is invalid (a bad request) or an event
// ID is stored, or repeated in the batch, with other content (a conflict,
// 409, naming it). A batch cut midway (Redis gone) is an error that says
// how far it got (see PartialError).
func (s *Server) IngestEvents(ctx context.Context, events []store.Event, key string) (IngestResult, error) {
	if len(events) == 0 {
		return IngestResult{}, badRequest("events: empty list")
	}
	if key != "" {
		if err := store.CheckIdempotencyKey(key); err != nil {
			return IngestResult{}, badRequest("%v", err)
		}
	}
	now := time.Now().UTC()
	for i := range events {
		if events[i].Time.IsZero() {
			events[i].Time, events[i].TimeUnknown = now, true
		}
		if err := events[i].Validate(); err != nil {
			return IngestResult{}, badRequest("events[%d]: %v", i, err)
		}
		if err := s.d.Limits.CheckEvent(events[i], now); err != nil {
			return IngestResult{}, badRequest("events[%d]: %v", i, err)
		}
	}
	res, err := s.d.Ingest.AddEventBatch(ctx, events, key)
	if err != nil {
		var be *store.BatchError
		if errors.As(err, &be) {
			s.metrics.events.Add(float64(be.Written))
			return IngestResult{}, &PartialError{
				Result: IngestResult{Received: len(events), Written: be.Written, Duplicates: be.Duplicates},
				Next:   be.Next, Err: be,
			}
		}
		return IngestResult{}, err
	}
	if !res.Replayed {
		s.metrics.events.Add(float64(res.Written))
	}
	return IngestResult{Received: len(events), Written: res.Written, Duplicates: res.Duplicates, Replayed: res.Replayed}, nil
}

// checkCatalog refuses a batch whose feature names would take the
// catalogue's distinct feature names of kind over the limit. It is checked
// before the write, so concurrent batches may together pass it by the
// names they add.
func (s *Server) checkCatalog(ctx context.Context, kind string, names map[string]bool) error {
	if s.d.Features == nil || len(names) == 0 {
		return nil
	}
	list := make([]string, 0, len(names))
	for n := range names {
		list = append(list, n)
	}
	slices.Sort(list)
	have, unseen, err := s.d.Features.FeatureNames(ctx, kind, list)
	if err != nil {
		return err
	}
	if max := s.d.Limits.MaxCatalogFeatures; have+len(unseen) > max {
		return badRequest("%s: the batch brings %d new feature names (%s) to the %d stored, over the limit of %d distinct names (max_catalog_features)",
			kind, len(unseen), quoteNames(unseen, 5), have, max)
	}
	return nil
}

// quoteNames lists names quoted, the first limit of them, and how many
// more.
func quoteNames(names []string, limit int) string {
	var b strings.Builder
	for i, n := range names[:min(len(names), limit)] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", n)
	}
	if len(names) > limit {
		fmt.Fprintf(&b, " and %d more", len(names)-limit)
	}
	return b.String()
}

// PartialError is an event batch cut midway: the events before Next were
// processed (Result counts them); those from Next on may or may not be
// stored. Sending the batch again with the same idempotency key, or with
// the same event IDs, stores each event exactly once. It wraps the cause
// (say store.ErrUnavailable, 503).
type PartialError struct {
	Result IngestResult
	Next   int
	Err    error
}

func (e *PartialError) Error() string { return e.Err.Error() }

func (e *PartialError) Unwrap() error { return e.Err }

// Recommend ranks items for a user (see recommend.Ranker.Recommend).
func (s *Server) Recommend(ctx context.Context, req recommend.Request) (recommend.Response, error) {
	if err := s.d.Limits.CheckID("user", req.User); err != nil && req.User != "" {
		return recommend.Response{}, badRequest("%v", err)
	}
	if err := s.d.Limits.CheckCandidates(req.Candidates); err != nil {
		return recommend.Response{}, badRequest("%v", err)
	}
	resp, err := s.d.Recommender.Recommend(ctx, req)
	if err != nil {
		return resp, err
	}
	if resp.FallbackReason != "" {
		s.metrics.fallbacks.Inc()
	}
	return resp, nil
}

// ModelList answers GET /v1/models.
type ModelList struct {
	Serving  string              `json:"serving"`
	Previous string              `json:"previous,omitempty"`
	Models   []store.ModelRecord `json:"models"`
}

// Models lists the stored serving models and says which one serves.
func (s *Server) Models(ctx context.Context) (ModelList, error) {
	var out ModelList
	cur, prev, err := s.d.Models.Serving(ctx, recommend.ModelName)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return out, err
	}
	if cur != uuid.Nil {
		out.Serving = cur.String()
	}
	if prev != uuid.Nil {
		out.Previous = prev.String()
	}
	models, err := s.d.Models.ListModels(ctx, recommend.ModelName)
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

// Model returns the stored model ref names, without its bytes: ref is a
// model id, or a model name ("default") for the model it serves. An
// unknown model is a 404.
func (s *Server) Model(ctx context.Context, ref string) (store.ModelRecord, error) {
	id, err := uuid.Parse(ref)
	if err != nil {
		cur, _, serr := s.d.Models.Serving(ctx, ref)
		if errors.Is(serr, store.ErrNotFound) {
			return store.ModelRecord{}, &httpError{http.StatusNotFound, fmt.Sprintf("no model %q: neither a stored model's id nor the name of a served model", ref)}
		}
		if serr != nil {
			return store.ModelRecord{}, serr
		}
		id = cur
	}
	rec, err := s.d.Models.LoadModel(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.ModelRecord{}, &httpError{http.StatusNotFound, fmt.Sprintf("no model %s", id)}
	}
	if err != nil {
		return store.ModelRecord{}, err
	}
	rec.Bytes = nil
	return rec, nil
}

// Plugins lists the plugins with their state.
func (s *Server) Plugins() []pluginhost.Status {
	list := s.d.Plugins.List()
	if list == nil {
		list = []pluginhost.Status{}
	}
	return list
}

// Rollback serves the model served before the current one again; with
// none it is a conflict (409).
func (s *Server) Rollback(ctx context.Context) (ModelList, error) {
	if err := s.d.Models.Rollback(ctx, recommend.ModelName); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ModelList{}, &httpError{http.StatusConflict, "no previous model to roll back to"}
		}
		return ModelList{}, err
	}
	list, err := s.Models(ctx)
	if err != nil {
		return ModelList{}, err
	}
	s.d.Logger.Info("serving model rolled back", "model", list.Serving, "replaced", list.Previous)
	return list, nil
}

// Health is the answer of GET /v1/health (liveness: the process serves)
// and of GET /v1/ready (readiness: Redis answers and the required plugins
// are up). The details (Redis, plugins, the error) are given only to a
// caller with the API token.
type Health struct {
	OK bool `json:"ok"`
	// Ready is set in answers of /v1/ready.
	Ready   *bool               `json:"ready,omitempty"`
	Redis   *bool               `json:"redis,omitempty"`
	Error   string              `json:"error,omitempty"`
	Plugins []pluginhost.Status `json:"plugins,omitempty"`
	status  int
}

func (h Health) statusCode() int {
	if h.status == 0 {
		return http.StatusOK
	}
	return h.status
}

// Health is the liveness check: it answers while the process serves. With
// details (for a caller with the token) it also says whether Redis answers
// and how the plugins are.
func (s *Server) Health(ctx context.Context, details bool) Health {
	h := Health{OK: true}
	if details {
		err := s.d.Health.Ping(ctx)
		h.fill(err, s.d.Plugins.List())
		if err != nil {
			h.Error = err.Error()
		}
	}
	return h
}

// Ready is the readiness check: Redis answers and every required plugin
// is up; else it answers 503 (over HTTP), saying why to a caller with
// details.
func (s *Server) Ready(ctx context.Context, details bool) Health {
	var problems []string
	pingErr := s.d.Health.Ping(ctx)
	if pingErr != nil {
		problems = append(problems, pingErr.Error())
	}
	list := s.d.Plugins.List()
	for _, name := range s.d.Required {
		up := false
		for _, p := range list {
			if p.Name == name && p.Healthy {
				up = true
			}
		}
		if !up {
			problems = append(problems, fmt.Sprintf("required plugin %s is not up", name))
		}
	}
	ready := len(problems) == 0
	h := Health{OK: ready, Ready: &ready}
	if !ready {
		h.status = http.StatusServiceUnavailable
	}
	switch {
	case details:
		h.fill(pingErr, list)
		h.Error = strings.Join(problems, "; ")
	case !ready:
		h.Error = "not ready (the API token shows why)"
	}
	return h
}

// fill sets the details: whether Redis answered and the plugins' states.
func (h *Health) fill(pingErr error, plugins []pluginhost.Status) {
	up := pingErr == nil
	h.Redis, h.Plugins = &up, plugins
	if h.Plugins == nil {
		h.Plugins = []pluginhost.Status{}
	}
}
