package recommend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/fitcheck"
	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/plugins"
)

// ErrNoData reports that the store holds too little to train on.
var ErrNoData = errors.New("not enough logged data to train")

// The estimator a model is trained with when nothing else is configured:
// the t-learner of the built-in estimator plugin.
const (
	DefaultEstimatorPlugin = "causal"
	DefaultEstimator       = "t"
)

// TrainOptions choose the estimator a model is trained with.
type TrainOptions struct {
	Plugin    string
	Estimator string
	Params    map[string]string
	Seed      uint64
	// Ranker is the ranker to train (see Rankers; empty means RankUplift).
	Ranker string
	// Text chooses the text features.
	Text TextOptions
	// Period, when positive, splits time into windows of this length: a
	// training row is then a (user, item, period) triple, treated when the
	// item was shown to the user in that period and engaged when the user
	// engaged with it in that period. Zero makes the whole log one period.
	Period time.Duration
	// Progress, when set, is told the stage of the training and its count
	// of items (total 0 when unknown), e.g. ("reading events", 20000, 1e6).
	Progress Progress
	// Lease, when set, is the lease on the serving name ModelName the
	// training holds: the model becomes the serving one only while the
	// lease is current (store.SetServingFenced). A stale lease's model is
	// stored but not served, and Train's error wraps store.ErrFenced.
	Lease *store.Lease
}

// Progress receives the stages of a training and their counts.
type Progress func(stage string, done, total int64)

// report calls p when it is set.
func (p Progress) report(stage string, done, total int64) {
	if p != nil {
		p(stage, done, total)
	}
}

// TrainResult describes a trained and stored model.
type TrainResult struct {
	ModelID   uuid.UUID `json:"model_id"`
	Previous  uuid.UUID `json:"previous_model_id"`
	Rows      int       `json:"rows"`
	Treated   int       `json:"treated"`
	Control   int       `json:"control"`
	Features  []string  `json:"features"`
	Estimator string    `json:"estimator"`
	// Propensity says where the treated rows' propensities came from:
	// "logged" (every treated row had one), "estimated" (none or only some
	// had, so the estimator estimates them from the features).
	Propensity string            `json:"propensity"`
	Events     int               `json:"events"`
	Seconds    float64           `json:"seconds"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	// Ranker names what the model ranks by, as responses name it:
	// "uplift:<estimator>", "dlce", "outcome", "outcome-ips" or
	// "popularity".
	Ranker string `json:"ranker"`
	// Text says which text features the model uses and which were
	// skipped.
	Text TextReport `json:"text"`
}

// Train builds the table, fits the model of opts.Ranker through the
// estimator plugin est (no fit for popularity, which needs no est), stores
// the model and makes it the serving model; the previous serving model
// stays stored for rollback. A fit the plugin refuses for too little data
// is an error wrapping ErrNoData.
func Train(ctx context.Context, st *store.Store, est plugins.Estimator, opts TrainOptions, logger *slog.Logger) (TrainResult, error) {
	start := time.Now()
	ranker := opts.Ranker
	if ranker == "" {
		ranker = RankUplift
	}
	if !slices.Contains(Rankers, ranker) {
		return TrainResult{}, fmt.Errorf("%w: unknown ranker %q (want %s)", ErrBadRequest, ranker, strings.Join(Rankers, ", "))
	}
	estimator := opts.Estimator
	switch ranker {
	case RankDLCE:
		estimator = "dlce"
	case RankOutcome, RankOutcomeIPS, RankPopularity:
		estimator = ranker
	}
	text := opts.Text
	if ranker == RankPopularity {
		text.Mode = TextOff
	}
	t, err := BuildTable(ctx, st, TableOptions{Period: opts.Period, Text: text, IDs: ranker == RankDLCE, Progress: opts.Progress}, logger)
	if err != nil {
		return TrainResult{}, err
	}
	propSource := "estimated"
	if t.LoggedPropensity {
		propSource = "logged"
	}
	logger.Info("training table built", "rows", len(t.Request.Arm), "treated", t.Treated, "control", t.Control, "features", len(t.Features))
	req := t.Request
	req.Estimator, req.Params, req.Seed = estimator, opts.Params, opts.Seed
	var model []byte
	var fitMeta map[string]string
	plugin, pluginVersion := opts.Plugin, ""
	switch ranker {
	case RankPopularity:
		plugin = ""
	default:
		if est == nil {
			return TrainResult{}, fmt.Errorf("ranker %s needs the estimator plugin %s", ranker, opts.Plugin)
		}
		switch ranker {
		case RankOutcomeIPS:
			if !t.LoggedPropensity {
				return TrainResult{}, fmt.Errorf("%w: outcome-ips needs a logged propensity on every exposure", ErrNoData)
			}
			fallthrough
		case RankOutcome:
			// The outcome rankers take no parameters: those configured
			// are the uplift estimator's.
			req.Params = nil
		case RankDLCE:
			req.Params = maps.Clone(req.Params)
			if req.Params == nil {
				req.Params = map[string]string{}
			}
			req.Params["user_col"] = fmt.Sprint(slices.Index(t.Features, featUserID))
			req.Params["item_col"] = fmt.Sprint(slices.Index(t.Features, featItemID))
		}
		info, err := est.Info(ctx, plugins.InfoRequest{})
		if err != nil {
			return TrainResult{}, fmt.Errorf("estimator plugin %s: %w", opts.Plugin, err)
		}
		pluginVersion = info.Version
		stage := fmt.Sprintf("fitting %s on %d rows", estimator, len(req.Arm))
		opts.Progress.report(stage, 0, 0)
		if opts.Progress != nil {
			// The plugin's own steps (trees, rounds, epochs), when it
			// reports them.
			req.Progress = func(done, total int) { opts.Progress.report(stage, int64(done), int64(total)) }
		}
		fit, err := est.Fit(ctx, req)
		if errors.Is(err, plugins.ErrInsufficientData) {
			return TrainResult{}, fmt.Errorf("%w: fit %s with plugin %s: %w", ErrNoData, estimator, opts.Plugin, err)
		}
		if errors.Is(err, plugins.ErrInvalid) {
			// The plugin refused the estimator or its parameters.
			return TrainResult{}, fmt.Errorf("%w: fit %s with plugin %s: %w", ErrBadRequest, estimator, opts.Plugin, err)
		}
		if err != nil {
			return TrainResult{}, fmt.Errorf("fit %s with plugin %s: %w", estimator, opts.Plugin, err)
		}
		model, fitMeta = fit.Model, fit.Metadata
		// A model that learned nothing ranks nobody: say so in the log
		// and in its metadata.
		if chk, err := fitcheck.Check(ctx, est, req, model); err != nil {
			logger.Warn("the model was not checked for a constant effect", "estimator", estimator, "err", err)
		} else if w := chk.Warning(); w != "" {
			logger.Warn("model learned nothing", "estimator", estimator, "warning", w)
			fitMeta = maps.Clone(fitMeta)
			if fitMeta == nil {
				fitMeta = map[string]string{}
			}
			maps.Copy(fitMeta, chk.Metadata())
		}
	}
	// Weak overlap of the arms, as the estimator plugin measured it (the
	// built-in one does for every uplift estimator), is a warning.
	for _, key := range []string{"overlap_warning", "auto_overlap_warning"} {
		if w := fitMeta[key]; w != "" {
			logger.Warn("weak overlap", "estimator", estimator, "warning", w)
		}
	}
	opts.Progress.report("saving the model", 0, 0)
	if err := st.PutNeighbors(ctx, t.Neighbors); err != nil {
		return TrainResult{}, err
	}
	meta, err := ModelMeta{
		Features: t.Features, Ranker: ranker, Rows: len(req.Arm), Treated: t.Treated, Control: t.Control, Events: t.Events,
		Propensity: propSource, Period: opts.Period, Text: t.Text, Defaults: t.Defaults, Fit: fitMeta,
	}.encode()
	if err != nil {
		return TrainResult{}, err
	}
	id, err := st.SaveModel(ctx, store.ModelRecord{
		Name: ModelName, Estimator: estimator, Plugin: plugin, PluginVersion: pluginVersion,
		CreatedAt: time.Now().UTC(), Metadata: meta, Bytes: model,
	})
	if err != nil {
		return TrainResult{}, err
	}
	if plugin != "" {
		// A sample of the table, so that the model can be explained later.
		b, err := json.Marshal(sampleTable(t, SampleRows, opts.Seed))
		if err != nil {
			return TrainResult{}, fmt.Errorf("training sample: %w", err)
		}
		if err := st.PutModelSample(ctx, id, b); err != nil {
			return TrainResult{}, err
		}
	}
	if opts.Lease != nil {
		err = st.SetServingFenced(ctx, ModelName, id, opts.Lease.Token)
	} else {
		err = st.SetServing(ctx, ModelName, id)
	}
	if err != nil {
		return TrainResult{}, err
	}
	_, prev, err := st.Serving(ctx, ModelName)
	if err != nil {
		return TrainResult{}, err
	}
	return TrainResult{
		ModelID: id, Previous: prev, Rows: len(req.Arm), Treated: t.Treated, Control: t.Control,
		Features: t.Features, Estimator: estimator, Seconds: time.Since(start).Seconds(), Metadata: meta,
		Propensity: propSource, Events: t.Events, Ranker: RankerName(ranker, estimator), Text: t.Text,
	}, nil
}
