package ope

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkResampleSums times the bootstrap's resampling: 100 resamples
// of n rows of 8 values (ns/draw is per row drawn).
func BenchmarkResampleSums(b *testing.B) {
	for _, n := range []int{10000, 1000000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			vals := make([]float64, n*8)
			for i := range vals {
				vals[i] = rng.Float64()
			}
			const R = 100
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				resampleSums(vals, n, 8, R, rand.NewPCG(3, 4), 1, nil, nil)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(R*n), "ns/draw")
		})
	}
}
