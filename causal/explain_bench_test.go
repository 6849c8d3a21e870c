package causal

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkExplain explains a T-learner of boosted trees on Nie and
// Wager's setup B with 20 covariates: doubly robust scores with linear
// outcome models, the best linear projection, permutation importance and
// the tree, with the defaults of Explain (the model's fit is not timed).
func BenchmarkExplain(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("rows=%d/features=20", n), func(b *testing.B) {
			d, _ := nieWagerB(n, 20, 1, rand.New(rand.NewPCG(1, 2)))
			m, err := TLearner{Base: GBT{}}.FitUplift(d, rand.NewPCG(3, 4))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := Explain(ExplainData{X: d.X, T: d.Treatment, Y: d.Y}, effectOf(m), ExplainConfig{}, rand.NewPCG(5, 6)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
