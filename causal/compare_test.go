package causal

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// cmpTestSplit estimates, for each arm, the difference in mean outcome
// between the arm and control separately for x0 > 0 and x0 <= 0.
type cmpTestSplit struct{}

type cmpTestSplitModel struct{ eff [][2]float64 } // [arm-1][x0 > 0]

func (cmpTestSplit) FitUplift(d UpliftData, _ rand.Source) (UpliftModel, error) {
	var sum, cnt [][2][2]float64 // [arm][side][]
	sum = make([][2][2]float64, d.Arms+1)
	cnt = make([][2][2]float64, d.Arms+1)
	for i, t := range d.Treatment {
		s := 0
		if d.X.At(i, 0) > 0 {
			s = 1
		}
		sum[t][s][0] += d.Y[i]
		cnt[t][s][0]++
	}
	m := &cmpTestSplitModel{eff: make([][2]float64, d.Arms)}
	for a := 1; a <= d.Arms; a++ {
		for s := range 2 {
			m.eff[a-1][s] = sum[a][s][0]/cnt[a][s][0] - sum[0][s][0]/cnt[0][s][0]
		}
	}
	return m, nil
}

func (m *cmpTestSplitModel) Effects(dst, x *mat.Dense) *mat.Dense {
	n, _ := x.Dims()
	if dst == nil {
		dst = mat.NewDense(n, len(m.eff), nil)
	}
	for i := range n {
		s := 0
		if x.At(i, 0) > 0 {
			s = 1
		}
		for k := range m.eff {
			dst.Set(i, k, m.eff[k][s])
		}
	}
	return dst
}

// cmpTestNoise scores rows by a hash of their features: a useless model.
type cmpTestNoise struct{}

type cmpTestNoiseModel struct{ arms int }

func (cmpTestNoise) FitUplift(d UpliftData, _ rand.Source) (UpliftModel, error) {
	return cmpTestNoiseModel{d.Arms}, nil
}

func (m cmpTestNoiseModel) Effects(dst, x *mat.Dense) *mat.Dense {
	n, _ := x.Dims()
	if dst == nil {
		dst = mat.NewDense(n, m.arms, nil)
	}
	for i := range n {
		h := math.Float64bits(x.At(i, 1))*0x9e3779b97f4a7c15 + math.Float64bits(x.At(i, 0))
		for k := range m.arms {
			dst.Set(i, k, float64((h>>uint(20+k))&0xffff))
		}
	}
	return dst
}

type cmpTestFail struct{}

func (cmpTestFail) FitUplift(UpliftData, rand.Source) (UpliftModel, error) {
	return nil, errors.New("cannot fit")
}

// cmpTestData has two treated arms: arm 1 helps only when x0 > 0, arm 2
// helps everyone a little. Outcome is binary.
func cmpTestData(n int, seed uint64) UpliftData {
	rng := rand.New(rand.NewPCG(seed, 3))
	x := mat.NewDense(n, 2, nil)
	d := UpliftData{X: x, Treatment: make([]int, n), Arms: 2, Y: make([]float64, n)}
	for i := range n {
		x0, x1 := rng.NormFloat64(), rng.NormFloat64()
		x.Set(i, 0, x0)
		x.Set(i, 1, x1)
		t := rng.IntN(3)
		d.Treatment[i] = t
		p := 0.2
		if t == 1 && x0 > 0 {
			p += 0.3
		}
		if t == 2 {
			p += 0.05
		}
		if rng.Float64() < p {
			d.Y[i] = 1
		}
	}
	return d
}

func TestCompareEstimators(t *testing.T) {
	d := cmpTestData(6000, 1)
	ests := []NamedEstimator{{"split", cmpTestSplit{}}, {"noise", cmpTestNoise{}}}
	cfg := CompareConfig{Folds: 3, Bootstrap: Bootstrap{Resamples: 100}}
	c, err := CompareEstimators(d, ests, cfg, rand.NewPCG(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Arms) != 2 || len(c.Arms[0].Scores) != 2 || len(c.Arms[0].Pairs) != 1 {
		t.Fatalf("shape: %+v", c)
	}
	a1 := c.Arms[0]
	split, noise := a1.Scores[0], a1.Scores[1]
	// With a binary outcome the perfect curve sorts individual responses,
	// so even the true effect ranking scores far below 1.
	if !(split.Qini > 0.08 && math.Abs(noise.Qini) < 0.05) {
		t.Errorf("arm 1: split qini %v, noise qini %v", split.Qini, noise.Qini)
	}
	p := a1.Pairs[0]
	if p.A != "split" || p.B != "noise" || !(p.QiniCI.Lo > 0) || !(p.AUUCCI.Lo > 0) {
		t.Errorf("arm 1 paired difference %+v: interval should exclude 0", p)
	}
	if !metricsClose(p.Qini, split.Qini-noise.Qini) {
		t.Errorf("paired qini difference %v, want %v", p.Qini, split.Qini-noise.Qini)
	}
	// The paired interval is narrower than the two separate spreads added.
	if w := p.QiniCI.Hi - p.QiniCI.Lo; w >= (split.QiniCI.Hi-split.QiniCI.Lo)+(noise.QiniCI.Hi-noise.QiniCI.Lo) {
		t.Errorf("paired interval width %v not below the sum of the separate widths", w)
	}
	// The evaluation uses only arm 1 and control units.
	var n1 float64
	for _, tr := range d.Treatment {
		if tr != 2 {
			n1++
		}
	}
	if a1.N != n1 {
		t.Errorf("arm 1 compares %v units, want %v", a1.N, n1)
	}
	// The out-of-fold ranking equals what CrossFitEffects gives.
	eff, err := CrossFitEffects(d, cmpTestSplit{}, 3, rand.NewPCG(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	var sc []float64
	var tr []int
	var y []float64
	for i, a := range d.Treatment {
		if a == 2 {
			continue
		}
		sc = append(sc, eff.At(i, 0))
		tr = append(tr, a)
		y = append(y, d.Y[i])
	}
	want, _ := UpliftScores(sc, tr, y, nil, 0.3)
	if !metricsClose(split.Qini, want.Qini) || !metricsClose(split.AUUC, want.AUUC) {
		t.Errorf("split scores %+v, want %+v", split, want)
	}

	// Same source, same result.
	c2, err := CompareEstimators(d, ests, cfg, rand.NewPCG(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if c2.Arms[1].Pairs[0] != c.Arms[1].Pairs[0] || c2.Arms[0].Scores[0] != c.Arms[0].Scores[0] {
		t.Errorf("not reproducible")
	}

	var buf bytes.Buffer
	if err := c.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, s := range []string{"arm 1 vs control", "arm 2 vs control", "split", "noise", "paired differences", "*", "sklift qini_auc_score"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	// With names, the table names the arms.
	c.ArmNames = []string{"none", "email", "sms"}
	buf.Reset()
	if err := c.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`arm "email" vs control "none"`, `arm "sms" vs control "none"`} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("named table lacks %q:\n%s", s, buf.String())
		}
	}
	// The comparison keeps the out-of-fold effects its metrics rank by.
	if len(c.Effects) != len(ests) {
		t.Fatalf("%d effect matrices for %d estimators", len(c.Effects), len(ests))
	}
	if r, k := c.Effects[0].Dims(); r != len(d.Y) || k != d.Arms {
		t.Errorf("effects are %d×%d, want %d×%d", r, k, len(d.Y), d.Arms)
	}
}

func TestCompareEstimatorsErrors(t *testing.T) {
	d := cmpTestData(300, 2)
	ok := []NamedEstimator{{"split", cmpTestSplit{}}}
	bad := d
	bad.Treatment = append([]int(nil), d.Treatment...)
	bad.Treatment[5] = 3
	for _, c := range []struct {
		name  string
		d     UpliftData
		ests  []NamedEstimator
		cfg   CompareConfig
		match string
	}{
		{"no estimators", d, nil, CompareConfig{}, "no estimators"},
		{"duplicate", d, []NamedEstimator{ok[0], ok[0]}, CompareConfig{}, "used twice"},
		{"folds", d, ok, CompareConfig{Folds: 1}, "at least 2 folds"},
		{"arm", bad, ok, CompareConfig{}, "treatment 5 is 3"},
		{"too many folds", d, ok, CompareConfig{Folds: 200}, "fewer than 200 folds"},
		{"fit fails", d, []NamedEstimator{{"broken", cmpTestFail{}}}, CompareConfig{}, "cannot fit"},
	} {
		_, err := CompareEstimators(c.d, c.ests, c.cfg, rand.NewPCG(1, 1))
		if err == nil || !strings.Contains(err.Error(), c.match) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.match)
		}
	}
}

// cmpTestPanic panics when fitted on fewer than rows rows.
type cmpTestPanic struct{ rows int }

func (p cmpTestPanic) FitUplift(d UpliftData, src rand.Source) (UpliftModel, error) {
	if len(d.Y) < p.rows {
		panic("planted panic")
	}
	return cmpTestSplit{}.FitUplift(d, src)
}

// TestCrossFitWorkers checks that folds fitted concurrently give exactly
// the effects of folds fitted one at a time, and that a fold's panic on
// its own goroutine comes back as that fold's error.
func TestCrossFitWorkers(t *testing.T) {
	d := cmpTestData(600, 4)
	fold, seeds, err := cmpFolds(d, 4, rand.NewPCG(2, 2))
	if err != nil {
		t.Fatal(err)
	}
	est := TLearner{Base: Forest{Trees: 20, MaxDepth: 4}} // draws from its source
	serial, err := cmpCrossFitWorkers(d, est, fold, seeds, rand.NewPCG(2, 2), 1)
	if err != nil {
		t.Fatal(err)
	}
	conc, err := cmpCrossFitWorkers(d, est, fold, seeds, rand.NewPCG(2, 2), 4)
	if err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(serial, conc) {
		t.Fatalf("concurrent folds differ from serial ones")
	}
	_, err = cmpCrossFitWorkers(d, cmpTestPanic{rows: len(d.Y)}, fold, seeds, nil, 4)
	if err == nil || err.Error() != "fold 1 of 4: panic: planted panic" {
		t.Fatalf("panicking fits: %v, want fold 1's panic as an error", err)
	}
}
