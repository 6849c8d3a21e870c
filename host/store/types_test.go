package store

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	t0 := time.Unix(1, 0)
	ok := Event{Kind: Exposure, User: "u", Item: "i", Time: t0}
	mod := func(f func(*Event)) Event { e := ok; f(&e); return e }
	tests := []struct {
		name string
		e    Event
		want string
	}{
		{"ok", ok, ""},
		{"unknown kind", mod(func(e *Event) { e.Kind = "click" }), "unknown kind"},
		{"missing kind", mod(func(e *Event) { e.Kind = "" }), "missing kind"},
		{"empty user", mod(func(e *Event) { e.User = "" }), "empty event user"},
		{"zero time", mod(func(e *Event) { e.Time = time.Time{} }), "missing time"},
		{"propensity 0 is unknown", mod(func(e *Event) { e.Propensity = 0 }), ""},
		{"propensity 1", mod(func(e *Event) { e.Propensity = 1 }), ""},
		{"propensity negative", mod(func(e *Event) { e.Propensity = -0.1 }), "outside (0, 1]"},
		{"propensity NaN", mod(func(e *Event) { e.Propensity = nan() }), "propensity is NaN"},
		{"value Inf", mod(func(e *Event) { e.Value = 1 / zero() }), "value is +Inf"},
		{"negative position", mod(func(e *Event) { e.Position = -1 }), "negative position"},
		{"bad utf8 item", mod(func(e *Event) { e.Item = "\xff" }), "not valid UTF-8"},
		{"long id", mod(func(e *Event) { e.ID = strings.Repeat("x", MaxIDBytes+1) }), "over the limit"},
	}
	for _, tt := range tests {
		err := tt.e.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
	items := []struct {
		it   Item
		want string
	}{
		{Item{ID: "a"}, ""},
		{Item{}, "empty item id"},
		{Item{ID: "a", Text: "\xc3\x28"}, "text is not valid UTF-8"},
		{Item{ID: "a", Features: map[string]float64{"x": nan()}}, `feature "x" is NaN`},
		{Item{ID: "a", Features: map[string]float64{"": 1}}, "empty name"},
	}
	for _, tt := range items {
		err := tt.it.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Item %+v: Validate() = %v, want %q", tt.it, err, tt.want)
		}
	}
}

func zero() float64 { return 0 }

func TestTextHash(t *testing.T) {
	a1, a2 := TextHash("a"), TextHash(string([]byte{'a'}))
	if a1 == TextHash("b") || a1 != a2 || len(TextHash("")) != 32 {
		t.Error("TextHash is not a stable 32-digit hash")
	}
}
