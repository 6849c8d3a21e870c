package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal/ope"
	"github.com/causalrec/causalrec/causal/plot"
	"github.com/causalrec/causalrec/host/api"
	"github.com/causalrec/causalrec/host/causalrec"
	"github.com/causalrec/causalrec/host/progress"
	"github.com/causalrec/causalrec/host/recommend"
)

// serviceOPE is the OPE of serve (POST /v1/ope) and of `ope --redis`: it
// turns the replayed log into causal/ope's log and row policy and runs
// ope.EvaluateContext (which stops when the request ends). It lives in the command because the host's packages do not
// import causal/ (host/imports_test.go). progress, when set, is told the
// bootstrap's progress.
func serviceOPE(progress func(done, total int)) api.OPEFunc {
	return func(ctx context.Context, rp *recommend.Replay, o api.OPEOptions) (api.OPEResult, error) {
		names := o.Estimators
		if len(names) == 0 {
			names = ope.DefaultEstimators
		}
		specs, err := ope.ParseSpecs(strings.Join(names, ","))
		if err != nil {
			return api.OPEResult{}, fmt.Errorf("%w: estimators: %v", recommend.ErrBadRequest, err)
		}
		rm := o.RewardModel
		if rm == "" {
			rm = "logistic"
		}
		model, err := opeRewardModel(rm)
		if err != nil {
			return api.OPEResult{}, fmt.Errorf("%w: reward_model: %v", recommend.ErrBadRequest, err)
		}
		l, pol := replayLog(rp)
		cfg := ope.Config{Estimators: specs, Model: model, Folds: o.Folds, Resamples: o.Bootstrap, Level: o.Level, Progress: progress}
		res, err := ope.EvaluateContext(ctx, l, pol, cfg, rand.NewPCG(o.Seed, 0x09e))
		if err != nil && ctx.Err() != nil {
			return api.OPEResult{}, err // the request's deadline or cancellation
		}
		if errors.Is(err, ope.ErrInput) {
			return api.OPEResult{}, fmt.Errorf("%w: the logged exposures: %v", recommend.ErrBadRequest, err)
		}
		if err != nil {
			// The rest of Evaluate's errors are the reward model's, which
			// the log can make unfittable (every reward 0, say).
			return api.OPEResult{}, fmt.Errorf("%w: the reward model could not be fitted on the logged exposures (%v); estimators without one: ipw, snipw",
				recommend.ErrBadRequest, err)
		}
		return apiOPEResult(res)
	}
}

// replayLog converts a replay into causal/ope's log (positions 1..P become
// 0..P−1; the context is the user features) and the evaluated policy's
// distribution at every row.
func replayLog(rp *recommend.Replay) (*ope.Log, *ope.RowPolicy) {
	n := len(rp.Rows)
	l := &ope.Log{Actions: len(rp.Actions), Positions: rp.Positions, Action: make([]int32, n), Position: make([]int32, n),
		Reward: make([]float64, n), PScore: make([]float64, n)}
	var ctx []float64
	d := len(rp.ContextNames)
	if d > 0 {
		ctx = make([]float64, 0, n*d)
	}
	pol := &ope.RowPolicy{}
	for i, r := range rp.Rows {
		l.Action[i], l.Position[i] = int32(r.Action), int32(r.Position-1)
		l.Reward[i], l.PScore[i] = r.Reward, r.Propensity
		if d > 0 {
			ctx = append(ctx, r.Context...)
		}
		pol.Append(r.Eval, r.EvalProb)
	}
	if d > 0 {
		l.Context = mat.NewDense(n, d, ctx)
	}
	return l, pol
}

// apiOPEResult converts ope's result to the API's, through its JSON so that
// the two are written alike.
func apiOPEResult(res *ope.Result) (api.OPEResult, error) {
	b, err := json.Marshal(res)
	if err != nil {
		return api.OPEResult{}, fmt.Errorf("encode the estimates: %w", err)
	}
	var out api.OPEResult
	if err := json.Unmarshal(b, &out); err != nil {
		return api.OPEResult{}, fmt.Errorf("decode the estimates: %w", err)
	}
	return out, nil
}

// opeService runs `causalrec ope --model`: the host opened on the
// configured Redis evaluates req as POST /v1/ope does, and the result is
// written as the file-based ope writes its own.
func opeService(ctx context.Context, s stdio, hf hostFlags, req api.OPERequest, out, plotPath string) error {
	var format plot.Format
	if plotPath != "" {
		var err error
		if format, err = plotFormat("plot", plotPath); err != nil {
			return err
		}
	}
	cfg, err := hf.load()
	if err != nil {
		return err
	}
	var task *progress.Task
	var report func(done, total int)
	if req.Bootstrap == nil || *req.Bootstrap > 0 {
		task = startTask(s, "ope bootstrap", 0, progress.Options{Unit: "resamples", Delay: time.Second})
		defer task.Done()
		report = func(done, total int) { task.Report(int64(done), int64(total)) }
	}
	h, err := causalrec.Open(ctx, causalrec.Config{Config: cfg, Logger: s.logger, Launch: cliLauncher, OPE: serviceOPE(report)})
	if err != nil {
		return err
	}
	defer h.Close()
	res, err := h.OPE(ctx, req)
	if task != nil {
		task.Done()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(s.err, "model %s (%s, %s): %d exposures in %d lists, %d items, %d positions\n",
		res.ModelID, res.Ranker, res.Policy, res.Rounds, res.Lists, res.Actions, res.Positions)
	ests := make([]plot.Estimate, len(res.Estimates))
	for i, e := range res.Estimates {
		ests[i] = plot.Estimate{Name: e.Estimator, Value: numOr(e.Value), Lo: numOr(e.CI[0]), Hi: numOr(e.CI[1])}
	}
	return writeOPE(s, res, ests, res.LoggedValue, res.Level, out, plotPath, format)
}

// numOr returns *p, or NaN for nil.
func numOr(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}
