// Package plot draws Qini and uplift curves of causal's metrics as SVG or
// PNG images, with gonum.org/v1/plot.
package plot

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"

	"github.com/causalrec/causalrec/causal"
	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Image size of every figure.
const (
	Width  = 6 * vg.Inch
	Height = 4.5 * vg.Inch
)

// maxPoints bounds the knots drawn per curve; longer curves are thinned
// to evenly spaced knots (first and last kept), which keeps a 1M-row
// curve to a small file without visible change.
const maxPoints = 2000

// ErrFormat reports an image format other than "svg" or "png". Check with
// errors.Is.
var ErrFormat = errors.New("unsupported image format")

// WriteQini draws the Qini curves (causal.QiniCurve, causal.PerfectQiniCurve)
// with the random-targeting line of the first curve and writes the image
// to w in format "svg" or "png". Curves marked Perfect are drawn dashed.
func WriteQini(w io.Writer, format string, curves ...causal.Curve) error {
	return write(w, format, "Qini curve", "Incremental outcomes Q(N) = Yt − Yc·Nt/Nc", curves)
}

// WriteUplift draws uplift curves (causal.UpliftCurve,
// causal.PerfectUpliftCurve) like WriteQini.
func WriteUplift(w io.Writer, format string, curves ...causal.Curve) error {
	return write(w, format, "Uplift curve", "Uplift U(N) = (Yt/Nt − Yc/Nc)·N", curves)
}

func write(w io.Writer, format, title, ylabel string, curves []causal.Curve) error {
	if format != "svg" && format != "png" {
		return fmt.Errorf("%w: %q, want svg or png", ErrFormat, format)
	}
	if len(curves) == 0 {
		return fmt.Errorf("plot %s: no curves", title)
	}
	for _, c := range curves {
		if err := check(c); err != nil {
			return fmt.Errorf("plot %s: %w", title, err)
		}
	}
	p := gplot.New()
	p.Title.Text = title
	p.X.Label.Text = "Units targeted N (ranked by predicted uplift)"
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())

	model := 0
	for _, c := range curves {
		l, err := plotter.NewLine(thin(c))
		if err != nil {
			return fmt.Errorf("plot %s: curve %q: %w", title, c.Name, err)
		}
		l.Width = vg.Points(1.5)
		if c.Perfect {
			l.Color = color.Gray{Y: 0x70}
			l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		} else {
			l.Color = plotutil.Color(model)
			model++
		}
		p.Add(l)
		p.Legend.Add(c.Name, l)
	}
	r := causal.RandomCurve(curves[0])
	rl, err := plotter.NewLine(thin(r))
	if err != nil {
		return fmt.Errorf("plot %s: random line: %w", title, err)
	}
	rl.Color = color.Black
	rl.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	p.Add(rl)
	p.Legend.Add(r.Name, rl)

	wt, err := p.WriterTo(Width, Height, format)
	if err != nil {
		return fmt.Errorf("plot %s: %w", title, err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("write %s %s: %w", format, title, err)
	}
	return nil
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
		if bad(c.X[i]) || bad(c.Y[i]) {
			return fmt.Errorf("curve %q point %d is (%v, %v)", c.Name, i, c.X[i], c.Y[i])
		}
	}
	return nil
}

func bad(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }

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
