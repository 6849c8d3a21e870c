// Command causalrec-estimator is the built-in uplift estimator plugin as a
// standalone program, for hosts that load it from a path. The causalrec
// binary serves the same plugin itself ("causalrec plugins serve causal").
package main

import (
	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/plugins"
	"github.com/causalrec/causalrec/plugins/builtin/estimator"
)

func main() {
	plugins.Serve(plugins.Set{Estimator: estimator.New(causal.NewRegistry(), "0.1.0")})
}
