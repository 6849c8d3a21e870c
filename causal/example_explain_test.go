package causal_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
)

func ExampleExplain() {
	// A randomised trial whose effect is 1 + 2·x0 and does not depend on
	// x1; the model explained is the true effect itself.
	rng := rand.New(rand.NewPCG(1, 2))
	n := 2000
	x := mat.NewDense(n, 2, nil)
	t := make([]int, n)
	y := make([]float64, n)
	for i := range n {
		x0, x1 := rng.NormFloat64(), rng.NormFloat64()
		x.SetRow(i, []float64{x0, x1})
		t[i] = rng.IntN(2)
		y[i] = x1 + float64(t[i])*(1+2*x0) + rng.NormFloat64()
	}
	effect := func(dst []float64, x *mat.Dense) ([]float64, error) {
		r, _ := x.Dims()
		if cap(dst) < r {
			dst = make([]float64, r)
		}
		dst = dst[:r]
		for i := range dst {
			dst[i] = 1 + 2*x.At(i, 0)
		}
		return dst, nil
	}
	ex, err := causal.Explain(causal.ExplainData{X: x, T: t, Y: y}, effect, causal.ExplainConfig{}, rand.NewPCG(3, 4))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("average effect %.1f\n", ex.Intercept.Coef)
	for _, c := range ex.BLP {
		fmt.Printf("BLP x%d: per standard deviation %.1f, interval holds 0: %v\n", c.Feature, c.Coef, c.CI[0] < 0 && c.CI[1] > 0)
	}
	for _, f := range ex.Importance {
		fmt.Printf("importance x%d: %.2f\n", f.Feature, f.Value)
	}
	fmt.Printf("first split: x%d, near 0: %v\n", ex.Tree.Feature, math.Abs(ex.Tree.Threshold) < 0.2)
	// Output:
	// average effect 1.0
	// BLP x0: per standard deviation 2.0, interval holds 0: false
	// BLP x1: per standard deviation 0.1, interval holds 0: true
	// importance x0: 0.98
	// importance x1: 0.00
	// first split: x0, near 0: true
}
