package lm

import (
	"math"
)

// DefaultMu is the Dirichlet prior weight Scorer uses when none is given.
// It suits histories of tens to hundreds of tokens; information retrieval
// on full documents typically uses μ ≈ 2000.
const DefaultMu = 100

// History is the bag of words of a user's history texts, the "document"
// an item is scored against.
type History struct {
	counts map[string]int
	total  int
}

// NewHistory counts the tokens of the history texts.
func NewHistory(texts [][]string) *History {
	h := &History{counts: make(map[string]int)}
	for _, t := range texts {
		for _, w := range t {
			h.counts[w]++
		}
		h.total += len(t)
	}
	return h
}

// Len returns the number of tokens in h.
func (h *History) Len() int { return h.total }

// Relevance returns how much more likely the item's tokens are under the
// user's history model than under the background model m: the query
// likelihood of the item under the history smoothed with a Dirichlet prior
// of weight mu on m's 1-gram distribution, relative to m, per token:
//
//	p_H(w) = (c(w, H) + μ p_B(w)) / (|H| + μ)
//	Relevance = (1/|item|) Σ_{w ∈ item} log10(p_H(w) / p_B(w))
//
// where c(w, H) counts w in the history, p_B(w) is m's 1-gram probability
// (that of <unk> for words m does not know). For a fixed item it ranks
// users exactly as the query likelihood does; dividing by p_B and |item|
// makes items of different lengths and frequencies comparable. It is 0
// for an empty item or history and positive when the item's words are more
// frequent in the history than in the background. Relevance panics if mu
// is not positive.
func (m *Model) Relevance(h *History, item []string, mu float64) float64 {
	if !(mu > 0) || math.IsInf(mu, 1) {
		panic("lm: Dirichlet prior weight mu must be positive and finite")
	}
	if len(item) == 0 || h == nil || h.total == 0 {
		return 0
	}
	var sum float64
	norm := float64(h.total) + mu
	for _, w := range item {
		pb := math.Pow(10, float64(m.uniProb[m.Index(w)]))
		c := float64(h.counts[w])
		sum += math.Log10((c + mu*pb) / (norm * pb))
	}
	return sum / float64(len(item))
}
