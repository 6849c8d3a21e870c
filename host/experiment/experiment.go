package experiment

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

// The metrics an experiment can measure per assigned user, counting events
// after the user's assignment (and before the experiment stopped).
const (
	// MetricOutcomes counts the user's outcome events.
	MetricOutcomes = "outcomes"
	// MetricValue sums the values of the user's outcome events.
	MetricValue = "value"
	// MetricExposures counts the user's exposure events.
	MetricExposures = "exposures"
)

// Metrics lists the metric names.
var Metrics = []string{MetricOutcomes, MetricValue, MetricExposures}

// ErrBadRequest reports an experiment that cannot be created as asked; it
// is recommend.ErrBadRequest, so that the API answers 400.
var ErrBadRequest = recommend.ErrBadRequest

// MaxIDBytes bounds an experiment ID.
const MaxIDBytes = 64

// ArmRequest is one arm of a CreateRequest.
type ArmRequest struct {
	Name string `json:"name"`
	// Model is a stored model's ID or a serving name (the model served
	// under it when the experiment is created).
	Model       string  `json:"model"`
	Weight      float64 `json:"weight"`
	Policy      string  `json:"policy,omitempty"`
	Epsilon     float64 `json:"epsilon,omitempty"`
	Temperature float64 `json:"temperature,omitempty"`
}

// CreateRequest is the body of POST /v1/experiments. The first arm is the
// baseline.
type CreateRequest struct {
	ID   string       `json:"id"`
	Arms []ArmRequest `json:"arms"`
	// Salt seeds the positions within the experiment (default: the ID).
	Salt string `json:"salt,omitempty"`
	// Coverage is the share of the namespace's users in the experiment
	// (default 1).
	Coverage *float64 `json:"coverage,omitempty"`
	// Namespace is the [lo, hi) of the global hash space (default [0, 1)).
	Namespace *[2]float64 `json:"namespace,omitempty"`
	// Metric is what is compared (default "outcomes").
	Metric string `json:"metric,omitempty"`
	// Guardrails are further metrics reported beside it.
	Guardrails []string `json:"guardrails,omitempty"`
}

// ModelSource finds the models arms name.
type ModelSource interface {
	LoadModel(ctx context.Context, id uuid.UUID) (store.ModelRecord, error)
	Serving(ctx context.Context, name string) (current, previous uuid.UUID, err error)
}

// weightTolerance is how far the weights' sum may be from 1.
const weightTolerance = 1e-9

// validID reports whether id is a usable experiment ID: 1 to MaxIDBytes
// letters, digits, '-', '_' or '.'.
func validID(id string) bool {
	if id == "" || len(id) > MaxIDBytes {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func bad(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, a...))
}

// Build validates req, fills in its defaults and resolves the arms' models
// through models, returning the experiment to store, running since now.
// Every problem is an error wrapping ErrBadRequest that names it.
func Build(ctx context.Context, req CreateRequest, models ModelSource, now time.Time) (store.Experiment, error) {
	e := store.Experiment{ID: req.ID, Salt: req.Salt, Coverage: 1, Namespace: [2]float64{0, 1},
		Metric: req.Metric, Guardrails: req.Guardrails, Status: store.ExperimentRunning, StartedAt: now.UTC()}
	if !validID(req.ID) {
		return e, bad("id %q: want 1 to %d letters, digits, '-', '_' or '.'", req.ID, MaxIDBytes)
	}
	if e.Salt == "" {
		e.Salt = e.ID
	}
	if !utf8.ValidString(e.Salt) || strings.IndexByte(e.Salt, 0) >= 0 || len(e.Salt) > store.MaxIDBytes {
		return e, bad("salt must be UTF-8 without NUL, at most %d bytes", store.MaxIDBytes)
	}
	if req.Coverage != nil {
		e.Coverage = *req.Coverage
		if !(e.Coverage > 0 && e.Coverage <= 1) {
			return e, bad("coverage %v must be in (0, 1]", e.Coverage)
		}
	}
	if req.Namespace != nil {
		e.Namespace = *req.Namespace
		lo, hi := e.Namespace[0], e.Namespace[1]
		if !(lo >= 0 && lo < hi && hi <= 1) {
			return e, bad("namespace [%v, %v) must satisfy 0 <= lo < hi <= 1", lo, hi)
		}
	}
	if e.Metric == "" {
		e.Metric = MetricOutcomes
	}
	if !isMetric(e.Metric) {
		return e, bad("unknown metric %q (want one of %s)", e.Metric, strings.Join(Metrics, ", "))
	}
	for _, g := range e.Guardrails {
		if !isMetric(g) {
			return e, bad("unknown guardrail metric %q (want one of %s)", g, strings.Join(Metrics, ", "))
		}
	}
	if len(req.Arms) < 2 {
		return e, bad("%d arms: an experiment needs at least 2 (the first is the baseline)", len(req.Arms))
	}
	names := map[string]bool{}
	var sum float64
	for i, a := range req.Arms {
		switch {
		case a.Name == "" || len(a.Name) > store.MaxIDBytes || !utf8.ValidString(a.Name):
			return e, bad("arms[%d]: name must be 1 to %d bytes of UTF-8", i, store.MaxIDBytes)
		case names[a.Name]:
			return e, bad("arms[%d]: arm name %q is used twice; arm names must be unique", i, a.Name)
		case !(a.Weight > 0) || math.IsInf(a.Weight, 0):
			return e, bad("arm %q: weight %v must be positive", a.Name, a.Weight)
		case a.Model == "":
			return e, bad("arm %q: model is required (a model id or a serving name)", a.Name)
		}
		if err := recommend.ValidatePolicy(a.Policy, a.Epsilon, a.Temperature); err != nil {
			return e, fmt.Errorf("arm %q: %w", a.Name, err)
		}
		names[a.Name] = true
		sum += a.Weight
		id, err := resolveModel(ctx, models, a.Model)
		if err != nil {
			return e, fmt.Errorf("arm %q: %w", a.Name, err)
		}
		e.Arms = append(e.Arms, store.ExperimentArm{Name: a.Name, Model: a.Model, ModelID: id.String(),
			Weight: a.Weight, Policy: a.Policy, Epsilon: a.Epsilon, Temperature: a.Temperature})
	}
	if math.Abs(sum-1) > weightTolerance {
		return e, bad("arm weights sum to %v, want 1", sum)
	}
	return e, nil
}

func isMetric(m string) bool {
	for _, x := range Metrics {
		if m == x {
			return true
		}
	}
	return false
}

// resolveModel returns the ID of the model named by ref: a stored model's
// ID, or the model served under the serving name ref.
func resolveModel(ctx context.Context, models ModelSource, ref string) (uuid.UUID, error) {
	if id, err := uuid.Parse(ref); err == nil {
		if _, err := models.LoadModel(ctx, id); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return uuid.Nil, bad("model %s does not exist", id)
			}
			return uuid.Nil, err
		}
		return id, nil
	}
	cur, _, err := models.Serving(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return uuid.Nil, bad("model %q is neither a stored model id nor a serving name with a model", ref)
	}
	return cur, err
}

// ArmOf returns the index of the arm of e a user at experiment position p
// (Position(e.Salt, user)) falls in, or -1 when p is outside the coverage.
func ArmOf(e store.Experiment, p float64) int {
	if p >= e.Coverage {
		return -1
	}
	r := p / e.Coverage
	var cum float64
	for i, a := range e.Arms {
		cum += a.Weight
		if r < cum {
			return i
		}
	}
	return len(e.Arms) - 1 // rounding of the weights' sum
}

// InNamespace reports whether the global position g lies in e's
// namespace.
func InNamespace(e store.Experiment, g float64) bool {
	return g >= e.Namespace[0] && g < e.Namespace[1]
}
