package api

import (
	"context"
	"math"
	"net/http"
	"strings"

	"github.com/causalrec/causalrec/host/recommend"
)

// Replayer replays the logged lists with a stored model
// (*recommend.Ranker).
type Replayer interface {
	Replay(ctx context.Context, req recommend.ReplayRequest) (*recommend.Replay, error)
}

// OPEOptions are the estimation settings of an OPE request, as the flags
// of `causalrec ope`.
type OPEOptions struct {
	// Estimators lists the estimators (empty: the default list of
	// `causalrec ope`).
	Estimators []string
	// RewardModel is the reward model of dm and the dr family ("":
	// logistic).
	RewardModel string
	Folds       int
	Bootstrap   int
	Level       float64
	Seed        uint64
}

// OPEFunc estimates the value of the replayed policy from the replay's
// rows. The numeric part of off-policy evaluation lives outside the host's
// packages (causal/ope, which they do not import): `causalrec serve`
// passes one in (causalrec.Config.OPE). A bad estimator or reward model,
// or a log the estimators cannot use, is an error wrapping
// recommend.ErrBadRequest.
type OPEFunc func(ctx context.Context, rp *recommend.Replay, opts OPEOptions) (OPEResult, error)

// OPERequest is the body of POST /v1/ope.
type OPERequest struct {
	// Model is the stored model evaluated: its id, or a model name
	// ("default") for the model it serves.
	Model string `json:"model"`
	// Policy, Epsilon and Temperature place the items, as in
	// /v1/recommend (default greedy).
	Policy      string  `json:"policy,omitempty"`
	Epsilon     float64 `json:"epsilon,omitempty"`
	Temperature float64 `json:"temperature,omitempty"`
	// Candidates are the items the model places at every logged list
	// (default: every stored item, at most 1,000).
	Candidates []string `json:"candidates,omitempty"`
	// IncludeConsumed keeps the items the user engaged with before the
	// list, as in /v1/recommend.
	IncludeConsumed bool `json:"include_consumed,omitempty"`
	// PolicyID keeps only the exposures logged with this policy_id.
	PolicyID string `json:"policy_id,omitempty"`
	// Samples is the number of placements drawn per list for a random
	// policy (default 1,000).
	Samples int `json:"samples,omitempty"`
	// Estimators, RewardModel, Folds, Bootstrap, Level and Seed are those
	// of `causalrec ope` (defaults: ipw,snipw,dm,dr,sndr,switch-dr,dros;
	// logistic; 3; 1000; 0.95; 1).
	Estimators  []string `json:"estimators,omitempty"`
	RewardModel string   `json:"reward_model,omitempty"`
	Folds       int      `json:"folds,omitempty"`
	Bootstrap   *int     `json:"bootstrap,omitempty"`
	Level       float64  `json:"level,omitempty"`
	Seed        *uint64  `json:"seed,omitempty"`
}

// Defaults of OPERequest.
const (
	DefaultOPEFolds     = 3
	DefaultOPEBootstrap = 1000
	DefaultOPELevel     = 0.95
	DefaultOPESeed      = 1
)

// OPEResult answers POST /v1/ope: the JSON of `causalrec ope` (rounds to
// mean_weight) and what was evaluated.
type OPEResult struct {
	Rounds      int           `json:"rounds"`
	Positions   int           `json:"positions"`
	Actions     int           `json:"actions"`
	LoggedValue float64       `json:"logged_value"`
	Estimates   []OPEEstimate `json:"estimates"`
	Level       float64       `json:"level"`
	Bootstrap   int           `json:"bootstrap"`
	MeanWeight  float64       `json:"mean_weight"`
	// ModelID, Ranker and Policy say what was evaluated; Lists counts the
	// logged lists, Skipped the exposures left out.
	ModelID string                  `json:"model_id"`
	Ranker  string                  `json:"ranker"`
	Policy  string                  `json:"policy"`
	Lists   int                     `json:"lists"`
	Skipped recommend.ReplaySkipped `json:"skipped"`
	// Warnings holds what scoring the lists warned of.
	Warnings []string `json:"warnings"`
}

// OPEEstimate is one estimator's estimate, as `causalrec ope` writes it
// (docs/ope.md): numbers that are not finite are null.
type OPEEstimate struct {
	Estimator       string      `json:"estimator"`
	Value           *float64    `json:"value"`
	CI              [2]*float64 `json:"ci"`
	SE              *float64    `json:"se"`
	ESS             *float64    `json:"ess"`
	MaxWeight       *float64    `json:"max_weight"`
	Warnings        []string    `json:"warnings"`
	P99Weight       *float64    `json:"p99_weight"`
	ZeroWeightShare *float64    `json:"zero_weight_share"`
	NormalCI        [2]*float64 `json:"ci_normal"`
	Interval        string      `json:"interval"`
	// Lambda is the λ of the switching and shrinking estimators: a number,
	// or "inf"; absent for the others.
	Lambda any `json:"lambda,omitempty"`
}

// LambdaValue returns the estimate's λ: NaN when it has none, +Inf for
// "inf".
func (e OPEEstimate) LambdaValue() float64 {
	switch v := e.Lambda.(type) {
	case float64:
		return v
	case string:
		if v == "inf" {
			return math.Inf(1)
		}
	}
	return math.NaN()
}

// OPE estimates what a stored model, placing items as /v1/recommend does,
// would have earned on the exposures logged in the store (see
// recommend.Ranker.Replay and docs/ope.md).
func (s *Server) OPE(ctx context.Context, req OPERequest) (OPEResult, error) {
	if s.d.OPE == nil || s.d.Replayer == nil {
		return OPEResult{}, &httpError{http.StatusNotImplemented, "off-policy evaluation is not configured"}
	}
	opts := OPEOptions{Estimators: req.Estimators, RewardModel: req.RewardModel, Folds: req.Folds,
		Bootstrap: DefaultOPEBootstrap, Level: req.Level, Seed: DefaultOPESeed}
	if req.Bootstrap != nil {
		opts.Bootstrap = *req.Bootstrap
	}
	if req.Seed != nil {
		opts.Seed = *req.Seed
	}
	if opts.Folds == 0 {
		opts.Folds = DefaultOPEFolds
	}
	if opts.Level == 0 {
		opts.Level = DefaultOPELevel
	}
	switch {
	case strings.TrimSpace(req.Model) == "":
		return OPEResult{}, badRequest("model is required: a model id, or %q for the serving model", recommend.ModelName)
	case opts.Folds < 2:
		return OPEResult{}, badRequest("folds=%d must be at least 2", opts.Folds)
	case opts.Bootstrap < 0 || opts.Bootstrap == 1:
		return OPEResult{}, badRequest("bootstrap=%d must be 0 (normal intervals) or at least 2", opts.Bootstrap)
	case opts.Bootstrap > 100_000:
		return OPEResult{}, badRequest("bootstrap=%d is over the limit of 100000", opts.Bootstrap)
	case !(opts.Level > 0 && opts.Level < 1):
		return OPEResult{}, badRequest("level=%v must be in (0, 1)", opts.Level)
	}
	rp, err := s.d.Replayer.Replay(ctx, recommend.ReplayRequest{
		Model: req.Model, Policy: req.Policy, Epsilon: req.Epsilon, Temperature: req.Temperature,
		Candidates: req.Candidates, IncludeConsumed: req.IncludeConsumed, PolicyID: req.PolicyID,
		Samples: req.Samples, Seed: opts.Seed,
	})
	if err != nil {
		return OPEResult{}, err
	}
	res, err := s.d.OPE(ctx, rp, opts)
	if err != nil {
		return OPEResult{}, err
	}
	res.ModelID, res.Ranker, res.Policy, res.Lists, res.Skipped = rp.ModelID, rp.Ranker, rp.Policy, rp.Lists, rp.Skipped
	res.Warnings = rp.Warnings
	if res.Warnings == nil {
		res.Warnings = []string{}
	}
	return res, nil
}

func (s *Server) handleOPE(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req OPERequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.OPE(r.Context(), req)
}
