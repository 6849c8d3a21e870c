package recommend

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/host/textscore"
	"github.com/causalrec/causalrec/plugins"
)

// BenchmarkRows measures writing the feature rows of one request: 200
// candidates with five numeric features and the cached text features of two
// scorers, from a snapshot read from a real Redis. The baseline computes
// every column (a snapshot without a catalog token, as in a Redis
// Cluster); "cached" takes the item columns from the ranker's item-row
// cache, as serving does while the catalog is unchanged.
func BenchmarkRows(b *testing.B) {
	st := newStore(b)
	ctx := context.Background()
	const n = 200
	items := make([]store.Item, n)
	ids := make([]string, n)
	byID := map[string]store.Item{}
	var lm, senti []store.TextScore
	for i := range items {
		it := store.Item{ID: fmt.Sprintf("i%03d", i), Text: fmt.Sprintf("a short text about item %d", i), Features: map[string]float64{}}
		for j, f := range []string{"a", "b", "c", "d", "e"} {
			it.Features[f] = float64(i*j%7) + 0.5
		}
		items[i], ids[i], byID[it.ID] = it, it.ID, it
		h := store.TextHash(it.Text)
		lm = append(lm, store.TextScore{ItemID: it.ID, TextHash: h, Features: map[string]float64{"perplexity": 100 + float64(i), "lm_logprob": -float64(i)}})
		senti = append(senti, store.TextScore{ItemID: it.ID, TextHash: h, Features: map[string]float64{"sentiment": 0.1, "sentiment_pos": 0.2, "sentiment_neg": 0, "sentiment_neu": 0.8}})
	}
	if _, err := st.PutItems(ctx, items); err != nil {
		b.Fatal(err)
	}
	if _, err := st.PutUsers(ctx, []store.User{{ID: "u", Features: map[string]float64{"x": 1, "y": 2}}}); err != nil {
		b.Fatal(err)
	}
	if err := st.PutTextScores(ctx, "lm", "v1", lm); err != nil {
		b.Fatal(err)
	}
	if err := st.PutTextScores(ctx, "sentiment", "v1", senti); err != nil {
		b.Fatal(err)
	}
	legacy := plugins.TextScorerInfo{} // uses by the built-in rules
	text := append(textFeatureNames("lm", lm[0].Features, textscore.UsesOf("lm", legacy)), textFeatureNames("sentiment", senti[0].Features, textscore.UsesOf("sentiment", legacy))...)
	fs := newFeatureSet(map[string]store.User{"u": {Features: map[string]float64{"x": 1, "y": 2}}}, byID, text, false, false)
	m := &servingModel{id: uuid.New(), meta: ModelMeta{Features: fs, Text: TextReport{Versions: map[string]string{"lm": "v1", "sentiment": "v1"}}}, plan: fs.plan(nil)}
	r := NewRanker(st, nil, slog.New(slog.DiscardHandler))
	snap, err := st.ReadSnapshot(ctx, store.SnapshotRequest{User: "u", Candidates: ids, History: historyRead, TextPlugins: m.plan.text})
	if err != nil {
		b.Fatal(err)
	}
	if snap.CatalogToken == "" || len(snap.Candidates) != n {
		b.Fatalf("snapshot: token %q, %d candidates", snap.CatalogToken, len(snap.Candidates))
	}
	for _, c := range []struct{ name, token string }{{"computed", ""}, {"cached", snap.CatalogToken}} {
		s := snap
		s.CatalogToken = c.token
		b.Run(fmt.Sprintf("candidates=%d/features=%d/%s", n, len(fs), c.name), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				x, warn, _ := r.rows(ctx, m, Request{User: "u"}, s, s.Candidates, s.Counts, nil)
				if len(warn) > 0 {
					b.Fatal(warn)
				}
				rowPool.Put(&x)
			}
		})
	}
}
