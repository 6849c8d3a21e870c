package causal

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestCompareEstimatorsRATE: on arm 1 of cmpTestData (which helps only
// when x0 > 0) the split estimator's ranking has a positive RATE, the
// noise ranking one near 0, and their paired difference excludes 0.
func TestCompareEstimatorsRATE(t *testing.T) {
	d := cmpTestData(6000, 1)
	ests := []NamedEstimator{{"split", cmpTestSplit{}}, {"noise", cmpTestNoise{}}}
	c, err := CompareEstimators(d, ests, CompareConfig{Folds: 3, Bootstrap: Bootstrap{Resamples: 100}}, rand.NewPCG(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	a1 := c.Arms[0]
	split, noise, pair := a1.Scores[0], a1.Scores[1], a1.Pairs[0]
	t.Logf("arm 1: split AUTOC %+v, noise AUTOC %+v, difference %+v", split.RATEAUTOC, noise.RATEAUTOC, pair.RATEAUTOC)
	if split.RATEAUTOC.CI[0] <= 0 || split.RATEQini.CI[0] <= 0 {
		t.Errorf("split RATE %+v / %+v, want intervals above 0", split.RATEAUTOC, split.RATEQini)
	}
	if ci := noise.RATEAUTOC.CI; !(ci[0] < 0 && 0 < ci[1]) {
		t.Errorf("noise AUTOC %+v, want an interval holding 0", noise.RATEAUTOC)
	}
	if pair.RATEAUTOC.CI[0] <= 0 || math.Abs(pair.RATEAUTOC.Value-(split.RATEAUTOC.Value-noise.RATEAUTOC.Value)) > 1e-12 {
		t.Errorf("paired AUTOC difference %+v", pair.RATEAUTOC)
	}
	// The split estimator's AUTOC: τ is 0.3 on the top half (x0 > 0) and
	// 0 below, the ATE 0.15, so TOC(q) = 0.15 for q ≤ 1/2 and 0.15/q − 0.15
	// above: AUTOC = 0.075 + 0.15·ln 2 − 0.075 = 0.15·ln 2 ≈ 0.104.
	if want := 0.15 * math.Ln2; math.Abs(split.RATEAUTOC.Value-want) > 3*split.RATEAUTOC.SE {
		t.Errorf("split AUTOC %v, want about %v", split.RATEAUTOC.Value, want)
	}
	var buf bytes.Buffer
	if err := c.WriteRATETable(&buf); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"RATE, arm 1 vs control", "autoc CI", "paired RATE differences", "*"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("RATE table lacks %q:\n%s", s, buf.String())
		}
	}
}
