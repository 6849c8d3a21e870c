package abtest

import (
	"errors"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"
)

func TestAdjustedLift(t *testing.T) {
	// y = 3 + 2x + 1·[arm a] exactly, with different covariate means in
	// the two arms: θ = 2 and the adjusted lift is 1 with SE 0, while the
	// plain difference of means is 1 + 2·(x̄_a − x̄_b) = 2.
	xa := []float64{1, 2, 3, 4}
	xb := []float64{0, 1, 2, 3}
	line := func(x []float64, d float64) []float64 {
		y := make([]float64, len(x))
		for i, v := range x {
			y[i] = 3 + 2*v + d
		}
		return y
	}
	ya, yb := line(xa, 1), line(xb, 0)
	for _, tc := range []struct {
		name   string
		xa, xb [][]float64
		theta  []float64
	}{
		{"one covariate", [][]float64{xa}, [][]float64{xb}, []float64{2}},
		// A constant covariate gets θ = 0.
		{"constant first", [][]float64{{5, 5, 5, 5}, xa}, [][]float64{{5, 5, 5, 5}, xb}, []float64{0, 2}},
		// A covariate collinear with the one before gets θ = 0.
		{"collinear", [][]float64{xa, {2, 4, 6, 8}}, [][]float64{xb, {0, 2, 4, 6}}, []float64{2, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names := []string{"pre", "pred"}[:len(tc.xa)]
			r, err := AdjustedLift(ya, yb, tc.xa, tc.xb, names, 0.05, 5000)
			if err != nil {
				t.Fatal(err)
			}
			for k := range tc.theta {
				if !scalar.EqualWithinAbs(r.Theta[k], tc.theta[k], 1e-9) {
					t.Errorf("theta = %v, want %v", r.Theta, tc.theta)
				}
			}
			if !scalar.EqualWithinAbs(r.Lift, 1, 1e-9) || r.SE > 1e-9 {
				t.Errorf("lift %v SE %v, want 1 and 0", r.Lift, r.SE)
			}
			if !scalar.EqualWithinAbs(r.VarianceReduction, 1, 1e-9) {
				t.Errorf("variance reduction %v, want 1", r.VarianceReduction)
			}
		})
	}
	// Two independent covariates: y = 2·x1 − x2 + noise-free effect.
	x1a, x1b := []float64{1, 0, 1, 0, 2}, []float64{0, 1, 1, 2, 0}
	x2a, x2b := []float64{0, 1, 1, 3, 0}, []float64{1, 1, 0, 0, 2}
	y2 := func(x1, x2 []float64, d float64) []float64 {
		y := make([]float64, len(x1))
		for i := range y {
			y[i] = 2*x1[i] - x2[i] + d
		}
		return y
	}
	r, err := AdjustedLift(y2(x1a, x2a, 0.5), y2(x1b, x2b, 0), [][]float64{x1a, x2a}, [][]float64{x1b, x2b}, []string{"pre", "pred"}, 0.05, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if !scalar.EqualWithinAbs(r.Theta[0], 2, 1e-9) || !scalar.EqualWithinAbs(r.Theta[1], -1, 1e-9) || !scalar.EqualWithinAbs(r.Lift, 0.5, 1e-9) {
		t.Errorf("two covariates: theta %v lift %v, want [2 -1] and 0.5", r.Theta, r.Lift)
	}

	if _, err := AdjustedLift(ya, yb, [][]float64{xa}, [][]float64{xb[:3]}, []string{"pre"}, 0.05, 5000); !errors.Is(err, ErrInput) {
		t.Errorf("short covariate: error %v, want ErrInput", err)
	}
	if _, err := AdjustedLift(ya, yb[:1], [][]float64{xa}, [][]float64{xb[:1]}, []string{"pre"}, 0.05, 5000); !errors.Is(err, ErrEmptyArm) {
		t.Errorf("one unit: error %v, want ErrEmptyArm", err)
	}
}

func TestAnalyzeCovariates(t *testing.T) {
	arms := []Arm{
		{Name: "control", Weight: 1, Y: []float64{1, 2, 4, 3}, Pre: []float64{1, 2, 3, 3}, Pred: []float64{1, 1, 2, 2}},
		{Name: "uplift", Weight: 1, Y: []float64{2, 2, 5, 6}, Pre: []float64{1, 1, 3, 4}, Pred: []float64{1, 2, 2, 3}},
		{Name: "nopre", Weight: 1, Y: []float64{2, 2, 5, 6}, Pred: []float64{1, 2, 2, 3}},
	}
	rep, err := Analyze(arms, Config{MinUsers: -1})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Comparisons[0]
	if c.CUPED == nil || c.CUPAC == nil || len(c.CUPED.Theta) != 1 || len(c.CUPAC.Theta) != 2 || c.CUPAC.Covariates[1] != "pred" {
		t.Fatalf("uplift: CUPED %+v CUPAC %+v", c.CUPED, c.CUPAC)
	}
	want, err := AdjustedLift(arms[1].Y, arms[0].Y, [][]float64{arms[1].Pre}, [][]float64{arms[0].Pre}, []string{"pre"}, 0.05, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if c.CUPED.Lift != want.Lift || c.CUPED.CI != want.CI {
		t.Errorf("Analyze's CUPED %+v, AdjustedLift's %+v", *c.CUPED, want)
	}
	c = rep.Comparisons[1]
	if c.CUPED != nil || c.CUPAC == nil || len(c.CUPAC.Theta) != 1 || c.CUPAC.Covariates[0] != "pred" {
		t.Errorf("nopre: CUPED %+v CUPAC %+v, want no CUPED and CUPAC on pred", c.CUPED, c.CUPAC)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], `CUPED skipped for "nopre"`) {
		t.Errorf("warnings %q", rep.Warnings)
	}
	if rep.Arms[0].PreMean == nil || *rep.Arms[0].PreMean != 2.25 || rep.Arms[2].PreMean != nil {
		t.Errorf("pre means %v %v", rep.Arms[0].PreMean, rep.Arms[2].PreMean)
	}
	if math.IsNaN(c.CUPAC.VarianceReduction) {
		t.Errorf("variance reduction NaN")
	}
}
