package causal_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/causalrec/causalrec/causal"
)

func ExampleUpliftScores() {
	// Six units ranked by a model's predicted uplift.
	score := []float64{0.9, 0.8, 0.7, 0.6, 0.5, 0.4}
	treatment := []int{1, 0, 1, 0, 1, 0}
	y := []float64{1, 0, 1, 1, 0, 0}
	m, err := causal.UpliftScores(score, treatment, y, nil, 0.5)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("qini (sklift)     %.4f\n", m.Qini)
	fmt.Printf("qini (causalml)   %.4f\n", m.QiniCausalML)
	fmt.Printf("auuc (sklift)     %.4f\n", m.AUUC)
	fmt.Printf("uplift@50%%        %.4f\n", m.UpliftAtK)
	// Output:
	// qini (sklift)     0.4615
	// qini (causalml)   0.3571
	// auuc (sklift)     0.4600
	// uplift@50%        1.0000
}

func ExampleQiniCurve() {
	score := []float64{0.9, 0.8, 0.7, 0.6, 0.5, 0.4}
	treatment := []int{1, 0, 1, 0, 1, 0}
	y := []float64{1, 0, 1, 1, 0, 0}
	c, err := causal.QiniCurve(score, treatment, y, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range c.X {
		fmt.Printf("N=%g Q=%g\n", c.X[i], c.Y[i])
	}
	// Output:
	// N=0 Q=0
	// N=1 Q=1
	// N=2 Q=1
	// N=3 Q=2
	// N=4 Q=1
	// N=5 Q=0.5
	// N=6 Q=1
}

func ExampleNewUpliftReport() {
	// A randomised trial where the effect grows with x, scored by x.
	rng := rand.New(rand.NewPCG(1, 2))
	n := 2000
	score, treatment, y := make([]float64, n), make([]int, n), make([]float64, n)
	for i := range n {
		x := rng.Float64()
		score[i] = x
		treatment[i] = rng.IntN(2)
		if rng.Float64() < 0.2+0.4*x*float64(treatment[i]) {
			y[i] = 1
		}
	}
	r, err := causal.NewUpliftReport(score, treatment, y, nil, causal.Bootstrap{Resamples: 200}, rand.NewPCG(3, 4))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("qini %.3f, 95%% CI excludes 0: %v\n", r.Qini, r.QiniCI.Lo > 0)
	fmt.Printf("ate %.2f ± %.2f\n", r.ATE, r.ATESE)
	// Output:
	// qini 0.146, 95% CI excludes 0: true
	// ate 0.22 ± 0.02
}
