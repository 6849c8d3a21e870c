package main

import (
	"slices"
	"testing"
)

func TestParseExtra(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"", nil, false},
		{"t/linear", []string{"t/linear"}, false},
		{" r/gbt:depth=2:final=linear:l2=50 ; ;x/linear", []string{"r/gbt:depth=2:final=linear:l2=50", "x/linear"}, false},
		{"r/gbt:depth", nil, true},
		{"/linear", nil, true},
	} {
		got, err := parseExtra(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("parseExtra(%q) error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("parseExtra(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestGridCandidates checks that the extra candidates follow auto's
// defaults in the comparison in hindsight, after the auto variants.
func TestGridCandidates(t *testing.T) {
	g := &grid{autos: []string{"auto", "auto:qagg=0"}, extra: []string{"x/linear:l2=1"}}
	names := g.estimators(500)
	if !slices.Equal(names[:2], g.autos) || names[len(names)-1] != "x/linear:l2=1" || len(names) < 5 {
		t.Fatalf("estimators = %q", names)
	}
	if c := g.candidates(500); !slices.Equal(c, names[2:]) {
		t.Fatalf("candidates = %q, want %q", c, names[2:])
	}
}
