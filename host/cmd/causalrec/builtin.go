package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/host/causalrec"
	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/plugins"
)

// causalRegistry lists every estimator and base learner of package causal
// that the built-in estimator plugin serves.
func causalRegistry() causal.Registry {
	return causal.NewRegistry()
}

// cliLauncher starts a built-in plugin as this executable's "plugins
// serve NAME".
func cliLauncher(name string) (string, []string, []string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, nil, fmt.Errorf("find the causalrec executable for built-in plugins: %w", err)
	}
	return exe, []string{"plugins", "serve", name}, nil, nil
}

// newPluginHost builds a plugin manager for the built-ins and the external
// plugins of cfg.
func newPluginHost(cfg config.Config, logger *slog.Logger) (*pluginhost.Manager, error) {
	return causalrec.NewPluginHost(causalrec.Config{Config: cfg, Logger: logger, Launch: cliLauncher})
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
