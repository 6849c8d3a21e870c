package sentiment

import (
	"fmt"
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
// them (one op of "prob" is one sentence) and trains on them (one op of
// "train" is a whole training run), with the features of model format
// version 1 (no opinion lexicon) and of the current version, for the ratio
// of the two in one run.
func BenchmarkClassifier(b *testing.B) {
	texts := benchTexts(b)
	var labels []int
	for _, f := range uciFiles {
		_, l := readUCIRaw(b, f)
		labels = append(labels, l...)
	}
	a := NewAnalyzer()
	for _, version := range []int{1, modelVersion} {
		c, err := train(texts, labels, nil, TrainOptions{}, rand.NewPCG(1, 1), a, version)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("prob/version=%d", version), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c.Prob(texts[i%len(texts)])
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sentences/s")
		})
		b.Run(fmt.Sprintf("train/n=3000/version=%d", version), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := train(texts, labels, nil, TrainOptions{}, rand.NewPCG(1, 1), a, version); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNewAnalyzer measures parsing the embedded lexicons.
func BenchmarkNewAnalyzer(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NewAnalyzer()
	}
}
