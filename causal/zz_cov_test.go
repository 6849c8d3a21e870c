package causal

import (
	"math/rand/v2"
	"os"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestZZCov(t *testing.T) {
	if os.Getenv("ZZCOV") == "" {
		t.Skip()
	}
	sim := func(n int, seed uint64) (UpliftData, *mat.Dense, []float64) {
		rng := rand.New(rand.NewPCG(seed, 42))
		x := mat.NewDense(n, 8, nil)
		tr := make([]int, n)
		y := make([]float64, n)
		tau := make([]float64, n)
		for i := range n {
			row := x.RawRowView(i)
			for j := range row {
				row[j] = 2*rng.Float64() - 1
			}
			tr[i] = rng.IntN(2)
			tau[i] = 0.2 + 0.3*row[0]
			y[i] = row[0] + row[1]/2 + float64(tr[i])*tau[i] + rng.NormFloat64()
		}
		return UpliftData{X: x, Treatment: tr, Arms: 1, Y: y}, x, tau
	}
	for draw := uint64(1); draw <= 3; draw++ {
		d, _, _ := sim(21347, 2*draw)
		_, xt, tau := sim(2000, 2*draw+1)
		for _, trees := range []int{936, 2000} {
			m, err := CausalForest{Trees: trees}.Fit(d, rand.NewPCG(draw, 9))
			if err != nil {
				t.Fatal(err)
			}
			lo, hi := m.Intervals(nil, nil, xt, 0.9)
			eff := m.Effects(nil, xt)
			cover, width, mse := 0, 0.0, 0.0
			for i := range 2000 {
				if lo.At(i, 0) <= tau[i] && tau[i] <= hi.At(i, 0) {
					cover++
				}
				width += hi.At(i, 0) - lo.At(i, 0)
				e := eff.At(i, 0) - tau[i]
				mse += e * e
			}
			t.Logf("draw %d trees %d: coverage %.3f width %.3f mse %.5f", draw, trees, float64(cover)/2000, width/2000, mse/2000)
		}
	}
}
