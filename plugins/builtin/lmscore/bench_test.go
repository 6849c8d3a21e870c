package lmscore

import (
	"context"
	"fmt"
	"testing"

	"github.com/causalrec/causalrec/plugins"
)

// BenchmarkScoreRelevance measures what serving asks of the plugin for a
// request with relevance_weight: 200 candidate texts scored against the
// texts of 20 items of the user's history, with every text tokenised and
// scored for fluency again (the baseline) and with the plugin's text cache.
func BenchmarkScoreRelevance(b *testing.B) {
	def, err := defaultPlugin()
	if err != nil {
		b.Fatal(err)
	}
	words := []string{"the", "lamp", "chair", "lovely", "dreadful", "table", "light", "wooden", "old", "new", "room", "house"}
	text := func(i int) string {
		s := ""
		for j := range 12 {
			if j > 0 {
				s += " "
			}
			s += words[(i*7+j*5)%len(words)]
		}
		return s
	}
	req := plugins.ScoreRequest{}
	for i := range 20 {
		req.Context = append(req.Context, text(1000+i))
	}
	for i := range 200 {
		req.Items = append(req.Items, plugins.TextItem{ID: fmt.Sprint(i), Text: text(i)})
	}
	ctx := context.Background()
	for _, uncached := range []bool{true, false} {
		// A plugin of its own, sharing the default model, per variant.
		p := &Plugin{scorer: def.scorer, version: def.version, maxBytes: def.maxBytes, uncached: uncached}
		name := "cached"
		if uncached {
			name = "uncached"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Score(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
