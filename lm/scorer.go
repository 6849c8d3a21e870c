package lm

import "math"

// Scorer computes the text features of item texts under a background
// model: fluency (log10 probability and perplexity) and relevance to a
// user's history. It is safe for concurrent use.
type Scorer struct {
	model    *Model
	mu       float64
	tokenize func(string) []string
}

// ScorerOptions configures a Scorer. The zero value uses DefaultMu and
// Tokenize.
type ScorerOptions struct {
	// Mu is the Dirichlet prior weight of Relevance; 0 means DefaultMu.
	Mu float64
	// Tokenize splits a text into tokens; nil means Tokenize. It must be
	// the tokeniser the model was trained with and safe for concurrent
	// use.
	Tokenize func(string) []string
}

// TextScore holds the features of one item text.
type TextScore struct {
	// LogProb is the log10 probability of the text as one sentence,
	// from <s> with </s> scored.
	LogProb float64
	// Perplexity is 10^(−LogProb/(Tokens+1)), </s> counted.
	Perplexity float64
	// Relevance is Model.Relevance of the text to the context texts; 0
	// without context.
	Relevance float64
	// Tokens and OOV count the text's tokens and those not in the model.
	Tokens, OOV int
}

// NewScorer returns a Scorer over m. It panics if opts.Mu is negative or NaN.
func NewScorer(m *Model, opts ScorerOptions) *Scorer {
	s := &Scorer{model: m, mu: opts.Mu, tokenize: opts.Tokenize}
	if s.mu == 0 {
		s.mu = DefaultMu
	}
	if !(s.mu > 0) || math.IsInf(s.mu, 1) {
		panic("lm: Dirichlet prior weight mu must be positive and finite")
	}
	if s.tokenize == nil {
		s.tokenize = Tokenize
	}
	return s
}

// Model returns the background model.
func (s *Scorer) Model() *Model { return s.model }

// Score returns the features of text, with the optional context texts (the
// user's history) as the relevance reference.
func (s *Scorer) Score(text string, context ...string) TextScore {
	var h *History
	if len(context) > 0 {
		toks := make([][]string, len(context))
		for i, c := range context {
			toks[i] = s.tokenize(c)
		}
		h = NewHistory(toks)
	}
	return s.ScoreTokens(s.tokenize(text), h)
}

// Relevance returns the relevance of a tokenised item to a history (the
// Relevance of ScoreTokens, without its fluency).
func (s *Scorer) Relevance(item []string, h *History) float64 {
	return s.model.Relevance(h, item, s.mu)
}

// ScoreTokens returns the features of a tokenised item against a history,
// which may be nil. Reuse one History to score many items for a user.
func (s *Scorer) ScoreTokens(item []string, h *History) TextScore {
	f := s.model.Fluency(item)
	return TextScore{
		LogProb:    f.LogProb,
		Perplexity: f.Perplexity(),
		Relevance:  s.model.Relevance(h, item, s.mu),
		Tokens:     len(item),
		OOV:        f.OOV,
	}
}
