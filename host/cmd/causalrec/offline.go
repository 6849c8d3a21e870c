package main

import (
	"time"

	"github.com/causalrec/causalrec/host/config"
)

// offlinePredictTimeout is the least deadline of a plugin's Predict (and
// of a Predict that carries the model) in the offline commands: they
// predict whole files in batches, where the serving deadline (300 ms a
// call, so that a request can still fall back) would fail a large file on
// a busy machine.
const offlinePredictTimeout = time.Minute

// loadOfflineConfig loads the configuration at path for an offline command
// (uplift fit, predict, compare, explain; rec eval): the configured plugin
// deadlines, with Predict and Load raised to at least
// offlinePredictTimeout.
func loadOfflineConfig(path string) (config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return cfg, err
	}
	for _, d := range []*config.Duration{&cfg.PluginTimeouts.Predict, &cfg.PluginTimeouts.Load} {
		if time.Duration(*d) < offlinePredictTimeout {
			*d = config.Duration(offlinePredictTimeout)
		}
	}
	return cfg, nil
}
