package fitshare

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/causalrec/causalrec/causal"
	"gonum.org/v1/gonum/mat"
)

func data(seed uint64, n int) causal.UpliftData {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := mat.NewDense(n, 3, nil)
	t := make([]int, n)
	y := make([]float64, n)
	for i := range n {
		for j := range 3 {
			x.Set(i, j, rng.NormFloat64())
		}
		t[i] = rng.IntN(2)
		y[i] = x.At(i, 0) + float64(t[i])*(1+x.At(i, 1)) + rng.NormFloat64()
	}
	return causal.UpliftData{X: x, Treatment: t, Arms: 1, Y: y}
}

func fit(t *testing.T, reg causal.Registry, name string, params map[string]string, d causal.UpliftData) causal.UpliftModel {
	t.Helper()
	if _, ok := params["seed"]; !ok {
		params["seed"] = "7"
	}
	est, err := reg.NewEstimator(name, params)
	if err != nil {
		t.Fatal(err)
	}
	m, err := est.FitUplift(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCacheShares(t *testing.T) {
	var c Cache
	reg := c.Registry()
	d := data(1, 300)
	a := fit(t, reg, "t", map[string]string{"base": "gbt", "seed": "1"}, d)
	b := fit(t, reg, "t", map[string]string{"base": "gbt", "seed": "2"}, d)
	if a != b {
		t.Error("the same estimator on the same rows was fitted twice")
	}
	if o := fit(t, reg, "t", map[string]string{"base": "gbt", "depth": "2"}, d); o == a {
		t.Error("other parameters got the shared fit")
	}
	if o := fit(t, reg, "t", map[string]string{"base": "gbt"}, data(2, 300)); o == a {
		t.Error("other rows got the shared fit")
	}
	if o := fit(t, reg, "x", map[string]string{"base": "gbt"}, d); o == a {
		t.Error("another estimator got the shared fit")
	}
}

// An auto variant fitted through the cache refits its chosen candidates
// by reusing their fits: its effects equal a combination of the
// candidates' own effects.
func TestCacheAutoReusesRefits(t *testing.T) {
	var c Cache
	reg := c.Registry()
	d := data(3, 400)
	alone := fit(t, reg, "t", map[string]string{"base": "linear"}, d)
	m := fit(t, reg, "auto", map[string]string{"candidates": "t/linear", "combine": "select", "budget": "off"}, d)
	am, ok := m.(*causal.AutoModel)
	if !ok {
		t.Fatalf("auto fitted %T", m)
	}
	if am.Unwrap() != alone {
		t.Errorf("auto's refit of t/linear is %p, want the shared fit %p", am.Unwrap(), alone)
	}
}

// With Dir, a later cache reads the saved fit instead of fitting again.
func TestCacheDir(t *testing.T) {
	dir := t.TempDir()
	d := data(4, 300)
	first := Cache{Dir: dir}
	a := fit(t, first.Registry(), "causal-forest", map[string]string{"trees": "10", "seed": "1"}, d)
	files, err := os.ReadDir(dir)
	if err != nil || len(files) != 1 {
		t.Fatalf("saved %d files (%v), want 1", len(files), err)
	}
	second := Cache{Dir: dir}
	b := fit(t, second.Registry(), "causal-forest", map[string]string{"trees": "10", "seed": "2"}, d)
	if a == b {
		t.Fatal("the second cache returned the first one's model")
	}
	ea, eb := a.Effects(nil, d.X), b.Effects(nil, d.X)
	if !mat.Equal(ea, eb) {
		t.Error("the saved fit predicts otherwise than the fit")
	}
	// Without the cache the second seed gives another forest, so the
	// equal effects above mean the file was read.
	c := fit(t, causal.NewRegistry(), "causal-forest", map[string]string{"trees": "10", "seed": "2"}, d)
	if mat.Equal(ea, c.Effects(nil, d.X)) {
		t.Fatal("the causal forest fitted alike for seeds 1 and 2: the test cannot tell a read from a refit")
	}
	if err := os.WriteFile(filepath.Join(dir, files[0].Name()), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	est, err := (&Cache{Dir: dir}).Registry().NewEstimator("causal-forest", map[string]string{"trees": "10", "seed": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := est.FitUplift(d, nil); err == nil {
		t.Error("a corrupt cached fit gave no error")
	}
}
