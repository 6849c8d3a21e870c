package lm

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestARPARoundTrip(t *testing.T) {
	for _, name := range []string{"test.arpa", "test_nounk.arpa", "toy0.arpa", "toy1.arpa"} {
		a := readARPAFile(t, name)
		var buf bytes.Buffer
		if err := WriteARPA(&buf, a); err != nil {
			t.Fatal(err)
		}
		b, err := ReadARPA(&buf)
		if err != nil {
			t.Fatalf("%s: reading written ARPA: %v", name, err)
		}
		compareARPA(t, b, a, 1e-6)
	}
}

// allScores scores a fixed word sequence from both sentence-begin and null
// context, to compare two models of the same ARPA.
func allScores(m *Model, words []string) []float32 {
	var out []float32
	for _, begin := range []bool{true, false} {
		var s State
		if begin {
			s = m.BeginSentence()
		}
		for _, w := range words {
			p, n := m.Score(&s, m.Index(w), &s)
			out = append(out, p, float32(n))
		}
	}
	return out
}

func TestBinaryRoundTrip(t *testing.T) {
	words := strings.Fields("looking on a little more loin . </s> also would consider higher looking not_found <unk> however foo bar baz a little")
	for _, name := range []string{"test.arpa", "test_nounk.arpa", "toy0.arpa"} {
		m := loadModelFile(t, name)
		var buf bytes.Buffer
		if err := m.WriteBinary(&buf); err != nil {
			t.Fatal(err)
		}
		if !IsBinary(buf.Bytes()) {
			t.Fatalf("%s: binary output lacks the magic", name)
		}
		b, err := LoadModel(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, want := allScores(b, words), allScores(m, words)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: score %d: binary %v, ARPA %v", name, i, got[i], want[i])
			}
		}
		if b.VocabSize() != m.VocabSize() || b.Order() != m.Order() {
			t.Errorf("%s: binary model has vocabulary %d order %d, want %d %d", name, b.VocabSize(), b.Order(), m.VocabSize(), m.Order())
		}
		// Every truncation is an error, never a panic.
		data := buf.Bytes()
		for _, n := range []int{0, 7, 8, 12, 30, len(data) / 2, len(data) - 1} {
			if _, err := ParseBinary(data[:n]); !errors.Is(err, ErrFormat) {
				t.Errorf("%s: truncated to %d bytes: got %v, want ErrFormat", name, n, err)
			}
		}
	}
}

func TestLoadModelDetectsFormat(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "toy1.arpa"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadModel(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if m.Order() != 3 || m.VocabSize() != 6 {
		t.Errorf("toy1: order %d vocabulary %d, want 3 and 6", m.Order(), m.VocabSize())
	}
}

func TestReadARPAErrors(t *testing.T) {
	const good = "\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-1\t<s>\t-0.5\n-1\ta\t-0.5\n-1\t</s>\n\n\\2-grams:\n-0.5\t<s> a\n\n\\end\\\n"
	if _, err := ReadARPA(strings.NewReader(good)); err != nil {
		t.Fatalf("good ARPA: %v", err)
	}
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "no \\data\\ header"},
		{"no counts", "\\data\\\n\\1-grams:\n", "line 2: no ngram counts"},
		{"bad count", "\\data\\\nngram 1=x\n", "line 2: bad count line"},
		{"nan", strings.Replace(good, "-1\ta", "nan\ta", 1), "line 7: probability \"nan\": NaN"},
		{"not a number", strings.Replace(good, "-1\ta", "abc\ta", 1), "line 7: probability \"abc\": not a number"},
		{"positive prob", strings.Replace(good, "-1\ta", "0.5\ta", 1), "line 7: positive log10 probability"},
		{"fields", strings.Replace(good, "-0.5\t<s> a", "-0.5\t<s> a b c", 1), "line 11: 2-gram line has 5 fields"},
		{"unknown word", strings.Replace(good, "<s> a", "<s> zzz", 1), "line 11: word \"zzz\" is not among the 1-grams"},
		{"duplicate", strings.Replace(good, "-1\t</s>", "-1\ta", 1), "line 8: duplicate 1-gram \"a\""},
		{"too few", strings.Replace(good, "ngram 2=1", "ngram 2=2", 1), "line 13: found 1 2-grams, header says 2"},
		{"too many", strings.Replace(good, "ngram 1=3", "ngram 1=2", 1), "line 8: more 1-grams than the 2 in the header"},
		{"no end", strings.Replace(good, "\\end\\\n", "", 1), "unexpected end of file in 2-grams"},
		{"order", strings.Replace(good, "ngram 2=1", "ngram 3=1", 1), "line 3: count for order 3 out of sequence"},
		{"section", strings.Replace(good, "\\2-grams:", "\\3-grams:", 1), "line 10: got \"\\\\3-grams:\", want \"\\\\2-grams:\""},
	}
	for _, tt := range tests {
		_, err := ReadARPA(strings.NewReader(tt.in))
		if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got error %v, want ErrFormat containing %q", tt.name, err, tt.want)
		}
	}
}

func FuzzReadARPA(f *testing.F) {
	for _, name := range []string{"test.arpa", "toy0.arpa", "toy1.arpa"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("\\data\\\nngram 1=1\n\\1-grams:\n-1 a\n\\end\\\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ReadARPA(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error does not wrap ErrFormat: %v", err)
			}
			return
		}
		m, err := NewModel(a)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error does not wrap ErrFormat: %v", err)
			}
			return
		}
		// Any parsed model answers queries and survives the binary format.
		s := m.BeginSentence()
		for _, w := range a.Vocab {
			m.Score(&s, m.Index(w), &s)
		}
		var buf bytes.Buffer
		if err := m.WriteBinary(&buf); err != nil {
			t.Fatal(err)
		}
		if _, err := ParseBinary(buf.Bytes()); err != nil {
			t.Fatalf("reading back binary: %v", err)
		}
	})
}

func FuzzParseBinary(f *testing.F) {
	for _, name := range []string{"toy0.arpa", "toy1.arpa"} {
		m := loadModelFile(f, name)
		var buf bytes.Buffer
		if err := m.WriteBinary(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseBinary(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error does not wrap ErrFormat: %v", err)
			}
			return
		}
		s := m.BeginSentence()
		for w := range m.VocabSize() {
			m.Score(&s, WordID(w), &s)
		}
	})
}

func TestRelevance(t *testing.T) {
	m := loadModelFile(t, "toy0.arpa")
	pa, pb, punk := math.Pow(10, -0.46943438), math.Pow(10, -0.5720968), math.Pow(10, -0.90309)
	h := NewHistory([][]string{{"a", "a"}, {"b", "zzz"}})
	tests := []struct {
		item []string
		mu   float64
		want float64
	}{
		{nil, 1, 0},
		{[]string{"a"}, 1, math.Log10((2 + pa) / (5 * pa))},
		{[]string{"a", "b"}, 2, (math.Log10((2+2*pa)/(6*pa)) + math.Log10((1+2*pb)/(6*pb))) / 2},
		{[]string{"zzz"}, 1, math.Log10((1 + punk) / (5 * punk))},
		{[]string{"qqq"}, 1, math.Log10(1.0 / 5)},
	}
	for _, tt := range tests {
		got := m.Relevance(h, tt.item, tt.mu)
		if math.Abs(got-tt.want) > 1e-6 {
			t.Errorf("Relevance(%q, mu=%v) = %.8f, want %.8f", tt.item, tt.mu, got, tt.want)
		}
	}
	if got := m.Relevance(NewHistory(nil), []string{"a"}, 1); got != 0 {
		t.Errorf("empty history: got %v, want 0", got)
	}
	// Relevance grows with the item's frequency in the history.
	if m.Relevance(h, []string{"a"}, 1) <= m.Relevance(h, []string{"b"}, 1) {
		t.Error("the word seen twice should be more relevant than the word seen once")
	}
}

func TestScorerConcurrent(t *testing.T) {
	m := loadModelFile(t, "toy1.arpa")
	s := NewScorer(m, ScorerOptions{Mu: 1})
	want := s.Score("A a B", "c c", "a b")
	if want.Tokens != 3 || want.OOV != 0 {
		t.Fatalf("Score: %d tokens %d OOV, want 3 and 0", want.Tokens, want.OOV)
	}
	f := m.Fluency([]string{"a", "a", "b"})
	if math.Abs(want.LogProb-f.LogProb) > 1e-12 || math.Abs(want.Perplexity-math.Pow(10, -f.LogProb/4)) > 1e-9 {
		t.Errorf("Score fluency %+v disagrees with Model.Fluency %+v", want, f)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if got := s.Score("A a B", "c c", "a b"); got != want {
					t.Errorf("concurrent Score = %+v, want %+v", got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestFluencyPerplexity(t *testing.T) {
	m := loadModelFile(t, "test.arpa")
	var f Fluency
	for _, s := range []string{"looking on a little the biarritz not_found more .", "looking on a little more loin"} {
		f.Add(m.Fluency(strings.Fields(s)))
	}
	// Totals from testdata/EXPECTED_SCORES.md; not_found scores -2.29666.
	sum := -30.9168122 - 1.5679849
	if f.Events != 17 || f.OOV != 1 || f.Sentences != 2 {
		t.Fatalf("counts: %+v", f)
	}
	if got, want := f.Perplexity(), math.Pow(10, -sum/17); math.Abs(got-want) > 1e-4*want {
		t.Errorf("perplexity %v, want %v", got, want)
	}
	if got, want := f.PerplexityWithoutOOV(), math.Pow(10, -(sum+2.29666)/16); math.Abs(got-want) > 1e-4*want {
		t.Errorf("perplexity without OOV %v, want %v", got, want)
	}
}
