package sentiment

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// The VADER lexicons (MIT licence, see lexicon/LICENSE.txt and
// lexicon/SOURCE.md), AFINN-165 and the opinion lexicon of Hu and Liu
// (lexicon/SOURCE.md) are compiled into the package so that NewAnalyzer and
// the classifier need no files.
var (
	//go:embed lexicon/vader_lexicon.txt
	embeddedLexicon []byte
	//go:embed lexicon/emoji_utf8_lexicon.txt
	embeddedEmoji []byte
	//go:embed lexicon/AFINN-en-165.txt
	embeddedAFINN []byte
	//go:embed lexicon/opinion_lexicon_hu_liu.tsv
	embeddedOpinion []byte
)

// opinionLexicon parses the embedded opinion lexicon of Hu and Liu once.
var opinionLexicon = sync.OnceValues(func() (map[string]int8, error) {
	return ReadOpinionLexicon(bytes.NewReader(embeddedOpinion))
})

// ErrLexicon is wrapped by every error about a malformed lexicon file.
// Check with errors.Is.
var ErrLexicon = errors.New("malformed lexicon")

// maxLineBytes bounds one line of a lexicon or training file.
const maxLineBytes = 1 << 20

// ReadLexicon parses a VADER word lexicon: one entry per line,
// "token<TAB>mean valence[<TAB>...]". Extra columns (standard deviation,
// raw ratings) are ignored. Blank lines are skipped; leading and trailing
// white space on a line is removed. A token that appears twice keeps its
// last valence. Tokens are kept as written; lookups lower-case the text, so
// an entry with upper-case letters never matches (as in VADER).
func ReadLexicon(r io.Reader) (map[string]float64, error) {
	lex := make(map[string]float64, 8192)
	err := eachLine(r, func(n int, line string) error {
		line = strings.TrimSpace(line)
		if line == "" {
			return nil
		}
		word, rest, ok := strings.Cut(line, "\t")
		if !ok {
			return fmt.Errorf("%w: line %d: no tab between token and valence", ErrLexicon, n)
		}
		if word == "" {
			return fmt.Errorf("%w: line %d: empty token", ErrLexicon, n)
		}
		val, _, _ := strings.Cut(rest, "\t")
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return fmt.Errorf("%w: line %d: valence %q: %w", ErrLexicon, n, val, err)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: line %d: valence %q is not finite", ErrLexicon, n, val)
		}
		lex[word] = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	return lex, nil
}

// ReadEmojiLexicon parses a VADER emoji lexicon: one entry per line,
// "emoji<TAB>description". Only entries whose emoji is a single code point
// can match (VADER replaces text one code point at a time); the others are
// read and dropped. Blank lines are skipped.
func ReadEmojiLexicon(r io.Reader) (map[rune]string, error) {
	emoji := make(map[rune]string, 2048)
	err := eachLine(r, func(n int, line string) error {
		line = strings.TrimSpace(line)
		if line == "" {
			return nil
		}
		key, desc, ok := strings.Cut(line, "\t")
		if !ok {
			return fmt.Errorf("%w: line %d: no tab between emoji and description", ErrLexicon, n)
		}
		if key == "" {
			return fmt.Errorf("%w: line %d: empty emoji", ErrLexicon, n)
		}
		if !utf8.ValidString(key) {
			return fmt.Errorf("%w: line %d: emoji is not valid UTF-8", ErrLexicon, n)
		}
		desc, _, _ = strings.Cut(desc, "\t")
		r, size := utf8.DecodeRuneInString(key)
		if size == len(key) {
			emoji[r] = desc
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return emoji, nil
}

// ReadOpinionLexicon parses a polarity word list such as the opinion
// lexicon of Hu and Liu (KDD 2004): one entry per line,
// "word<TAB>positive" or "word<TAB>negative". It returns +1 for a positive
// word and −1 for a negative one; a word listed with both polarities is
// dropped. Blank lines are skipped.
func ReadOpinionLexicon(r io.Reader) (map[string]int8, error) {
	lex := make(map[string]int8, 8192)
	both := map[string]bool{}
	err := eachLine(r, func(n int, line string) error {
		line = strings.TrimSpace(line)
		if line == "" {
			return nil
		}
		word, pol, ok := strings.Cut(line, "\t")
		if !ok {
			return fmt.Errorf("%w: line %d: no tab between word and polarity", ErrLexicon, n)
		}
		var v int8
		switch strings.TrimSpace(pol) {
		case "positive":
			v = 1
		case "negative":
			v = -1
		default:
			return fmt.Errorf("%w: line %d: polarity %q is not positive or negative", ErrLexicon, n, pol)
		}
		if old, ok := lex[word]; ok && old != v {
			both[word] = true
		}
		lex[word] = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	for w := range both {
		delete(lex, w)
	}
	return lex, nil
}

// eachLine calls fn with every line of r (1-based line numbers, without the
// line ending; a trailing "\r" is removed).
func eachLine(r io.Reader, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLineBytes)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if err := fn(n, string(line)); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", n+1, err)
	}
	return nil
}
