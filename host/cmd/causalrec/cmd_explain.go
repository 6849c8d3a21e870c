package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/causal/plot"
	"github.com/causalrec/causalrec/host/api"
	"github.com/causalrec/causalrec/host/dataset"
	"github.com/causalrec/causalrec/host/progress"
	"github.com/causalrec/causalrec/plugins"
)

// explainSettings are the knobs of an explanation shared by uplift
// explain and the service.
type explainSettings struct {
	top, minSupport int
	seed            uint64
	// chunk is the most rows of one Predict call (0: no limit).
	chunk int
	cfg   causal.ExplainConfig
}

func upliftExplain(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "uplift explain", "--model M --data FILE [--treatment COL --outcome COL ...] [--top 20] [--plot FILE.svg] [--format json|text]",
		"Says which features drive a model's uplift, for a model of any estimator plugin (only its\n"+
			"predictions are used). Prints JSON with\n"+
			"  blp: grf's best linear projection: the doubly robust scores (outcome models cross-fitted on the\n"+
			"       model's features, the arm share or --propensity) regressed on the standardised features,\n"+
			"       HC3 intervals; a coefficient is the change of the effect per standard deviation of the\n"+
			"       feature (needs --treatment and --outcome; blp_intercept is the average effect);\n"+
			"  importance: each feature's permutation importance, the share of the predicted effects'\n"+
			"       variance lost when it is permuted, with an interval over --repeats permutations;\n"+
			"  tree: a tree of depth ≤ --depth fitted to the predicted effects, each node with its rows, the\n"+
			"       mean predicted effect (tau) and the mean doubly robust score (effect) with its interval;\n"+
			"  terms: with --text, the words and bigrams of the text whose presence moves the effect most:\n"+
			"       mean effect of the documents (--item groups rows into one) with the term minus without.\n"+
			"--format text prints the same with the tree as rules. With --treatment, the balance check of\n"+
			"uplift fit runs on the features (--design, --allow-imbalanced). See docs/explain.md.")
	modelPath := fs.String("model", "", "model file from causalrec uplift fit")
	data := fs.String("data", "", "CSV file with the model's feature columns (.csv.gz is read too)")
	treatment := fs.String("treatment", "", "treatment column (with --outcome: the best linear projection and the leaves' effects)")
	outcome := fs.String("outcome", "", "outcome column (numeric)")
	control := fs.String("control", "", "treatment value of the control arm (default: the model's)")
	arm := fs.String("arm", "", "treated arm whose effect is explained (default: the model's first)")
	propensity := fs.String("propensity", "", "column of propensities P(arm received | x), as in uplift fit (default: the arms' shares)")
	top := fs.Int("top", 20, "at most this many importances, terms and BLP terms (those of smallest p-value); 0 means all")
	plotPath := fs.String("plot", "", "draw the importances and the BLP coefficients with their intervals (.svg or .png)")
	format := fs.String("format", "json", "output: json, or text with the tree as rules")
	text := fs.String("text", "", "text column whose words and bigrams are explained as terms")
	item := fs.String("item", "", "column naming the document of each row for --text (default: each row is one)")
	minSupport := fs.Int("min-support", 10, "fewest documents with (and without) a term")
	outcomeModel := fs.String("outcome-model", "linear", "learner of the outcome models: linear, gbt, forest or mlp, with :name=value parameters")
	folds := fs.Int("folds", causal.DefaultFolds, "cross-fitting folds of the outcome models")
	repeats := fs.Int("repeats", 5, "permutations per feature of the importance")
	rows := fs.Int("importance-rows", 10000, "rows the importance permutes (a random subset of the data when it has more)")
	depth := fs.Int("depth", 3, "depth of the tree (1 to 6)")
	minLeaf := fs.Int("min-leaf", 0, "fewest rows in a leaf of the tree (0: the larger of 10 and 2.5% of the rows)")
	level := fs.Float64("level", 0.95, "confidence level of the intervals")
	seed := fs.Uint64("seed", 1, "seed of the folds, the outcome models and the permutations")
	cfgPath := fs.String("config", "", "config file declaring external plugins")
	bf := addBalanceFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *modelPath == "":
		return usageErr("--model is required")
	case (*treatment == "") != (*outcome == ""):
		return usageErr("--treatment and --outcome go together")
	case *propensity != "" && *treatment == "":
		return usageErr("--propensity needs --treatment and --outcome")
	case *item != "" && *text == "":
		return usageErr("--item needs --text")
	case fs.NArg() > 0:
		return usageErr("unexpected arguments %q", fs.Args())
	case *format != "json" && *format != "text":
		return usageErr("--format %q: want json or text", *format)
	case *top < 0:
		return usageErr("--top must be at least 0")
	case *minSupport < 2:
		return usageErr("--min-support must be at least 2")
	case *folds < 2:
		return usageErr("--folds must be at least 2")
	case *repeats < 2:
		return usageErr("--repeats must be at least 2")
	case *rows < 2:
		return usageErr("--importance-rows must be at least 2")
	case *depth < 1 || *depth > 6:
		return usageErr("--depth must be 1 to 6")
	case *minLeaf < 0:
		return usageErr("--min-leaf must be at least 0")
	case !(*level > 0 && *level < 1):
		return usageErr("--level must be in (0, 1)")
	}
	var pformat plot.Format
	if *plotPath != "" {
		var err error
		if pformat, err = plotFormat("plot", *plotPath); err != nil {
			return err
		}
	}
	learner, err := registryLearner(*outcomeModel)
	if err != nil {
		return usageErr("--outcome-model: %v", err)
	}
	m, err := readModelFile(*modelPath)
	if err != nil {
		return err
	}
	armName := *arm
	if armName == "" {
		armName = m.Schema.Arms[1]
	} else if !slices.Contains(m.Schema.Arms[1:], armName) {
		return usageErr("--arm %q is not a treated arm of the model (arms: %s)", armName, strings.Join(m.Schema.Arms[1:], ", "))
	}
	ctrl := *control
	if ctrl == "" {
		ctrl = m.Schema.Arms[0]
	}
	cfg, err := loadOfflineConfig(*cfgPath)
	if err != nil {
		return err
	}
	fr, err := readFrame(*data)
	if err != nil {
		return err
	}
	xall, unknown, err := m.Schema.Matrix(fr)
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	if unknown > 0 {
		fmt.Fprintf(s.err, "warning: %d category values were not seen in training; they were scored as the first training level\n", unknown)
	}
	p := len(m.Schema.Features)
	var d causal.ExplainData
	rowsKept := make([]int, 0, fr.Rows)
	var received []float64
	if *treatment != "" {
		t, err := dataset.Binary(fr, *treatment, ctrl, armName)
		if err != nil {
			return fmt.Errorf("%s: %w", *data, err)
		}
		yc, ok := fr.Column(*outcome)
		if !ok || !yc.Numeric {
			return fmt.Errorf("%s: outcome column %q not found or not numeric", *data, *outcome)
		}
		var pc *dataset.Column
		if *propensity != "" {
			if pc, ok = fr.Column(*propensity); !ok || !pc.Numeric {
				return fmt.Errorf("%s: propensity column %q not found or not numeric", *data, *propensity)
			}
		}
		for i, v := range t {
			if v < 0 {
				continue
			}
			rowsKept = append(rowsKept, i)
			d.T = append(d.T, v)
			d.Y = append(d.Y, yc.Values[i])
			if pc != nil {
				pr := pc.Values[i]
				if !(pr > 0 && pr < 1) {
					return fmt.Errorf("%s: line %d: propensity %v is outside (0, 1)", *data, fr.Lines[i], pr)
				}
				received = append(received, pr)
				if v == 0 {
					pr = 1 - pr
				}
				d.Propensity = append(d.Propensity, pr)
			}
		}
		if left := fr.Rows - len(rowsKept); left > 0 {
			fmt.Fprintf(s.err, "left out %d rows of arms other than %q and control %q\n", left, armName, ctrl)
		}
	} else {
		for i := range fr.Rows {
			rowsKept = append(rowsKept, i)
		}
	}
	if len(rowsKept) < 3 {
		return fmt.Errorf("%s: %d rows to explain, need at least 3", *data, len(rowsKept))
	}
	d.X = mat.NewDense(len(rowsKept), p, nil)
	for r, i := range rowsKept {
		copy(d.X.RawRowView(r), xall[i*p:(i+1)*p])
	}
	d.Categorical = make([]bool, p)
	features := make([]explainFeature, p)
	for j, f := range m.Schema.Features {
		d.Categorical[j] = f.Categorical
		features[j] = explainFeature{Name: f.Name}
		if f.Categorical {
			features[j].Levels = f.Levels
		}
	}
	if d.T != nil {
		// The features explained, like those fitted on, must not be
		// measured after treatment: the balance check of uplift fit.
		schema := m.Schema
		schema.Treatment, schema.Outcome, schema.Arms = *treatment, *outcome, []string{ctrl, armName}
		req := plugins.FitRequest{Features: schema.PluginFeatures(), Arms: schema.Arms, X: d.X.RawMatrix().Data, Arm: d.T, Outcome: d.Y, Propensity: received}
		if _, err := checkBalance(s, req, schema, bf); err != nil {
			return err
		}
	}
	var docKeys []string
	var docText func(string) string
	if *text != "" {
		tc, ok := fr.Column(*text)
		if !ok {
			return fmt.Errorf("%s: text column %q not found (columns: %s)", *data, *text, strings.Join(fr.Names(), ", "))
		}
		ic := tc
		if *item != "" {
			if ic, ok = fr.Column(*item); !ok {
				return fmt.Errorf("%s: item column %q not found (columns: %s)", *data, *item, strings.Join(fr.Names(), ", "))
			}
		}
		texts := map[string]string{}
		for _, i := range rowsKept {
			k := fmt.Sprint(i)
			if *item != "" {
				k = ic.String(i)
			}
			docKeys = append(docKeys, k)
			if _, ok := texts[k]; !ok {
				texts[k] = tc.String(i)
			}
		}
		docText = func(k string) string { return texts[k] }
	}
	est, stop, err := startEstimator(ctx, cfg, s.logger, m.Plugin)
	if err != nil {
		return err
	}
	defer stop()
	task := startTask(s, "uplift explain", 0, progress.Options{Delay: time.Second})
	defer task.Done()
	set := explainSettings{top: *top, minSupport: *minSupport, seed: *seed, cfg: causal.ExplainConfig{
		Level: *level, Repeats: *repeats, ImportanceRows: *rows, Depth: *depth, MinLeaf: *minLeaf, Folds: *folds, Learner: learner,
		Progress: func(stage string, done, total int) { task.Describe(stage); task.Report(int64(done), int64(total)) },
	}}
	rep, err := explainModel(ctx, est, m.Model, armName, d, features, docKeys, docText, set)
	task.Done()
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	if *treatment == "" {
		rep.Notes = append(rep.Notes, "no --treatment and --outcome: the best linear projection and the leaves' doubly robust effects are left out")
	}
	if *plotPath != "" {
		var img bytes.Buffer
		if err := writeExplainPlot(&img, rep, pformat, fmt.Sprintf("%s, arm %s", m.Estimator, armName)); err != nil {
			return err
		}
		if err := writeFileAtomic(*plotPath, img.Bytes()); err != nil {
			return err
		}
	}
	if *format == "text" {
		return writeExplainText(s.out, rep)
	}
	return writeExplainJSON(s.out, rep)
}

// predictor is what an explanation needs of an estimator plugin.
type predictor interface {
	Predict(ctx context.Context, req plugins.PredictRequest) (plugins.PredictResponse, error)
}

// pluginEffect is the EffectFunc of a model's arm through its plugin,
// predicting chunk rows a call (all at once when chunk is 0).
func pluginEffect(ctx context.Context, est predictor, model []byte, arm string, chunk int) causal.EffectFunc {
	return func(dst []float64, x *mat.Dense) ([]float64, error) {
		n, p := x.Dims()
		raw := x.RawMatrix()
		flat := raw.Data
		if raw.Stride != p {
			flat = mat.DenseCopyOf(x).RawMatrix().Data
		}
		if cap(dst) < n {
			dst = make([]float64, n)
		}
		dst = dst[:n]
		if chunk <= 0 {
			chunk = n
		}
		for lo := 0; lo < n; lo += chunk {
			hi := min(n, lo+chunk)
			resp, err := est.Predict(ctx, plugins.PredictRequest{Model: model, X: flat[lo*p : hi*p], NFeatures: p})
			if err != nil {
				return nil, err
			}
			k := len(resp.Arms)
			a := slices.Index(resp.Arms, arm)
			if a < 0 {
				if k != 1 {
					return nil, fmt.Errorf("the plugin's prediction has arms %v, not %q", resp.Arms, arm)
				}
				a = 0
			}
			if len(resp.Effects) != (hi-lo)*k {
				return nil, fmt.Errorf("the plugin returned %d effects for %d rows of %d arms", len(resp.Effects), hi-lo, k)
			}
			for i := lo; i < hi; i++ {
				dst[i] = resp.Effects[(i-lo)*k+a]
			}
		}
		return dst, nil
	}
}

// explainModel explains a model's arm on d through its plugin and, with
// document keys, the terms of the documents' texts.
func explainModel(ctx context.Context, est predictor, model []byte, arm string, d causal.ExplainData, fs []explainFeature, docKeys []string, docText func(string) string, set explainSettings) (*api.ExplainReport, error) {
	ex, err := causal.Explain(d, pluginEffect(ctx, est, model, arm, set.chunk), set.cfg, rand.NewPCG(set.seed, 0xe1))
	if err != nil {
		return nil, err
	}
	level := set.cfg.Level
	if level == 0 {
		level = 0.95
	}
	var terms []causal.TermEffect
	var note string
	if docKeys != nil {
		tau, docs := documentEffects(ex.Tau, docKeys, docText)
		if len(tau) < 2*set.minSupport {
			note = fmt.Sprintf("terms: %d documents, fewer than twice the minimum support %d", len(tau), set.minSupport)
		} else if terms, err = causal.TermEffects(tau, docs, set.minSupport, set.top, level); err != nil {
			return nil, err
		}
	}
	rep := newExplainReport(ex, fs, terms, set.top, level)
	rep.Arm = arm
	if note != "" {
		rep.Notes = append(rep.Notes, note)
	}
	return rep, nil
}
