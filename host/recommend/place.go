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
// higher score first (NaN last), ties by item id.
func greedyCompare(scoreA, scoreB float64, idA, idB string) int {
	if c := cmp.Compare(scoreB, scoreA); c != 0 {
		return c
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

// cand is a candidate being placed: its index in the items and its score.
type cand struct {
	i     int
	score float64
}

// candOrder orders candidates as greedy placement does, ties of score and
// id by index, so that every order it gives is the one a stable sort by
// greedyCompare would.
func candOrder(items []store.Item, a, b cand) int {
	if c := greedyCompare(a.score, b.score, items[a.i].ID, items[b.i].ID); c != 0 {
		return c
	}
	return cmp.Compare(a.i, b.i)
}

// place orders the items by the request's policy and returns the first K
// with the propensity of each placement.
func place(req Request, items []store.Item, sc scores, counts []store.ItemCount, seed uint64) []Ranked {
	cs := make([]cand, len(items))
	for i := range items {
		cs[i] = cand{i, rankScore(req, sc, counts, i)}
	}
	if req.Policy == PolicyGreedy || req.Policy == "" {
		return placeGreedy(req, items, sc, cs)
	}
	// The stochastic policies draw from the whole ordered list.
	slices.SortFunc(cs, func(a, b cand) int { return candOrder(items, a, b) })
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	perCat := map[string]int{}
	out := make([]Ranked, 0, min(req.K, len(cs)))
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
		out = append(out, ranked(items, sc, c, prop, len(out)+1))
		perCat[items[c.i].Category]++
		for j := range cs {
			if cs[j].i == c.i {
				cs = append(cs[:j], cs[j+1:]...)
				break
			}
		}
	}
	return out
}

// placeGreedy places the best candidates in order, each with propensity
// 1, skipping those over their category's cap. It orders only what it
// places: cs becomes a heap (linear time) from which it takes the first
// candidate K times or a little more, instead of sorting them all.
func placeGreedy(req Request, items []store.Item, sc scores, cs []cand) []Ranked {
	first := func(a, b int) bool { return candOrder(items, cs[a], cs[b]) < 0 }
	down := func(i, n int) {
		for {
			j := 2*i + 1
			if j >= n {
				return
			}
			if j+1 < n && first(j+1, j) {
				j++
			}
			if !first(j, i) {
				return
			}
			cs[i], cs[j] = cs[j], cs[i]
			i = j
		}
	}
	n := len(cs)
	for i := n/2 - 1; i >= 0; i-- {
		down(i, n)
	}
	var perCat map[string]int
	out := make([]Ranked, 0, min(req.K, n))
	for len(out) < req.K && n > 0 {
		c := cs[0]
		n--
		cs[0] = cs[n]
		down(0, n)
		if req.MaxPerCategory > 0 {
			cat := items[c.i].Category
			if cat != "" && perCat[cat] >= req.MaxPerCategory {
				continue
			}
			if perCat == nil {
				perCat = map[string]int{}
			}
			perCat[cat]++
		}
		out = append(out, ranked(items, sc, c, 1, len(out)+1))
	}
	return out
}

// ranked is candidate c placed at position pos with propensity prop.
func ranked(items []store.Item, sc scores, c cand, prop float64, pos int) Ranked {
	it := items[c.i]
	rk := Ranked{Item: it.ID, Category: it.Category, Score: c.score, Propensity: prop, Position: pos}
	if sc.values != nil && sc.areUplifts {
		u := sc.values[c.i]
		rk.Uplift = &u
		if sc.lower != nil {
			lo, hi := sc.lower[c.i], sc.upper[c.i]
			rk.UpliftLower, rk.UpliftUpper = &lo, &hi
		}
	}
	return rk
}
