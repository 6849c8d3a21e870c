package lm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Special words of every model.
const (
	Unknown       = "<unk>"
	SentenceBegin = "<s>"
	SentenceEnd   = "</s>"
)

// MaxOrder is the highest n-gram order a Model supports.
const MaxOrder = 6

// ErrFormat is returned (wrapped) for malformed ARPA or binary model input.
// Check with errors.Is.
var ErrFormat = errors.New("malformed language model")

// ARPA is a backoff n-gram model in the form of an ARPA file: for every
// n-gram its log10 probability and, below the highest order, the log10
// backoff weight of the n-gram used as a context. It is what Estimate
// produces and ReadARPA parses; NewModel turns it into the compact,
// queryable Model.
type ARPA struct {
	// Vocab maps word ids to words. The 1-grams are exactly Vocab, in
	// this order.
	Vocab []string
	// Orders[k-1] holds the n-grams of length k.
	Orders []Table
	// Discounts[k-1] holds the modified Kneser–Ney discounts Estimate
	// used for order k; it is nil for a model read from ARPA.
	Discounts []Discount
}

// Table holds the n-grams of one order k.
type Table struct {
	// Words holds k word ids per n-gram, oldest word first.
	Words []WordID
	// Prob holds the log10 probability of each n-gram.
	Prob []float64
	// Backoff holds the log10 backoff weight of each n-gram; it is nil
	// for the highest order.
	Backoff []float64
}

// Len returns the number of n-grams in t.
func (t *Table) Len() int { return len(t.Prob) }

// Order returns the highest n-gram order of a.
func (a *ARPA) Order() int { return len(a.Orders) }

// NGrams returns the n-gram i of order k as word ids.
func (a *ARPA) NGrams(k, i int) []WordID {
	return a.Orders[k-1].Words[i*k : (i+1)*k]
}

// WriteARPA writes a in the ARPA text format. Values are written as
// float32, the precision KenLM's lmplz writes and the Model stores.
func WriteARPA(w io.Writer, a *ARPA) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	fmt.Fprintf(bw, "\\data\\\n")
	for k := range a.Orders {
		fmt.Fprintf(bw, "ngram %d=%d\n", k+1, a.Orders[k].Len())
	}
	var buf []byte
	for k := range a.Orders {
		t := &a.Orders[k]
		fmt.Fprintf(bw, "\n\\%d-grams:\n", k+1)
		for i := range t.Prob {
			buf = buf[:0]
			buf = appendFloat(buf, t.Prob[i])
			buf = append(buf, '\t')
			for j, id := range t.Words[i*(k+1) : (i+1)*(k+1)] {
				if j > 0 {
					buf = append(buf, ' ')
				}
				buf = append(buf, a.Vocab[id]...)
			}
			if t.Backoff != nil {
				buf = append(buf, '\t')
				buf = appendFloat(buf, t.Backoff[i])
			}
			buf = append(buf, '\n')
			if _, err := bw.Write(buf); err != nil {
				return fmt.Errorf("write arpa: %w", err)
			}
		}
	}
	fmt.Fprintf(bw, "\n\\end\\\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write arpa: %w", err)
	}
	return nil
}

func appendFloat(dst []byte, v float64) []byte {
	if v == 0 {
		return append(dst, '0')
	}
	return strconv.AppendFloat(dst, float64(float32(v)), 'g', -1, 32)
}

// ReadARPA parses an ARPA file. Fields may be separated by tabs or spaces.
// Errors wrap ErrFormat and name the offending line. Words that are not
// among the 1-grams, duplicate n-grams, NaN values and counts that differ
// from the \data\ header are errors.
func ReadARPA(r io.Reader) (*ARPA, error) {
	p := arpaParser{sc: bufio.NewScanner(r)}
	p.sc.Buffer(make([]byte, 0, 1<<16), 1<<24)
	a, err := p.parse()
	if err != nil {
		return nil, err
	}
	return a, nil
}

type arpaParser struct {
	sc   *bufio.Scanner
	line int
}

func (p *arpaParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrFormat, p.line, fmt.Sprintf(format, args...))
}

// next returns the next line with surrounding white space removed.
func (p *arpaParser) next() (string, bool, error) {
	if !p.sc.Scan() {
		if err := p.sc.Err(); err != nil {
			return "", false, fmt.Errorf("read arpa: line %d: %w", p.line+1, err)
		}
		return "", false, nil
	}
	p.line++
	return strings.TrimSpace(p.sc.Text()), true, nil
}

// nextNonEmpty skips blank lines.
func (p *arpaParser) nextNonEmpty() (string, bool, error) {
	for {
		s, ok, err := p.next()
		if err != nil || !ok || s != "" {
			return s, ok, err
		}
	}
}

func (p *arpaParser) parse() (*ARPA, error) {
	// Anything before \data\ is a comment.
	for {
		s, ok, err := p.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: no \\data\\ header", ErrFormat)
		}
		if s == `\data\` {
			break
		}
	}
	var counts []int
	var s string
	for {
		var ok bool
		var err error
		s, ok, err = p.nextNonEmpty()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, p.errorf("unexpected end of file in \\data\\ header")
		}
		if !strings.HasPrefix(s, "ngram ") {
			break
		}
		spec := strings.TrimSpace(s[len("ngram "):])
		eq := strings.IndexByte(spec, '=')
		if eq < 0 {
			return nil, p.errorf("bad count line %q", s)
		}
		k, err1 := strconv.Atoi(strings.TrimSpace(spec[:eq]))
		n, err2 := strconv.Atoi(strings.TrimSpace(spec[eq+1:]))
		if err1 != nil || err2 != nil || n < 0 {
			return nil, p.errorf("bad count line %q", s)
		}
		if k != len(counts)+1 {
			return nil, p.errorf("count for order %d out of sequence", k)
		}
		if k > MaxOrder {
			return nil, p.errorf("order %d exceeds the maximum %d", k, MaxOrder)
		}
		counts = append(counts, n)
	}
	if len(counts) == 0 {
		return nil, p.errorf("no ngram counts in \\data\\ header")
	}
	if counts[0] == 0 {
		return nil, p.errorf("model has no 1-grams")
	}
	a := &ARPA{Orders: make([]Table, len(counts))}
	vocab := make(map[string]WordID, min(counts[0], 1<<16))
	for k := 1; k <= len(counts); k++ {
		want := fmt.Sprintf(`\%d-grams:`, k)
		if s != want {
			return nil, p.errorf("got %q, want %q", s, want)
		}
		n := counts[k-1]
		t := &a.Orders[k-1]
		t.Words = make([]WordID, 0, min(n, 1<<20)*k)
		t.Prob = make([]float64, 0, min(n, 1<<20))
		hasBackoff := k < len(counts)
		if hasBackoff {
			t.Backoff = make([]float64, 0, min(n, 1<<20))
		}
		var words [MaxOrder + 2]string
		for {
			var ok bool
			var err error
			s, ok, err = p.nextNonEmpty()
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, p.errorf("unexpected end of file in %d-grams", k)
			}
			if s[0] == '\\' {
				break
			}
			if t.Len() == n {
				return nil, p.errorf("more %d-grams than the %d in the header", k, n)
			}
			fields := splitFields(s, words[:0])
			if len(fields) != k+1 && !(hasBackoff && len(fields) == k+2) {
				return nil, p.errorf("%d-gram line has %d fields", k, len(fields))
			}
			prob, err := parseValue(fields[0])
			if err != nil {
				return nil, p.errorf("probability %q: %v", fields[0], err)
			}
			if prob > 0 {
				return nil, p.errorf("positive log10 probability %v", prob)
			}
			bo := 0.0
			if len(fields) == k+2 {
				if bo, err = parseValue(fields[k+1]); err != nil {
					return nil, p.errorf("backoff %q: %v", fields[k+1], err)
				}
			}
			for _, w := range fields[1 : k+1] {
				if k == 1 {
					if _, dup := vocab[w]; dup {
						return nil, p.errorf("duplicate 1-gram %q", w)
					}
					id := WordID(len(a.Vocab))
					vocab[w] = id
					a.Vocab = append(a.Vocab, w)
					t.Words = append(t.Words, id)
					continue
				}
				id, ok := vocab[w]
				if !ok {
					return nil, p.errorf("word %q is not among the 1-grams", w)
				}
				t.Words = append(t.Words, id)
			}
			t.Prob = append(t.Prob, prob)
			if hasBackoff {
				t.Backoff = append(t.Backoff, bo)
			}
		}
		if t.Len() != n {
			return nil, p.errorf("found %d %d-grams, header says %d", t.Len(), k, n)
		}
	}
	if s != `\end\` {
		return nil, p.errorf(`got %q, want \end\`, s)
	}
	return a, nil
}

// splitFields splits s at runs of spaces and tabs.
func splitFields(s string, dst []string) []string {
	for len(s) > 0 {
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			return append(dst, s)
		}
		if i > 0 {
			dst = append(dst, s[:i])
		}
		s = s[i+1:]
	}
	return dst
}

func parseValue(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, errors.New("not a number")
	}
	if math.IsNaN(v) {
		return 0, errors.New("NaN")
	}
	if math.IsInf(v, 1) {
		return 0, errors.New("+Inf")
	}
	return v, nil
}
