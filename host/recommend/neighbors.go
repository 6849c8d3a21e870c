package recommend

import (
	"sort"

	"github.com/causalrec/causalrec/host/store"
)

// maxNeighbors is how many neighbours are kept per item; maxPerUser is how
// many of a user's engaged items (the latest) count for co-occurrence.
const (
	maxNeighbors = 20
	maxPerUser   = 50
)

// cooccurrence counts, for every pair of items, the users who engaged with
// both, and keeps each item's top n neighbours (ties by id).
func cooccurrence(engaged map[string][]string, n int) map[string][]store.ItemScore {
	counts := map[string]map[string]float64{}
	for _, list := range engaged {
		seen := map[string]bool{}
		var uniq []string
		for i := len(list) - 1; i >= 0 && len(uniq) < maxPerUser; i-- {
			if !seen[list[i]] {
				seen[list[i]] = true
				uniq = append(uniq, list[i])
			}
		}
		for _, a := range uniq {
			for _, b := range uniq {
				if a == b {
					continue
				}
				if counts[a] == nil {
					counts[a] = map[string]float64{}
				}
				counts[a][b]++
			}
		}
	}
	out := make(map[string][]store.ItemScore, len(counts))
	for a, m := range counts {
		list := make([]store.ItemScore, 0, len(m))
		for b, c := range m {
			list = append(list, store.ItemScore{Item: b, Score: c})
		}
		sort.Slice(list, func(i, j int) bool {
			if list[i].Score != list[j].Score {
				return list[i].Score > list[j].Score
			}
			return list[i].Item < list[j].Item
		})
		if len(list) > n {
			list = list[:n]
		}
		out[a] = list
	}
	return out
}
