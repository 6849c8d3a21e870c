package plot

import (
	"bytes"
	"image/png"
	"math"
	"strings"
	"testing"
)

func TestWriteExplanation(t *testing.T) {
	imp := []Estimate{{"x1", 0.6, 0.58, 0.62}, {"x2", 0.2, 0.19, 0.21}, {"a rather long feature name=with a level", 0.01, 0, 0.02}}
	blp := []Estimate{{"x1", 1, 0.9, 1.1}, {"x2", 0.5, 0.4, 0.6}, {"x3", 0.01, -0.05, 0.07}}
	var svg bytes.Buffer
	if err := WriteExplanation(&svg, SVG, "t, arm mail", 0.95, imp, blp); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Permutation importance: t, arm mail", "Best linear projection: t, arm mail", "a rather long feature…", "95% HC3 intervals"} {
		if !strings.Contains(svg.String(), want) {
			t.Errorf("the SVG lacks %q", want)
		}
	}
	var img bytes.Buffer
	if err := WriteExplanation(&img, PNG, "t", 0.9, imp, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&img); err != nil {
		t.Errorf("not a PNG: %v", err)
	}
	if err := WriteExplanation(&img, PNG, "t", 0.9, nil, blp); err == nil {
		t.Error("no importances: no error")
	}
	if err := WriteExplanation(&img, PNG, "t", 0.9, []Estimate{{"x", 1, 0, math.NaN()}}, nil); err == nil {
		t.Error("a NaN interval: no error")
	}
}
