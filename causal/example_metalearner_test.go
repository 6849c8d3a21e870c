package causal_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/causalrec/causalrec/causal"
	"gonum.org/v1/gonum/mat"
)

func ExampleTLearner() {
	d := causal.SimulateReference(20000, rand.NewPCG(1, 2))
	m, err := causal.TLearner{Base: causal.Linear{}}.FitUplift(d, rand.NewPCG(3, 4))
	if err != nil {
		fmt.Println(err)
		return
	}
	// Effect on P(y=1) of a unit with all features 0 except x2 = 2.
	x := mat.NewDense(1, causal.ReferenceFeatures, nil)
	x.Set(0, 2, 2)
	fmt.Printf("estimated %.2f, true %.2f\n", m.Effects(nil, x).At(0, 0), causal.ReferenceEffects(nil, x)[0])
	// Output:
	// estimated 0.17, true 0.17
}

func ExampleRegistry_NewEstimator() {
	r := causal.NewRegistry()
	params, err := causal.ParseParams([]string{"base=linear", "folds=3", "seed=7"})
	if err != nil {
		fmt.Println(err)
		return
	}
	est, err := r.NewEstimator("dr", params)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%T\n", est.(causal.SeededEstimator).Estimator)
	_, err = r.NewEstimator("t", map[string]string{"folds": "3"})
	fmt.Println(err)
	// Output:
	// causal.DRLearner
	// invalid parameter: estimator "t" does not take parameter "folds"
}

func ExampleATE() {
	d := causal.SimulateReference(20000, rand.NewPCG(5, 6))
	var truth float64
	for _, v := range causal.ReferenceEffects(nil, d.X) {
		truth += v / 20000
	}
	fmt.Printf("true sample ATE  %.3f\n", truth)
	for _, opt := range []causal.ATEOptions{{Randomised: true}, {}} {
		est, err := causal.ATE(d, opt, rand.NewPCG(7, 8))
		if err != nil {
			fmt.Println(err)
			return
		}
		lo, hi := est[0].Interval(0.95)
		fmt.Printf("randomised=%-5v %.3f ± %.3f, 95%% interval [%.3f, %.3f]\n", opt.Randomised, est[0].Effect, est[0].SE, lo, hi)
	}
	// Output:
	// true sample ATE  0.070
	// randomised=true  0.082 ± 0.006, 95% interval [0.071, 0.093]
	// randomised=false 0.079 ± 0.005, 95% interval [0.069, 0.089]
}
