package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/causal/abtest"
	"github.com/causalrec/causalrec/causal/ope"
	"github.com/causalrec/causalrec/host/experiment"
)

// analyzer is the experiment.Analyzer of serve: the statistics of
// causal/abtest (primary metric and guardrails, Holm across both), OPE of
// every arm from every other arm's log with causal/ope, and the uplift
// arm's calibration with causal.Calibrate.
type analyzer struct {
	cfg abtest.Config
	// seed makes the calibration's folds and resamples repeatable.
	seed uint64
}

var _ experiment.Analyzer = analyzer{}

// opeEstimator is the estimator the report shows: self-normalised inverse
// propensity weighting, which needs no reward model.
const opeEstimator = ope.SNIPW

// Analyze implements experiment.Analyzer.
func (a analyzer) Analyze(ctx context.Context, d experiment.Data) (experiment.Report, error) {
	var rep experiment.Report
	arms := make([]abtest.Arm, len(d.Arms))
	for i, x := range d.Arms {
		var exp float64
		for _, v := range x.Exposures {
			exp += v
		}
		arms[i] = abtest.Arm{Name: x.Name, Weight: x.Weight, Y: x.Y, Pre: x.Pre, Pred: x.Pred, Exposures: int(exp)}
	}
	primary, err := abtest.Analyze(arms, a.cfg)
	if errors.Is(err, abtest.ErrEmptyArm) {
		// Waiting for data: the arms as they are, no comparisons.
		for _, x := range d.Arms {
			rep.Arms = append(rep.Arms, experiment.ArmReport{Name: x.Name, ModelID: x.ModelID, Weight: x.Weight, Users: len(x.Users)})
		}
		rep.Comparisons = []experiment.Comparison{}
		rep.Warnings = []string{"waiting for data: every arm needs at least 2 users to compare"}
		return rep, nil
	}
	if err != nil {
		return rep, err
	}
	reports := []*abtest.Report{&primary}
	metrics := []string{d.Experiment.Metric}
	for _, g := range d.Experiment.Guardrails {
		garms := make([]abtest.Arm, len(arms))
		for i, x := range d.Arms {
			garms[i] = abtest.Arm{Name: x.Name, Weight: x.Weight, Y: x.Guardrails[g]}
		}
		gr, err := abtest.Analyze(garms, a.cfg)
		if err != nil {
			return rep, fmt.Errorf("guardrail %s: %w", g, err)
		}
		reports, metrics = append(reports, &gr), append(metrics, g)
	}
	abtest.HolmAcross(reports...)
	// The JSON of abtest's report is the report's; decode it into the
	// host's types.
	raw, err := json.Marshal(primary)
	if err != nil {
		return rep, err
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		return rep, err
	}
	for i := range rep.Arms {
		rep.Arms[i].ModelID = d.Arms[i].ModelID
	}
	for i := range rep.Comparisons {
		rep.Comparisons[i].Metric = metrics[0]
	}
	for k, r := range reports[1:] {
		for _, c := range r.Comparisons {
			raw, err := json.Marshal(c)
			if err != nil {
				return rep, err
			}
			var hc experiment.Comparison
			if err := json.Unmarshal(raw, &hc); err != nil {
				return rep, err
			}
			hc.Metric = metrics[k+1]
			rep.Comparisons = append(rep.Comparisons, hc)
		}
	}
	if d.OPE != nil {
		rep.OPE, rep.Warnings = a.ope(ctx, d.OPE, rep.Warnings)
	}
	if d.Calibration != nil {
		rep.Calibration = a.calibrate(d.Calibration)
	}
	return rep, nil
}

// ope estimates every arm's policy from every other arm's log, beside the
// arm's measured mean reward per list in its own log (a ratio over users,
// abtest.Ratio).
func (a analyzer) ope(ctx context.Context, d *experiment.OPEData, warnings []string) ([]experiment.OPEResult, []string) {
	alpha := a.cfg.WithDefaults().Alpha
	measured := map[string]abtest.RatioResult{}
	for _, lg := range d.Logs {
		num, den := perUser(lg)
		r, err := abtest.Ratio(num, den, alpha)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("ope: arm %s's measured value: %v", lg.Arm, err))
			continue
		}
		measured[lg.Arm] = r
	}
	out := []experiment.OPEResult{}
	for _, lg := range d.Logs {
		if len(lg.Action) == 0 {
			continue
		}
		l := &ope.Log{Actions: len(d.Items), Action: lg.Action, Reward: lg.Reward, PScore: lg.PScore}
		for _, target := range d.Logs {
			if target.Arm == lg.Arm {
				continue
			}
			m, ok := measured[target.Arm]
			if !ok {
				continue
			}
			dist := lg.Targets[target.Arm]
			pol := &ope.RowPolicy{Start: dist.Start, Action: dist.Action, Prob: dist.Prob}
			res, err := ope.EvaluateContext(ctx, l, pol, ope.Config{Estimators: []ope.Spec{{Name: opeEstimator}}, Level: 1 - alpha},
				rand.NewPCG(a.seed, 1))
			if err != nil {
				warnings = append(warnings, fmt.Sprintf("ope: arm %s from arm %s's log: %v", target.Arm, lg.Arm, err))
				continue
			}
			e := res.Estimates[0]
			r := experiment.OPEResult{Target: target.Arm, Logged: lg.Arm, Rounds: res.Rounds, Estimator: e.Estimator,
				Estimate: e.Value, CI: e.CI, Measured: m.Value, MeasuredCI: m.CI, ESS: e.ESS, Warnings: e.Warnings}
			if m.Value != 0 {
				r.RelativeError = (e.Value - m.Value) / m.Value
			}
			r.Within = m.Value >= e.CI[0] && m.Value <= e.CI[1]
			r.SE, r.MeasuredSE = e.SE, m.SE
			d, h := e.Value-m.Value, distuv.UnitNormal.Quantile(1-alpha/2)*math.Hypot(e.SE, m.SE)
			r.DiffCI = [2]float64{d - h, d + h}
			r.Agrees = r.DiffCI[0] <= 0 && 0 <= r.DiffCI[1]
			out = append(out, r)
		}
	}
	return out, warnings
}

// perUser sums a log's rewards and counts its lists per user.
func perUser(lg experiment.OPELog) (num, den []float64) {
	idx := map[string]int{}
	for i, u := range lg.User {
		j, ok := idx[u]
		if !ok {
			j = len(num)
			idx[u] = j
			num, den = append(num, 0), append(den, 0)
		}
		num[j] += lg.Reward[i]
		den[j]++
	}
	return num, den
}

// calibrate checks the uplift arm's scores on the exploring arms' random
// placements.
func (a analyzer) calibrate(d *experiment.CalibrationData) *experiment.CalibrationResult {
	out := &experiment.CalibrationResult{Arm: d.Arm, Units: len(d.T), Bins: []experiment.CalibrationBin{}}
	for _, t := range d.T {
		out.Treated += t
	}
	// The outcome models see the score itself as their one feature.
	x := mat.NewDense(len(d.Score), 1, slices.Clone(d.Score))
	c, err := causal.Calibrate(causal.CalibrationData{X: x, T: d.T, Y: d.Y, Score: d.Score, Propensity: d.Propensity},
		causal.CalibrationConfig{Level: 1 - a.cfg.WithDefaults().Alpha, Bins: 5, Resamples: 50}, rand.NewPCG(a.seed, 2))
	if err != nil {
		out.Warnings = append(out.Warnings, err.Error())
		return out
	}
	out.ATE = finite(c.ATE)
	out.Slope, out.SlopeCI, out.SlopeP = finite(c.Differential.Coef), [2]float64{finite(c.Differential.CI[0]), finite(c.Differential.CI[1])}, finite(c.Differential.PValue)
	for _, b := range c.Bins {
		out.Bins = append(out.Bins, experiment.CalibrationBin{Predicted: finite(b.Predicted), Measured: finite(b.Observed),
			CI: [2]float64{finite(b.CI[0]), finite(b.CI[1])}, N: b.N})
	}
	return out
}

// finite returns v, or 0 for NaN and infinities (which JSON cannot carry).
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}
