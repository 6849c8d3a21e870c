package causal

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// treeStepData returns x uniform on [0,1]^p and y = step(x0 > 0.5) plus
// Gaussian noise of the given scale.
func treeStepData(n, p int, noise float64, seed uint64) (*mat.Dense, []float64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	x := mat.NewDense(n, p, nil)
	y := make([]float64, n)
	for i := range n {
		for j := range p {
			x.Set(i, j, rng.Float64())
		}
		if x.At(i, 0) > 0.5 {
			y[i] = 1
		}
		y[i] += noise * rng.NormFloat64()
	}
	return x, y
}

// treeLogisticData returns x ~ N(0, I_p), p(x) = σ(−0.5 + x0 + 0.5·x1) and
// y ~ Bernoulli(p(x)).
func treeLogisticData(n, p int, seed uint64) (x *mat.Dense, y, prob []float64) {
	rng := rand.New(rand.NewPCG(seed, 11))
	x = mat.NewDense(n, p, nil)
	y = make([]float64, n)
	prob = make([]float64, n)
	for i := range n {
		for j := range p {
			x.Set(i, j, rng.NormFloat64())
		}
		prob[i] = sigmoid(-0.5 + x.At(i, 0) + 0.5*x.At(i, 1))
		if rng.Float64() < prob[i] {
			y[i] = 1
		}
	}
	return x, y, prob
}

func TestGBTLearnsStep(t *testing.T) {
	x, y := treeStepData(2000, 3, 0.1, 1)
	m, err := GBT{}.Fit(x, y, nil, Regression, rand.NewPCG(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	test := mat.NewDense(4, 3, []float64{
		0.1, 0.5, 0.5,
		0.4, 0.2, 0.9,
		0.6, 0.8, 0.1,
		0.9, 0.5, 0.5,
	})
	want := []float64{0, 0, 1, 1}
	got := m.Predict(nil, test)
	for i := range want {
		if math.Abs(got[i]-want[i]) > 0.08 {
			t.Errorf("row %d: prediction %.4f, want %v ± 0.08", i, got[i], want[i])
		}
	}
}

func TestGBTLogLossDecreases(t *testing.T) {
	x, y, _ := treeLogisticData(3000, 4, 3)
	prev := math.Inf(1)
	for _, iters := range []int{1, 2, 5, 20, 60} {
		m, err := GBT{MaxIter: iters, EarlyStopping: EarlyStoppingOff}.FitGBT(x, y, nil, Classification, rand.NewPCG(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Trees) != iters {
			t.Fatalf("%d iterations: %d trees", iters, len(m.Trees))
		}
		raw := m.PredictRaw(nil, x)
		var loss float64
		for i := range raw {
			loss += softplus(raw[i]) - y[i]*raw[i]
		}
		loss /= float64(len(raw))
		if !(loss < prev) {
			t.Errorf("%d iterations: training log loss %.5f, not below %.5f", iters, loss, prev)
		}
		prev = loss
	}
	if prev > 0.55 {
		t.Errorf("final training log loss %.4f, want below 0.55", prev)
	}
}

func TestGBTCalibrated(t *testing.T) {
	x, y, _ := treeLogisticData(20000, 3, 5)
	m, err := GBT{}.FitGBT(x, y, nil, Classification, rand.NewPCG(2, 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Trees) == 0 || len(m.Trees) > 100 {
		t.Fatalf("%d trees", len(m.Trees))
	}
	xt, yt, pt := treeLogisticData(20000, 3, 6)
	pred := m.Predict(nil, xt)
	treeCheckCalibration(t, pred, yt, pt, 0.04, 0.01)
}

// treeCheckCalibration checks that predicted probabilities are close to the
// true ones on average (mean absolute error ≤ maeTol) and calibrated in
// deciles of the prediction (|mean y − mean prediction| ≤ binTol).
func treeCheckCalibration(t *testing.T, pred, y, prob []float64, maeTol, binTol float64) {
	t.Helper()
	var mae float64
	for i := range pred {
		if pred[i] < 0 || pred[i] > 1 {
			t.Fatalf("prediction %d = %v is not a probability", i, pred[i])
		}
		mae += math.Abs(pred[i] - prob[i])
	}
	mae /= float64(len(pred))
	t.Logf("mean |p̂ − p| = %.4f", mae)
	if mae > maeTol {
		t.Errorf("mean |p̂ − p| = %.4f, want ≤ %v", mae, maeTol)
	}
	var sy, sp, cnt [10]float64
	for i, p := range pred {
		b := min(int(p*10), 9)
		sy[b] += y[i]
		sp[b] += p
		cnt[b]++
	}
	for b := range cnt {
		if cnt[b] < 500 {
			continue
		}
		// binTol plus four binomial standard errors.
		pm := sp[b] / cnt[b]
		tol := binTol + 4*math.Sqrt(pm*(1-pm)/cnt[b])
		if d := math.Abs(sy[b]-sp[b]) / cnt[b]; d > tol {
			t.Errorf("decile %d (%v rows): mean y %.3f, mean p̂ %.3f", b, cnt[b], sy[b]/cnt[b], sp[b]/cnt[b])
		}
	}
}

func TestGBTEarlyStopping(t *testing.T) {
	// y is independent of x: the validation loss stops improving at once.
	rng := rand.New(rand.NewPCG(9, 9))
	n := 20000
	x := mat.NewDense(n, 3, nil)
	y := make([]float64, n)
	for i := range n {
		for j := range 3 {
			x.Set(i, j, rng.NormFloat64())
		}
		y[i] = rng.NormFloat64()
	}
	m, err := GBT{}.FitGBT(x, y, nil, Regression, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Trees) >= 20 {
		t.Errorf("pure noise: %d trees kept, want early stopping well before 100", len(m.Trees))
	}
	m, err = GBT{MaxIter: 30, EarlyStopping: EarlyStoppingOff}.FitGBT(x, y, nil, Regression, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Trees) != 30 {
		t.Errorf("early stopping off: %d trees, want 30", len(m.Trees))
	}
}

func TestGBTLimits(t *testing.T) {
	x, y := treeStepData(3000, 4, 0.5, 4)
	for _, tc := range []GBT{
		{MaxLeaves: 4, MaxIter: 5},
		{MaxDepth: 2, MaxLeaves: 100, MaxIter: 5},
		{MinSamplesLeaf: 400, MaxIter: 5},
	} {
		m, err := tc.FitGBT(x, y, nil, Regression, rand.NewPCG(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		for k, tree := range m.Trees {
			leaves, depth := treeShape(tree, 0, 0)
			if tc.MaxLeaves > 0 && leaves > tc.MaxLeaves {
				t.Errorf("%+v tree %d: %d leaves", tc, k, leaves)
			}
			if tc.MaxDepth > 0 && depth > tc.MaxDepth {
				t.Errorf("%+v tree %d: depth %d", tc, k, depth)
			}
		}
		if tc.MinSamplesLeaf > 0 {
			// Count training rows per leaf of the first tree.
			counts := map[float64]int{}
			for i := range 3000 {
				counts[treeLeaf(m.Trees[0], x.RawRowView(i))]++
			}
			for v, c := range counts {
				if c < tc.MinSamplesLeaf {
					t.Errorf("leaf %v holds %d rows, want ≥ %d", v, c, tc.MinSamplesLeaf)
				}
			}
		}
	}
}

// treeShape returns the number of leaves and the depth below node k.
func treeShape(t []TreeNode, k, depth int) (leaves, maxDepth int) {
	if t[k].Feature < 0 {
		return 1, depth
	}
	l1, d1 := treeShape(t, int(t[k].Left), depth+1)
	l2, d2 := treeShape(t, int(t[k].Left)+1, depth+1)
	return l1 + l2, max(d1, d2)
}

func TestGBTSubsampleAndFeatures(t *testing.T) {
	x, y, prob := treeLogisticData(10000, 6, 8)
	g := GBT{Subsample: 0.5, FeatureFraction: 0.5, EarlyStopping: EarlyStoppingOff}
	m1, err := g.FitGBT(x, y, nil, Classification, rand.NewPCG(3, 4))
	if err != nil {
		t.Fatal(err)
	}
	m2, err := g.FitGBT(x, y, nil, Classification, rand.NewPCG(3, 4))
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := Marshal(m1)
	b2, _ := Marshal(m2)
	if !bytes.Equal(b1, b2) {
		t.Error("same seed gave different models")
	}
	m3, err := g.FitGBT(x, y, nil, Classification, rand.NewPCG(5, 6))
	if err != nil {
		t.Fatal(err)
	}
	b3, _ := Marshal(m3)
	if bytes.Equal(b1, b3) {
		t.Error("different seeds gave the same subsampled model")
	}
	// Each tree uses at most 3 of the 6 features.
	for k, tree := range m1.Trees {
		used := map[int32]bool{}
		for _, nd := range tree {
			if nd.Feature >= 0 {
				used[nd.Feature] = true
			}
		}
		if len(used) > 3 {
			t.Errorf("tree %d uses %d features, want ≤ 3", k, len(used))
		}
	}
	var mae float64
	for i, p := range m1.Predict(nil, x) {
		mae += math.Abs(p - prob[i])
	}
	if mae /= float64(len(prob)); mae > 0.09 {
		t.Errorf("mean |p̂ − p| = %.4f, want ≤ 0.09", mae)
	}
}

func TestGBTWeightsMatchReplication(t *testing.T) {
	// Weight 2 on a row is the same as the row twice, for the loss and the
	// bin edges; early stopping is off so no rows are held out.
	x, y := treeStepData(300, 2, 0.3, 12)
	w := make([]float64, 300)
	var rows []int
	for i := range w {
		w[i] = float64(1 + i%2)
		for range int(w[i]) {
			rows = append(rows, i)
		}
	}
	xr := mat.NewDense(len(rows), 2, nil)
	yr := make([]float64, len(rows))
	for k, i := range rows {
		xr.SetRow(k, x.RawRowView(i))
		yr[k] = y[i]
	}
	g := GBT{MaxIter: 10, MinSamplesLeaf: 1, EarlyStopping: EarlyStoppingOff, L2: 1}
	mw, err := g.FitGBT(x, y, w, Regression, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	mr, err := g.FitGBT(xr, yr, nil, Regression, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	pw := mw.Predict(nil, x)
	pr := mr.Predict(nil, x)
	for i := range pw {
		if math.Abs(pw[i]-pr[i]) > 1e-9 {
			t.Fatalf("row %d: weighted %v, replicated %v", i, pw[i], pr[i])
		}
	}
}

func TestGBTSaveLoad(t *testing.T) {
	x, y, _ := treeLogisticData(2000, 3, 13)
	for _, task := range []Task{Regression, Classification} {
		m, err := GBT{MaxIter: 20}.FitGBT(x, y, nil, task, rand.NewPCG(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		treeRoundTrip(t, m, x)
	}
}

// treeRoundTrip saves and reloads m and checks the predictions are
// identical.
func treeRoundTrip(t *testing.T, m interface {
	Model
	Kinded
}, x *mat.Dense) {
	t.Helper()
	v := reload(t, m)
	got, ok := v.(Model)
	if !ok {
		t.Fatalf("reloaded %T is not a Model", v)
	}
	if vv, ok := v.(interface{ Validate() error }); ok {
		if err := vv.Validate(); err != nil {
			t.Fatalf("reloaded model: %v", err)
		}
	}
	want := m.Predict(nil, x)
	pred := got.Predict(nil, x)
	for i := range want {
		if pred[i] != want[i] {
			t.Fatalf("%s row %d: reloaded prediction %v, want %v", m.Kind(), i, pred[i], want[i])
		}
	}
}

func TestTreeValidateMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		tree []TreeNode
	}{
		{"empty", nil},
		{"self loop", []TreeNode{{Feature: 0, Left: 0}, {Feature: -1}, {Feature: -1}}},
		{"child out of range", []TreeNode{{Feature: 0, Left: 1}, {Feature: -1}}},
		{"feature out of range", []TreeNode{{Feature: 5, Left: 1}, {Feature: -1}, {Feature: -1}}},
	} {
		m := &GBTModel{Features: 2, Trees: [][]TreeNode{tc.tree}}
		if err := m.Validate(); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: gbt Validate = %v, want ErrFormat", tc.name, err)
		}
		f := &ForestModel{Features: 2, Trees: [][]TreeNode{tc.tree}}
		if err := f.Validate(); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: forest Validate = %v, want ErrFormat", tc.name, err)
		}
	}
}

func TestTreeLearnersBadInput(t *testing.T) {
	x := mat.NewDense(3, 1, []float64{1, 2, 3})
	xnan := mat.NewDense(3, 1, []float64{1, math.NaN(), 3})
	y := []float64{0, 1, 0}
	for _, tc := range []struct {
		name string
		l    Learner
		x    *mat.Dense
		y, w []float64
		task Task
	}{
		{"nan feature", GBT{}, xnan, y, nil, Regression},
		{"short y", GBT{}, x, y[:2], nil, Regression},
		{"nan y", GBT{}, x, []float64{0, math.NaN(), 1}, nil, Regression},
		{"label 2", GBT{}, x, []float64{0, 2, 1}, nil, Classification},
		{"negative weight", GBT{}, x, y, []float64{1, -1, 1}, Regression},
		{"zero weights", GBT{}, x, y, []float64{0, 0, 0}, Regression},
		{"short weights", GBT{}, x, y, []float64{1}, Regression},
		{"bad task", GBT{}, x, y, nil, Task(7)},
		{"learning rate", GBT{LearningRate: -1}, x, y, nil, Regression},
		{"subsample", GBT{Subsample: 1.5}, x, y, nil, Regression},
		{"max leaves", GBT{MaxLeaves: 1}, x, y, nil, Regression},
		{"max bins", GBT{MaxBins: 256}, x, y, nil, Regression},
		{"categorical length", GBT{Categorical: []bool{true, false}}, x, y, nil, Regression},
		{"forest nan feature", Forest{}, xnan, y, nil, Regression},
		{"forest label 2", Forest{}, x, []float64{0, 2, 1}, nil, Classification},
		{"forest max features", Forest{MaxFeatures: 2}, x, y, nil, Regression},
		{"forest trees", Forest{Trees: -1}, x, y, nil, Regression},
	} {
		_, err := tc.l.Fit(tc.x, tc.y, tc.w, tc.task, rand.NewPCG(1, 1))
		if !errors.Is(err, ErrInput) {
			t.Errorf("%s: err = %v, want ErrInput", tc.name, err)
		}
	}
}

func TestGBTCategorical(t *testing.T) {
	// y depends only on whether the category code is 1 or 3.
	rng := rand.New(rand.NewPCG(21, 1))
	n := 2000
	x := mat.NewDense(n, 2, nil)
	y := make([]float64, n)
	for i := range n {
		c := rng.IntN(5)
		x.Set(i, 0, float64(c))
		x.Set(i, 1, rng.Float64())
		if c == 1 || c == 3 {
			y[i] = 1
		}
	}
	l := GBT{MinSamplesLeaf: 5}.WithCategorical([]bool{true, false})
	m, err := l.Fit(x, y, nil, Regression, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	for c := range 5 {
		want := 0.0
		if c == 1 || c == 3 {
			want = 1
		}
		got := m.Predict(nil, mat.NewDense(1, 2, []float64{float64(c), 0.5}))[0]
		if math.Abs(got-want) > 0.05 {
			t.Errorf("code %d: prediction %.3f, want %v", c, got, want)
		}
	}
}

func BenchmarkGBTHistogram(b *testing.B) {
	for _, n := range []int{100_000, 400_000} {
		x := benchMatrix(n, 12, 2)
		bins, err := NewBins(x, 255, nil)
		if err != nil {
			b.Fatal(err)
		}
		g := make([]float32, n)
		h := make([]float32, n)
		rows := make([]int32, n)
		for i := range rows {
			rows[i] = int32(i)
			g[i] = float32(i%7) - 3
			h[i] = 0.25
		}
		feats := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
		for _, par := range []bool{false, true} {
			tg := newTreeGrower(bins, treeConfig{parallel: par}, nil)
			tg.setRows(rows, g, h)
			hist := tg.getHist()
			b.Run(fmt.Sprintf("size=%dx12/parallel=%v", n, par), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					tg.buildHist(hist, feats, 0, n)
				}
			})
		}
	}
}

func BenchmarkGBTSplit(b *testing.B) {
	n := 100_000
	x := benchMatrix(n, 12, 3)
	bins, err := NewBins(x, 255, nil)
	if err != nil {
		b.Fatal(err)
	}
	g := make([]float32, n)
	h := make([]float32, n)
	rows := make([]int32, n)
	var sg, sh float64
	for i := range rows {
		rows[i] = int32(i)
		g[i] = float32(x.At(i, 3) + float64(i%5) - 2)
		h[i] = 1
		sg += float64(g[i])
		sh += float64(h[i])
	}
	feats := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	tg := newTreeGrower(bins, treeConfig{minLeaf: 20, minHess: 1e-3}, nil)
	tg.setRows(rows, g, h)
	hist := tg.getHist()
	tg.buildHist(hist, feats, 0, n)
	b.ReportAllocs()
	for b.Loop() {
		s := tg.bestSplit(hist, feats, sg, sh, n)
		if s.feature != 3 {
			b.Fatalf("split on feature %d, want 3", s.feature)
		}
	}
}

// treeReferenceData draws the reference design of the estimator issue
// (12 standard-normal features, t ~ Bernoulli(0.5),
// y ~ Bernoulli(σ(−2 + x0 + 0.5·x1 + t·(0.3·x2 − 0.2·x3 + 0.5)))) and
// returns the rows of one arm.
func treeReferenceData(n int, arm int, seed uint64) (*mat.Dense, []float64) {
	rng := rand.New(rand.NewPCG(seed, 17))
	data := make([]float64, 0, n*12)
	var y []float64
	row := make([]float64, 12)
	for range n {
		for j := range row {
			row[j] = rng.NormFloat64()
		}
		t := rng.IntN(2)
		f := -2 + row[0] + 0.5*row[1] + float64(t)*(0.3*row[2]-0.2*row[3]+0.5)
		yi := 0.0
		if rng.Float64() < sigmoid(f) {
			yi = 1
		}
		if t == arm {
			data = append(data, row...)
			y = append(y, yi)
		}
	}
	return mat.NewDense(len(y), 12, data), y
}

func BenchmarkGBTFit(b *testing.B) {
	// One arm of the reference design fitted on 80% of 1,000,000 rows:
	// about 400,000 rows × 12 features.
	x, y := treeReferenceData(800_000, 1, 1)
	b.Run(fmt.Sprintf("size=%dx12/task=classification", len(y)), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m, err := GBT{}.FitGBT(x, y, nil, Classification, rand.NewPCG(1, 1))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(m.Trees)), "trees")
		}
	})
}

func BenchmarkGBTPredict(b *testing.B) {
	x, y := treeReferenceData(200_000, 1, 2)
	m, err := GBT{EarlyStopping: EarlyStoppingOff}.FitGBT(x, y, nil, Classification, rand.NewPCG(1, 1))
	if err != nil {
		b.Fatal(err)
	}
	xt := benchMatrix(1_000_000, 12, 4)
	dst := make([]float64, 1_000_000)
	b.Run("size=1000000x12/trees=100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Predict(dst, xt)
		}
	})
}

func TestCompiledTreesMatchWalk(t *testing.T) {
	// The branch-free compiled walk agrees with the plain walk, NaN
	// included, for shallow boosted trees and deep forest trees.
	x, y, _ := treeLogisticData(3000, 4, 41)
	g, err := GBT{MaxIter: 20, MinSamplesLeaf: 5}.FitGBT(x, y, nil, Classification, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	f, err := Forest{Trees: 5}.FitForest(x, y, nil, Classification, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	xt, _, _ := treeLogisticData(1001, 4, 42)
	xt.Set(3, 0, math.NaN())
	xt.Set(10, 2, math.NaN())
	xt.Set(11, 1, math.Inf(-1))
	for _, trees := range [][][]TreeNode{g.Trees, f.Trees} {
		got := make([]float64, 1001)
		compileTrees(trees, 4).sum(got, xt, 0.5)
		for i := range got {
			want := 0.5
			for _, tr := range trees {
				want += treeLeaf(tr, xt.RawRowView(i))
			}
			if math.Abs(got[i]-want) > 1e-12 {
				t.Fatalf("row %d: compiled %v, walk %v", i, got[i], want)
			}
		}
	}
}

func TestGBTPredictRowByRowMatchesBatch(t *testing.T) {
	// Rows predicted one at a time (the serving path) get bit-for-bit the
	// batch predictions, and replacing Trees after a prediction is seen.
	x, y, _ := treeLogisticData(3000, 4, 51)
	m, err := GBT{MaxIter: 30, MinSamplesLeaf: 5}.FitGBT(x, y, nil, Classification, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	xt, _, _ := treeLogisticData(203, 4, 52)
	xt.Set(7, 1, math.NaN())
	tests := []struct {
		name  string
		trees int
	}{
		{"all trees", len(m.Trees)},
		{"first 7 trees", 7},
		{"first 2 trees", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m.Trees = m.Trees[:tc.trees]
			batch := m.Predict(nil, xt)
			fresh := (&GBTModel{Task: m.Task, Base: m.Base, Features: m.Features, Trees: m.Trees}).Predict(nil, xt)
			for i := range batch {
				one := m.Predict(nil, mat.NewDense(1, 4, xt.RawRowView(i)))[0]
				if one != batch[i] || fresh[i] != batch[i] {
					t.Fatalf("row %d: one row %v, batch %v, fresh model %v", i, one, batch[i], fresh[i])
				}
			}
		})
	}
}

func TestGBTLargeDeterministicAcrossThreads(t *testing.T) {
	// Enough rows that the leaf updates and the validation loss run in
	// blocks on several goroutines: the model must not depend on
	// GOMAXPROCS.
	x, y, _ := treeLogisticData(90_000, 4, 37)
	fit := func(procs int) ([]byte, int) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m, err := GBT{MaxIter: 15, EarlyStopping: EarlyStoppingOn, ValidationFraction: 0.5, Patience: 2, Tol: 1e-4}.
			FitGBT(x, y, nil, Classification, rand.NewPCG(6, 1))
		if err != nil {
			t.Fatal(err)
		}
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b, len(m.Trees)
	}
	b1, n1 := fit(1)
	b3, n3 := fit(3)
	if !bytes.Equal(b1, b3) {
		t.Errorf("GOMAXPROCS 1 and 3 gave different boosted models (%d and %d trees)", n1, n3)
	}
	if n1 == 0 {
		t.Error("no trees kept")
	}
}

func TestBuildHistMatchesNaive(t *testing.T) {
	// Every grouping of features (consecutive or not, serial or on all
	// cores) gives the histograms of a plain per-row loop exactly.
	tests := []struct {
		name  string
		feats []int
	}{
		{"all twelve", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"six from 3", []int{3, 4, 5, 6, 7, 8}},
		{"five", []int{0, 1, 2, 3, 4}},
		{"four", []int{7, 8, 9, 10}},
		{"three", []int{1, 2, 3}},
		{"two", []int{10, 11}},
		{"one", []int{5}},
		{"scattered", []int{0, 2, 5, 7, 11}},
		{"scattered six", []int{0, 1, 2, 4, 5, 6}},
	}
	for _, par := range []bool{false, true} {
		tg, node := benchGrower(60_000, 0.7, par)
		n := tg.bins.Rows
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/parallel=%v", tc.name, par), func(t *testing.T) {
				hist := tg.getHist()
				tg.buildHist(hist, tc.feats, 100, len(node)-50)
				for _, f := range tc.feats {
					var want [256]histBin
					for _, r := range tg.rows[100 : len(node)-50] {
						b := &want[tg.bins.Codes[f*n+int(r)]]
						b.G += float64(tg.g[r])
						b.H += float64(tg.h[r])
						b.N++
					}
					if got := hist[f*256 : f*256+256]; [256]histBin(got) != want {
						t.Fatalf("feature %d: histogram differs from the per-row loop", f)
					}
				}
			})
		}
	}
}
