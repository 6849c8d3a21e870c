// Command autofit times auto on a large data set against its candidates:
// it fits auto with its defaults on causal.SimulateReference(n) (one
// treated arm, binary outcome), prints the selection record (the choice or
// the stack's weights, each candidate's cross-validated loss and time),
// then fits on all n rows, on their own, the candidate with the lowest
// cross-validated loss and every stack member, and prints auto's fit time
// over each of theirs. With -repeat R (default 3) auto and the candidates
// are fitted R times, in turn, and the ratio is that of the median times,
// so that one slow fit on a shared machine does not decide it. The load
// average is printed beside the timings.
//
// Usage (from the repository root):
//
//	go run ./bench/uplift/autofit [-n 1000000] [-seed 1] [-repeat 3] [-params name=value,...] [-cpuprofile FILE]
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
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
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of auto's first fit to this file")
	repeat := flag.Int("repeat", 3, "fits of auto and of each candidate; the ratio is of the median times")
	flag.Parse()
	if *repeat < 1 {
		fmt.Fprintln(os.Stderr, "autofit: -repeat must be at least 1")
		os.Exit(2)
	}
	if err := run(*n, *seed, *repeat, *params, *cpuProfile); err != nil {
		fmt.Fprintln(os.Stderr, "autofit:", err)
		os.Exit(1)
	}
}

func run(n int, seed uint64, repeat int, params, cpuProfile string) error {
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
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	start := time.Now()
	m, err := est.FitUplift(d, nil)
	if cpuProfile != "" {
		pprof.StopCPUProfile()
	}
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
	fmt.Printf("auto fit 1: %.2f s (load %s)\n", autoSecs, loadavg.All())

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
	alone := make([]causal.UpliftEstimator, len(names))
	for j, name := range names {
		c, err := causal.ParseAutoCandidate(name)
		if err != nil {
			return err
		}
		c.Params["seed"] = strconv.FormatUint(seed, 10)
		if alone[j], err = reg.NewEstimator(c.Estimator, c.Params); err != nil {
			return err
		}
	}
	autoTimes := []float64{autoSecs}
	aloneTimes := make([][]float64, len(names))
	for r := range repeat {
		if r > 0 {
			start := time.Now()
			if _, err := est.FitUplift(d, nil); err != nil {
				return err
			}
			autoTimes = append(autoTimes, time.Since(start).Seconds())
			fmt.Printf("auto fit %d: %.2f s (load %s)\n", r+1, autoTimes[r], loadavg.All())
		}
		for j, name := range names {
			start := time.Now()
			if _, err := alone[j].FitUplift(d, nil); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			aloneTimes[j] = append(aloneTimes[j], time.Since(start).Seconds())
			fmt.Printf("%s alone, fit %d: %.2f s (load %s)\n", name, r+1, aloneTimes[j][r], loadavg.All())
		}
	}
	autoMed := median(autoTimes)
	for j, name := range names {
		label := "member"
		if name == best {
			label = "lowest loss"
		}
		med := median(aloneTimes[j])
		fmt.Printf("%s %s alone: median %.2f s of %d; auto median %.2f s; auto / it = %.2f\n", label, name, med, repeat, autoMed, autoMed/med)
	}
	return nil
}

// median returns the median of v (the mean of the middle two when even).
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
