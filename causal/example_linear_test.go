package causal_test

import (
	"fmt"

	"github.com/causalrec/causalrec/causal"
	"gonum.org/v1/gonum/mat"
)

func ExampleLinear() {
	// y = 1 + 2·x0 − x1 exactly; a tiny penalty recovers the coefficients.
	x := mat.NewDense(5, 2, []float64{
		0, 1,
		1, 0,
		2, 3,
		3, 1,
		4, 2,
	})
	y := []float64{0, 3, 2, 6, 7}
	m, err := causal.Linear{L2: 1e-9}.Fit(x, y, nil, causal.Regression, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	lm := m.(*causal.LinearModel)
	fmt.Printf("intercept %.3f, coefficients %.3f\n", lm.Intercept, lm.Coef)
	fmt.Printf("prediction at (5, 5): %.3f\n", m.Predict(nil, mat.NewDense(1, 2, []float64{5, 5}))[0])
	// Output:
	// intercept 1.000, coefficients [2.000 -1.000]
	// prediction at (5, 5): 6.000
}

func ExampleEncoder() {
	// Column 0 holds category codes 0, 1, 2; code 0 is the reference level.
	x := mat.NewDense(3, 2, []float64{
		0, 1.5,
		2, 2.5,
		1, 3.5,
	})
	e, err := causal.FitEncoder(x, []bool{true, false})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%v\n", mat.Formatted(e.Transform(nil, x)))
	// Output:
	// ⎡  0    0  1.5⎤
	// ⎢  0    1  2.5⎥
	// ⎣  1    0  3.5⎦
}
