package causal_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/causalrec/causalrec/causal"
	"gonum.org/v1/gonum/mat"
)

// A TARNet learns the effect τ(x) = 1 + 2·1{x1 > 0} from a randomised
// trial: one shared representation, one outcome head per arm.
func ExampleTARNet() {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 2000
	x := mat.NewDense(n, 3, nil)
	d := causal.UpliftData{X: x, Arms: 1, Treatment: make([]int, n), Y: make([]float64, n)}
	for i := 0; i < n; i++ {
		for j := 0; j < 3; j++ {
			x.Set(i, j, rng.NormFloat64())
		}
		tau := 1.0
		if x.At(i, 0) > 0 {
			tau = 3
		}
		d.Treatment[i] = rng.IntN(2)
		d.Y[i] = x.At(i, 1) + float64(d.Treatment[i])*tau + 0.5*rng.NormFloat64()
	}
	m, err := causal.TARNet{}.Fit(d, rand.NewPCG(3, 4))
	if err != nil {
		fmt.Println(err)
		return
	}
	probe := mat.NewDense(2, 3, []float64{
		-1.5, 0, 0,
		1.5, 0, 0,
	})
	eff := m.Effects(nil, probe)
	fmt.Printf("τ(x1 = −1.5) ≈ %.0f, τ(x1 = 1.5) ≈ %.0f\n", eff.At(0, 0), eff.At(1, 0))
	// Output:
	// τ(x1 = −1.5) ≈ 1, τ(x1 = 1.5) ≈ 3
}
