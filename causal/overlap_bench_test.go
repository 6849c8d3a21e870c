package causal

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// BenchmarkOverlap measures the overlap check that every uplift fit of
// the built-in plugin runs, against the fit it is added to in the same
// run: the T-learner with Linear, the cheapest and default estimator, on
// the reference workload. The check fits on DefaultOverlapRows rows
// whatever the data's size, so its share falls as the data grow.
func BenchmarkOverlap(b *testing.B) {
	for _, n := range []int{20000, 100000} {
		d := SimulateReference(n, rand.NewPCG(1, 2))
		b.Run("overlap/size="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Overlap(d, OverlapOptions{}, rand.NewPCG(1, 1)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("t-linear/size="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := (TLearner{}).FitUplift(d, rand.NewPCG(1, 1)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
