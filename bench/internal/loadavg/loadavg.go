// Package loadavg reads the machine's load averages, which the benchmark
// programs print beside their timings: the machines they run on are shared,
// and the load says how much of the CPUs a run had.
package loadavg

import (
	"os"
	"strings"
)

// All returns the 1-, 5- and 15-minute load averages, space-separated, or
// "unknown" when /proc/loadavg cannot be read.
func All() string {
	f := fields()
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// One returns the 1-minute load average, or "unknown".
func One() string {
	f := fields()
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}

func fields() []string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}
