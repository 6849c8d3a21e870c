package plot

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"image"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/causalrec/causalrec/causal"
	"gonum.org/v1/plot/vg"
)

var update = flag.Bool("update", false, "rewrite the golden PNG files under testdata/")

// sample is a deterministic data set with three rankings of different
// quality: the effect grows with x, and the scores are x with more and
// more noise.
type sample struct {
	t      []int
	y      []float64
	scores [][]float64
	names  []string
}

func newSample(n int) sample {
	rng := rand.New(rand.NewPCG(1, 2))
	s := sample{t: make([]int, n), y: make([]float64, n), names: []string{"t", "x:base=gbt", "uplift-forest:criterion=KL"}}
	s.scores = [][]float64{make([]float64, n), make([]float64, n), make([]float64, n)}
	for i := range n {
		x := rng.NormFloat64()
		s.t[i] = rng.IntN(2)
		if rng.Float64() < 0.2+0.08*float64(s.t[i])*(x+0.5) {
			s.y[i] = 1
		}
		s.scores[0][i] = 0.05 * (x + 0.5*rng.NormFloat64())
		s.scores[1][i] = 0.05 * (x + 2*rng.NormFloat64())
		s.scores[2][i] = 0.05 * rng.NormFloat64()
	}
	return s
}

func noCI() causal.ConfInt { return causal.ConfInt{Lo: math.NaN(), Hi: math.NaN()} }

func (s sample) qini(t *testing.T, k int) CurveChart {
	t.Helper()
	ch := CurveChart{Metric: "Qini", Note: "Qini: scikit-uplift's qini_auc_score. [lo, hi]: 95% percentile bootstrap interval."}
	for e := range k {
		c, err := causal.QiniCurve(s.scores[e], s.t, s.y, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Name = s.names[e]
		q, err := causal.QiniAUCScore(s.scores[e], s.t, s.y, nil)
		if err != nil {
			t.Fatal(err)
		}
		ch.Series = append(ch.Series, Series{Curve: c, Value: q, CI: causal.ConfInt{Lo: q - 0.02, Hi: q + 0.02}})
	}
	p, err := causal.PerfectQiniCurve(s.t, s.y, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Name = "Perfect ranking"
	ch.Perfect = &Series{Curve: p, Value: 1, CI: noCI()}
	r := causal.RandomCurve(ch.Series[0].Curve)
	r.Name = "Random targeting"
	ch.Random = &Series{Curve: r, Value: 0, CI: noCI()}
	return ch
}

func (s sample) deciles(t *testing.T, k int) DecileChart {
	t.Helper()
	ch := DecileChart{Predicted: true, ATE: 0.04, Note: "Bars: the difference of mean outcomes per decile."}
	for e := range k {
		b, err := causal.UpliftByQuantile(s.scores[e], s.t, s.y, nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		ch.Series = append(ch.Series, DecileSeries{Name: s.names[e], Bins: b})
	}
	return ch
}

// figures are the charts checked against golden files.
func figures(t *testing.T) map[string]func(w io.Writer, f Format) error {
	s := newSample(4000)
	return map[string]func(w io.Writer, f Format) error{
		"qini_one":     func(w io.Writer, f Format) error { return WriteQini(w, f, s.qini(t, 1)) },
		"qini_three":   func(w io.Writer, f Format) error { return WriteQini(w, f, s.qini(t, 3)) },
		"deciles_two":  func(w io.Writer, f Format) error { return WriteDeciles(w, f, s.deciles(t, 2)) },
		"qini_two_arm": func(w io.Writer, f Format) error { return WriteQini(w, f, s.qini(t, 2), s.qini(t, 1)) },
	}
}

// TestGoldenPNG renders each figure and compares it with its golden file
// pixel by pixel: at most 0.2% of the pixels may differ by more than 24 in
// a channel (font rasterisation may move by a pixel). Run with -update to
// rewrite the files, and look at them.
func TestGoldenPNG(t *testing.T) {
	for name, draw := range figures(t) {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := draw(&buf, PNG); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".png")
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := png.Decode(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatalf("%v (run go test ./causal/plot -run TestGoldenPNG -update)", err)
			}
			defer f.Close()
			want, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			if got.Bounds() != want.Bounds() {
				t.Fatalf("image is %v, golden %v", got.Bounds(), want.Bounds())
			}
			if frac := diffShare(got, want); frac > 0.002 {
				t.Errorf("%.2f%% of the pixels differ from %s", 100*frac, path)
			}
		})
	}
}

// diffShare is the share of pixels of a and b that differ by more than 24
// in some channel.
func diffShare(a, b image.Image) float64 {
	r := a.Bounds()
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if absDiff(r1, r2) > 24<<8 || absDiff(g1, g2) > 24<<8 || absDiff(b1, b2) > 24<<8 {
				n++
			}
		}
	}
	return float64(n) / float64(r.Dx()*r.Dy())
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// TestNothingClippedOrCovered checks the layout of every figure: each
// legend lies under its axes (so it covers no curve) and inside the image,
// every legend line and the titles fit their space, and the image's border
// is blank (nothing runs off the edge).
func TestNothingClippedOrCovered(t *testing.T) {
	s := newSample(2000)
	long := s.qini(t, 3)
	long.Series[1].Curve.Name = strings.Repeat("uplift-forest:criterion=KL:trees=300:depth=8:", 4)
	long.Title = "Qini curves of a comparison with a title far longer than the width of the image can hold in one line"
	cases := map[string]*figure{}
	for name, ch := range map[string]CurveChart{"three": s.qini(t, 3), "long names": long} {
		fig := newFigure()
		if err := buildCurves(fig, "Qini curve", "Incremental outcomes Q(N)", []CurveChart{ch}); err != nil {
			t.Fatal(err)
		}
		cases[name] = fig
	}
	inner := Width - 2*margin
	for name, fig := range cases {
		l := fig.layout()
		for i, pl := range l.panels {
			if pl.legend.Max.Y > pl.plot.Min.Y {
				t.Errorf("%s: legend (top %v) reaches into the axes (bottom %v)", name, pl.legend.Max.Y, pl.plot.Min.Y)
			}
			for _, r := range []vg.Rectangle{pl.plot, pl.legend} {
				if r.Min.X < margin || r.Max.X > Width-margin || r.Min.Y < margin || r.Max.Y > l.height-margin {
					t.Errorf("%s: %v is outside the image %v×%v less the margin", name, r, Width, l.height)
				}
			}
			for j, n := range pl.names {
				if w := pl.valueX + textWidth(pl.sty, pl.values[j]); textWidth(pl.sty, n) > pl.valueX || w > inner-2*legendPad-thumbWidth {
					t.Errorf("%s: legend line %q %q is %v wide, more than its space", name, n, pl.values[j], w)
				}
			}
			p := fig.panels[i].plot
			if w := textWidth(p.Title.TextStyle, p.Title.Text); w > inner {
				t.Errorf("%s: title is %v wide, more than %v", name, w, inner)
			}
		}
		var buf bytes.Buffer
		if err := fig.write(&buf, PNG); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if x, y, ok := blankBorder(img, 10); !ok {
			t.Errorf("%s: pixel (%d, %d) of the border is not blank", name, x, y)
		}
	}
	// The long name was shortened, with its value kept whole.
	l := cases["long names"].layout()
	if n := l.panels[0].names[1]; !strings.HasSuffix(n, "…") || l.panels[0].values[1] == "" || strings.Contains(l.panels[0].values[1], "…") {
		t.Errorf("long legend line drawn as %q %q", n, l.panels[0].values[1])
	}
}

// blankBorder reports whether the outer w pixels of img are white.
func blankBorder(img image.Image, w int) (int, int, bool) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if x >= b.Min.X+w && x < b.Max.X-w && y >= b.Min.Y+w && y < b.Max.Y-w {
				continue
			}
			if r, g, bl, _ := img.At(x, y).RGBA(); r != 0xffff || g != 0xffff || bl != 0xffff {
				return x, y, false
			}
		}
	}
	return 0, 0, true
}

func TestSVG(t *testing.T) {
	var buf bytes.Buffer
	if err := figures(t)["qini_three"](&buf, SVG); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("output is not valid XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
	}
	for _, s := range []string{"x:base=gbt", "uplift-forest:criterion=KL", "Perfect ranking", "Random targeting", "Qini 1", "Qini curve",
		"Share of units targeted", "'Liberation Sans',Arial,Helvetica,sans-serif"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("SVG lacks the text %q", s)
		}
	}
}

func TestThin(t *testing.T) {
	c := causal.Curve{X: make([]float64, 10001), Y: make([]float64, 10001)}
	for i := range c.X {
		c.X[i], c.Y[i] = float64(i), math.Sqrt(float64(i))
	}
	xy := thin(c)
	if len(xy) != maxPoints || xy[0].X != 0 || xy[len(xy)-1].X != 10000 {
		t.Errorf("thinned to %d points from %v to %v", len(xy), xy[0].X, xy[len(xy)-1].X)
	}
	short := causal.Curve{X: []float64{0, 1}, Y: []float64{0, 2}}
	if xy := thin(short); len(xy) != 2 || xy[1].Y != 2 {
		t.Errorf("short curve changed: %v", xy)
	}
}

func TestNiceTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{
		{0, 100, "0 20 40 60 80 100"},
		{-0.04, 0.19, "0.00 0.05 0.10 0.15"},
		{0, 2500, "0 500 1000 1500 2000 2500"},
		{-0.12, 0.125, "-0.10 -0.05 0.00 0.05 0.10"},
		{0, 1.3, "0.00 0.25 0.50 0.75 1.00 1.25"},
	} {
		var got []string
		for _, tk := range (niceTicks{}).Ticks(c.lo, c.hi) {
			got = append(got, tk.Label)
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("ticks of [%v, %v]: %q, want %q", c.lo, c.hi, g, c.want)
		}
	}
}

func TestFormatOf(t *testing.T) {
	for path, want := range map[string]Format{"a.svg": SVG, "dir/B.PNG": PNG} {
		if got, err := FormatOf(path); err != nil || got != want {
			t.Errorf("FormatOf(%q) = %q, %v", path, got, err)
		}
	}
	if _, err := FormatOf("plot.pdf"); !errors.Is(err, ErrFormat) {
		t.Errorf("FormatOf(plot.pdf): %v, want ErrFormat", err)
	}
}

func TestWriteErrors(t *testing.T) {
	ok := causal.Curve{Name: "m", X: []float64{0, 1}, Y: []float64{0, 1}}
	for _, c := range []struct {
		name   string
		format Format
		charts []CurveChart
		match  string
	}{
		{"format", "gif", []CurveChart{{Series: []Series{{Curve: ok}}}}, "unsupported image format"},
		{"no charts", SVG, nil, "no charts"},
		{"no curves", SVG, []CurveChart{{}}, "no curves"},
		{"lengths", SVG, []CurveChart{{Series: []Series{{Curve: causal.Curve{Name: "a", X: []float64{0}}}}}}, "1 x and 0 y"},
		{"empty", PNG, []CurveChart{{Series: []Series{{Curve: causal.Curve{Name: "a"}}}}}, "is empty"},
		{"NaN", SVG, []CurveChart{{Series: []Series{{Curve: causal.Curve{Name: "a", X: []float64{0, 1}, Y: []float64{0, math.NaN()}}}}}}, "point 1"},
	} {
		err := WriteQini(io.Discard, c.format, c.charts...)
		if err == nil || !strings.Contains(err.Error(), c.match) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.match)
		}
	}
	s := newSample(500)
	ch := s.deciles(t, 2)
	ch.Series[1].Bins = ch.Series[1].Bins[:5]
	if err := WriteDeciles(io.Discard, PNG, ch); err == nil || !strings.Contains(err.Error(), "has 5 bins") {
		t.Errorf("mismatched bins: %v", err)
	}
}
