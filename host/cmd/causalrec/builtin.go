package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"time"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/plugins"
	"github.com/causalrec/causalrec/plugins/builtin/estimator"
	"github.com/causalrec/causalrec/plugins/builtin/lmscore"
	"github.com/causalrec/causalrec/plugins/builtin/sentiscore"
)

// version is the causalrec release; built-in plugins report it.
const version = "0.1.0"

// builtin is a plugin that ships inside the causalrec binary. The host
// runs it as a separate process by executing itself with
// "plugins serve <name>".
type builtin struct {
	kind string
	set  func() plugins.Set
}

func builtins() map[string]builtin {
	return map[string]builtin{
		estimator.Name: {plugins.KindEstimator, func() plugins.Set {
			return plugins.Set{Estimator: estimator.New(causalRegistry(), version)}
		}},
		lmscore.Name: {plugins.KindTextScorer, func() plugins.Set {
			return plugins.Set{TextScorer: lmscore.FromEnv(version, nil, os.Getenv)}
		}},
		sentiscore.Name: {plugins.KindTextScorer, func() plugins.Set {
			return plugins.Set{TextScorer: sentiscore.New(version, 0)}
		}},
	}
}

// causalRegistry lists every estimator and base learner of package causal
// that the built-in estimator plugin serves.
func causalRegistry() causal.Registry {
	return causal.NewRegistry()
}

// builtinSpecs returns the specs that run the built-in plugins from the
// executable exe.
func builtinSpecs(exe string) []pluginhost.Spec {
	b := builtins()
	names := make([]string, 0, len(b))
	for n := range b {
		names = append(names, n)
	}
	sort.Strings(names)
	specs := make([]pluginhost.Spec, 0, len(names))
	for _, n := range names {
		specs = append(specs, pluginhost.Spec{Name: n, Kind: b[n].kind, Path: exe, Args: []string{"plugins", "serve", n}, Builtin: true})
	}
	return specs
}

// newPluginHost builds a plugin manager for the built-ins and the external
// plugins of cfg.
func newPluginHost(cfg config.Config, logger *slog.Logger) (*pluginhost.Manager, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the causalrec executable for built-in plugins: %w", err)
	}
	specs := append(builtinSpecs(exe), cfg.Plugins...)
	return pluginhost.New(specs, pluginhost.Options{
		Logger:       logger,
		StartTimeout: time.Duration(cfg.PluginStartTimeout),
		PingInterval: time.Duration(cfg.PluginPingInterval),
		DevMode:      cfg.PluginDevMode,
	})
}

// startEstimator starts only the named estimator plugin and returns it
// with a function that stops it.
func startEstimator(ctx context.Context, cfg config.Config, logger *slog.Logger, name string) (plugins.Estimator, func(), error) {
	m, err := newPluginHost(cfg, logger)
	if err != nil {
		return nil, nil, err
	}
	est, err := m.Estimator(name)
	if err != nil {
		return nil, nil, err
	}
	if err := m.StartOne(ctx, name); err != nil {
		m.Close()
		return nil, nil, err
	}
	return est, m.Close, nil
}
