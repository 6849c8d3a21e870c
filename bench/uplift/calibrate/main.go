// Command calibrate checks the calibration of causalrec's uplift scores on
// the Hillstrom MineThatData e-mail experiment (Womens E-Mail against No
// E-Mail, outcome visit), the split of bench/uplift/hillstrom: the 42,693
// rows of the two arms in file order, even positions train and odd
// positions test. Each estimator is fitted on the train half with the
// pre-treatment features (recency, history, mens, womens, newbie,
// zip_code, channel) and scores the test half; causal.Calibrate (as
// `causalrec uplift calibrate`) then reports on the test half the BLP
// test, the calibration R² of 10 score bins and the RATE (AUTOC, Qini).
//
// Usage (from the repository root):
//
//	go run ./bench/uplift/calibrate [-data ../shared/data/hillstrom/hillstrom.csv] [-estimators t,x]
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/host/dataset"
)

var features = []string{"recency", "history", "mens", "womens", "newbie", "zip_code", "channel"}

func main() {
	data := flag.String("data", "../shared/data/hillstrom/hillstrom.csv", "hillstrom.csv")
	list := flag.String("estimators", "t,x,t:base=gbt,x:base=gbt,dr", "comma-separated estimators name[:param=value...] of causal's registry")
	resamples := flag.Int("bootstrap", 1000, "RATE half-samples")
	flag.Parse()
	if err := run(*data, strings.Split(*list, ","), *resamples); err != nil {
		fmt.Fprintln(os.Stderr, "calibrate:", err)
		os.Exit(1)
	}
}

func run(path string, specs []string, resamples int) error {
	fr, err := dataset.ReadCSVFile(path)
	if err != nil {
		return err
	}
	t, err := dataset.Binary(fr, "segment", "No E-Mail", "Womens E-Mail")
	if err != nil {
		return err
	}
	visit, _ := fr.Column("visit")
	cols := make([]*dataset.Column, len(features))
	cat := make([]bool, len(features))
	for j, name := range features {
		c, ok := fr.Column(name)
		if !ok {
			return fmt.Errorf("no column %q", name)
		}
		cols[j], cat[j] = c, !c.Numeric
	}
	var train, test []int
	k := 0
	for i, v := range t {
		if v < 0 {
			continue
		}
		if k%2 == 0 {
			train = append(train, i)
		} else {
			test = append(test, i)
		}
		k++
	}
	matrix := func(rows []int) *mat.Dense {
		x := mat.NewDense(len(rows), len(cols), nil)
		for r, i := range rows {
			for j, c := range cols {
				if c.Numeric {
					x.Set(r, j, c.Values[i])
				} else {
					x.Set(r, j, float64(c.Codes[i]))
				}
			}
		}
		return x
	}
	xtr, xte := matrix(train), matrix(test)
	d := causal.UpliftData{X: xtr, Arms: 1, Categorical: cat}
	for _, i := range train {
		d.Treatment = append(d.Treatment, t[i])
		d.Y = append(d.Y, visit.Values[i])
	}
	cd := causal.CalibrationData{X: xte, Categorical: cat}
	for _, i := range test {
		cd.T = append(cd.T, t[i])
		cd.Y = append(cd.Y, visit.Values[i])
	}
	fmt.Printf("Hillstrom Womens E-Mail vs No E-Mail, outcome visit: %d train rows, %d test rows; features %s\n", len(train), len(test), strings.Join(features, ", "))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "estimator\tmean coef\t95% CI\tp\tdifferential coef\t95% CI\tp\tcalibration R²\tAUTOC\t95% CI\tQini RATE\t95% CI\t")
	reg := causal.NewRegistry()
	for _, spec := range specs {
		parts := strings.Split(spec, ":")
		params, err := causal.ParseParams(parts[1:])
		if err != nil {
			return err
		}
		est, err := reg.NewEstimator(parts[0], params)
		if err != nil {
			return err
		}
		m, err := est.FitUplift(d, rand.NewPCG(1, 1))
		if err != nil {
			return fmt.Errorf("%s: %w", spec, err)
		}
		eff := m.Effects(nil, xte)
		cd.Score = mat.Col(nil, 0, eff)
		c, err := causal.Calibrate(cd, causal.CalibrationConfig{Resamples: resamples}, rand.NewPCG(1, 2))
		if err != nil {
			return fmt.Errorf("%s: %w", spec, err)
		}
		fmt.Fprintf(tw, "%s\t%.3f\t[%.3f, %.3f]\t%.2g\t%.3f\t[%.3f, %.3f]\t%.2g\t%.3f\t%.4f\t[%.4f, %.4f]\t%.4f\t[%.4f, %.4f]\t\n", spec,
			c.Mean.Coef, c.Mean.CI[0], c.Mean.CI[1], c.Mean.PValue, c.Differential.Coef, c.Differential.CI[0], c.Differential.CI[1], c.Differential.PValue,
			c.R2, c.AUTOC.Value, c.AUTOC.CI[0], c.AUTOC.CI[1], c.Qini.Value, c.Qini.CI[0], c.Qini.CI[1])
	}
	return tw.Flush()
}
