package causal

import (
	"errors"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestEncoderTransform(t *testing.T) {
	x := mat.NewDense(4, 3, []float64{
		2, 0.5, 0,
		0, 1.5, 1,
		3, 2.5, 0,
		2, 3.5, 1,
	})
	e, err := FitEncoder(x, []bool{true, false, true})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Levels[0]; len(got) != 3 || got[0] != 0 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("levels of column 0 = %v, want [0 2 3]", got)
	}
	if e.Width() != 4 {
		t.Fatalf("width = %d, want 4", e.Width())
	}
	got := e.Transform(nil, x)
	want := mat.NewDense(4, 4, []float64{
		1, 0, 0.5, 0,
		0, 0, 1.5, 1,
		0, 1, 2.5, 0,
		1, 0, 3.5, 1,
	})
	if !mat.Equal(got, want) {
		t.Fatalf("transform =\n%v\nwant\n%v", mat.Formatted(got), mat.Formatted(want))
	}
	// Unseen, negative and fractional codes encode as the reference level.
	y := mat.NewDense(3, 3, []float64{7, 1, 5, -1, 2, 1, 2.5, 3, 0})
	got = e.Transform(mat.NewDense(3, 4, []float64{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}), y)
	want = mat.NewDense(3, 4, []float64{0, 0, 1, 0, 0, 0, 2, 1, 0, 0, 3, 0})
	if !mat.Equal(got, want) {
		t.Fatalf("transform of unseen codes =\n%v\nwant\n%v", mat.Formatted(got), mat.Formatted(want))
	}
	// dot agrees with the materialised encoding.
	coef := []float64{1, 10, 100, 1000}
	tabs := e.lookup()
	enc := e.Transform(nil, x)
	for i := 0; i < 4; i++ {
		if a, b := e.dot(coef, x.RawRowView(i), tabs), mat.Dot(enc.RowView(i), mat.NewVecDense(4, coef)); a != b {
			t.Errorf("row %d: dot = %v, want %v", i, a, b)
		}
	}
}

func TestEncoderErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		x    *mat.Dense
		cat  []bool
	}{
		{"negative", mat.NewDense(2, 1, []float64{0, -1}), []bool{true}},
		{"fraction", mat.NewDense(2, 1, []float64{0, 0.5}), []bool{true}},
		{"flags", mat.NewDense(2, 1, []float64{0, 0}), []bool{true, false}},
		{"nan", mat.NewDense(1, 1, []float64{math.NaN()}), []bool{true}},
		{"huge", mat.NewDense(1, 1, []float64{MaxCategoryCode + 1}), []bool{true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := FitEncoder(tc.x, tc.cat); !errors.Is(err, ErrInput) {
				t.Fatalf("err = %v, want ErrInput", err)
			}
		})
	}
}

func TestEncoderRoundTrip(t *testing.T) {
	x := mat.NewDense(3, 2, []float64{0, 1, 4, 2, 1, 3})
	e, err := FitEncoder(x, []bool{true, false})
	if err != nil {
		t.Fatal(err)
	}
	v := reload(t, e)
	if got, want := v.(*Encoder).Transform(nil, x), e.Transform(nil, x); !mat.Equal(got, want) {
		t.Fatalf("reloaded transform =\n%v\nwant\n%v", mat.Formatted(got), mat.Formatted(want))
	}
}
