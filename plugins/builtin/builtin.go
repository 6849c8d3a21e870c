// Package builtin lists the plugins that ship inside causalrec: the uplift
// estimator of package causal, the lm text scorer and the sentiment text
// scorer. A host runs each as a process of its own executable (the
// causalrec binary, or a Go program that embeds causalrec), which serves
// the plugin with Serve.
package builtin

import (
	"fmt"
	"os"
	"slices"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/plugins"
	"github.com/causalrec/causalrec/plugins/builtin/estimator"
	"github.com/causalrec/causalrec/plugins/builtin/lmscore"
	"github.com/causalrec/causalrec/plugins/builtin/sentiscore"
)

// Release is the causalrec release; the built-in plugins report it as
// their version (the lm plugin with its model's hash).
const Release = "0.1.0"

// Plugin is a built-in plugin: its kind (plugins.KindEstimator or
// plugins.KindTextScorer) and the implementation it serves.
type Plugin struct {
	Kind string
	Set  func() plugins.Set
}

// Plugins returns the built-in plugins by name.
func Plugins() map[string]Plugin {
	return map[string]Plugin{
		estimator.Name: {plugins.KindEstimator, func() plugins.Set {
			return plugins.Set{Estimator: estimator.New(causal.NewRegistry(), Release)}
		}},
		lmscore.Name: {plugins.KindTextScorer, func() plugins.Set {
			return plugins.Set{TextScorer: lmscore.FromEnv(Release, nil, os.Getenv)}
		}},
		sentiscore.Name: {plugins.KindTextScorer, func() plugins.Set {
			return plugins.Set{TextScorer: sentiscore.New(Release, 0)}
		}},
	}
}

// Names returns the names of the built-in plugins, sorted.
func Names() []string {
	var out []string
	for n := range Plugins() {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Serve serves the built-in plugin name as a plugin program (see
// plugins.Serve) and returns when the host ends it.
func Serve(name string) error {
	p, ok := Plugins()[name]
	if !ok {
		return fmt.Errorf("no built-in plugin %q (want one of %v)", name, Names())
	}
	plugins.Serve(p.Set())
	return nil
}
