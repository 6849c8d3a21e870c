package causal

import (
	"errors"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// dlceData is a log of 60 users × 8 items in which recommending item i
// raises the outcome probability by 0.1·i from a base of 0.1, recommended
// with probability 0.5; columns: a noise feature, the user code, the item
// code.
func dlceData(seed uint64) UpliftData {
	rng := rand.New(rand.NewPCG(seed, 7))
	const users, items = 60, 8
	n := users * items
	x := mat.NewDense(n, 3, nil)
	d := UpliftData{X: x, Treatment: make([]int, n), Arms: 1, Y: make([]float64, n), Propensity: make([]float64, n)}
	for u := range users {
		for i := range items {
			r := u*items + i
			x.Set(r, 0, rng.NormFloat64())
			x.Set(r, 1, float64(1000+u))
			x.Set(r, 2, float64(50+i))
			p := 0.1
			d.Propensity[r] = 0.5
			if rng.Float64() < 0.5 {
				d.Treatment[r] = 1
				p += 0.1 * float64(i)
			}
			if rng.Float64() < p {
				d.Y[r] = 1
			}
		}
	}
	return d
}

func TestDLCERanksByEffect(t *testing.T) {
	est, err := NewRegistry().NewEstimator("dlce", map[string]string{"user_col": "1", "item_col": "2", "epochs": "40", "learn_rate": "0.05"})
	if err != nil {
		t.Fatal(err)
	}
	d := dlceData(1)
	m, err := est.FitUplift(d, rand.NewPCG(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	// For user 0, the item with the largest effect must outscore the one
	// with none.
	q := mat.NewDense(2, 3, []float64{0, 1000, 57, 0, 1000, 50})
	eff := m.Effects(nil, q)
	if !(eff.At(0, 0) > eff.At(1, 0)) {
		t.Fatalf("score of the best item %v, of the worst %v", eff.At(0, 0), eff.At(1, 0))
	}
	// A saved model scores the same, unseen ids included.
	k, ok := m.(Kinded)
	if !ok {
		t.Fatalf("%T is not Kinded", m)
	}
	v := reload(t, k)
	q2 := mat.NewDense(3, 3, []float64{0.3, 1000, 57, 0.3, 1000, 50, 0.3, 99, 99})
	a, c := m.Effects(nil, q2), v.(UpliftModel).Effects(nil, q2)
	for r := range 3 {
		if a.At(r, 0) != c.At(r, 0) {
			t.Fatalf("row %d: %v before saving, %v after", r, a.At(r, 0), c.At(r, 0))
		}
	}
}

func TestDLCEErrors(t *testing.T) {
	d := dlceData(2)
	for _, tc := range []struct {
		name   string
		params map[string]string
		data   UpliftData
		want   error
	}{
		{"cap out of range", map[string]string{"cap": "0.7"}, d, ErrParam},
		{"same id column", map[string]string{"user_col": "1", "item_col": "1"}, d, ErrParam},
		{"id column out of range", map[string]string{"user_col": "5"}, d, ErrInput},
		{"no outcomes", nil, UpliftData{X: d.X, Treatment: d.Treatment, Arms: 1, Y: make([]float64, len(d.Y))}, ErrInput},
		{"two arms", nil, UpliftData{X: d.X, Treatment: d.Treatment, Arms: 2, Y: d.Y}, ErrInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			est, err := NewRegistry().NewEstimator("dlce", tc.params)
			if err == nil {
				_, err = est.FitUplift(tc.data, rand.NewPCG(1, 1))
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
