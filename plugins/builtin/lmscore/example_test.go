package lmscore_test

import (
	"context"
	"fmt"

	"github.com/causalrec/causalrec/plugins"
	"github.com/causalrec/causalrec/plugins/builtin/lmscore"
)

func Example() {
	// The default background model, estimated from the embedded book.
	p, err := lmscore.Open("0.1.0", lmscore.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := p.Score(context.Background(), plugins.ScoreRequest{
		Items: []plugins.TextItem{
			{ID: "mystery", Text: "A mystery at Baker Street."},
			{ID: "finance", Text: "Bond yields fell sharply."},
			{ID: "blank", Text: ""},
		},
		Context: []string{"Holmes solved the mystery.", "Another Baker Street mystery."},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range resp.Scores {
		if s.Err != "" {
			fmt.Printf("%s: error: %s\n", s.ID, s.Err)
			continue
		}
		fmt.Printf("%s: lm_logprob %.1f perplexity %.0f relevance %.2f\n",
			s.ID, s.Features[lmscore.FeatureLogProb], s.Features[lmscore.FeaturePerplexity], s.Features[lmscore.FeatureRelevance])
	}
	// Output:
	// mystery: lm_logprob -10.9 perplexity 36 relevance 0.80
	// finance: lm_logprob -20.7 perplexity 2869 relevance -0.01
	// blank: error: empty text
}
