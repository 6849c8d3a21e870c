package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/dataset"
	"github.com/causalrec/causalrec/host/progress"
	"github.com/causalrec/causalrec/plugins"
)

func upliftCompare(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "uplift compare", "--data FILE --treatment COL --outcome COL --estimators a,b,... [flags]",
		"The offline A/B of estimators on the same data: every estimator is cross-fitted on the same\n"+
			"K folds (fit on K-1, score the held-out fold) through its plugin; the out-of-fold scores get\n"+
			"Qini and AUUC with bootstrap intervals, and every pair of estimators the interval of their\n"+
			"paired difference (the same resamples for both). Each ranking also gets grf's RATE (AUTOC and\n"+
			"Qini weighting) on AIPW scores from cross-fitted linear outcome models, with half-sample\n"+
			"intervals and paired differences. An estimator is\n"+
			"[plugin:]name[/base][:k=v...]: a name of the --plugin plugin (the built-in causal by default)\n"+
			"or plugin:name for an estimator of another plugin, so one run compares plugins, e.g.\n"+
			"--estimators t,py-sklearn:t with py-sklearn declared in --config.")
	data := fs.String("data", "", "CSV file with a header row")
	treatment := fs.String("treatment", "", "treatment column")
	outcome := fs.String("outcome", "", "outcome column (numeric)")
	control := fs.String("control", "0", "treatment value of the control arm")
	treated := fs.String("treated", "", "comma-separated treated arms to keep; rows of other arms are left out")
	features := fs.String("features", "", "comma-separated feature columns (default: every other column)")
	estimators := fs.String("estimators", "", "comma-separated estimators, e.g. t,x/gbt,uplift-forest:criterion=KL,py-sklearn:t")
	pluginName := fs.String("plugin", config.Default().EstimatorPlugin, "estimator plugin of the estimators named without one")
	folds := fs.Int("folds", 5, "cross-fitting folds")
	resamples := fs.Int("bootstrap", 200, "bootstrap resamples")
	seed := fs.Uint64("seed", 1, "seed of the folds and the bootstrap")
	jsonOut := fs.String("json-out", "", "also write the comparison as JSON to this file (- for standard output, replacing the table)")
	cfgPath := fs.String("config", "", "config file declaring external plugins")
	plotPath := fs.String("plot", "", "write the Qini curves of the estimators (one panel per treated arm) to this .svg or .png file")
	decilePath := fs.String("decile-plot", "", "write the observed uplift by decile of each estimator's scores to this .svg or .png file")
	bf := addBalanceFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkPlotFlags(map[string]string{"plot": *plotPath, "decile-plot": *decilePath}); err != nil {
		return err
	}
	specs := splitList(*estimators)
	switch {
	case *treatment == "" || *outcome == "":
		return usageErr("--treatment and --outcome are required")
	case len(specs) == 0:
		return usageErr("--estimators is required")
	case *folds < 2:
		return usageErr("--folds must be at least 2")
	}
	cfg, err := loadOfflineConfig(*cfgPath)
	if err != nil {
		return err
	}
	fr, err := readFrame(*data)
	if err != nil {
		return err
	}
	req, schema, sum, err := dataset.BuildFit(fr, dataset.Spec{Treatment: *treatment, Outcome: *outcome, Control: *control, Treated: splitList(*treated), Features: splitList(*features)})
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	if sum.Dropped > 0 {
		fmt.Fprintf(s.err, "left out %d rows of arms not named by --treated\n", sum.Dropped)
	}
	if _, err := checkBalance(s, req, schema, bf); err != nil {
		return err
	}
	ests, err := newEstimatorPlugins(cfg, s.logger)
	if err != nil {
		return err
	}
	defer ests.Close()
	d := causal.UpliftData{X: mat.NewDense(req.Rows(), len(req.Features), req.X), Treatment: req.Arm, Arms: len(req.Arms) - 1, Y: req.Outcome}
	task := startTask(s, "uplift compare", int64(len(specs)**folds), progress.Options{Unit: "fits"})
	defer task.Done()
	var named []causal.NamedEstimator
	var models []*pluginUplift
	for _, spec := range specs {
		ref, err := plugins.ParseEstimatorRef(spec, *pluginName)
		if err != nil {
			return usageErr("%v", err)
		}
		est, err := ests.resolve(ctx, ref)
		if err != nil {
			return err
		}
		pu := &pluginUplift{ctx: ctx, est: est, name: ref.Estimator, params: ref.Params, features: req.Features, arms: schema.Arms, task: task}
		models = append(models, pu)
		named = append(named, causal.NamedEstimator{Name: spec, Estimator: pu})
	}
	cmp, err := causal.CompareEstimators(d, named, causal.CompareConfig{Folds: *folds, Bootstrap: causal.Bootstrap{Resamples: *resamples}}, rand.NewPCG(*seed, 0))
	task.Done()
	if err != nil {
		return err
	}
	for i, m := range models {
		if err := m.Err(); err != nil {
			return fmt.Errorf("estimator %s: predict: %w", named[i].Name, err)
		}
	}
	cmp.ArmNames = schema.Arms
	if err := writeComparePlots(cmp, req.Arm, req.Outcome, schema.Arms, *plotPath, *decilePath); err != nil {
		return err
	}
	if *jsonOut != "-" {
		fmt.Fprintf(s.out, "%d rows, %d folds; arms against control %q\n", req.Rows(), *folds, schema.Arms[0])
		if err := cmp.WriteTable(s.out); err != nil {
			return err
		}
		if err := cmp.WriteRATETable(s.out); err != nil {
			return err
		}
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(compareJSON(cmp, schema.Arms), "", "  ")
		if err != nil {
			return err
		}
		b = append(b, '\n')
		if *jsonOut == "-" {
			_, err = s.out.Write(b)
		} else {
			err = os.WriteFile(*jsonOut, b, 0o644)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

type ci [2]any

func ciOf(c causal.ConfInt) ci { return ci{jsonFloat(c.Lo), jsonFloat(c.Hi)} }

func rateCIOf(r causal.RATEEstimate) ci { return ci{jsonFloat(r.CI[0]), jsonFloat(r.CI[1])} }

func jsonFloat(v float64) any {
	if v != v {
		return nil
	}
	return v
}

// compareJSON is the JSON form of a comparison.
func compareJSON(c *causal.Comparison, arms []string) map[string]any {
	var out []map[string]any
	for _, a := range c.Arms {
		var ests, pairs []map[string]any
		for _, e := range a.Scores {
			ests = append(ests, map[string]any{
				"estimator": e.Name, "qini": jsonFloat(e.Qini), "qini_ci": ciOf(e.QiniCI),
				"qini_causalml": jsonFloat(e.QiniCausalML), "qini_causalml_ci": ciOf(e.QiniCausalMLCI),
				"auuc": jsonFloat(e.AUUC), "auuc_ci": ciOf(e.AUUCCI),
				"uplift_at_30": jsonFloat(e.UpliftAtK), "uplift_at_30_ci": ciOf(e.UpliftAtKCI),
				"rate_autoc": jsonFloat(e.RATEAUTOC.Value), "rate_autoc_ci": rateCIOf(e.RATEAUTOC),
				"rate_qini": jsonFloat(e.RATEQini.Value), "rate_qini_ci": rateCIOf(e.RATEQini),
			})
		}
		for _, p := range a.Pairs {
			pairs = append(pairs, map[string]any{
				"a": p.A, "b": p.B, "qini_diff": jsonFloat(p.Qini), "qini_diff_ci": ciOf(p.QiniCI),
				"auuc_diff": jsonFloat(p.AUUC), "auuc_diff_ci": ciOf(p.AUUCCI),
				"rate_autoc_diff": jsonFloat(p.RATEAUTOC.Value), "rate_autoc_diff_ci": rateCIOf(p.RATEAUTOC),
				"rate_qini_diff": jsonFloat(p.RATEQini.Value), "rate_qini_diff_ci": rateCIOf(p.RATEQini),
			})
		}
		out = append(out, map[string]any{"arm": arms[a.Arm], "n": a.N, "estimators": ests, "pairs": pairs})
	}
	return map[string]any{
		"folds": c.Folds, "qini_normalisation": causal.QiniNormalisation, "auuc_normalisation": causal.AUUCNormalisation,
		"bootstrap_resamples": c.Bootstrap.Resamples, "level": c.Bootstrap.Level, "arms": out,
	}
}
