package causal

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"
	"gonum.org/v1/gonum/mat"
)

// upliftTinyCells is a two-arm node split into children with
// control (n, positives) = (8, 1) | (12, 5) and treated (14, 9) | (6, 1).
var (
	upliftTinyLeft  = []float64{8 - 1, 1, 14 - 9, 9}
	upliftTinyRight = []float64{12 - 5, 5, 6 - 1, 1}
)

func TestUpliftSplitGain(t *testing.T) {
	// The wanted values are the formulas worked by hand: for example ED
	// without shrinkage has rates q_L=1/8, p_L=9/14, q_R=5/12, p_R=1/6,
	// q=0.3, p=0.5, so gain = 0.55·2(9/14−1/8)² + 0.45·2(1/6−5/12)² −
	// 2(0.2)² = 0.2712436.
	for _, tc := range []struct {
		crit UpliftCriterion
		nReg float64
		norm bool
		want float64
	}{
		{KL, 0, false, 0.38084899408573103},
		{KL, 0, true, 0.4365830162655544},
		{ED, 0, false, 0.27124362244897965},
		{ED, 0, true, 0.3109378275131108},
		{Chi, 0, false, 1.2737803692905736},
		{Chi, 0, true, 1.460187329678353},
		{DDP, 0, false, 0.7678571428571429},
		{KL, 10, false, 0.07954307747308739},
		{KL, 10, true, 0.09118353264818631},
		{ED, 10, true, 0.07285868971294157},
		{Chi, 10, true, 0.25761765478609266},
		{DDP, 10, false, 0.3497474747474748},
	} {
		s := newUpliftSplit(2)
		s.crit, s.nReg, s.norm, s.minTreat, s.minLeaf = tc.crit, tc.nReg, tc.norm, 1, 1
		tot := make([]float64, 4)
		for c := range tot {
			tot[c] = upliftTinyLeft[c] + upliftTinyRight[c]
		}
		s.setNode(tot, upliftSummary(make([]float64, 2), tot, nil, 0, 0))
		got, ok := s.gain(upliftTinyLeft, upliftTinyRight)
		if !ok {
			t.Fatalf("%v nReg=%v: split rejected", tc.crit, tc.nReg)
		}
		if !scalar.EqualWithinAbsOrRel(got, tc.want, 1e-12, 1e-12) {
			t.Errorf("%v nReg=%v norm=%v: gain = %.17g, want %.17g", tc.crit, tc.nReg, tc.norm, got, tc.want)
		}
	}
}

func TestUpliftSplitLimits(t *testing.T) {
	s := newUpliftSplit(2)
	s.crit, s.norm = KL, true
	tot := []float64{14, 6, 10, 10}
	s.setNode(tot, upliftSummary(make([]float64, 2), tot, nil, 0, 0))
	for _, tc := range []struct {
		name              string
		minLeaf, minTreat float64
		ok                bool
	}{
		{"no limits", 1, 1, true},
		{"leaf of 22 allowed", 18, 1, true},
		{"leaf of 18 too small", 19, 1, false},
		{"arm of 6 allowed", 1, 6, true},
		{"arm of 6 too small", 1, 7, false},
	} {
		s.minLeaf, s.minTreat = tc.minLeaf, tc.minTreat
		if _, ok := s.gain(upliftTinyLeft, upliftTinyRight); ok != tc.ok {
			t.Errorf("%s: ok = %v, want %v", tc.name, ok, tc.ok)
		}
	}
}

func TestUpliftNormI(t *testing.T) {
	for _, tc := range []struct {
		n, nLeft []float64
		want     float64
	}{
		// Equal shares left: the KL parts vanish and
		// I = 2·½·(−P log P) + ½ with P = 10/20.1.
		{[]float64{20, 20}, []float64{10, 10}, -10/20.1*math.Log(10/20.1) + 0.5},
		{[]float64{20, 20}, []float64{8, 14}, 0.8723403794848428},
		{[]float64{20, 20, 10}, []float64{8, 14, 3}, 0.8540927547723943},
	} {
		if got := upliftNormI(tc.n, tc.nLeft); !scalar.EqualWithinAbsOrRel(got, tc.want, 1e-12, 1e-12) {
			t.Errorf("normI(%v, %v) = %.17g, want %.17g", tc.n, tc.nLeft, got, tc.want)
		}
	}
}

func TestUpliftKL(t *testing.T) {
	for _, tc := range []struct{ p, q, want float64 }{
		{0.5, 0.5, 0},
		{0.6, 0.2, 0.6*math.Log(3) + 0.4*math.Log(0.5)},
		{0, 0.2, -math.Log(0.8)},
		{1, 0.2, -math.Log(0.2)},
		{0.3, 0, 0},
		{0.3, 1, 0.3*math.Log(0.3/(1-1e-6)) + 0.7*math.Log(0.7/1e-6)},
	} {
		if got := upliftKL(tc.p, tc.q); !scalar.EqualWithinAbsOrRel(got, tc.want, 1e-10, 1e-10) {
			t.Errorf("KL(%v‖%v) = %v, want %v", tc.p, tc.q, got, tc.want)
		}
	}
}

// upliftTinyData expands the tiny table into rows: x=0 on the left, x=1
// on the right.
func upliftTinyData() UpliftData {
	var xs, ys []float64
	var ts []int
	add := func(x float64, t, n, pos int) {
		for i := range n {
			xs = append(xs, x)
			ts = append(ts, t)
			y := 0.0
			if i < pos {
				y = 1
			}
			ys = append(ys, y)
		}
	}
	add(0, 0, 8, 1)
	add(0, 1, 14, 9)
	add(1, 0, 12, 5)
	add(1, 1, 6, 1)
	return UpliftData{X: mat.NewDense(len(xs), 1, xs), Treatment: ts, Arms: 1, Y: ys}
}

func TestUpliftTreeTiny(t *testing.T) {
	d := upliftTinyData()
	for _, crit := range []UpliftCriterion{KL, ED, Chi, DDP} {
		tree := UpliftTree{Criterion: crit, MaxDepth: 3, MinLeaf: 1, MinTreatment: 1, NReg: -1}
		m, err := tree.Fit(d, rand.NewPCG(1, 2))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Nodes) != 3 {
			t.Fatalf("%v: %d nodes, want 3", crit, len(m.Nodes))
		}
		if root := m.Nodes[0]; root.Feature != 0 || root.Threshold != 0.5 {
			t.Errorf("%v: root splits x%d ≤ %v, want x0 ≤ 0.5", crit, root.Feature, root.Threshold)
		}
		eff := m.Effects(nil, mat.NewDense(2, 1, []float64{0, 1}))
		for i, want := range []float64{9.0/14 - 1.0/8, 1.0/6 - 5.0/12} {
			if got := eff.At(i, 0); !scalar.EqualWithinAbsOrRel(got, want, 1e-12, 1e-12) {
				t.Errorf("%v: effect at x=%d is %v, want %v", crit, i, got, want)
			}
		}
	}
}

// upliftStepData simulates a trial with arms 0..arms and effect
// τ_k(x) = k·0.1·sign(x0) on a base rate of 0.3 (so arm 2's effect is
// ±0.2), with noise features.
func upliftStepData(n, arms int, src rand.Source) (UpliftData, func(x []float64, k int) float64) {
	rng := rand.New(src)
	const p = 5
	x := mat.NewDense(n, p, nil)
	t := make([]int, n)
	y := make([]float64, n)
	tau := func(row []float64, k int) float64 {
		if k == 0 {
			return 0
		}
		s := 1.0
		if row[0] < 0 {
			s = -1
		}
		if k == 2 {
			s = -s
		}
		return 0.1 * float64(k) * s
	}
	for i := range n {
		row := x.RawRowView(i)
		for j := range row {
			row[j] = rng.NormFloat64()
		}
		t[i] = rng.IntN(arms + 1)
		if rng.Float64() < 0.3+tau(row, t[i]) {
			y[i] = 1
		}
	}
	return UpliftData{X: x, Treatment: t, Arms: arms, Y: y}, tau
}

func TestUpliftForestRecoversStep(t *testing.T) {
	d, tau := upliftStepData(20000, 2, rand.NewPCG(3, 4))
	test, _ := upliftStepData(2000, 2, rand.NewPCG(5, 6))
	for _, crit := range []UpliftCriterion{KL, ED, Chi, DDP} {
		f := UpliftForest{Trees: 10, Tree: UpliftTree{Criterion: crit, MaxDepth: 3, MinLeaf: 200}}
		m, err := f.Fit(d, rand.NewPCG(7, 8))
		if err != nil {
			t.Fatal(err)
		}
		eff := m.Effects(nil, test.X)
		for k := 1; k <= 2; k++ {
			var mae float64
			for i := range test.Y {
				mae += math.Abs(eff.At(i, k-1) - tau(test.X.RawRowView(i), k))
			}
			mae /= float64(len(test.Y))
			// The effects are ±0.1 and ±0.2; a forest that missed the
			// step would be off by about that much.
			if mae > 0.04 {
				t.Errorf("%v arm %d: mean absolute error %.4f, want ≤ 0.04", crit, k, mae)
			}
		}
	}
}

func TestUpliftForestReference(t *testing.T) {
	d := SimulateReference(40000, rand.NewPCG(11, 12))
	test := SimulateReference(5000, rand.NewPCG(13, 14))
	f := UpliftForest{Trees: 10, Tree: UpliftTree{MaxDepth: 5, MinLeaf: 100}}
	m, err := f.Fit(d, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	eff := m.Effects(nil, test.X)
	truth := ReferenceEffects(nil, test.X)
	got := mat.Col(nil, 0, eff)
	if c := upliftCorr(got, truth); c < 0.6 {
		t.Errorf("correlation of estimated and true effects %.3f, want ≥ 0.6", c)
	}
}

func upliftCorr(a, b []float64) float64 {
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var sab, saa, sbb float64
	for i := range a {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	return sab / math.Sqrt(saa*sbb)
}

func TestUpliftForestDeterministic(t *testing.T) {
	d, _ := upliftStepData(5000, 1, rand.NewPCG(1, 2))
	f := UpliftForest{Trees: 6, Tree: UpliftTree{MaxDepth: 4, MinLeaf: 50, MaxFeatures: 3}}
	var models []*UpliftForestModel
	for _, w := range []int{1, 2, 3} {
		f.Workers = w
		m, err := f.Fit(d, rand.NewPCG(9, 9))
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, m)
	}
	a, _ := Marshal(models[0])
	for i, m := range models[1:] {
		b, _ := Marshal(m)
		if string(a) != string(b) {
			t.Errorf("model with %d workers differs from 1 worker", i+2)
		}
	}
	m2, _ := f.Fit(d, rand.NewPCG(9, 10))
	if b, _ := Marshal(m2); string(a) == string(b) {
		t.Errorf("different seeds gave the same forest")
	}
}

func TestUpliftWeights(t *testing.T) {
	// Integer weights act like repeated rows.
	d := upliftTinyData()
	w := make([]float64, len(d.Y))
	var xs, ys []float64
	var ts []int
	for i := range w {
		w[i] = float64(1 + i%3)
		for range int(w[i]) {
			xs = append(xs, d.X.At(i, 0))
			ys = append(ys, d.Y[i])
			ts = append(ts, d.Treatment[i])
		}
	}
	rep := UpliftData{X: mat.NewDense(len(xs), 1, xs), Treatment: ts, Arms: 1, Y: ys}
	d.Weights = w
	tree := UpliftTree{MaxDepth: 2, MinLeaf: 1, MinTreatment: 1}
	a, err := tree.Fit(d, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := tree.Fit(rep, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	ea := a.Effects(nil, mat.NewDense(2, 1, []float64{0, 1}))
	eb := b.Effects(nil, mat.NewDense(2, 1, []float64{0, 1}))
	if !mat.EqualApprox(ea, eb, 1e-12) {
		t.Errorf("weighted effects %v, repeated rows %v", mat.Formatted(ea.T()), mat.Formatted(eb.T()))
	}
}

func TestUpliftSaveLoad(t *testing.T) {
	d, _ := upliftStepData(3000, 2, rand.NewPCG(1, 2))
	tree, err := UpliftTree{MaxDepth: 3, MinLeaf: 50}.Fit(d, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	forest, err := UpliftForest{Trees: 3, Tree: UpliftTree{MaxDepth: 3, MinLeaf: 50}}.Fit(d, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []interface {
		Kinded
		UpliftModel
	}{tree, forest} {
		v := reload(t, m)
		got, ok := v.(UpliftModel)
		if !ok {
			t.Fatalf("%s: loaded %T", m.Kind(), v)
		}
		if a, b := m.Effects(nil, d.X), got.Effects(nil, d.X); !mat.Equal(a, b) {
			t.Errorf("%s: effects differ after reload", m.Kind())
		}
	}
}

func TestUpliftBadInput(t *testing.T) {
	good := func() UpliftData { d, _ := upliftStepData(100, 1, rand.NewPCG(1, 2)); return d }
	for _, tc := range []struct {
		name  string
		edit  func(*UpliftData)
		tree  UpliftTree
		match string
	}{
		{"non-binary outcome", func(d *UpliftData) { d.Y[3] = 0.5 }, UpliftTree{}, "row 3: outcome 0.5"},
		{"NaN outcome", func(d *UpliftData) { d.Y[4] = math.NaN() }, UpliftTree{}, "row 4: outcome NaN"},
		{"arm out of range", func(d *UpliftData) { d.Treatment[5] = 2 }, UpliftTree{}, "row 5: treatment 2"},
		{"length mismatch", func(d *UpliftData) { d.Y = d.Y[:10] }, UpliftTree{}, "100 rows, 10 outcomes"},
		{"NaN feature", func(d *UpliftData) { d.X.Set(7, 1, math.NaN()) }, UpliftTree{}, "row 7 column 1"},
		{"empty arm", func(d *UpliftData) { clear(d.Treatment) }, UpliftTree{}, "arm 1 has no rows"},
		{"no arms", func(d *UpliftData) { d.Arms = 0 }, UpliftTree{}, "0 treated arms"},
		{"bad weight", func(d *UpliftData) { d.Weights = make([]float64, 100); d.Weights[2] = -1 }, UpliftTree{}, "row 2: weight -1"},
		{"bad criterion", func(*UpliftData) {}, UpliftTree{Criterion: 9}, "unknown uplift criterion"},
		{"bad depth", func(*UpliftData) {}, UpliftTree{MaxDepth: -1}, "max depth -1"},
	} {
		d := good()
		tc.edit(&d)
		_, err := tc.tree.Fit(d, rand.NewPCG(1, 1))
		if err == nil || !errors.Is(err, ErrInput) || !upliftContains(err.Error(), tc.match) {
			t.Errorf("%s: error %v, want ErrInput mentioning %q", tc.name, err, tc.match)
		}
	}
}

func upliftContains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestUpliftForestFromParams(t *testing.T) {
	f, seed, err := UpliftForestFromParams(map[string]string{
		"trees": "20", "depth": "4", "min_leaf": "50", "criterion": "chi", "seed": "42", "mtry": "3",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := UpliftForest{Trees: 20, Tree: UpliftTree{Criterion: Chi, MaxDepth: 4, MinLeaf: 50, MaxFeatures: 3}}
	if f != want || seed != 42 {
		t.Errorf("got %+v seed %d, want %+v seed 42", f, seed, want)
	}
	for _, tc := range []struct {
		params map[string]string
		match  string
	}{
		{map[string]string{"tres": "10"}, `unknown parameter "tres"`},
		{map[string]string{"trees": "0"}, "trees=0 must be at least 1"},
		{map[string]string{"trees": "ten"}, "not an integer"},
		{map[string]string{"criterion": "gini"}, "want KL, ED, Chi or DDP"},
		{map[string]string{"min_leaf": "NaN"}, "not a finite number"},
		{map[string]string{"bins": "300"}, "max bins 300"},
		{map[string]string{"seed": "-1"}, "seed"},
	} {
		_, _, err := UpliftForestFromParams(tc.params)
		if err == nil || !errors.Is(err, ErrInput) || !upliftContains(err.Error(), tc.match) {
			t.Errorf("%v: error %v, want ErrInput mentioning %q", tc.params, err, tc.match)
		}
	}
	if _, _, err := UpliftTreeFromParams(map[string]string{"trees": "3"}); err == nil {
		t.Errorf("tree accepted the forest parameter trees")
	}
}

func FuzzUpliftForestFromParams(f *testing.F) {
	f.Add("trees", "10", "criterion", "KL")
	f.Add("depth", "-3", "min_leaf", "1e400")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		fo, _, err := UpliftForestFromParams(map[string]string{k1: v1, k2: v2})
		if err != nil {
			if !errors.Is(err, ErrInput) {
				t.Fatalf("error %v does not wrap ErrInput", err)
			}
			return
		}
		if fo.Trees < 0 || fo.Tree.validate() != nil {
			t.Fatalf("accepted invalid forest %+v", fo)
		}
	})
}

func TestUpliftLoadMalformed(t *testing.T) {
	for _, tc := range []struct{ name, payload string }{
		{"tree without nodes", `{"format":1,"kind":"uplift-tree","payload":{"Arms":1,"Features":1,"Nodes":[]}}`},
		{"child before parent", `{"format":1,"kind":"uplift-tree","payload":{"Arms":1,"Features":1,"Nodes":[{"l":0,"r":0}]}}`},
		{"leaf rates", `{"format":1,"kind":"uplift-tree","payload":{"Arms":2,"Features":1,"Nodes":[{"l":-1,"p":[0.1,0.2]}]}}`},
		{"feature range", `{"format":1,"kind":"uplift-tree","payload":{"Arms":1,"Features":1,"Nodes":[{"f":3,"l":1,"r":2},{"l":-1,"p":[0,0]},{"l":-1,"p":[0,0]}]}}`},
		{"forest without trees", `{"format":1,"kind":"uplift-forest","payload":{"Arms":1,"Features":1,"Trees":[]}}`},
		{"causal forest arms", `{"format":1,"kind":"causal-forest","payload":{"Arms":2,"Features":1,"GroupSize":2,"Forests":[[{"Nodes":[{"l":-1,"n":1,"w":0,"y":0,"wy":0,"ww":0}]}]]}}`},
		{"causal tree loop", `{"format":1,"kind":"causal-forest","payload":{"Arms":1,"Features":1,"GroupSize":2,"Forests":[[{"Nodes":[{"l":0,"r":0,"n":1,"w":0,"y":0,"wy":0,"ww":0}]}]]}}`},
	} {
		if _, err := Unmarshal([]byte(tc.payload)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: error %v, want ErrFormat", tc.name, err)
		}
	}
}

func FuzzUpliftLoad(f *testing.F) {
	d, _ := upliftStepData(500, 1, rand.NewPCG(1, 2))
	tree, _ := UpliftTree{MaxDepth: 2, MinLeaf: 50}.Fit(d, rand.NewPCG(1, 1))
	b, _ := Marshal(tree)
	f.Add(b)
	cf, _ := CausalForest{Trees: 2, NuisanceTrees: 2}.Fit(d, rand.NewPCG(1, 1))
	b, _ = Marshal(cf)
	f.Add(b)
	x := mat.NewDense(3, 5, []float64{0, 0, 0, 0, 0, 1, -1, 2, math.NaN(), 0, -3, 3, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Unmarshal(b)
		if err != nil {
			return
		}
		switch m := v.(type) {
		case *UpliftTreeModel:
			if m.Features == 5 {
				m.Effects(nil, x)
			}
		case *UpliftForestModel:
			if m.Features == 5 {
				m.Effects(nil, x)
			}
		case *CausalForestModel:
			if m.Features == 5 {
				m.Intervals(nil, nil, x, 0.9)
			}
		}
	})
}
