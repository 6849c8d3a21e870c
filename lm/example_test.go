package lm_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/causalrec/causalrec/lm"
)

func ExampleEstimate() {
	c := lm.NewCorpus()
	for _, s := range []string{"a a b a", "b a a b"} {
		if err := c.Add(strings.Fields(s)); err != nil {
			fmt.Println(err)
			return
		}
	}
	a, err := lm.Estimate(c, lm.EstimateOptions{Order: 3, DiscountFallback: &lm.DefaultFallback})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := lm.NewModel(a)
	if err != nil {
		fmt.Println(err)
		return
	}
	total, oov := m.ScoreSentence([]string{"a", "b", "a"})
	fmt.Printf("log10 p = %.4f, OOV %d\n", total, oov)
	// Output: log10 p = -1.9855, OOV 0
}

func ExampleModel_Score() {
	f, err := os.Open("testdata/test.arpa")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	m, err := lm.LoadModel(f)
	if err != nil {
		fmt.Println(err)
		return
	}
	s := m.BeginSentence()
	for _, w := range strings.Fields("looking on a little") {
		p, n := m.Score(&s, m.Index(w), &s)
		fmt.Printf("%-8s %d-gram %.6f\n", w, n, p)
	}
	// Output:
	// looking  2-gram -0.484652
	// on       3-gram -0.348837
	// a        4-gram -0.015527
	// little   5-gram -0.003061
}

func ExampleScorer() {
	f, err := os.Open("testdata/toy1.arpa")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	m, err := lm.LoadModel(f)
	if err != nil {
		fmt.Println(err)
		return
	}
	s := lm.NewScorer(m, lm.ScorerOptions{Mu: 1})
	for _, item := range []string{"A b b", "C"} {
		f := s.Score(item, "b b b", "b c")
		fmt.Printf("%-6q perplexity %.3f relevance %+.3f\n", item, f.Perplexity, f.Relevance)
	}
	// Output:
	// "A b b" perplexity 3.247 relevance +0.050
	// "C"    perplexity 1.917 relevance +0.056
}
