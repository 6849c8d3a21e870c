package causal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"
	"gonum.org/v1/gonum/mat"
)

// cfSimulate draws a confounded observational design with p features
// x_j ~ U(−1, 1): e(x) = 0.3 + 0.4·1{x1 > 0}, w ~ Bernoulli(e(x)),
// y = x1 + 0.5·x2 + w·τ(x) + N(0, 1), τ(x) = 1 + x0. With arms = 2 a second
// arm with effect −1 + x0 shares the control.
func cfSimulate(n, p, arms int, src rand.Source) (UpliftData, func(x []float64, k int) float64) {
	rng := rand.New(src)
	x := mat.NewDense(n, p, nil)
	t := make([]int, n)
	y := make([]float64, n)
	tau := func(row []float64, k int) float64 {
		switch k {
		case 1:
			return 1 + row[0]
		case 2:
			return -1 + row[0]
		}
		return 0
	}
	for i := range n {
		row := x.RawRowView(i)
		for j := range row {
			row[j] = 2*rng.Float64() - 1
		}
		e := 0.3
		if row[1] > 0 {
			e = 0.7
		}
		if rng.Float64() < e {
			t[i] = 1 + rng.IntN(arms)
		}
		y[i] = row[1] + 0.5*row[2] + tau(row, t[i]) + rng.NormFloat64()
	}
	return UpliftData{X: x, Treatment: t, Arms: arms, Y: y}, tau
}

// cfGrid returns test points with x0 on a grid in [−0.8, 0.8] and the
// other features drawn at random.
func cfGrid(n, p int, src rand.Source) *mat.Dense {
	rng := rand.New(src)
	x := mat.NewDense(n, p, nil)
	for i := range n {
		row := x.RawRowView(i)
		for j := range row {
			row[j] = 2*rng.Float64() - 1
		}
		row[0] = -0.8 + 1.6*float64(i)/float64(n-1)
	}
	return x
}

func TestCausalForestRecoversCATE(t *testing.T) {
	d, tau := cfSimulate(4000, 5, 1, rand.NewPCG(1, 2))
	f := CausalForest{Trees: 500}
	m, err := f.Fit(d, rand.NewPCG(3, 4))
	if err != nil {
		t.Fatal(err)
	}
	x := cfGrid(200, 5, rand.NewPCG(5, 6))
	eff := m.Effects(nil, x)
	var sse, sxy, sxx, mx, mt float64
	for i := range 200 {
		row := x.RawRowView(i)
		e := eff.At(i, 0) - tau(row, 1)
		sse += e * e
		mx += row[0]
		mt += eff.At(i, 0)
	}
	mx /= 200
	mt /= 200
	for i := range 200 {
		dx := x.At(i, 0) - mx
		sxy += dx * (eff.At(i, 0) - mt)
		sxx += dx * dx
	}
	rmse := math.Sqrt(sse / 200)
	slope := sxy / sxx
	// τ runs from 0.2 to 1.8 over the grid; the noise sd is 1.
	if rmse > 0.25 {
		t.Errorf("RMSE of τ̂ = %.3f, want ≤ 0.25", rmse)
	}
	if slope < 0.6 || slope > 1.2 {
		t.Errorf("slope of τ̂ in x0 = %.3f, want about 1", slope)
	}
	if math.Abs(mt-1) > 0.15 {
		t.Errorf("mean of τ̂ = %.3f, want about 1", mt)
	}
}

func TestCausalForestCoverage(t *testing.T) {
	// A loose, honest bound: the 90% intervals of several test points
	// over a few independent data sets should cover the truth in
	// roughly 90% of cases. Forest bias and the noise of the variance
	// estimate allow some shortfall.
	var cover, total int
	for rep := range 4 {
		d, tau := cfSimulate(2500, 4, 1, rand.NewPCG(uint64(rep), 7))
		m, err := CausalForest{Trees: 300, NuisanceTrees: 100}.Fit(d, rand.NewPCG(uint64(rep), 8))
		if err != nil {
			t.Fatal(err)
		}
		x := cfGrid(25, 4, rand.NewPCG(uint64(rep), 9))
		lo, hi := m.Intervals(nil, nil, x, 0.9)
		for i := range 25 {
			truth := tau(x.RawRowView(i), 1)
			if lo.At(i, 0) <= truth && truth <= hi.At(i, 0) {
				cover++
			}
			total++
			if w := hi.At(i, 0) - lo.At(i, 0); !(w > 0) || w > 3 {
				t.Errorf("rep %d point %d: interval width %v", rep, i, w)
			}
		}
	}
	rate := float64(cover) / float64(total)
	t.Logf("coverage of 90%% intervals: %.3f (%d of %d)", rate, cover, total)
	if rate < 0.7 || rate > 0.995 {
		t.Errorf("coverage %.3f, want in [0.7, 0.995] for a nominal 0.9", rate)
	}
}

func TestCausalForestArms(t *testing.T) {
	d, tau := cfSimulate(4000, 3, 2, rand.NewPCG(11, 12))
	m, err := CausalForest{Trees: 200}.Fit(d, rand.NewPCG(13, 14))
	if err != nil {
		t.Fatal(err)
	}
	x := cfGrid(50, 3, rand.NewPCG(15, 16))
	eff := m.Effects(nil, x)
	for k := 1; k <= 2; k++ {
		var mae float64
		for i := range 50 {
			mae += math.Abs(eff.At(i, k-1) - tau(x.RawRowView(i), k))
		}
		if mae /= 50; mae > 0.35 {
			t.Errorf("arm %d: mean absolute error %.3f, want ≤ 0.35", k, mae)
		}
	}
}

// cfMeanLearner fits the weighted mean: a minimal Learner for the
// cross-fitting path.
type cfMeanLearner struct{}

type cfMeanModel float64

func (m cfMeanModel) Predict(dst []float64, x *mat.Dense) []float64 {
	n, _ := x.Dims()
	if cap(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	for i := range dst {
		dst[i] = float64(m)
	}
	return dst
}

func (cfMeanLearner) Fit(x *mat.Dense, y, weights []float64, _ Task, _ rand.Source) (Model, error) {
	var s, w float64
	for i, v := range y {
		wi := 1.0
		if weights != nil {
			wi = weights[i]
		}
		s += wi * v
		w += wi
	}
	return cfMeanModel(s / w), nil
}

func TestCausalForestNuisanceLearner(t *testing.T) {
	// In a randomised trial the mean is a consistent e(x), so the forest
	// still recovers τ; m(x) = mean only costs precision.
	rng := rand.New(rand.NewPCG(1, 1))
	n := 3000
	x := mat.NewDense(n, 3, nil)
	tr := make([]int, n)
	y := make([]float64, n)
	for i := range n {
		row := x.RawRowView(i)
		for j := range row {
			row[j] = 2*rng.Float64() - 1
		}
		tr[i] = rng.IntN(2)
		y[i] = row[1] + float64(tr[i])*(1+row[0]) + 0.5*rng.NormFloat64()
	}
	d := UpliftData{X: x, Treatment: tr, Arms: 1, Y: y}
	m, err := CausalForest{Trees: 200, Nuisance: cfMeanLearner{}}.Fit(d, rand.NewPCG(2, 2))
	if err != nil {
		t.Fatal(err)
	}
	grid := cfGrid(50, 3, rand.NewPCG(3, 3))
	eff := m.Effects(nil, grid)
	var mae float64
	for i := range 50 {
		mae += math.Abs(eff.At(i, 0) - (1 + grid.At(i, 0)))
	}
	if mae /= 50; mae > 0.3 {
		t.Errorf("mean absolute error %.3f, want ≤ 0.3", mae)
	}
}

func TestCausalForestPropensity(t *testing.T) {
	d, _ := cfSimulate(1000, 3, 1, rand.NewPCG(1, 2))
	d.Propensity = make([]float64, len(d.Y))
	for i := range d.Propensity {
		e := 0.3
		if d.X.At(i, 1) > 0 {
			e = 0.7
		}
		if d.Treatment[i] == 0 {
			e = 1 - e
		}
		d.Propensity[i] = e
	}
	m, err := CausalForest{Trees: 100}.Fit(d, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	eff := m.Effects(nil, mat.NewDense(1, 3, []float64{0.5, 0, 0}))
	if got := eff.At(0, 0); math.Abs(got-1.5) > 0.6 {
		t.Errorf("τ̂(0.5, 0, 0) = %.3f, want about 1.5", got)
	}
}

func TestCausalForestSaveLoadDeterministic(t *testing.T) {
	d, _ := cfSimulate(800, 3, 2, rand.NewPCG(1, 2))
	var bs []string
	var models []*CausalForestModel
	for _, w := range []int{1, 2} {
		m, err := CausalForest{Trees: 40, NuisanceTrees: 20, Workers: w}.Fit(d, rand.NewPCG(5, 5))
		if err != nil {
			t.Fatal(err)
		}
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, string(b))
		models = append(models, m)
	}
	if bs[0] != bs[1] {
		t.Errorf("forests with 1 and 2 workers differ")
	}
	v, err := Unmarshal([]byte(bs[0]))
	if err != nil {
		t.Fatal(err)
	}
	got, ok := v.(IntervalModel)
	if !ok {
		t.Fatalf("loaded %T, not an IntervalModel", v)
	}
	x := cfGrid(30, 3, rand.NewPCG(1, 1))
	if a, b := models[0].Effects(nil, x), got.Effects(nil, x); !mat.Equal(a, b) {
		t.Errorf("effects differ after reload")
	}
	l1, h1 := models[0].Intervals(nil, nil, x, 0.95)
	l2, h2 := got.Intervals(nil, nil, x, 0.95)
	if !mat.Equal(l1, l2) || !mat.Equal(h1, h2) {
		t.Errorf("intervals differ after reload")
	}
}

func TestCFDebias(t *testing.T) {
	for _, tc := range []struct {
		between, noise float64
		groups         int
		want           float64
	}{
		// V₀ = 0, s = 1·√(2/8) = 0.5: 0.5·φ(0)/Φ(0).
		{1, 1, 8, 0.5 * 2 / math.Sqrt(2*math.Pi)},
		// A large positive V₀ is left almost unchanged.
		{10, 0.01, 10000, 9.99},
		{0, 0, 10, 0},
	} {
		if got := cfDebias(tc.between, tc.noise, tc.groups); !scalar.EqualWithinAbsOrRel(got, tc.want, 1e-9, 1e-9) {
			t.Errorf("cfDebias(%v, %v, %d) = %v, want %v", tc.between, tc.noise, tc.groups, got, tc.want)
		}
	}
}

func TestCausalForestBadInput(t *testing.T) {
	good := func() UpliftData { d, _ := cfSimulate(100, 3, 1, rand.NewPCG(1, 2)); return d }
	for _, tc := range []struct {
		name  string
		edit  func(*UpliftData)
		f     CausalForest
		match string
	}{
		{"NaN outcome", func(d *UpliftData) { d.Y[4] = math.NaN() }, CausalForest{}, "row 4: outcome NaN"},
		{"arm out of range", func(d *UpliftData) { d.Treatment[5] = 3 }, CausalForest{}, "row 5: treatment 3"},
		{"length mismatch", func(d *UpliftData) { d.Treatment = d.Treatment[:9] }, CausalForest{}, "100 rows, 100 outcomes, 9 treatments"},
		{"NaN feature", func(d *UpliftData) { d.X.Set(7, 1, math.Inf(1)) }, CausalForest{}, "row 7 column 1"},
		{"empty arm", func(d *UpliftData) { clear(d.Treatment) }, CausalForest{}, "arm 1 has 0 rows"},
		{"bad propensity", func(d *UpliftData) { d.Propensity = make([]float64, 100) }, CausalForest{}, "row 0: propensity 0"},
		{"sample fraction with groups", func(*UpliftData) {}, CausalForest{SampleFraction: 0.8}, "sample fraction 0.8 above 0.5"},
		{"honesty fraction", func(*UpliftData) {}, CausalForest{HonestyFraction: 1}, "honesty fraction 1"},
	} {
		d := good()
		tc.edit(&d)
		tc.f.Trees = 4
		_, err := tc.f.Fit(d, rand.NewPCG(1, 1))
		if err == nil || !errors.Is(err, ErrInput) || !upliftContains(err.Error(), tc.match) {
			t.Errorf("%s: error %v, want ErrInput mentioning %q", tc.name, err, tc.match)
		}
	}
}

func TestCausalForestFromParams(t *testing.T) {
	f, seed, err := CausalForestFromParams(map[string]string{
		"trees": "100", "min_leaf": "10", "honesty_fraction": "0.6", "mtry": "3", "sample_fraction": "0.4", "seed": "7",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := CausalForest{Trees: 100, MinLeaf: 10, HonestyFraction: 0.6, Mtry: 3, SampleFraction: 0.4}
	if f.Trees != want.Trees || f.MinLeaf != want.MinLeaf || f.HonestyFraction != want.HonestyFraction ||
		f.Mtry != want.Mtry || f.SampleFraction != want.SampleFraction || seed != 7 {
		t.Errorf("got %+v seed %d, want %+v seed 7", f, seed, want)
	}
	for _, tc := range []struct {
		params map[string]string
		match  string
	}{
		{map[string]string{"criterion": "KL"}, `unknown parameter "criterion"`},
		{map[string]string{"honesty_fraction": "1"}, "must be in (0, 0.99]"},
		{map[string]string{"sample_fraction": "0"}, "must be in (0, 1]"},
		{map[string]string{"sample_fraction": "0.7"}, "above 0.5"},
		{map[string]string{"sample_fraction": "0.7", "ci_group_size": "1"}, ""},
		{map[string]string{"mtry": "0"}, "must be at least 1"},
		{map[string]string{"trees": "1.5"}, "not an integer"},
	} {
		_, _, err := CausalForestFromParams(tc.params)
		if tc.match == "" {
			if err != nil {
				t.Errorf("%v: unexpected error %v", tc.params, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrInput) || !upliftContains(err.Error(), tc.match) {
			t.Errorf("%v: error %v, want ErrInput mentioning %q", tc.params, err, tc.match)
		}
	}
}

func FuzzCausalForestFromParams(f *testing.F) {
	f.Add("honesty_fraction", "0.5", "sample_fraction", "0.25")
	f.Add("trees", "-1", "alpha", "NaN")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		cf, _, err := CausalForestFromParams(map[string]string{k1: v1, k2: v2})
		if err != nil {
			if !errors.Is(err, ErrInput) {
				t.Fatalf("error %v does not wrap ErrInput", err)
			}
			return
		}
		if cf.validate() != nil {
			t.Fatalf("accepted invalid forest %+v", cf)
		}
	})
}

func ExampleCausalForest() {
	// τ(x) = 1 + x0 in a randomised trial with noisy outcomes.
	rng := rand.New(rand.NewPCG(1, 2))
	n := 4000
	x := mat.NewDense(n, 2, nil)
	t := make([]int, n)
	y := make([]float64, n)
	for i := range n {
		x.Set(i, 0, 2*rng.Float64()-1)
		x.Set(i, 1, 2*rng.Float64()-1)
		t[i] = rng.IntN(2)
		y[i] = x.At(i, 1) + float64(t[i])*(1+x.At(i, 0)) + 0.5*rng.NormFloat64()
	}
	m, err := CausalForest{Trees: 400}.Fit(UpliftData{X: x, Treatment: t, Arms: 1, Y: y}, rand.NewPCG(3, 4))
	if err != nil {
		fmt.Println(err)
		return
	}
	at := mat.NewDense(2, 2, []float64{-0.6, 0, 0.6, 0})
	eff := m.Effects(nil, at)
	lo, hi := m.Intervals(nil, nil, at, 0.95)
	for i := range 2 {
		truth := 1 + at.At(i, 0)
		fmt.Printf("x0=%+.1f: τ=%.1f τ̂=%.1f, 95%% interval covers τ: %v\n",
			at.At(i, 0), truth, eff.At(i, 0), lo.At(i, 0) <= truth && truth <= hi.At(i, 0))
	}
	// Output:
	// x0=-0.6: τ=0.4 τ̂=0.4, 95% interval covers τ: true
	// x0=+0.6: τ=1.6 τ̂=1.6, 95% interval covers τ: true
}

// BenchmarkCausalForest times fitting 200 trees (with the nuisance
// forests) and predicting, the effects alone and with intervals.
func BenchmarkCausalForest(b *testing.B) {
	for _, n := range []int{2000, 20000} {
		d, _ := cfSimulate(n, 10, 1, rand.NewPCG(1, 2))
		f := CausalForest{Trees: 200}
		b.Run(fmt.Sprintf("fit/size=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.Fit(d, rand.NewPCG(1, 1)); err != nil {
					b.Fatal(err)
				}
			}
		})
		m, err := f.Fit(d, rand.NewPCG(1, 1))
		if err != nil {
			b.Fatal(err)
		}
		x := cfGrid(1000, 10, rand.NewPCG(2, 2))
		lo, hi := mat.NewDense(1000, 1, nil), mat.NewDense(1000, 1, nil)
		// 10 rows, as a request scores, walk the trees; 1000 rows are
		// sorted through them (see cfSortFrom).
		x10 := mat.DenseCopyOf(x.Slice(0, 10, 0, 10))
		b.Run(fmt.Sprintf("effects/size=%d/rows=10", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Effects(nil, x10)
			}
		})
		b.Run(fmt.Sprintf("effects/size=%d/rows=1000", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Effects(lo, x)
			}
		})
		b.Run(fmt.Sprintf("intervals/size=%d/rows=1000", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Intervals(lo, hi, x, 0.95)
			}
		})
	}
}

// BenchmarkCausalTree times growing and filling one honest causal tree on
// n/2 splitting and n/2 estimation rows with 10 features.
func BenchmarkCausalTree(b *testing.B) {
	for _, n := range []int{2000, 20000, 200000} {
		d, _ := cfSimulate(n, 10, 1, rand.NewPCG(1, 2))
		bins, err := NewBins(d.X, 0, nil)
		if err != nil {
			b.Fatal(err)
		}
		w := make([]float64, n)
		yt := make([]float64, n)
		wt := make([]float64, n)
		for i, t := range d.Treatment {
			w[i] = float64(t)
			wt[i] = w[i] - 0.5
			yt[i] = d.Y[i] - d.X.At(i, 1)
		}
		cfg := CausalForest{}.withDefaults(n, 10)
		task := &cfTask{cfg: cfg, bins: bins, y: yt, w: wt, treat: w, causal: true}
		split := make([]int32, 0, n/2)
		est := make([]int32, 0, n/2)
		for i := range n {
			if i%2 == 0 {
				split = append(split, int32(i))
			} else {
				est = append(est, int32(i))
			}
		}
		b.Run(fmt.Sprintf("size=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			g := newCFGrower(task, rand.New(rand.NewPCG(1, 1)))
			idx := make([]int32, len(split))
			for b.Loop() {
				copy(idx, split)
				g.growTree(idx, est)
			}
		})
	}
}

func TestCausalForestWeightScale(t *testing.T) {
	// Doubling every weight scales every sum by an exact power of two, so
	// the forest must not change.
	d, _ := cfSimulate(600, 3, 1, rand.NewPCG(1, 2))
	f := CausalForest{Trees: 20, NuisanceTrees: 10}
	a, err := f.Fit(d, rand.NewPCG(3, 3))
	if err != nil {
		t.Fatal(err)
	}
	d.Weights = make([]float64, len(d.Y))
	for i := range d.Weights {
		d.Weights[i] = 2
	}
	b, err := f.Fit(d, rand.NewPCG(3, 3))
	if err != nil {
		t.Fatal(err)
	}
	x := cfGrid(20, 3, rand.NewPCG(4, 4))
	if ea, eb := a.Effects(nil, x), b.Effects(nil, x); !mat.EqualApprox(ea, eb, 1e-12) {
		t.Errorf("effects with weight 2 differ from unweighted")
	}
	for i := range d.Weights {
		d.Weights[i] = float64(1 + 2*(i%2))
	}
	c, err := f.Fit(d, rand.NewPCG(3, 3))
	if err != nil {
		t.Fatal(err)
	}
	if ea, ec := a.Effects(nil, x), c.Effects(nil, x); mat.EqualApprox(ea, ec, 1e-6) {
		t.Errorf("unequal weights had no effect")
	}
	d.Weights[5] = math.NaN()
	if _, err := f.Fit(d, rand.NewPCG(3, 3)); !errors.Is(err, ErrInput) {
		t.Errorf("NaN weight: error %v, want ErrInput", err)
	}
}

// cfSortLeaves bins the n rows of x (p columns) and sorts them through
// tree t, returning the index of the leaf each row reaches; it fails the
// test unless walking the rows (as blocks of fewer rows than cfSortFrom
// do) puts every row in the same leaf as sorting them.
func cfSortLeaves[E cfBin](tb testing.TB, t *CausalTree, thresholds [][]float64, x []float64, n, p int) []int32 {
	tb.Helper()
	var out [2][]int32
	for i, sortFrom := range []int{0, n + 1} {
		s := newCFSorter[E](n, p, sortFrom)
		s.bin(thresholds, x, p, n, p)
		out[i] = make([]int32, n+1)
		for r := range out[i] {
			out[i][r] = -1
		}
		s.index(t, out[i])
		for r, l := range out[i][:n] {
			if l < 0 || int(l) >= len(t.leaves) {
				tb.Fatalf("sortFrom %d: row %d in leaf %d of %d", sortFrom, r, l, len(t.leaves))
			}
		}
		if out[i][n] != -1 {
			tb.Fatalf("sortFrom %d: index wrote past the block's rows", sortFrom)
		}
	}
	if !slices.Equal(out[0], out[1]) {
		tb.Fatalf("sorting the rows put them in leaves %v, walking them in %v", out[0], out[1])
	}
	return out[0]
}

// cfWalkNodes is the reference walk over grown nodes: from the root down,
// stopping before a child with no estimation units.
func cfWalkNodes(nodes []CausalNode, x []float64) *CausalNode {
	nd := &nodes[0]
	for nd.Left >= 0 {
		next := nd.Right
		if x[nd.Feature] <= nd.Threshold {
			next = nd.Left
		}
		c := &nodes[next]
		if c.N <= 0 {
			break
		}
		nd = c
	}
	return nd
}

// TestCausalTreeCompactWalk checks that the compact tree's walk ends at a
// leaf holding the means of the node the walk over the grown nodes ends
// at, missing values and empty children included, before and after a
// save and reload.
func TestCausalTreeCompactWalk(t *testing.T) {
	d, _ := cfSimulate(2000, 4, 1, rand.NewPCG(3, 4))
	bins, err := NewBins(d.X, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := make([]float64, len(d.Y))
	wt := make([]float64, len(d.Y))
	for i, tr := range d.Treatment {
		w[i] = float64(tr)
		wt[i] = w[i] - 0.5
	}
	cfg := CausalForest{MinLeaf: 2}.withDefaults(2000, 4)
	task := &cfTask{cfg: cfg, bins: bins, y: d.Y, w: wt, treat: w, causal: true}
	g := newCFGrower(task, rand.New(rand.NewPCG(5, 6)))
	x := cfGrid(300, 4, rand.NewPCG(7, 8))
	rows := make([][]float64, 0, 300)
	for i := range 300 {
		row := mat.Row(nil, i, x)
		if i%7 == 0 {
			row[i%4] = math.NaN()
		}
		rows = append(rows, row)
	}
	var grown [][]CausalNode
	m := &CausalForestModel{Arms: 1, Features: 4, GroupSize: 1, Forests: [][]CausalTree{nil}}
	empty := 0
	for b := range 20 {
		var split, est []int32
		for i := range int32(2000) {
			// Few estimation rows, so that some children get none.
			if g.rng.IntN(2) == 0 {
				split = append(split, i)
			} else if g.rng.IntN(8) == 0 {
				est = append(est, i)
			}
		}
		nodes := g.growTree(split, est)
		for _, nd := range nodes {
			if nd.N <= 0 {
				empty++
			}
		}
		grown = append(grown, nodes)
		m.Forests[0] = append(m.Forests[0], compactTree(nodes))
		if inner, leaves := m.Forests[0][b].Size(); leaves != inner+1 {
			t.Fatalf("tree %d: %d inner nodes, %d leaves", b, inner, leaves)
		}
	}
	if empty == 0 {
		t.Fatal("no empty node: the test does not reach the pruned walk")
	}
	// A model built by hand has no ranks: prediction ranks a copy, and
	// gives what the ranked model gives.
	he, hlo, hhi := m.EffectsIntervals(nil, nil, nil, x, 0.9)
	m.rankSplits()
	if e, lo, hi := m.EffectsIntervals(nil, nil, nil, x, 0.9); !mat.Equal(e, he) || !mat.Equal(lo, hlo) || !mat.Equal(hi, hhi) {
		t.Fatal("the ranked model's effects or intervals differ from the unranked one's")
	}
	// Rows on a threshold exercise the comparison's equality.
	ties := 0
	for i, row := range rows {
		if th := m.thresholds[i%4]; i%5 == 1 && len(th) > 0 {
			row[i%4] = th[i%len(th)]
			ties++
		}
	}
	if ties == 0 {
		t.Fatal("no row on a threshold")
	}
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	back := v.(*CausalForestModel)
	flat := make([]float64, 0, 4*len(rows))
	for _, row := range rows {
		flat = append(flat, row...)
	}
	for _, model := range []*CausalForestModel{m, back} {
		for b, tree := range model.Forests[0] {
			for r, row := range rows {
				got, want := *tree.leaf(row), leafMeans(cfWalkNodes(grown[b], row))
				for c, v := range want {
					want[c] = fromHalf(toHalf(v/tree.scale[c])) * tree.scale[c]
				}
				if got != want {
					t.Fatalf("tree %d row %v: the compact walk ends at %v, the walk over the nodes at %v", b, row, got, want)
				}
				// Sorting the binned first r+1 rows through the
				// tree puts every row in the same leaf.
				if r%37 == 0 || r == len(rows)-1 {
					out := cfSortLeaves[uint16](t, &tree, model.thresholds, flat, r+1, 4)
					for i := range r + 1 {
						if got := &tree.leaves[out[i]]; got != tree.leaf(rows[i]) {
							t.Fatalf("tree %d: sorting %d rows puts row %d in %v, want %v", b, r+1, i, *got, *tree.leaf(rows[i]))
						}
					}
				}
			}
		}
	}
}

// TestCausalForestReadsEncoding0 loads a model saved in the encoding before
// the compact one and checks its effects and intervals against those the
// code of that time computed. The compact leaves hold their means to 11
// significant bits, and this forest has only 12 trees to average the
// rounding over, hence the tolerance.
func TestCausalForestReadsEncoding0(t *testing.T) {
	b, err := os.ReadFile("testdata/causalforest_encoding0.json")
	if err != nil {
		t.Fatal(err)
	}
	v, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	m := v.(*CausalForestModel)
	var want []struct{ X, Effect, Lo, Hi []float64 }
	eb, err := os.ReadFile("testdata/causalforest_encoding0_expected.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(eb, &want); err != nil {
		t.Fatal(err)
	}
	x := mat.NewDense(len(want), 3, nil)
	for i, r := range want {
		x.SetRow(i, r.X)
	}
	eff := m.Effects(nil, x)
	lo, hi := m.Intervals(nil, nil, x, 0.9)
	for i, r := range want {
		for k := range 2 {
			for _, c := range []struct {
				name      string
				got, want float64
			}{{"effect", eff.At(i, k), r.Effect[k]}, {"lower", lo.At(i, k), r.Lo[k]}, {"upper", hi.At(i, k), r.Hi[k]}} {
				if !scalar.EqualWithinAbsOrRel(c.got, c.want, 2e-3, 2e-3) {
					t.Errorf("row %d arm %d: %s %v, saved code gave %v", i, k+1, c.name, c.got, c.want)
				}
			}
		}
	}
	// Saved again, it takes the compact encoding and predicts the same.
	nb, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(nb) >= len(b)/2 {
		t.Errorf("compact encoding %d bytes, the old one %d", len(nb), len(b))
	}
	v2, err := Unmarshal(nb)
	if err != nil {
		t.Fatal(err)
	}
	if e2 := v2.(*CausalForestModel).Effects(nil, x); !mat.Equal(eff, e2) {
		t.Error("effects differ after a save in the compact encoding")
	}
}

func TestCausalForestTrees(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{100, 2000}, {21_347, 2000}, {25_000, 2000}, {29_885, 1673}, {50_000, 1000}, {100_000, 500}, {1_000_000, 500},
	} {
		if got := CausalForestTrees(tc.n); got != tc.want {
			t.Errorf("CausalForestTrees(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
	// The default reaches the fitted model: 30,000 units give 1666 trees,
	// rounded up to groups of 2.
	d, _ := cfSimulate(30_000, 3, 1, rand.NewPCG(1, 1))
	m, err := CausalForest{NuisanceTrees: 10, MaxDepth: 1}.Fit(d, rand.NewPCG(2, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(m.Forests[0]); got != 1666 {
		t.Errorf("default forest on 30,000 units has %d trees, want 1666", got)
	}
}

// FuzzCausalTreeRead feeds the binary tree decoder arbitrary bytes: it
// must return an error or a tree whose walks end at a leaf.
func FuzzCausalTreeRead(f *testing.F) {
	d, _ := cfSimulate(400, 3, 1, rand.NewPCG(1, 2))
	m, err := CausalForest{Trees: 4, NuisanceTrees: 4}.Fit(d, rand.NewPCG(1, 1))
	if err != nil {
		f.Fatal(err)
	}
	var in cfJSON
	b, _ := m.MarshalJSON()
	if err := json.Unmarshal(b, &in); err != nil {
		f.Fatal(err)
	}
	f.Add(in.Forests[0][1:])
	f.Add([]byte{0, 1, 0, 0, 0x80, 0x3f, 0, 0, 0x80, 0x3f, 0, 0, 0x80, 0x3f, 0, 0, 0x80, 0x3f, 0, 0, 0x3c, 0, 0, 0, 0, 0, 0, 0})
	x := cfGrid(20, 3, rand.NewPCG(3, 3))
	f.Fuzz(func(t *testing.T, b []byte) {
		tree, _, err := readTree(b, in.Thresholds, cfEncoding)
		if err != nil {
			return
		}
		// The walk of the binned rows, by the ranks readTree read,
		// ends where the walk by the thresholds does.
		out := cfSortLeaves[uint8](t, &tree, in.Thresholds, x.RawMatrix().Data, 20, 3)
		for i := range 20 {
			if got, want := &tree.leaves[out[i]], tree.leaf(x.RawRowView(i)); got != want {
				t.Fatalf("row %d: sorting the binned rows puts it in leaf %v, the walk by the thresholds in %v", i, *got, *want)
			}
		}
	})
}

// TestCausalForestEffectsPaths checks that Effects, which keeps running
// sums per row, gives exactly the estimates of the path behind Intervals,
// which also keeps the sums of its groups of trees, across their blocks of
// rows.
func TestCausalForestEffectsPaths(t *testing.T) {
	d, _ := cfSimulate(1500, 3, 2, rand.NewPCG(4, 4))
	m, err := CausalForest{Trees: 30, NuisanceTrees: 10}.Fit(d, rand.NewPCG(5, 5))
	if err != nil {
		t.Fatal(err)
	}
	x := cfGrid(cfBlock+3, 3, rand.NewPCG(6, 6))
	x.Set(7, 1, math.NaN())
	eff := m.Effects(nil, x)
	viaVar := mat.NewDense(x.RawMatrix().Rows, 2, nil)
	m.rows(x, true, func(i, k int, tau, _ float64) { viaVar.Set(i, k, tau) })
	if !mat.Equal(viaVar, eff) {
		t.Fatal("the effects differ from the estimates of the interval path")
	}
	// A few rows, which walk the trees instead of being sorted through
	// them, get the estimates and variances they get in a large block.
	const nFew = 10
	if cfSortFrom(m) <= nFew {
		t.Fatalf("%d rows are sorted through trees of %d leaves: the walk is not tested", nFew, cfSortFrom(m))
	}
	few := mat.DenseCopyOf(x.Slice(0, nFew, 0, 3))
	if got := m.Effects(nil, few); !mat.Equal(got, eff.Slice(0, nFew, 0, 2)) {
		t.Error("the effects of a few rows differ from theirs in a large block")
	}
	v := m.Variances(nil, x)
	if got := m.Variances(nil, few); !mat.Equal(got, v.Slice(0, nFew, 0, 2)) {
		t.Error("the variances of a few rows differ from theirs in a large block")
	}
	// EffectsIntervals gives what Effects and Intervals give.
	lo, hi := m.Intervals(nil, nil, x, 0.9)
	e1, lo1, hi1 := m.EffectsIntervals(nil, nil, nil, x, 0.9)
	for _, c := range []struct {
		name      string
		got, want *mat.Dense
	}{{"effects", e1, eff}, {"lower", lo1, lo}, {"upper", hi1, hi}} {
		if !mat.Equal(c.got, c.want) {
			t.Errorf("EffectsIntervals: %s differ from those of Effects and Intervals", c.name)
		}
	}
}

// cfVarianceDirect is the little-bags variance computed tree by tree from
// the leaves ls[b] that a row reaches (grf's formula, as the code before
// cfRowStats computed it): ψ_b linearised around the average of the
// non-empty leaves, the between-group variance of the group means of ψ
// over the groups of l non-empty leaves, and the within-group noise.
func cfVarianceDirect(ls []cfLeaf, l int) (tau, v float64) {
	var avg cfMoments
	nt := 0
	for b := range ls {
		if ls[b].empty() {
			continue
		}
		mb := ls[b].moments()
		avg = cfMoments{avg.w + mb.w, avg.y + mb.y, avg.wy + mb.wy, avg.ww + mb.ww}
		nt++
	}
	if nt == 0 {
		return 0, math.Inf(1)
	}
	inv := 1 / float64(nt)
	avg = cfMoments{avg.w * inv, avg.y * inv, avg.wy * inv, avg.ww * inv}
	tau, q := avg.tau()
	if q <= 0 || l < 2 {
		return tau, math.Inf(1)
	}
	psi := func(mb cfMoments) float64 {
		return ((mb.wy - avg.wy) - avg.w*(mb.y-avg.y) + (2*avg.w*tau-avg.y)*(mb.w-avg.w) - tau*(mb.ww-avg.ww)) / q
	}
	var between, total, psiSum float64
	groups, trees := 0, 0
	for g := 0; g+l <= len(ls); g += l {
		full := true
		for b := g; b < g+l; b++ {
			full = full && !ls[b].empty()
		}
		if !full {
			continue
		}
		var gs float64
		for b := g; b < g+l; b++ {
			p := psi(ls[b].moments())
			gs += p
			total += p * p
			psiSum += p
		}
		between += (gs / float64(l)) * (gs / float64(l))
		groups++
		trees += l
	}
	if groups < 2 {
		return tau, math.Inf(1)
	}
	mean := psiSum / float64(trees)
	between = between/float64(groups) - mean*mean
	total = total/float64(trees) - mean*mean
	return tau, cfDebias(between, (total-between)/float64(l-1), groups)
}

// TestCausalForestVarianceSums checks the variance that Intervals computes
// from per-row sums over groups of trees against the variance computed
// tree by tree from every leaf a row reaches, for groups of 2 and 3, a
// forest whose last group is incomplete, and rows with a NaN feature.
func TestCausalForestVarianceSums(t *testing.T) {
	d, _ := cfSimulate(1200, 3, 1, rand.NewPCG(8, 8))
	x := cfGrid(cfBlock+6, 3, rand.NewPCG(9, 9))
	x.Set(3, 0, math.NaN())
	for _, tc := range []struct {
		name         string
		group, trees int
		drop         int // trees removed from the end
	}{
		{"groups of 2", 2, 40, 0},
		{"groups of 3", 3, 30, 0},
		{"incomplete last group", 3, 30, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := CausalForest{Trees: tc.trees, GroupSize: tc.group, NuisanceTrees: 10, MinLeaf: 2}.Fit(d, rand.NewPCG(5, 5))
			if err != nil {
				t.Fatal(err)
			}
			trees := m.Forests[0][:len(m.Forests[0])-tc.drop]
			m.Forests[0] = trees
			// rows calls back from its workers, a row once: the
			// results are checked after it returns.
			rows := x.RawMatrix().Rows
			taus, vs := make([]float64, rows), make([]float64, rows)
			m.rows(x, true, func(i, _ int, tau, v float64) { taus[i], vs[i] = tau, v })
			n := 0
			for i, tau := range taus {
				v := vs[i]
				ls := make([]cfLeaf, len(trees))
				row := mat.Row(nil, i, x)
				for b := range trees {
					ls[b] = *trees[b].leaf(row)
				}
				wantTau, wantV := cfVarianceDirect(ls, tc.group)
				if !scalar.EqualWithinAbsOrRel(tau, wantTau, 1e-12, 1e-12) {
					t.Fatalf("row %d: τ̂ %v, tree by tree %v", i, tau, wantTau)
				}
				if math.IsInf(wantV, 1) != math.IsInf(v, 1) || !math.IsInf(v, 1) && !scalar.EqualWithinAbsOrRel(v, wantV, 1e-12, 1e-8) {
					t.Fatalf("row %d: variance %v, tree by tree %v", i, v, wantV)
				}
				if !math.IsInf(v, 1) && v > 0 {
					n++
				}
			}
			if n < x.RawMatrix().Rows*9/10 {
				t.Errorf("%d rows with a finite positive variance of %d: the comparison is vacuous", n, x.RawMatrix().Rows)
			}
		})
	}
}

// TestCausalForestDecodeBulk checks that a saved causal forest decodes to
// the same model whether its forests' base64 strings are taken out of the
// JSON directly (cfDecodeBulk) or, written with escapes, by encoding/json,
// and that corrupt bytes are an error either way.
func TestCausalForestDecodeBulk(t *testing.T) {
	d, _ := cfSimulate(800, 3, 2, rand.NewPCG(2, 3))
	m, err := CausalForest{Trees: 8, NuisanceTrees: 10}.Fit(d, rand.NewPCG(3, 3))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfDecodeBulk(payload); !ok {
		t.Fatal("cfDecodeBulk does not take the payload that Marshal writes")
	}
	// "\/" is "/" in a JSON string; base64 has slashes.
	escaped := bytes.ReplaceAll(b, []byte("/"), []byte(`\/`))
	if bytes.Equal(escaped, b) {
		t.Fatal("no slash in the model: the test does not reach encoding/json")
	}
	if _, ok := cfDecodeBulk(bytes.ReplaceAll(payload, []byte("/"), []byte(`\/`))); ok {
		t.Fatal("cfDecodeBulk takes a string with escapes")
	}
	fast, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := Unmarshal(escaped)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Error("the two decodings differ")
	}
	if !reflect.DeepEqual(fast, m) {
		t.Error("the decoded model differs from the saved one")
	}
	at := bytes.Index(b, []byte(`"forests":["`)) + len(`"forests":["`) + 20
	for name, bad := range map[string][]byte{
		"line break in a string": append(append(slices.Clone(b[:at]), '\n'), b[at:]...),
		"a byte of a string":     append(append(slices.Clone(b[:at]), '!'), b[at+1:]...),
		"truncated":              b[:len(b)-1],
		"trailing bytes":         append(slices.Clone(b), 'x'),
	} {
		if _, err := Unmarshal(bad); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: error %v, want ErrFormat", name, err)
		}
	}
}

func TestCFBlocks(t *testing.T) {
	for _, tc := range []struct {
		n, workers, blocks, size int
	}{
		{0, 2, 0, 0},
		{1, 2, 1, 1},
		{cfMinBlock + 5, 2, 1, cfMinBlock + 5}, // halves would be under cfMinBlock
		{2 * cfMinBlock, 2, 2, cfMinBlock},     // halves of cfMinBlock
		{1500, 2, 2, 750},
		{cfBlock, 1, 1, cfBlock},           // one worker: as few blocks as fit
		{cfBlock + 1, 1, 2, 4097},          // two even blocks, not cfBlock and 1
		{21346, 2, 4, 5337},                // Hillstrom's test half: not 3 on 2 cores
		{21346, 4, 4, 5337},                // already a multiple
		{3 * cfBlock, 2, 4, 6144},          // rounded up to a multiple of 2
		{5 * cfMinBlock, 8, 5, cfMinBlock}, // 8 blocks would be too small
	} {
		blocks, size := cfBlocks(tc.n, tc.workers)
		if blocks != tc.blocks || size != tc.size {
			t.Errorf("cfBlocks(%d, %d) = %d, %d; want %d, %d", tc.n, tc.workers, blocks, size, tc.blocks, tc.size)
		}
		if tc.n > 0 && (size > cfBlock || blocks*size < tc.n || (blocks-1)*size >= tc.n) {
			t.Errorf("cfBlocks(%d, %d) = %d blocks of %d rows do not cover the rows once", tc.n, tc.workers, blocks, size)
		}
	}
}

// TestCFSortRows checks the bitmap sort of row indexes against slices.Sort,
// for distinct rows and for rows with a repeat (which fall back to it), and
// that it leaves its bitmap clear.
func TestCFSortRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sample := make([]int32, 400) // 400 of 0..999
	for i, r := range rng.Perm(1000)[:400] {
		sample[i] = int32(r)
	}
	mark := make([]uint64, (1000+63)/64)
	for _, tc := range []struct {
		name string
		rows []int32
	}{
		{"empty", nil},
		{"one", []int32{999}},
		{"word edges", []int32{128, 63, 0, 64, 127, 999}},
		{"sample", sample},
		{"repeat", []int32{5, 900, 64, 5, 1}},
	} {
		rows := slices.Clone(tc.rows)
		want := slices.Clone(rows)
		slices.Sort(want)
		cfSortRows(rows, mark)
		if !slices.Equal(rows, want) {
			t.Errorf("%s: %v, want %v", tc.name, rows, want)
		}
		if slices.ContainsFunc(mark, func(w uint64) bool { return w != 0 }) {
			t.Errorf("%s: the bitmap is not clear after the sort", tc.name)
		}
	}
}
