package main

import (
	"fmt"
	"math"
	"os"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/causal/plot"
)

// ranking is one estimator's scores of the units of one arm against
// control, with its Qini coefficient and interval.
type ranking struct {
	name   string
	score  []float64
	qini   float64
	qiniCI causal.ConfInt
}

// plotFormat checks that a --plot file name ends in .svg or .png.
func plotFormat(flagName, path string) (plot.Format, error) {
	f, err := plot.FormatOf(path)
	if err != nil {
		return "", usageErr("--%s %s: the file name must end in .svg or .png", flagName, path)
	}
	return f, nil
}

// writePlot writes an image made by draw to path, atomically.
func writePlot(path string, format plot.Format, draw func(f *os.File) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := draw(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("plot %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// qiniNote explains the legend's numbers.
func qiniNote(boot causal.Bootstrap, how string) string {
	return fmt.Sprintf("Qini: scikit-uplift's qini_auc_score, the area between a curve and the random line divided by "+
		"that of the perfect ranking (1 perfect, 0 random). [lo, hi]: %g%% percentile bootstrap interval, %d resamples.%s",
		100*boot.Level, boot.Resamples, how)
}

// qiniChart is the Qini chart of rankings of the same units.
func qiniChart(title string, rs []ranking, t []int, y []float64, note string) (plot.CurveChart, error) {
	ch := plot.CurveChart{Title: title, Metric: "Qini", Note: note}
	for _, r := range rs {
		c, err := causal.QiniCurve(r.score, t, y, nil)
		if err != nil {
			return ch, err
		}
		c.Name = r.name
		ch.Series = append(ch.Series, plot.Series{Curve: c, Value: r.qini, CI: r.qiniCI})
	}
	none := causal.ConfInt{Lo: math.NaN(), Hi: math.NaN()}
	random := causal.RandomCurve(ch.Series[0].Curve)
	random.Name = "Random targeting"
	ch.Random = &plot.Series{Curve: random, Value: 0, CI: none}
	perfect, err := causal.PerfectQiniCurve(t, y, nil)
	if err != nil {
		return ch, err
	}
	perfect.Name = "Perfect ranking"
	ch.Perfect = &plot.Series{Curve: perfect, Value: 1, CI: none}
	return ch, nil
}

// decileChart is the uplift-by-decile chart of rankings of the same units.
func decileChart(title string, rs []ranking, t []int, y []float64, predicted bool, note string) (plot.DecileChart, error) {
	ch := plot.DecileChart{Title: title, Predicted: predicted, Note: note, ATE: math.NaN()}
	for _, r := range rs {
		bins, err := causal.UpliftByQuantile(r.score, t, y, nil, 10)
		if err != nil {
			return ch, err
		}
		ch.Series = append(ch.Series, plot.DecileSeries{Name: r.name, Bins: bins})
	}
	all, err := causal.UpliftByQuantile(rs[0].score, t, y, nil, 1)
	if err != nil {
		return ch, err
	}
	ch.ATE = all[0].Uplift
	return ch, nil
}

// decileNote explains the decile chart.
const decileNote = "Bars: the difference of the mean outcomes of the treated and the control units in each tenth " +
	"of the units ranked by predicted uplift, with its 95% normal interval; a good ranking falls from left to right."

// checkPlotFlags checks the file names of plot flags before any work.
func checkPlotFlags(paths map[string]string) error {
	for flagName, p := range paths {
		if p != "" {
			if _, err := plotFormat(flagName, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeComparePlots draws the Qini curves and the deciles of every
// estimator of a comparison, one panel per treated arm; arm holds each
// row's arm (0 control) and arms their names.
func writeComparePlots(cmp *causal.Comparison, arm []int, y []float64, arms []string, qiniPath, decilePath string) error {
	if qiniPath == "" && decilePath == "" {
		return nil
	}
	var qinis []plot.CurveChart
	var deciles []plot.DecileChart
	how := fmt.Sprintf(" Scores: out-of-fold effects of %d-fold cross-fitting.", cmp.Folds)
	for _, a := range cmp.Arms {
		var t []int
		var ya []float64
		var rows []int
		for i, k := range arm {
			if k == 0 || k == a.Arm {
				rows = append(rows, i)
				t = append(t, min(k, 1))
				ya = append(ya, y[i])
			}
		}
		var rs []ranking
		for e, sc := range a.Scores {
			score := make([]float64, len(rows))
			for j, i := range rows {
				score[j] = cmp.Effects[e].At(i, a.Arm-1)
			}
			rs = append(rs, ranking{name: sc.Name, score: score, qini: sc.Qini, qiniCI: sc.QiniCI})
		}
		vs := fmt.Sprintf("%s vs %s", arms[a.Arm], arms[0])
		if qiniPath != "" {
			ch, err := qiniChart("Qini curves: "+vs, rs, t, ya, qiniNote(cmp.Bootstrap, how))
			if err != nil {
				return err
			}
			qinis = append(qinis, ch)
		}
		if decilePath != "" {
			ch, err := decileChart("Uplift by decile of predicted uplift: "+vs, rs, t, ya, true, decileNote+" Triangles: the mean predicted uplift."+how)
			if err != nil {
				return err
			}
			deciles = append(deciles, ch)
		}
	}
	if qiniPath != "" {
		format, _ := plot.FormatOf(qiniPath)
		if err := writePlot(qiniPath, format, func(f *os.File) error { return plot.WriteQini(f, format, qinis...) }); err != nil {
			return err
		}
	}
	if decilePath != "" {
		format, _ := plot.FormatOf(decilePath)
		if err := writePlot(decilePath, format, func(f *os.File) error { return plot.WriteDeciles(f, format, deciles...) }); err != nil {
			return err
		}
	}
	return nil
}
