package recommend

import (
	"testing"
	"time"

	"github.com/causalrec/causalrec/host/store"
)

// TestReplayReward checks which outcome rewards which exposure: one at or
// after the exposure and before the pair's next exposure.
func TestReplayReward(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	pk := pairKey{user: "u", item: "i"}
	lg := &replayLog{
		exposures: map[pairKey][]int64{pk: {at(0).UnixNano(), at(10).UnixNano(), at(20).UnixNano()}},
		outcomes:  map[pairKey][]int64{pk: {at(10).UnixNano(), at(25).UnixNano()}},
	}
	for _, tc := range []struct {
		exposure int
		item     string
		want     bool
	}{
		{0, "i", false},  // the outcome at 10 comes with the next exposure
		{10, "i", true},  // at the exposure's own time
		{20, "i", true},  // at 25, no exposure after
		{0, "j", false},  // another item
		{30, "i", false}, // nothing after
	} {
		e := store.Event{Item: tc.item, Time: at(tc.exposure)}
		if got := lg.rewarded("u", e); got != tc.want {
			t.Errorf("exposure of %s at %dh: rewarded %v, want %v", tc.item, tc.exposure, got, tc.want)
		}
	}
}

// TestHistoryBefore checks that a replayed list sees the latest events
// strictly before it, newest first, as a snapshot reads a history.
func TestHistoryBefore(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []store.Event
	for h := range 60 {
		evs = append(evs, store.Event{ID: string(rune('A' + h)), Time: t0.Add(time.Duration(h) * time.Hour)})
	}
	for _, tc := range []struct {
		at         int
		n          int
		first, end string
	}{
		{0, 0, "", ""},
		{1, 1, "A", "A"},
		{5, 5, "E", "A"},
		{60, historyRead, string(rune('A' + 59)), string(rune('A' + 10))},
	} {
		h := historyBefore(evs, t0.Add(time.Duration(tc.at)*time.Hour).UnixNano())
		if len(h) != tc.n || (tc.n > 0 && (h[0].ID != tc.first || h[len(h)-1].ID != tc.end)) {
			t.Errorf("before %dh: %d events, want %d from %s to %s", tc.at, len(h), tc.n, tc.first, tc.end)
		}
	}
}
