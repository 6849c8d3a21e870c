package plot

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"

	"github.com/causalrec/causalrec/causal"
	"gonum.org/v1/gonum/stat/distuv"
	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// DecileSeries is one ranking's observed uplift per bin
// (causal.UpliftByQuantile), labelled Name.
type DecileSeries struct {
	Name string
	Bins []causal.QuantileUplift
}

// DecileChart is a chart of the observed uplift in each bin of units
// ranked by predicted uplift: one bar per series and bin with its
// confidence interval, a mark at the bin's mean predicted uplift, and a
// line at the average effect.
type DecileChart struct {
	// Title heads the chart (default "Uplift by decile of predicted uplift").
	Title string
	// Series are the rankings; they must have the same number of bins.
	Series []DecileSeries
	// ATE, drawn as a horizontal line unless NaN, is the average effect.
	ATE float64
	// Level is the confidence level of the bars' intervals (0 means 0.95).
	Level float64
	// Note is the chart's footnote.
	Note string
	// Predicted, when set, marks each bin's mean predicted uplift (the
	// mean score, when the scores are predicted uplifts).
	Predicted bool
}

// WriteDeciles draws uplift-by-decile charts (one panel per chart) and
// writes the image to w.
func WriteDeciles(w io.Writer, format Format, charts ...DecileChart) error {
	if len(charts) == 0 {
		return fmt.Errorf("plot deciles: no charts")
	}
	fig := newFigure()
	for _, ch := range charts {
		if len(ch.Series) == 0 || len(ch.Series[0].Bins) == 0 {
			return fmt.Errorf("plot deciles: no bins")
		}
		bins := len(ch.Series[0].Bins)
		for _, s := range ch.Series {
			if len(s.Bins) != bins {
				return fmt.Errorf("plot deciles: series %q has %d bins, %q has %d", s.Name, len(s.Bins), ch.Series[0].Name, bins)
			}
			for _, b := range s.Bins {
				if !finite(b.MeanScore) {
					return fmt.Errorf("plot deciles: series %q bin %d has mean score %v", s.Name, b.Bin, b.MeanScore)
				}
			}
		}
		level := ch.Level
		if level == 0 {
			level = 0.95
		}
		if !(level > 0 && level < 1) {
			return fmt.Errorf("plot deciles: level %v outside (0, 1)", level)
		}
		title := ch.Title
		if title == "" {
			title = "Uplift by decile of predicted uplift"
		}
		xlabel := "Decile of predicted uplift (1 = the highest tenth)"
		if bins != 10 {
			xlabel = fmt.Sprintf("Bin of predicted uplift, %d of equal size (1 = the highest)", bins)
		}
		pn := fig.panel(title, xlabel, "Uplift: mean outcome treated − control")
		pn.plot.Add(plotter.NewGrid())
		zero := plotter.NewFunction(func(float64) float64 { return 0 })
		zero.Color, zero.Width = color.Gray{Y: 0x60}, vg.Points(0.8)
		pn.plot.Add(zero)
		z := distuv.UnitNormal.Quantile((1 + level) / 2)
		bars := &groupedBars{z: z}
		for i, s := range ch.Series {
			bars.series = append(bars.series, s.Bins)
			bars.colors = append(bars.colors, seriesColor(i))
		}
		pn.plot.Add(bars)
		for i, s := range ch.Series {
			pn.legend(s.Name, fmt.Sprintf("observed uplift with its %g%% interval", 100*level), barThumb{seriesColor(i)})
		}
		if ch.Predicted {
			for i, s := range ch.Series {
				m := bars.marks(i)
				pn.plot.Add(m)
				pn.legend(s.Name, "mean predicted uplift", m)
			}
		}
		if finite(ch.ATE) {
			ate := ch.ATE
			l := plotter.NewFunction(func(float64) float64 { return ate })
			l.Color, l.Width, l.Dashes = color.Black, vg.Points(1.2), []vg.Length{vg.Points(6), vg.Points(3)}
			pn.plot.Add(l)
			pn.legend("Average effect", "ATE "+fmtValue(ate), l)
		}
		names := make([]string, bins)
		for b := range names {
			names[b] = strconv.Itoa(b + 1)
		}
		pn.plot.NominalX(names...)
		pn.plot.X.Tick.Label.Font.Size = tickSize
		pn.pad(0.04)
		pn.plot.X.Min, pn.plot.X.Max = -0.6, float64(bins)-0.4
		addNote(fig, ch.Note)
	}
	return fig.write(w, format)
}

// groupedBars draws, for every bin b at x = b (0-based), one bar per series
// side by side, with whiskers of ± z standard errors.
type groupedBars struct {
	series [][]causal.QuantileUplift
	colors []color.Color
	z      float64
}

// slot returns the x range of series s's bar in bin b.
func (g *groupedBars) slot(b, s int) (lo, hi float64) {
	const total = 0.8
	w := total / float64(len(g.series))
	lo = float64(b) - total/2 + float64(s)*w
	return lo + 0.06*w, lo + w - 0.06*w
}

func (g *groupedBars) Plot(c draw.Canvas, p *gplot.Plot) {
	tx, ty := p.Transforms(&c)
	for s, bins := range g.series {
		for b, q := range bins {
			if !finite(q.Uplift) {
				continue
			}
			lo, hi := g.slot(b, s)
			r := vg.Rectangle{Min: vg.Point{X: tx(lo), Y: ty(math.Min(0, q.Uplift))}, Max: vg.Point{X: tx(hi), Y: ty(math.Max(0, q.Uplift))}}
			c.SetColor(fade(g.colors[s]))
			c.Fill(r.Path())
			c.SetLineStyle(draw.LineStyle{Color: g.colors[s], Width: vg.Points(0.8)})
			c.Stroke(r.Path())
			if !finite(q.SE) {
				continue
			}
			mid := tx((lo + hi) / 2)
			cap := (tx(hi) - tx(lo)) / 4
			y0, y1 := ty(q.Uplift-g.z*q.SE), ty(q.Uplift+g.z*q.SE)
			c.SetLineStyle(draw.LineStyle{Color: color.Black, Width: vg.Points(0.9)})
			c.StrokeLines(draw.LineStyle{Color: color.Black, Width: vg.Points(0.9)},
				[]vg.Point{{X: mid, Y: y0}, {X: mid, Y: y1}},
				[]vg.Point{{X: mid - cap, Y: y0}, {X: mid + cap, Y: y0}},
				[]vg.Point{{X: mid - cap, Y: y1}, {X: mid + cap, Y: y1}})
		}
	}
}

func (g *groupedBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	ymin, ymax = 0, 0
	for _, bins := range g.series {
		for _, q := range bins {
			for _, v := range []float64{q.Uplift, q.Uplift - g.z*q.SE, q.Uplift + g.z*q.SE, q.MeanScore} {
				if finite(v) {
					ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
				}
			}
		}
	}
	return -0.5, float64(len(g.series[0])) - 0.5, ymin, ymax
}

// marks returns the scatter of series s's mean predicted uplift per bin,
// at the centre of its bars.
func (g *groupedBars) marks(s int) *plotter.Scatter {
	xy := make(plotter.XYs, len(g.series[s]))
	for b, q := range g.series[s] {
		lo, hi := g.slot(b, s)
		xy[b].X, xy[b].Y = (lo+hi)/2, q.MeanScore
	}
	sc, _ := plotter.NewScatter(xy) // the scores were checked finite
	sc.GlyphStyle = draw.GlyphStyle{Color: g.colors[s], Radius: vg.Points(3.2), Shape: draw.PyramidGlyph{}}
	return sc
}

// fade returns c mixed with white, for bar fills.
func fade(c color.Color) color.Color {
	r, g, b, _ := c.RGBA()
	mix := func(v uint32) uint8 { return uint8((v>>8)*45/100 + 255*55/100) }
	return color.RGBA{mix(r), mix(g), mix(b), 0xff}
}

// barThumb is a bar's legend sample.
type barThumb struct{ c color.Color }

func (t barThumb) Thumbnail(c *draw.Canvas) {
	r := c.Rectangle
	r.Min.X += (r.Max.X - r.Min.X) / 4
	r.Max.X -= (r.Max.X - r.Min.X) / 3
	c.SetColor(fade(t.c))
	c.Fill(r.Path())
	c.SetLineStyle(draw.LineStyle{Color: t.c, Width: vg.Points(0.8)})
	c.Stroke(r.Path())
}
