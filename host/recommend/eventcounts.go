// The counting helpers of the replay (replay.go); the training table has
// its own compact ones (table.go).

package recommend

import (
	"cmp"
	"slices"
)

// pairKey identifies a (user, item) pair.
type pairKey struct {
	user, item string
}

// stamp is one event of a user or an item: its time (Unix ns) and whether
// it is an outcome (else an exposure).
type stamp struct {
	t       int64
	outcome bool
}

// eventCounts are one user's or item's events in time order with running
// outcome counts, so that the counts before any time are a binary search
// away.
type eventCounts struct {
	t []int64
	// outcomes[i] is the number of outcomes among the first i events.
	outcomes []float64
}

// countsOf sorts each log's events by time and counts them.
func countsOf(logs map[string][]stamp) map[string]eventCounts {
	out := make(map[string]eventCounts, len(logs))
	for id, h := range logs {
		slices.SortStableFunc(h, func(a, b stamp) int { return cmp.Compare(a.t, b.t) })
		c := eventCounts{t: make([]int64, len(h)), outcomes: make([]float64, len(h)+1)}
		for i, s := range h {
			c.t[i] = s.t
			c.outcomes[i+1] = c.outcomes[i]
			if s.outcome {
				c.outcomes[i+1]++
			}
		}
		out[id] = c
	}
	return out
}

// before returns the numbers of exposures and outcomes among the latest
// limit events strictly before time at (all of them when limit is 0).
func (c eventCounts) before(at int64, limit int) (exposures, outcomes float64) {
	if len(c.outcomes) == 0 {
		return 0, 0
	}
	end, _ := slices.BinarySearch(c.t, at)
	start := 0
	if limit > 0 {
		start = max(0, end-limit)
	}
	outcomes = c.outcomes[end] - c.outcomes[start]
	return float64(end-start) - outcomes, outcomes
}
