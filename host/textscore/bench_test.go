package textscore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/plugins"
	"github.com/causalrec/causalrec/plugins/builtin/lmscore"
	"github.com/causalrec/causalrec/plugins/builtin/sentiscore"
)

// benchTexts is 1,000 product review sentences (UCI Sentiment Labelled
// Sentences, Amazon part), read from the shared data directory.
const benchTexts = "../../../shared/data/sentiment/uci_sentiment_labelled_sentences/amazon_cells_labelled.txt"

func loadBenchItems(b *testing.B) []store.Item {
	b.Helper()
	f, err := os.Open(benchTexts)
	if err != nil {
		b.Skipf("benchmark texts missing (%v); they come from the shared data directory", err)
	}
	defer f.Close()
	var items []store.Item
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		text, _, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			continue
		}
		items = append(items, store.Item{ID: fmt.Sprintf("r%04d", len(items)), Text: strings.TrimSpace(text)})
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	if len(items) != 1000 {
		b.Fatalf("read %d texts, want 1000", len(items))
	}
	return items
}

func request(items []store.Item, history []string) plugins.ScoreRequest {
	req := plugins.ScoreRequest{Items: make([]plugins.TextItem, len(items)), Context: history}
	for i, it := range items {
		req.Items[i] = plugins.TextItem{ID: it.ID, Text: it.Text}
	}
	return req
}

// BenchmarkScore scores a batch of 1,000 texts per op: in process (the
// plugin's Score called directly), through the plugin boundary (a real
// plugin process over gRPC), and through Score with a warm Redis cache.
func BenchmarkScore(b *testing.B) {
	items := loadBenchItems(b)
	history := []string{items[1].Text, items[7].Text, items[42].Text}
	lmPlugin, err := lmscore.Open(release, lmscore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	inProcess := map[string]plugins.TextScorer{lmscore.Name: lmPlugin, sentiscore.Name: sentiscore.New(release, 0)}
	m := startPlugins(b, nil, lmscore.Name, sentiscore.Name)
	ctx := context.Background()
	for _, name := range []string{lmscore.Name, sentiscore.Name} {
		remote := textScorer(b, m, name)
		for _, path := range []struct {
			name string
			ts   plugins.TextScorer
		}{{"inprocess", inProcess[name]}, {"process", remote}} {
			b.Run(fmt.Sprintf("plugin=%s/path=%s/n=1000", name, path.name), func(b *testing.B) {
				req := request(items, history)
				b.ReportAllocs()
				for b.Loop() {
					resp, err := path.ts.Score(ctx, req)
					if err != nil {
						b.Fatal(err)
					}
					if len(resp.Scores) != len(items) {
						b.Fatalf("%d scores", len(resp.Scores))
					}
				}
			})
		}
		b.Run(fmt.Sprintf("plugin=%s/path=cached/n=1000", name), func(b *testing.B) {
			st := newTestStore(b)
			if _, err := Score(ctx, st, name, remote, items, nil, Options{}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				res, err := Score(ctx, st, name, remote, items, nil, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if res.Hits != len(items) {
					b.Fatalf("%d hits, want %d", res.Hits, len(items))
				}
			}
		})
	}
}
