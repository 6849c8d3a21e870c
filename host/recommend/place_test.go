package recommend

import (
	"math"
	"testing"

	"github.com/causalrec/causalrec/host/store"
)

func testItems() ([]store.Item, scores) {
	items := []store.Item{{ID: "a", Category: "x"}, {ID: "b", Category: "x"}, {ID: "c", Category: "y"}, {ID: "d", Category: "x"}}
	return items, scores{values: []float64{0.3, 0.2, 0.1, 0.4}, areUplifts: true}
}

func TestPlaceGreedy(t *testing.T) {
	items, sc := testItems()
	got := place(Request{K: 3, Policy: "greedy"}, items, sc, nil, 1)
	want := []string{"d", "a", "b"}
	for i, r := range got {
		if r.Item != want[i] || r.Propensity != 1 || r.Position != i+1 || *r.Uplift != r.Score {
			t.Fatalf("got %+v, want order %v with propensity 1", got, want)
		}
	}
	got = place(Request{K: 3, Policy: "greedy", MaxPerCategory: 1}, items, sc, nil, 1)
	if len(got) != 2 || got[0].Item != "d" || got[1].Item != "c" {
		t.Fatalf("category cap 1: got %+v, want d then c only", got)
	}
}

func TestPlaceFallbackUsesPopularity(t *testing.T) {
	items, _ := testItems()
	counts := []store.ItemCount{{Item: "a", Outcomes: 1}, {Item: "b", Outcomes: 9}, {Item: "c", Outcomes: 5}, {Item: "d"}}
	got := place(Request{K: 2, Policy: "greedy"}, items, scores{}, counts, 1)
	if got[0].Item != "b" || got[1].Item != "c" || got[0].Uplift != nil {
		t.Fatalf("got %+v", got)
	}
}

// TestPlacePropensities checks that the propensity a stochastic policy
// reports for its first slot is the frequency with which it places each
// item there.
func TestPlacePropensities(t *testing.T) {
	items, sc := testItems()
	for _, req := range []Request{
		{K: 1, Policy: "epsilon-greedy", Epsilon: 0.4},
		{K: 1, Policy: "plackett-luce", Temperature: 0.1},
	} {
		const n = 40000
		count := map[string]float64{}
		prop := map[string]float64{}
		for seed := uint64(0); seed < n; seed++ {
			r := place(req, items, sc, nil, seed)[0]
			count[r.Item]++
			if p, ok := prop[r.Item]; ok && math.Abs(p-r.Propensity) > 1e-12 {
				t.Fatalf("%s: item %s reported propensities %v and %v", req.Policy, r.Item, p, r.Propensity)
			}
			prop[r.Item] = r.Propensity
		}
		total := 0.0
		for id, p := range prop {
			total += p
			if f := count[id] / n; math.Abs(f-p) > 0.01 {
				t.Errorf("%s: item %s placed first with frequency %.4f, reported propensity %.4f", req.Policy, id, f, p)
			}
		}
		if math.Abs(total-1) > 1e-9 {
			t.Errorf("%s: first-slot propensities sum to %v", req.Policy, total)
		}
	}
}
