package causal

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestPercentileCI(t *testing.T) {
	// 101 values 0..100 shuffled, plus NaNs that are left out. Level 0.9:
	// the 5% quantile sits at position 0.05·100 = 5 → 5, the 95% at 95 → 95.
	v := make([]float64, 0, 103)
	for i := range 101 {
		v = append(v, float64(i))
	}
	v = append(v, math.NaN(), math.NaN())
	rand.New(rand.NewPCG(1, 1)).Shuffle(len(v), func(i, j int) { v[i], v[j] = v[j], v[i] })
	c := PercentileCI(v, 0.9)
	if !metricsClose(c.Lo, 5) || !metricsClose(c.Hi, 95) || c.Resamples != 101 {
		t.Errorf("got %+v, want [5, 95] over 101", c)
	}
	// Interpolation: values 0, 10; level 0.5 → quantiles 0.25, 0.75 → 2.5, 7.5.
	c = PercentileCI([]float64{10, 0}, 0.5)
	if c.Lo != 2.5 || c.Hi != 7.5 {
		t.Errorf("got %+v, want [2.5, 7.5]", c)
	}
	if c := PercentileCI([]float64{math.NaN()}, 0.9); !math.IsNaN(c.Lo) || c.Resamples != 0 {
		t.Errorf("all NaN: got %+v", c)
	}
}

func TestBootRunMultiplicities(t *testing.T) {
	const n = 1000
	cfg, _ := Bootstrap{Resamples: 50, Workers: 3}.withDefaults()
	res := bootRun(n, cfg, rand.NewPCG(1, 2), 2, func() func([]uint32, []float64) {
		return func(m []uint32, out []float64) {
			var s, zeros float64
			for _, c := range m {
				s += float64(c)
				if c == 0 {
					zeros++
				}
			}
			out[0], out[1] = s, zeros/n
		}
	})
	var meanZero float64
	for b := range 50 {
		if res[0][b] != n {
			t.Fatalf("resample %d has %v units, want %d", b, res[0][b], n)
		}
		meanZero += res[1][b] / 50
	}
	// A unit is left out with probability (1−1/n)^n ≈ e^−1.
	if math.Abs(meanZero-math.Exp(-1)) > 0.01 {
		t.Errorf("share of units left out = %v, want about %v", meanZero, math.Exp(-1))
	}
}

func TestUpliftReport(t *testing.T) {
	score, tr, y := metricsRandomData(4000, true, false, 11)
	r1, err := NewUpliftReport(score, tr, y, nil, Bootstrap{Resamples: 100, Workers: 1}, rand.NewPCG(7, 8))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := NewUpliftReport(score, tr, y, nil, Bootstrap{Resamples: 100, Workers: 2}, rand.NewPCG(7, 8))
	if err != nil {
		t.Fatal(err)
	}
	if r1.QiniCI != r2.QiniCI || r1.AUUCCI != r2.AUUCCI || r1.UpliftAt30CI != r2.UpliftAt30CI {
		t.Errorf("intervals depend on the number of workers: %+v vs %+v", r1, r2)
	}
	want, _ := UpliftScores(score, tr, y, nil, 0.3)
	if r1.Qini != want.Qini || r1.AUUC != want.AUUC || r1.UpliftAt30 != want.UpliftAtK || r1.QiniCausalML != want.QiniCausalML {
		t.Errorf("report point values %+v differ from UpliftScores %+v", r1, want)
	}
	for _, c := range []struct {
		name string
		v    float64
		ci   ConfInt
	}{{"qini", r1.Qini, r1.QiniCI}, {"qini_causalml", r1.QiniCausalML, r1.QiniCausalMLCI}, {"auuc", r1.AUUC, r1.AUUCCI}, {"uplift_at_30", r1.UpliftAt30, r1.UpliftAt30CI}} {
		if !(c.ci.Lo < c.v && c.v < c.ci.Hi) || c.ci.Resamples != 100 {
			t.Errorf("%s = %v outside its interval %+v", c.name, c.v, c.ci)
		}
	}
	x := mat.NewDense(len(y), 1, nil)
	dm, err := DiffInMeans(UpliftData{X: x, Treatment: tr, Arms: 1, Y: y})
	if err != nil {
		t.Fatal(err)
	}
	if !metricsClose(r1.ATE, dm[0].Effect) || !metricsClose(r1.ATESE, dm[0].SE) || r1.N != 4000 || r1.Treated+r1.Control != 4000 {
		t.Errorf("report counts or ATE wrong: %+v", r1)
	}

	b, err := json.Marshal(r1)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"qini", "auuc", "uplift_at_30", "qini_causalml", "qini_normalisation", "qini_ci", "ate", "ate_se"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON has no key %q: %s", k, b)
		}
	}
	if m["qini"].(float64) != r1.Qini {
		t.Errorf("JSON qini = %v, want %v", m["qini"], r1.Qini)
	}
	// Undefined values become null instead of failing.
	r1.UpliftAt30 = math.NaN()
	r1.UpliftAt30CI.Lo = math.NaN()
	b, err = json.Marshal(r1)
	if err != nil {
		t.Fatal(err)
	}
	m = nil
	_ = json.Unmarshal(b, &m)
	if m["uplift_at_30"] != nil || m["uplift_at_30_ci"].(map[string]any)["lo"] != nil {
		t.Errorf("NaN not written as null: %s", b)
	}
}

func TestBootstrapConfigErrors(t *testing.T) {
	score, tr, y := metricsRandomData(100, true, false, 1)
	for _, b := range []Bootstrap{{Resamples: 1}, {Level: 1.5}, {Workers: -1}} {
		if _, err := NewUpliftReport(score, tr, y, nil, b, rand.NewPCG(1, 1)); err == nil {
			t.Errorf("%+v: no error", b)
		}
	}
}
