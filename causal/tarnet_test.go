package causal

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// tarnetData draws n rows with x ~ U(−1, 1)^4, t ~ Bernoulli(0.5) and
//
//	y = x1 + 0.5·x2 + t·τ(x) + 0.3·ε,  τ(x) = sin(π x1) + x2²,
//
// a nonlinear effect no linear outcome model can represent.
func tarnetData(n int, seed uint64) (UpliftData, []float64) {
	rng := rand.New(rand.NewPCG(seed, 11))
	x := mat.NewDense(n, 4, nil)
	d := UpliftData{X: x, Arms: 1, Treatment: make([]int, n), Y: make([]float64, n)}
	tau := make([]float64, n)
	for i := 0; i < n; i++ {
		for j := 0; j < 4; j++ {
			x.Set(i, j, 2*rng.Float64()-1)
		}
		x1, x2 := x.At(i, 0), x.At(i, 1)
		tau[i] = math.Sin(math.Pi*x1) + x2*x2
		if rng.Float64() < 0.5 {
			d.Treatment[i] = 1
		}
		d.Y[i] = x1 + 0.5*x2 + float64(d.Treatment[i])*tau[i] + 0.3*rng.NormFloat64()
	}
	return d, tau
}

func effectMSE(m UpliftModel, x *mat.Dense, tau []float64) float64 {
	eff := m.Effects(nil, x)
	s := 0.0
	for i, v := range tau {
		d := eff.At(i, 0) - v
		s += d * d
	}
	return s / float64(len(tau))
}

func TestTARNetRecoversNonlinearEffect(t *testing.T) {
	train, _ := tarnetData(1500, 1)
	test, tau := tarnetData(1000, 2)
	ols, err := TLearner{Base: Linear{}}.FitUplift(train, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	base := effectMSE(ols, test.X, tau)
	for _, tc := range []struct {
		name string
		est  UpliftEstimator
	}{
		{"tarnet", TARNet{}},
		{"dragonnet", TARNet{Alpha: 1}},
		{"t/mlp", TLearner{Base: MLP{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.est.FitUplift(train, rand.NewPCG(3, 4))
			if err != nil {
				t.Fatal(err)
			}
			got := effectMSE(m, test.X, tau)
			// T-learner OLS cannot fit sin(π x1) + x2²: its MSE is
			// about the variance of the nonlinear part (≈ 0.5).
			if got > 0.3*base || got > 0.15 {
				t.Errorf("effect MSE %.4f, want below 0.15 and 30%% of the T-learner OLS %.4f", got, base)
			}
		})
	}
}

func TestTARNetDeterministic(t *testing.T) {
	d, _ := tarnetData(300, 5)
	for _, est := range []TARNet{{NetOptions: NetOptions{Epochs: 20}}, {NetOptions: NetOptions{Epochs: 20, Nets: 2}, Alpha: 0.5}} {
		a, err := est.Fit(d, rand.NewPCG(7, 8))
		if err != nil {
			t.Fatal(err)
		}
		b, err := est.Fit(d, rand.NewPCG(7, 8))
		if err != nil {
			t.Fatal(err)
		}
		c, err := est.Fit(d, rand.NewPCG(9, 8))
		if err != nil {
			t.Fatal(err)
		}
		ea, eb, ec := a.Effects(nil, d.X), b.Effects(nil, d.X), c.Effects(nil, d.X)
		if !mat.Equal(ea, eb) {
			t.Errorf("alpha %v: two fits from the same seed differ", est.Alpha)
		}
		if mat.Equal(ea, ec) {
			t.Errorf("alpha %v: fits from different seeds are identical", est.Alpha)
		}
	}
}

// TestNetworkGradient checks the back-propagated gradient against central
// finite differences of the loss, for squared and log loss, with and
// without a propensity head, on two and three groups.
func TestNetworkGradient(t *testing.T) {
	for _, tc := range []struct {
		name           string
		groups         int
		alpha          float64
		classification bool
		head           []int
	}{
		{"regression", 2, 0, false, []int{4}},
		{"propensity", 3, 0.7, false, []int{4, 3}},
		{"classification", 2, 0.5, true, nil},
		{"mlp", 1, 0, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			const n, in = 12, 3
			x := make([]float64, n*in)
			for i := range x {
				x[i] = rng.NormFloat64()
			}
			y, w, g := make([]float64, n), make([]float64, n), make([]int, n)
			for i := range y {
				g[i] = i % tc.groups
				w[i] = 0.5 + rng.Float64()
				y[i] = rng.NormFloat64()
				if tc.classification {
					y[i] = float64(i % 2)
				}
			}
			classes := 0
			if tc.alpha > 0 {
				classes = tc.groups
			}
			net := newNetwork(netShape{in: in, trunk: []int{5, 4}, head: tc.head, heads: tc.groups, classes: classes}, rng)
			cfg := netConfig{alpha: tc.alpha, classification: tc.classification}
			tr := newNetTrainer(net, x, in, y, w, g, cfg, n)
			rows := make([]int, n)
			for i := range rows {
				rows[i] = i
			}
			tr.gradient(rows)
			got := make([][]float64, len(tr.params))
			for i, p := range tr.params {
				got[i] = append([]float64(nil), p.g...)
			}
			const h = 1e-6
			for i, p := range tr.params {
				for j := range p.w {
					old := p.w[j]
					p.w[j] = old + h
					up := tr.gradient(rows)
					p.w[j] = old - h
					down := tr.gradient(rows)
					p.w[j] = old
					want := (up - down) / (2 * h)
					if math.Abs(got[i][j]-want) > 1e-6*math.Max(1, math.Abs(want)) {
						t.Fatalf("parameter block %d entry %d: gradient %.9g, finite difference %.9g", i, j, got[i][j], want)
					}
				}
			}
		})
	}
}

func TestTARNetSaveLoad(t *testing.T) {
	d, _ := tarnetData(200, 3)
	d.Weights = make([]float64, 200)
	for i := range d.Weights {
		d.Weights[i] = 1 + float64(i%3)
	}
	m, err := TARNet{NetOptions: NetOptions{Epochs: 10, Nets: 2}, Alpha: 1}.Fit(d, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(m.Effects(nil, d.X), v.(UpliftModel).Effects(nil, d.X)) {
		t.Error("loaded model's effects differ")
	}
	// A corrupt model is an error on load, not a panic on predict.
	bad := strings.Replace(string(b), `"arms":1`, `"arms":2`, 1)
	if _, err := Unmarshal([]byte(bad)); !errors.Is(err, ErrFormat) {
		t.Errorf("model with a head missing: err %v, want ErrFormat", err)
	}

	mlp, err := MLP{NetOptions: NetOptions{Epochs: 10}}.Fit(d.X, d.Y, d.Weights, Regression, rand.NewPCG(2, 2))
	if err != nil {
		t.Fatal(err)
	}
	v = reload(t, mlp.(Kinded))
	p1, p2 := mlp.Predict(nil, d.X), v.(Model).Predict(nil, d.X)
	for i := range p1 {
		if p1[i] != p2[i] {
			t.Fatalf("loaded mlp predicts %v for row %d, want %v", p2[i], i, p1[i])
		}
	}
}

func TestTARNetBinaryAndArms(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	const n = 1200
	x := mat.NewDense(n, 3, nil)
	d := UpliftData{X: x, Arms: 2, Treatment: make([]int, n), Y: make([]float64, n), Categorical: []bool{false, false, true}}
	for i := 0; i < n; i++ {
		x.Set(i, 0, rng.NormFloat64())
		x.Set(i, 1, rng.NormFloat64())
		x.Set(i, 2, float64(rng.IntN(3)))
		d.Treatment[i] = i % 3
		// Arm 1 raises P(y=1) from 0.2 to 0.6; arm 2 leaves it.
		p := 0.2
		if d.Treatment[i] == 1 {
			p = 0.6
		}
		if rng.Float64() < p {
			d.Y[i] = 1
		}
	}
	// The model's mean effects should match the differences in means.
	var sum, cnt [3]float64
	for i, v := range d.Y {
		sum[d.Treatment[i]] += v
		cnt[d.Treatment[i]]++
	}
	want1, want2 := sum[1]/cnt[1]-sum[0]/cnt[0], sum[2]/cnt[2]-sum[0]/cnt[0]
	m, err := TARNet{}.Fit(d, rand.NewPCG(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Classification {
		t.Fatal("0/1 outcomes not fitted by log loss")
	}
	eff := m.Effects(nil, x)
	if r, c := eff.Dims(); r != n || c != 2 {
		t.Fatalf("effects %d×%d, want %d×2", r, c, n)
	}
	var m1, m2 float64
	for i := 0; i < n; i++ {
		m1 += eff.At(i, 0) / n
		m2 += eff.At(i, 1) / n
		if math.Abs(eff.At(i, 0)) > 1 || math.Abs(eff.At(i, 1)) > 1 {
			t.Fatalf("row %d: effect outside [−1, 1]: %v", i, mat.Row(nil, i, eff))
		}
	}
	if math.Abs(m1-want1) > 0.04 || math.Abs(m2-want2) > 0.04 {
		t.Errorf("mean effects %.3f, %.3f; want about the differences in means %.3f, %.3f", m1, m2, want1, want2)
	}
	out := m.Outcomes(x)
	for k := 0; k < 3; k++ {
		mean := 0.0
		for i := 0; i < n; i++ {
			mean += out.At(i, k) / n
		}
		if want := sum[k] / cnt[k]; math.Abs(mean-want) > 0.04 {
			t.Errorf("mean predicted outcome of arm %d %.3f, want about %.3f", k, mean, want)
		}
	}
}

func TestTARNetRegistryParams(t *testing.T) {
	r := NewRegistry()
	for _, tc := range []struct {
		name   string
		params map[string]string
		ok     bool
	}{
		{"tarnet", map[string]string{"hidden": "32", "layers": "1", "head_layers": "0", "l2": "0", "val_fraction": "0", "nets": "2", "epochs": "5"}, true},
		{"dragonnet", map[string]string{"alpha": "0.5", "learn_rate": "0.01"}, true},
		{"t", map[string]string{"base": "mlp", "hidden": "16", "epochs": "5"}, true},
		{"tarnet", map[string]string{"alpha": "1"}, false},
		{"tarnet", map[string]string{"hidden": "0"}, false},
		{"tarnet", map[string]string{"layers": "-1"}, false},
		{"tarnet", map[string]string{"epochs": "many"}, false},
		{"tarnet", map[string]string{"learn_rate": "0"}, false},
		{"tarnet", map[string]string{"l2": "-0.1"}, false},
		{"tarnet", map[string]string{"val_fraction": "0.95"}, false},
		{"tarnet", map[string]string{"outcome": "counts"}, false},
		{"dragonnet", map[string]string{"alpha": "0"}, false},
		{"t", map[string]string{"base": "mlp", "head_hidden": "8"}, false},
	} {
		est, err := r.NewEstimator(tc.name, tc.params)
		if tc.ok != (err == nil) {
			t.Errorf("%s %v: err %v, want ok %v", tc.name, tc.params, err, tc.ok)
			continue
		}
		if !tc.ok {
			if !errors.Is(err, ErrParam) {
				t.Errorf("%s %v: err %v does not wrap ErrParam", tc.name, tc.params, err)
			}
			continue
		}
		d, _ := tarnetData(120, 6)
		if _, err := est.FitUplift(d, rand.NewPCG(1, 1)); err != nil {
			t.Errorf("%s %v: fit: %v", tc.name, tc.params, err)
		}
	}
}

func BenchmarkTARNetFit(b *testing.B) {
	d, _ := tarnetData(672, 1)
	for _, tc := range []struct {
		name string
		est  TARNet
	}{
		{"tarnet/epochs=50", TARNet{NetOptions: NetOptions{Epochs: 50, ValFraction: -1}}},
		{"dragonnet/epochs=50", TARNet{NetOptions: NetOptions{Epochs: 50, ValFraction: -1}, Alpha: 1}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.est.Fit(d, rand.NewPCG(1, 1)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkTARNetEffects(b *testing.B) {
	d, _ := tarnetData(10000, 1)
	m, err := TARNet{NetOptions: NetOptions{Epochs: 2}}.Fit(d, rand.NewPCG(1, 1))
	if err != nil {
		b.Fatal(err)
	}
	dst := mat.NewDense(10000, 1, nil)
	b.ReportAllocs()
	for b.Loop() {
		m.Effects(dst, d.X)
	}
}

func TestNetL2Default(t *testing.T) {
	for _, tc := range []struct {
		l2   float64
		n    int
		want float64
	}{
		{0, 500, 0.01},
		{0, 1000, 0.01},
		{0, 100_000, 1e-4},
		{0, 2_000_000, 5e-6},
		{-1, 100_000, 0},
		{0.3, 100_000, 0.3},
	} {
		o, err := NetOptions{L2: tc.l2}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if got := o.config(tc.n, 0, true).l2; math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("l2 %v on %d rows: got %v, want %v", tc.l2, tc.n, got, tc.want)
		}
	}
	if _, err := (NetOptions{L2: math.NaN()}).withDefaults(); !errors.Is(err, ErrParam) {
		t.Errorf("l2 NaN: got %v, want ErrParam", err)
	}
}

func TestNetsDefault(t *testing.T) {
	for _, tc := range []struct {
		n, want int
	}{
		{1, 5}, {672, 5}, {6_666, 5}, {6_667, 1}, {13_334, 1}, {1_000_000, 1},
	} {
		if got := DefaultNets(tc.n); got != tc.want {
			t.Errorf("DefaultNets(%d) = %d, want %d", tc.n, got, tc.want)
		}
		// More than one network only within 1,000,000 row visits.
		if v := DefaultNets(tc.n) * tc.n * DefaultEpochs(tc.n); DefaultNets(tc.n) > 1 && v > 1_000_000 {
			t.Errorf("%d rows: %d row visits", tc.n, v)
		}
	}
	d, _ := tarnetData(200, 3)
	for _, tc := range []struct {
		nets, want int
	}{
		{0, DefaultNets(200)}, {2, 2},
	} {
		m, err := TARNet{NetOptions: NetOptions{Epochs: 2, Nets: tc.nets}}.Fit(d, rand.NewPCG(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Nets) != tc.want {
			t.Errorf("nets %d: fitted %d networks, want %d", tc.nets, len(m.Nets), tc.want)
		}
	}
	mlp, err := MLP{NetOptions: NetOptions{Epochs: 2}}.Fit(d.X, d.Y, nil, Regression, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(mlp.(*MLPModel).Nets); got != 1 {
		t.Errorf("mlp fitted %d networks by default, want 1", got)
	}
}

func TestNetStepDefaults(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want float64
	}{
		{1, 0.003}, {672, 0.003}, {6_666, 0.003}, {6_667, 0.001}, {1_000_000, 0.001},
	} {
		if got := DefaultNetLearnRate(tc.n); got != tc.want {
			t.Errorf("DefaultNetLearnRate(%d) = %v, want %v", tc.n, got, tc.want)
		}
		wantBatch := 64
		if tc.want == 0.003 {
			wantBatch = 32
		}
		if got := DefaultNetBatch(tc.n); got != wantBatch {
			t.Errorf("DefaultNetBatch(%d) = %v, want %v", tc.n, got, wantBatch)
		}
	}
	if _, err := (NetOptions{Batch: -1}).withDefaults(); !errors.Is(err, ErrParam) {
		t.Errorf("batch -1: got %v, want ErrParam", err)
	}
	for _, lr := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, err := (NetOptions{LearnRate: lr}).withDefaults(); !errors.Is(err, ErrParam) {
			t.Errorf("learn rate %v: got %v, want ErrParam", lr, err)
		}
	}
}
