// Command ihdp measures the accuracy of causalrec's uplift estimators on the
// IHDP semi-synthetic benchmark (Hill 2011, response surface B as published
// by Shalit, Johansson and Sontag 2017): for each replication it fits every
// estimator on the standard 672 training units and reports, on the 75 test
// units, sqrt(PEHE) = sqrt(mean((τ̂(x) − (μ1(x) − μ0(x)))²)) and the error of
// the ATE |mean τ̂ − mean(μ1 − μ0)|, averaged over the replications.
//
// Usage (from the repository root):
//
//	go run ./bench/uplift/ihdp [-data ../shared/data/ihdp_npci_csv] [-reps 50] [-estimators t/linear,tarnet,auto] [-per-rep] [-share-fits] [-fit-cache DIR] [-seed S]
//
// Replication r seeds every estimator with r + S (S = 0 by default), so
// runs with different -seed show how much the averages move with the
// estimators' own randomness (network initialisation, subsamples, folds).
//
// The data are ihdp_npci_1..50.csv (where to get them: docs/data.md) with
// the test rows listed in cfrnet_test_rows_rep1-50.csv: the copy in the
// data folder when there is one, else the one beside this file (see
// SOURCE.md here).
package main

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/causalrec/causalrec/bench/internal/fitshare"
	"github.com/causalrec/causalrec/causal"
	"gonum.org/v1/gonum/mat"
)

// replication is one IHDP replication split into train and test units.
type replication struct {
	train, test causal.UpliftData
	tauTest     []float64 // μ1 − μ0 of the test units
}

func main() {
	dir := flag.String("data", "../shared/data/ihdp_npci_csv", "folder of ihdp_npci_k.csv and cfrnet_test_rows_rep1-50.csv")
	reps := flag.Int("reps", 50, "number of replications (1..50)")
	list := flag.String("estimators", "t/linear,t/gbt,s/gbt,x/linear,x/gbt,r/linear,r/gbt,dr/linear,dr/gbt,causal-forest,tarnet,dragonnet,auto",
		"comma-separated estimators: name or name/base, as in auto's candidates")
	perRep := flag.Bool("per-rep", false, "also print each replication's sqrt(PEHE) per estimator on stderr")
	cacheDir := flag.String("fit-cache", "", "like -share-fits, and also save the fits in this folder and read them back in later runs (empty it after changing an estimator)")
	share := flag.Bool("share-fits", false, "fit the estimators other than auto first and let auto variants reuse their fits on the same rows within a replication (fast comparison of combination rules; auto's fit time then omits them)")
	seed := flag.Int("seed", 0, "added to each replication's number to seed the estimators (replication r uses seed r + S)")
	flag.Parse()
	if *seed < 0 {
		fmt.Fprintln(os.Stderr, "ihdp: -seed must not be negative")
		os.Exit(2)
	}
	if err := run(*dir, *reps, strings.Split(*list, ","), *perRep, *share || *cacheDir != "", *cacheDir, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "ihdp:", err)
		os.Exit(1)
	}
}

// testRowsCSV lists the CFRNet test units of replications 1..50 (see
// SOURCE.md).
//
//go:embed cfrnet_test_rows_rep1-50.csv
var testRowsCSV []byte

func run(dir string, reps int, names []string, perRep, share bool, cacheDir string, seed int) error {
	if _, err := os.Stat(filepath.Join(dir, "ihdp_npci_1.csv")); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("IHDP data not found under %s (it is not part of the repository; docs/data.md says where to get it): %w", dir, err)
	}
	name := filepath.Join(dir, "cfrnet_test_rows_rep1-50.csv")
	raw, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		name, raw, err = "cfrnet_test_rows_rep1-50.csv (embedded)", testRowsCSV, nil
	}
	if err != nil {
		return err
	}
	testRows, err := readTestRows(name, raw)
	if err != nil {
		return err
	}
	order := make([]int, len(names))
	for i := range order {
		order[i] = i
	}
	if share {
		// The candidates first: auto's refits on all rows reuse them.
		sort.SliceStable(order, func(i, j int) bool {
			return !strings.HasPrefix(names[order[i]], "auto") && strings.HasPrefix(names[order[j]], "auto")
		})
	}
	type stat struct{ pehe, ate, secs float64 }
	stats := make([]stat, len(names))
	for r := 1; r <= reps; r++ {
		rep, err := readReplication(filepath.Join(dir, fmt.Sprintf("ihdp_npci_%d.csv", r)), testRows[r])
		if err != nil {
			return err
		}
		reg := causal.NewRegistry()
		if share {
			reg = (&fitshare.Cache{Dir: cacheDir}).Registry()
		}
		for _, e := range order {
			name := names[e]
			c, err := causal.ParseAutoCandidate(name)
			if err != nil {
				return err
			}
			c.Params["seed"] = strconv.Itoa(r + seed)
			est, err := reg.NewEstimator(c.Estimator, c.Params)
			if err != nil {
				return err
			}
			start := time.Now()
			m, err := est.FitUplift(rep.train, nil)
			if err != nil {
				return fmt.Errorf("replication %d: %s: %w", r, name, err)
			}
			stats[e].secs += time.Since(start).Seconds()
			eff := m.Effects(nil, rep.test.X)
			var se, mt, mh float64
			for i, tau := range rep.tauTest {
				d := eff.At(i, 0) - tau
				se += d * d
				mt += tau
				mh += eff.At(i, 0)
			}
			n := float64(len(rep.tauTest))
			stats[e].pehe += math.Sqrt(se / n)
			if perRep {
				fmt.Fprintf(os.Stderr, "replication %d: %s sqrt(PEHE) %.3f\n", r, name, math.Sqrt(se/n))
			}
			stats[e].ate += math.Abs(mh-mt) / n
			if am, ok := m.(*causal.AutoModel); ok {
				switch {
				case perRep:
					fmt.Fprintf(os.Stderr, "replication %d: %s chose %s: %s\n", r, name, am.Chosen, am.Report()["auto_reason"])
				case r <= 5:
					fmt.Fprintf(os.Stderr, "replication %d: auto chose %s\n", r, am.Chosen)
				}
			}
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "estimator\tsqrt(PEHE)\t|ATE err|\tfit s/rep\t\n")
	for e, name := range names {
		k := float64(reps)
		fmt.Fprintf(w, "%s\t%.3f\t%.3f\t%.3f\t\n", name, stats[e].pehe/k, stats[e].ate/k, stats[e].secs/k)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	_, err = fmt.Printf("IHDP replications 1..%d, 672 train / 75 test units (out-of-sample)\n", reps)
	return err
}

// readTestRows maps each replication to the set of its test CSV rows.
func readTestRows(path string, raw []byte) (map[int]map[int]bool, error) {
	recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[int]map[int]bool{}
	for i, rec := range recs[1:] {
		if len(rec) != 3 {
			return nil, fmt.Errorf("%s line %d: %d fields, want 3", path, i+2, len(rec))
		}
		rep, err1 := strconv.Atoi(rec[0])
		row, err2 := strconv.Atoi(rec[2])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s line %d: malformed record %q", path, i+2, rec)
		}
		if out[rep] == nil {
			out[rep] = map[int]bool{}
		}
		out[rep][row] = true
	}
	return out, nil
}

// readReplication reads one ihdp_npci_k.csv (no header: treatment,
// y_factual, y_cfactual, mu0, mu1, x1..x25).
func readReplication(path string, test map[int]bool) (replication, error) {
	recs, err := readCSV(path)
	if err != nil {
		return replication{}, err
	}
	if len(test) != 75 {
		return replication{}, fmt.Errorf("%s: %d test rows listed, want 75", path, len(test))
	}
	const p = 25
	var rep replication
	var xtr, xte []float64
	for i, rec := range recs {
		if len(rec) != 5+p {
			return replication{}, fmt.Errorf("%s line %d: %d fields, want %d", path, i+1, len(rec), 5+p)
		}
		v := make([]float64, len(rec))
		for j, s := range rec {
			if v[j], err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
				return replication{}, fmt.Errorf("%s line %d field %d: %w", path, i+1, j+1, err)
			}
		}
		d := &rep.train
		if test[i] {
			d = &rep.test
			rep.tauTest = append(rep.tauTest, v[4]-v[3])
			xte = append(xte, v[5:]...)
		} else {
			xtr = append(xtr, v[5:]...)
		}
		d.Treatment = append(d.Treatment, int(v[0]))
		d.Y = append(d.Y, v[1])
	}
	rep.train.X = mat.NewDense(len(rep.train.Y), p, xtr)
	rep.test.X = mat.NewDense(len(rep.test.Y), p, xte)
	rep.train.Arms, rep.test.Arms = 1, 1
	return rep, nil
}

func readCSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return csv.NewReader(f).ReadAll()
}
