// Command nie_wager measures the accuracy of causalrec's uplift estimators
// on the four simulation setups of Nie and Wager, "Quasi-oracle estimation
// of heterogeneous treatment effects" (Biometrika 108(2), 2021), Section 6:
//
//	Y = b(X) + (W − 0.5)·τ(X) + σ·ε,  W ~ Bernoulli(e(X)),  ε ~ N(0, 1),
//
//	A: X ~ U(0,1)^d, b = sin(π x1 x2) + 2(x3 − 0.5)² + x4 + 0.5 x5,
//	   e = min(max(sin(π x1 x2), 0.1), 0.9), τ = (x1 + x2)/2;
//	B: X ~ N(0, I_d), b = max(0, x1 + x2, x3) + max(0, x4 + x5), e = 1/2,
//	   τ = x1 + log(1 + e^x2);
//	C: X ~ N(0, I_d), b = 2 log(1 + e^(x1+x2+x3)), e = 1/(1 + e^(x2+x3)), τ = 1;
//	D: X ~ N(0, I_d), b = (max(x1+x2+x3, 0) + max(x4+x5, 0))/2,
//	   e = 1/(1 + e^−x1 + e^−x2), τ = max(x1+x2+x3, 0) − max(x4+x5, 0).
//
// For each draw it fits every estimator on n training units and reports the
// mean squared error of τ̂ on an independent test set of n units, averaged
// over the draws.
//
// With -grid it instead runs the grid of n, d and σ values (-grid-n,
// -grid-d, -grid-sigma) over the setups: every draw fits auto (each of the
// -auto variants) and, for the comparison in hindsight, every default
// candidate of auto on its own; each cell prints auto's mean test MSE, the
// candidate with the lowest mean test MSE in that cell and its mean, their
// ratio, and auto's largest draw over its median draw (and the best
// candidate's; see spread_test.go for what that spread is for an
// estimator whose error is one normal deviate). -out writes every
// fit's test MSE as CSV. With -share-fits the auto variants reuse, within
// a draw, every fit of a candidate on the same rows (the cross-fitting
// folds of variants with the same seed and folds, and the refits on all
// rows, which are the candidates' own fits): comparing combination rules
// then costs about one auto fit per draw, and the variants differ from
// separate fits only in the seeds of the shared fits. -fit-cache DIR also
// saves the fits and reads them back in later runs. -extra-candidates
// adds candidates to the comparison in hindsight, and -auto-extra gives
// them to the auto variants too (comparing candidate sets).
//
// Usage (from the repository root):
//
//	go run ./bench/uplift/nie_wager [-n 1000] [-d 6] [-sigma 1] [-draws 20] [-setups ABCD] [-estimators ...]
//	go run ./bench/uplift/nie_wager -grid [-draws 10] [-grid-n 500,1000] [-grid-d 6,12] [-grid-sigma 0.5,1,2,4] [-workers 2] [-auto auto] [-share-fits] [-fit-cache DIR] [-extra-candidates "spec;spec"] [-auto-extra] [-out fits.csv]
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/causalrec/causalrec/causal"
	"gonum.org/v1/gonum/mat"
)

func main() {
	n := flag.Int("n", 1000, "training (and test) units per draw")
	d := flag.Int("d", 6, "number of features (at least 5)")
	sigma := flag.Float64("sigma", 1, "noise standard deviation")
	draws := flag.Int("draws", 20, "number of draws per setup")
	setups := flag.String("setups", "ABCD", "setups to run")
	list := flag.String("estimators", "t/gbt,s/gbt,x/gbt,r/gbt,dr/gbt,x/linear,r/linear,causal-forest,tarnet,dragonnet,auto",
		"comma-separated estimators: name or name/base, as in auto's candidates")
	grid := flag.Bool("grid", false, "run the grid of -grid-n, -grid-d and -grid-sigma (see the package doc)")
	gridN := flag.String("grid-n", "500,1000", "grid: comma-separated n values")
	gridD := flag.String("grid-d", "6,12", "grid: comma-separated d values")
	gridSigma := flag.String("grid-sigma", "0.5,1,2,4", "grid: comma-separated σ values")
	workers := flag.Int("workers", 2, "grid: draws fitted in parallel")
	autos := flag.String("auto", "auto", "grid: comma-separated auto variants, as estimator specs (e.g. auto,auto:combine=select)")
	out := flag.String("out", "", "grid: write every fit's test MSE to this CSV file")
	cacheDir := flag.String("fit-cache", "", "grid: like -share-fits, and also save the fits in this folder and read them back in later runs (empty it after changing an estimator)")
	extra := flag.String("extra-candidates", "", "grid: candidate specs separated by \";\" fitted alone besides auto's defaults, for the comparison in hindsight")
	autoExtra := flag.Bool("auto-extra", false, "grid: the -auto variants that set no candidates take the -extra-candidates besides their defaults")
	share := flag.Bool("share-fits", false, "grid: the auto variants reuse the candidates' fits on the same rows within a draw (fast comparison of combination rules; auto's fit time then omits them)")
	flag.Parse()
	if *d < 5 || *n < 50 || *draws < 1 {
		fmt.Fprintln(os.Stderr, "nie_wager: need d >= 5, n >= 50, draws >= 1")
		os.Exit(2)
	}
	if *grid {
		g, err := parseGrid(*gridN, *gridD, *gridSigma, *setups, *draws, *workers, *autos)
		if err == nil {
			g.share, g.cacheDir = *share || *cacheDir != "", *cacheDir
			g.autoExtra = *autoExtra
			if g.extra, err = parseExtra(*extra); err == nil {
				err = g.run(*out)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "nie_wager:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*n, *d, *sigma, *draws, *setups, strings.Split(*list, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "nie_wager:", err)
		os.Exit(1)
	}
}

// simulate draws n units of setup s; it returns the data and the true τ.
func simulate(s byte, n, d int, sigma float64, rng *rand.Rand) (causal.UpliftData, []float64) {
	x := mat.NewDense(n, d, nil)
	t := make([]int, n)
	y := make([]float64, n)
	tau := make([]float64, n)
	row := make([]float64, d)
	for i := 0; i < n; i++ {
		for j := range row {
			if s == 'A' {
				row[j] = rng.Float64()
			} else {
				row[j] = rng.NormFloat64()
			}
		}
		x.SetRow(i, row)
		x1, x2, x3, x4, x5 := row[0], row[1], row[2], row[3], row[4]
		var b, e float64
		switch s {
		case 'A':
			b = math.Sin(math.Pi*x1*x2) + 2*(x3-0.5)*(x3-0.5) + x4 + 0.5*x5
			e = math.Min(math.Max(math.Sin(math.Pi*x1*x2), 0.1), 0.9)
			tau[i] = (x1 + x2) / 2
		case 'B':
			b = math.Max(0, math.Max(x1+x2, x3)) + math.Max(0, x4+x5)
			e = 0.5
			tau[i] = x1 + math.Log1p(math.Exp(x2))
		case 'C':
			b = 2 * math.Log1p(math.Exp(x1+x2+x3))
			e = 1 / (1 + math.Exp(x2+x3))
			tau[i] = 1
		case 'D':
			b = (math.Max(x1+x2+x3, 0) + math.Max(x4+x5, 0)) / 2
			e = 1 / (1 + math.Exp(-x1) + math.Exp(-x2))
			tau[i] = math.Max(x1+x2+x3, 0) - math.Max(x4+x5, 0)
		}
		w := 0.0
		if rng.Float64() < e {
			t[i], w = 1, 1
		}
		y[i] = b + (w-0.5)*tau[i] + sigma*rng.NormFloat64()
	}
	return causal.UpliftData{X: x, Treatment: t, Arms: 1, Y: y}, tau
}

func run(n, d int, sigma float64, draws int, setups string, names []string) error {
	reg := causal.NewRegistry()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "setup\t")
	for _, name := range names {
		fmt.Fprintf(w, "%s\t", name)
	}
	fmt.Fprintf(w, "\n")
	secs := make([]float64, len(names))
	for _, s := range []byte(setups) {
		if s < 'A' || s > 'D' {
			return fmt.Errorf("unknown setup %q", s)
		}
		mse := make([]float64, len(names))
		for r := 0; r < draws; r++ {
			rng := rand.New(rand.NewPCG(uint64(r), uint64(s)))
			train, _ := simulate(s, n, d, sigma, rng)
			test, tau := simulate(s, n, d, sigma, rng)
			for e, name := range names {
				c, err := causal.ParseAutoCandidate(name)
				if err != nil {
					return err
				}
				c.Params["seed"] = strconv.Itoa(r)
				est, err := reg.NewEstimator(c.Estimator, c.Params)
				if err != nil {
					return err
				}
				start := time.Now()
				m, err := est.FitUplift(train, nil)
				if err != nil {
					return fmt.Errorf("setup %c draw %d: %s: %w", s, r, name, err)
				}
				secs[e] += time.Since(start).Seconds()
				eff := m.Effects(nil, test.X)
				var se float64
				for i, v := range tau {
					dv := eff.At(i, 0) - v
					se += dv * dv
				}
				mse[e] += se / float64(len(tau))
			}
		}
		fmt.Fprintf(w, "%c\t", s)
		for e := range names {
			fmt.Fprintf(w, "%.3f\t", mse[e]/float64(draws))
		}
		fmt.Fprintf(w, "\n")
	}
	fmt.Fprintf(w, "fit s/draw\t")
	for e := range names {
		fmt.Fprintf(w, "%.2f\t", secs[e]/float64(draws*len(setups)))
	}
	fmt.Fprintf(w, "\n")
	if err := w.Flush(); err != nil {
		return err
	}
	_, err := fmt.Printf("test MSE of τ, n=%d, d=%d, σ=%g, mean over %d draws\n", n, d, sigma, draws)
	return err
}
