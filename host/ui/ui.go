// Package ui renders the service's human pages: the list of experiments,
// serving models and plugins (/ui/) and an experiment's report
// (/ui/experiments/{id}). The pages are server-rendered HTML
// (html/template) with inline SVG plots and no scripts.
package ui

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"

	"github.com/causalrec/causalrec/host/experiment"
	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/host/store"
)

//go:embed templates/*.html
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"num":  Num,
	"ci":   func(c [2]float64) string { return "[" + Num(c[0]) + ", " + Num(c[1]) + "]" },
	"pct":  func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) },
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"ptr": func(v *float64) string {
		if v == nil {
			return "–"
		}
		return Num(*v)
	},
	"ptrci": func(v *[2]float64) string {
		if v == nil {
			return "–"
		}
		return "[" + Num(v[0]) + ", " + Num(v[1]) + "]"
	},
	"join": strings.Join,
}).ParseFS(files, "templates/*.html"))

// Num formats a number as the pages show it: four significant digits.
// Tests read the pages' numbers back with it.
func Num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf("%.4g", v)
}

// Index is what the list page shows.
type Index struct {
	Experiments []store.Experiment
	Serving     string
	Models      []store.ModelRecord
	Plugins     []pluginhost.Status
	// Base prefixes the page's links ("" or a path prefix).
	Base string
}

// RenderIndex writes the list page.
func RenderIndex(w io.Writer, idx Index) error {
	return pages.ExecuteTemplate(w, "index.html", idx)
}

// experimentPage is the experiment page's data.
type experimentPage struct {
	experiment.Report
	Plots []plot
	Cal   *calPlot
	Base  string
}

// RenderExperiment writes an experiment's report page; base prefixes its
// links.
func RenderExperiment(w io.Writer, rep experiment.Report, base string) error {
	p := experimentPage{Report: rep, Base: base}
	arms := []string{}
	seen := map[string]bool{}
	for _, s := range rep.Series {
		if !seen[s.Arm] {
			seen[s.Arm] = true
			arms = append(arms, s.Arm)
		}
	}
	for _, a := range arms {
		var pts []experiment.SeriesPoint
		for _, s := range rep.Series {
			if s.Arm == a {
				pts = append(pts, s)
			}
		}
		p.Plots = append(p.Plots, seriesPlot(a, pts))
	}
	if rep.Calibration != nil && len(rep.Calibration.Bins) > 0 {
		p.Cal = calibrationPlot(rep.Calibration.Bins)
	}
	return pages.ExecuteTemplate(w, "experiment.html", p)
}

// Plot geometry, in SVG user units.
const (
	plotW, plotH           = 640.0, 240.0
	padL, padR, padT, padB = 60.0, 16.0, 12.0, 28.0
)

// plot is one arm's confidence-sequence band over time.
type plot struct {
	Arm                 string
	W, H                float64
	Band, CIBand        string // polygon points
	Lift                string // polyline points
	ZeroY               float64
	YTicks              []tick
	XFirst, XLast       string
	Left, Right, Bottom float64
}

type tick struct {
	Y     float64
	Label string
}

func seriesPlot(arm string, pts []experiment.SeriesPoint) plot {
	p := plot{Arm: arm, W: plotW, H: plotH, Left: padL, Right: plotW - padR, Bottom: plotH - padB}
	if len(pts) == 0 {
		return p
	}
	lo, hi := 0.0, 0.0
	for _, s := range pts {
		lo = math.Min(lo, math.Min(s.SequentialCI[0], s.CI[0]))
		hi = math.Max(hi, math.Max(s.SequentialCI[1], s.CI[1]))
	}
	if hi-lo == 0 {
		hi, lo = 1, -1
	}
	span := hi - lo
	lo, hi = lo-0.05*span, hi+0.05*span
	t0, t1 := pts[0].At, pts[len(pts)-1].At
	x := func(t time.Time) float64 {
		if !t1.After(t0) {
			return (padL + plotW - padR) / 2
		}
		return padL + (plotW-padL-padR)*float64(t.Sub(t0))/float64(t1.Sub(t0))
	}
	y := func(v float64) float64 { return padT + (plotH-padT-padB)*(hi-v)/(hi-lo) }
	var up, down, ciUp, ciDown, lift []string
	for _, s := range pts {
		up = append(up, fmt.Sprintf("%.1f,%.1f", x(s.At), y(s.SequentialCI[1])))
		down = append([]string{fmt.Sprintf("%.1f,%.1f", x(s.At), y(s.SequentialCI[0]))}, down...)
		ciUp = append(ciUp, fmt.Sprintf("%.1f,%.1f", x(s.At), y(s.CI[1])))
		ciDown = append([]string{fmt.Sprintf("%.1f,%.1f", x(s.At), y(s.CI[0]))}, ciDown...)
		lift = append(lift, fmt.Sprintf("%.1f,%.1f", x(s.At), y(s.Lift)))
	}
	p.Band = strings.Join(append(up, down...), " ")
	p.CIBand = strings.Join(append(ciUp, ciDown...), " ")
	p.Lift = strings.Join(lift, " ")
	p.ZeroY = y(0)
	for k := range 5 {
		v := lo + (hi-lo)*float64(k)/4
		p.YTicks = append(p.YTicks, tick{Y: y(v), Label: Num(v)})
	}
	p.XFirst, p.XLast = t0.UTC().Format("01-02 15:04"), t1.UTC().Format("01-02 15:04")
	return p
}

// calPlot is the calibration bins: predicted against measured effect.
type calPlot struct {
	W, H                     float64
	Points                   []calPoint
	Diag                     string
	Left, Right, Bottom, Top float64
	Lo, Hi                   string
}

type calPoint struct {
	X, Y, Y0, Y1 float64
}

func calibrationPlot(bins []experiment.CalibrationBin) *calPlot {
	const w, h = 320.0, 240.0
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, b := range bins {
		lo = math.Min(lo, math.Min(b.Predicted, b.CI[0]))
		hi = math.Max(hi, math.Max(b.Predicted, b.CI[1]))
	}
	if !(hi > lo) {
		lo, hi = lo-1, hi+1
	}
	sx := func(v float64) float64 { return padL + (w-padL-padR)*(v-lo)/(hi-lo) }
	sy := func(v float64) float64 { return padT + (h-padT-padB)*(hi-v)/(hi-lo) }
	c := &calPlot{W: w, H: h, Left: padL, Right: w - padR, Bottom: h - padB, Top: padT, Lo: Num(lo), Hi: Num(hi)}
	c.Diag = fmt.Sprintf("%.1f,%.1f %.1f,%.1f", sx(lo), sy(lo), sx(hi), sy(hi))
	for _, b := range bins {
		c.Points = append(c.Points, calPoint{X: sx(b.Predicted), Y: sy(b.Measured), Y0: sy(b.CI[0]), Y1: sy(b.CI[1])})
	}
	return c
}
