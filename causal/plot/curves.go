package plot

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"github.com/causalrec/causalrec/causal"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Series is one curve of a chart with the value shown after its name in
// the legend, such as the Qini coefficient of a ranking.
type Series struct {
	// Curve holds the knots; Curve.Name labels it.
	Curve causal.Curve
	// Value is shown after the name unless it is NaN.
	Value float64
	// CI is shown after the value unless its bounds are NaN.
	CI causal.ConfInt
}

// NoValue is a Series value that is not shown.
var NoValue = math.NaN()

// CurveChart is a chart of the curves of several rankings of one data set:
// one line per Series, with the reference lines of random targeting and of
// the perfect ranking.
type CurveChart struct {
	// Title heads the chart (default "Qini curve" or "Uplift curve").
	Title string
	// Metric names the Series values in the legend, e.g. "Qini".
	Metric string
	// Series are the rankings, drawn in the palette's colours.
	Series []Series
	// Random is the random-targeting line; when nil it is drawn from the
	// origin to the end of the first series, without a value.
	Random *Series
	// Perfect is the oracle ranking's curve (causal.PerfectQiniCurve),
	// drawn dashed; nil for none.
	Perfect *Series
	// Note is the chart's footnote (the definitions of the values, say);
	// the notes of a figure's charts are joined.
	Note string
}

// maxPoints bounds the knots drawn per curve; longer curves are thinned
// to evenly spaced knots (first and last kept), which keeps a 1M-row
// curve to a small file without visible change.
const maxPoints = 2000

// WriteQini draws Qini curves Q(N) = Y_t(N) − Y_c(N)·N_t(N)/N_c(N) against
// the share of units targeted, one panel per chart, and writes the image
// to w.
func WriteQini(w io.Writer, format Format, charts ...CurveChart) error {
	return writeCurves(w, format, "Qini curve", "Incremental outcomes Q(N)", charts)
}

// WriteUplift draws uplift curves U(N) = (Y_t(N)/N_t(N) − Y_c(N)/N_c(N))·N
// (causal.UpliftCurve) like WriteQini.
func WriteUplift(w io.Writer, format Format, charts ...CurveChart) error {
	return writeCurves(w, format, "Uplift curve", "Uplift U(N)", charts)
}

func writeCurves(w io.Writer, format Format, title, ylabel string, charts []CurveChart) error {
	fig := newFigure()
	if err := buildCurves(fig, title, ylabel, charts); err != nil {
		return err
	}
	return fig.write(w, format)
}

// buildCurves adds a panel per chart to fig.
func buildCurves(fig *figure, title, ylabel string, charts []CurveChart) error {
	if len(charts) == 0 {
		return fmt.Errorf("plot %s: no charts", title)
	}
	for _, ch := range charts {
		if len(ch.Series) == 0 {
			return fmt.Errorf("plot %s: no curves", title)
		}
		all := append([]Series(nil), ch.Series...)
		if ch.Random != nil {
			all = append(all, *ch.Random)
		}
		if ch.Perfect != nil {
			all = append(all, *ch.Perfect)
		}
		for _, s := range all {
			if err := check(s.Curve); err != nil {
				return fmt.Errorf("plot %s: %w", title, err)
			}
		}
		t := ch.Title
		if t == "" {
			t = title
		}
		pn := fig.panel(t, "Share of units targeted, ranked by predicted uplift (%)", ylabel)
		pn.plot.Add(plotter.NewGrid())
		// Every curve's x is its share of the last knot's N, so curves of
		// the same data align whatever their number of knots.
		for i, s := range ch.Series {
			l, err := curveLine(s.Curve)
			if err != nil {
				return fmt.Errorf("plot %s: %w", title, err)
			}
			l.Color, l.Width = seriesColor(i), vg.Points(1.8)
			pn.plot.Add(l)
			pn.legend(s.Curve.Name, valueText(s, ch.Metric), l)
		}
		random := ch.Random
		if random == nil {
			r := Series{Curve: causal.RandomCurve(ch.Series[0].Curve), Value: NoValue, CI: causal.ConfInt{Lo: math.NaN(), Hi: math.NaN()}}
			r.Curve.Name = "Random targeting"
			random = &r
		}
		rl, err := curveLine(random.Curve)
		if err != nil {
			return fmt.Errorf("plot %s: random line: %w", title, err)
		}
		rl.Color, rl.Width = color.Black, vg.Points(1.2)
		rl.Dashes = []vg.Length{vg.Points(2), vg.Points(2.5)}
		pn.plot.Add(rl)
		pn.legend(random.Curve.Name, valueText(*random, ch.Metric), rl)
		if ch.Perfect != nil {
			pl, err := curveLine(ch.Perfect.Curve)
			if err != nil {
				return fmt.Errorf("plot %s: perfect curve: %w", title, err)
			}
			pl.Color, pl.Width = color.Gray{Y: 0x80}, vg.Points(1.4)
			pl.Dashes = []vg.Length{vg.Points(7), vg.Points(3)}
			pn.plot.Add(pl)
			pn.legend(ch.Perfect.Curve.Name, valueText(*ch.Perfect, ch.Metric), pl)
		}
		pn.plot.X.Min, pn.plot.X.Max = 0, 100
		pn.pad(0.02)
		addNote(fig, ch.Note)
	}
	return nil
}

// addNote appends a chart's footnote to the figure's, once.
func addNote(fig *figure, note string) {
	switch {
	case note == "", fig.note == note:
	case fig.note == "":
		fig.note = note
	default:
		fig.note += "\n" + note
	}
}

// valueText is "Metric value [lo, hi]", leaving out what is NaN.
func valueText(s Series, metric string) string {
	if math.IsNaN(s.Value) {
		return ""
	}
	t := fmtValue(s.Value)
	if metric != "" {
		t = metric + " " + t
	}
	if finite(s.CI.Lo, s.CI.Hi) {
		t += fmt.Sprintf(" [%s, %s]", fmtValue(s.CI.Lo), fmtValue(s.CI.Hi))
	}
	return t
}

// fmtValue prints a metric with three decimals, or two significant digits
// when it is smaller than 0.01 (and not 0).
func fmtValue(v float64) string {
	switch {
	case v == 0 || v == 1:
		return fmt.Sprint(v)
	case math.Abs(v) >= 0.0095:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

// curveLine is the line of c with x as the share (%) of c's last x.
func curveLine(c causal.Curve) (*plotter.Line, error) {
	xy := thin(c)
	last := c.X[len(c.X)-1]
	for i := range xy {
		if last > 0 {
			xy[i].X = 100 * xy[i].X / last
		}
	}
	l, err := plotter.NewLine(xy)
	if err != nil {
		return nil, fmt.Errorf("curve %q: %w", c.Name, err)
	}
	return l, nil
}

// check rejects curves that cannot be drawn.
func check(c causal.Curve) error {
	if len(c.X) != len(c.Y) {
		return fmt.Errorf("curve %q has %d x and %d y values", c.Name, len(c.X), len(c.Y))
	}
	if len(c.X) == 0 {
		return fmt.Errorf("curve %q is empty", c.Name)
	}
	for i := range c.X {
		if !finite(c.X[i], c.Y[i]) {
			return fmt.Errorf("curve %q point %d is (%v, %v)", c.Name, i, c.X[i], c.Y[i])
		}
	}
	return nil
}

// thin returns at most maxPoints evenly spaced knots of c, first and last
// included.
func thin(c causal.Curve) plotter.XYs {
	n := len(c.X)
	m := min(n, maxPoints)
	xy := make(plotter.XYs, m)
	for j := range m {
		i := j
		if n > maxPoints {
			i = int(math.Round(float64(j) * float64(n-1) / float64(m-1)))
		}
		xy[j].X, xy[j].Y = c.X[i], c.Y[i]
	}
	return xy
}
