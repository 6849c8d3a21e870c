package causal

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchGrower returns a tree grower over n rows of 12 standard-normal
// features with gradients and hessians set, and the rows of a random node
// holding about frac of them (in increasing order).
func benchGrower(n int, frac float64, parallel bool) (*treeGrower, []int32) {
	x := benchMatrix(n, 12, 5)
	bins, err := NewBins(x, 255, nil)
	if err != nil {
		panic(err)
	}
	g := make([]float32, n)
	h := make([]float32, n)
	rng := rand.New(rand.NewPCG(5, 6))
	var node []int32
	for i := range n {
		g[i] = float32(rng.NormFloat64())
		h[i] = 0.25
		if rng.Float64() < frac {
			node = append(node, int32(i))
		}
	}
	tg := newTreeGrower(bins, treeConfig{minLeaf: 20, minHess: 1e-3, parallel: parallel}, nil)
	tg.setRows(node, g, h)
	return tg, node
}

// BenchmarkGBTHistogramNode builds the 12-feature histogram of a node that
// holds a share of 400,000 rows scattered over the data, as deep nodes do.
func BenchmarkGBTHistogramNode(b *testing.B) {
	feats := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	for _, frac := range []float64{1, 0.25, 0.03} {
		for _, par := range []bool{false, true} {
			tg, node := benchGrower(400_000, frac, par)
			hist := tg.getHist()
			b.Run(fmt.Sprintf("share=%v/parallel=%v", frac, par), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					tg.buildHist(hist, feats, 0, len(node))
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(node)*len(feats)), "ns/row-feature")
			})
		}
	}
}

// BenchmarkGBTPartition splits the rows of a node on the median bin of a
// feature.
func BenchmarkGBTPartition(b *testing.B) {
	for _, frac := range []float64{1, 0.25} {
		tg, node := benchGrower(400_000, frac, false)
		b.Run(fmt.Sprintf("rows=%d", len(node)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				copy(tg.rows, node)
				b.StartTimer()
				tg.partition(0, len(node), 3, 127)
			}
		})
	}
}

// BenchmarkGBTPredictRows times GBTModel.Predict of a 100-tree model on
// small batches: one row is the serving path and should not allocate.
func BenchmarkGBTPredictRows(b *testing.B) {
	x, y := treeReferenceData(50_000, 1, 2)
	m, err := GBT{EarlyStopping: EarlyStoppingOff}.FitGBT(x, y, nil, Classification, rand.NewPCG(1, 1))
	if err != nil {
		b.Fatal(err)
	}
	xt := benchMatrix(10_000, 12, 4)
	for _, rows := range []int{1, 64, 10_000} {
		sub := xt.Slice(0, rows, 0, 12)
		xs := benchMatrix(rows, 12, 7)
		xs.Copy(sub)
		dst := make([]float64, rows)
		b.Run(fmt.Sprintf("rows=%d/trees=%d", rows, len(m.Trees)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Predict(dst, xs)
			}
		})
	}
}
