package plot

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// WriteExplanation draws what drives a model's effects: one panel of the
// features' permutation importances and, when blp is not empty, one of the
// coefficients of the best linear projection of the effect on the
// standardised features beside a dashed line at 0, each point with its
// interval, and writes the image to w. level is the intervals' confidence
// level, for the footnote.
func WriteExplanation(w io.Writer, format Format, title string, level float64, importance, blp []Estimate) error {
	if len(importance) == 0 {
		return fmt.Errorf("plot explanation: no importances")
	}
	fig := newFigure()
	if err := estimatePanel(fig, "Permutation importance: "+title, "Share of the effects' variance lost", importance,
		"Permutation importance", fmt.Sprintf("%d features, largest first", len(importance)), false); err != nil {
		return err
	}
	if len(blp) > 0 {
		if err := estimatePanel(fig, "Best linear projection: "+title, "Effect per standard deviation", blp,
			"Coefficient", fmt.Sprintf("%d terms", len(blp)), true); err != nil {
			return err
		}
	}
	fig.note = fmt.Sprintf("Importance: the share of the variance of the predicted effects lost when the feature is permuted, "+
		"with a %g%% interval over the permutations. ", 100*level)
	if len(blp) > 0 {
		fig.note += fmt.Sprintf("Best linear projection: the doubly robust scores regressed on the standardised features, "+
			"with %g%% HC3 intervals; an interval off the dashed line at 0 is a feature the effect depends on.", 100*level)
	}
	return fig.write(w, format)
}

// estimatePanel adds a panel of named estimates with their intervals.
func estimatePanel(fig *figure, title, ylabel string, ests []Estimate, what, value string, zero bool) error {
	pts := make(intervalPoints, len(ests))
	names := make([]string, len(ests))
	for i, e := range ests {
		if !finite(e.Value, e.Lo, e.Hi) {
			return fmt.Errorf("plot explanation: %s is %v [%v, %v]", e.Name, e.Value, e.Lo, e.Hi)
		}
		pts[i] = intervalPoint{x: float64(i), y: e.Value, lo: e.Lo, hi: e.Hi}
		names[i] = shorten(e.Name, maxTickRunes)
	}
	pn := fig.panel(title, "Feature", ylabel)
	pn.plot.Add(plotter.NewGrid())
	ip := &intervalPlot{pts: pts, color: seriesColor(0)}
	if zero {
		ref := plotter.NewFunction(func(float64) float64 { return 0 })
		ref.Color, ref.Width, ref.Dashes = color.Black, vg.Points(1), []vg.Length{vg.Points(6), vg.Points(3)}
		pn.plot.Add(ref)
		pn.plot.Add(ip)
		pn.legend(what, value, ip)
		pn.legend("No effect", "0", ref)
	} else {
		pn.plot.Add(ip)
		pn.legend(what, value, ip)
	}
	pn.plot.NominalX(names...)
	pn.plot.X.Tick.Label.Font.Size = tickSize
	pn.plot.X.Tick.Label.Rotation = math.Pi / 6
	pn.plot.X.Tick.Label.XAlign, pn.plot.X.Tick.Label.YAlign = draw.XRight, draw.YTop
	pn.pad(0.05)
	if zero {
		pn.plot.Y.Min, pn.plot.Y.Max = math.Min(pn.plot.Y.Min, 0), math.Max(pn.plot.Y.Max, 0)
	}
	pn.plot.X.Min, pn.plot.X.Max = -0.6, float64(len(ests))-0.4
	return nil
}

// maxTickRunes is the longest name under a tick of an estimate panel;
// longer ones are shortened with "…" so that slanted names stay inside the
// image.
const maxTickRunes = 22

// shorten cuts s to n runes, the last one "…".
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
