package sentiment

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Constants of the VADER model (Hutto & Gilbert 2014), empirically derived
// mean changes in rated intensity.
const (
	boosterIncr = 0.293  // an intensifier ("very") before a word
	boosterDecr = -0.293 // a dampener ("slightly") before a word
	capsIncr    = 0.733  // a word in ALL CAPS among words that are not
	negScalar   = -0.74  // a negation ("not") flips and shrinks a valence
	normAlpha   = 15     // compound = s / sqrt(s² + alpha)
	exclIncr    = 0.292  // per "!" (at most 4)
	questIncr   = 0.18   // per "?" when there are 2 or 3
	questMax    = 0.96   // for 4 or more "?"
)

// Scores are the VADER polarity scores of one text.
//
// Compound is the normalised sum of the rule-adjusted valences of the words,
// in [-1, 1]:
//
//	compound = s / sqrt(s² + 15),  s = Σ valence ± punctuation emphasis.
//
// Pos, Neu and Neg are the proportions of the text that are positive,
// neutral and negative; they sum to 1 (all three are 0 for a text with no
// words). The values are not rounded; Round gives VADER's printed precision.
type Scores struct {
	Neg, Neu, Pos float64
	Compound      float64
}

// Round returns s rounded as the reference implementation reports it:
// Neg, Neu and Pos to 3 decimals, Compound to 4.
func (s Scores) Round() Scores {
	r := func(x, scale float64) float64 { return math.RoundToEven(x*scale) / scale }
	return Scores{Neg: r(s.Neg, 1e3), Neu: r(s.Neu, 1e3), Pos: r(s.Pos, 1e3), Compound: r(s.Compound, 1e4)}
}

// Analyzer scores the sentiment of English text with the VADER rules:
// a valence lexicon, negation, intensifiers and dampeners, the contrastive
// "but", ALL-CAPS emphasis, "!" and "?" emphasis, idioms, and emoji
// (replaced by their descriptions). Its scores agree with the reference
// Python implementation (vaderSentiment 3.3.x).
//
// An Analyzer is safe for concurrent use by multiple goroutines. Build it
// once and reuse it: construction parses the lexicons.
type Analyzer struct {
	lex      map[string]float64
	emoji    map[rune]string
	minEmoji rune // smallest code point in emoji; a fast pre-check
	pool     sync.Pool
}

// NewAnalyzer returns an Analyzer with the embedded VADER lexicons.
// It panics only if the embedded lexicons are corrupt, which the package's
// tests rule out.
func NewAnalyzer() *Analyzer {
	a, err := NewAnalyzerFrom(bytes.NewReader(embeddedLexicon), bytes.NewReader(embeddedEmoji))
	if err != nil {
		panic(fmt.Sprintf("sentiment: embedded lexicon: %v", err))
	}
	return a
}

// NewAnalyzerFrom returns an Analyzer that reads its word lexicon from lexicon
// (see ReadLexicon) and its emoji lexicon from emoji (see ReadEmojiLexicon).
// A nil emoji reader means no emoji replacement.
func NewAnalyzerFrom(lexicon, emoji io.Reader) (*Analyzer, error) {
	lex, err := ReadLexicon(lexicon)
	if err != nil {
		return nil, fmt.Errorf("read word lexicon: %w", err)
	}
	em := map[rune]string{}
	if emoji != nil {
		em, err = ReadEmojiLexicon(emoji)
		if err != nil {
			return nil, fmt.Errorf("read emoji lexicon: %w", err)
		}
	}
	a := &Analyzer{lex: lex, emoji: em, minEmoji: utf8.MaxRune + 1}
	for r := range em {
		a.minEmoji = min(a.minEmoji, r)
	}
	a.pool.New = func() any { return new(scratch) }
	return a, nil
}

// Valence returns the lexicon valence of a lower-case token, in [-4, 4],
// and whether the token is in the lexicon.
func (a *Analyzer) Valence(token string) (float64, bool) {
	v, ok := a.lex[token]
	return v, ok
}

// token is one white-space separated word of the text after VADER's
// punctuation rule, with everything the rules ask about it.
type token struct {
	orig    string  // as written
	low     string  // lower case
	lexVal  float64 // lexicon valence when inLex
	boost   float64 // booster value when isBoost
	inLex   bool
	isBoost bool
	upper   bool // Python's str.isupper

	lowOff, lowEnd int // position of low in scratch.low, when lowered
	lowered        bool
}

// scratch holds the per-call buffers, recycled through Analyzer.pool.
type scratch struct {
	text []byte
	low  []byte
	toks []token
	sent []float64
}

// Compound returns the VADER compound score of text, in [-1, 1].
func (a *Analyzer) Compound(text string) float64 {
	return a.PolarityScores(text).Compound
}

// PolarityScores returns the VADER scores of text. Any byte string is
// accepted; invalid UTF-8 bytes are treated as letters without case.
func (a *Analyzer) PolarityScores(text string) Scores {
	return a.analyze(text, nil)
}

// wordStats summarises the rule-adjusted valences of the words of a text.
type wordStats struct {
	posSum, negSum float64 // sums of the positive and of the negative valences
	nPos, nNeg     int     // numbers of positive and negative words
	nWords         int
	maxV, minV     float64 // largest and smallest valence (0 if none)
}

// analyze scores text and, if st is not nil, fills in its word statistics.
func (a *Analyzer) analyze(text string, st *wordStats) Scores {
	s := a.pool.Get().(*scratch)
	defer func() {
		clear(s.toks)
		s.toks = s.toks[:0]
		a.pool.Put(s)
	}()

	text = a.replaceEmoji(s, text)
	toks := a.tokenize(s, text)
	if len(toks) == 0 {
		return Scores{}
	}

	nUpper := 0
	for i := range toks {
		if toks[i].upper {
			nUpper++
		}
	}
	capDiff := nUpper > 0 && nUpper < len(toks)

	sent := s.sent[:0]
	for i := range toks {
		t := &toks[i]
		switch {
		case t.isBoost:
			sent = append(sent, 0)
		case i < len(toks)-1 && t.low == "kind" && toks[i+1].low == "of":
			sent = append(sent, 0)
		case t.inLex:
			sent = append(sent, wordValence(toks, i, capDiff))
		default:
			sent = append(sent, 0)
		}
	}
	s.sent = sent
	butCheck(toks, sent)
	if st != nil {
		*st = wordStats{nWords: len(sent)}
		for _, x := range sent {
			switch {
			case x > 0:
				st.posSum += x
				st.nPos++
			case x < 0:
				st.negSum += x
				st.nNeg++
			}
			st.maxV = max(st.maxV, x)
			st.minV = min(st.minV, x)
		}
	}
	return scoreValence(sent, text)
}

// replaceEmoji replaces every emoji code point by its description, with a
// space before it unless the previous character was a space.
func (a *Analyzer) replaceEmoji(s *scratch, text string) string {
	first := -1
	for i := 0; i < len(text); i++ {
		if text[i] < utf8.RuneSelf {
			continue
		}
		r, _ := utf8.DecodeRuneInString(text[i:])
		if r >= a.minEmoji {
			if _, ok := a.emoji[r]; ok {
				first = i
				break
			}
		}
	}
	if first < 0 {
		return text
	}
	buf := append(s.text[:0], text[:first]...)
	prevSpace := first == 0 || text[first-1] == ' '
	for i := first; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r >= a.minEmoji {
			if d, ok := a.emoji[r]; ok {
				if !prevSpace {
					buf = append(buf, ' ')
				}
				buf = append(buf, d...)
				prevSpace = false
				i += size
				continue
			}
		}
		buf = append(buf, text[i:i+size]...)
		prevSpace = r == ' '
		i += size
	}
	s.text = buf
	return string(buf)
}

// tokenize splits text on white space (Python's definition), applies VADER's
// punctuation rule to each word and fills in what the rules need.
func (a *Analyzer) tokenize(s *scratch, text string) []token {
	toks := s.toks[:0]
	low := s.low[:0]
	anyLowered := false
	i := 0
	for i < len(text) {
		if n := spaceLen(text, i); n > 0 {
			i += n
			continue
		}
		// Scan one word, noting its ASCII letter case on the way.
		start := i
		var upperASCII, lowerASCII, nonASCII bool
		for i < len(text) {
			c := text[i]
			if c < utf8.RuneSelf {
				if isASCIISpace(c) {
					break
				}
				upperASCII = upperASCII || ('A' <= c && c <= 'Z')
				lowerASCII = lowerASCII || ('a' <= c && c <= 'z')
				i++
				continue
			}
			r, size := utf8.DecodeRuneInString(text[i:])
			if r != utf8.RuneError && unicode.IsSpace(r) {
				break
			}
			nonASCII = true
			i += size
		}
		w := stripPunct(text[start:i])
		t := token{orig: w}
		needLower := false
		if nonASCII {
			t.upper, needLower = caseOf(w)
		} else if upperASCII {
			// Stripping punctuation removes no letters, so the flags hold for w.
			t.upper, needLower = !lowerASCII, true
		}
		if needLower {
			t.lowOff = len(low)
			low = appendLower(low, w)
			t.lowEnd = len(low)
			t.lowered = true
			anyLowered = true
		} else {
			t.low = w
		}
		toks = append(toks, t)
	}
	s.low = low
	if anyLowered {
		ls := string(low)
		for k := range toks {
			if toks[k].lowered {
				toks[k].low = ls[toks[k].lowOff:toks[k].lowEnd]
			}
		}
	}
	for k := range toks {
		t := &toks[k]
		t.lexVal, t.inLex = a.lex[t.low]
		t.boost, t.isBoost = boosterValue(t.low)
	}
	s.toks = toks
	return toks
}

// wordValence is the valence of the lexicon word toks[i] after VADER's
// rules for "no", capitals, the three preceding words (intensifiers,
// negations, idioms) and "least".
func wordValence(toks []token, i int, capDiff bool) float64 {
	t := &toks[i]
	v := t.lexVal
	if t.low == "no" && i != len(toks)-1 && toks[i+1].inLex {
		// "no" negates the next word instead of counting itself.
		v = 0
	}
	if (i > 0 && toks[i-1].low == "no") ||
		(i > 1 && toks[i-2].low == "no") ||
		(i > 2 && toks[i-3].low == "no" && (toks[i-1].low == "or" || toks[i-1].low == "nor")) {
		v = t.lexVal * negScalar
	}
	if t.upper && capDiff {
		if v > 0 {
			v += capsIncr
		} else {
			v -= capsIncr
		}
	}
	for back := 0; back < 3; back++ {
		j := i - back - 1
		if j < 0 || toks[j].inLex {
			continue
		}
		sc := scalarIncDec(&toks[j], v, capDiff)
		if sc != 0 {
			switch back {
			case 1:
				sc *= 0.95
			case 2:
				sc *= 0.9
			}
		}
		v += sc
		v = negationCheck(toks, v, back, i)
		if back == 2 {
			v = idiomsCheck(toks, v, i)
		}
	}
	return leastCheck(toks, v, i)
}

// scalarIncDec is the change an intensifier or dampener t makes to a word of
// valence v.
func scalarIncDec(t *token, v float64, capDiff bool) float64 {
	if !t.isBoost {
		return 0
	}
	sc := t.boost
	if v < 0 {
		sc = -sc
	}
	if t.upper && capDiff {
		if v > 0 {
			sc += capsIncr
		} else {
			sc -= capsIncr
		}
	}
	return sc
}

// negationCheck applies a negation back+1 words before word i.
func negationCheck(toks []token, v float64, back, i int) float64 {
	low := func(k int) string { return toks[k].low }
	soThis := func(k int) bool { return low(k) == "so" || low(k) == "this" }
	switch back {
	case 0:
		if isNegated(toks[i-1].low) {
			v *= negScalar
		}
	case 1:
		switch {
		case low(i-2) == "never" && soThis(i-1):
			v *= 1.25
		case low(i-2) == "without" && low(i-1) == "doubt":
		case isNegated(toks[i-2].low):
			v *= negScalar
		}
	case 2:
		switch {
		// The reference groups this as (never && so/this) || so/this.
		case (low(i-3) == "never" && soThis(i-2)) || soThis(i-1):
			v *= 1.25
		case low(i-3) == "without" && (low(i-2) == "doubt" || low(i-1) == "doubt"):
		case isNegated(toks[i-3].low):
			v *= negScalar
		}
	}
	return v
}

// idiomsCheck applies the special-case phrases around word i (i >= 3) and
// two-word dampeners such as "kind of" before it.
func idiomsCheck(toks []token, v float64, i int) float64 {
	low := func(k int) string { return toks[k].low }
	seqs := [...][3]string{
		{low(i - 1), low(i), ""},
		{low(i - 2), low(i - 1), low(i)},
		{low(i - 2), low(i - 1), ""},
		{low(i - 3), low(i - 2), low(i - 1)},
		{low(i - 3), low(i - 2), ""},
	}
	for _, q := range seqs {
		if x, ok := specialCase(q[0], q[1], q[2]); ok {
			v = x
			break
		}
	}
	if len(toks)-1 > i {
		if x, ok := specialCase(low(i), low(i+1), ""); ok {
			v = x
		}
	}
	if len(toks)-1 > i+1 {
		if x, ok := specialCase(low(i), low(i+1), low(i+2)); ok {
			v = x
		}
	}
	// Multi-word boosters; no three-word booster exists.
	if x, ok := boosterPair(low(i-3), low(i-2)); ok {
		v += x
	}
	if x, ok := boosterPair(low(i-2), low(i-1)); ok {
		v += x
	}
	return v
}

// leastCheck negates word i after "least", except in "at least" and
// "very least".
func leastCheck(toks []token, v float64, i int) float64 {
	if i > 0 && !toks[i-1].inLex && toks[i-1].low == "least" {
		if i == 1 || (toks[i-2].low != "at" && toks[i-2].low != "very") {
			v *= negScalar
		}
	}
	return v
}

// butCheck halves the sentiments before the first "but" and multiplies those
// after it by 1.5. It reproduces the reference implementation exactly,
// including its lookup of each value by its first equal element.
func butCheck(toks []token, sent []float64) {
	bi := -1
	for k := range toks {
		if toks[k].low == "but" {
			bi = k
			break
		}
	}
	if bi < 0 {
		return
	}
	for k := range sent {
		x := sent[k]
		si := k
		for j := 0; j < k; j++ {
			if sent[j] == x {
				si = j
				break
			}
		}
		switch {
		case si < bi:
			sent[si] = x * 0.5
		case si > bi:
			sent[si] = x * 1.5
		}
	}
}

// scoreValence turns the word sentiments into Scores.
func scoreValence(sent []float64, text string) Scores {
	sum := 0.0
	for _, x := range sent {
		sum += x
	}
	amp := punctEmphasis(text)
	switch {
	case sum > 0:
		sum += amp
	case sum < 0:
		sum -= amp
	}
	compound := sum / math.Sqrt(sum*sum+normAlpha)
	compound = max(-1, min(1, compound))

	var pos, neg, neu float64
	for _, x := range sent {
		switch {
		case x > 0:
			pos += x + 1
		case x < 0:
			neg += x - 1
		default:
			neu++
		}
	}
	switch {
	case pos > -neg:
		pos += amp
	case pos < -neg:
		neg -= amp
	}
	total := pos - neg + neu
	return Scores{
		Neg:      math.Abs(neg / total),
		Neu:      math.Abs(neu / total),
		Pos:      math.Abs(pos / total),
		Compound: compound,
	}
}

// punctEmphasis is the emphasis added by "!" (0.292 each, at most 4) and
// "?" (0.18 each for 2 or 3, 0.96 for more).
func punctEmphasis(text string) float64 {
	excl, quest := strings.Count(text, "!"), strings.Count(text, "?")
	amp := float64(min(excl, 4)) * exclIncr
	switch {
	case quest > 3:
		amp += questMax
	case quest > 1:
		amp += float64(quest) * questIncr
	}
	return amp
}

// spaceLen returns the byte length of the white-space character at text[i],
// or 0 if there is none. White space is Python's: Unicode White_Space plus
// the ASCII separators U+001C..U+001F.
func spaceLen(text string, i int) int {
	if c := text[i]; c < utf8.RuneSelf {
		if isASCIISpace(c) {
			return 1
		}
		return 0
	}
	r, size := utf8.DecodeRuneInString(text[i:])
	if r != utf8.RuneError && unicode.IsSpace(r) {
		return size
	}
	return 0
}

// asciiSpaces has bit c set for each ASCII white-space byte c: tab, line
// feed, vertical tab, form feed, carriage return, U+001C..U+001F and space.
const asciiSpaces = 1<<'\t' | 1<<'\n' | 1<<'\v' | 1<<'\f' | 1<<'\r' | 1<<0x1c | 1<<0x1d | 1<<0x1e | 1<<0x1f | 1<<' '

// isASCIISpace reports whether the ASCII byte c is white space (Python's
// str.isspace).
func isASCIISpace(c byte) bool {
	return c <= ' ' && asciiSpaces>>c&1 != 0
}

// isPunct reports whether c is ASCII punctuation (Python's
// string.punctuation).
func isPunct(c byte) bool {
	return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~')
}

// stripPunct removes leading and trailing ASCII punctuation from w unless
// that leaves two characters or fewer (an emoticon such as ":)").
func stripPunct(w string) string {
	lo, hi := 0, len(w)
	for lo < hi && isPunct(w[lo]) {
		lo++
	}
	for hi > lo && isPunct(w[hi-1]) {
		hi--
	}
	if lo == 0 && hi == len(w) {
		return w
	}
	if hi-lo <= 2 || utf8.RuneCountInString(w[lo:hi]) <= 2 {
		return w
	}
	return w[lo:hi]
}

// caseOf reports whether w is upper case in Python's sense (it has a cased
// letter and no lower-case one) and whether lower-casing changes it.
func caseOf(w string) (upper, changes bool) {
	hasUpper, hasLower := false, false
	for i := 0; i < len(w); {
		c := w[i]
		if c < utf8.RuneSelf {
			switch {
			case 'A' <= c && c <= 'Z':
				hasUpper = true
			case 'a' <= c && c <= 'z':
				hasLower = true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(w[i:])
		i += size
		switch {
		case unicode.IsLower(r) || unicode.IsTitle(r) || unicode.Is(unicode.Other_Lowercase, r):
			hasLower = true
			if unicode.ToLower(r) != r {
				changes = true
			}
		case unicode.IsUpper(r) || unicode.Is(unicode.Other_Uppercase, r):
			hasUpper = true
			changes = true
		}
	}
	return hasUpper && !hasLower, changes || hasUpper
}

// appendLower appends the lower case of w to dst; invalid UTF-8 bytes are
// copied unchanged.
func appendLower(dst []byte, w string) []byte {
	for i := 0; i < len(w); {
		c := w[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(w[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, c)
		} else {
			dst = utf8.AppendRune(dst, unicode.ToLower(r))
		}
		i += size
	}
	return dst
}
