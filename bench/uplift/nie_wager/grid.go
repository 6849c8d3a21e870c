package main

import (
	"encoding/csv"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/causalrec/causalrec/bench/internal/fitshare"
	"github.com/causalrec/causalrec/causal"
)

// grid is the -grid mode: cells of setup × n × d × σ, draws per cell.
type grid struct {
	ns       []int
	ds       []int
	sigmas   []float64
	setups   string
	draws    int
	workers  int
	autos    []string
	share    bool   // share fits within a draw (see fitshare.Cache)
	cacheDir string // and save them here
	// extra are candidate specs fitted alone besides auto's defaults
	// (-extra-candidates); with autoExtra the auto variants that set no
	// candidates take them too (-auto-extra).
	extra     []string
	autoExtra bool
}

// parseExtra reads -extra-candidates: candidate specs separated by ";"
// (a spec's parameters are separated by ":", and auto's candidates
// parameter by ",").
func parseExtra(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ";") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if _, err := causal.ParseAutoCandidate(f); err != nil {
			return nil, fmt.Errorf("-extra-candidates: %w", err)
		}
		out = append(out, f)
	}
	return out, nil
}

func parseGrid(ns, ds, sigmas, setups string, draws, workers int, autos string) (*grid, error) {
	g := &grid{setups: setups, draws: draws, workers: max(1, workers)}
	for _, f := range strings.Split(ns, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 50 {
			return nil, fmt.Errorf("grid n %q: want integers >= 50", f)
		}
		g.ns = append(g.ns, v)
	}
	for _, f := range strings.Split(ds, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 5 {
			return nil, fmt.Errorf("grid d %q: want integers >= 5", f)
		}
		g.ds = append(g.ds, v)
	}
	for _, f := range strings.Split(sigmas, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(v >= 0) {
			return nil, fmt.Errorf("grid sigma %q: want non-negative numbers", f)
		}
		g.sigmas = append(g.sigmas, v)
	}
	for _, s := range []byte(setups) {
		if s < 'A' || s > 'D' {
			return nil, fmt.Errorf("unknown setup %q", s)
		}
	}
	for _, a := range strings.Split(autos, ",") {
		if a = strings.TrimSpace(a); a != "" {
			g.autos = append(g.autos, a)
		}
	}
	return g, nil
}

type cell struct {
	setup byte
	n, d  int
	sigma float64
}

func (c cell) String() string { return fmt.Sprintf("%c n=%d d=%d σ=%g", c.setup, c.n, c.d, c.sigma) }

// seed is the draw's simulation seed: the cell's parameters and the draw.
func (c cell) seed() uint64 {
	return uint64(c.setup)<<40 ^ uint64(c.n)<<20 ^ uint64(c.d)<<12 ^ uint64(math.Round(c.sigma*16))
}

// fitResult is one estimator's test MSE and fit time on one draw.
type fitResult struct {
	name string
	mse  float64
	secs float64
	note string // auto's auto_reason
}

// estimators returns the auto variants followed by auto's default
// candidates for n training rows and the extra candidates.
func (g *grid) estimators(n int) []string {
	return append(slices.Clone(g.autos), g.candidates(n)...)
}

// candidates returns auto's default candidates for n training rows
// followed by the extra candidates.
func (g *grid) candidates(n int) []string {
	var names []string
	for _, c := range causal.DefaultAutoCandidatesFor(n, false) {
		names = append(names, c.Name)
	}
	return append(names, g.extra...)
}

func (g *grid) run(outPath string) error {
	var cells []cell
	// Every (n, d, σ) runs all the setups before the next.
	for _, n := range g.ns {
		for _, d := range g.ds {
			for _, sigma := range g.sigmas {
				for _, s := range []byte(g.setups) {
					cells = append(cells, cell{s, n, d, sigma})
				}
			}
		}
	}
	var out *csv.Writer
	if outPath != "" {
		f, err := os.Create(outPath)
		if err != nil {
			return err
		}
		defer f.Close()
		out = csv.NewWriter(f)
		defer out.Flush()
		if err := out.Write([]string{"setup", "n", "d", "sigma", "draw", "estimator", "mse", "seconds", "note"}); err != nil {
			return err
		}
	}
	type job struct{ cell, draw int }
	jobs := make(chan job)
	results := make([][][]fitResult, len(cells)) // [cell][draw][estimator]
	for i := range results {
		results[i] = make([][]fitResult, g.draws)
	}
	done := make([]int, len(cells))
	var mu sync.Mutex
	var firstErr error
	fmt.Printf("%-22s %9s %9s  %-46s %9s %6s %7s %8s %9s %11s\n", "cell", "auto", "median", "best candidate in hindsight", "its mean", "ratio", "max/med", "auto s", "its m/m", "max/its med")
	var wg sync.WaitGroup
	for range g.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				c := cells[j.cell]
				res, err := g.fitDraw(c, j.draw)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("%s draw %d: %w", c, j.draw, err)
					}
					mu.Unlock()
					continue
				}
				results[j.cell][j.draw] = res
				if out != nil {
					for _, r := range res {
						_ = out.Write([]string{string(c.setup), strconv.Itoa(c.n), strconv.Itoa(c.d), strconv.FormatFloat(c.sigma, 'g', -1, 64),
							strconv.Itoa(j.draw), r.name, strconv.FormatFloat(r.mse, 'g', 8, 64), strconv.FormatFloat(r.secs, 'f', 3, 64), r.note})
					}
					out.Flush()
				}
				done[j.cell]++
				if done[j.cell] == g.draws {
					g.printCell(c, results[j.cell])
				}
				mu.Unlock()
			}
		}()
	}
	for ci := range cells {
		for r := range g.draws {
			jobs <- job{ci, r}
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	fmt.Printf("test MSE of τ (n test units), mean over %d draws a cell; ratio = auto / best candidate; max/med = auto's largest draw / its median draw; its m/m = the same for the best candidate; max/its med = auto's largest draw / the best candidate's median draw\n", g.draws)
	return nil
}

// printCell prints one line per auto variant.
func (g *grid) printCell(c cell, draws [][]fitResult) {
	k := len(draws[0])
	mean := make([]float64, k)
	secs := make([]float64, k)
	for _, res := range draws {
		for e, r := range res {
			mean[e] += r.mse / float64(len(draws))
			secs[e] += r.secs / float64(len(draws))
		}
	}
	best := len(g.autos)
	for e := len(g.autos); e < k; e++ {
		if mean[e] < mean[best] {
			best = e
		}
	}
	bestMed, bestSpread := medianSpread(draws, best)
	for a, name := range g.autos {
		med, spread := medianSpread(draws, a)
		label := c.String()
		if len(g.autos) > 1 {
			label += " " + name
		}
		fmt.Printf("%-22s %9.4f %9.4f  %-46s %9.4f %6.3f %7.2f %8.2f %9.2f %11.2f\n", label, mean[a], med, draws[0][best].name, mean[best],
			mean[a]/mean[best], spread, secs[a], bestSpread, med*spread/bestMed)
	}
}

// medianSpread returns the median over the draws of estimator e's test
// MSE and its largest draw over that median.
func medianSpread(draws [][]fitResult, e int) (med, spread float64) {
	v := make([]float64, len(draws))
	for r, res := range draws {
		v[r] = res[e].mse
	}
	return spreadOf(v)
}

// spreadOf sorts v and returns its median and its largest value over
// that median.
func spreadOf(v []float64) (med, spread float64) {
	slices.Sort(v)
	med = v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return med, v[len(v)-1] / med
}

// fitDraw simulates one draw of the cell and fits every estimator.
// With g.share the candidates are fitted first and every fit is shared
// (fitshare.Cache).
func (g *grid) fitDraw(c cell, draw int) ([]fitResult, error) {
	rng := rand.New(rand.NewPCG(uint64(draw), c.seed()))
	train, _ := simulate(c.setup, c.n, c.d, c.sigma, rng)
	test, tau := simulate(c.setup, c.n, c.d, c.sigma, rng)
	names := g.estimators(c.n)
	out := make([]fitResult, len(names))
	reg := causal.NewRegistry()
	order := make([]int, len(names))
	for i := range order {
		order[i] = i
	}
	if g.share {
		reg = (&fitshare.Cache{Dir: g.cacheDir}).Registry()
		// The candidates first: auto's refits on all rows reuse them.
		order = append(order[len(g.autos):], order[:len(g.autos)]...)
	}
	for _, e := range order {
		name := names[e]
		spec, err := causal.ParseAutoCandidate(name)
		if err != nil {
			return nil, err
		}
		spec.Params["seed"] = strconv.Itoa(draw)
		if _, set := spec.Params["candidates"]; e < len(g.autos) && g.autoExtra && !set {
			spec.Params["candidates"] = strings.Join(names[len(g.autos):], ",")
		}
		est, err := reg.NewEstimator(spec.Estimator, spec.Params)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		m, err := est.FitUplift(train, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		secs := time.Since(start).Seconds()
		eff := m.Effects(nil, test.X)
		var se float64
		for i, v := range tau {
			dv := eff.At(i, 0) - v
			se += dv * dv
		}
		out[e] = fitResult{name: name, mse: se / float64(len(tau)), secs: secs}
		if r, ok := m.(interface{ Report() map[string]string }); ok {
			out[e].note = r.Report()["auto_reason"]
		}
	}
	return out, nil
}
