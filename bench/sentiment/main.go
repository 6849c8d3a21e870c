// Command sentiment benchmarks lm/sentiment on the shared sentiment data:
//
//   - Pearson r of the VADER compound score with the human mean ratings of
//     the four VADER ground-truth corpora (Hutto & Gilbert 2014), against the
//     targets 0.87 / 0.42 / 0.58 / 0.50;
//   - accuracy on the UCI labelled sentences: VADER (compound > 0), the
//     classifier trained on two sources and tested on the third, and the
//     classifier in 10-fold cross-validation within each source;
//   - throughput of the analyser and the classifier (sentences per second,
//     one goroutine and all CPUs), the classifier as a ratio of the
//     analyser.
//
// Run from the repository root (the data is read from ../shared/data):
//
//	go run ./bench/sentiment
//
// It exits 1 if a correlation or the cross-domain accuracy misses its
// target, and says so plainly and exits 0 when the data is missing.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/causalrec/causalrec/lm/sentiment"
	"gonum.org/v1/gonum/stat"
)

func main() {
	dataDir := flag.String("data", filepath.Join("..", "shared", "data", "sentiment"), "sentiment data `DIR`")
	seed := flag.Uint64("seed", 1, "random seed for training and folds")
	minTime := flag.Duration("time", 2*time.Second, "minimum duration of each throughput measurement")
	flag.Parse()
	code, err := run(context.Background(), os.Stdout, *dataDir, *seed, *minTime)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/sentiment:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// hutto are the four ground-truth corpora and the Pearson r each must reach.
var hutto = []struct {
	name, file string
	target     float64
}{
	{"tweets", "tweets_GroundTruth.txt", 0.87},
	{"movies", "movieReviewSnippets_GroundTruth.txt", 0.42},
	{"amazon", "amazonReviewSnippets_GroundTruth.txt", 0.58},
	{"nyt", "nytEditorialSnippets_GroundTruth.txt", 0.50},
}

var uciFiles = []struct{ name, file string }{
	{"amazon", "amazon_cells_labelled.txt"},
	{"imdb", "imdb_labelled.txt"},
	{"yelp", "yelp_labelled.txt"},
}

func run(ctx context.Context, w io.Writer, dir string, seed uint64, minTime time.Duration) (int, error) {
	if _, err := os.Stat(filepath.Join(dir, "vader", "hutto_icwsm2014")); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(w, "SKIP: sentiment data not found at %s (run from the repository root with ../shared/data present, or pass -data)\n", dir)
		return 0, nil
	}
	a := sentiment.NewAnalyzer()
	failed := false

	// 1. Correlation with human ratings.
	fmt.Fprintln(w, "## VADER compound vs human mean rating (Pearson r)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| corpus | n | r | target | reference Python r |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	refR := map[string]float64{"tweets": 0.872, "movies": 0.428, "amazon": 0.590, "nyt": 0.503}
	var allHutto []string
	for _, c := range hutto {
		texts, means, err := readHutto(filepath.Join(dir, "vader", "hutto_icwsm2014", c.file))
		if err != nil {
			return 1, err
		}
		scores := make([]float64, len(texts))
		for i, t := range texts {
			scores[i] = a.Compound(t)
		}
		r := stat.Correlation(scores, means, nil)
		mark := ""
		if r < c.target {
			mark = " FAIL"
			failed = true
		}
		fmt.Fprintf(w, "| %s | %d | %.3f%s | %.2f | %.3f |\n", c.name, len(texts), r, mark, c.target, refR[c.name])
		allHutto = append(allHutto, texts...)
	}
	fmt.Fprintln(w)

	// 2. Accuracy on the UCI sentences.
	var texts [3][]string
	var labels [3][]int
	for k, u := range uciFiles {
		f, err := os.Open(filepath.Join(dir, "uci_sentiment_labelled_sentences", u.file))
		if err != nil {
			return 1, err
		}
		texts[k], labels[k], err = sentiment.ReadLabeled(f)
		f.Close()
		if err != nil {
			return 1, fmt.Errorf("%s: %w", u.file, err)
		}
	}
	var vaderAcc, crossAcc, cvAcc [4]float64
	for k := range 3 {
		vaderAcc[k] = accuracy(func(s string) int { return b2i(a.Compound(s) > 0) }, texts[k], labels[k])

		var trX []string
		var trY []int
		for j := range 3 {
			if j != k {
				trX = append(trX, texts[j]...)
				trY = append(trY, labels[j]...)
			}
		}
		c, err := sentiment.Train(trX, trY, nil, sentiment.TrainOptions{}, rand.NewPCG(seed, 1), a)
		if err != nil {
			return 1, err
		}
		crossAcc[k] = accuracy(c.Predict, texts[k], labels[k])

		cvAcc[k], err = crossValidate(a, texts[k], labels[k], 10, seed)
		if err != nil {
			return 1, err
		}
	}
	var allX []string
	var allY []int
	for k := range 3 {
		allX = append(allX, texts[k]...)
		allY = append(allY, labels[k]...)
	}
	vaderAcc[3] = accuracy(func(s string) int { return b2i(a.Compound(s) > 0) }, allX, allY)
	crossAcc[3] = (crossAcc[0] + crossAcc[1] + crossAcc[2]) / 3
	var err error
	if cvAcc[3], err = crossValidate(a, allX, allY, 10, seed); err != nil {
		return 1, err
	}
	fmt.Fprintln(w, "## Accuracy on the UCI labelled sentences")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| test set | VADER compound > 0 | classifier, trained on the other two sources | classifier, 10-fold CV within the set |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for k, u := range uciFiles {
		fmt.Fprintf(w, "| %s | %.3f | %.3f | %.3f |\n", u.name, vaderAcc[k], crossAcc[k], cvAcc[k])
	}
	mark := ""
	if crossAcc[3] < 0.85 {
		mark = " FAIL (target 0.85)"
		failed = true
	}
	fmt.Fprintf(w, "| all 3 (cross-domain: mean of the three) | %.3f | %.3f%s | %.3f |\n", vaderAcc[3], crossAcc[3], mark, cvAcc[3])
	fmt.Fprintln(w)

	// 3. Throughput.
	c, err := sentiment.Train(allX, allY, nil, sentiment.TrainOptions{}, rand.NewPCG(seed, 1), a)
	if err != nil {
		return 1, err
	}
	procs := runtime.GOMAXPROCS(0)
	fmt.Fprintf(w, "## Throughput on the %d VADER ground-truth texts (mean %.0f bytes)\n\n", len(allHutto), meanLen(allHutto))
	fmt.Fprintln(w, "| scorer | goroutines | sentences/s | relative to the analyser |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, g := range []int{1, procs} {
		va := throughput(ctx, func(s string) { a.PolarityScores(s) }, allHutto, g, minTime)
		cl := throughput(ctx, func(s string) { c.Prob(s) }, allHutto, g, minTime)
		fmt.Fprintf(w, "| VADER analyser | %d | %.0f | 1.00 |\n", g, va)
		fmt.Fprintf(w, "| classifier | %d | %.0f | %.2f |\n", g, cl, cl/va)
	}
	if failed {
		fmt.Fprintln(w, "\nFAIL: a target was missed")
		return 1, nil
	}
	return 0, nil
}

// readHutto reads a ground-truth file: "id<TAB>mean rating<TAB>text" lines
// with CRLF endings.
func readHutto(path string) (texts []string, means []float64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			continue
		}
		fields := strings.SplitN(line, "\t", 3)
		if len(fields) != 3 {
			return nil, nil, fmt.Errorf("%s: line %d: %d fields, want 3", path, n, len(fields))
		}
		m, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: line %d: rating: %w", path, n, err)
		}
		texts = append(texts, fields[2])
		means = append(means, m)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return texts, means, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func accuracy(predict func(string) int, texts []string, labels []int) float64 {
	right := 0
	for i, t := range texts {
		if predict(t) == labels[i] {
			right++
		}
	}
	return float64(right) / float64(len(texts))
}

// crossValidate returns the k-fold cross-validated accuracy of the
// classifier on one shuffled split.
func crossValidate(a *sentiment.Analyzer, texts []string, labels []int, k int, seed uint64) (float64, error) {
	perm := rand.New(rand.NewPCG(seed, 2)).Perm(len(texts))
	right := 0
	for f := range k {
		var trX, teX []string
		var trY, teY []int
		for i, p := range perm {
			if i%k == f {
				teX, teY = append(teX, texts[p]), append(teY, labels[p])
			} else {
				trX, trY = append(trX, texts[p]), append(trY, labels[p])
			}
		}
		c, err := sentiment.Train(trX, trY, nil, sentiment.TrainOptions{}, rand.NewPCG(seed, 1), a)
		if err != nil {
			return 0, err
		}
		for i, t := range teX {
			if c.Predict(t) == teY[i] {
				right++
			}
		}
	}
	return float64(right) / float64(len(texts)), nil
}

// throughput returns the sentences per second of score over texts with g
// goroutines, measured over whole passes for at least minTime.
func throughput(ctx context.Context, score func(string), texts []string, g int, minTime time.Duration) float64 {
	for _, t := range texts[:min(len(texts), 1000)] { // warm up
		score(t)
	}
	start := time.Now()
	n := 0
	for time.Since(start) < minTime && ctx.Err() == nil {
		var wg sync.WaitGroup
		for j := range g {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := j; i < len(texts); i += g {
					score(texts[i])
				}
			}()
		}
		wg.Wait()
		n += len(texts)
	}
	return float64(n) / time.Since(start).Seconds()
}

func meanLen(texts []string) float64 {
	s := 0
	for _, t := range texts {
		s += len(t)
	}
	return float64(s) / math.Max(1, float64(len(texts)))
}
