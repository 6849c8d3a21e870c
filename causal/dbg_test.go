package causal
import ("testing";"fmt";"math/rand/v2";"time")
func TestDbgCount(t *testing.T) {
	x, y := treeReferenceData(800_000, 1, 1)
	s := time.Now()
	bins, _ := NewBins(x, 255, nil)
	fmt.Println("bins", time.Since(s))
	n := len(y)
	g := make([]float64, n); h := make([]float64, n); rows := make([]int32, n)
	for i := range g { g[i] = 0.2 - y[i]; h[i] = 0.16; rows[i] = int32(i) }
	tg := newTreeGrower(bins, treeConfig{maxLeaves: 31, minLeaf: 20, minHess: 1e-3, leafScale: -0.1, parallel: true}, rand.New(rand.NewPCG(1,1)))
	feats := []int{0,1,2,3,4,5,6,7,8,9,10,11}
	s = time.Now()
	for range 10 {
	tg.setRows(rows, g, h)
	tg.grow(feats)
	}
	fmt.Println("10 trees", time.Since(s))
	tot := 0
	for _, l := range tg.leafs { tot += l.hi - l.lo }
	fmt.Println(len(tg.leafs), tot)
}
