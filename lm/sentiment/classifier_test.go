package sentiment

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// crossDomain trains on two UCI sources and tests on the third, for each
// choice, and returns the three accuracies (test on amazon, imdb, yelp).
func crossDomain(t testing.TB, opts TrainOptions, seed uint64) [3]float64 {
	t.Helper()
	a := NewAnalyzer()
	var texts [3][]string
	var labels [3][]int
	for k, f := range uciFiles {
		texts[k], labels[k] = readUCIRaw(t, f)
	}
	var acc [3]float64
	for test := range 3 {
		var trX []string
		var trY []int
		for k := range 3 {
			if k != test {
				trX = append(trX, texts[k]...)
				trY = append(trY, labels[k]...)
			}
		}
		c, err := Train(trX, trY, nil, opts, rand.NewPCG(seed, 1), a)
		if err != nil {
			t.Fatal(err)
		}
		right := 0
		for i, s := range texts[test] {
			if c.Predict(s) == labels[test][i] {
				right++
			}
		}
		acc[test] = float64(right) / float64(len(texts[test]))
	}
	return acc
}

// TestCrossDomainAccuracy trains on two UCI sources and tests on the third;
// the mean accuracy over the three choices must reach 0.86 (VADER's
// compound > 0 rule gets 0.817 on the same sentences).
func TestCrossDomainAccuracy(t *testing.T) {
	acc := crossDomain(t, TrainOptions{}, 1)
	mean := (acc[0] + acc[1] + acc[2]) / 3
	t.Logf("test on amazon %.3f, imdb %.3f, yelp %.3f; mean %.4f", acc[0], acc[1], acc[2], mean)
	if mean < 0.86 {
		t.Errorf("mean cross-domain accuracy %.4f, want >= 0.86", mean)
	}
}

// TestCrossDomainSeeds runs the cross-domain evaluation as `causalrec
// sentiment train` trains (default options, random source
// rand.NewPCG(seed, 0)) for seeds 1–5 and checks that each seed's mean
// accuracy over the three held-out sources reaches 0.86; docs/sentiment.md
// has the table (go test ./lm/sentiment -run CrossDomainSeeds -v).
func TestCrossDomainSeeds(t *testing.T) {
	a := NewAnalyzer()
	var texts [3][]string
	var labels [3][]int
	for k, f := range uciFiles {
		texts[k], labels[k] = readUCIRaw(t, f)
	}
	var total float64
	for seed := uint64(1); seed <= 5; seed++ {
		var acc, posShare [3]float64
		for test := range 3 {
			var trX []string
			var trY []int
			for k := range 3 {
				if k != test {
					trX = append(trX, texts[k]...)
					trY = append(trY, labels[k]...)
				}
			}
			c, err := Train(trX, trY, nil, TrainOptions{}, rand.NewPCG(seed, 0), a)
			if err != nil {
				t.Fatal(err)
			}
			right, pos := 0, 0
			for i, s := range texts[test] {
				p := c.Predict(s)
				pos += p
				if p == labels[test][i] {
					right++
				}
			}
			acc[test] = float64(right) / float64(len(texts[test]))
			posShare[test] = float64(pos) / float64(len(texts[test]))
		}
		mean := (acc[0] + acc[1] + acc[2]) / 3
		total += mean
		t.Logf("| %d | %.3f | %.3f | %.3f | %.4f | %.3f |", seed, acc[0], acc[1], acc[2], mean, posShare[1])
		if mean < 0.86 {
			t.Errorf("seed %d: mean cross-domain accuracy %.4f, want >= 0.86", seed, mean)
		}
	}
	t.Logf("mean over the seeds %.4f", total/5)
}

// TestVADERBaseline checks the baseline the classifier is compared with:
// compound > 0 means positive.
func TestVADERBaseline(t *testing.T) {
	a := NewAnalyzer()
	right, n := 0, 0
	for _, f := range uciFiles {
		texts, labels := readUCIRaw(t, f)
		for i, s := range texts {
			p := 0
			if a.Compound(s) > 0 {
				p = 1
			}
			if p == labels[i] {
				right++
			}
			n++
		}
	}
	acc := float64(right) / float64(n)
	t.Logf("VADER compound > 0 accuracy %.4f", acc)
	if math.Abs(acc-0.817) > 0.001 {
		t.Errorf("VADER baseline accuracy %.4f, want 0.817 (reference)", acc)
	}
}

func smallModel(t testing.TB, seed uint64) *Classifier {
	t.Helper()
	texts, labels := readUCIRaw(t, "amazon_cells_labelled.txt")
	c, err := Train(texts, labels, nil, TrainOptions{Epochs: 4}, rand.NewPCG(seed, 7), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTrainDeterministic(t *testing.T) {
	save := func(c *Classifier) []byte {
		var b bytes.Buffer
		if err := c.Save(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	a, b, other := save(smallModel(t, 3)), save(smallModel(t, 3)), save(smallModel(t, 4))
	if !bytes.Equal(a, b) {
		t.Error("two models trained with the same seed differ")
	}
	if bytes.Equal(a, other) {
		t.Error("models trained with different seeds are identical")
	}
}

func TestSaveLoad(t *testing.T) {
	c := smallModel(t, 1)
	var buf bytes.Buffer
	if err := c.Save(&buf); err != nil {
		t.Fatal(err)
	}
	saved := buf.String()
	if !strings.Contains(saved, `"version":2`) {
		t.Errorf("saved model does not say version 2: %.80s", saved)
	}
	d, err := LoadClassifier(strings.NewReader(saved), nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.NumFeatures() != c.NumFeatures() || d.Options() != c.Options() {
		t.Errorf("loaded model has %d features, options %+v; want %d, %+v", d.NumFeatures(), d.Options(), c.NumFeatures(), c.Options())
	}
	texts, _ := readUCIRaw(t, "yelp_labelled.txt")
	for _, s := range texts[:200] {
		if got, want := d.Prob(s), c.Prob(s); math.Abs(got-want) > 1e-12 {
			t.Fatalf("Prob(%q) after load = %v, want %v", s, got, want)
		}
	}

	bad := []struct {
		name, file string
		want       error
	}{
		{"newer version", strings.Replace(saved, `"version":2`, `"version":3`, 1), ErrModelVersion},
		{"version 0", strings.Replace(saved, `"version":2`, `"version":0`, 1), ErrModelVersion},
		{"version 1 with version-2 dense weights", strings.Replace(saved, `"version":2`, `"version":1`, 1), ErrModelFormat},
		{"other format", strings.Replace(saved, modelFormat, "something-else", 1), ErrModelFormat},
		{"not json", "hello", ErrModelFormat},
		{"missing dense", strings.Replace(saved, `"vader_compound":`, `"vader_compound_x":`, 1), ErrModelFormat},
		{"bad options", strings.Replace(saved, `"epochs":4`, `"epochs":-4`, 1), ErrModelFormat},
	}
	for _, tt := range bad {
		_, err := LoadClassifier(strings.NewReader(tt.file), nil)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestTrainErrors(t *testing.T) {
	src := rand.NewPCG(1, 1)
	tests := []struct {
		name    string
		texts   []string
		labels  []int
		weights []float64
		opts    TrainOptions
		want    string
	}{
		{"empty", nil, nil, nil, TrainOptions{}, "no training texts"},
		{"label 2", []string{"a", "b"}, []int{0, 2}, nil, TrainOptions{}, "label 2 of text 1"},
		{"nan weight", []string{"a"}, []int{1}, []float64{math.NaN()}, TrainOptions{}, "weight NaN of text 0"},
		{"zero weights", []string{"a"}, []int{1}, []float64{0}, TrainOptions{}, "weights sum to zero"},
		{"negative lr", []string{"a"}, []int{1}, nil, TrainOptions{LearningRate: -1}, "learning rate"},
		{"negative epochs", []string{"a"}, []int{1}, nil, TrainOptions{Epochs: -1}, "epochs"},
	}
	for _, tt := range tests {
		_, err := Train(tt.texts, tt.labels, tt.weights, tt.opts, src, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want containing %q", tt.name, err, tt.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("length mismatch did not panic")
		}
	}()
	_, _ = Train([]string{"a"}, []int{1, 0}, nil, TrainOptions{}, src, nil)
}

func TestWeightsMatter(t *testing.T) {
	texts := []string{"good", "good", "bad", "bad", "meh", "meh"}
	labels := []int{1, 1, 0, 0, 1, 0}
	up, err := Train(texts, labels, []float64{1, 1, 1, 1, 10, 0.1}, TrainOptions{}, rand.NewPCG(1, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	down, err := Train(texts, labels, []float64{1, 1, 1, 1, 0.1, 10}, TrainOptions{}, rand.NewPCG(1, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if pu, pd := up.Prob("meh"), down.Prob("meh"); !(pu > 0.5 && pd < 0.5) {
		t.Errorf(`Prob("meh") = %.3f with the positive "meh" weighted up, %.3f weighted down; want > 0.5 and < 0.5`, pu, pd)
	}
}

func TestClassifierConcurrent(t *testing.T) {
	c := smallModel(t, 1)
	texts, _ := readUCIRaw(t, "imdb_labelled.txt")
	want := make([]float64, len(texts))
	for i, s := range texts {
		want[i] = c.Prob(s)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := len(texts) - 1; i >= 0; i-- {
				if c.Prob(texts[i]) != want[i] {
					mu.Lock()
					bad++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if bad > 0 {
		t.Errorf("%d concurrent scores differ", bad)
	}
}

func TestAppendWords(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"I didn't like it. Great!", "i didn't ~like ~it great !"},
		{"Not GOOD, but fine", "not ~good but fine"},
		{"no way?", "no ~way ?"},
		{"rock'n'roll 'quoted'", "rock'n'roll quoted"},
		{"Ünïcode WORDS", "ünïcode words"},
	}
	for _, tt := range tests {
		buf, ws := appendWords(nil, nil, tt.in)
		var got []string
		for _, w := range ws {
			got = append(got, string(buf[w[0]:w[1]]))
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("appendWords(%q) = %q, want %q", tt.in, g, tt.want)
		}
	}
}

func TestReadLabeled(t *testing.T) {
	texts, labels, err := ReadLabeled(strings.NewReader("good\t1\nbad one\t0 \r\n\nwith\ttab\t1\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantT := []string{"good", "bad one", "with\ttab"}
	wantL := []int{1, 0, 1}
	if strings.Join(texts, "|") != strings.Join(wantT, "|") || len(labels) != 3 || labels[0] != wantL[0] || labels[1] != wantL[1] || labels[2] != wantL[2] {
		t.Errorf("ReadLabeled = %q %v, want %q %v", texts, labels, wantT, wantL)
	}
	bad := []struct {
		in, want string
	}{
		{"good\t1\nno tab here\n", "line 2: no tab"},
		{"good\t1\n\nbad\t2\n", "line 3: label \"2\""},
		{"good\tyes\n", "line 1: label \"yes\""},
		{"\t1\n", "line 1: empty text"},
		{"good\t\n", "line 1: label \"\""},
	}
	for _, tt := range bad {
		_, _, err := ReadLabeled(strings.NewReader(tt.in))
		if !errors.Is(err, ErrData) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ReadLabeled(%q) err = %v, want ErrData containing %q", tt.in, err, tt.want)
		}
	}
}

// TestLoadVersion1 loads a model saved in file format version 1 (by the
// package before version 2; testdata/SOURCE.md says how it was made) and
// checks that it scores the sentences it scored then.
func TestLoadVersion1(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "model_v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := LoadClassifier(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Options(), (TrainOptions{Epochs: 4, LearningRate: 0.1, L2: 0.01, MinCount: 2}); got != want {
		t.Errorf("options %+v, want %+v", got, want)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "model_v1_probs.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		k := strings.LastIndexByte(line, '\t')
		want, err := strconv.ParseFloat(line[k+1:], 64)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Prob(line[:k]); math.Abs(got-want) > 1e-12 {
			t.Errorf("Prob(%q) = %.17g, want %.17g (version 1)", line[:k], got, want)
		}
		n++
	}
	if n != 100 {
		t.Errorf("%d sentences in model_v1_probs.tsv, want 100", n)
	}

	// Saved again, it stays a version-1 model.
	var buf bytes.Buffer
	if err := c.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"version":1`) {
		t.Errorf("re-saved version-1 model does not say version 1: %.80s", buf.String())
	}
	if _, err := LoadClassifier(&buf, nil); err != nil {
		t.Errorf("re-saved version-1 model: %v", err)
	}
}

func TestReadOpinionLexicon(t *testing.T) {
	lex, err := ReadOpinionLexicon(strings.NewReader("good\tpositive\nbad\tnegative\r\n\nenvious\tnegative\nenvious\tpositive\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int8{"good": 1, "bad": -1}
	if len(lex) != len(want) || lex["good"] != 1 || lex["bad"] != -1 {
		t.Errorf("ReadOpinionLexicon = %v, want %v (a word with both polarities dropped)", lex, want)
	}
	bad := []struct {
		name, in, want string
	}{
		{"no tab", "good positive\n", "line 1: no tab"},
		{"polarity only", "\tpositive\n", "line 1: no tab"},
		{"bad polarity", "good\tpositive\nbad\tneg\n", `line 2: polarity "neg"`},
	}
	for _, tt := range bad {
		_, err := ReadOpinionLexicon(strings.NewReader(tt.in))
		if !errors.Is(err, ErrLexicon) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want ErrLexicon containing %q", tt.name, err, tt.want)
		}
	}

	// The embedded lexicon: 2,005 positive and 4,781 negative rows, of which
	// three words have both polarities.
	emb, err := opinionLexicon()
	if err != nil {
		t.Fatal(err)
	}
	var pos, neg int
	for _, v := range emb {
		if v > 0 {
			pos++
		} else {
			neg++
		}
	}
	if pos != 2002 || neg != 4778 || emb["superb"] != 1 || emb["mediocre"] != -1 {
		t.Errorf("embedded opinion lexicon: %d positive, %d negative words, superb %d, mediocre %d; want 2002, 4778, 1, -1", pos, neg, emb["superb"], emb["mediocre"])
	}
}

// TestOpinionFeatures checks the opinion lexicon's features, negation
// included, and that a version-1 classifier has none of them.
func TestOpinionFeatures(t *testing.T) {
	tests := []struct {
		text      string
		wantPos   int
		wantNeg   int
		wantNames []string
	}{
		{"A superb, mediocre film.", 1, 1, []string{"ol:1", "ol:-1"}},
		{"Not superb at all", 0, 1, []string{"ol:~1"}},
		{"The table", 0, 0, nil},
	}
	for _, version := range []int{1, modelVersion} {
		c, err := newClassifier(nil, version)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			sc := new(featScratch)
			var names []string
			eachSparse(sc, c.analyzer.lex, c.opinion, tt.text, func(name []byte) {
				if strings.HasPrefix(string(name), "ol:") {
					names = append(names, string(name))
				}
			})
			var d [numDense]float64
			denseFeatures(&d, c.analyzer, c.afinn, c.opinion, sc, tt.text)
			wantD := [3]float64{math.Log1p(float64(tt.wantPos)), math.Log1p(float64(tt.wantNeg)), float64(tt.wantPos-tt.wantNeg) / 2}
			wantN := tt.wantNames
			if version == 1 {
				wantD, wantN = [3]float64{}, nil
			}
			if got := [3]float64(d[numDenseV1:]); got != wantD {
				t.Errorf("version %d, %q: opinion dense features %v, want %v", version, tt.text, got, wantD)
			}
			if strings.Join(names, " ") != strings.Join(wantN, " ") {
				t.Errorf("version %d, %q: opinion sparse features %q, want %q", version, tt.text, names, wantN)
			}
		}
	}
}
