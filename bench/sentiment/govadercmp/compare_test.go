// Package govadercmp compares lm/sentiment with github.com/jonreiter/govader,
// another Go port of VADER, on speed and on agreement with the reference
// Python scores. It is a separate module so that the comparison's dependency
// stays out of the main module. Run from this folder:
//
//	go test -bench . -benchmem
package govadercmp

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/causalrec/causalrec/lm/sentiment"
	"github.com/jonreiter/govader"
)

var testdata = filepath.Join("..", "..", "..", "lm", "sentiment", "testdata")

// uci returns the 3,000 UCI sentences (text up to the last tab, as the
// reference scored them) keyed by file and 1-based line.
func uci(t testing.TB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, name := range []string{"amazon_cells_labelled.txt", "imdb_labelled.txt", "yelp_labelled.txt"} {
		f, err := os.Open(filepath.Join(testdata, name))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			out[name] = append(out[name], line[:strings.LastIndexByte(line, '\t')])
		}
		f.Close()
	}
	return out
}

// TestAgreement counts how many UCI sentences each port scores within 1e-3
// of the reference compound score.
func TestAgreement(t *testing.T) {
	texts := uci(t)
	b, err := os.ReadFile(filepath.Join(testdata, "vader_reference_scores_uci.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	ours := sentiment.NewAnalyzer()
	theirs := govader.NewSentimentIntensityAnalyzer()
	var nOurs, nTheirs, n int
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if i == 0 {
			continue
		}
		f := strings.Split(line, "\t")
		k, _ := strconv.Atoi(f[1])
		want, _ := strconv.ParseFloat(f[6], 64)
		text := texts[f[0]][k-1]
		if math.Abs(ours.Compound(text)-want) <= 1e-3 {
			nOurs++
		}
		if math.Abs(theirs.PolarityScores(text).Compound-want) <= 1e-3 {
			nTheirs++
		}
		n++
	}
	t.Logf("within 1e-3 of the reference: lm/sentiment %d/%d, govader %d/%d", nOurs, n, nTheirs, n)
	if nOurs < nTheirs {
		t.Errorf("lm/sentiment agrees on %d sentences, govader on %d", nOurs, nTheirs)
	}
}

// BenchmarkVADER scores the UCI sentences; one op is one sentence.
func BenchmarkVADER(b *testing.B) {
	var all []string
	for _, v := range uci(b) {
		all = append(all, v...)
	}
	ours := sentiment.NewAnalyzer()
	theirs := govader.NewSentimentIntensityAnalyzer()
	b.Run("impl=lm-sentiment", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			ours.PolarityScores(all[i%len(all)])
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sentences/s")
	})
	b.Run("impl=govader", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			theirs.PolarityScores(all[i%len(all)])
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sentences/s")
	})
}
