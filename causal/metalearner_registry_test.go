package causal

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestRegistryNewEstimator(t *testing.T) {
	r := NewRegistry()
	for _, tc := range []struct {
		name   string
		params map[string]string
		want   UpliftEstimator
	}{
		{"t", nil, TLearner{Base: Linear{}}},
		{"s", map[string]string{"base": "linear", "l2": "2.5"}, SLearner{Base: Linear{L2: 2.5}}},
		{"x", map[string]string{"clip": "0.05"}, XLearner{Base: Linear{}, Propensity: Linear{}, Clip: 0.05}},
		{"r", map[string]string{"folds": "3", "outcome": "regression"}, RLearner{Base: Linear{}, Propensity: Linear{}, Folds: 3, Clip: DefaultClip, Outcome: RegressionOutcome}},
		{"dr", map[string]string{"final": "linear", "l2": "1e-3"}, DRLearner{Base: Linear{L2: 1e-3}, Propensity: Linear{L2: 1e-3}, Final: Linear{L2: 1e-3}, Folds: DefaultFolds, Clip: DefaultClip}},
		{"dr", map[string]string{"seed": "42"}, SeededEstimator{Estimator: DRLearner{Base: Linear{}, Propensity: Linear{}, Folds: DefaultFolds, Clip: DefaultClip}, Seed: 42}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.NewEstimator(tc.name, tc.params)
			if err != nil {
				t.Fatal(err)
			}
			if !regEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// regEqual compares estimators field by field.
func regEqual(a, b UpliftEstimator) bool { return reflect.DeepEqual(a, b) }

func TestRegistryErrors(t *testing.T) {
	r := NewRegistry()
	for _, tc := range []struct {
		name   string
		params map[string]string
		msg    string
	}{
		{"bayes-net", nil, `unknown estimator "bayes-net"`},
		{"t", map[string]string{"base": "boosted-stumps"}, `base="boosted-stumps" is not a known learner`},
		{"t", map[string]string{"folds": "3"}, `does not take parameter "folds"`},
		{"s", map[string]string{"clip": "0.1", "depth": "3"}, `"clip", "depth"`},
		{"r", map[string]string{"folds": "1"}, "folds=1"},
		{"r", map[string]string{"folds": "five"}, "not an integer"},
		{"dr", map[string]string{"clip": "0.5"}, "clip=0.5"},
		{"dr", map[string]string{"clip": "NaN"}, "not a finite number"},
		{"x", map[string]string{"l2": "-1"}, "l2=-1 is negative"},
		{"t", map[string]string{"seed": "-3"}, "seed="},
		{"t", map[string]string{"outcome": "binary"}, "outcome="},
	} {
		t.Run(tc.name+"/"+tc.msg, func(t *testing.T) {
			_, err := r.NewEstimator(tc.name, tc.params)
			if !errors.Is(err, ErrParam) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want ErrParam mentioning %q", err, tc.msg)
			}
		})
	}
}

func TestRegistryExtension(t *testing.T) {
	r := NewRegistry()
	var gotDepth int
	r.Learners["stub"] = func(p *Params) (Learner, error) {
		d, err := p.Int("depth", 3)
		gotDepth = d
		return Linear{L2: float64(d)}, err
	}
	est, err := r.NewEstimator("t", map[string]string{"base": "stub", "depth": "7"})
	if err != nil {
		t.Fatal(err)
	}
	if gotDepth != 7 || !reflect.DeepEqual(est.(TLearner).Base, Linear{L2: 7}) {
		t.Fatalf("extension learner not used: depth %d, estimator %#v", gotDepth, est)
	}
	// A copy of the default registry does not know about the stub.
	if _, err := NewRegistry().NewEstimator("t", map[string]string{"base": "stub"}); !errors.Is(err, ErrParam) {
		t.Fatalf("fresh registry accepted base=stub: %v", err)
	}
}

func TestSeededEstimatorReproducible(t *testing.T) {
	d, _, _ := metaConfounded(400, 9)
	est, err := NewRegistry().NewEstimator("dr", map[string]string{"seed": "5", "folds": "3"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := est.FitUplift(d, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := est.FitUplift(d, rand.NewPCG(2, 2))
	if err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(a.Effects(nil, d.X), b.Effects(nil, d.X)) {
		t.Errorf("seeded estimator depends on the source passed to FitUplift")
	}
}

func TestParseParams(t *testing.T) {
	got, err := ParseParams([]string{"base=linear", " folds = 3", "empty=", "expr=a=b"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"base": "linear", "folds": "3", "empty": "", "expr": "a=b"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, bad := range [][]string{{"folds"}, {"=3"}, {"a=1", "a=2"}} {
		if _, err := ParseParams(bad); !errors.Is(err, ErrParam) {
			t.Errorf("ParseParams(%q) err = %v, want ErrParam", bad, err)
		}
	}
}

func FuzzNewEstimator(f *testing.F) {
	f.Add("dr", "base=linear,folds=3,clip=0.05,seed=1")
	f.Add("t", "l2=abc")
	f.Add("x", "final=linear,outcome=auto")
	f.Add("r", "folds=-1,=")
	r := NewRegistry()
	f.Fuzz(func(t *testing.T, name, params string) {
		m, err := ParseParams(strings.Split(params, ","))
		if err != nil {
			if !errors.Is(err, ErrParam) {
				t.Fatalf("ParseParams error %v does not wrap ErrParam", err)
			}
			return
		}
		est, err := r.NewEstimator(name, m)
		if err != nil {
			if !errors.Is(err, ErrParam) {
				t.Fatalf("NewEstimator error %v does not wrap ErrParam", err)
			}
			return
		}
		if est == nil {
			t.Fatal("nil estimator without error")
		}
	})
}

func TestRegistryTreeEntries(t *testing.T) {
	r := NewRegistry()
	good := []struct {
		name   string
		params map[string]string
	}{
		{"t", map[string]string{"base": "gbt", "trees": "20", "depth": "3", "min_leaf": "10", "lr": "0.2"}},
		{"x", map[string]string{"base": "forest", "trees": "10", "min_leaf": "5"}},
		{"uplift-forest", map[string]string{"criterion": "KL", "trees": "10", "depth": "5", "min_leaf": "100", "seed": "3"}},
		{"uplift-tree", map[string]string{"criterion": "ED"}},
		{"causal-forest", map[string]string{"trees": "50"}},
	}
	for _, g := range good {
		if _, err := r.NewEstimator(g.name, g.params); err != nil {
			t.Errorf("%s %v: %v", g.name, g.params, err)
		}
	}
	bad := []struct {
		name   string
		params map[string]string
	}{
		{"t", map[string]string{"base": "gbt", "trees": "0"}},
		{"t", map[string]string{"base": "gbt", "lr": "2"}},
		{"t", map[string]string{"base": "forest", "bins": "999"}},
		{"uplift-forest", map[string]string{"criterion": "Gini"}},
		{"uplift-forest", map[string]string{"treez": "10"}},
		{"causal-forest", map[string]string{"trees": "-1"}},
	}
	for _, b := range bad {
		if _, err := r.NewEstimator(b.name, b.params); err == nil {
			t.Errorf("%s %v: want an error", b.name, b.params)
		}
	}
}
