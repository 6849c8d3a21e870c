package lm

import (
	"strings"
	"unicode"

	"github.com/rivo/uniseg"
	"golang.org/x/text/cases"
)

// Tokenize splits text into tokens, the tokeniser shared by training and
// scoring of item text: the text is case-folded (Unicode full case
// folding), the typographic apostrophe ’ becomes ', and the result is cut at
// Unicode word boundaries (UAX #29). Segments of white space and control
// characters are dropped; every other segment (a word, a number, a
// punctuation mark, a symbol) is one token. So "Don’t STOP—now!" gives
// [don't stop — now !].
func Tokenize(text string) []string {
	return AppendTokens(nil, text)
}

// AppendTokens appends the tokens of text to dst and returns the extended
// slice.
func AppendTokens(dst []string, text string) []string {
	if text == "" {
		return dst
	}
	folded := cases.Fold().String(text)
	folded = strings.ReplaceAll(folded, "’", "'")
	state := -1
	for folded != "" {
		var seg string
		seg, folded, state = uniseg.FirstWordInString(folded, state)
		// A space followed by combining marks is one segment (WB4).
		seg = strings.TrimFunc(seg, unicode.IsSpace)
		if keepSegment(seg) {
			dst = append(dst, seg)
		}
	}
	return dst
}

func keepSegment(seg string) bool {
	for _, r := range seg {
		if !unicode.IsSpace(r) && !unicode.IsControl(r) && r != unicode.ReplacementChar && !unicode.Is(unicode.Cf, r) {
			return true
		}
	}
	return false
}
