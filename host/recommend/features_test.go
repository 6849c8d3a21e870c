package recommend

import (
	"math"
	"slices"
	"testing"

	"github.com/causalrec/causalrec/host/store"
)

func TestFeaturePlanRow(t *testing.T) {
	fs := featureSet{
		"i:price", "u:age", featItemExposures, featItemOutcomes, featUserExposures, featUserOutcomes,
		"text:lm:log10_perplexity", "text:lm:lm_logprob", "text:sentiment:sentiment", featTextMissing, featRelevance,
		featUserID, featItemID, "u:absent",
	}
	plan := fs.plan(nil)
	if got, want := plan.text, []string{"lm", "sentiment"}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("plan.text = %v, want %v", got, want)
	}
	user := store.User{ID: "u1", Features: map[string]float64{"age": 30}}
	item := store.Item{ID: "i1", Text: "a text", Features: map[string]float64{"price": 9.5}}
	lm := map[string]float64{"perplexity": 100, "lm_logprob": -12}
	senti := map[string]float64{"sentiment": 0.4}
	base := pairInputs{
		user: user, item: item,
		pop:       store.ItemCount{Exposures: 3, Outcomes: 1},
		hist:      userHist{exposures: 7, outcomes: 2},
		relevance: 0.25,
	}
	cases := []struct {
		name string
		text []map[string]float64
		item *store.Item
		want []float64
	}{
		{"all scored", []map[string]float64{lm, senti}, nil,
			[]float64{9.5, 30, math.Log1p(3), math.Log1p(1), math.Log1p(7), math.Log1p(2), 2, -12, 0.4, 0, 0.25, idCode("u1"), idCode("i1"), 0}},
		{"sentiment missing", []map[string]float64{lm, nil}, nil,
			[]float64{9.5, 30, math.Log1p(3), math.Log1p(1), math.Log1p(7), math.Log1p(2), 2, -12, 0, 1, 0.25, idCode("u1"), idCode("i1"), 0}},
		{"not finite and no perplexity", []map[string]float64{{"lm_logprob": math.Inf(-1)}, {"sentiment": math.NaN()}}, nil,
			[]float64{9.5, 30, math.Log1p(3), math.Log1p(1), math.Log1p(7), math.Log1p(2), 0, 0, 0, 0, 0.25, idCode("u1"), idCode("i1"), 0}},
		{"item without text", []map[string]float64{lm, senti}, &store.Item{ID: "i2"},
			[]float64{0, 30, math.Log1p(3), math.Log1p(1), math.Log1p(7), math.Log1p(2), 0, 0, 0, 1, 0.25, idCode("u1"), idCode("i2"), 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base
			in.text = c.text
			if c.item != nil {
				in.item = *c.item
			}
			got := make([]float64, len(fs))
			plan.row(got, &in)
			for j := range got {
				if math.Abs(got[j]-c.want[j]) > 1e-12 {
					t.Errorf("%s = %v, want %v", fs[j], got[j], c.want[j])
				}
			}
			// Serving fills the item, user and pair columns separately
			// (the item ones from a cache); together they are the row.
			parts := make([]float64, len(fs))
			for j := range parts {
				parts[j] = math.NaN()
			}
			for _, cols := range [][]int{plan.itemCols, plan.userCols, plan.pairCols} {
				plan.fill(parts, &in, cols)
			}
			for j := range parts {
				if parts[j] != got[j] {
					t.Errorf("%s filled by parts = %v, row = %v", fs[j], parts[j], got[j])
				}
			}
		})
	}
	groups := map[string][]int{"item": plan.itemCols, "user": plan.userCols, "pair": plan.pairCols}
	want := map[string][]string{
		"item": {"i:price", "text:lm:log10_perplexity", "text:lm:lm_logprob", "text:sentiment:sentiment", featTextMissing, featItemID},
		"user": {"u:age", featUserExposures, featUserOutcomes, featUserID, "u:absent"},
		"pair": {featItemExposures, featItemOutcomes, featRelevance},
	}
	for g, cols := range groups {
		var names []string
		for _, j := range cols {
			names = append(names, fs[j])
		}
		if !slices.Equal(names, want[g]) {
			t.Errorf("%s columns %v, want %v", g, names, want[g])
		}
	}
}

func BenchmarkFeaturePlanRow(b *testing.B) {
	fs := featureSet{"i:a", "i:b", "i:c", "u:x", "u:y", featItemExposures, featItemOutcomes, featUserExposures, featUserOutcomes,
		"text:lm:log10_perplexity", "text:lm:lm_logprob", "text:sentiment:sentiment", featTextMissing}
	plan := fs.plan(nil)
	in := &pairInputs{
		user: store.User{ID: "u", Features: map[string]float64{"x": 1, "y": 2}},
		item: store.Item{ID: "i", Text: "t", Features: map[string]float64{"a": 1, "b": 2, "c": 3}},
		text: []map[string]float64{{"perplexity": 80, "lm_logprob": -9}, {"sentiment": 0.1}},
	}
	dst := make([]float64, len(fs))
	b.ReportAllocs()
	for b.Loop() {
		plan.row(dst, in)
	}
}

func TestEventCountsBefore(t *testing.T) {
	logs := countsOf(map[string][]stamp{"u": {{t: 30, outcome: true}, {t: 10}, {t: 20, outcome: true}, {t: 20}, {t: 40}}})
	c := logs["u"]
	cases := []struct {
		at                  int64
		limit               int
		exposures, outcomes float64
	}{
		{5, 0, 0, 0},
		{20, 0, 1, 0},  // strictly before: the events at 20 do not count
		{21, 0, 2, 1},  // 10, 20, 20
		{100, 0, 3, 2}, // all
		{100, 2, 1, 1}, // the latest two: 30 (outcome), 40
		{31, 1, 0, 1},  // the latest one before 31: 30
	}
	for _, tc := range cases {
		e, o := c.before(tc.at, tc.limit)
		if e != tc.exposures || o != tc.outcomes {
			t.Errorf("before(%d, %d) = %v exposures, %v outcomes; want %v, %v", tc.at, tc.limit, e, o, tc.exposures, tc.outcomes)
		}
	}
	if e, o := logs["nobody"].before(100, 0); e != 0 || o != 0 {
		t.Errorf("unknown log: %v, %v", e, o)
	}
}

func TestTableCountsBefore(t *testing.T) {
	var c tableCounts
	c.reset([]tableStamp{{t: 30, outcome: true, seq: 0}, {t: 10, seq: 1}, {t: 20, outcome: true, seq: 2}, {t: 20, seq: 3}, {t: 40, seq: 4}})
	cases := []struct {
		at                  int64
		limit               int
		exposures, outcomes uint32
	}{
		{5, 0, 0, 0},
		{20, 0, 1, 0},  // strictly before: the events at 20 do not count
		{21, 0, 2, 1},  // 10, 20, 20
		{100, 0, 3, 2}, // all
		{100, 2, 1, 1}, // the latest two: 30 (outcome), 40
		{31, 1, 0, 1},  // the latest one before 31: 30
	}
	for _, tc := range cases {
		e, o, _, _ := c.before(tc.at, tc.limit)
		if e != tc.exposures || o != tc.outcomes {
			t.Errorf("before(%d, %d) = %v exposures, %v outcomes; want %v, %v", tc.at, tc.limit, e, o, tc.exposures, tc.outcomes)
		}
	}
	var empty tableCounts
	if e, o, _, _ := empty.before(100, 0); e != 0 || o != 0 {
		t.Errorf("empty log: %v, %v", e, o)
	}
	empty.reset(nil)
	if e, o, _, _ := empty.before(100, 0); e != 0 || o != 0 {
		t.Errorf("log of no events: %v, %v", e, o)
	}
}
