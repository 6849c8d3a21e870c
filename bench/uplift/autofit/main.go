// Command autofit times auto on a large data set against its candidates:
// it fits auto with its defaults on causal.SimulateReference(n) (one
// treated arm, binary outcome), prints the selection record (the choice or
// the stack's weights, each candidate's cross-validated loss and time),
// then fits on all n rows, on their own, the candidate with the lowest
// cross-validated loss and every stack member, and prints auto's fit time
// over each of theirs. The load average is printed beside the timings: the
// machine may be shared.
//
// Usage (from the repository root):
//
//	go run ./bench/uplift/autofit [-n 1000000] [-seed 1] [-params name=value,...]
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/causalrec/causalrec/bench/internal/loadavg"
	"github.com/causalrec/causalrec/causal"
)

func main() {
	n := flag.Int("n", 1000000, "rows")
	seed := flag.Uint64("seed", 1, "seed of the data and the fits")
	params := flag.String("params", "", "comma-separated name=value parameters of auto")
	flag.Parse()
	if err := run(*n, *seed, *params); err != nil {
		fmt.Fprintln(os.Stderr, "autofit:", err)
		os.Exit(1)
	}
}

func run(n int, seed uint64, params string) error {
	d := causal.SimulateReference(n, rand.NewPCG(seed, 1))
	reg := causal.NewRegistry()
	p := map[string]string{"seed": strconv.FormatUint(seed, 10)}
	if params != "" {
		for _, kv := range strings.Split(params, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("parameter %q: want name=value", kv)
			}
			p[k] = v
		}
	}
	est, err := reg.NewEstimator("auto", p)
	if err != nil {
		return err
	}
	fmt.Printf("auto on %d rows (load %s)\n", n, loadavg.All())
	start := time.Now()
	m, err := est.FitUplift(d, nil)
	if err != nil {
		return err
	}
	autoSecs := time.Since(start).Seconds()
	am := m.(*causal.AutoModel)
	rep := am.Report()
	keys := make([]string, 0, len(rep))
	for k := range rep {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("  %s = %s\n", k, rep[k])
	}
	fmt.Printf("auto fit: %.1f s (load %s)\n", autoSecs, loadavg.All())

	// The candidates to time alone: the best by loss and the members.
	best, bestLoss := "", math.Inf(1)
	for _, s := range am.Scores {
		if s.Loss < bestLoss {
			best, bestLoss = s.Name, s.Loss
		}
	}
	names := []string{best}
	if st, ok := am.Unwrap().(*causal.StackModel); ok {
		for _, mem := range st.Members {
			if mem.Name != best {
				names = append(names, mem.Name)
			}
		}
	}
	for _, name := range names {
		c, err := causal.ParseAutoCandidate(name)
		if err != nil {
			return err
		}
		c.Params["seed"] = strconv.FormatUint(seed, 10)
		e, err := reg.NewEstimator(c.Estimator, c.Params)
		if err != nil {
			return err
		}
		start := time.Now()
		if _, err := e.FitUplift(d, nil); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		secs := time.Since(start).Seconds()
		label := "member"
		if name == best {
			label = "lowest loss"
		}
		fmt.Printf("%s %s alone: %.1f s; auto / it = %.2f (load %s)\n", label, name, secs, autoSecs/secs, loadavg.All())
	}
	return nil
}
