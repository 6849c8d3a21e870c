package api

import (
	"context"
	"net/http"

	"github.com/causalrec/causalrec/host/experiment"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

// Experiments runs the online experiments (*experiment.Service is one).
type Experiments interface {
	Create(ctx context.Context, req experiment.CreateRequest) (store.Experiment, error)
	Get(ctx context.Context, id string) (store.Experiment, error)
	List(ctx context.Context) ([]store.Experiment, error)
	Stop(ctx context.Context, id string) (store.Experiment, error)
	Route(ctx context.Context, user string) (*experiment.Route, error)
	Log(ctx context.Context, r *experiment.Route, resp *recommend.Response) error
	Report(ctx context.Context, id string) (experiment.Report, error)
}

// ExperimentList answers GET /v1/experiments.
type ExperimentList struct {
	Experiments []store.Experiment `json:"experiments"`
}

// created is an answer with status 201.
type created struct{ store.Experiment }

func (created) statusCode() int { return http.StatusCreated }

func (s *Server) experiments() (Experiments, error) {
	if s.d.Experiments == nil {
		return nil, &httpError{http.StatusNotImplemented, "experiments are not configured"}
	}
	return s.d.Experiments, nil
}

// CreateExperiment validates and starts an experiment: a problem with it
// is a bad request naming it, an ID in use or a namespace overlapping a
// running experiment's a conflict (409).
func (s *Server) CreateExperiment(ctx context.Context, req experiment.CreateRequest) (store.Experiment, error) {
	x, err := s.experiments()
	if err != nil {
		return store.Experiment{}, err
	}
	e, err := x.Create(ctx, req)
	if err != nil {
		return e, err
	}
	s.d.Logger.Info("experiment started", "id", e.ID, "arms", len(e.Arms), "coverage", e.Coverage)
	return e, nil
}

// Experiment returns an experiment (404 when there is none).
func (s *Server) Experiment(ctx context.Context, id string) (store.Experiment, error) {
	x, err := s.experiments()
	if err != nil {
		return store.Experiment{}, err
	}
	return x.Get(ctx, id)
}

// ListExperiments lists every experiment, oldest first.
func (s *Server) ListExperiments(ctx context.Context) (ExperimentList, error) {
	x, err := s.experiments()
	if err != nil {
		return ExperimentList{}, err
	}
	all, err := x.List(ctx)
	if all == nil {
		all = []store.Experiment{}
	}
	return ExperimentList{Experiments: all}, err
}

// StopExperiment stops an experiment; its data and report stay.
func (s *Server) StopExperiment(ctx context.Context, id string) (store.Experiment, error) {
	x, err := s.experiments()
	if err != nil {
		return store.Experiment{}, err
	}
	e, err := x.Stop(ctx, id)
	if err == nil {
		s.d.Logger.Info("experiment stopped", "id", id)
	}
	return e, err
}

// ExperimentReport analyses an experiment's data (see experiment.Report).
func (s *Server) ExperimentReport(ctx context.Context, id string) (experiment.Report, error) {
	x, err := s.experiments()
	if err != nil {
		return experiment.Report{}, err
	}
	return x.Report(ctx, id)
}

// routeExperiment returns the experiment arm req's user is in (nil when none, or
// when no experiments are configured) and sets req to the arm's model and
// policy. An invalid request is left for the ranker to refuse, without
// assigning its user.
func (s *Server) routeExperiment(ctx context.Context, req *recommend.Request) (*experiment.Route, error) {
	if s.d.Experiments == nil || req.Validate() != nil {
		return nil, nil
	}
	r, err := s.d.Experiments.Route(ctx, req.User)
	if err != nil || r == nil {
		return nil, err
	}
	r.Apply(req)
	return r, nil
}

func (s *Server) handleCreateExperiment(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req experiment.CreateRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	e, err := s.CreateExperiment(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return created{e}, nil
}

func (s *Server) handleListExperiments(_ http.ResponseWriter, r *http.Request) (any, error) {
	return s.ListExperiments(r.Context())
}

func (s *Server) handleGetExperiment(_ http.ResponseWriter, r *http.Request) (any, error) {
	return s.Experiment(r.Context(), r.PathValue("id"))
}

func (s *Server) handleStopExperiment(_ http.ResponseWriter, r *http.Request) (any, error) {
	return s.StopExperiment(r.Context(), r.PathValue("id"))
}

func (s *Server) handleExperimentReport(_ http.ResponseWriter, r *http.Request) (any, error) {
	return s.ExperimentReport(r.Context(), r.PathValue("id"))
}
