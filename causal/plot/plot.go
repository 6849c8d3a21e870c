// Package plot draws causalrec's charts as SVG or PNG images with
// gonum.org/v1/plot: Qini and uplift curves of one or more rankings
// (WriteQini, WriteUplift) and the uplift by decile of predicted uplift
// (WriteDeciles).
//
// Every chart is laid out so that nothing is clipped or covered: the
// legend sits in its own band under the axes of its panel (never over a
// curve), the image grows with the legend, text that would not fit is set
// smaller, and a footnote under the panels says what the numbers mean.
// Several charts of one kind (one per treated arm, say) stack into one
// image as panels.
//
// # Adding a chart
//
// A chart is a function in its own file that builds a figure with
// newFigure, adds a panel per chart with figure.panel, draws on the
// panel's gonum plot (panel.plot, with the colours of seriesColor), names
// what it drew with panel.legend, sets figure.note and ends with
// figure.write. The layout, fonts, formats and checks come with the
// figure.
package plot

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Format is an image format.
type Format string

// The image formats.
const (
	SVG Format = "svg"
	PNG Format = "png"
)

// ErrFormat reports an image format other than SVG or PNG. Check with
// errors.Is.
var ErrFormat = errors.New("unsupported image format")

// FormatOf returns the format named by the extension of path: .svg or
// .png, in any case.
func FormatOf(path string) (Format, error) {
	switch f := Format(strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")); f {
	case SVG, PNG:
		return f, nil
	}
	return "", fmt.Errorf("%w: %s: the file name must end in .svg or .png", ErrFormat, path)
}

// Sizes of every figure. PNG images have DPI dots per inch, so a figure is
// Width·DPI = 975 pixels wide.
const (
	Width = 6.5 * vg.Inch
	DPI   = 150

	panelHeight = 4 * vg.Inch    // title, axes and labels of one panel
	margin      = 0.12 * vg.Inch // around the whole image
	gap         = 0.1 * vg.Inch  // between a panel's axes and its legend, and between panels
	legendPad   = 0.08 * vg.Inch // inside the legend box
	thumbWidth  = 0.35 * vg.Inch // a legend entry's sample of line or bar
)

// Font sizes in points; text that does not fit is set smaller, down to
// minFontSize.
const (
	titleSize   = 13
	labelSize   = 11
	tickSize    = 9.5
	legendSize  = 10
	noteSize    = 8
	minFontSize = 6.5
)

// textFont is Liberation Sans, which has the metrics of Arial and
// Helvetica; SVG files name those as fallbacks, so text measured here fits
// in a browser too.
var textFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// seriesColor returns the colour of the i-th series: the colour-blind-safe
// palette of Okabe and Ito (2008) without its yellow, then repeated.
func seriesColor(i int) color.Color {
	palette := []color.RGBA{
		{0x00, 0x72, 0xB2, 0xff}, // blue
		{0xD5, 0x5E, 0x00, 0xff}, // vermillion
		{0x00, 0x9E, 0x73, 0xff}, // bluish green
		{0xCC, 0x79, 0xA7, 0xff}, // reddish purple
		{0xE6, 0x9F, 0x00, 0xff}, // orange
		{0x56, 0xB4, 0xE9, 0xff}, // sky blue
		{0x00, 0x00, 0x00, 0xff}, // black
	}
	return palette[i%len(palette)]
}

// figure is an image of panels stacked from the top, each with its legend
// under it, and a footnote.
type figure struct {
	panels []*panel
	// note is the footnote under the panels; it is wrapped to the width.
	note string
}

// panel is one chart: a gonum plot (title, axes, data) and its legend.
type panel struct {
	plot    *gplot.Plot
	entries []legendEntry
}

// legendEntry is a legend line: a sample, a name and an optional value
// (such as "Qini 0.061 [0.031, 0.089]"), the values aligned in a column.
type legendEntry struct {
	name, value string
	thumbs      []gplot.Thumbnailer
}

func newFigure() *figure { return &figure{} }

// panel adds a panel with the given title and axis labels.
func (f *figure) panel(title, xlabel, ylabel string) *panel {
	p := gplot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(textFont, titleSize)
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	for _, a := range []*gplot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(textFont, labelSize)
		a.Label.Padding = vg.Points(4)
		a.Tick.Label.Font = font.From(textFont, tickSize)
	}
	p.Legend = gplot.NewLegend() // unused: panels draw their own legend
	p.X.Tick.Marker, p.Y.Tick.Marker = niceTicks{}, niceTicks{}
	pn := &panel{plot: p}
	f.panels = append(f.panels, pn)
	return pn
}

// legend adds an entry to the panel's legend: the sample drawn by thumbs,
// name, and value (may be empty) in the column of values.
func (p *panel) legend(name, value string, thumbs ...gplot.Thumbnailer) {
	p.entries = append(p.entries, legendEntry{name: name, value: value, thumbs: thumbs})
}

// pad widens the panel's axes by frac of their data range on each side,
// so that no line runs along the frame.
func (p *panel) pad(frac float64) {
	for _, a := range []*gplot.Axis{&p.plot.X, &p.plot.Y} {
		if r := a.Max - a.Min; r > 0 {
			a.Min -= frac * r
			a.Max += frac * r
		}
	}
}

// style returns the text style of size points.
func style(size float64) text.Style {
	return text.Style{Font: font.From(textFont, vg.Length(size)), Handler: gplot.DefaultTextHandler}
}

// textWidth is the width of s set in sty.
func textWidth(sty text.Style, s string) vg.Length { return sty.Rectangle(s).Max.X }

// lineHeight is the height of a line of text in sty.
func lineHeight(sty text.Style) vg.Length {
	e := sty.FontExtents()
	return e.Height
}

// fit returns the largest size in [minFontSize, size] at which every
// string fits in avail, or minFontSize.
func fit(size float64, avail vg.Length, strs ...string) float64 {
	for ; size > minFontSize; size -= 0.5 {
		sty := style(size)
		ok := true
		for _, s := range strs {
			if textWidth(sty, s) > avail {
				ok = false
				break
			}
		}
		if ok {
			return size
		}
	}
	return minFontSize
}

// ellipsize shortens s with "…" until it fits in avail.
func ellipsize(sty text.Style, s string, avail vg.Length) string {
	if textWidth(sty, s) <= avail {
		return s
	}
	r := []rune(s)
	for len(r) > 1 {
		r = r[:len(r)-1]
		if t := string(r) + "…"; textWidth(sty, t) <= avail {
			return t
		}
	}
	return "…"
}

// wrap breaks s into lines no wider than avail, at spaces; explicit
// newlines are kept.
func wrap(sty text.Style, s string, avail vg.Length) []string {
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			try := word
			if line != "" {
				try = line + " " + word
			}
			if line != "" && textWidth(sty, try) > avail {
				lines = append(lines, line)
				try = word
			}
			line = ellipsize(sty, try, avail)
		}
		lines = append(lines, line)
	}
	return lines
}

// layout is where the parts of a figure go, in points from the bottom
// left, worked out before drawing.
type layout struct {
	height  vg.Length
	panels  []panelLayout
	note    []string
	noteSty text.Style
	noteTop vg.Length
}

type panelLayout struct {
	plot, legend vg.Rectangle
	sty          text.Style
	names        []string  // legend names as drawn
	values       []string  // legend values as drawn
	valueX       vg.Length // offset of the values from the names
}

// layout sizes the legends and the note and stacks the panels. It also
// fits the titles and axis labels of the panels to their space.
func (f *figure) layout() layout {
	inner := Width - 2*margin
	var l layout
	legendAvail := inner - 2*legendPad - thumbWidth - vg.Points(6)
	var heights []vg.Length
	for _, p := range f.panels {
		pl := legendLayout(p.entries, legendAvail)
		h := vg.Length(0)
		if len(pl.names) > 0 {
			h = vg.Length(len(pl.names))*lineHeight(pl.sty)*1.25 + 2*legendPad
		}
		heights = append(heights, h)
		l.panels = append(l.panels, pl)
		fitLabels(p.plot, inner)
	}
	if f.note != "" {
		l.noteSty = style(noteSize)
		l.note = wrap(l.noteSty, f.note, inner)
	}
	noteH := vg.Length(0)
	if len(l.note) > 0 {
		noteH = vg.Length(len(l.note)) * lineHeight(l.noteSty) * 1.15
	}
	total := 2 * margin
	for _, h := range heights {
		total += panelHeight + gap + h + gap
	}
	if noteH > 0 {
		total += noteH + gap
	}
	l.height = total
	top := total - margin
	for i, h := range heights {
		pl := &l.panels[i]
		pl.plot = vg.Rectangle{Min: vg.Point{X: margin, Y: top - panelHeight}, Max: vg.Point{X: Width - margin, Y: top}}
		top -= panelHeight + gap
		pl.legend = vg.Rectangle{Min: vg.Point{X: margin, Y: top - h}, Max: vg.Point{X: Width - margin, Y: top}}
		top -= h + gap
	}
	l.noteTop = top
	return l
}

// legendLayout sets the legend's font size so that names and values fit
// in avail side by side (shortening the names with "…" at the smallest
// size), and the offset of the column of values.
func legendLayout(entries []legendEntry, avail vg.Length) panelLayout {
	var pl panelLayout
	const sep = "   "
	for size := float64(legendSize); ; size -= 0.5 {
		pl.sty = style(size)
		var nameW, valueW vg.Length
		for _, e := range entries {
			nameW = max(nameW, textWidth(pl.sty, e.name))
			valueW = max(valueW, textWidth(pl.sty, sep+e.value))
		}
		if nameW+valueW <= avail || size <= minFontSize {
			nameAvail := max(avail-valueW, avail/3)
			pl.names, pl.values = nil, nil
			for _, e := range entries {
				pl.names = append(pl.names, ellipsize(pl.sty, e.name, nameAvail))
				pl.values = append(pl.values, ellipsize(pl.sty, e.value, avail-min(nameW, nameAvail)-textWidth(pl.sty, sep)))
			}
			pl.valueX = min(nameW, nameAvail) + textWidth(pl.sty, sep)
			return pl
		}
	}
}

// fitLabels sets the title and the axis labels of p small enough to fit:
// the title and the x label in the panel's width, the y label (drawn
// upright along the axis) in the height left for the axes.
func fitLabels(p *gplot.Plot, inner vg.Length) {
	p.Title.TextStyle.Font.Size = vg.Length(fit(titleSize, inner, p.Title.Text))
	p.X.Label.TextStyle.Font.Size = vg.Length(fit(labelSize, inner-vg.Inch, p.X.Label.Text))
	// The y axis spans the panel's height less the title, the x axis and
	// its label.
	avail := panelHeight - lineHeight(p.Title.TextStyle) - p.Title.Padding - 3*lineHeight(style(labelSize))
	p.Y.Label.TextStyle.Font.Size = vg.Length(fit(labelSize, avail, p.Y.Label.Text))
}

// write draws the figure in format to w.
func (f *figure) write(w io.Writer, format Format) error {
	if len(f.panels) == 0 {
		return errors.New("plot: a figure without panels")
	}
	if format != SVG && format != PNG {
		return fmt.Errorf("%w: %q, want svg or png", ErrFormat, format)
	}
	l := f.layout()
	var c vg.CanvasWriterTo
	switch format {
	case SVG:
		c = vgsvg.New(Width, l.height)
	case PNG:
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(Width, l.height), vgimg.UseDPI(DPI))}
	default:
		return fmt.Errorf("%w: %q, want svg or png", ErrFormat, format)
	}
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	for i, p := range f.panels {
		pl := l.panels[i]
		p.plot.Draw(draw.Canvas{Canvas: dc.Canvas, Rectangle: pl.plot})
		drawLegend(dc, pl, p.entries)
	}
	y := l.noteTop
	for _, line := range l.note {
		y -= lineHeight(l.noteSty) * 1.15
		dc.FillText(l.noteSty, vg.Point{X: margin, Y: y + l.noteSty.FontExtents().Descent}, line)
	}
	if format == SVG {
		return writeSVG(w, c)
	}
	_, err := c.WriteTo(w)
	return err
}

// drawLegend draws the legend box of a panel: one entry per line, the
// sample of each line or bar, then its text.
func drawLegend(dc draw.Canvas, pl panelLayout, entries []legendEntry) {
	if len(entries) == 0 {
		return
	}
	box := pl.legend
	dc.SetLineStyle(draw.LineStyle{Color: color.Gray{Y: 0xb0}, Width: vg.Points(0.6)})
	dc.Stroke(box.Path())
	lh := lineHeight(pl.sty) * 1.25
	y := box.Max.Y - legendPad
	for i, e := range entries {
		row := vg.Rectangle{Min: vg.Point{X: box.Min.X + legendPad, Y: y - lh}, Max: vg.Point{X: box.Min.X + legendPad + thumbWidth, Y: y}}
		thumb := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: row.Min.X, Y: row.Min.Y + lh*0.15}, Max: vg.Point{X: row.Max.X, Y: row.Max.Y - lh*0.15}}}
		for _, t := range e.thumbs {
			t.Thumbnail(&thumb)
		}
		ext := pl.sty.FontExtents()
		base := row.Min.Y + (lh-ext.Ascent-ext.Descent)/2 + ext.Descent
		dc.FillText(pl.sty, vg.Point{X: row.Max.X + vg.Points(6), Y: base}, pl.names[i])
		if pl.values[i] != "" {
			dc.FillText(pl.sty, vg.Point{X: row.Max.X + vg.Points(6) + pl.valueX, Y: base}, pl.values[i])
		}
		y -= lh
	}
}

// writeSVG writes the SVG canvas with font fallbacks of the same metrics.
func writeSVG(w io.Writer, c vg.CanvasWriterTo) error {
	var b strings.Builder
	if _, err := c.WriteTo(&b); err != nil {
		return err
	}
	s := strings.ReplaceAll(b.String(), "font-family:Liberation Sans;", "font-family:'Liberation Sans',Arial,Helvetica,sans-serif;")
	_, err := io.WriteString(w, s)
	return err
}

// niceTicks labels 4 to 8 ticks at multiples of 1, 2, 2.5 or 5 times a
// power of ten.
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []gplot.Tick {
	if !(hi > lo) || !finite(lo, hi) {
		return gplot.DefaultTicks{}.Ticks(lo, hi)
	}
	raw := (hi - lo) / 6
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	decimals := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	if step/math.Pow(10, math.Floor(math.Log10(step)+1e-9)) == 2.5 {
		decimals++
	}
	var ticks []gplot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		ticks = append(ticks, gplot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
	}
	return ticks
}

// finite reports whether every value is neither NaN nor infinite.
func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}
