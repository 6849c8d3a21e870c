package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/causal/receval"
	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/host/progress"
	"github.com/causalrec/causalrec/plugins"
)

// fitEstimatorRef is the estimator of uplift fit: --estimator, qualified or
// of --plugin, with the --param parameters added. A qualified name and a
// --plugin set on the command line must agree.
func fitEstimatorRef(fs *flag.FlagSet, spec, plugin string, params []string) (plugins.EstimatorRef, error) {
	ref, err := plugins.ParseEstimatorRef(spec, plugin)
	if err != nil {
		return plugins.EstimatorRef{}, err
	}
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "plugin" })
	if set && ref.Qualified && ref.Plugin != plugin {
		return plugins.EstimatorRef{}, fmt.Errorf("--plugin %s and --estimator %s name different plugins", plugin, spec)
	}
	kv, err := causal.ParseParams(params)
	if err != nil {
		return plugins.EstimatorRef{}, err
	}
	for k, v := range kv {
		if _, dup := ref.Params[k]; dup {
			return plugins.EstimatorRef{}, fmt.Errorf("parameter %s is set both in --estimator %s and by --param", k, spec)
		}
		ref.Params[k] = v
	}
	return ref, nil
}

// estimatorPlugins starts the estimator plugins a command names, each once
// and only when first needed, and stops them all with Close.
type estimatorPlugins struct {
	m    *pluginhost.Manager
	info map[string]plugins.EstimatorInfo
}

func newEstimatorPlugins(cfg config.Config, logger *slog.Logger) (*estimatorPlugins, error) {
	m, err := newPluginHost(cfg, logger)
	if err != nil {
		return nil, err
	}
	return &estimatorPlugins{m: m, info: map[string]plugins.EstimatorInfo{}}, nil
}

// Close stops every plugin started.
func (p *estimatorPlugins) Close() { p.m.Close() }

// get returns the named plugin, started, and its Info.
func (p *estimatorPlugins) get(ctx context.Context, name string) (plugins.Estimator, plugins.EstimatorInfo, error) {
	est, err := p.m.Estimator(name)
	if err != nil {
		return nil, plugins.EstimatorInfo{}, err
	}
	if info, ok := p.info[name]; ok {
		return est, info, nil
	}
	if err := p.m.StartOne(ctx, name); err != nil {
		return nil, plugins.EstimatorInfo{}, err
	}
	info, err := est.Info(ctx, plugins.InfoRequest{})
	if err != nil {
		return nil, plugins.EstimatorInfo{}, fmt.Errorf("plugin %s: info: %w", name, err)
	}
	p.info[name] = info
	return est, info, nil
}

// resolve returns the plugin that fits ref's estimator; an estimator the
// plugin does not list is an error naming the ones it does.
func (p *estimatorPlugins) resolve(ctx context.Context, ref plugins.EstimatorRef) (plugins.Estimator, error) {
	est, info, err := p.get(ctx, ref.Plugin)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(info.Estimators, ref.Estimator) {
		return nil, fmt.Errorf("%w: unknown estimator %q of plugin %s (it fits: %s)", errUsage, ref.Estimator, ref.Plugin, strings.Join(info.Estimators, ", "))
	}
	return est, nil
}

// pluginUplift makes an estimator plugin usable as a causal.UpliftEstimator,
// so that package causal's cross-fitting and package receval's rankers
// drive plugins. It is built for one command and carries that command's
// context.
type pluginUplift struct {
	ctx      context.Context
	est      plugins.Estimator
	name     string
	params   map[string]string
	features []plugins.Feature
	arms     []string

	mu  sync.Mutex
	err error // the first failed prediction

	task *progress.Task // counts the fits; may be nil
}

func (p *pluginUplift) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

// Err returns the first prediction error, if any.
func (p *pluginUplift) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// pluginModel applies a model fitted through a plugin.
type pluginModel struct {
	u     *pluginUplift
	model []byte
}

func (p *pluginUplift) FitUplift(d causal.UpliftData, src rand.Source) (causal.UpliftModel, error) {
	n, dim := d.X.Dims()
	x := make([]float64, 0, n*dim)
	for i := 0; i < n; i++ {
		x = append(x, d.X.RawRowView(i)...)
	}
	req := plugins.FitRequest{
		Estimator: p.name, Params: p.params, Features: p.features, Arms: p.arms, Seed: src.Uint64(),
		X: x, Arm: d.Treatment, Outcome: d.Y, Weight: d.Weights, Propensity: d.Propensity,
		// Only the model is used: the plugin may skip its reports.
		ModelOnly: true,
	}
	if p.task != nil {
		p.task.Describe("fitting " + p.name)
		// The plugin's steps move the share within this fit.
		req.Progress = func(done, total int) { p.task.Part(int64(done), int64(total)) }
	}
	resp, err := p.est.Fit(p.ctx, req)
	if err != nil {
		if p.task != nil {
			p.task.Part(0, 0)
		}
		return nil, err
	}
	if p.task != nil {
		p.task.Add(1) // and the fit's part ends
	}
	return &pluginModel{u: p, model: resp.Model}, nil
}

// Effects implements causal.UpliftModel. The interface has no error
// result, so a failed prediction yields zero effects and records the
// error, which the command reports instead of the comparison.
func (m *pluginModel) Effects(dst *mat.Dense, x *mat.Dense) *mat.Dense {
	n, dim := x.Dims()
	k := len(m.u.arms) - 1
	if dst == nil {
		dst = mat.NewDense(n, k, nil)
	}
	flat := make([]float64, 0, n*dim)
	for i := 0; i < n; i++ {
		flat = append(flat, x.RawRowView(i)...)
	}
	resp, err := m.u.est.Predict(m.u.ctx, plugins.PredictRequest{Model: m.model, X: flat, NFeatures: dim})
	if err == nil && len(resp.Effects) != n*k {
		err = fmt.Errorf("plugin returned %d effects for %d rows of %d arms", len(resp.Effects), n, k)
	}
	if err != nil {
		m.u.fail(err)
		for i := 0; i < n; i++ {
			for j := 0; j < k; j++ {
				dst.Set(i, j, 0)
			}
		}
		return dst
	}
	for i := 0; i < n; i++ {
		for j := 0; j < k; j++ {
			dst.Set(i, j, resp.Effects[i*k+j])
		}
	}
	return dst
}

// pluginRanker is the receval uplift ranker of an estimator plugin: the
// log's features, all numeric, and the arms "0" (not recommended) and "1"
// (recommended). Its scorer reports a failed prediction as an error.
type pluginRanker struct {
	u *pluginUplift
}

func newPluginRanker(ctx context.Context, est plugins.Estimator, ref plugins.EstimatorRef, features []string) pluginRanker {
	fs := make([]plugins.Feature, len(features))
	for i, f := range features {
		fs[i] = plugins.Feature{Name: f, Kind: plugins.Numeric}
	}
	return pluginRanker{u: &pluginUplift{ctx: ctx, est: est, name: ref.Estimator, params: ref.Params, features: fs, arms: []string{"0", "1"}}}
}

func (r pluginRanker) Fit(train *receval.Log, src rand.Source) (receval.Scorer, error) {
	sc, err := receval.NewUpliftRanker(r.u).Fit(train, src)
	if err != nil {
		return nil, err
	}
	return pluginScorer{sc, r.u}, nil
}

type pluginScorer struct {
	receval.Scorer
	u *pluginUplift
}

func (s pluginScorer) Score(l *receval.Log) ([]float64, error) {
	out, err := s.Scorer.Score(l)
	if err == nil {
		err = s.u.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	return out, nil
}

// recPlugin is a rec eval ranker served by a plugin: its estimator and the
// started plugin (nil for the other rankers).
type recPlugin struct {
	ref plugins.EstimatorRef
	est plugins.Estimator
}

// recRankers returns the rankers of rec eval called names. Built-in ones
// come from reg; for the uplift:<plugin>:<estimator> ones the plugin is
// started (declared in the config file at cfgPath) and its estimator
// checked, and the ranker is left nil in rankers, to be built with the
// training log's features. stop ends the plugins.
func recRankers(ctx context.Context, s stdio, names []string, reg causal.Registry, cfgPath string) (rankers []receval.Ranker, refs []recPlugin, stop func(), err error) {
	rankers, refs, stop = make([]receval.Ranker, len(names)), make([]recPlugin, len(names)), func() {}
	var ests *estimatorPlugins
	defer func() {
		if err != nil && ests != nil {
			ests.Close()
		}
	}()
	for j, n := range names {
		if spec, ok := strings.CutPrefix(n, receval.UpliftPrefix); ok {
			ref, perr := plugins.ParseEstimatorRef(spec, "")
			if perr != nil {
				return nil, nil, nil, usageErr("ranker %q: %v", n, perr)
			}
			if ref.Qualified {
				if ests == nil {
					cfg, cerr := loadOfflineConfig(cfgPath)
					if cerr != nil {
						return nil, nil, nil, cerr
					}
					if ests, err = newEstimatorPlugins(cfg, s.logger); err != nil {
						return nil, nil, nil, err
					}
					stop = ests.Close
				}
				est, rerr := ests.resolve(ctx, ref)
				if rerr != nil {
					return nil, nil, nil, fmt.Errorf("ranker %s: %w", n, rerr)
				}
				refs[j] = recPlugin{ref: ref, est: est}
				continue
			}
		}
		r, rerr := receval.NewRanker(n, reg)
		if rerr != nil {
			return nil, nil, nil, usageErr("%v", rerr)
		}
		rankers[j] = r
	}
	return rankers, refs, stop, nil
}
