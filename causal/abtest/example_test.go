package abtest_test

import (
	"fmt"
	"math/rand/v2"
	"time"

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

func ExampleSequentialBand() {
	// Cumulative moments (users, Σy, Σy²) of each arm at the end of three
	// days, as a service keeps them; the band is what a plot draws.
	day := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }
	snaps := []abtest.Snapshot{
		{Time: day(1), Arms: []abtest.Moments{{N: 500, Sum: 510, SumSq: 1530}, {N: 490, Sum: 540, SumSq: 1620}}},
		{Time: day(2), Arms: []abtest.Moments{{N: 1000, Sum: 1000, SumSq: 3000}, {N: 1010, Sum: 1130, SumSq: 3400}}},
		{Time: day(3), Arms: []abtest.Moments{{N: 1500, Sum: 1490, SumSq: 4470}, {N: 1495, Sum: 1690, SumSq: 5070}}},
	}
	bands, err := abtest.SequentialBand([]string{"control", "uplift"}, snaps, abtest.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range bands[0].Points {
		fmt.Printf("%s  users %4d  lift %.3f  ci [%.3f, %.3f]  sequential [%.3f, %.3f]\n",
			p.Time.Format("Jan 2"), p.Users, p.Lift, p.CI[0], p.CI[1], p.SequentialCI[0], p.SequentialCI[1])
	}
	// On day 3 the fixed-horizon interval excludes 0 but, read daily, it
	// may not be trusted; the confidence sequence does not exclude 0 yet.

	// Output:
	// Mar 1  users  990  lift 0.082  ci [-0.097, 0.261]  sequential [-0.225, 0.389]
	// Mar 2  users 2010  lift 0.119  ci [-0.007, 0.244]  sequential [-0.081, 0.319]
	// Mar 3  users 2995  lift 0.137  ci [0.034, 0.240]  sequential [-0.023, 0.297]
}

func ExampleHolm() {
	// Four p-values (say two arms on two metrics): Holm multiplies the
	// smallest by 4, the next by 3, … and keeps the sequence monotone.
	fmt.Printf("%.3f\n", abtest.Holm(nil, []float64{0.01, 0.04, 0.03, 0.005}))
	// Output:
	// [0.030 0.060 0.060 0.020]
}
