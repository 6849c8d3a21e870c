package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/causal/plot"
	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/dataset"
	"github.com/causalrec/causalrec/plugins"
)

func runUplift(ctx context.Context, s stdio, args []string) error {
	if len(args) == 0 {
		return usageErr("want a subcommand: fit, predict, eval, compare or calibrate")
	}
	switch args[0] {
	case "fit":
		return upliftFit(ctx, s, args[1:])
	case "predict":
		return upliftPredict(ctx, s, args[1:])
	case "eval":
		return upliftEval(s, args[1:])
	case "compare":
		return upliftCompare(ctx, s, args[1:])
	case "calibrate":
		return upliftCalibrate(ctx, s, args[1:])
	}
	return usageErr("unknown subcommand %q (want fit, predict, eval, compare or calibrate)", args[0])
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func newFlags(s stdio, name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(s.err)
	fs.Usage = func() {
		fmt.Fprintf(s.err, "Usage: causalrec %s %s\n\n%s\n\nFlags:\n", name, synopsis, about)
		fs.PrintDefaults()
	}
	return fs
}

func readFrame(path string) (*dataset.Frame, error) {
	if path == "" {
		return nil, usageErr("--data is required")
	}
	fr, err := dataset.ReadCSVFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return fr, nil
}

func upliftFit(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "uplift fit", "--data train.csv --treatment COL --outcome COL --model-out FILE [flags]",
		"Fits an uplift model with an estimator plugin. Features default to every column but the\n"+
			"treatment, outcome, weight and propensity columns; text columns are categorical.\n"+
			"Every treatment value other than --control is a treated arm unless --treated keeps only some.")
	data := fs.String("data", "", "training CSV file with a header row")
	treatment := fs.String("treatment", "", "treatment column")
	outcome := fs.String("outcome", "", "outcome column (numeric)")
	control := fs.String("control", "0", "treatment value of the control arm")
	treated := fs.String("treated", "", "comma-separated treated arms to keep; rows of other arms are left out")
	features := fs.String("features", "", "comma-separated feature columns (default: every other column)")
	weight := fs.String("weight", "", "column of sample weights")
	propensity := fs.String("propensity", "", "column of logged propensities P(arm received | x)")
	estName := fs.String("estimator", "t", "estimator: s, t, x, r, dr, uplift-tree, uplift-forest, causal-forest, tarnet, dragonnet, dlce, auto, bootstrap (built-in plugin; see docs/estimators.md) or another plugin's")
	pluginName := fs.String("plugin", "causal", "estimator plugin")
	out := fs.String("model-out", "", "where to write the model file")
	cfgPath := fs.String("config", "", "config file declaring external plugins")
	var params listFlag
	fs.Var(&params, "param", "estimator parameter name=value (repeatable), e.g. --param base=gbt")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *treatment == "" || *outcome == "":
		return usageErr("--treatment and --outcome are required")
	case *out == "":
		return usageErr("--model-out is required")
	case fs.NArg() > 0:
		return usageErr("unexpected arguments %q", fs.Args())
	}
	pm, err := causal.ParseParams(params)
	if err != nil {
		return usageErr("%v", err)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	fr, err := readFrame(*data)
	if err != nil {
		return err
	}
	req, schema, sum, err := dataset.BuildFit(fr, dataset.Spec{
		Treatment: *treatment, Outcome: *outcome, Control: *control, Treated: splitList(*treated),
		Features: splitList(*features), Weight: *weight, Propensity: *propensity,
	})
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	var arms []string
	for k, a := range schema.Arms {
		arms = append(arms, fmt.Sprintf("%q: %d rows", a, sum.ArmRows[k]))
	}
	fmt.Fprintf(s.err, "data: %d rows, %d used, %d features; control %s; treated %s\n", sum.Rows, sum.Used, len(schema.Features), arms[0], strings.Join(arms[1:], ", "))
	if sum.Dropped > 0 {
		fmt.Fprintf(s.err, "left out %d rows of arms not named by --treated\n", sum.Dropped)
	}
	req.Estimator, req.Params = *estName, pm
	est, stop, err := startEstimator(ctx, cfg, s.logger, *pluginName)
	if err != nil {
		return err
	}
	defer stop()
	info, err := est.Info(ctx, plugins.InfoRequest{})
	if err != nil {
		return err
	}
	start := time.Now()
	resp, err := est.Fit(ctx, req)
	if err != nil {
		return fmt.Errorf("fit %s with plugin %s: %w", *estName, *pluginName, err)
	}
	m := modelFile{
		ID: uuid.New(), CreatedAt: time.Now().UTC(), Plugin: *pluginName, PluginVersion: info.Version,
		Estimator: *estName, Params: pm, Schema: schema, Metadata: resp.Metadata, Model: resp.Model,
	}
	if err := writeModelFile(*out, m); err != nil {
		return err
	}
	fmt.Fprintf(s.err, "fitted %s in %.2fs; model %s written to %s (%d bytes)\n", *estName, time.Since(start).Seconds(), m.ID, *out, len(resp.Model))
	for k, ate := range resp.ATE {
		if k+1 < len(schema.Arms) && k < len(resp.ATESE) {
			fmt.Fprintf(s.err, "ATE of %q vs %q: %.6g ± %.3g (SE)\n", schema.Arms[k+1], schema.Arms[0], ate, resp.ATESE[k])
		}
	}
	return nil
}

func upliftPredict(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "uplift predict", "--model FILE --data test.csv --out pred.csv",
		"Writes one row per input row, in order: column uplift for a binary treatment, or\n"+
			"uplift_<arm> per treated arm. Columns the model does not use are ignored.")
	modelPath := fs.String("model", "", "model file from causalrec uplift fit")
	data := fs.String("data", "", "CSV file to score")
	out := fs.String("out", "", "output CSV file (- for standard output)")
	interval := fs.Float64("interval", 0, "also write lower and upper bounds of this confidence level (e.g. 0.95) when the estimator gives them")
	cfgPath := fs.String("config", "", "config file declaring external plugins")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *modelPath == "" || *out == "" {
		return usageErr("--model and --out are required")
	}
	if *interval < 0 || *interval >= 1 {
		return usageErr("--interval must be in (0, 1)")
	}
	m, err := readModelFile(*modelPath)
	if err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	fr, err := readFrame(*data)
	if err != nil {
		return err
	}
	x, unknown, err := m.Schema.Matrix(fr)
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	if unknown > 0 {
		fmt.Fprintf(s.err, "warning: %d category values were not seen in training; they were scored as the first training level\n", unknown)
	}
	est, stop, err := startEstimator(ctx, cfg, s.logger, m.Plugin)
	if err != nil {
		return err
	}
	defer stop()
	resp, err := est.Predict(ctx, plugins.PredictRequest{Model: m.Model, X: x, NFeatures: len(m.Schema.Features), IntervalLevel: *interval})
	if err != nil {
		return fmt.Errorf("predict with plugin %s: %w", m.Plugin, err)
	}
	k := len(resp.Arms)
	header := make([]string, 0, 3*k)
	for _, a := range resp.Arms {
		name := "uplift"
		if k > 1 {
			name = "uplift_" + a
		}
		header = append(header, name)
		if resp.Lower != nil {
			header = append(header, name+"_lower", name+"_upper")
		}
	}
	if *interval > 0 && resp.Lower == nil {
		fmt.Fprintf(s.err, "warning: estimator %s gives no confidence intervals\n", m.Estimator)
	}
	return writeCSV(*out, header, fr.Rows, func(i int, row []string) {
		for j := 0; j < k; j++ {
			if resp.Lower != nil {
				row[3*j] = formatFloat(resp.Effects[i*k+j])
				row[3*j+1] = formatFloat(resp.Lower[i*k+j])
				row[3*j+2] = formatFloat(resp.Upper[i*k+j])
			} else {
				row[j] = formatFloat(resp.Effects[i*k+j])
			}
		}
	})
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }

// writeCSV writes header and n rows filled by fill to path (- is stdout),
// atomically for files.
func writeCSV(path string, header []string, n int, fill func(i int, row []string)) error {
	var f *os.File
	tmp := path + ".tmp"
	if path == "-" {
		f = os.Stdout
	} else {
		var err error
		if f, err = os.Create(tmp); err != nil {
			return err
		}
		defer f.Close()
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := csv.NewWriter(bw)
	if err := w.Write(header); err != nil {
		return err
	}
	row := make([]string, len(header))
	for i := 0; i < n; i++ {
		fill(i, row)
		if err := w.Write(row); err != nil {
			return err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if path == "-" {
		return nil
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func upliftEval(s stdio, args []string) error {
	fs := newFlags(s, "uplift eval", "--data scored.csv --treatment COL --outcome COL --score COL [flags]",
		"Prints JSON with the Qini coefficient (scikit-uplift normalisation, key qini; CausalML's as\n"+
			"qini_causalml), auuc and uplift_at_30, each with a percentile bootstrap confidence interval.")
	data := fs.String("data", "", "CSV file with treatment, outcome and score columns")
	treatment := fs.String("treatment", "", "treatment column")
	outcome := fs.String("outcome", "", "outcome column")
	score := fs.String("score", "", "score column (higher means target first)")
	control := fs.String("control", "0", "treatment value of the control arm")
	treated := fs.String("treated", "", "treated arm to compare with control when the column has more than two values; other rows are left out")
	plotPath := fs.String("plot", "", "write the Qini curve to this .svg or .png file")
	resamples := fs.Int("bootstrap", 200, "bootstrap resamples for the intervals")
	seed := fs.Uint64("seed", 1, "seed of the bootstrap")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *treatment == "" || *outcome == "" || *score == "" {
		return usageErr("--treatment, --outcome and --score are required")
	}
	if *resamples < 1 {
		return usageErr("--bootstrap must be at least 1")
	}
	fr, err := readFrame(*data)
	if err != nil {
		return err
	}
	t, err := dataset.Binary(fr, *treatment, *control, *treated)
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	yc, ok := fr.Column(*outcome)
	if !ok || !yc.Numeric {
		return fmt.Errorf("%s: outcome column %q not found or not numeric", *data, *outcome)
	}
	sc, ok := fr.Column(*score)
	if !ok || !sc.Numeric {
		return fmt.Errorf("%s: score column %q not found or not numeric", *data, *score)
	}
	var tt []int
	var y, sv []float64
	for i, ti := range t {
		if ti < 0 {
			continue
		}
		tt = append(tt, ti)
		y = append(y, yc.Values[i])
		sv = append(sv, sc.Values[i])
	}
	if left := len(t) - len(tt); left > 0 {
		fmt.Fprintf(s.err, "left out %d rows of other arms\n", left)
	}
	rep, err := causal.NewUpliftReport(sv, tt, y, nil, causal.Bootstrap{Resamples: *resamples}, rand.NewPCG(*seed, 0))
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	if *plotPath != "" {
		if err := writeQiniPlot(*plotPath, *score, sv, tt, y); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(s.out)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func writeQiniPlot(path, name string, score []float64, t []int, y []float64) error {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	if format != "svg" && format != "png" {
		return usageErr("--plot %s: the file name must end in .svg or .png", path)
	}
	curve, err := causal.QiniCurve(score, t, y, nil)
	if err != nil {
		return err
	}
	curve.Name = name
	perfect, err := causal.PerfectQiniCurve(t, y, nil)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := plot.WriteQini(f, format, curve, perfect); err != nil {
		f.Close()
		return fmt.Errorf("plot: %w", err)
	}
	return errors.Join(f.Close())
}
