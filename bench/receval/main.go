// Command receval sweeps the recommendation simulator of package receval
// over the agreement between engagement and uplift and reports, for each
// ranker, the true CP@K on the test period averaged over independent
// simulations (seeds), with the standard deviation across seeds. Unlike
// the bootstrap intervals of causalrec rec eval, which resample users of
// one simulation, the spread across seeds also covers the draw of items
// and of the logs.
//
// It also times the CSV reader against a bare encoding/csv pass over the
// same bytes (the floor of any CSV reader) and reports the ratio.
//
// Usage:
//
//	go run ./bench/receval [-users 1000] [-items 100] [-seeds 3] [-agreement -1,-0.5,0,0.5,1] [-rankers a,b] [-k 10]
package main

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/causal/receval"
)

func main() {
	if err := run(os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "receval:", err)
		os.Exit(1)
	}
}

// sweepRankers are the rankers of the sweep: the baselines, DLCE and the
// uplift learners that fit in seconds. The cross-validating and neural
// estimators (uplift:auto, uplift:tarnet, ...) run when named with -rankers.
const sweepRankers = "popularity,outcome,outcome-ips,dlce,uplift:s,uplift:t,uplift:x,uplift:r,uplift:dr,uplift:uplift-tree,uplift:uplift-forest"

func run(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("receval", flag.ContinueOnError)
	def := receval.DefaultSimConfig()
	users := fs.Int("users", def.Users, "users per simulation")
	items := fs.Int("items", def.Items, "items per simulation")
	seeds := fs.Int("seeds", 3, "independent simulations per setting")
	agree := fs.String("agreement", "-1,-0.5,0,0.5,1", "comma-separated agreement values")
	rankers := fs.String("rankers", sweepRankers, "comma-separated rankers")
	k := fs.Int("k", 10, "cut-off of CP@K")
	if err := fs.Parse(args); err != nil {
		return err
	}
	reg := causal.NewRegistry()
	names := strings.Split(*rankers, ",")
	names = append(names, "oracle")
	var rhos []float64
	for _, s := range strings.Split(*agree, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return fmt.Errorf("agreement %q: %w", s, err)
		}
		rhos = append(rhos, v)
	}
	fmt.Fprintf(w, "true CP@%d on the test period, mean ± sd over %d simulations of %d users × %d items\n\n", *k, *seeds, *users, *items)
	fmt.Fprint(w, "| ranker |")
	for _, r := range rhos {
		fmt.Fprintf(w, " ρ = %g |", r)
	}
	fmt.Fprint(w, "\n|---|")
	for range rhos {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	cp := make([][][]float64, len(names)) // [ranker][rho][seed]
	for j := range cp {
		cp[j] = make([][]float64, len(rhos))
	}
	var last *receval.Simulation
	for ri, rho := range rhos {
		cfg := def
		cfg.Users, cfg.Items, cfg.Agreement = *users, *items, rho
		for s := range *seeds {
			sim, err := receval.Simulate(cfg, rand.NewPCG(uint64(s+1), 0x5eed))
			if err != nil {
				return err
			}
			last = sim
			for j, name := range names {
				score := sim.Test.Tau
				if name != "oracle" {
					r, err := receval.NewRanker(name, reg)
					if err != nil {
						return err
					}
					sc, err := r.Fit(sim.Train, rand.NewPCG(uint64(s+1), uint64(j)))
					if err != nil {
						return fmt.Errorf("%s: %w", name, err)
					}
					if score, err = sc.Score(sim.Test); err != nil {
						return fmt.Errorf("%s: %w", name, err)
					}
				}
				rep, err := receval.Evaluate(sim.Test, score, *k, causal.Bootstrap{Resamples: 2}, rand.NewPCG(1, 1))
				if err != nil {
					return err
				}
				cp[j][ri] = append(cp[j][ri], rep.CP.Value)
			}
		}
	}
	for j, name := range names {
		fmt.Fprintf(w, "| %s |", name)
		for ri := range rhos {
			m, sd := meanSD(cp[j][ri])
			fmt.Fprintf(w, " %.4f ± %.4f |", m, sd)
		}
		fmt.Fprintln(w)
	}
	return timeCSV(w, last.Train)
}

func meanSD(v []float64) (float64, float64) {
	var s, ss float64
	for _, x := range v {
		s += x
	}
	m := s / float64(len(v))
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	if len(v) < 2 {
		return m, 0
	}
	return m, math.Sqrt(ss / float64(len(v)-1))
}

// timeCSV times ReadCSV against a bare encoding/csv pass, alternating
// runs, and prints the best time of each and their ratio.
func timeCSV(w io.Writer, l *receval.Log) error {
	var buf bytes.Buffer
	if err := receval.WriteCSV(&buf, l); err != nil {
		return err
	}
	data := buf.Bytes()
	best := [2]time.Duration{math.MaxInt64, math.MaxInt64}
	for range 5 {
		start := time.Now()
		cr := csv.NewReader(bytes.NewReader(data))
		cr.ReuseRecord = true
		for {
			if _, err := cr.Read(); err == io.EOF {
				break
			} else if err != nil {
				return err
			}
		}
		best[0] = min(best[0], time.Since(start))
		start = time.Now()
		if _, err := receval.ReadCSV(bytes.NewReader(data)); err != nil {
			return err
		}
		best[1] = min(best[1], time.Since(start))
	}
	fmt.Fprintf(w, "\nCSV of %d rows (%.1f MB): encoding/csv alone %v, receval.ReadCSV %v, ratio %.2f\n",
		l.Len(), float64(len(data))/1e6, best[0].Round(time.Millisecond), best[1].Round(time.Millisecond),
		float64(best[1])/float64(best[0]))
	return nil
}
