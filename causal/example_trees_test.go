package causal_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/causalrec/causalrec/causal"
	"gonum.org/v1/gonum/mat"
)

func ExampleGBT() {
	// y is 1 when x > 0.5 and 0 otherwise.
	n := 1000
	x := mat.NewDense(n, 1, nil)
	y := make([]float64, n)
	for i := range n {
		v := float64(i) / float64(n)
		x.Set(i, 0, v)
		if v > 0.5 {
			y[i] = 1
		}
	}
	m, err := causal.GBT{MaxIter: 50}.Fit(x, y, nil, causal.Classification, rand.NewPCG(1, 2))
	if err != nil {
		fmt.Println(err)
		return
	}
	p := m.Predict(nil, mat.NewDense(2, 1, []float64{0.25, 0.75}))
	fmt.Printf("P(y=1 | x=0.25) = %.3f\nP(y=1 | x=0.75) = %.3f\n", p[0], p[1])
	// Output:
	// P(y=1 | x=0.25) = 0.003
	// P(y=1 | x=0.75) = 0.997
}

func ExampleForest() {
	// y = 2x0 + noise-free step in x1.
	n := 2000
	rng := rand.New(rand.NewPCG(3, 4))
	x := mat.NewDense(n, 2, nil)
	y := make([]float64, n)
	for i := range n {
		a, b := rng.Float64(), rng.Float64()
		x.Set(i, 0, a)
		x.Set(i, 1, b)
		y[i] = 2 * a
		if b > 0.5 {
			y[i] += 1
		}
	}
	m, err := causal.Forest{Trees: 50, MaxFeatures: 2}.Fit(x, y, nil, causal.Regression, rand.NewPCG(5, 6))
	if err != nil {
		fmt.Println(err)
		return
	}
	p := m.Predict(nil, mat.NewDense(2, 2, []float64{0.5, 0.2, 0.5, 0.8}))
	fmt.Printf("f(0.5, 0.2) ≈ %.1f\nf(0.5, 0.8) ≈ %.1f\n", p[0], p[1])
	// Output:
	// f(0.5, 0.2) ≈ 1.0
	// f(0.5, 0.8) ≈ 2.0
}
