package abtest

import (
	"errors"
	"testing"
	"time"

	"gonum.org/v1/gonum/floats/scalar"
)

func TestMoments(t *testing.T) {
	y := []float64{1, 2, 4, 3, 0}
	m := MomentsOf(y[:2]).Add(MomentsOf(y[2:]))
	s := summarize(y)
	if m.N != 5 || m.Mean() != s.mean || !scalar.EqualWithinAbs(m.Variance(), s.variance, 1e-12) {
		t.Errorf("moments %+v: mean %v var %v, want %v %v", m, m.Mean(), m.Variance(), s.mean, s.variance)
	}
	if (Moments{}).Mean() != 0 || (Moments{N: 1, Sum: 2, SumSq: 4}).Variance() != 0 {
		t.Errorf("degenerate moments")
	}
}

func TestSequentialBand(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	ctl := []float64{0, 1, 2, 1, 0, 3, 1, 1}
	b := []float64{1, 2, 2, 3, 1, 2, 4, 0}
	c := []float64{0, 0, 1, 1, 0, 2, 1, 1}
	snaps := []Snapshot{
		// Day 1: arm b has a single user, so there is no point for b.
		{Time: t0, Arms: []Moments{MomentsOf(ctl[:2]), MomentsOf(b[:1]), MomentsOf(c[:2])}},
		{Time: t0.AddDate(0, 0, 1), Arms: []Moments{MomentsOf(ctl[:5]), MomentsOf(b[:4]), MomentsOf(c[:5])}},
		{Time: t0.AddDate(0, 0, 2), Arms: []Moments{MomentsOf(ctl), MomentsOf(b), MomentsOf(c)}},
	}
	names := []string{"control", "b", "c"}
	bands, err := SequentialBand(names, snaps, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(bands) != 2 || bands[0].Arm != "b" || bands[1].Arm != "c" || bands[0].Baseline != "control" {
		t.Fatalf("bands %+v", bands)
	}
	if len(bands[0].Points) != 2 || len(bands[1].Points) != 3 || !bands[0].Points[0].Time.Equal(t0.AddDate(0, 0, 1)) {
		t.Fatalf("points %+v", bands)
	}
	// The last point is what Analyze reports on the same data.
	rep, err := Analyze([]Arm{{Name: "control", Weight: 1, Y: ctl}, {Name: "b", Weight: 1, Y: b}, {Name: "c", Weight: 1, Y: c}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for k, band := range bands {
		last, cmp := band.Points[len(band.Points)-1], rep.Comparisons[k]
		for i, pair := range [][2]float64{{last.Lift, cmp.Lift}, {last.CI[0], cmp.CI[0]}, {last.CI[1], cmp.CI[1]}, {last.SequentialCI[0], cmp.SequentialCI[0]}, {last.SequentialCI[1], cmp.SequentialCI[1]}} {
			if !scalar.EqualWithinAbs(pair[0], pair[1], 1e-9) {
				t.Errorf("%s: value %d of the last point %v, Analyze %v", band.Arm, i, pair[0], pair[1])
			}
		}
		if last.Users != len(ctl)+len(b) {
			t.Errorf("%s: %d users", band.Arm, last.Users)
		}
	}

	for _, bad := range []struct {
		names []string
		snaps []Snapshot
	}{
		{[]string{"control"}, nil},
		{names, []Snapshot{{Arms: []Moments{{N: 2}, {N: 2}}}}},
		{names, []Snapshot{{Arms: []Moments{{N: 2}, {N: -1}, {N: 2}}}}},
		{names, []Snapshot{{Arms: []Moments{{N: 2}, {N: 2, SumSq: -1}, {N: 2}}}}},
	} {
		if _, err := SequentialBand(bad.names, bad.snaps, Config{}); !errors.Is(err, ErrInput) {
			t.Errorf("SequentialBand(%v, %+v) error %v, want ErrInput", bad.names, bad.snaps, err)
		}
	}
}
