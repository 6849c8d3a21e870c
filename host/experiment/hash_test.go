package experiment

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/causalrec/causalrec/host/store"
)

// testdata/positions.json is written by testdata/positions.py, which
// computes the positions from their definition apart from this package.
func TestPositionGolden(t *testing.T) {
	raw, err := os.ReadFile("testdata/positions.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Salt, User string
		Position   float64
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 10 {
		t.Fatalf("%d golden cases, want at least 10", len(cases))
	}
	for _, c := range cases {
		if got := Position(c.Salt, c.User); got != c.Position {
			t.Errorf("Position(%q, %q) = %v, want %v", c.Salt, c.User, got, c.Position)
		}
	}
}

// chiSquare001 are the chi-square critical values at p = 0.001 by degrees
// of freedom (1 to 4): the SRM check's flag threshold.
var chiSquare001 = []float64{10.828, 13.816, 16.266, 18.467}

// Over a million ids the arms' shares match their weights within the SRM
// tolerance (chi-square p > 0.001), and coverage and namespace take their
// shares.
func TestAssignmentWeights(t *testing.T) {
	tests := []struct {
		weights  []float64
		coverage float64
		ns       [2]float64
	}{
		{[]float64{0.5, 0.5}, 1, [2]float64{0, 1}},
		{[]float64{0.2, 0.3, 0.5}, 0.4, [2]float64{0.25, 0.75}},
		{[]float64{0.9, 0.1}, 1, [2]float64{0, 0.1}},
	}
	const n = 1_000_000
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.weights, tt.coverage, tt.ns), func(t *testing.T) {
			e := store.Experiment{Salt: "weights", Coverage: tt.coverage, Namespace: tt.ns}
			for i, w := range tt.weights {
				e.Arms = append(e.Arms, store.ExperimentArm{Name: fmt.Sprint(i), Weight: w})
			}
			counts := make([]float64, len(tt.weights))
			var inNS, covered float64
			for i := range n {
				user := fmt.Sprintf("user-%d", i)
				if !InNamespace(e, Position("", user)) {
					continue
				}
				inNS++
				if a := ArmOf(e, Position(e.Salt, user)); a >= 0 {
					covered++
					counts[a]++
				}
			}
			var chi float64
			for i, w := range tt.weights {
				want := w * covered
				chi += (counts[i] - want) * (counts[i] - want) / want
			}
			if crit := chiSquare001[len(tt.weights)-2]; chi > crit {
				t.Errorf("arm counts %v over %v covered users: chi-square %.2f > %.2f (p < 0.001)", counts, covered, chi, crit)
			}
			// Binomial shares within 5 standard errors.
			share := func(name string, got, of, p float64) {
				if se := math.Sqrt(p * (1 - p) / of); math.Abs(got/of-p) > 5*se {
					t.Errorf("%s share %.5f, want %.5f ± %.5f", name, got/of, p, 5*se)
				}
			}
			share("namespace", inNS, n, tt.ns[1]-tt.ns[0])
			share("coverage", covered, inNS, tt.coverage)
		})
	}
}

func BenchmarkPosition(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		Position("ab1", "user-000042")
	}
}
