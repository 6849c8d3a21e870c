package api

import (
	"context"
	"errors"
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
}

// IngestItems validates items and stores them; an empty or invalid list is
// an error wrapping ErrBadRequest that writes nothing.
func (s *Server) IngestItems(ctx context.Context, items []store.Item) (IngestResult, error) {
	if len(items) == 0 {
		return IngestResult{}, badRequest("items: empty list")
	}
	for i, it := range items {
		if err := it.Validate(); err != nil {
			return IngestResult{}, badRequest("items[%d]: %v", i, err)
		}
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
	for i, u := range users {
		if err := u.Validate(); err != nil {
			return IngestResult{}, badRequest("users[%d]: %v", i, err)
		}
	}
	if _, err := s.d.Ingest.PutUsers(ctx, users); err != nil {
		return IngestResult{}, err
	}
	return IngestResult{Received: len(users), Written: len(users)}, nil
}

// IngestEvents validates events and stores the new ones; an event
// without a time gets the time of ingestion.
func (s *Server) IngestEvents(ctx context.Context, events []store.Event) (IngestResult, error) {
	if len(events) == 0 {
		return IngestResult{}, badRequest("events: empty list")
	}
	now := time.Now().UTC()
	for i := range events {
		if events[i].Time.IsZero() {
			events[i].Time, events[i].TimeUnknown = now, true
		}
		if err := events[i].Validate(); err != nil {
			return IngestResult{}, badRequest("events[%d]: %v", i, err)
		}
	}
	added, err := s.d.Ingest.AddEvents(ctx, events)
	if err != nil {
		return IngestResult{}, err
	}
	s.metrics.events.Add(float64(added))
	return IngestResult{Received: len(events), Written: added, Duplicates: len(events) - added}, nil
}

// Recommend ranks items for a user (see recommend.Ranker.Recommend).
func (s *Server) Recommend(ctx context.Context, req recommend.Request) (recommend.Response, error) {
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

// Train trains a serving model with the configured Trainer; an unknown
// ranker is a bad request, too little data a conflict (409).
func (s *Server) Train(ctx context.Context, req TrainRequest) (recommend.TrainResult, error) {
	if s.d.Train == nil {
		return recommend.TrainResult{}, &httpError{http.StatusNotImplemented, "training is not configured"}
	}
	if req.Ranker != "" && !slices.Contains(recommend.Rankers, req.Ranker) {
		return recommend.TrainResult{}, badRequest("unknown ranker %q (want %s)", req.Ranker, strings.Join(recommend.Rankers, ", "))
	}
	res, err := s.d.Train(ctx, req)
	if err != nil {
		return recommend.TrainResult{}, err
	}
	s.d.Logger.Info("model trained and serving", "model", res.ModelID, "previous", res.Previous, "ranker", res.Ranker, "rows", res.Rows, "seconds", res.Seconds)
	return res, nil
}

// Health is the answer of /v1/health.
type Health struct {
	OK      bool                `json:"ok"`
	Redis   bool                `json:"redis"`
	Error   string              `json:"error,omitempty"`
	Plugins []pluginhost.Status `json:"plugins"`
}

// Health reports whether Redis answers and the state of the plugins.
func (s *Server) Health(ctx context.Context) Health {
	h := Health{Redis: true, Plugins: s.d.Plugins.List()}
	if err := s.d.Health.Ping(ctx); err != nil {
		h.Redis, h.Error = false, err.Error()
	}
	h.OK = h.Redis
	return h
}
