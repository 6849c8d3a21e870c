package causal_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
)

// Observational data where the treatment is nearly certain for large x_0
// and nearly impossible for small x_0: about a third of the rows have a
// propensity beyond [0.05, 0.95], and Overlap says so.
func ExampleOverlap() {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 3000
	x := mat.NewDense(n, 2, nil)
	t := make([]int, n)
	y := make([]float64, n)
	for i := range n {
		x.SetRow(i, []float64{rng.NormFloat64(), rng.NormFloat64()})
		if rng.Float64() < 1/(1+math.Exp(-3*x.At(i, 0))) {
			t[i] = 1
		}
		y[i] = x.At(i, 1) + float64(t[i]) + rng.NormFloat64()
	}
	rep, err := causal.Overlap(causal.UpliftData{X: x, Treatment: t, Arms: 1, Y: y}, causal.OverlapOptions{}, rand.NewPCG(3, 4))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d rows, %.0f%% at the bounds\n", rep.Rows, 100*rep.Clipped[0])
	fmt.Println(rep.Warning() != "")
	// Output:
	// 3000 rows, 38% at the bounds
	// true
}
