package recommend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/plugins"
)

// rowEcho is an estimator whose effect of a row is the value of one of its
// columns, so a test can read back the features the ranker built.
type rowEcho struct{ col int }

func (rowEcho) Info(context.Context, plugins.InfoRequest) (plugins.EstimatorInfo, error) {
	return plugins.EstimatorInfo{Name: "echo", Version: "1"}, nil
}

func (rowEcho) Fit(context.Context, plugins.FitRequest) (plugins.FitResponse, error) {
	return plugins.FitResponse{}, errors.New("not used")
}

func (e rowEcho) Predict(_ context.Context, req plugins.PredictRequest) (plugins.PredictResponse, error) {
	n := len(req.X) / req.NFeatures
	out := plugins.PredictResponse{Arms: []string{"recommended"}, Effects: make([]float64, n)}
	for i := range n {
		out.Effects[i] = req.X[i*req.NFeatures+e.col]
	}
	return out, nil
}

// downText serves rowEcho and has every text scorer down.
type downText struct{ est rowEcho }

func (d downText) Estimator(string) (plugins.Estimator, error) { return d.est, nil }
func (downText) TextScorer(name string) (plugins.TextScorer, error) {
	return nil, errors.New("plugin " + name + " is not running")
}

// serveEchoModel stores an uplift model of the "echo" plugin over the
// features fs, trained with sentiment scorer version v1, and makes it the
// serving model.
func serveEchoModel(t *testing.T, st *store.Store, fs featureSet) {
	t.Helper()
	ctx := context.Background()
	feats, _ := json.Marshal([]string(fs))
	text, _ := json.Marshal(TextReport{Used: []string{"sentiment"}, Versions: map[string]string{"sentiment": "v1"}})
	id, err := st.SaveModel(ctx, store.ModelRecord{Name: ModelName, Estimator: "t", Plugin: "echo", CreatedAt: time.Now(),
		Metadata: map[string]string{"features": string(feats), "text": string(text), "ranker": RankUplift}, Bytes: []byte("m")})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetServing(ctx, ModelName, id); err != nil {
		t.Fatal(err)
	}
}

// TestServingWithTextScorerDown checks that a text scorer that is down at
// serving time leaves the service up: cached scores are used, the other
// items get 0 and the missing indicator, and the response warns.
func TestServingWithTextScorerDown(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	items := []store.Item{{ID: "a", Text: "a lovely lamp"}, {ID: "b", Text: "a dreadful chair"}, {ID: "c"}}
	if _, err := st.PutItems(ctx, items); err != nil {
		t.Fatal(err)
	}
	// Only a's sentiment is cached, under the version the model was
	// trained with.
	if err := st.PutTextScores(ctx, "sentiment", "v1", []store.TextScore{{ItemID: "a", TextHash: store.TextHash(items[0].Text), Features: map[string]float64{"sentiment": 0.8}}}); err != nil {
		t.Fatal(err)
	}
	fs := featureSet{featItemExposures, "text:sentiment:sentiment", featTextMissing}
	serveEchoModel(t, st, fs)
	for _, tc := range []struct {
		name string
		col  int
		want map[string]float64
	}{
		{"sentiment", 1, map[string]float64{"a": 0.8, "b": 0, "c": 0}},
		{"missing", 2, map[string]float64{"a": 0, "b": 1, "c": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRanker(st, downText{rowEcho{tc.col}}, slog.New(slog.DiscardHandler))
			// Twice: the first request learns the model's text scorers,
			// the second reads their cache with the snapshot.
			for range 2 {
				resp, err := r.Recommend(ctx, Request{User: "u", Candidates: []string{"a", "b", "c"}, K: 3, KeepCandidates: true})
				if err != nil {
					t.Fatal(err)
				}
				// The kept candidates carry the scores they were ranked by.
				if len(resp.Considered) != 3 || len(resp.ConsideredScores) != 3 {
					t.Fatalf("considered %v, scores %v", resp.Considered, resp.ConsideredScores)
				}
				for _, it := range resp.Items {
					if i := slices.Index(resp.Considered, it.Item); resp.ConsideredScores[i] != it.Score {
						t.Errorf("%s: considered score %v, ranked by %v", it.Item, resp.ConsideredScores[i], it.Score)
					}
				}
				if resp.Ranker != "uplift:t" || resp.FallbackReason != "" || len(resp.Warnings) != 1 ||
					!strings.Contains(resp.Warnings[0], "text scorer sentiment unavailable: 1 of 3 items") {
					t.Fatalf("response %+v", resp)
				}
				for _, it := range resp.Items {
					if *it.Uplift != tc.want[it.Item] {
						t.Errorf("%s of %s = %v, want %v", tc.name, it.Item, *it.Uplift, tc.want[it.Item])
					}
				}
			}
		})
	}
}

// TestBuildTableTextScorerDown checks the training-time rule: a text
// scorer that cannot score is skipped and reported in auto mode and fails
// the training in on mode.
func TestBuildTableTextScorerDown(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	if _, err := st.PutItems(ctx, []store.Item{{ID: "a", Text: "a lovely lamp"}, {ID: "b"}}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := st.AddEvents(ctx, []store.Event{
		{Kind: store.Exposure, User: "u1", Item: "a", Time: t0},
		{Kind: store.Exposure, User: "u1", Item: "b", Time: t0, Arm: ControlArm},
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode    string
		wantErr bool
	}{{TextAuto, false}, {TextOn, true}, {TextOff, false}} {
		t.Run(tc.mode, func(t *testing.T) {
			tab, err := BuildTable(ctx, st, TableOptions{Text: TextOptions{Mode: tc.mode, Relevance: true, Source: downText{}}}, slog.New(slog.DiscardHandler))
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "not running") {
					t.Fatalf("err = %v, want the scorer's failure", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range tab.Features {
				if strings.HasPrefix(f, textPrefix) {
					t.Fatalf("text feature %s in %v", f, tab.Features)
				}
			}
			skipped := tc.mode == TextAuto
			if (tab.Text.Skipped["lm"] != "") != skipped || (tab.Text.Skipped["relevance"] != "") != skipped || len(tab.Text.Used) != 0 {
				t.Fatalf("text report %+v", tab.Text)
			}
		})
	}
}

// TestItemRowCacheFollowsCatalog checks that the item columns served from
// the ranker's cache change as soon as an item or its cached text score is
// written again.
func TestItemRowCacheFollowsCatalog(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	items := []store.Item{{ID: "a", Text: "a lovely lamp", Features: map[string]float64{"price": 3}}, {ID: "b", Features: map[string]float64{"price": 5}}}
	if _, err := st.PutItems(ctx, items); err != nil {
		t.Fatal(err)
	}
	putSentiment := func(v float64) {
		t.Helper()
		if err := st.PutTextScores(ctx, "sentiment", "v1", []store.TextScore{{ItemID: "a", TextHash: store.TextHash(items[0].Text), Features: map[string]float64{"sentiment": v}}}); err != nil {
			t.Fatal(err)
		}
	}
	putSentiment(0.8)
	fs := featureSet{"i:price", featItemExposures, "text:sentiment:sentiment", featTextMissing}
	serveEchoModel(t, st, fs)
	served := func(r *Ranker) map[string]float64 {
		t.Helper()
		resp, err := r.Recommend(ctx, Request{User: "u", Candidates: []string{"a", "b"}, K: 2})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, it := range resp.Items {
			out[it.Item] = *it.Uplift
		}
		return out
	}
	price := NewRanker(st, downText{rowEcho{0}}, slog.New(slog.DiscardHandler))
	senti := NewRanker(st, downText{rowEcho{2}}, slog.New(slog.DiscardHandler))
	steps := []struct {
		name         string
		change       func()
		price, senti map[string]float64
	}{
		{"first", func() {}, map[string]float64{"a": 3, "b": 5}, map[string]float64{"a": 0.8, "b": 0}},
		{"cached", func() {}, map[string]float64{"a": 3, "b": 5}, map[string]float64{"a": 0.8, "b": 0}},
		{"text score rewritten", func() { putSentiment(0.3) }, map[string]float64{"a": 3, "b": 5}, map[string]float64{"a": 0.3, "b": 0}},
		{"item rewritten", func() {
			if _, err := st.PutItems(ctx, []store.Item{{ID: "b", Features: map[string]float64{"price": 7}}}); err != nil {
				t.Fatal(err)
			}
		}, map[string]float64{"a": 3, "b": 7}, map[string]float64{"a": 0.3, "b": 0}},
	}
	for _, s := range steps {
		s.change()
		// Twice: once filling the cache, once reading it.
		for range 2 {
			if got := served(price); !maps.Equal(got, s.price) {
				t.Errorf("%s: price served %v, want %v", s.name, got, s.price)
			}
			if got := served(senti); !maps.Equal(got, s.senti) {
				t.Errorf("%s: sentiment served %v, want %v", s.name, got, s.senti)
			}
		}
	}
	if c := price.itemRows[price.cached.id]; len(price.itemRows) != 1 || c == nil || len(c.rows) != 2 {
		t.Errorf("the ranker caches no item rows: %+v", price.itemRows)
	}
}

// contextCounter is an lm scorer whose relevance of an item is the number
// of context texts it was given.
type contextCounter struct{}

func (contextCounter) Info(context.Context, plugins.InfoRequest) (plugins.TextScorerInfo, error) {
	return plugins.TextScorerInfo{Name: "lm", Version: "1", Features: []string{"lm_logprob"}}, nil
}

func (contextCounter) Score(_ context.Context, req plugins.ScoreRequest) (plugins.ScoreResponse, error) {
	out := plugins.ScoreResponse{Scores: make([]plugins.TextScore, len(req.Items))}
	for i, it := range req.Items {
		out.Scores[i] = plugins.TextScore{ID: it.ID, Features: map[string]float64{"lm_logprob": -1, "relevance": float64(len(req.Context))}}
	}
	return out, nil
}

type counterSource struct{}

func (counterSource) TextScorer(name string) (plugins.TextScorer, error) {
	if name != "lm" {
		return nil, errors.New("no " + name)
	}
	return contextCounter{}, nil
}

// TestTableRelevanceUsesEarlierEngagement checks that the relevance
// feature of a training row compares the item with the items its user
// engaged with before the row starts, as serving does at request time,
// never with later ones.
func TestTableRelevanceUsesEarlierEngagement(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	if _, err := st.PutItems(ctx, []store.Item{{ID: "a", Text: "a lovely lamp"}, {ID: "b", Text: "a dreadful chair"}, {ID: "c", Text: "a plain table"}}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	if _, err := st.AddEvents(ctx, []store.Event{
		{Kind: store.Exposure, User: "u", Item: "a", Time: at(1)},
		{Kind: store.Outcome, User: "u", Item: "a", Time: at(2)},
		{Kind: store.Exposure, User: "u", Item: "b", Time: at(3)},
		{Kind: store.Outcome, User: "u", Item: "b", Time: at(4)},
		{Kind: store.Exposure, User: "u", Item: "c", Time: at(5), Arm: ControlArm},
	}); err != nil {
		t.Fatal(err)
	}
	tab, err := BuildTable(ctx, st, TableOptions{Text: TextOptions{Mode: TextOn, Scorers: []string{"lm"}, Relevance: true, Source: counterSource{}}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	col := slices.Index(tab.Features, featRelevance)
	if col < 0 || !tab.Text.Relevance {
		t.Fatalf("no relevance feature: %v, %+v", tab.Features, tab.Text)
	}
	d := len(tab.Features)
	// Rows in (user, item) order: a has no engagement before it, b has
	// a's, c has a's and b's.
	want := []float64{0, 1, 2}
	if n := len(tab.Request.WithX().X) / d; n != len(want) {
		t.Fatalf("%d rows, want %d", n, len(want))
	}
	for i, w := range want {
		if got := tab.Request.WithX().X[i*d+col]; got != w {
			t.Errorf("row %d relevance %v, want %v", i, got, w)
		}
	}
}

// TestRecommendConcurrentWithWrites serves requests from several
// goroutines while the catalog is rewritten, so that the race detector
// (go test -race) sees the item-row and catalog caches shared; every answer
// must hold one of the values written.
func TestRecommendConcurrentWithWrites(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	items := []store.Item{{ID: "a", Text: "a lovely lamp"}, {ID: "b", Text: "a dreadful chair"}}
	if _, err := st.PutItems(ctx, items); err != nil {
		t.Fatal(err)
	}
	put := func(v float64) error {
		var scores []store.TextScore
		for _, it := range items {
			scores = append(scores, store.TextScore{ItemID: it.ID, TextHash: store.TextHash(it.Text), Features: map[string]float64{"sentiment": v}})
		}
		return st.PutTextScores(ctx, "sentiment", "v1", scores)
	}
	if err := put(0.25); err != nil {
		t.Fatal(err)
	}
	serveEchoModel(t, st, featureSet{featItemExposures, "text:sentiment:sentiment", featTextMissing})
	r := NewRanker(st, downText{rowEcho{1}}, slog.New(slog.DiscardHandler))
	done := make(chan struct{})
	writerErr := make(chan error, 1)
	go func() {
		var err error
		for i := 0; err == nil; i++ {
			select {
			case <-done:
				writerErr <- nil
				return
			default:
			}
			err = put([]float64{0.25, 0.75}[i%2])
		}
		writerErr <- err
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 40 {
				resp, err := r.Recommend(ctx, Request{User: "u", Candidates: []string{"a", "b"}, K: 2})
				if err != nil {
					errs <- err
					return
				}
				for _, it := range resp.Items {
					if u := *it.Uplift; u != 0.25 && u != 0.75 {
						errs <- fmt.Errorf("item %s served sentiment %v, never written", it.Item, u)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	if err := <-writerErr; err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
