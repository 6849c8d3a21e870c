package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/causal/ope"
	"github.com/causalrec/causalrec/causal/plot"
	"github.com/causalrec/causalrec/host/api"
	"github.com/causalrec/causalrec/host/dataset"
	"github.com/causalrec/causalrec/host/progress"
	"github.com/causalrec/causalrec/host/recommend"
)

func runOPE(ctx context.Context, s stdio, args []string) error {
	if len(args) > 0 && args[0] == "policy" {
		return opePolicy(s, args[1:])
	}
	return opeEstimate(ctx, s, args)
}

func opeEstimate(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "ope", "--log LOG.csv --policy POLICY.csv [flags]\n       causalrec ope --redis URL [--prefix P] --model ID|NAME [--policy greedy|epsilon-greedy|plackett-luce] [flags]\n       causalrec ope policy --bts PRIOR.csv [flags]",
		"Off-policy evaluation: estimates, from a log of bandit feedback (one row per item shown at a\n"+
			"position, with its reward and the logging policy's propensity), the value per logged row the\n"+
			"evaluation policy in POLICY.csv would have earned. Prints one JSON object:\n"+
			"{\"rounds\", \"positions\", \"actions\", \"logged_value\", \"estimates\": [{\"estimator\", \"value\", \"ci\",\n"+
			"\"se\", \"ess\", \"max_weight\", \"warnings\", ...}, ...]}, one estimate per estimator in --estimators order.\n\n"+
			"POLICY.csv is item_id,position,prob (the same distribution for every round) or\n"+
			"round,item_id,position,prob (round = 0-based data row of LOG.csv; items a round leaves out have\n"+
			"probability 0); items and positions are the log's values, and at each (round, position) the\n"+
			"probabilities sum to 1. Estimators: ipw, snipw, dm, dr, sndr, switch-dr, dros, switch-dr-tuned,\n"+
			"dros-tuned; switch-dr and dros take :lambda=V, the tuned ones :lambdas=V/V/...:tuning=slope|mse.\n"+
			"The columns default to the Open Bandit Dataset's; the features to every other column but\n"+
			"timestamp and an unnamed leading index column (text columns are categorical). See docs/ope.md.\n"+
			"`causalrec ope policy` writes the policy file of a Bernoulli Thompson-sampling list policy.\n\n"+
			"With --model, ope evaluates a stored model on the service's own log in Redis instead: the\n"+
			"exposures logged with a position and a propensity, each list re-placed as /v1/recommend\n"+
			"would have placed it with the model and --policy (greedy, epsilon-greedy or plackett-luce),\n"+
			"rewarded by the exposure's outcome; the JSON adds model_id, ranker, policy, lists, skipped\n"+
			"and warnings. The same as POST /v1/ope.")
	logPath := fs.String("log", "", "logged bandit feedback CSV file")
	polPath := fs.String("policy", "", "evaluation policy CSV file; with --model the placement policy: greedy (default), epsilon-greedy or plackett-luce")
	hf := addHostFlags(fs, "an embedded in-memory Redis that does NOT persist")
	modelRef := fs.String("model", "", "evaluate this stored model (an id, or a model name such as default for its serving model) on the exposures logged in Redis")
	epsilon := fs.Float64("epsilon", 0, "with --model and --policy epsilon-greedy: the exploration probability, in (0, 1]")
	temperature := fs.Float64("temperature", 0, "with --model and --policy plackett-luce: the temperature, > 0")
	candidates := fs.String("candidates", "", "with --model: comma-separated items the model places at every logged list (default every stored item, at most 1000)")
	includeConsumed := fs.Bool("include-consumed", false, "with --model: keep the items the user engaged with before a list, as /v1/recommend's include_consumed")
	policyID := fs.String("policy-id", "", "with --model: evaluate on the exposures logged with this policy_id only")
	samples := fs.Int("samples", recommend.DefaultReplaySamples, "with --model and a random --policy: placements drawn per logged list to estimate its probabilities")
	estimators := fs.String("estimators", strings.Join(ope.DefaultEstimators, ","), "comma-separated estimators")
	action := fs.String("action", dataset.DefaultBanditSpec.Action, "action (item) column")
	position := fs.String("position", dataset.DefaultBanditSpec.Position, "position column ('' for a log without positions)")
	reward := fs.String("reward", dataset.DefaultBanditSpec.Reward, "reward column (numeric)")
	pscore := fs.String("pscore", dataset.DefaultBanditSpec.PScore, "logging propensity column, in (0, 1]")
	features := fs.String("features", "", "comma-separated context columns (default: every other column but timestamp and an unnamed index)")
	rewardModel := fs.String("reward-model", "logistic", "reward model of dm and the dr family: logistic (action×context interactions) or gbt, with :name=value parameters (e.g. logistic:l2=10, gbt:trees=50)")
	folds := fs.Int("folds", ope.DefaultFolds, "cross-fitting folds of the reward model")
	resamples := fs.Int("bootstrap", 1000, "bootstrap resamples of the percentile intervals (0: normal intervals from the standard error)")
	level := fs.Float64("level", 0.95, "confidence level")
	seed := fs.Uint64("seed", 1, "seed of the folds, the reward model and the bootstrap")
	out := fs.String("out", "", "also write the JSON to this file")
	plotPath := fs.String("plot", "", "draw the estimates with their intervals beside the logged value (.svg or .png)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *modelRef != "" || *hf.redis != "" {
		switch {
		case *modelRef == "":
			return usageErr("--redis needs --model: the stored model to evaluate")
		case *logPath != "":
			return usageErr("--log reads a log file; --model evaluates on the log in Redis: give one of them")
		case fs.NArg() > 0:
			return usageErr("unexpected arguments %q", fs.Args())
		}
		return opeService(ctx, s, hf, api.OPERequest{Model: *modelRef, Policy: *polPath, Epsilon: *epsilon, Temperature: *temperature,
			Candidates: splitList(*candidates), IncludeConsumed: *includeConsumed, PolicyID: *policyID, Samples: *samples,
			Estimators: splitList(*estimators), RewardModel: *rewardModel, Folds: *folds, Bootstrap: resamples, Level: *level, Seed: seed},
			*out, *plotPath)
	}
	switch {
	case *logPath == "" || *polPath == "":
		return usageErr("--log and --policy are required")
	case fs.NArg() > 0:
		return usageErr("unexpected arguments %q", fs.Args())
	case *folds < 2:
		return usageErr("--folds must be at least 2")
	case *resamples < 0 || *resamples == 1:
		return usageErr("--bootstrap must be 0 or at least 2")
	case !(*level > 0 && *level < 1):
		return usageErr("--level must be in (0, 1)")
	}
	var format plot.Format
	if *plotPath != "" {
		var err error
		if format, err = plotFormat("plot", *plotPath); err != nil {
			return err
		}
	}
	specs, err := ope.ParseSpecs(*estimators)
	if err != nil {
		return usageErr("--estimators: %v", err)
	}
	model, err := opeRewardModel(*rewardModel)
	if err != nil {
		return usageErr("--reward-model: %v", err)
	}
	spec := dataset.BanditSpec{Action: *action, Position: *position, Reward: *reward, PScore: *pscore, Features: splitList(*features)}
	lf, err := readCSVNamed("log", *logPath)
	if err != nil {
		return err
	}
	bl, err := dataset.BuildBanditLog(lf, spec)
	if err != nil {
		return fmt.Errorf("log %s: %w", *logPath, err)
	}
	pf, err := readCSVNamed("policy", *polPath)
	if err != nil {
		return err
	}
	bp, err := bl.Policy(pf, spec)
	if err != nil {
		return fmt.Errorf("%s: %w", *polPath, err)
	}
	l, pol, err := opeInput(bl, bp)
	if err != nil {
		return fmt.Errorf("%s: %w", *polPath, err)
	}
	cat := 0
	for _, c := range l.Categorical {
		if c {
			cat++
		}
	}
	kinds := map[dataset.PolicyKind]string{dataset.ContextFree: "context-free", dataset.PerRound: "per-round"}
	fmt.Fprintf(s.err, "log: %d rows, %d actions, %d positions, %d features (%d categorical); %s policy\n",
		l.Rows(), l.Actions, l.Positions, len(bl.Features), cat, kinds[bp.Kind])
	cfg := ope.Config{Estimators: specs, Model: model, Folds: *folds, Resamples: *resamples, Level: *level}
	var task *progress.Task
	if *resamples > 0 {
		task = startTask(s, "ope bootstrap", int64(*resamples), progress.Options{Unit: "resamples", Delay: time.Second})
		cfg.Progress = func(done, total int) { task.Report(int64(done), int64(total)) }
	}
	res, err := ope.EvaluateContext(ctx, l, pol, cfg, rand.NewPCG(*seed, 0x09e))
	if task != nil {
		task.Done()
	}
	if err != nil {
		return err
	}
	ests := make([]plot.Estimate, len(res.Estimates))
	for i, e := range res.Estimates {
		ests[i] = plot.Estimate{Name: e.Estimator, Value: e.Value, Lo: e.CI[0], Hi: e.CI[1]}
	}
	return writeOPE(s, res, ests, res.LoggedValue, res.Level, *out, *plotPath, format)
}

// writeOPE writes the JSON of res to standard output and out (when set)
// and the plot of the estimates to plotPath (when set): all is encoded
// first, so nothing is written when any of it fails.
func writeOPE(s stdio, res any, ests []plot.Estimate, logged, level float64, out, plotPath string, format plot.Format) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	var img bytes.Buffer
	if plotPath != "" {
		if err := plot.WriteEstimates(&img, format, logged, level, ests); err != nil {
			return err
		}
	}
	if out != "" {
		if err := writeFileAtomic(out, b); err != nil {
			return err
		}
	}
	if plotPath != "" {
		if err := writeFileAtomic(plotPath, img.Bytes()); err != nil {
			return err
		}
	}
	_, err = s.out.Write(b)
	return err
}

// opeInput converts a log and a policy read by host/dataset into
// causal/ope's forms.
func opeInput(bl *dataset.BanditLog, bp *dataset.BanditPolicy) (*ope.Log, ope.Policy, error) {
	l := &ope.Log{Actions: len(bl.Actions), Positions: len(bl.Positions), Action: bl.Action, Position: bl.Position,
		Reward: bl.Reward, PScore: bl.PScore, Context: bl.Context, Categorical: bl.Categorical}
	if bp.Kind == dataset.PerRound {
		return l, &ope.RowPolicy{Start: bp.Start, Action: bp.Action, Prob: bp.RowProb}, nil
	}
	pol, err := ope.NewPositionPolicy(l.Position, bp.Prob)
	return l, pol, err
}

// readCSVNamed reads a CSV file, naming it in errors.
func readCSVNamed(what, path string) (*dataset.Frame, error) {
	f, err := dataset.ReadCSVFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s file %s does not exist", what, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return f, nil
}

// writeFileAtomic writes b to path through a temporary file.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// parseLearnerSpec reads "name" or "name:k=v:k=v".
func parseLearnerSpec(spec string) (string, map[string]string, error) {
	parts := strings.Split(strings.TrimSpace(spec), ":")
	params, err := causal.ParseParams(parts[1:])
	if err != nil {
		return "", nil, fmt.Errorf("%q: %w", spec, err)
	}
	return parts[0], params, nil
}

// opeRewardModel builds the reward model named by spec: logistic (with
// l2, max_iter) or any base learner of causal's registry (gbt, forest,
// mlp, linear) with its parameters.
func opeRewardModel(spec string) (ope.RewardModel, error) {
	name, params, err := parseLearnerSpec(spec)
	if err != nil {
		return nil, err
	}
	if name != "logistic" {
		if _, ok := causal.NewRegistry().Learners[name]; !ok {
			return nil, fmt.Errorf("unknown reward model %q (logistic, gbt, forest, mlp or linear)", name)
		}
		l, err := registryLearner(spec)
		if err != nil {
			return nil, err
		}
		return ope.LearnerRewards{Learner: l}, nil
	}
	p := causal.NewParams(params)
	l2, err := p.Float("l2", 0)
	if err != nil {
		return nil, err
	}
	iter, err := p.Int("max_iter", 0)
	if err != nil {
		return nil, err
	}
	if l2 < 0 || iter < 0 {
		return nil, fmt.Errorf("logistic: l2 and max_iter must not be negative")
	}
	if un := p.Unread(); len(un) > 0 {
		return nil, fmt.Errorf("logistic does not take %s", strings.Join(un, ", "))
	}
	return ope.Logistic{L2: l2, MaxIter: iter}, nil
}

func opePolicy(s stdio, args []string) error {
	fs := newFlags(s, "ope policy", "--bts PRIOR.csv --positions 3 --samples 100000 --seed 1 --out POLICY.csv",
		"Writes the context-free policy file (item_id,position,prob) of a Bernoulli Thompson-sampling\n"+
			"list policy: in each of --samples draws, item i draws from Beta(alpha_i, beta_i) and the item at\n"+
			"position k is the k-th largest draw (OBP's BernoulliTS.compute_batch_action_dist). PRIOR.csv\n"+
			"has columns item_id,alpha,beta. Positions are numbered from --first-position, as in the log.")
	prior := fs.String("bts", "", "prior CSV file: item_id,alpha,beta")
	positions := fs.Int("positions", 3, "positions of the list")
	samples := fs.Int("samples", 100000, "Monte Carlo draws")
	seed := fs.Uint64("seed", 1, "seed of the draws")
	first := fs.Int("first-position", 1, "number of the first position (the Open Bandit Dataset's positions are 1, 2, 3)")
	out := fs.String("out", "-", "output CSV file (- for standard output)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *prior == "":
		return usageErr("--bts is required")
	case fs.NArg() > 0:
		return usageErr("unexpected arguments %q", fs.Args())
	case *positions < 1:
		return usageErr("--positions must be at least 1")
	case *samples < 1:
		return usageErr("--samples must be at least 1")
	}
	f, err := readCSVNamed("prior", *prior)
	if err != nil {
		return err
	}
	var cols [3]*dataset.Column
	for i, name := range []string{"item_id", "alpha", "beta"} {
		c, ok := f.Column(name)
		if !ok {
			return fmt.Errorf("prior %s: want columns item_id,alpha,beta; found %s", *prior, strings.Join(f.Names(), ","))
		}
		if i > 0 && !c.Numeric {
			return fmt.Errorf("prior %s: column %s is not numeric", *prior, name)
		}
		cols[i] = c
	}
	seen := map[string]bool{}
	for i := range f.Rows {
		id := cols[0].String(i)
		if seen[id] {
			return fmt.Errorf("prior %s: line %d: item %s listed twice", *prior, f.Lines[i], id)
		}
		seen[id] = true
	}
	if *positions > f.Rows {
		return usageErr("--positions %d exceeds the prior's %d items", *positions, f.Rows)
	}
	prob, err := ope.BernoulliTS(cols[1].Values, cols[2].Values, *positions, *samples, rand.NewPCG(*seed, 0xb75))
	if err != nil {
		return fmt.Errorf("prior %s: %w", *prior, err)
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	fmt.Fprintln(w, "item_id,position,prob")
	for k, row := range prob {
		for a, p := range row {
			fmt.Fprintf(w, "%s,%d,%s\n", csvCell(cols[0].String(a)), *first+k, strconv.FormatFloat(p, 'g', -1, 64))
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if *out == "-" {
		_, err = io.Copy(s.out, &buf)
		return err
	}
	return writeFileAtomic(*out, buf.Bytes())
}

// csvCell quotes a CSV field when it needs it.
func csvCell(s string) string {
	if strings.ContainsAny(s, ",\"\r\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}
