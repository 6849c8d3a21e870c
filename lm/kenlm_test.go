package lm

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readARPAFile(t testing.TB, name string) *ARPA {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := ReadARPA(f)
	if err != nil {
		t.Fatalf("ReadARPA(%s): %v", name, err)
	}
	return a
}

func loadModelFile(t testing.TB, name string) *Model {
	t.Helper()
	m, err := NewModel(readARPAFile(t, name))
	if err != nil {
		t.Fatalf("NewModel(%s): %v", name, err)
	}
	return m
}

type arpaEntry struct{ prob, backoff float64 }

// entries maps "k:w1 w2 …" to the values of a.
func entries(a *ARPA) map[string]arpaEntry {
	out := make(map[string]arpaEntry)
	for k := 1; k <= a.Order(); k++ {
		t := &a.Orders[k-1]
		for i := 0; i < t.Len(); i++ {
			var ws []string
			for _, id := range a.NGrams(k, i) {
				ws = append(ws, a.Vocab[id])
			}
			e := arpaEntry{prob: t.Prob[i]}
			if t.Backoff != nil {
				e.backoff = t.Backoff[i]
			}
			out[strings.Join(ws, " ")] = e
		}
	}
	return out
}

func compareARPA(t *testing.T, got, want *ARPA, tol float64) {
	t.Helper()
	if got.Order() != want.Order() {
		t.Fatalf("order: got %d, want %d", got.Order(), want.Order())
	}
	g, w := entries(got), entries(want)
	if len(g) != len(w) {
		t.Errorf("n-gram count: got %d, want %d", len(g), len(w))
	}
	for key, we := range w {
		ge, ok := g[key]
		if !ok {
			t.Errorf("missing n-gram %q", key)
			continue
		}
		if math.Abs(ge.prob-we.prob) > tol {
			t.Errorf("%q prob: got %.8f, want %.8f", key, ge.prob, we.prob)
		}
		if math.Abs(ge.backoff-we.backoff) > tol {
			t.Errorf("%q backoff: got %.8f, want %.8f", key, ge.backoff, we.backoff)
		}
	}
	for key := range g {
		if _, ok := w[key]; !ok {
			t.Errorf("extra n-gram %q", key)
		}
	}
}

func trainFile(t testing.TB, name string, order int) *ARPA {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := NewCorpus()
	if _, err := c.ReadSentences(f, nil); err != nil {
		t.Fatal(err)
	}
	a, err := Estimate(c, EstimateOptions{Order: order, DiscountFallback: &DefaultFallback})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestEstimateMatchesLmplz checks the estimator against lmplz's own output.
func TestEstimateMatchesLmplz(t *testing.T) {
	for _, name := range []string{"toy0", "toy1"} {
		t.Run(name, func(t *testing.T) {
			got := trainFile(t, name+".train.txt", 3)
			want := readARPAFile(t, name+".arpa")
			compareARPA(t, got, want, 1e-5)
		})
	}
}

func TestEstimateDiscountError(t *testing.T) {
	c := NewCorpus()
	c.Add(strings.Fields("a a b a"))
	if _, err := Estimate(c, EstimateOptions{Order: 3}); err == nil {
		t.Fatal("tiny corpus without fallback: got nil error")
	}
}

// TestKenLMScores reproduces the per-word scores of KenLM's lm/model_test.cc
// on test.arpa (see testdata/EXPECTED_SCORES.md).
func TestKenLMScores(t *testing.T) {
	m := loadModelFile(t, "test.arpa")
	type step struct {
		word   string
		length int
		prob   float64
	}
	tests := []struct {
		name  string
		begin bool
		ctx   []string // words scored first, unchecked
		steps []step
	}{
		{"starters/looking", true, nil, []step{{"looking", 2, -0.4846522}}},
		{"starters/comma", true, nil, []step{{",", 1, -1.383514 + -0.4149733}}},
		{"starters/oov", true, nil, []step{{"this_is_not_found", 1, -1.995635 + -0.4149733}}},
		{"continuation", true, nil, []step{
			{"looking", 2, -0.484652}, {"on", 3, -0.348837}, {"a", 4, -0.0155266},
			{"little", 5, -0.00306122}, {"the", 1, -4.04005}, {"biarritz", 1, -1.9889},
			{"not_found", 1, -2.29666}, {"more", 1, -1.20632 - 20.0}, {".", 2, -0.51363},
			{"</s>", 3, -0.0191651},
		}},
		{"continuation/more", true, strings.Fields("looking on a little"), []step{
			{"more", 5, -0.00181395}, {"loin", 5, -0.0432557},
		}},
		{"blanks/also", false, nil, []step{
			{"also", 1, -1.687872}, {"would", 2, -2}, {"consider", 3, -3},
			{"higher", 4, -4}, {"looking", 5, -5},
		}},
		{"blanks/not_found", false, strings.Fields("also would consider"), []step{
			{"not_found", 1, -1.995635 - 7.0 - 0.30103},
		}},
		{"blanks/higher", false, nil, []step{{"higher", 1, -1.509559}, {"looking", 2, -1.285941 - 0.30103}}},
		{"blanks/higher_looking_oov", false, strings.Fields("higher looking"), []step{{"not_found", 1, -1.995635 - 0.4771212}}},
		{"blanks/higher_looking_consider", false, strings.Fields("higher looking"), []step{{"consider", 1, -1.687872 - 0.4771212}}},
		{"blanks/would", false, nil, []step{
			{"would", 1, -1.687872}, {"consider", 2, -1.687872 - 0.30103},
			{"higher", 3, -1.509559 - 0.30103}, {"looking", 4, -1.285941 - 0.30103},
		}},
		{"unknowns", false, nil, []step{{"not_found", 1, -1.995635}, {"not_found2", 2, -15.0}, {"not_found3", 2, -15.0 - 2.0}}},
		{"unknowns/however", false, strings.Fields("not_found"), []step{{"however", 2, -4}, {"not_found3", 3, -6}}},
		{"minimal/baz", false, nil, []step{{"baz", 1, -6.535897}}},
		{"minimal/foo", false, nil, []step{{"foo", 1, -3.141592}, {"bar", 2, -6.0}, {"bar", 1, -2.718281 + 3.0}}},
		{"minimal/to", false, nil, []step{{"to", 1, -1.687872}, {"look", 2, -0.2922095}, {"a", 3, -7}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s State
			if tt.begin {
				s = m.BeginSentence()
			}
			for _, w := range tt.ctx {
				m.Score(&s, m.Index(w), &s)
			}
			for _, st := range tt.steps {
				p, n := m.Score(&s, m.Index(st.word), &s)
				// KenLM's SLOPPY_CHECK_CLOSE: 0.001 percent relative.
				if math.Abs(float64(p)-st.prob) > 1e-5*math.Max(1, math.Abs(st.prob)) {
					t.Errorf("%s: log10 p = %.7f, want %.7f", st.word, p, st.prob)
				}
				if n != st.length {
					t.Errorf("%s: n-gram length = %d, want %d", st.word, n, st.length)
				}
			}
		})
	}
}

func TestScoreSentenceTotals(t *testing.T) {
	m := loadModelFile(t, "test.arpa")
	tests := []struct {
		sentence string
		want     float64
		oov      int
	}{
		{"looking on a little the biarritz not_found more .", -30.9168122, 1},
		{"looking on a little more loin", -1.5679849, 0},
		{"language modeling is fun .", -64.5944382, 3},
		{"this is a sentence .", -49.5793492, 2},
	}
	for _, tt := range tests {
		got, oov := m.ScoreSentence(strings.Fields(tt.sentence))
		if math.Abs(got-tt.want) > 1e-4 || oov != tt.oov {
			t.Errorf("%q: got (%.7f, %d), want (%.7f, %d)", tt.sentence, got, oov, tt.want, tt.oov)
		}
	}
}

func TestNoUnk(t *testing.T) {
	m := loadModelFile(t, "test_nounk.arpa")
	var s State
	p, _ := m.Score(&s, m.Index("not_found"), &s)
	if p != -100 {
		t.Errorf("OOV in a model without <unk>: got %v, want -100", p)
	}
}
