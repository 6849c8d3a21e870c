// Command causalrec-lm is the built-in language-model text scorer as a
// standalone program, for hosts that load it from a path. Arguments:
// --model PATH (default $CAUSALREC_LM_MODEL, else the embedded default
// model), --mu X, --max-text-bytes N. The causalrec binary serves the same
// plugin itself ("causalrec plugins serve lm").
package main

import (
	"os"

	"github.com/causalrec/causalrec/plugins"
	"github.com/causalrec/causalrec/plugins/builtin/lmscore"
)

func main() {
	plugins.Serve(plugins.Set{TextScorer: lmscore.FromEnv("0.1.0", os.Args[1:], os.Getenv)})
}
