package recommend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/causalrec/causalrec/host/store"
)

func testItems() ([]store.Item, scores) {
	items := []store.Item{{ID: "a", Category: "x"}, {ID: "b", Category: "x"}, {ID: "c", Category: "y"}, {ID: "d", Category: "x"}}
	return items, scores{values: []float64{0.3, 0.2, 0.1, 0.4}, areUplifts: true}
}

// TestPlace is a table of lists the policies place deterministically:
// greedy orders by score (ties by id) with propensity 1, the category cap
// skips items, relevance blends into the score, a fallback ranks by
// popularity, and scores that are not uplifts carry no uplift.
func TestPlace(t *testing.T) {
	items, uplifts := testItems()
	counts := []store.ItemCount{{Item: "a", Outcomes: 1}, {Item: "b", Outcomes: 9}, {Item: "c", Outcomes: 5}, {Item: "d"}}
	dlce := scores{values: uplifts.values}
	blend := uplifts
	blend.relevanceBlend = []float64{0, 0, 1, 0} // standardised relevance of c
	tie := scores{values: []float64{0.5, 0.5, 0.1, 0.5}, areUplifts: true}
	for _, tc := range []struct {
		name    string
		req     Request
		sc      scores
		want    []string
		scores  []float64
		uplifts bool
	}{
		{"greedy", Request{K: 3}, uplifts, []string{"d", "a", "b"}, []float64{0.4, 0.3, 0.2}, true},
		{"all of them", Request{K: 10}, uplifts, []string{"d", "a", "b", "c"}, []float64{0.4, 0.3, 0.2, 0.1}, true},
		{"category cap", Request{K: 3, MaxPerCategory: 1}, uplifts, []string{"d", "c"}, []float64{0.4, 0.1}, true},
		{"ties by id", Request{K: 3}, tie, []string{"a", "b", "d"}, []float64{0.5, 0.5, 0.5}, true},
		{"relevance blended", Request{K: 2, RelevanceWeight: 0.5}, blend, []string{"c", "d"}, []float64{0.6, 0.4}, true},
		{"not uplifts", Request{K: 2}, dlce, []string{"d", "a"}, []float64{0.4, 0.3}, false},
		{"fallback: popularity", Request{K: 2}, scores{}, []string{"b", "c"}, []float64{9, 5}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req.withDefaults()
			got := place(req, items, tc.sc, counts, 1)
			if len(got) != len(tc.want) {
				t.Fatalf("%d items %+v, want %v", len(got), got, tc.want)
			}
			for i, r := range got {
				if r.Item != tc.want[i] || math.Abs(r.Score-tc.scores[i]) > 1e-12 || r.Propensity != 1 || r.Position != i+1 {
					t.Fatalf("position %d: %+v, want %s with score %v, propensity 1", i+1, r, tc.want[i], tc.scores[i])
				}
				if (r.Uplift != nil) != tc.uplifts {
					t.Fatalf("position %d: uplift %v, want one: %v", i+1, r.Uplift, tc.uplifts)
				}
				if r.Uplift != nil && *r.Uplift != tc.sc.values[slices.IndexFunc(items, func(it store.Item) bool { return it.ID == r.Item })] {
					t.Fatalf("position %d: uplift %v is not the item's", i+1, *r.Uplift)
				}
			}
		})
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

func TestGreedyFirst(t *testing.T) {
	tests := []struct {
		ids    []string
		scores []float64
		want   int
	}{
		{[]string{"a", "b", "c"}, []float64{0.1, 0.3, 0.2}, 1},
		{[]string{"c", "a", "b"}, []float64{0.5, 0.5, 0.1}, 1},
		{nil, nil, -1},
	}
	for _, tt := range tests {
		if got := GreedyFirst(tt.ids, tt.scores); got != tt.want {
			t.Errorf("GreedyFirst(%v, %v) = %d, want %d", tt.ids, tt.scores, got, tt.want)
		}
	}
}

// placeBySorting is the reference place: every candidate stably sorted by
// greedyCompare, then the policy's loop over the sorted list.
func placeBySorting(req Request, items []store.Item, sc scores, counts []store.ItemCount, seed uint64) []Ranked {
	cs := make([]cand, len(items))
	for i := range items {
		cs[i] = cand{i, rankScore(req, sc, counts, i)}
	}
	slices.SortStableFunc(cs, func(a, b cand) int {
		return greedyCompare(a.score, b.score, items[a.i].ID, items[b.i].ID)
	})
	if req.Policy != PolicyGreedy {
		return nil
	}
	perCat := map[string]int{}
	out := []Ranked{}
	for _, c := range cs {
		if len(out) == req.K {
			break
		}
		if cat := items[c.i].Category; req.MaxPerCategory > 0 && cat != "" && perCat[cat] >= req.MaxPerCategory {
			continue
		}
		perCat[items[c.i].Category]++
		out = append(out, ranked(items, sc, c, 1, len(out)+1))
	}
	return out
}

// TestPlaceGreedyMatchesSorting checks greedy placement from a heap
// against a full stable sort on random lists with tied scores, NaN
// scores, repeated ids, categories and caps.
func TestPlaceGreedyMatchesSorting(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for trial := range 2000 {
		n := rng.IntN(60)
		items := make([]store.Item, n)
		sc := scores{values: make([]float64, n), areUplifts: true}
		for i := range items {
			items[i] = store.Item{ID: fmt.Sprintf("i%d", rng.IntN(n+1)), Category: []string{"", "a", "b", "c"}[rng.IntN(4)]}
			switch rng.IntN(6) {
			case 0:
				sc.values[i] = math.NaN()
			case 1, 2:
				sc.values[i] = float64(rng.IntN(3)) // ties
			default:
				sc.values[i] = rng.NormFloat64()
			}
		}
		req := Request{K: 1 + rng.IntN(15), MaxPerCategory: rng.IntN(3)}.withDefaults()
		got := place(req, items, sc, nil, uint64(trial))
		want := placeBySorting(req, items, sc, nil, uint64(trial))
		if len(got) != len(want) {
			t.Fatalf("trial %d: %d placed, want %d", trial, len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.Item != w.Item || g.Category != w.Category || !sameFloat(g.Score, w.Score) || g.Position != w.Position || g.Propensity != 1 {
				t.Fatalf("trial %d position %d: %+v, want %+v", trial, i+1, g, w)
			}
		}
	}
}

func sameFloat(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

// BenchmarkPlace places 10 of 200 candidates greedily, against the full
// sort it replaced (the sorted sub-benchmark) in the same run.
func BenchmarkPlace(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	items := make([]store.Item, 200)
	sc := scores{values: make([]float64, len(items)), areUplifts: true}
	for i := range items {
		items[i] = store.Item{ID: fmt.Sprintf("item-%d", i), Category: fmt.Sprint(i % 7)}
		sc.values[i] = rng.NormFloat64()
	}
	for _, cap := range []int{0, 2} {
		req := Request{K: 10, MaxPerCategory: cap}.withDefaults()
		b.Run(fmt.Sprintf("heap/cap=%d", cap), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				place(req, items, sc, nil, 1)
			}
		})
		b.Run(fmt.Sprintf("sorted/cap=%d", cap), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				placeBySorting(req, items, sc, nil, 1)
			}
		})
	}
}
