package abtest

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkAnalyze times a two-arm report with CUPED and CUPAC.
func BenchmarkAnalyze(b *testing.B) {
	for _, n := range []int{10000, 1000000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			arms := []Arm{{Name: "control", Weight: 1}, {Name: "treatment", Weight: 1}}
			for i := range n {
				a := &arms[i%2]
				x := rng.Float64() * 3
				a.Pre = append(a.Pre, x)
				a.Pred = append(a.Pred, x+rng.NormFloat64())
				a.Y = append(a.Y, x+rng.NormFloat64())
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := Analyze(arms, Config{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
