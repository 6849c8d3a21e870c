package sentiment

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzPolarityScores(f *testing.F) {
	for _, s := range []string{
		"", "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
		"not bad at all", "kind of good but no", "😁💘 ok😀", "\xff\xfe bad \x80 GOOD",
		"no no no never so good", "the shit kiss of death", "least good at least", "İSTANBUL Σ",
		"a\u00a0b\u2003c\x1cd", ":) :( :-D", "but but but", "?!?!?!?!",
	} {
		f.Add(s)
	}
	a := NewAnalyzer()
	f.Fuzz(func(t *testing.T, text string) {
		s := a.PolarityScores(text)
		for _, x := range []float64{s.Neg, s.Neu, s.Pos, s.Compound} {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				t.Fatalf("PolarityScores(%q) = %+v has a non-finite score", text, s)
			}
		}
		if s.Compound < -1 || s.Compound > 1 {
			t.Fatalf("compound %v out of [-1, 1]", s.Compound)
		}
		if sum := s.Neg + s.Neu + s.Pos; sum != 0 && math.Abs(sum-1) > 1e-9 {
			t.Fatalf("neg+neu+pos = %v, want 1 or 0", sum)
		}
		if utf8.ValidString(text) && strings.TrimSpace(text) == "" && s != (Scores{}) {
			t.Fatalf("blank text scored %+v", s)
		}
	})
}

func FuzzReadLabeled(f *testing.F) {
	for _, s := range []string{"good\t1\nbad\t0\n", "x\t2", "\t\t\t", "a\tb\t1\r\n\n", "\xff\t0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		texts, labels, err := ReadLabeled(strings.NewReader(in))
		if err != nil {
			if texts != nil || labels != nil {
				t.Fatal("results returned with an error")
			}
			return
		}
		if len(texts) != len(labels) {
			t.Fatalf("%d texts, %d labels", len(texts), len(labels))
		}
		for i, y := range labels {
			if y != 0 && y != 1 {
				t.Fatalf("label %d", y)
			}
			if strings.TrimSpace(texts[i]) == "" {
				t.Fatal("empty text accepted")
			}
		}
	})
}

func FuzzReadLexicon(f *testing.F) {
	for _, s := range []string{"good\t1.9\t0.9\t[1, 2]\n", "x\ty", "\n\n", "a\t1e400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		lex, err := ReadLexicon(strings.NewReader(in))
		if err != nil {
			return
		}
		a, err := NewAnalyzerFrom(strings.NewReader(in), nil)
		if err != nil {
			t.Fatalf("ReadLexicon accepted what NewAnalyzerFrom refused: %v", err)
		}
		for w := range lex {
			if c := a.Compound(w); math.IsNaN(c) {
				t.Fatalf("Compound(%q) is NaN", w)
			}
		}
		_, _ = ReadEmojiLexicon(strings.NewReader(in))
	})
}

func FuzzClassifier(f *testing.F) {
	for _, s := range []string{"", "not good. great!", "\xff\xfe~p:lex:1", "İ Σ ü'ö"} {
		f.Add(s)
	}
	c := smallModel(f, 1)
	var buf bytes.Buffer
	if err := c.Save(&buf); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		p := c.Prob(text)
		if !(p >= 0 && p <= 1) {
			t.Fatalf("Prob(%q) = %v", text, p)
		}
	})
}
