package causal

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkQini compares the full metric set (radix ranking, one pass)
// with metricsNaive, a line-by-line transcription of the reference
// algorithms with comparison sorts, on the same data in the same run.
func BenchmarkQini(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		score, tr, y := metricsRandomData(n, true, false, 1)
		b.Run(fmt.Sprintf("size=%d/impl=causal", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := UpliftScores(score, tr, y, nil, 0.3); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("size=%d/impl=reference", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				metricsNaive(score, tr, y, 0.3)
			}
		})
	}
}

// BenchmarkQiniPass times one evaluation of an already ranked data set
// under bootstrap multiplicities: the cost of one resample.
func BenchmarkQiniPass(b *testing.B) {
	n := 1_000_000
	score, tr, y := metricsRandomData(n, true, false, 1)
	r, _ := newMetricRanking(score, tr, y, nil)
	ev := newMetricEvaluator(true, tr, y, nil)
	m := make([]uint32, n)
	rng := rand.New(rand.NewPCG(1, 1))
	for range n {
		m[rng.IntN(n)]++
	}
	b.ReportAllocs()
	for b.Loop() {
		ev.eval(r, m, 0.3)
	}
}

// BenchmarkUpliftReport times the report with 100 bootstrap resamples on
// 1M rows (every core).
func BenchmarkUpliftReport(b *testing.B) {
	n := 1_000_000
	score, tr, y := metricsRandomData(n, true, false, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewUpliftReport(score, tr, y, nil, Bootstrap{Resamples: 100}, rand.NewPCG(1, 2)); err != nil {
			b.Fatal(err)
		}
	}
}
