package recommend

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Request asks for a ranked list for one user.
type Request struct {
	User string `json:"user"`
	// Candidates are the item ids to rank; empty means candidates are
	// generated from the most popular items and the neighbours of the
	// user's recent items.
	Candidates []string `json:"candidates,omitempty"`
	// K is how many items to return (default 10).
	K int `json:"k,omitempty"`
	// IncludeConsumed keeps items the user already engaged with (by
	// default they are left out).
	IncludeConsumed bool `json:"include_consumed,omitempty"`
	// MaxPerCategory caps the items of one category in the list (0: no cap).
	MaxPerCategory int `json:"max_per_category,omitempty"`
	// RelevanceWeight blends in the text relevance of each item to the
	// user's history (from the "lm" text scorer): the list is sorted by
	// uplift + RelevanceWeight·z, z the relevance standardised over the
	// candidates. 0 ranks by uplift alone.
	RelevanceWeight float64 `json:"relevance_weight,omitempty"`
	// Policy places the items: "greedy" (default; the top K, propensity 1),
	// "epsilon-greedy" (each slot takes the best remaining item with
	// probability 1−Epsilon, else a uniformly random remaining one) or
	// "plackett-luce" (each slot draws a remaining item with probability
	// ∝ exp(score/Temperature)). The draws are seeded by the request id.
	Policy      string  `json:"policy,omitempty"`
	Epsilon     float64 `json:"epsilon,omitempty"`
	Temperature float64 `json:"temperature,omitempty"`
	// IntervalLevel, in (0, 1), asks for confidence intervals of the
	// uplift when the estimator gives them.
	IntervalLevel float64 `json:"interval_level,omitempty"`
	// RequestID, when set, names the request (a UUID): the response
	// carries it and the policy's draws are seeded by it, so that the same
	// request with the same id gets the same list from any replica over
	// the same data and model (a retry through a load balancer, say).
	// Empty: a new random id.
	RequestID string `json:"request_id,omitempty"`

	// ModelID, when set, ranks with this stored model instead of the
	// serving one (an experiment's arm). It is not part of the JSON
	// request: the service sets it.
	ModelID uuid.UUID `json:"-"`
	// KeepCandidates asks for the candidates the policy chose from in
	// Response.Considered.
	KeepCandidates bool `json:"-"`
}

// ExperimentRef names the experiment and arm a list was served in.
type ExperimentRef struct {
	ID  string `json:"id"`
	Arm string `json:"arm"`
}

// Ranked is one recommended item.
type Ranked struct {
	Item     string `json:"item"`
	Category string `json:"category,omitempty"`
	// Score is what the policy ranks by: the uplift (blended with
	// relevance when asked), the DLCE score, the predicted outcome of an
	// outcome ranker, or the popularity of a popularity list.
	Score float64 `json:"score"`
	// Uplift is the estimated effect of recommending the item on the
	// user's outcome; present only for uplift rankers.
	Uplift      *float64 `json:"uplift,omitempty"`
	UpliftLower *float64 `json:"uplift_lower,omitempty"`
	UpliftUpper *float64 `json:"uplift_upper,omitempty"`
	// Propensity is the probability with which the policy placed the item
	// at this position, given the items placed before it.
	Propensity float64 `json:"propensity"`
	Position   int     `json:"position"`
}

// Response is a ranked list.
type Response struct {
	RequestID string   `json:"request_id"`
	User      string   `json:"user"`
	Items     []Ranked `json:"items"`
	// Ranker names what produced the scores: "uplift:<estimator>",
	// "dlce", "outcome", "outcome-ips" or "popularity" (the serving
	// model's ranker, or "popularity" in a fallback).
	Ranker string `json:"ranker"`
	Policy string `json:"policy"`
	// FallbackReason says why the list fell back to popularity.
	FallbackReason string   `json:"fallback_reason,omitempty"`
	ModelID        string   `json:"model_id,omitempty"`
	Warnings       []string `json:"warnings,omitempty"`
	// RedisRoundTrips counts the pipelines the request sent to Redis.
	RedisRoundTrips int `json:"redis_round_trips"`
	// Experiment names the experiment and arm of a user in one; the
	// list then comes from the arm's model (ModelID) and policy.
	Experiment *ExperimentRef `json:"experiment,omitempty"`
	// Considered are the candidates the policy chose from, in order, when
	// the request asked for them (KeepCandidates).
	Considered []string `json:"-"`
	// ConsideredScores are the numbers the Considered candidates were
	// ranked by (the greedy order: highest first, ties by item id), in
	// the same order.
	ConsideredScores []float64 `json:"-"`
}

// ErrBadRequest reports a request that cannot be answered as asked.
var ErrBadRequest = errors.New("bad request")

// Limits of one request.
const (
	MaxCandidates = 1000
	MaxK          = 200
)

// The placement policies of Request.Policy.
const (
	PolicyGreedy        = "greedy"
	PolicyEpsilonGreedy = "epsilon-greedy"
	PolicyPlackettLuce  = "plackett-luce"
)

// defaultK is the length of a list when the request gives no K.
const defaultK = 10

// Validate reports the first problem of the request, an error wrapping
// ErrBadRequest, as Ranker.Recommend would.
func (req Request) Validate() error { return req.validate() }

// validate reports the first problem of the request, an error wrapping
// ErrBadRequest; it changes nothing (see withDefaults).
func (req Request) validate() error {
	switch {
	case req.User == "":
		return fmt.Errorf("%w: user is required", ErrBadRequest)
	case len(req.Candidates) > MaxCandidates:
		return fmt.Errorf("%w: %d candidates, at most %d", ErrBadRequest, len(req.Candidates), MaxCandidates)
	case req.K < 0 || req.K > MaxK:
		return fmt.Errorf("%w: k=%d must be in [1, %d]", ErrBadRequest, req.K, MaxK)
	case req.MaxPerCategory < 0:
		return fmt.Errorf("%w: max_per_category=%d is negative", ErrBadRequest, req.MaxPerCategory)
	case math.IsNaN(req.RelevanceWeight) || req.RelevanceWeight < 0:
		return fmt.Errorf("%w: relevance_weight must be a non-negative number", ErrBadRequest)
	case req.IntervalLevel < 0 || req.IntervalLevel >= 1 || math.IsNaN(req.IntervalLevel):
		return fmt.Errorf("%w: interval_level=%v must be in (0, 1)", ErrBadRequest, req.IntervalLevel)
	}
	if req.RequestID != "" {
		if _, err := uuid.Parse(req.RequestID); err != nil {
			return fmt.Errorf("%w: request_id %q is not a UUID", ErrBadRequest, req.RequestID)
		}
	}
	return ValidatePolicy(req.Policy, req.Epsilon, req.Temperature)
}

// ValidatePolicy reports a placement policy that cannot be used: an
// unknown name, or a missing or out-of-range parameter (an error wrapping
// ErrBadRequest). The empty policy is the greedy one.
func ValidatePolicy(policy string, epsilon, temperature float64) error {
	switch policy {
	case "", PolicyGreedy:
	case PolicyEpsilonGreedy:
		if !(epsilon > 0 && epsilon <= 1) {
			return fmt.Errorf("%w: epsilon-greedy needs epsilon in (0, 1], got %v", ErrBadRequest, epsilon)
		}
	case PolicyPlackettLuce:
		if !(temperature > 0) || math.IsInf(temperature, 0) {
			return fmt.Errorf("%w: plackett-luce needs a positive temperature, got %v", ErrBadRequest, temperature)
		}
	default:
		return fmt.Errorf("%w: unknown policy %q (want greedy, epsilon-greedy or plackett-luce)", ErrBadRequest, policy)
	}
	return nil
}

// withDefaults returns the request with its defaults filled in: K 10 and
// the greedy policy.
func (req Request) withDefaults() Request {
	if req.K == 0 {
		req.K = defaultK
	}
	if req.Policy == "" {
		req.Policy = PolicyGreedy
	}
	return req
}

// quoteIDs lists ids quoted, the first limit of them, and how many more.
func quoteIDs(ids []string, limit int) string {
	var b strings.Builder
	for i, id := range ids[:min(len(ids), limit)] {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(id))
	}
	if len(ids) > limit {
		fmt.Fprintf(&b, " and %d more", len(ids)-limit)
	}
	return b.String()
}
