// Command causalrec-sentiment is the built-in VADER sentiment text scorer
// as a standalone program, for hosts that load it from a path. The
// causalrec binary serves the same plugin itself ("causalrec plugins serve
// sentiment").
package main

import (
	"github.com/causalrec/causalrec/plugins"
	"github.com/causalrec/causalrec/plugins/builtin/sentiscore"
)

func main() {
	plugins.Serve(plugins.Set{TextScorer: sentiscore.New("0.1.0", 0)})
}
