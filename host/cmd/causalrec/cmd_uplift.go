package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/causal/plot"
	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/dataset"
	"github.com/causalrec/causalrec/host/fitcheck"
	"github.com/causalrec/causalrec/host/progress"
	"github.com/causalrec/causalrec/plugins"
)

func runUplift(ctx context.Context, s stdio, args []string) error {
	return runGroup(ctx, s, "uplift", "Uplift modelling on CSV files: from checking the data to comparing estimators.", upliftSubcommands(), args)
}

func upliftSubcommands() []subcommand {
	return []subcommand{
		{"balance", "test that the features are balanced between the arms (leaks of the outcome)", upliftBalance},
		{"fit", "fit an uplift model with an estimator plugin and write the model file", upliftFit},
		{"predict", "score a CSV file with a model file, keeping the input columns on request", upliftPredict},
		{"eval", "Qini, AUUC and uplift@30% of scores with bootstrap intervals; Qini and decile plots", upliftEval},
		{"compare", "cross-fit several estimators on the same folds and compare them, with a Qini plot", upliftCompare},
		{"calibrate", "check scores against an experiment: BLP calibration test, AIPW bins, RATE", upliftCalibrate},
		{"explain", "which features (and words of item texts) drive a model's uplift: BLP, importance, tree, terms", upliftExplain},
	}
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

// readFrame reads a CSV file with a header row; a name ending in .gz is
// decompressed.
func readFrame(path string) (*dataset.Frame, error) {
	if path == "" {
		return nil, usageErr("--data is required")
	}
	var fr *dataset.Frame
	var err error
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		err = withCSVFile(path, func(r io.Reader) error {
			var err error
			fr, err = dataset.ReadCSV(r)
			return err
		})
	} else {
		// One allocation of the file's size, parsed on every core.
		fr, err = dataset.ReadCSVFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return fr, nil
}

// withCSVFile calls fn with the contents of the file at path, decompressed
// when the name ends in .gz.
func withCSVFile(path string, fn func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	}
	return fn(r)
}

func upliftFit(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "uplift fit", "--data train.csv --treatment COL --outcome COL --model-out FILE [flags]",
		"Fits an uplift model with an estimator plugin. Features default to every column but the\n"+
			"treatment, outcome, weight and propensity columns; text columns are categorical.\n"+
			"Every treatment value other than --control is a treated arm unless --treated keeps only some.\n"+
			"A fit that takes more than a second shows on standard error the steps the plugin reports\n"+
			"(trees, boosting rounds, epochs, stages, candidates), or the time elapsed when it reports none:\n"+
			"a bar on a terminal, lines otherwise; CAUSALREC_PROGRESS (auto, bar, lines, off) overrides.")
	data := fs.String("data", "", "training CSV file with a header row (.csv.gz is read too)")
	treatment := fs.String("treatment", "", "treatment column")
	outcome := fs.String("outcome", "", "outcome column (numeric)")
	control := fs.String("control", "0", "treatment value of the control arm")
	treated := fs.String("treated", "", "comma-separated treated arms to keep; rows of other arms are left out")
	features := fs.String("features", "", "comma-separated feature columns (default: every other column)")
	weight := fs.String("weight", "", "column of sample weights")
	propensity := fs.String("propensity", "", "column of logged propensities P(arm received | x)")
	estName := fs.String("estimator", "t", "estimator [plugin:]name[/base][:k=v...]: s, t, x, r, dr, uplift-tree, uplift-forest, causal-forest, tarnet, dragonnet, dlce, auto, bootstrap of the built-in plugin (see docs/estimators.md), or another plugin's, e.g. py-sklearn:t")
	pluginName := fs.String("plugin", config.Default().EstimatorPlugin, "estimator plugin (for an --estimator named without one)")
	out := fs.String("model-out", "", "where to write the model file")
	cfgPath := fs.String("config", "", "config file declaring external plugins")
	var params listFlag
	fs.Var(&params, "param", "estimator parameter name=value (repeatable), e.g. --param base=gbt")
	bf := addBalanceFlags(fs)
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
	ref, err := fitEstimatorRef(fs, *estName, *pluginName, params)
	if err != nil {
		return usageErr("%v", err)
	}
	cfg, err := loadOfflineConfig(*cfgPath)
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
	balance, err := checkBalance(s, req, schema, bf)
	if err != nil {
		return err
	}
	req.Estimator, req.Params = ref.Estimator, ref.Params
	ests, err := newEstimatorPlugins(cfg, s.logger)
	if err != nil {
		return err
	}
	defer ests.Close()
	est, info, err := ests.get(ctx, ref.Plugin)
	if err != nil {
		return err
	}
	start := time.Now()
	// A fit runs in the plugin process; slow ones (a causal forest,
	// auto's selection) show the steps the plugin reports (trees, rounds,
	// epochs), or their elapsed time when it reports none (a plugin
	// without FitStream).
	task := startTask(s, "uplift fit", 0, progress.Options{Unit: "steps", Delay: time.Second})
	task.Describe(fmt.Sprintf("fitting %s on %d rows", ref.Spec, req.Rows()))
	req.Progress = func(done, total int) { task.Report(int64(done), int64(total)) }
	resp, err := est.Fit(ctx, req)
	task.Done()
	fitSeconds := time.Since(start).Seconds()
	if err != nil {
		return fmt.Errorf("fit %s with plugin %s: %w", ref.Estimator, ref.Plugin, err)
	}
	m := modelFile{
		ID: uuid.New(), CreatedAt: time.Now().UTC(), Plugin: ref.Plugin, PluginVersion: info.Version,
		Estimator: ref.Estimator, Params: ref.Params, Schema: schema, Metadata: resp.Metadata, Model: resp.Model, Balance: balance,
	}
	// A model that learned nothing (one effect for everybody) is written,
	// but said so, in the log and in its metadata.
	if chk, err := fitcheck.Check(ctx, est, req, resp.Model); err != nil {
		fmt.Fprintf(s.err, "warning: the model was not checked for a constant effect: %v\n", err)
	} else if w := chk.Warning(); w != "" {
		fmt.Fprintf(s.err, "warning: %s\n", w)
		m.Metadata = maps.Clone(m.Metadata)
		if m.Metadata == nil {
			m.Metadata = map[string]string{}
		}
		maps.Copy(m.Metadata, chk.Metadata())
	}
	m.Metadata = checkOverlap(s, req, schema, m.Metadata)
	if note := balance.metadata(); note != "" {
		m.Metadata = maps.Clone(m.Metadata)
		if m.Metadata == nil {
			m.Metadata = map[string]string{}
		}
		m.Metadata["balance"] = note
	}
	size, err := writeModelFile(*out, m)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.err, "fitted %s in %.2fs; model %s written to %s (%d bytes)\n", ref.Spec, fitSeconds, m.ID, *out, size)
	if reason := resp.Metadata["auto_reason"]; reason != "" {
		// auto's choice, its runner-up and what its time budget skipped;
		// each candidate's loss and time are in the model's metadata.
		fmt.Fprintf(s.err, "auto chose %s: %s\n", resp.Metadata["auto_chosen"], reason)
	}
	for k, ate := range resp.ATE {
		if k+1 < len(schema.Arms) && k < len(resp.ATESE) {
			fmt.Fprintf(s.err, "ATE of %q vs %q: %.6g ± %.3g (SE)\n", schema.Arms[k+1], schema.Arms[0], ate, resp.ATESE[k])
		}
	}
	return nil
}

func upliftPredict(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "uplift predict", "--model FILE --data test.csv --out pred.csv [--keep all|COL,...]",
		"Writes one row per input row, in order: column uplift for a binary treatment, or\n"+
			"uplift_<arm> per treated arm. Columns the model does not use are ignored. --keep writes\n"+
			"input columns, as they are, before the predictions, so that uplift eval runs on the output.")
	modelPath := fs.String("model", "", "model file from causalrec uplift fit")
	data := fs.String("data", "", "CSV file to score (.csv.gz is read too)")
	out := fs.String("out", "", "output CSV file (- for standard output)")
	keep := fs.String("keep", "", "input columns to write before the predictions: all, or a comma-separated list")
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
	if *out != "-" {
		if err := distinctPaths(map[string]string{"--data": *data, "--out": *out}); err != nil {
			return err
		}
	}
	m, err := readModelFile(*modelPath)
	if err != nil {
		return err
	}
	cfg, err := loadOfflineConfig(*cfgPath)
	if err != nil {
		return err
	}
	fr, err := readFrame(*data)
	if err != nil {
		return err
	}
	var kept []int // input columns to keep
	switch *keep {
	case "":
	case "all":
		for j := range fr.Columns {
			kept = append(kept, j)
		}
	default:
		if kept, err = columnIndexes(fr.Names(), splitList(*keep)); err != nil {
			return usageErr("--keep: %v", err)
		}
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
	var header []string
	for _, j := range kept {
		header = append(header, fr.Columns[j].Name)
	}
	width := 1
	if resp.Lower != nil {
		width = 3
	}
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
	for _, h := range header[len(kept):] {
		if slices.Contains(header[:len(kept)], h) {
			return usageErr("--keep: input column %q has the name of a prediction column; keep the other columns by name", h)
		}
	}
	if *interval > 0 && resp.Lower == nil {
		fmt.Fprintf(s.err, "warning: estimator %s gives no confidence intervals\n", m.Estimator)
	}
	fill := func(i int, row []string) {
		p := row[len(kept):]
		for j := 0; j < k; j++ {
			p[width*j] = formatFloat(resp.Effects[i*k+j])
			if resp.Lower != nil {
				p[width*j+1] = formatFloat(resp.Lower[i*k+j])
				p[width*j+2] = formatFloat(resp.Upper[i*k+j])
			}
		}
	}
	o, err := createCSV(*out, header, s.out)
	if err != nil {
		return err
	}
	defer o.abort()
	row := make([]string, len(header))
	if len(kept) == 0 {
		for i := 0; i < fr.Rows; i++ {
			fill(i, row)
			if err := o.w.Write(row); err != nil {
				return err
			}
		}
		return o.commit()
	}
	// The kept cells are copied from the file as written (ids such as 007
	// stay 007), so it is read again row by row.
	err = withCSVFile(*data, func(r io.Reader) error {
		cr := csv.NewReader(r)
		cr.ReuseRecord = true
		if _, err := cr.Read(); err != nil {
			return csvErr(err, "no header row")
		}
		for i := 0; ; {
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if len(rec) == 1 && rec[0] == "" {
				continue // a blank line, as dataset.ReadCSV skips it
			}
			if i >= fr.Rows {
				return fmt.Errorf("the file changed while it was scored")
			}
			for c, j := range kept {
				row[c] = rec[j]
			}
			fill(i, row)
			if err := o.w.Write(row); err != nil {
				return err
			}
			i++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	return o.commit()
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }

func upliftEval(_ context.Context, s stdio, args []string) error {
	fs := newFlags(s, "uplift eval", "--data scored.csv --treatment COL --outcome COL --score COL [flags]",
		"Prints JSON with the Qini coefficient (scikit-uplift normalisation, key qini; CausalML's as\n"+
			"qini_causalml), auuc and uplift_at_30, each with a percentile bootstrap confidence interval.")
	data := fs.String("data", "", "CSV file with treatment, outcome and score columns")
	treatment := fs.String("treatment", "", "treatment column")
	outcome := fs.String("outcome", "", "outcome column")
	score := fs.String("score", "", "score column (higher means target first)")
	control := fs.String("control", "0", "treatment value of the control arm")
	treated := fs.String("treated", "", "treated arm to compare with control when the column has more than two values; other rows are left out")
	plotPath := fs.String("plot", "", "write the Qini curve, with the Qini coefficient and its interval, to this .svg or .png file")
	decilePath := fs.String("decile-plot", "", "write the observed uplift by decile of the score to this .svg or .png file")
	label := fs.String("label", "", "name of the scores in the plots' legends, e.g. the estimator (default: the score column)")
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
	if err := checkPlotFlags(map[string]string{"plot": *plotPath, "decile-plot": *decilePath}); err != nil {
		return err
	}
	if *label == "" {
		*label = *score
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
	arm, err := treatedName(fr, *treatment, *control, *treated)
	if err != nil {
		return err
	}
	rs := []ranking{{name: *label, score: sv, qini: rep.Qini, qiniCI: rep.QiniCI}}
	if *plotPath != "" {
		ch, err := qiniChart(fmt.Sprintf("Qini curve: %s vs %s", arm, *control), rs, tt, y,
			qiniNote(rep.Bootstrap, fmt.Sprintf(" Data: %s, %d rows.", filepath.Base(*data), len(tt))))
		if err != nil {
			return err
		}
		format, _ := plotFormat("plot", *plotPath)
		if err := writePlot(*plotPath, format, func(f *os.File) error { return plot.WriteQini(f, format, ch) }); err != nil {
			return err
		}
	}
	if *decilePath != "" {
		ch, err := decileChart(fmt.Sprintf("Uplift by decile of %s: %s vs %s", *label, arm, *control), rs, tt, y, true, decileNote+" Triangles: the mean score.")
		if err != nil {
			return err
		}
		format, _ := plotFormat("decile-plot", *decilePath)
		if err := writePlot(*decilePath, format, func(f *os.File) error { return plot.WriteDeciles(f, format, ch) }); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(s.out)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// treatedName is the treated arm that dataset.Binary compares with
// control: treated, or the one value of the column besides control.
func treatedName(fr *dataset.Frame, treatment, control, treated string) (string, error) {
	if treated != "" {
		return treated, nil
	}
	c, ok := fr.Column(treatment)
	if !ok {
		return "", fmt.Errorf("treatment column %q not found", treatment)
	}
	values, _ := c.Distinct()
	for _, v := range values {
		same := v == control
		if c.Numeric {
			a, errA := strconv.ParseFloat(v, 64)
			b, errB := strconv.ParseFloat(strings.TrimSpace(control), 64)
			same = errA == nil && errB == nil && a == b
		}
		if !same {
			return v, nil
		}
	}
	return "treated", nil
}
