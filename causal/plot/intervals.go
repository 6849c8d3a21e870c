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

// WriteEstimates draws off-policy estimates of a policy's value, one
// point with its interval per estimator, beside a dashed line at the
// logged value (the logging policy's own), and writes the image to w in
// format "svg" or "png".
func WriteEstimates(w io.Writer, format string, logged float64, ests []Estimate) error {
	if len(ests) == 0 {
		return fmt.Errorf("plot estimates: none")
	}
	if bad(logged) {
		return fmt.Errorf("plot estimates: logged value %v", logged)
	}
	pts := make(intervalPoints, len(ests))
	names := make([]string, len(ests))
	for i, e := range ests {
		if bad(e.Value) || bad(e.Lo) || bad(e.Hi) {
			return fmt.Errorf("plot estimates: %s is %v [%v, %v]", e.Name, e.Value, e.Lo, e.Hi)
		}
		pts[i] = intervalPoint{x: float64(i), y: e.Value, lo: e.Lo, hi: e.Hi}
		names[i] = e.Name
	}
	p := gplot.New()
	p.Title.Text = "Off-policy estimates of the evaluation policy's value"
	p.X.Label.Text = "Estimator"
	p.Y.Label.Text = "Value per logged row (with confidence interval)"
	p.NominalX(names...)
	p.Add(plotter.NewGrid())
	ref := plotter.NewFunction(func(float64) float64 { return logged })
	ref.Color = color.Gray{Y: 0x50}
	ref.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
	ref.Width = vg.Points(1.2)
	p.Add(ref)
	p.Legend.Add(fmt.Sprintf("logged value %.4g", logged), ref)
	if err := addIntervals(p, pts, "estimate and interval"); err != nil {
		return err
	}
	p.X.Min, p.X.Max = -0.5, float64(len(ests))-0.5
	lo, hi := logged, logged
	for _, q := range pts {
		lo, hi = math.Min(lo, q.lo), math.Max(hi, q.hi)
	}
	pad := 0.08 * math.Max(hi-lo, 1e-9)
	p.Y.Min, p.Y.Max = lo-pad, hi+pad
	p.Legend.Top = true
	return render(w, format, p, "estimates")
}

// Bin is one score bin of a calibration plot: the mean predicted effect
// and the observed (doubly robust) effect with its interval.
type Bin struct {
	Predicted, Observed, Lo, Hi float64
}

// WriteCalibration draws the observed effect of each score bin, with its
// interval, against the mean predicted effect, beside the diagonal of
// perfect calibration, and writes the image to w in format "svg" or "png".
func WriteCalibration(w io.Writer, format, name string, bins []Bin) error {
	if len(bins) == 0 {
		return fmt.Errorf("plot calibration: no bins")
	}
	pts := make(intervalPoints, len(bins))
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, b := range bins {
		if bad(b.Predicted) || bad(b.Observed) || bad(b.Lo) || bad(b.Hi) {
			return fmt.Errorf("plot calibration: bin %d is %v, %v [%v, %v]", i, b.Predicted, b.Observed, b.Lo, b.Hi)
		}
		pts[i] = intervalPoint{x: b.Predicted, y: b.Observed, lo: b.Lo, hi: b.Hi}
		lo = math.Min(lo, math.Min(b.Predicted, b.Lo))
		hi = math.Max(hi, math.Max(b.Predicted, b.Hi))
	}
	p := gplot.New()
	p.Title.Text = "Calibration of " + name
	p.X.Label.Text = "Predicted effect (mean score in the bin)"
	p.Y.Label.Text = "Observed effect (mean AIPW score, with interval)"
	p.Add(plotter.NewGrid())
	diag := plotter.NewFunction(func(x float64) float64 { return x })
	diag.Color = color.Gray{Y: 0x50}
	diag.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
	p.Add(diag)
	p.Legend.Add("perfect calibration", diag)
	if err := addIntervals(p, pts, "score bins"); err != nil {
		return err
	}
	pad := 0.08 * math.Max(hi-lo, 1e-9)
	p.X.Min, p.X.Max = lo-pad, hi+pad
	p.Y.Min, p.Y.Max = lo-pad, hi+pad
	p.Legend.Top = true
	p.Legend.Left = true
	return render(w, format, p, "calibration")
}

// intervalPoint is a point with a vertical interval.
type intervalPoint struct{ x, y, lo, hi float64 }

type intervalPoints []intervalPoint

func (p intervalPoints) Len() int                        { return len(p) }
func (p intervalPoints) XY(i int) (float64, float64)     { return p[i].x, p[i].y }
func (p intervalPoints) YError(i int) (float64, float64) { return p[i].y - p[i].lo, p[i].hi - p[i].y }

// addIntervals adds the points with their error bars to p.
func addIntervals(p *gplot.Plot, pts intervalPoints, legend string) error {
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	sc.GlyphStyle.Shape = draw.CircleGlyph{}
	sc.GlyphStyle.Radius = vg.Points(3.5)
	sc.GlyphStyle.Color = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	eb, err := plotter.NewYErrorBars(pts)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	eb.LineStyle.Color = sc.GlyphStyle.Color
	eb.LineStyle.Width = vg.Points(1.5)
	eb.CapWidth = vg.Points(8)
	p.Add(eb, sc)
	p.Legend.Add(legend, sc)
	return nil
}

// render writes p to w.
func render(w io.Writer, format string, p *gplot.Plot, what string) error {
	if format != "svg" && format != "png" {
		return fmt.Errorf("%w: %q, want svg or png", ErrFormat, format)
	}
	wt, err := p.WriterTo(Width, Height, format)
	if err != nil {
		return fmt.Errorf("plot %s: %w", what, err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("write %s %s: %w", format, what, err)
	}
	return nil
}
