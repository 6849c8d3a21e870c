package lm

import "math"

// Fluency sums the scores of one or more sentences, as KenLM's query
// reports them. Events count every scored word including </s>; the "without
// OOV" sums leave out the words that are not in the vocabulary (the words
// after them still see <unk> in their context).
type Fluency struct {
	// LogProb is Σ log10 p over all events.
	LogProb float64
	// LogProbWithoutOOV is Σ log10 p over the in-vocabulary events.
	LogProbWithoutOOV float64
	// Sentences, Events and OOV count sentences, scored words (with
	// </s>) and out-of-vocabulary words.
	Sentences, Events, OOV int
}

// Fluency scores the sentence tokens from <s> with </s> at the end.
func (m *Model) Fluency(tokens []string) Fluency {
	f := Fluency{Sentences: 1, Events: len(tokens) + 1}
	s := m.BeginSentence()
	for _, w := range tokens {
		id, ok := m.vocab[w]
		if !ok {
			id = m.unk
		}
		p, _ := m.Score(&s, id, &s)
		f.LogProb += float64(p)
		if ok {
			f.LogProbWithoutOOV += float64(p)
		} else {
			f.OOV++
		}
	}
	p, _ := m.Score(&s, m.eos, &s)
	f.LogProb += float64(p)
	f.LogProbWithoutOOV += float64(p)
	return f
}

// Add accumulates g into f.
func (f *Fluency) Add(g Fluency) {
	f.LogProb += g.LogProb
	f.LogProbWithoutOOV += g.LogProbWithoutOOV
	f.Sentences += g.Sentences
	f.Events += g.Events
	f.OOV += g.OOV
}

// Perplexity returns 10^(−LogProb/Events), or NaN with no events.
func (f Fluency) Perplexity() float64 {
	if f.Events == 0 {
		return math.NaN()
	}
	return math.Pow(10, -f.LogProb/float64(f.Events))
}

// PerplexityWithoutOOV returns 10^(−LogProbWithoutOOV/(Events−OOV)), or
// NaN when every event is OOV.
func (f Fluency) PerplexityWithoutOOV() float64 {
	n := f.Events - f.OOV
	if n <= 0 {
		return math.NaN()
	}
	return math.Pow(10, -f.LogProbWithoutOOV/float64(n))
}
