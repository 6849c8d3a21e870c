package plot

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/causalrec/causalrec/causal"
)

func testCurves(t *testing.T, n int) (model, perfect causal.Curve) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	score, tr, y := make([]float64, n), make([]int, n), make([]float64, n)
	for i := range n {
		score[i] = rng.NormFloat64()
		tr[i] = rng.IntN(2)
		if rng.Float64() < 0.3+0.1*float64(tr[i])*score[i] {
			y[i] = 1
		}
	}
	model, err := causal.QiniCurve(score, tr, y, nil)
	if err != nil {
		t.Fatal(err)
	}
	perfect, err = causal.PerfectQiniCurve(tr, y, nil)
	if err != nil {
		t.Fatal(err)
	}
	return model, perfect
}

func TestWriteQiniSVG(t *testing.T) {
	model, perfect := testCurves(t, 5000)
	var buf bytes.Buffer
	if err := WriteQini(&buf, "svg", model, perfect); err != nil {
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
	for _, s := range []string{"Model", "Perfect", "Random", "Qini curve", "Units targeted"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("SVG lacks the text %q", s)
		}
	}
}

func TestWriteUpliftPNG(t *testing.T) {
	model, _ := testCurves(t, 300)
	var buf bytes.Buffer
	if err := WriteUplift(&buf, "png", model); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("output is not a PNG: %v", err)
	}
	b := img.Bounds()
	if b.Dx() < 100 || b.Dy() < 100 {
		t.Fatalf("image is %v", b)
	}
	// Something was drawn: not every pixel has the same colour.
	first := img.At(b.Min.X, b.Min.Y)
	same := true
	for x := b.Min.X; x < b.Max.X && same; x += 7 {
		for y := b.Min.Y; y < b.Max.Y; y += 7 {
			if img.At(x, y) != first {
				same = false
				break
			}
		}
	}
	if same {
		t.Error("PNG is blank")
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

func TestWriteErrors(t *testing.T) {
	ok := causal.Curve{Name: "m", X: []float64{0, 1}, Y: []float64{0, 1}}
	for _, c := range []struct {
		name   string
		format string
		curves []causal.Curve
		match  string
	}{
		{"format", "gif", []causal.Curve{ok}, "unsupported image format"},
		{"none", "svg", nil, "no curves"},
		{"lengths", "svg", []causal.Curve{{Name: "a", X: []float64{0}, Y: nil}}, "1 x and 0 y"},
		{"empty", "png", []causal.Curve{{Name: "a"}}, "is empty"},
		{"NaN", "svg", []causal.Curve{{Name: "a", X: []float64{0, 1}, Y: []float64{0, math.NaN()}}}, "point 1"},
	} {
		err := WriteQini(io.Discard, c.format, c.curves...)
		if err == nil || !strings.Contains(err.Error(), c.match) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.match)
		}
	}
	if err := WriteQini(io.Discard, "gif", ok); !errors.Is(err, ErrFormat) {
		t.Errorf("format error %v is not ErrFormat", err)
	}
}
