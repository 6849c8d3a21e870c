// Command balance measures how often causal.Balance flags the columns of
// the bundled Hillstrom experiment measured after the e-mail (conversion
// and spend, with visit the outcome) and those measured before it, on
// random subsets of the rows of one treated arm and control: the whole
// data set and the shares a training split leaves.
//
// Usage (from the repository root):
//
//	go run ./bench/balance [-arm "Womens E-Mail"] [-shares 1,0.7,0.5,0.3] [-draws 200]
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/examples"
	"github.com/causalrec/causalrec/host/dataset"
)

func main() {
	arm := flag.String("arm", "Womens E-Mail", "treated arm compared with No E-Mail")
	shares := flag.String("shares", "1,0.7,0.5,0.3", "comma-separated shares of the rows to draw")
	draws := flag.Int("draws", 200, "random subsets per share (1 for share 1)")
	flag.Parse()
	if err := run(*arm, *shares, *draws); err != nil {
		fmt.Fprintln(os.Stderr, "balance:", err)
		os.Exit(1)
	}
}

func run(arm, shares string, draws int) error {
	r, err := examples.Hillstrom()
	if err != nil {
		return err
	}
	defer r.Close()
	fr, err := dataset.ReadCSV(r)
	if err != nil {
		return err
	}
	req, schema, _, err := dataset.BuildFit(fr, dataset.Spec{Treatment: "segment", Outcome: "visit", Control: "No E-Mail", Treated: []string{arm}})
	if err != nil {
		return err
	}
	p := len(schema.Features)
	cat := make([]bool, p)
	post := map[int]string{}
	for j, f := range schema.Features {
		cat[j] = f.Categorical
		if f.Name == "conversion" || f.Name == "spend" {
			post[j] = f.Name
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "share\trows\tdraws\tconversion flagged\tspend flagged\tany pre-treatment flagged\t\n")
	rng := rand.New(rand.NewPCG(19, 2026))
	for _, s := range strings.Split(shares, ",") {
		share, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || share <= 0 || share > 1 {
			return fmt.Errorf("share %q not in (0, 1]", s)
		}
		k := draws
		if share == 1 {
			k = 1
		}
		hits := map[string]int{}
		rows := 0
		for range k {
			var keep []int
			for i := range req.Arm {
				if share == 1 || rng.Float64() < share {
					keep = append(keep, i)
				}
			}
			rows += len(keep)
			x := mat.NewDense(len(keep), p, nil)
			t, y := make([]int, len(keep)), make([]float64, len(keep))
			for a, i := range keep {
				x.SetRow(a, req.X[i*p:(i+1)*p])
				t[a], y[a] = req.Arm[i], req.Outcome[i]
			}
			rep, err := causal.Balance(causal.UpliftData{X: x, Treatment: t, Arms: 1, Y: y, Categorical: cat}, causal.BalanceOptions{})
			if err != nil {
				return err
			}
			pre := false
			for _, f := range rep.Imbalanced() {
				if name, ok := post[f.Feature]; ok {
					hits[name]++
				} else {
					pre = true
				}
			}
			if pre {
				hits["pre"]++
			}
		}
		fmt.Fprintf(w, "%g\t%d\t%d\t%.3f\t%.3f\t%.3f\t\n", share, rows/k, k,
			float64(hits["conversion"])/float64(k), float64(hits["spend"])/float64(k), float64(hits["pre"])/float64(k))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	_, err = fmt.Printf("Hillstrom, %s vs No E-Mail, outcome visit; share of random subsets in which causal.Balance (alpha %g) flags each\n", arm, causal.DefaultBalanceAlpha)
	return err
}
