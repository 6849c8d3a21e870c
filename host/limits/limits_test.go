package limits

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/causalrec/causalrec/host/store"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func manyFeatures(n int) map[string]float64 {
	f := make(map[string]float64, n)
	for i := range n {
		f[fmt.Sprintf("f%04d", i)] = 1
	}
	return f
}

func TestCheckRecords(t *testing.T) {
	l := Default()
	for _, c := range []struct {
		name string
		err  error
		want string // "" means accepted
	}{
		{"item ok", l.CheckItem(store.Item{ID: "a", Features: map[string]float64{"x": 1e9, "y": -1e9}}), ""},
		{"2000 features", l.CheckUser(store.User{ID: "u", Features: manyFeatures(2000)}), "2000 features, over the limit of 256"},
		{"256 features", l.CheckUser(store.User{ID: "u", Features: manyFeatures(256)}), ""},
		{"huge value", l.CheckItem(store.Item{ID: "a", Features: map[string]float64{"x": 1.7e308}}), `feature "x" is 1.7e+308, outside [-1e+09, 1e+09]`},
		{"NaN", l.CheckItem(store.Item{ID: "a", Features: map[string]float64{"x": math.NaN()}}), `feature "x" is NaN`},
		{"long id", l.CheckItem(store.Item{ID: strings.Repeat("a", 257)}), "item id \"aaaa"},
		{"bad utf8 id", l.CheckUser(store.User{ID: "u\xff"}), "not valid UTF-8"},
		{"control char", l.CheckUser(store.User{ID: "u\x00v"}), "control character U+0000 at byte 1"},
		{"C1 control", l.CheckItem(store.Item{ID: "i", Features: map[string]float64{"a\u0085": 1}}), "control character U+0085"},
		{"long name", l.CheckItem(store.Item{ID: "i", Features: map[string]float64{strings.Repeat("n", 129): 1}}), "over the limit of 128"},
		{"empty name", l.CheckItem(store.Item{ID: "i", Features: map[string]float64{"": 1}}), "empty feature name"},
	} {
		check(t, c.name, c.err, c.want)
	}
}

func check(t *testing.T, name string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: %v, want accepted", name, err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("%s: %v, want an error containing %q", name, err, want)
	}
}

func TestCheckEvent(t *testing.T) {
	l := Default()
	ok := store.Event{Kind: store.Exposure, User: "u", Item: "i", Time: now, Arm: "control", Propensity: 0.5}
	out := store.Event{Kind: store.Outcome, User: "u", Item: "i", Time: now, Value: 3}
	for _, c := range []struct {
		name string
		edit func(*store.Event)
		base store.Event
		want string
	}{
		{"exposure ok", func(*store.Event) {}, ok, ""},
		{"outcome ok", func(*store.Event) {}, out, ""},
		{"2008 ok", func(e *store.Event) { e.Time = time.Date(2008, 3, 1, 0, 0, 0, 0, time.UTC) }, ok, ""},
		{"year 1", func(e *store.Event) { e.Time = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC) }, ok, "event time 0001-01-01T00:00:00Z outside the accepted window"},
		{"year 9999", func(e *store.Event) { e.Time = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) }, ok, "outside the accepted window"},
		{"2 days ahead", func(e *store.Event) { e.Time = now.Add(48 * time.Hour) }, ok, "max_event_ahead 24h0m0s"},
		{"outcome -5", func(e *store.Event) { e.Value = -5 }, out, "outcome value -5 outside [0, 1e+06]"},
		{"outcome 1e308", func(e *store.Event) { e.Value = 1e308 }, out, "outcome value 1e+308"},
		{"banana", func(e *store.Event) { e.Arm = "banana" }, ok, `arm "banana" is not one of "treated", "control"`},
		{"tiny propensity", func(e *store.Event) { e.Propensity = 5e-324 }, ok, "propensity 5e-324 under the floor of 1e-06"},
		{"unknown propensity", func(e *store.Event) { e.Propensity = 0 }, ok, ""},
		{"bad policy", func(e *store.Event) { e.PolicyID = "p\n" }, ok, "control character U+000A"},
		{"bad id", func(e *store.Event) { e.ID = strings.Repeat("x", 300) }, ok, "event id"},
	} {
		e := c.base
		c.edit(&e)
		check(t, c.name, l.CheckEvent(e, now), c.want)
	}
	l.Arms = append(l.Arms, "banana")
	e := ok
	e.Arm = "banana"
	check(t, "configured arm", l.CheckEvent(e, now), "")
}

func TestCheckCandidates(t *testing.T) {
	l := Default()
	check(t, "distinct", l.CheckCandidates([]string{"a", "b", "c"}), "")
	check(t, "repeated", l.CheckCandidates([]string{"a", "b", "a"}), `candidates[2] repeats candidates[0] "a"`)
	check(t, "empty", l.CheckCandidates([]string{"a", ""}), "candidates[1]: empty candidate")
	// The set of a list checked before holds nothing of it.
	check(t, "after a repeat", l.CheckCandidates([]string{"b", "a"}), "")
	check(t, "repeat later", l.CheckCandidates([]string{"x", "y", "z", "y"}), `candidates[3] repeats candidates[1] "y"`)
	check(t, "not ASCII", l.CheckCandidates([]string{"café", "été"}), "")
	check(t, "DEL", l.CheckCandidates([]string{"a\x7f"}), "control character U+007F")
	check(t, "C1 control", l.CheckCandidates([]string{"a\u0085"}), "control character U+0085")
	check(t, "not UTF-8", l.CheckCandidates([]string{"a\xff"}), "not valid UTF-8")
}

func TestValidate(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("default limits: %v", err)
	}
	for _, c := range []struct {
		edit func(*Limits)
		want string
	}{
		{func(l *Limits) { l.MaxFeatures = 0 }, "max_features 0"},
		{func(l *Limits) { l.MaxCatalogFeatures = 10 }, "max_catalog_features 10"},
		{func(l *Limits) { l.MaxIDBytes = 10_000 }, "max_id_bytes 10000"},
		{func(l *Limits) { l.MaxAbsValue = math.Inf(1) }, "max_abs_value +Inf"},
		{func(l *Limits) { l.MaxEventAge = 0 }, "max_event_age 0s"},
		{func(l *Limits) { l.MaxOutcomeValue = 0.5 }, "max_outcome_value 0.5"},
		{func(l *Limits) { l.Arms = []string{"a", "b"} }, `must hold "treated"`},
		{func(l *Limits) { l.Arms = append(l.Arms, "") }, "arms: empty arm"},
		{func(l *Limits) { l.MinPropensity = 0 }, "min_propensity 0"},
	} {
		l := Default()
		c.edit(&l)
		check(t, c.want, l.Validate(), c.want)
	}
}

// FuzzCheckEvent feeds arbitrary events to CheckEvent: it never panics, and
// what it accepts keeps every limit.
//
//	go test ./host/limits -run '^$' -fuzz FuzzCheckEvent -fuzztime 30s
func FuzzCheckEvent(f *testing.F) {
	f.Add("id", "u", "i", "treated", "", int64(0), 0.5, 0.0, true)
	f.Add("", "u\x00", "i", "banana", "p", int64(-1<<62), 5e-324, -5.0, false)
	f.Add("\xff", "u", "", "control", "\u0085", int64(1<<62), 1.0, 1e308, false)
	l := Default()
	f.Fuzz(func(t *testing.T, id, user, item, arm, policy string, offsetNs int64, p, v float64, exposure bool) {
		e := store.Event{ID: id, Kind: store.Outcome, User: user, Item: item, Arm: arm, PolicyID: policy, Time: now.Add(time.Duration(offsetNs)), Propensity: p, Value: v}
		if exposure {
			e.Kind = store.Exposure
		}
		if l.CheckEvent(e, now) != nil {
			return
		}
		for _, s := range []string{e.User, e.Item} {
			if s == "" || len(s) > l.MaxIDBytes || !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
				t.Fatalf("accepted the ID %q", s)
			}
		}
		if e.Arm != "" && e.Arm != "treated" && e.Arm != "control" {
			t.Fatalf("accepted the arm %q", e.Arm)
		}
		if e.Propensity != 0 && !(e.Propensity >= l.MinPropensity) {
			t.Fatalf("accepted the propensity %v", e.Propensity)
		}
		if !exposure && e.Value != 0 && !(e.Value >= 0 && e.Value <= l.MaxOutcomeValue) {
			t.Fatalf("accepted the outcome value %v", e.Value)
		}
		if d := e.Time.Sub(now); d < -l.MaxEventAge || d > l.MaxEventAhead {
			t.Fatalf("accepted the time %v", e.Time)
		}
	})
}

// FuzzCheckFeatures feeds arbitrary features to CheckFeatures: what it
// accepts is finite, bounded and named by valid names.
func FuzzCheckFeatures(f *testing.F) {
	f.Add("x", 1.0, "y", -1e9)
	f.Add("", math.Inf(1), "\x7f", 1.7e308)
	l := Default()
	f.Fuzz(func(t *testing.T, k1 string, v1 float64, k2 string, v2 float64) {
		feats := map[string]float64{k1: v1, k2: v2}
		if l.CheckFeatures(feats) != nil {
			return
		}
		for k, v := range feats {
			if k == "" || len(k) > l.MaxNameBytes || !utf8.ValidString(k) || strings.ContainsFunc(k, unicode.IsControl) {
				t.Fatalf("accepted the name %q", k)
			}
			if math.IsNaN(v) || math.Abs(v) > l.MaxAbsValue {
				t.Fatalf("accepted the value %v", v)
			}
		}
	})
}
