package lm

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// randomCorpus draws sentences from a small Zipf-like vocabulary.
func randomCorpus(src rand.Source, sentences, vocab int) [][]string {
	r := rand.New(src)
	z := rand.NewZipf(r, 1.3, 2, uint64(vocab-1))
	out := make([][]string, sentences)
	for i := range out {
		n := r.IntN(12)
		for range n {
			out[i] = append(out[i], "w"+strings.Repeat("x", int(z.Uint64()%3))+string(rune('a'+z.Uint64()%26)))
		}
	}
	return out
}

// TestEstimateNormalised checks Σ_w p(w|h) = 1 over the vocabulary
// (without <s>) for every context h the model knows, at every order.
func TestEstimateNormalised(t *testing.T) {
	for _, order := range []int{2, 3, 4, 5, 6} {
		c := NewCorpus()
		for _, s := range randomCorpus(rand.NewPCG(1, uint64(order)), 400, 60) {
			if err := c.Add(s); err != nil {
				t.Fatal(err)
			}
		}
		a, err := Estimate(c, EstimateOptions{Order: order, DiscountFallback: &DefaultFallback})
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewModel(a)
		if err != nil {
			t.Fatal(err)
		}
		// Contexts: every n-gram below the highest order, as a state.
		checked := 0
		for k := 1; k < order; k++ {
			for i := 0; i < a.Orders[k-1].Len(); i += 1 + i%7 {
				ctx := a.NGrams(k, i)
				var s State
				if ctx[0] == m.BeginID() {
					s = m.BeginSentence()
					ctx = ctx[1:]
				}
				for _, w := range ctx {
					m.Score(&s, w, &s)
				}
				sum := 0.0
				for w := range m.VocabSize() {
					if WordID(w) == m.BeginID() {
						continue
					}
					in := s
					p, _ := m.Score(&in, WordID(w), &in)
					sum += math.Pow(10, float64(p))
				}
				if math.Abs(sum-1) > 1e-4 {
					t.Fatalf("order %d, context %q: Σ p = %.6f", order, m.join(a.NGrams(k, i)), sum)
				}
				checked++
			}
		}
		if checked == 0 {
			t.Fatalf("order %d: no contexts checked", order)
		}
	}
}
