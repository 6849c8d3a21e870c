package causal

import (
	"errors"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

var errCancelled = errors.New("cancelled")

// TestWithStop fits estimators with a source whose stop signal fires at
// once, or after a few checks: each fit ends with an error wrapping
// ErrStopped and the stop's error. A signal that never fires changes
// nothing: the model is the one fitted without it.
func TestWithStop(t *testing.T) {
	d := SimulateReference(600, rand.NewPCG(1, 2))
	r := NewRegistry()
	for _, c := range []struct {
		name   string
		params []string
	}{
		{"t", nil}, {"t", []string{"base=gbt"}}, {"t", []string{"base=forest"}}, {"t", []string{"base=mlp"}},
		{"s", nil}, {"x", nil}, {"r", nil}, {"dr", nil}, {"uplift-forest", nil}, {"causal-forest", nil},
		{"tarnet", nil}, {"dragonnet", nil}, {"bootstrap", nil}, {"auto", nil}, {"outcome", nil},
	} {
		p, err := ParseParams(c.params)
		if err != nil {
			t.Fatal(err)
		}
		est, err := r.NewEstimator(c.name, p)
		if err != nil {
			t.Fatalf("%s %v: %v", c.name, c.params, err)
		}
		for _, after := range []int{0, 2} {
			calls := 0
			stop := func() error {
				if calls++; calls > after {
					return errCancelled
				}
				return nil
			}
			_, err := est.FitUplift(d, WithStop(rand.NewPCG(3, 4), stop))
			if !errors.Is(err, ErrStopped) || !errors.Is(err, errCancelled) {
				t.Errorf("%s %v stopped after %d checks: err %v, want ErrStopped and the stop's error", c.name, c.params, after, err)
			}
		}
	}
	est, _ := r.NewEstimator("t", nil)
	plain, err := est.FitUplift(d, rand.NewPCG(3, 4))
	if err != nil {
		t.Fatal(err)
	}
	never, err := est.FitUplift(d, WithStop(rand.NewPCG(3, 4), func() error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := plain.Effects(nil, d.X), never.Effects(nil, d.X); !mat.Equal(a, b) {
		t.Error("a stop signal that never fires changed the model")
	}
}
