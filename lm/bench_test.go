package lm

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// gutenbergDir is the shared corpus, present only on the development
// machine; benchmarks that need it skip without it.
const gutenbergDir = "../../shared/data/corpus/gutenberg"

var (
	benchToken = regexp.MustCompile(`[a-z]+(?:['’][a-z]+)*|[0-9]+|[.,;:!?]`)
	benchBlank = regexp.MustCompile(`\n[ \t\r]*\n`)
)

// gutenberg tokenises the named novels as corpus/REFERENCE_NUMBERS.md says.
func gutenberg(b *testing.B, names ...string) [][]string {
	var out [][]string
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(gutenbergDir, n))
		if errors.Is(err, fs.ErrNotExist) {
			b.Skipf("Gutenberg corpus not found at %s: %v", gutenbergDir, err)
		}
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range benchBlank.Split(strings.ToLower(string(data)), -1) {
			if toks := benchToken.FindAllString(p, -1); len(toks) > 0 {
				out = append(out, toks)
			}
		}
	}
	return out
}

func estimateSentences(b *testing.B, sents [][]string, order int) *ARPA {
	c := NewCorpus()
	for _, s := range sents {
		if err := c.Add(s); err != nil {
			b.Fatal(err)
		}
	}
	a, err := Estimate(c, EstimateOptions{Order: order, DiscountFallback: &DefaultFallback})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// mapBaseline is a straightforward backoff scorer over Go maps keyed by
// word-id arrays, the baseline of the query benchmarks.
type mapBaseline []map[[MaxOrder]WordID][2]float32

func newMapBaseline(a *ARPA) mapBaseline {
	mb := make(mapBaseline, a.Order())
	for k := 1; k <= a.Order(); k++ {
		t := &a.Orders[k-1]
		mb[k-1] = make(map[[MaxOrder]WordID][2]float32, t.Len())
		for i := 0; i < t.Len(); i++ {
			var key [MaxOrder]WordID
			copy(key[:], a.NGrams(k, i))
			var bo float32
			if t.Backoff != nil {
				bo = float32(t.Backoff[i])
			}
			mb[k-1][key] = [2]float32{float32(t.Prob[i]), bo}
		}
	}
	return mb
}

func (mb mapBaseline) score(ws []WordID) float32 {
	var bo float32
	for len(ws) > 0 {
		var key [MaxOrder]WordID
		copy(key[:], ws)
		if e, ok := mb[len(ws)-1][key]; ok {
			return bo + e[0]
		}
		if len(ws) > 1 {
			var ctx [MaxOrder]WordID
			copy(ctx[:], ws[:len(ws)-1])
			if e, ok := mb[len(ws)-2][ctx]; ok {
				bo += e[1]
			}
		}
		ws = ws[1:]
	}
	return bo
}

// benchQueries times scoring the test sentences (as word ids) with the
// hashed Model and with the map baseline.
func benchQueries(b *testing.B, a *ARPA, test [][]string) {
	m, err := NewModel(a)
	if err != nil {
		b.Fatal(err)
	}
	var sents [][]WordID
	events := 0
	for _, s := range test {
		ids := []WordID{m.BeginID()}
		for _, w := range s {
			ids = append(ids, m.Index(w))
		}
		sents = append(sents, append(ids, m.EndID()))
		events += len(s) + 1
	}
	total := 0
	for k := range a.Orders {
		total += a.Orders[k].Len()
	}
	b.Run("impl=hashed", func(b *testing.B) {
		b.ReportAllocs()
		var sum float32
		for b.Loop() {
			for _, ids := range sents {
				s := m.BeginSentence()
				for _, w := range ids[1:] {
					p, _ := m.Score(&s, w, &s)
					sum += p
				}
			}
		}
		b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "queries/s")
		b.ReportMetric(float64(m.SizeBytes())/float64(total), "bytes/ngram")
	})
	b.Run("impl=map", func(b *testing.B) {
		mb := newMapBaseline(a)
		b.ReportAllocs()
		var sum float32
		for b.Loop() {
			for _, ids := range sents {
				for i := 1; i < len(ids); i++ {
					sum += mb.score(ids[max(0, i-a.Order()+1) : i+1])
				}
			}
		}
		b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	})
}

// BenchmarkQuery times 5-gram queries on synthetic corpora of two sizes.
func BenchmarkQuery(b *testing.B) {
	for _, n := range []int{1000, 20000} {
		b.Run("sentences="+strconv.Itoa(n), func(b *testing.B) {
			train := randomCorpus(rand.NewPCG(7, uint64(n)), n, 2000)
			test := randomCorpus(rand.NewPCG(8, uint64(n)), 500, 2000)
			benchQueries(b, estimateSentences(b, train, 5), test)
		})
	}
}

// BenchmarkGutenbergQuery times 5-gram queries of Frankenstein against a
// model of Pride and Prejudice, Sherlock Holmes and Moby-Dick.
func BenchmarkGutenbergQuery(b *testing.B) {
	train := gutenberg(b, "pg1342_pride_and_prejudice.txt", "pg1661_adventures_of_sherlock_holmes.txt", "pg2701_moby_dick.txt")
	test := gutenberg(b, "pg84_frankenstein.txt")
	benchQueries(b, estimateSentences(b, train, 5), test)
}

func BenchmarkEstimate(b *testing.B) {
	train := randomCorpus(rand.NewPCG(7, 1), 20000, 2000)
	for _, order := range []int{3, 5} {
		b.Run("order="+strconv.Itoa(order), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				estimateSentences(b, train, order)
			}
		})
	}
}

// BenchmarkLoad compares loading the binary format with parsing ARPA.
func BenchmarkLoad(b *testing.B) {
	a := estimateSentences(b, randomCorpus(rand.NewPCG(7, 2), 20000, 2000), 5)
	m, err := NewModel(a)
	if err != nil {
		b.Fatal(err)
	}
	var bin, arpa bytes.Buffer
	if err := m.WriteBinary(&bin); err != nil {
		b.Fatal(err)
	}
	if err := WriteARPA(&arpa, a); err != nil {
		b.Fatal(err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"format=binary", bin.Bytes()}, {"format=arpa", arpa.Bytes()}} {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(f.data)))
			for b.Loop() {
				if _, err := LoadModel(bytes.NewReader(f.data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
