package plot

import (
	"bytes"
	"errors"
	"image/png"
	"math"
	"strings"
	"testing"
)

func TestWriteEstimates(t *testing.T) {
	ests := []Estimate{{"ipw", 0.0051, 0.0031, 0.0074}, {"dm", 0.0046, 0.0041, 0.0052}, {"dr", 0.0050, 0.0032, 0.0071}}
	var svg, img bytes.Buffer
	if err := WriteEstimates(&svg, SVG, 0.0046, 0.95, ests); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "ipw", "dm", "dr", "Logged value", "0.0046", "[0.0031, 0.0074]"} {
		if !strings.Contains(svg.String(), want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if err := WriteEstimates(&img, PNG, 0.0046, 0.95, ests); err != nil {
		t.Fatal(err)
	}
	im, err := png.Decode(&img)
	if err != nil {
		t.Fatal(err)
	}
	if b := im.Bounds(); b.Dx() < 400 || b.Dy() < 300 {
		t.Errorf("PNG is %v", b)
	}
	if err := WriteEstimates(&svg, Format("pdf"), 0.0046, 0.95, ests); !errors.Is(err, ErrFormat) {
		t.Errorf("pdf: %v", err)
	}
	if err := WriteEstimates(&svg, SVG, 0.0046, 0.95, []Estimate{{"ipw", math.NaN(), 0, 1}}); err == nil {
		t.Error("a NaN estimate was drawn")
	}
}

func TestWriteCalibration(t *testing.T) {
	bins := []Bin{{0.01, 0.012, 0.0, 0.02}, {0.03, 0.025, 0.015, 0.035}, {0.06, 0.07, 0.05, 0.09}}
	var svg bytes.Buffer
	if err := WriteCalibration(&svg, SVG, "uplift", "differential 1.02", 0.95, bins); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "Calibration of uplift", "Perfect calibration", "differential 1.02"} {
		if !strings.Contains(svg.String(), want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if err := WriteCalibration(&svg, SVG, "x", "", 0.95, nil); err == nil {
		t.Error("no bins drawn")
	}
}
