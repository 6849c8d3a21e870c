package causal

import (
	"fmt"
	"math"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"
)

func TestUpliftByQuantile(t *testing.T) {
	// Eight units in two bins by score: the top bin has treated outcomes
	// 1, 1 and control outcomes 0, 1; the bottom bin treated 0, 1 and
	// control 1, 1.
	score := []float64{8, 7, 6, 5, 4, 3, 2, 1}
	tr := []int{1, 0, 1, 0, 1, 0, 1, 0}
	y := []float64{1, 0, 1, 1, 0, 1, 1, 1}
	bins, err := UpliftByQuantile(score, tr, y, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ mt, mc, se, ms float64 }{
		{1, 0.5, math.Sqrt(0 + 0.5/2), 6.5},
		{0.5, 1, math.Sqrt(0.5/2 + 0), 2.5},
	}
	for b, w := range want {
		q := bins[b]
		if q.Bin != b+1 || q.N != 4 || q.Treated != 2 || q.Control != 2 || q.MeanTreated != w.mt || q.MeanControl != w.mc ||
			!scalar.EqualWithinAbs(q.Uplift, w.mt-w.mc, 1e-12) || !scalar.EqualWithinAbs(q.SE, w.se, 1e-12) || q.MeanScore != w.ms {
			t.Errorf("bin %d: %+v, want %+v", b+1, q, w)
		}
	}
	// One bin is the difference in means of all units.
	all, err := UpliftByQuantile(score, tr, y, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	if all[0].Uplift != 0 {
		t.Errorf("overall uplift %v, want 0", all[0].Uplift)
	}
	// Weights count as repeated units.
	w := []float64{2, 1, 1, 1, 1, 1, 1, 1}
	wb, err := UpliftByQuantile(score, tr, y, w, 2)
	if err != nil {
		t.Fatal(err)
	}
	if wb[0].Treated != 3 || wb[0].N != 5 {
		t.Errorf("weighted bin: %+v", wb[0])
	}
	// A bin without control units has no uplift.
	nc, err := UpliftByQuantile([]float64{3, 2, 1, 0}, []int{1, 1, 0, 0}, []float64{1, 0, 1, 0}, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(nc[0].Uplift) || !math.IsNaN(nc[0].SE) {
		t.Errorf("bin without control: %+v", nc[0])
	}
	if _, err := UpliftByQuantile(score, tr, y, nil, 9); err == nil {
		t.Error("9 bins of 8 units: no error")
	}
}

func ExampleUpliftByQuantile() {
	score := []float64{0.9, 0.8, 0.7, 0.6, 0.3, 0.2, 0.1, 0.0}
	treated := []int{1, 0, 1, 0, 1, 0, 1, 0}
	visited := []float64{1, 0, 1, 0, 0, 0, 1, 1}
	bins, _ := UpliftByQuantile(score, treated, visited, nil, 2)
	for _, b := range bins {
		fmt.Printf("bin %d: treated %.2f, control %.2f, uplift %+.2f\n", b.Bin, b.MeanTreated, b.MeanControl, b.Uplift)
	}
	// Output:
	// bin 1: treated 1.00, control 0.00, uplift +1.00
	// bin 2: treated 0.50, control 0.50, uplift +0.00
}
