package causal_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/causalrec/causalrec/causal"
)

// A fit reports its steps through the callback its source carries: here
// the four trees of an uplift forest. The forest grows its trees in
// parallel; the calls still come one at a time and in order.
func ExampleWithProgress() {
	d := causal.SimulateReference(500, rand.NewPCG(1, 2))
	src := causal.WithProgress(rand.NewPCG(3, 4), func(done, total int) {
		fmt.Printf("%d of %d trees\n", done, total)
	})
	if _, err := (causal.UpliftForest{Trees: 4}).FitUplift(d, src); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 1 of 4 trees
	// 2 of 4 trees
	// 3 of 4 trees
	// 4 of 4 trees
}
