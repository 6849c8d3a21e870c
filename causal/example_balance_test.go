package causal_test

import (
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
)

// A randomised trial with two features measured before treatment (age,
// visits) and one measured after it (spend, which the treatment raises
// through the outcome): Balance flags only spend.
func ExampleBalance() {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 20000
	x := mat.NewDense(n, 3, nil)
	t := make([]int, n)
	y := make([]float64, n)
	for i := range n {
		age, visits := 20+50*rng.Float64(), float64(rng.IntN(10))
		t[i] = rng.IntN(2)
		if rng.Float64() < 0.1+0.01*visits+0.05*float64(t[i]) {
			y[i] = 1
		}
		spend := 0.0
		if y[i] == 1 {
			spend = 10 + 90*rng.Float64()
		}
		x.SetRow(i, []float64{age, visits, spend})
	}
	rep, err := causal.Balance(causal.UpliftData{X: x, Treatment: t, Arms: 1, Y: y}, causal.BalanceOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for j, f := range rep.Arms[0].Features {
		fmt.Printf("%-6s SMD %+.2f  imbalanced %v\n", []string{"age", "visits", "spend"}[j], f.SMD, f.Imbalanced)
	}
	// Output:
	// age    SMD -0.01  imbalanced false
	// visits SMD -0.01  imbalanced false
	// spend  SMD +0.12  imbalanced true
}
