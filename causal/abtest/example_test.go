package abtest_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/causalrec/causalrec/causal/abtest"
)

func ExampleAnalyze() {
	// 4000 users per arm; each user's outcome count after assignment
	// follows their count before it, and the new ranker adds 0.1 outcome
	// per user on average.
	rng := rand.New(rand.NewPCG(1, 2))
	arm := func(name string, effect float64) abtest.Arm {
		a := abtest.Arm{Name: name, Weight: 0.5, Exposures: 10 * 4000}
		for range 4000 {
			pre := float64(rng.IntN(5))
			a.Pre = append(a.Pre, pre)
			a.Y = append(a.Y, 0.8*pre+effect+rng.NormFloat64())
		}
		return a
	}
	rep, err := abtest.Analyze([]abtest.Arm{arm("control", 0), arm("uplift", 0.1)}, abtest.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	c := rep.Comparisons[0]
	fmt.Printf("lift %.3f, 95%% CI [%.3f, %.3f], p = %.3f\n", c.Lift, c.CI[0], c.CI[1], c.PValue)
	fmt.Printf("relative lift %.1f%% [%.1f%%, %.1f%%]\n", 100*c.RelativeLift, 100*c.RelativeCI[0], 100*c.RelativeCI[1])
	fmt.Printf("always-valid CI [%.3f, %.3f]\n", c.SequentialCI[0], c.SequentialCI[1])
	fmt.Printf("CUPED lift %.3f [%.3f, %.3f], variance reduced by %.0f%%\n", c.CUPED.Lift, c.CUPED.CI[0], c.CUPED.CI[1], 100*c.CUPED.VarianceReduction)
	fmt.Printf("SRM p = %.2f, flagged: %v\n", rep.SRM.PValue, rep.SRM.Flag)
	// Output:
	// lift 0.104, 95% CI [0.037, 0.171], p = 0.002
	// relative lift 6.6% [2.2%, 10.9%]
	// always-valid CI [0.000, 0.209]
	// CUPED lift 0.130 [0.086, 0.174], variance reduced by 58%
	// SRM p = 1.00, flagged: false
}
