package main

import (
	"os"

	"github.com/causalrec/causalrec/host/progress"
)

// startTask shows the progress of a step on the command's standard error:
// a bar on a terminal, plain lines otherwise. CAUSALREC_PROGRESS (auto,
// bar, lines or off) overrides the choice.
func startTask(s stdio, label string, total int64, opt progress.Options) *progress.Task {
	if mode, err := progress.ParseMode(os.Getenv("CAUSALREC_PROGRESS")); err == nil && mode != progress.Auto {
		opt.Mode = mode
	}
	if s.progressEvery > 0 {
		opt.Delay, opt.Interval = 0, s.progressEvery
	}
	return progress.Start(s.err, label, total, opt)
}
