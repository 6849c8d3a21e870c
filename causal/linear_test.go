package causal

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// linTestData draws n rows of p standard-normal features (column j scaled
// by j+1 and shifted by j so standardisation matters) and returns x and the
// linear index β0 + Σ β_j x_j.
func linTestData(n int, beta []float64, seed uint64) (*mat.Dense, []float64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	p := len(beta) - 1
	x := mat.NewDense(n, p, nil)
	eta := make([]float64, n)
	for i := 0; i < n; i++ {
		s := beta[0]
		for j := 0; j < p; j++ {
			v := rng.NormFloat64()*float64(j+1) + float64(j)
			x.Set(i, j, v)
			s += beta[j+1] * v
		}
		eta[i] = s
	}
	return x, eta
}

// linCheckStationary checks the optimality conditions of the penalised fit:
// Σ w·r = 0 and Σ w·r·x_j = L2·c_j·sd_j² for every column j, where r is the
// residual y − ŷ and sd_j the weighted standard deviation of column j.
func linCheckStationary(t *testing.T, m *LinearModel, x *mat.Dense, y, w []float64, l2 float64) {
	t.Helper()
	n, p := x.Dims()
	pred := m.Predict(nil, x)
	var sw, s0 float64
	grad := make([]float64, p)
	mean := make([]float64, p)
	for i := 0; i < n; i++ {
		wi := 1.0
		if w != nil {
			wi = w[i]
		}
		sw += wi
		r := wi * (y[i] - pred[i])
		s0 += r
		for j := 0; j < p; j++ {
			grad[j] += r * x.At(i, j)
			mean[j] += wi * x.At(i, j)
		}
	}
	scale := math.Sqrt(sw)
	if math.Abs(s0) > 1e-6*scale {
		t.Errorf("intercept gradient = %g, want 0", s0)
	}
	for j := 0; j < p; j++ {
		mean[j] /= sw
		var v float64
		for i := 0; i < n; i++ {
			wi := 1.0
			if w != nil {
				wi = w[i]
			}
			d := x.At(i, j) - mean[j]
			v += wi * d * d
		}
		want := l2 * m.Coef[j] * v / sw
		if math.Abs(grad[j]-want) > 1e-6*scale*math.Sqrt(v/sw)*(1+math.Abs(want)) {
			t.Errorf("gradient of coefficient %d = %g, want %g", j, grad[j], want)
		}
	}
}

func TestLinearRegressionRecoversCoefficients(t *testing.T) {
	beta := []float64{1, 2, -3, 0.5}
	x, y := linTestData(500, beta, 1)
	m, err := Linear{L2: 1e-10}.Fit(x, y, nil, Regression, nil)
	if err != nil {
		t.Fatal(err)
	}
	lm := m.(*LinearModel)
	if math.Abs(lm.Intercept-beta[0]) > 1e-7 {
		t.Errorf("intercept = %v, want %v", lm.Intercept, beta[0])
	}
	for j, c := range lm.Coef {
		if math.Abs(c-beta[j+1]) > 1e-7 {
			t.Errorf("coef %d = %v, want %v", j, c, beta[j+1])
		}
	}
}

func TestLinearStationary(t *testing.T) {
	beta := []float64{-0.5, 0.8, -0.4, 0.3}
	for _, tc := range []struct {
		name     string
		n        int
		task     Task
		l2       float64
		weighted bool
	}{
		{"ls/small", 60, Regression, 5, false},
		{"ls/weighted", 300, Regression, 1, true},
		{"ls/parallel", 40000, Regression, 100, true},
		{"logistic/small", 80, Classification, 2, false},
		{"logistic/weighted", 500, Classification, 1, true},
		{"logistic/parallel", 40000, Classification, 50, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, eta := linTestData(tc.n, beta, 7)
			rng := rand.New(rand.NewPCG(3, 4))
			y := make([]float64, tc.n)
			var w []float64
			if tc.weighted {
				w = make([]float64, tc.n)
			}
			for i := range y {
				if tc.task == Classification {
					if rng.Float64() < sigmoid(eta[i]) {
						y[i] = 1
					}
				} else {
					y[i] = eta[i] + rng.NormFloat64()
				}
				if w != nil {
					w[i] = rng.Float64() * 3
				}
			}
			m, err := Linear{L2: tc.l2}.Fit(x, y, w, tc.task, nil)
			if err != nil {
				t.Fatal(err)
			}
			linCheckStationary(t, m.(*LinearModel), x, y, w, tc.l2)
		})
	}
}

func TestLogisticRecoversCoefficients(t *testing.T) {
	beta := []float64{-1, 1, -0.5, 0.25}
	n := 100000
	x, eta := linTestData(n, beta, 11)
	rng := rand.New(rand.NewPCG(5, 6))
	y := make([]float64, n)
	for i := range y {
		if rng.Float64() < sigmoid(eta[i]) {
			y[i] = 1
		}
	}
	m, err := Linear{}.Fit(x, y, nil, Classification, nil)
	if err != nil {
		t.Fatal(err)
	}
	lm := m.(*LinearModel)
	// Standard errors are about 0.02 at this size.
	if math.Abs(lm.Intercept-beta[0]) > 0.1 {
		t.Errorf("intercept = %v, want %v", lm.Intercept, beta[0])
	}
	for j, c := range lm.Coef {
		if math.Abs(c-beta[j+1]) > 0.05 {
			t.Errorf("coef %d = %v, want %v", j, c, beta[j+1])
		}
	}
	p := m.Predict(nil, x)
	for i := range p {
		if !(p[i] > 0 && p[i] < 1) {
			t.Fatalf("prediction %d = %v, want a probability", i, p[i])
		}
	}
}

func TestLinearWeightsEqualReplication(t *testing.T) {
	beta := []float64{0.2, 1, -1}
	x, eta := linTestData(40, beta, 2)
	y := make([]float64, 40)
	w := make([]float64, 40)
	var rows [][]float64
	var yr []float64
	for i := range y {
		if eta[i] > 0.3 {
			y[i] = 1
		}
		if i%5 == 0 {
			y[i] = 1 - y[i]
		}
		w[i] = float64(i%3 + 1)
		for k := 0; k < int(w[i]); k++ {
			rows = append(rows, mat.Row(nil, i, x))
			yr = append(yr, y[i])
		}
	}
	xr := mat.NewDense(len(rows), 2, nil)
	for i, r := range rows {
		xr.SetRow(i, r)
	}
	for _, task := range []Task{Regression, Classification} {
		a, err := Linear{L2: 0.5}.Fit(x, y, w, task, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Linear{L2: 0.5}.Fit(xr, yr, nil, task, nil)
		if err != nil {
			t.Fatal(err)
		}
		pa, pb := a.Predict(nil, x), b.Predict(nil, x)
		for i := range pa {
			if math.Abs(pa[i]-pb[i]) > 1e-8 {
				t.Fatalf("task %d row %d: weighted %v, replicated %v", task, i, pa[i], pb[i])
			}
		}
	}
}

func TestLogisticSeparable(t *testing.T) {
	x := mat.NewDense(6, 1, []float64{-3, -2, -1, 1, 2, 3})
	y := []float64{0, 0, 0, 1, 1, 1}
	m, err := Linear{}.Fit(x, y, nil, Classification, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := m.(*LinearModel).Coef[0]
	if math.IsNaN(c) || math.IsInf(c, 0) || c <= 0 {
		t.Fatalf("coef = %v, want finite positive", c)
	}
	linCheckStationary(t, m.(*LinearModel), x, y, nil, DefaultL2)
}

func TestLinearConstantColumn(t *testing.T) {
	x := mat.NewDense(5, 2, []float64{1, 7, 2, 7, 3, 7, 4, 7, 5, 7})
	y := []float64{3, 5, 7, 9, 11}
	m, err := Linear{L2: 1e-12}.Fit(x, y, nil, Regression, nil)
	if err != nil {
		t.Fatal(err)
	}
	lm := m.(*LinearModel)
	if lm.Coef[1] != 0 || math.Abs(lm.Coef[0]-2) > 1e-9 || math.Abs(lm.Intercept-1) > 1e-9 {
		t.Fatalf("got intercept %v coef %v, want 1 [2 0]", lm.Intercept, lm.Coef)
	}
}

func TestLinearErrors(t *testing.T) {
	x := mat.NewDense(3, 1, []float64{1, 2, 3})
	nanX := mat.NewDense(3, 1, []float64{1, math.NaN(), 3})
	for _, tc := range []struct {
		name string
		l    Linear
		x    *mat.Dense
		y, w []float64
		task Task
		want error
	}{
		{"short y", Linear{}, x, []float64{1, 2}, nil, Regression, ErrInput},
		{"short w", Linear{}, x, []float64{1, 2, 3}, []float64{1}, Regression, ErrInput},
		{"nan x", Linear{}, nanX, []float64{1, 2, 3}, nil, Regression, ErrInput},
		{"inf y", Linear{}, x, []float64{1, math.Inf(1), 3}, nil, Regression, ErrInput},
		{"y out of range", Linear{}, x, []float64{0, 2, 1}, nil, Classification, ErrInput},
		{"negative weight", Linear{}, x, []float64{1, 2, 3}, []float64{1, -1, 1}, Regression, ErrInput},
		{"zero weights", Linear{}, x, []float64{1, 2, 3}, []float64{0, 0, 0}, Regression, ErrInput},
		{"negative l2", Linear{L2: -1}, x, []float64{1, 2, 3}, nil, Regression, ErrParam},
		{"bad task", Linear{}, x, []float64{1, 2, 3}, nil, Task(9), ErrParam},
		{"bad code", Linear{Categorical: []bool{true}}, mat.NewDense(3, 1, []float64{0, 1.5, 2}), []float64{1, 2, 3}, nil, Regression, ErrInput},
		{"flags", Linear{Categorical: []bool{true, false}}, x, []float64{1, 2, 3}, nil, Regression, ErrInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.l.Fit(tc.x, tc.y, tc.w, tc.task, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestLinearCategoricalMatchesManualOneHot(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	n := 300
	x := mat.NewDense(n, 2, nil)
	manual := mat.NewDense(n, 3, nil) // x0, 1{code=2}, 1{code=5}
	y := make([]float64, n)
	codes := []float64{1, 2, 5}
	effect := map[float64]float64{1: 0, 2: 1.5, 5: -2}
	for i := 0; i < n; i++ {
		v := rng.NormFloat64()
		c := codes[rng.IntN(3)]
		x.Set(i, 0, c)
		x.Set(i, 1, v)
		manual.Set(i, 0, v)
		if c == 2 {
			manual.Set(i, 1, 1)
		}
		if c == 5 {
			manual.Set(i, 2, 1)
		}
		y[i] = 0.5 + v + effect[c] + 0.1*rng.NormFloat64()
	}
	// The encoder puts x0's indicators first: reorder manual to match.
	re := mat.NewDense(n, 3, nil)
	for i := 0; i < n; i++ {
		re.Set(i, 0, manual.At(i, 1))
		re.Set(i, 1, manual.At(i, 2))
		re.Set(i, 2, manual.At(i, 0))
	}
	a, err := Linear{L2: 0.1, Categorical: []bool{true, false}}.Fit(x, y, nil, Regression, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Linear{L2: 0.1}.Fit(re, y, nil, Regression, nil)
	if err != nil {
		t.Fatal(err)
	}
	pa, pb := a.Predict(nil, x), b.Predict(nil, re)
	for i := range pa {
		if math.Abs(pa[i]-pb[i]) > 1e-10 {
			t.Fatalf("row %d: categorical %v, manual %v", i, pa[i], pb[i])
		}
	}
	lm := a.(*LinearModel)
	if math.Abs(lm.Coef[0]-1.5) > 0.1 || math.Abs(lm.Coef[1]+2) > 0.1 {
		t.Errorf("level effects = %v, want about [1.5 -2]", lm.Coef[:2])
	}
}

func TestLinearModelRoundTrip(t *testing.T) {
	beta := []float64{0.1, 1, -1}
	x, eta := linTestData(200, beta, 4)
	y := make([]float64, len(eta))
	for i, e := range eta {
		if e > 0 {
			y[i] = 1
		}
	}
	xc := mat.DenseCopyOf(x)
	for i := 0; i < 200; i++ {
		xc.Set(i, 1, float64(i%4))
	}
	for _, tc := range []struct {
		name string
		l    Linear
		x    *mat.Dense
	}{
		{"numeric", Linear{}, x},
		{"categorical", Linear{Categorical: []bool{false, true}}, xc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.l.Fit(tc.x, y, nil, Classification, nil)
			if err != nil {
				t.Fatal(err)
			}
			v := reload(t, m.(Kinded))
			got, want := v.(Model).Predict(nil, tc.x), m.Predict(nil, tc.x)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("row %d: reloaded %v, original %v", i, got[i], want[i])
				}
			}
		})
	}
}

func BenchmarkLinearFit(b *testing.B) {
	for _, n := range []int{10000, 1000000} {
		d := SimulateReference(n, rand.NewPCG(1, 2))
		for _, tc := range []struct {
			name string
			task Task
		}{{"ls", Regression}, {"logistic", Classification}} {
			b.Run(tc.name+"/size="+strconv.Itoa(n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := (Linear{}).Fit(d.X, d.Y, nil, tc.task, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkLinearPredict(b *testing.B) {
	d := SimulateReference(1000000, rand.NewPCG(1, 2))
	m, err := Linear{}.Fit(d.X, d.Y, nil, Classification, nil)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float64, 1000000)
	b.ReportAllocs()
	for b.Loop() {
		m.Predict(dst, d.X)
	}
}
