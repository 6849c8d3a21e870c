package sentiment

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// uciFiles are the three sources of the UCI sentences in testdata.
var uciFiles = []string{"amazon_cells_labelled.txt", "imdb_labelled.txt", "yelp_labelled.txt"}

// readUCIRaw returns the raw text (up to the last tab, unstripped) and the
// label of every line of a UCI file.
func readUCIRaw(t testing.TB, name string) (texts []string, labels []int) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		k := strings.LastIndexByte(line, '\t')
		if k < 0 {
			t.Fatalf("%s: line without tab: %q", name, line)
		}
		lab, err := strconv.Atoi(strings.TrimSpace(line[k+1:]))
		if err != nil {
			t.Fatalf("%s: bad label in %q", name, line)
		}
		texts = append(texts, line[:k])
		labels = append(labels, lab)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return texts, labels
}

type refRow struct {
	file               string
	line               int
	neg, neu, pos, cmp float64
}

func readReference(t testing.TB) []refRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "vader_reference_scores_uci.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []refRow
	for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if i == 0 {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 7 {
			t.Fatalf("reference line %d: %d fields", i+1, len(f))
		}
		var r refRow
		r.file = f[0]
		r.line, err = strconv.Atoi(f[1])
		if err != nil {
			t.Fatal(err)
		}
		for k, dst := range []*float64{&r.neg, &r.neu, &r.pos, &r.cmp} {
			if *dst, err = strconv.ParseFloat(f[3+k], 64); err != nil {
				t.Fatalf("reference line %d: %v", i+1, err)
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// TestReferenceUCI compares the analyser with the reference implementation's
// scores of the 3,000 UCI sentences.
func TestReferenceUCI(t *testing.T) {
	a := NewAnalyzer()
	texts := map[string][]string{}
	for _, f := range uciFiles {
		texts[f], _ = readUCIRaw(t, f)
	}
	rows := readReference(t)
	if len(rows) != 3000 {
		t.Fatalf("reference rows = %d, want 3000", len(rows))
	}
	const tol = 1e-3
	var nCompound, nAll int
	for _, r := range rows {
		text := texts[r.file][r.line-1]
		got := a.PolarityScores(text)
		okC := math.Abs(got.Compound-r.cmp) <= tol
		okAll := okC && math.Abs(got.Neg-r.neg) <= tol && math.Abs(got.Neu-r.neu) <= tol && math.Abs(got.Pos-r.pos) <= tol
		if okC {
			nCompound++
		} else {
			t.Logf("%s:%d %q: compound got %.4f want %.4f", r.file, r.line, text, got.Compound, r.cmp)
		}
		if okAll {
			nAll++
		}
	}
	fc := float64(nCompound) / float64(len(rows))
	fa := float64(nAll) / float64(len(rows))
	t.Logf("compound within %g: %d/%d (%.4f); all four scores: %d/%d (%.4f)", tol, nCompound, len(rows), fc, nAll, len(rows), fa)
	if fc < 0.99 {
		t.Errorf("compound within %g on %.4f of sentences, want >= 0.99", tol, fc)
	}
	if fa < 0.99 {
		t.Errorf("all scores within %g on %.4f of sentences, want >= 0.99", tol, fa)
	}
}

// TestRules checks each VADER rule on sentences from the reference
// implementation's own examples (values printed by vaderSentiment 3.3.2).
func TestRules(t *testing.T) {
	a := NewAnalyzer()
	tests := []struct {
		text string
		want Scores
	}{
		{"VADER is smart, handsome, and funny.", Scores{Neg: 0, Neu: 0.254, Pos: 0.746, Compound: 0.8316}},
		{"VADER is smart, handsome, and funny!", Scores{Neg: 0, Neu: 0.248, Pos: 0.752, Compound: 0.8439}},
		{"VADER is very smart, handsome, and funny.", Scores{Neg: 0, Neu: 0.299, Pos: 0.701, Compound: 0.8545}},
		{"VADER is VERY SMART, handsome, and FUNNY.", Scores{Neg: 0, Neu: 0.246, Pos: 0.754, Compound: 0.9227}},
		{"VADER is VERY SMART, handsome, and FUNNY!!!", Scores{Neg: 0, Neu: 0.233, Pos: 0.767, Compound: 0.9342}},
		{"VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!", Scores{Neg: 0, Neu: 0.294, Pos: 0.706, Compound: 0.9469}},
		{"VADER is not smart, handsome, nor funny.", Scores{Neg: 0.646, Neu: 0.354, Pos: 0, Compound: -0.7424}},
		{"The book was good.", Scores{Neg: 0, Neu: 0.508, Pos: 0.492, Compound: 0.4404}},
		{"At least it isn't a horrible book.", Scores{Neg: 0, Neu: 0.678, Pos: 0.322, Compound: 0.431}},
		{"The book was only kind of good.", Scores{Neg: 0, Neu: 0.697, Pos: 0.303, Compound: 0.3832}},
		{"The plot was good, but the characters are uncompelling and the dialog is not great.", Scores{Neg: 0.327, Neu: 0.579, Pos: 0.094, Compound: -0.7042}},
		{"Today SUX!", Scores{Neg: 0.779, Neu: 0.221, Pos: 0, Compound: -0.5461}},
		{"Today only kinda sux! But I'll get by, lol", Scores{Neg: 0.127, Neu: 0.556, Pos: 0.317, Compound: 0.5249}},
		{"Make sure you :) or :D today!", Scores{Neg: 0, Neu: 0.294, Pos: 0.706, Compound: 0.8633}},
		{"Not bad at all", Scores{Neg: 0, Neu: 0.513, Pos: 0.487, Compound: 0.431}},
		{"", Scores{}},
		{"   \t ", Scores{}},
	}
	for _, tt := range tests {
		got := a.PolarityScores(tt.text).Round()
		if !closeScores(got, tt.want, 1e-4) {
			t.Errorf("PolarityScores(%q) = %+v, want %+v", tt.text, got, tt.want)
		}
	}
}

func closeScores(a, b Scores, tol float64) bool {
	return math.Abs(a.Neg-b.Neg) <= tol && math.Abs(a.Neu-b.Neu) <= tol &&
		math.Abs(a.Pos-b.Pos) <= tol && math.Abs(a.Compound-b.Compound) <= tol
}

// TestEmoji checks that emoji are replaced by their descriptions.
func TestEmoji(t *testing.T) {
	a := NewAnalyzer()
	tests := []struct {
		emoji, words string
	}{
		{"I feel 😁", "I feel beaming face with smiling eyes"},
		{"ok😀", "ok grinning face"},
		{"💘💋", "heart with arrow kiss mark"},
	}
	for _, tt := range tests {
		got, want := a.PolarityScores(tt.emoji), a.PolarityScores(tt.words)
		if !closeScores(got, want, 1e-12) {
			t.Errorf("PolarityScores(%q) = %+v, want the scores of %q = %+v", tt.emoji, got, tt.words, want)
		}
	}
	if c := a.Compound("😁"); c <= 0 {
		t.Errorf("Compound(beaming face) = %v, want > 0", c)
	}
}

// TestConcurrent scores the same texts from several goroutines; run with
// -race to check the analyser is safe for concurrent use.
func TestConcurrent(t *testing.T) {
	a := NewAnalyzer()
	texts, _ := readUCIRaw(t, "yelp_labelled.txt")
	want := make([]Scores, len(texts))
	for i, s := range texts {
		want[i] = a.PolarityScores(s)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := len(texts) - 1; i >= 0; i-- {
				if got := a.PolarityScores(texts[i]); got != want[i] {
					errs <- texts[i]
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for s := range errs {
		t.Errorf("concurrent score of %q differs", s)
	}
}

func TestEmbeddedLexicon(t *testing.T) {
	a := NewAnalyzer()
	if n := len(a.lex); n < 7500 {
		t.Errorf("lexicon has %d entries, want >= 7500", n)
	}
	if v, ok := a.Valence("good"); !ok || math.Abs(v-1.9) > 1e-12 {
		t.Errorf(`Valence("good") = %v, %v; want 1.9, true`, v, ok)
	}
	if n := len(a.emoji); n < 1000 {
		t.Errorf("emoji lexicon has %d single code point entries, want >= 1000", n)
	}
}

func TestReadLexiconErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"no tab", "good 1.9\n", "line 1: no tab"},
		{"bad number", "good\t1.9\nbad\tx\n", "line 2: valence"},
		{"nan", "good\tNaN\n", "not finite"},
	}
	for _, tt := range tests {
		_, err := ReadLexicon(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want containing %q", tt.name, err, tt.want)
		}
	}
	if _, err := ReadEmojiLexicon(strings.NewReader("😀\n")); err == nil {
		t.Error("emoji line without tab: no error")
	}
}

// TestPythonCompat checks the places where Python's string handling differs
// from Go's defaults.
func TestPythonCompat(t *testing.T) {
	a := NewAnalyzer()
	same := [][2]string{
		{"good\x1cmovie", "good movie"},      // U+001C is white space to str.split
		{"good\u00a0movie", "good movie"},    // no-break space
		{"good\u3000movie", "good movie"},    // ideographic space
		{"(good) movie", "good movie"},       // punctuation stripped from words
		{"GOOD 123 movie", "GOOD abc movie"}, // digits are not cased letters
	}
	for _, p := range same {
		if got, want := a.PolarityScores(p[0]), a.PolarityScores(p[1]); got != want {
			t.Errorf("PolarityScores(%q) = %+v, want the scores of %q = %+v", p[0], got, p[1], want)
		}
	}
	if c := a.Compound("good\u200bmovie"); c != 0 {
		t.Errorf("zero-width space split a word: compound %v, want 0", c)
	}
	if c := a.Compound(":)"); c <= 0 {
		t.Errorf(`Compound(":)") = %v, want > 0 (a short emoticon keeps its punctuation)`, c)
	}
	if a.Compound("GOOD movie") <= a.Compound("good movie") {
		t.Error("ALL-CAPS word among lower-case words is not emphasised")
	}
	if a.Compound("GOOD MOVIE") != a.Compound("good movie") {
		t.Error("all words in capitals should not be emphasised")
	}
}
