package causal

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// outcomeLog simulates a logged recommendation: x ~ U(−1, 1)², the item is
// recommended with propensity σ(2·x0), and the outcome is 1 with
// probability σ(−1 + x1 + t).
func outcomeLog(n int, seed uint64) UpliftData {
	rng := rand.New(rand.NewPCG(seed, 7))
	x := mat.NewDense(n, 2, nil)
	t, y, p := make([]int, n), make([]float64, n), make([]float64, n)
	for i := range n {
		x.Set(i, 0, 2*rng.Float64()-1)
		x.Set(i, 1, 2*rng.Float64()-1)
		pt := sigmoid(2 * x.At(i, 0))
		if rng.Float64() < pt {
			t[i], p[i] = 1, pt
		} else {
			p[i] = 1 - pt
		}
		if rng.Float64() < sigmoid(-1+x.At(i, 1)+float64(t[i])) {
			y[i] = 1
		}
	}
	return UpliftData{X: x, Treatment: t, Arms: 1, Y: y, Propensity: p}
}

func TestOutcomeMatchesItsFit(t *testing.T) {
	d := outcomeLog(2000, 1)
	n, _ := d.X.Dims()
	for _, ips := range []bool{false, true} {
		m, err := Outcome{IPS: ips}.FitUplift(d, rand.NewPCG(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		// The same fit by hand: logistic regression on every row, or on
		// the treated rows weighted by 1/max(P, 0.01).
		var rows []int
		var w []float64
		for i := range n {
			if !ips {
				rows = append(rows, i)
			} else if d.Treatment[i] == 1 {
				rows, w = append(rows, i), append(w, 1/max(d.Propensity[i], DefaultOutcomeCap))
			}
		}
		want, err := Linear{}.Fit(metaRows(d.X, rows), metaPick(d.Y, rows), w, Classification, rand.NewPCG(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		got := m.Effects(nil, d.X)
		if r, c := got.Dims(); r != n || c != 1 {
			t.Fatalf("ips=%v: effects %d×%d, want %d×1", ips, r, c, n)
		}
		for i, v := range want.Predict(nil, d.X) {
			if math.Abs(got.At(i, 0)-v) > 1e-12 {
				t.Fatalf("ips=%v: row %d: effect %v, want the outcome model's %v", ips, i, got.At(i, 0), v)
			}
		}
	}
}

func TestOutcomeIPSDebiases(t *testing.T) {
	// The treated rows are mostly those with large x0; the outcome if
	// recommended is σ(x1) for every user. The IPS fit on the treated
	// rows predicts its mean over all users.
	d := outcomeLog(20000, 2)
	n, _ := d.X.Dims()
	var truth float64
	for i := range n {
		truth += sigmoid(d.X.At(i, 1))
	}
	truth /= float64(n)
	m, err := Outcome{IPS: true}.FitUplift(d, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	got := mat.Sum(m.Effects(nil, d.X)) / float64(n)
	if math.Abs(got-truth) > 0.02 {
		t.Errorf("mean outcome if recommended: %.4f, want %.4f ± 0.02", got, truth)
	}
}

func TestOutcomeErrors(t *testing.T) {
	d := outcomeLog(200, 3)
	noProp := d
	noProp.Propensity = nil
	two := d
	two.Arms = 2
	for _, tc := range []struct {
		name string
		est  Outcome
		d    UpliftData
	}{
		{"ips without propensities", Outcome{IPS: true}, noProp},
		{"two arms", Outcome{}, two},
		{"cap out of range", Outcome{IPS: true, Cap: 1}, d},
	} {
		if _, err := tc.est.FitUplift(tc.d, rand.NewPCG(1, 1)); !errors.Is(err, ErrInput) {
			t.Errorf("%s: error %v, want ErrInput", tc.name, err)
		}
	}
	r := NewRegistry()
	if _, err := r.NewEstimator("outcome", map[string]string{"cap": "0.1"}); !errors.Is(err, ErrParam) {
		t.Errorf("outcome took cap: %v", err)
	}
	if _, err := r.NewEstimator("outcome-ips", map[string]string{"cap": "0"}); !errors.Is(err, ErrParam) {
		t.Errorf("outcome-ips took cap=0: %v", err)
	}
}

func TestOutcomeRegistryAndCodec(t *testing.T) {
	d := outcomeLog(500, 4)
	r := NewRegistry()
	for _, name := range []string{"outcome", "outcome-ips"} {
		est, err := r.NewEstimator(name, map[string]string{"base": "linear", "l2": "0.5"})
		if err != nil {
			t.Fatal(err)
		}
		m, err := est.FitUplift(d, rand.NewPCG(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		b, err := Marshal(m.(Kinded))
		if err != nil {
			t.Fatal(err)
		}
		v, err := Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		back, ok := v.(*OutcomeModel)
		if !ok || back.IPS != (name == "outcome-ips") {
			t.Fatalf("%s: decoded %T %+v", name, v, v)
		}
		if !mat.EqualApprox(back.Effects(nil, d.X), m.Effects(nil, d.X), 1e-15) {
			t.Errorf("%s: the decoded model predicts otherwise", name)
		}
	}
	if _, err := Unmarshal([]byte(`{"format":1,"kind":"outcome","payload":{}}`)); !errors.Is(err, ErrFormat) {
		t.Errorf("an outcome model without its model decoded: %v", err)
	}
}

func ExampleOutcome() {
	// Logged recommendations whose outcome does not depend on the user:
	// 30% engage when recommended, 10% otherwise.
	n := 1000
	x := mat.NewDense(n, 1, nil)
	t, y := make([]int, n), make([]float64, n)
	for i := range n {
		t[i] = i % 2
		if (t[i] == 1 && (i/2)%10 < 3) || (t[i] == 0 && (i/2)%10 == 0) {
			y[i] = 1
		}
	}
	d := UpliftData{X: x, Treatment: t, Arms: 1, Y: y, Propensity: make([]float64, n)}
	for i := range d.Propensity {
		d.Propensity[i] = 0.5
	}
	for _, ips := range []bool{false, true} {
		m, err := Outcome{IPS: ips}.FitUplift(d, rand.NewPCG(1, 1))
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("ips=%v: predicted outcome %.2f\n", ips, m.Effects(nil, x).At(0, 0))
	}
	// Output:
	// ips=false: predicted outcome 0.20
	// ips=true: predicted outcome 0.30
}
