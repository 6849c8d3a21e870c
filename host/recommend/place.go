package recommend

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/causalrec/causalrec/host/store"
)

// rankScore is the number item i is ranked by: the model's score (with
// the relevance blend when asked for), or its outcome count in a fallback.
func rankScore(req Request, sc scores, counts []store.ItemCount, i int) float64 {
	if sc.values != nil {
		s := sc.values[i]
		if sc.relevanceBlend != nil {
			s += req.RelevanceWeight * sc.relevanceBlend[i]
		}
		return s
	}
	if i < len(counts) {
		return counts[i].Outcomes
	}
	return 0
}

// greedyCompare orders two candidates as greedy placement does: the
// higher score first, ties by item id.
func greedyCompare(scoreA, scoreB float64, idA, idB string) int {
	if scoreA != scoreB {
		return cmp.Compare(scoreB, scoreA)
	}
	return strings.Compare(idA, idB)
}

// GreedyFirst returns the index of the candidate that greedy placement
// puts first, given each candidate's score (Response.ConsideredScores), or
// -1 when there are none.
func GreedyFirst(ids []string, scores []float64) int {
	top := -1
	for i := range ids {
		if top < 0 || greedyCompare(scores[i], scores[top], ids[i], ids[top]) < 0 {
			top = i
		}
	}
	return top
}

// place orders the items by the request's policy and returns the first K
// with the propensity of each placement.
func place(req Request, items []store.Item, sc scores, counts []store.ItemCount, seed uint64) []Ranked {
	type cand struct {
		i     int
		score float64
	}
	cs := make([]cand, len(items))
	for i := range items {
		cs[i] = cand{i, rankScore(req, sc, counts, i)}
	}
	slices.SortStableFunc(cs, func(a, b cand) int {
		return greedyCompare(a.score, b.score, items[a.i].ID, items[b.i].ID)
	})
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	perCat := map[string]int{}
	out := []Ranked{}
	for len(out) < req.K && len(cs) > 0 {
		// Items over their category's cap cannot be placed.
		avail := cs
		if req.MaxPerCategory > 0 {
			avail = cs[:0:0]
			for _, c := range cs {
				if cat := items[c.i].Category; cat == "" || perCat[cat] < req.MaxPerCategory {
					avail = append(avail, c)
				}
			}
		}
		if len(avail) == 0 {
			break
		}
		pick, prop := 0, 1.0
		switch req.Policy {
		case PolicyEpsilonGreedy:
			u := rng.Float64()
			if u < req.Epsilon {
				pick = rng.IntN(len(avail))
			}
			prop = req.Epsilon / float64(len(avail))
			if pick == 0 {
				prop += 1 - req.Epsilon
			}
		case PolicyPlackettLuce:
			w := make([]float64, len(avail))
			maxS := avail[0].score
			var total float64
			for j, c := range avail {
				w[j] = math.Exp((c.score - maxS) / req.Temperature)
				total += w[j]
			}
			u := rng.Float64() * total
			for pick = 0; pick < len(avail)-1 && u >= w[pick]; pick++ {
				u -= w[pick]
			}
			prop = w[pick] / total
		}
		c := avail[pick]
		it := items[c.i]
		rk := Ranked{Item: it.ID, Category: it.Category, Score: c.score, Propensity: prop, Position: len(out) + 1}
		if sc.values != nil && sc.areUplifts {
			u := sc.values[c.i]
			rk.Uplift = &u
			if sc.lower != nil {
				lo, hi := sc.lower[c.i], sc.upper[c.i]
				rk.UpliftLower, rk.UpliftUpper = &lo, &hi
			}
		}
		out = append(out, rk)
		perCat[it.Category]++
		for j := range cs {
			if cs[j].i == c.i {
				cs = append(cs[:j], cs[j+1:]...)
				break
			}
		}
	}
	return out
}
