package plot

import (
	"fmt"
	"image/color"
	"io"
	"math"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Estimate is a value with its confidence interval [Lo, Hi].
type Estimate struct {
	Name          string
	Value, Lo, Hi float64
}

// WriteEstimates draws off-policy estimates of a policy's value (causal/ope),
// one point with its interval per estimator, beside a dashed line at the
// logged value (the logging policy's own), and writes the image to w. The
// legend gives every estimate with its interval. level is the intervals'
// confidence level, for the footnote.
func WriteEstimates(w io.Writer, format Format, logged, level float64, ests []Estimate) error {
	if len(ests) == 0 {
		return fmt.Errorf("plot estimates: none")
	}
	if !finite(logged) {
		return fmt.Errorf("plot estimates: logged value %v", logged)
	}
	pts := make(intervalPoints, len(ests))
	names := make([]string, len(ests))
	for i, e := range ests {
		if !finite(e.Value, e.Lo, e.Hi) {
			return fmt.Errorf("plot estimates: %s is %v [%v, %v]", e.Name, e.Value, e.Lo, e.Hi)
		}
		pts[i] = intervalPoint{x: float64(i), y: e.Value, lo: e.Lo, hi: e.Hi}
		names[i] = e.Name
	}
	fig := newFigure()
	pn := fig.panel("Off-policy estimates of the evaluation policy's value", "Estimator", "Value per logged row")
	pn.plot.Add(plotter.NewGrid())
	ref := plotter.NewFunction(func(float64) float64 { return logged })
	ref.Color, ref.Width, ref.Dashes = color.Black, vg.Points(1.2), []vg.Length{vg.Points(6), vg.Points(3)}
	pn.plot.Add(ref)
	for i := range pts {
		ip := &intervalPlot{pts: pts[i : i+1], color: seriesColor(i)}
		pn.plot.Add(ip)
		pn.legend(names[i], fmtValue(pts[i].y)+fmt.Sprintf(" [%s, %s]", fmtValue(pts[i].lo), fmtValue(pts[i].hi)), ip)
	}
	pn.legend("Logged value", fmtValue(logged), ref)
	pn.plot.NominalX(names...)
	pn.plot.X.Tick.Label.Font.Size = tickSize
	// Slanted names do not run into each other.
	pn.plot.X.Tick.Label.Rotation = math.Pi / 6
	pn.plot.X.Tick.Label.XAlign, pn.plot.X.Tick.Label.YAlign = draw.XRight, draw.YTop
	pn.pad(0.05)
	pn.plot.X.Min, pn.plot.X.Max = -0.6, float64(len(ests))-0.4
	fig.note = fmt.Sprintf("Each estimate of the value per logged row that the evaluation policy would have earned, with its %g%% interval; "+
		"the dashed line is the logged value, what the logging policy earned.", 100*level)
	return fig.write(w, format)
}

// Bin is one score bin of a calibration plot: the mean predicted effect
// and the observed (doubly robust) effect with its interval.
type Bin struct {
	Predicted, Observed, Lo, Hi float64
}

// WriteCalibration draws the observed effect of each score bin, with its
// interval, against the bin's mean predicted effect, beside the diagonal
// of perfect calibration, and writes the image to w. name names the
// scores; blp, when not empty, is a legend value such as the BLP test's
// coefficients.
func WriteCalibration(w io.Writer, format Format, name, blp string, level float64, bins []Bin) error {
	if len(bins) == 0 {
		return fmt.Errorf("plot calibration: no bins")
	}
	pts := make(intervalPoints, len(bins))
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, b := range bins {
		if !finite(b.Predicted, b.Observed, b.Lo, b.Hi) {
			return fmt.Errorf("plot calibration: bin %d is %v, %v [%v, %v]", i, b.Predicted, b.Observed, b.Lo, b.Hi)
		}
		pts[i] = intervalPoint{x: b.Predicted, y: b.Observed, lo: b.Lo, hi: b.Hi}
		lo = math.Min(lo, math.Min(b.Predicted, b.Lo))
		hi = math.Max(hi, math.Max(b.Predicted, b.Hi))
	}
	fig := newFigure()
	pn := fig.panel("Calibration of "+name, "Predicted effect (mean score of the bin)", "Observed effect (mean AIPW score)")
	pn.plot.Add(plotter.NewGrid())
	diag := plotter.NewFunction(func(x float64) float64 { return x })
	diag.Color, diag.Width, diag.Dashes = color.Gray{Y: 0x60}, vg.Points(1.2), []vg.Length{vg.Points(6), vg.Points(3)}
	pn.plot.Add(diag)
	ip := &intervalPlot{pts: pts, color: seriesColor(0)}
	pn.plot.Add(ip)
	pn.legend(fmt.Sprintf("%d score bins", len(bins)), blp, ip)
	pn.legend("Perfect calibration", "", diag)
	pad := 0.05 * math.Max(hi-lo, 1e-9)
	pn.plot.X.Min, pn.plot.X.Max = lo-pad, hi+pad
	pn.plot.Y.Min, pn.plot.Y.Max = lo-pad, hi+pad
	fig.note = fmt.Sprintf("Each bin of units by score: its mean score against the effect it had (the mean doubly robust score), with a %g%% interval. "+
		"Bins on the diagonal are calibrated.", 100*level)
	return fig.write(w, format)
}

// intervalPoint is a point with a vertical interval.
type intervalPoint struct{ x, y, lo, hi float64 }

type intervalPoints []intervalPoint

// intervalPlot draws points with their intervals as whiskers; it is its
// own legend sample.
type intervalPlot struct {
	pts   intervalPoints
	color color.Color
}

func (p *intervalPlot) Plot(c draw.Canvas, plt *gplot.Plot) {
	tx, ty := plt.Transforms(&c)
	ls := draw.LineStyle{Color: p.color, Width: vg.Points(1.5)}
	glyph := draw.GlyphStyle{Color: p.color, Radius: vg.Points(3.5), Shape: draw.CircleGlyph{}}
	for _, q := range p.pts {
		x, y0, y1 := tx(q.x), ty(q.lo), ty(q.hi)
		cap := vg.Points(5)
		c.StrokeLines(ls, []vg.Point{{X: x, Y: y0}, {X: x, Y: y1}},
			[]vg.Point{{X: x - cap, Y: y0}, {X: x + cap, Y: y0}},
			[]vg.Point{{X: x - cap, Y: y1}, {X: x + cap, Y: y1}})
		c.DrawGlyph(glyph, vg.Point{X: x, Y: ty(q.y)})
	}
}

func (p *intervalPlot) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for _, q := range p.pts {
		xmin, xmax = math.Min(xmin, q.x), math.Max(xmax, q.x)
		ymin, ymax = math.Min(ymin, q.lo), math.Max(ymax, q.hi)
	}
	return xmin, xmax, ymin, ymax
}

// Thumbnail draws the legend sample: a whisker with its point.
func (p *intervalPlot) Thumbnail(c *draw.Canvas) {
	r := c.Rectangle
	x := (r.Min.X + r.Max.X) / 2
	ls := draw.LineStyle{Color: p.color, Width: vg.Points(1.5)}
	c.StrokeLine2(ls, x, r.Min.Y, x, r.Max.Y)
	c.DrawGlyph(draw.GlyphStyle{Color: p.color, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}, vg.Point{X: x, Y: (r.Min.Y + r.Max.Y) / 2})
}
