package causal

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// overlapData draws n rows of d standard normal features and arms 0..arms:
// arm k ≥ 1 is received with a probability that grows with strength[k-1]·x_0
// (strength 0: randomised), and y = x_1 + noise.
func overlapData(n, d int, strength []float64, seed uint64) UpliftData {
	rng := rand.New(rand.NewPCG(seed, 7))
	x := mat.NewDense(n, d, nil)
	t := make([]int, n)
	y := make([]float64, n)
	for i := range n {
		for j := range d {
			x.Set(i, j, rng.NormFloat64())
		}
		// Softmax over control (score 0) and the treated arms.
		scores := make([]float64, len(strength)+1)
		sum := 1.0
		for k, s := range strength {
			scores[k+1] = math.Exp(s * x.At(i, 0))
			sum += scores[k+1]
		}
		u, acc := rng.Float64()*sum, 1.0
		for k := 1; k < len(scores) && u >= acc; k++ {
			acc += scores[k]
			t[i] = k
		}
		y[i] = x.At(i, 1) + rng.NormFloat64()
	}
	return UpliftData{X: x, Treatment: t, Arms: len(strength), Y: y}
}

func TestOverlap(t *testing.T) {
	logged := overlapData(2000, 3, []float64{3}, 3)
	logged.Propensity = make([]float64, len(logged.Y))
	wantLogged := 0
	for i := range logged.Propensity {
		e := 1 / (1 + math.Exp(-3*logged.X.At(i, 0)))
		if logged.Treatment[i] == 1 {
			logged.Propensity[i] = e
		} else {
			logged.Propensity[i] = 1 - e
		}
		if e <= OverlapClip || e >= 1-OverlapClip {
			wantLogged++
		}
	}
	for _, tc := range []struct {
		name   string
		d      UpliftData
		o      OverlapOptions
		rows   int
		lo, hi []float64 // per arm
		warn   string    // a part of the warning, "" for none
		logged bool
	}{
		// P(|3x| ≥ logit(0.95) = 2.94) = P(|x| ≥ 0.98) ≈ 0.33.
		{name: "randomised", d: overlapData(3000, 4, []float64{0}, 1), rows: 3000, lo: []float64{0}, hi: []float64{0.01}},
		{name: "confounded", d: overlapData(3000, 4, []float64{3}, 2), rows: 3000, lo: []float64{0.2}, hi: []float64{0.45}, warn: "(treated arm 1) have an estimated propensity at the clip bounds 0.05 and 0.95"},
		{name: "subsampled", d: overlapData(8000, 4, []float64{3}, 4), rows: DefaultOverlapRows, lo: []float64{0.2}, hi: []float64{0.45}, warn: "of the rows"},
		{name: "all rows", d: overlapData(8000, 4, []float64{0}, 5), o: OverlapOptions{MaxRows: -1}, rows: 8000, lo: []float64{0}, hi: []float64{0.01}},
		{name: "wider bound", d: overlapData(3000, 4, []float64{3}, 2), o: OverlapOptions{Clip: 0.2}, rows: 3000, lo: []float64{0.5}, hi: []float64{0.8}, warn: "0.2 and 0.8"},
		{name: "logged", d: logged, rows: 2000, lo: []float64{float64(wantLogged) / 2000}, hi: []float64{float64(wantLogged) / 2000}, warn: "a logged propensity", logged: true},
		{name: "two arms, the second confounded", d: overlapData(4000, 4, []float64{0, 3}, 6), o: OverlapOptions{Folds: 4}, rows: 4000, lo: []float64{0, 0.15}, hi: []float64{0.02, 0.5}, warn: "(treated arm 2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Overlap(tc.d, tc.o, rand.NewPCG(1, 1))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Rows != tc.rows || rep.Logged != tc.logged || len(rep.Clipped) != tc.d.Arms {
				t.Fatalf("rows %d logged %v arms %d, want %d %v %d", rep.Rows, rep.Logged, len(rep.Clipped), tc.rows, tc.logged, tc.d.Arms)
			}
			for k, v := range rep.Clipped {
				if !(v >= tc.lo[k]-1e-12 && v <= tc.hi[k]+1e-12) {
					t.Errorf("arm %d: clipped share %v, want it in [%v, %v]", k+1, v, tc.lo[k], tc.hi[k])
				}
			}
			w := rep.Warning()
			if (w != "") != (tc.warn != "") || !strings.Contains(w, tc.warn) {
				t.Errorf("warning %q, want one containing %q", w, tc.warn)
			}
			md := rep.Metadata()
			if md["overlap_clipped"] == "" || md["overlap_rows"] == "" || md["overlap_warning"] != w {
				t.Errorf("metadata %v", md)
			}
		})
	}
}

func TestOverlapErrors(t *testing.T) {
	d := overlapData(200, 3, []float64{0}, 1)
	for _, tc := range []struct {
		name string
		d    UpliftData
		o    OverlapOptions
		want error
	}{
		{"one fold", d, OverlapOptions{Folds: 1}, ErrParam},
		{"clip too wide", d, OverlapOptions{Clip: 0.5}, ErrParam},
		{"negative clip", d, OverlapOptions{Clip: -0.1}, ErrParam},
		{"no rows", UpliftData{Arms: 1}, OverlapOptions{}, ErrInput},
		{"arm out of range", UpliftData{X: d.X, Treatment: append([]int{2}, d.Treatment[1:]...), Arms: 1, Y: d.Y}, OverlapOptions{}, ErrInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Overlap(tc.d, tc.o, rand.NewPCG(1, 1)); !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestOverlapReportNil(t *testing.T) {
	var r *OverlapReport
	if r.Warning() != "" || r.Metadata() != nil {
		t.Error("a nil report has a warning or metadata")
	}
}
