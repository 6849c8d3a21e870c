package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/causal/receval"
	"github.com/causalrec/causalrec/host/progress"
)

// runRec is the rec command: offline causal evaluation of recommenders.
func runRec(ctx context.Context, s stdio, args []string) error {
	if len(args) == 0 {
		return usageErr("want a subcommand: simulate or eval")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(s.err, "Usage: causalrec rec <subcommand> [flags]\n\n"+
			"Subcommands:\n"+
			"  simulate  write simulated training and test recommendation logs with true effects\n"+
			"  eval      evaluate rankers by the causal effect of their recommendations (CP@K, CDCG, CAR)\n\n"+
			"Run causalrec rec <subcommand> --help for its flags; see docs/receval.md.\n")
		return nil
	case "simulate":
		return recSimulate(s, args[1:])
	case "eval":
		return recEval(ctx, s, args[1:])
	}
	return usageErr("unknown subcommand %q (want simulate or eval)", args[0])
}

func recSimulate(s stdio, args []string) error {
	def := receval.DefaultSimConfig()
	fs := newFlags(s, "rec simulate", "--out-train FILE --out-test FILE [flags]",
		"Simulates a training and a test period of recommendation logs with known propensities and\n"+
			"true effects (columns user,item,treated,propensity,outcome,u0..u2,i0..i4,tau); see docs/receval.md.")
	outTrain := fs.String("out-train", "", "training log CSV to write")
	outTest := fs.String("out-test", "", "test log CSV to write")
	users := fs.Int("users", def.Users, "number of users")
	items := fs.Int("items", def.Items, "number of items")
	agree := fs.Float64("agreement", def.Agreement, "correlation in [-1, 1] between engagement and uplift")
	base := fs.Float64("base-logit", def.BaseLogit, "outcome logit without recommendation at average engagement")
	effMean := fs.Float64("effect-mean", def.EffectMean, "mean shift of the outcome logit by recommendation")
	effScale := fs.Float64("effect-scale", def.EffectScale, "spread of the shift of the outcome logit by recommendation")
	polLogit := fs.Float64("policy-logit", def.PolicyLogit, "logit of the logging policy's recommendation probability at average engagement")
	polStrength := fs.Float64("policy-strength", def.PolicyStrength, "how strongly the logging policy follows engagement")
	clip := fs.Float64("propensity-clip", def.PropensityClip, "propensities are clipped to [clip, 1-clip]")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *outTrain == "" || *outTest == "":
		return usageErr("--out-train and --out-test are required")
	case fs.NArg() > 0:
		return usageErr("unexpected arguments %q", fs.Args())
	}
	cfg := receval.SimConfig{
		Users: *users, Items: *items, Agreement: *agree, BaseLogit: *base,
		EffectMean: *effMean, EffectScale: *effScale,
		PolicyLogit: *polLogit, PolicyStrength: *polStrength, PropensityClip: *clip,
	}
	if err := cfg.Validate(); err != nil {
		return usageErr("%v", err)
	}
	sim, err := receval.Simulate(cfg, rand.NewPCG(*seed, 0x5eed))
	if err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		log  *receval.Log
	}{{*outTrain, sim.Train}, {*outTest, sim.Test}} {
		if err := writeLogFile(f.path, f.log); err != nil {
			return err
		}
	}
	fmt.Fprintf(s.err, "wrote %d rows (%d users × %d items) to each of %s and %s\n",
		sim.Train.Len(), cfg.Users, cfg.Items, *outTrain, *outTest)
	return nil
}

func writeLogFile(path string, l *receval.Log) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := receval.WriteCSV(w, l); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return w.Flush()
}

func readLogFile(flagName, path string) (*receval.Log, error) {
	if path == "" {
		return nil, usageErr("--%s is required", flagName)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l, err := receval.ReadCSV(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

func recEval(ctx context.Context, s stdio, args []string) error {
	reg := causalRegistry()
	fs := newFlags(s, "rec eval", "--train train.csv --test test.csv [--rankers a,b,...] [--k 10]",
		"Fits each ranker on the training log, ranks every user's test items and prints one JSON\n"+
			"object per ranker with CP@K, CDCG and CAR (from the test log's tau column, when present)\n"+
			"and their IPS estimates (ips_...), each with a bootstrap 95% interval over users (..._ci).\n"+
			"Both logs have columns user,item,treated,propensity,outcome; tau is optional; every other\n"+
			"column is a numeric feature. Rankers: popularity, outcome, outcome-ips, dlce,\n"+
			"uplift:<estimator>[/<base>][:<param>=<value>...] (e.g. uplift:tarnet:l2=0.001, uplift:x/gbt),\n"+
			"uplift:<plugin>:<estimator>[:<param>=<value>...] for an estimator plugin (e.g. uplift:py-sklearn:t,\n"+
			"with the plugin declared in --config)\n"+
			"(default: every one of them: "+strings.Join(receval.DefaultRankers(reg), ",")+";\n"+
			"left out as prohibitively slow on the default simulation, about 4 minutes, but run when named:\n"+
			strings.Join(prefixed(receval.UpliftPrefix, receval.SlowEstimators), ",")+").")
	trainPath := fs.String("train", "", "training log CSV")
	testPath := fs.String("test", "", "test log CSV")
	rankers := fs.String("rankers", "", "comma-separated rankers (default: every built-in ranker)")
	k := fs.Int("k", 10, "cut-off K of CP@K")
	resamples := fs.Int("bootstrap", 200, "bootstrap resamples for the intervals")
	seed := fs.Uint64("seed", 1, "seed of the rankers' fits and of the bootstrap")
	cfgPath := fs.String("config", "", "config file declaring external plugins (for uplift:<plugin>:<estimator> rankers)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageErr("unexpected arguments %q", fs.Args())
	case *k < 1:
		return usageErr("--k must be at least 1")
	case *resamples < 2:
		return usageErr("--bootstrap must be at least 2")
	}
	names := splitList(*rankers)
	if len(names) == 0 {
		names = receval.DefaultRankers(reg)
	}
	rs, pluginRefs, stop, err := recRankers(ctx, s, names, reg, *cfgPath)
	if err != nil {
		return err
	}
	defer stop()
	train, err := readLogFile("train", *trainPath)
	if err != nil {
		return err
	}
	test, err := readLogFile("test", *testPath)
	if err != nil {
		return err
	}
	if _, err := receval.AlignFeatures(train, test); err != nil {
		return fmt.Errorf("%s and %s: %w", *trainPath, *testPath, err)
	}
	for j, p := range pluginRefs {
		if p.est != nil {
			rs[j] = newPluginRanker(ctx, p.est, p.ref, train.FeatureNames)
		}
	}
	// Progress on stderr: a fit can take minutes (uplift:auto
	// cross-validates its candidates), and stdout is the report.
	task := startTask(s, "rec eval", int64(len(rs)), progress.Options{Unit: "rankers"})
	defer task.Done()
	for j, r := range rs {
		if err := ctx.Err(); err != nil {
			return err
		}
		task.Describe(fmt.Sprintf("fitting %s (%d of %d)", names[j], j+1, len(rs)))
		start := time.Now()
		sc, err := r.Fit(train, rand.NewPCG(*seed, uint64(j)))
		if err != nil {
			return fmt.Errorf("ranker %s: %w", names[j], err)
		}
		score, err := sc.Score(test)
		if err != nil {
			return fmt.Errorf("ranker %s: score: %w", names[j], err)
		}
		secs := time.Since(start).Seconds()
		rep, err := receval.Evaluate(test, score, *k, causal.Bootstrap{Resamples: *resamples}, rand.NewPCG(*seed, 0xb007))
		if err != nil {
			return fmt.Errorf("ranker %s: %w", names[j], err)
		}
		if err := writeRecReport(s.out, names[j], rep, secs); err != nil {
			return err
		}
		task.Add(1)
	}
	return nil
}

// prefixed returns each name with prefix in front.
func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}

// writeRecReport writes one JSON line with the keys in a fixed order.
func writeRecReport(w io.Writer, name string, r *receval.Report, secs float64) error {
	var b strings.Builder
	b.WriteString(`{"ranker": ` + strconv.Quote(name))
	num := func(v float64) string {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "null"
		}
		return strconv.FormatFloat(v, 'g', 6, 64)
	}
	add := func(key string, m receval.Metric) {
		fmt.Fprintf(&b, `, %q: %s, %q: [%s, %s]`, key, num(m.Value), key+"_ci", num(m.CI.Lo), num(m.CI.Hi))
	}
	cp := "cp@" + strconv.Itoa(r.K)
	if r.HasTruth {
		add(cp, r.CP)
		add("cdcg", r.CDCG)
		add("car", r.CAR)
	}
	add("ips_"+cp, r.IPSCP)
	add("ips_cdcg", r.IPSCDCG)
	add("ips_car", r.IPSCAR)
	fmt.Fprintf(&b, `, "users": %d, "seconds": %s}`+"\n", r.Users, strconv.FormatFloat(secs, 'f', 3, 64))
	_, err := io.WriteString(w, b.String())
	return err
}
