package receval_test

import (
	"fmt"

	"github.com/causalrec/causalrec/causal/receval"
)

// The effects of one user's items in the order a recommender ranks them.
func ExampleCP() {
	tau := []float64{0.3, 0.1, -0.2, 0.05}
	fmt.Printf("CP@2 = %.3f\n", receval.CP(tau, 2))
	fmt.Printf("CDCG = %.3f\n", receval.CDCG(tau))
	fmt.Printf("CAR  = %.3f\n", receval.CAR(tau))
	// Output:
	// CP@2 = 0.200
	// CDCG = 0.285
	// CAR  = 0.100
}
