package sentiment

import (
	"math"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Feature extraction of the classifier (model format version 2). Changing
// anything here changes what a saved model means: bump modelVersion, and
// keep reading the older versions. Version 2 adds to version 1 the features
// of the opinion lexicon of Hu and Liu (the sparse "ol:" features and the
// last three dense features); a version-1 model has no opinion lexicon and
// gets neither, so it scores as it did.

// negPrefix marks a word in the scope of a negation: "not good." gives the
// features "not" and "~good". The scope runs from the negation to the next
// punctuation mark (. , ; : ! ?).
const negPrefix = "~"

// prefixRunes is the length of the word-prefix features ("p:disapp" for
// "disappointed", "disappointing", ...), which let related word forms share
// weight.
const prefixRunes = 6

// appendWords appends the lower-case words of text to buf and their byte
// ranges in buf to dst, and returns both. A word is a run of letters and
// digits with inner apostrophes ("didn't"); "!" and "?" are words of their
// own. Words in the scope of a negation ("not", "no", "never", "didn't", ...)
// get the prefix negPrefix.
func appendWords(buf []byte, dst [][2]int, text string) ([]byte, [][2]int) {
	negated := false
	for i := 0; i < len(text); {
		r, size := decodeRune(text, i)
		switch {
		case isWordRune(r):
			start := len(buf)
			if negated {
				buf = append(buf, negPrefix...)
			}
			wstart := len(buf)
			for i < len(text) {
				r, size = decodeRune(text, i)
				if !isWordRune(r) {
					if r != '\'' || i+1 >= len(text) {
						break
					}
					if next, _ := decodeRune(text, i+1); !isWordRune(next) {
						break
					}
				}
				switch {
				case r < utf8.RuneSelf:
					c := byte(r)
					if 'A' <= c && c <= 'Z' {
						c += 'a' - 'A'
					}
					buf = append(buf, c)
				case r == utf8.RuneError && size == 1:
					buf = append(buf, text[i])
				default:
					buf = utf8.AppendRune(buf, unicode.ToLower(r))
				}
				i += size
			}
			dst = append(dst, [2]int{start, len(buf)})
			if w := buf[wstart:]; string(w) == "no" || isNegated(string(w)) {
				negated = true
			}
		case r == '!' || r == '?':
			buf = append(buf, byte(r))
			dst = append(dst, [2]int{len(buf) - 1, len(buf)})
			negated = false
			i += size
		default:
			if r == '.' || r == ',' || r == ';' || r == ':' {
				negated = false
			}
			i += size
		}
	}
	return buf, dst
}

// decodeRune decodes the rune at text[i]; an invalid byte is RuneError of
// size 1.
func decodeRune(text string, i int) (rune, int) {
	if c := text[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(text[i:])
}

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
	}
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// splitNeg returns w without the negation prefix and whether it had one.
func splitNeg(w []byte) ([]byte, bool) {
	if len(w) > len(negPrefix) && string(w[:len(negPrefix)]) == negPrefix {
		return w[len(negPrefix):], true
	}
	return w, false
}

// featScratch holds the per-call buffers of feature extraction.
type featScratch struct {
	buf   []byte
	words [][2]int
	key   []byte
	idx   []int32
}

// eachSparse fills sc.buf and sc.words with the words of text and calls fn
// with the name of every sparse feature, in text order, possibly repeated:
//
//   - the word ("good", "~good" when negated, "!");
//   - the pair of the word and the one before it ("not ~good");
//   - the word's first prefixRunes letters when it is longer ("p:disapp");
//   - the VADER valence of the word rounded to an integer ("lex:2",
//     "lex:~2" when negated);
//   - the word's polarity in the opinion lexicon, if opinion is not nil
//     ("ol:1", "ol:-1", "ol:~1" when negated).
//
// The name is valid only during the call.
func eachSparse(sc *featScratch, vader map[string]float64, opinion map[string]int8, text string, fn func(name []byte)) {
	sc.buf, sc.words = appendWords(sc.buf[:0], sc.words[:0], text)
	for k, wr := range sc.words {
		word := sc.buf[wr[0]:wr[1]]
		fn(word)
		if k > 0 {
			p := sc.words[k-1]
			sc.key = append(sc.key[:0], sc.buf[p[0]:p[1]]...)
			sc.key = append(sc.key, ' ')
			sc.key = append(sc.key, word...)
			fn(sc.key)
		}
		base, neg := splitNeg(word)
		if utf8.RuneCount(base) > prefixRunes {
			n := 0
			for range prefixRunes {
				_, size := utf8.DecodeRune(base[n:])
				n += size
			}
			sc.key = append(sc.key[:0], "p:"...)
			if neg {
				sc.key = append(sc.key, negPrefix...)
			}
			sc.key = append(sc.key, base[:n]...)
			fn(sc.key)
		}
		if v, ok := vader[string(base)]; ok {
			sc.key = append(sc.key[:0], "lex:"...)
			if neg {
				sc.key = append(sc.key, negPrefix...)
			}
			sc.key = strconv.AppendInt(sc.key, int64(math.Round(v)), 10)
			fn(sc.key)
		}
		if v, ok := opinion[string(base)]; ok {
			sc.key = append(sc.key[:0], "ol:"...)
			if neg {
				sc.key = append(sc.key, negPrefix...)
			}
			sc.key = strconv.AppendInt(sc.key, int64(v), 10)
			fn(sc.key)
		}
	}
}

// denseNames names the dense features every text gets, in order: VADER
// scores and word statistics, AFINN-165 word scores, then (from version 2)
// counts of the opinion lexicon's words.
var denseNames = [...]string{
	"vader_compound",
	"vader_pos",
	"vader_neg",
	"vader_compound_zero",
	"vader_compound_pos",
	"vader_compound_neg",
	"vader_pos_sum",
	"vader_neg_sum",
	"vader_pos_count",
	"vader_neg_count",
	"vader_max",
	"vader_min",
	"afinn_sum",
	"afinn_pos_count",
	"afinn_neg_count",
	"opinion_pos_count",
	"opinion_neg_count",
	"opinion_diff",
}

const (
	numDense = len(denseNames)
	// numDenseV1 is the number of dense features of a version-1 model: the
	// first numDenseV1 of denseNames.
	numDenseV1 = 15
)

// denseFeatures writes the dense features of text into dst. sc must hold
// the words of text (from eachSparse). With opinion nil (a version-1 model)
// the opinion features are 0; otherwise, with P and N the numbers of
// positive and negative opinion words (a negated word counting for the
// other polarity), they are log(1+P), log(1+N) and (P−N)/2.
func denseFeatures(dst *[numDense]float64, a *Analyzer, afinn map[string]float64, opinion map[string]int8, sc *featScratch, text string) {
	var st wordStats
	s := a.analyze(text, &st)
	b := func(ok bool) float64 {
		if ok {
			return 1
		}
		return 0
	}
	afSum, afPos, afNeg := afinnScore(afinn, sc)
	*dst = [numDense]float64{
		s.Compound,
		s.Pos,
		s.Neg,
		b(s.Compound == 0),
		b(s.Compound >= 0.05),
		b(s.Compound <= -0.05),
		st.posSum / 4,
		st.negSum / 4,
		math.Log1p(float64(st.nPos)),
		math.Log1p(float64(st.nNeg)),
		st.maxV / 4,
		st.minV / 4,
		afSum / 10,
		math.Log1p(float64(afPos)),
		math.Log1p(float64(afNeg)),
		0, 0, 0,
	}
	if opinion != nil {
		p, n := opinionCounts(opinion, sc)
		dst[numDenseV1] = math.Log1p(float64(p))
		dst[numDenseV1+1] = math.Log1p(float64(n))
		dst[numDenseV1+2] = float64(p-n) / 2
	}
}

// opinionCounts counts the positive and the negative words of sc in the
// opinion lexicon; a negated word counts for the other polarity.
func opinionCounts(opinion map[string]int8, sc *featScratch) (nPos, nNeg int) {
	for _, wr := range sc.words {
		w, neg := splitNeg(sc.buf[wr[0]:wr[1]])
		v := opinion[string(w)]
		if neg {
			v = -v
		}
		switch {
		case v > 0:
			nPos++
		case v < 0:
			nNeg++
		}
	}
	return nPos, nNeg
}

// afinnScore sums the AFINN valences of the words in sc, a negated word with
// the opposite sign; a two-word AFINN term ("can't stand") takes precedence
// over its words. It also counts the positive and negative terms.
func afinnScore(afinn map[string]float64, sc *featScratch) (sum float64, nPos, nNeg int) {
	word := func(k int) ([]byte, bool) {
		wr := sc.words[k]
		return splitNeg(sc.buf[wr[0]:wr[1]])
	}
	for k := 0; k < len(sc.words); k++ {
		w, neg := word(k)
		v, ok := 0.0, false
		if k+1 < len(sc.words) {
			w2, _ := word(k + 1)
			sc.key = append(append(append(sc.key[:0], w...), ' '), w2...)
			if v, ok = afinn[string(sc.key)]; ok {
				k++
			}
		}
		if !ok {
			if v, ok = afinn[string(w)]; !ok {
				continue
			}
		}
		if neg {
			v = -v
		}
		sum += v
		switch {
		case v > 0:
			nPos++
		case v < 0:
			nNeg++
		}
	}
	return sum, nPos, nNeg
}
