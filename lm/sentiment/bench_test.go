package sentiment

import (
	"math/rand/v2"
	"testing"
)

// benchTexts returns the 3,000 UCI sentences.
func benchTexts(b *testing.B) []string {
	b.Helper()
	var all []string
	for _, f := range uciFiles {
		t, _ := readUCIRaw(b, f)
		all = append(all, t...)
	}
	return all
}

// BenchmarkAnalyzer scores the UCI sentences with the VADER analyser; one
// op is one sentence.
func BenchmarkAnalyzer(b *testing.B) {
	texts := benchTexts(b)
	a := NewAnalyzer()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			a.PolarityScores(texts[i%len(texts)])
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sentences/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				a.PolarityScores(texts[i%len(texts)])
				i++
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sentences/s")
	})
}

// BenchmarkClassifier scores the UCI sentences with a classifier trained on
// them; one op is one sentence.
func BenchmarkClassifier(b *testing.B) {
	texts := benchTexts(b)
	var labels []int
	for _, f := range uciFiles {
		_, l := readUCIRaw(b, f)
		labels = append(labels, l...)
	}
	c, err := Train(texts, labels, nil, TrainOptions{}, rand.NewPCG(1, 1), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("prob", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c.Prob(texts[i%len(texts)])
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sentences/s")
	})
	b.Run("train/n=3000", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Train(texts, labels, nil, TrainOptions{}, rand.NewPCG(1, 1), nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkNewAnalyzer measures parsing the embedded lexicons.
func BenchmarkNewAnalyzer(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NewAnalyzer()
	}
}
