package textscore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/host/redistest"
	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/lm"
	"github.com/causalrec/causalrec/plugins"
	"github.com/causalrec/causalrec/plugins/builtin/lmscore"
	"github.com/causalrec/causalrec/plugins/builtin/sentiscore"
)

// The test binary doubles as the plugin programs (real processes over
// gRPC): with serveEnv set to "lm" or "sentiment" it serves that built-in
// plugin, exactly as plugins/cmd/causalrec-lm and causalrec-sentiment do.
const serveEnv = "CAUSALREC_TEXTSCORE_TEST_SERVE"

const release = "0.1.0"

func TestMain(m *testing.M) {
	switch os.Getenv(serveEnv) {
	case "":
		os.Exit(m.Run())
	case lmscore.Name:
		plugins.Serve(plugins.Set{TextScorer: lmscore.FromEnv(release, nil, os.Getenv)})
	case sentiscore.Name:
		plugins.Serve(plugins.Set{TextScorer: sentiscore.New(release, 0)})
	default:
		fmt.Fprintf(os.Stderr, "unknown plugin %q\n", os.Getenv(serveEnv))
		os.Exit(2)
	}
}

// startPlugins runs the given plugins as real processes through the host's
// plugin manager and returns it. env is added to every plugin's
// environment.
func startPlugins(tb testing.TB, env []string, names ...string) *pluginhost.Manager {
	tb.Helper()
	specs := make([]pluginhost.Spec, len(names))
	for i, n := range names {
		specs[i] = pluginhost.Spec{Name: n, Kind: plugins.KindTextScorer, Path: os.Args[0],
			Env: append([]string{serveEnv + "=" + n}, env...), Builtin: true}
	}
	m, err := pluginhost.New(specs, pluginhost.Options{StartTimeout: 30 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.Close)
	if err := m.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return m
}

func textScorer(tb testing.TB, m *pluginhost.Manager, name string) plugins.TextScorer {
	tb.Helper()
	ts, err := m.TextScorer(name)
	if err != nil {
		tb.Fatal(err)
	}
	return ts
}

// newTestStore returns a Store on the real Redis at REDIS_URL under a
// prefix of its own, whose keys are deleted when the test ends.
func newTestStore(tb testing.TB) *store.Store {
	tb.Helper()
	st, err := store.New(redistest.Client(tb), store.Options{Prefix: redistest.Prefix(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// counting wraps a TextScorer, counts Score calls and the items sent, and
// can report another version.
type counting struct {
	plugins.TextScorer

	mu      sync.Mutex
	calls   int
	items   int
	version string // when set, Info reports it
}

func (c *counting) Info(ctx context.Context, req plugins.InfoRequest) (plugins.TextScorerInfo, error) {
	info, err := c.TextScorer.Info(ctx, req)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version != "" {
		info.Version = c.version
	}
	return info, err
}

func (c *counting) Score(ctx context.Context, req plugins.ScoreRequest) (plugins.ScoreResponse, error) {
	c.mu.Lock()
	c.calls++
	c.items += len(req.Items)
	c.mu.Unlock()
	return c.TextScorer.Score(ctx, req)
}

func (c *counting) counts() (calls, items int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls, c.items
}

func byID(r Result) map[string]ItemScore {
	out := make(map[string]ItemScore, len(r.Scores))
	for _, s := range r.Scores {
		out[s.ID] = s
	}
	return out
}

var (
	historyTexts = []string{
		"The detective examined the footprints in the garden with his lens.",
		"A detective story about footprints, a lens and a locked garden door.",
	}
	lmItems = []store.Item{
		{ID: "similar", Text: "The detective found footprints in the garden."},
		{ID: "unrelated", Text: "Quarterly revenue grew in the semiconductor market."},
		{ID: "empty", Text: ""},
		{ID: "blank", Text: " \t\n "},
		{ID: "bad-utf8", Text: "caf\xe9 au lait"},
		{ID: "too-long", Text: strings.Repeat("word ", lmscore.DefaultMaxTextBytes/5+1)},
	}
)

func TestLMPluginScores(t *testing.T) {
	ctx := context.Background()
	m := startPlugins(t, nil, lmscore.Name)
	ts := textScorer(t, m, lmscore.Name)
	st := newTestStore(t)

	info, err := ts.Info(ctx, plugins.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != lmscore.Name || !strings.HasPrefix(info.Version, release+"+lm.") || info.MaxTextBytes != lmscore.DefaultMaxTextBytes ||
		strings.Join(info.Features, ",") != "lm_logprob,perplexity,relevance" {
		t.Fatalf("info = %+v", info)
	}

	res, err := Score(ctx, st, lmscore.Name, ts, lmItems, historyTexts, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != info.Version || len(res.Scores) != len(lmItems) {
		t.Fatalf("result version %q, %d scores", res.Version, len(res.Scores))
	}
	got := byID(res)
	for _, id := range []string{"similar", "unrelated"} {
		s := got[id]
		if s.Err != "" {
			t.Fatalf("%s: unexpected error %q", id, s.Err)
		}
		ppl, lp := s.Features[lmscore.FeaturePerplexity], s.Features[lmscore.FeatureLogProb]
		if !(ppl > 1) || math.IsInf(ppl, 0) || !(lp < 0) {
			t.Errorf("%s: perplexity %v, log10 prob %v; want finite perplexity > 1 and negative log prob", id, ppl, lp)
		}
	}
	relSim, relUnrel := got["similar"].Features[lmscore.FeatureRelevance], got["unrelated"].Features[lmscore.FeatureRelevance]
	if !(relSim > relUnrel) || !(relSim > 0) {
		t.Errorf("relevance of the similar text %v, of the unrelated one %v; want the similar one higher and positive", relSim, relUnrel)
	}
	// A fluent English sentence is more probable per token than word salad.
	if got["similar"].Features[lmscore.FeaturePerplexity] >= got["unrelated"].Features[lmscore.FeaturePerplexity] {
		t.Errorf("perplexity of the in-domain text %v not below that of the out-of-domain one %v",
			got["similar"].Features[lmscore.FeaturePerplexity], got["unrelated"].Features[lmscore.FeaturePerplexity])
	}
	for id, want := range map[string]string{"empty": "empty text", "blank": "no tokens", "bad-utf8": "UTF-8", "too-long": "over the limit"} {
		if s := got[id]; !strings.Contains(s.Err, want) || s.Features != nil {
			t.Errorf("%s: err %q, features %v; want an error containing %q", id, s.Err, s.Features, want)
		}
	}
	// With context the lm plugin's results are not cached.
	if res.Scored != len(lmItems) || res.Hits != 0 || res.Stored != 0 {
		t.Errorf("with context: scored %d, hits %d, stored %d; want %d, 0, 0", res.Scored, res.Hits, res.Stored, len(lmItems))
	}
	hits, _, err := st.TextScores(ctx, lmscore.Name, info.Version, lmItems)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 0 {
		t.Errorf("context-dependent scores were cached: %v", hits)
	}
}

func TestSentimentPluginScores(t *testing.T) {
	ctx := context.Background()
	m := startPlugins(t, nil, sentiscore.Name)
	ts := textScorer(t, m, sentiscore.Name)
	st := newTestStore(t)
	items := []store.Item{
		{ID: "pos", Text: "I love this phone, the battery is great and the screen is beautiful!"},
		{ID: "neg", Text: "Terrible quality. It broke after a day and support was useless."},
		{ID: "empty"},
		{ID: "bad", Text: "\xff\xfe"},
	}
	res, err := Score(ctx, st, sentiscore.Name, ts, items, []string{"any context is ignored"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := byID(res)
	if c := got["pos"].Features[sentiscore.FeatureCompound]; !(c > 0.5) {
		t.Errorf("compound of a clearly positive text = %v, want > 0.5", c)
	}
	if c := got["neg"].Features[sentiscore.FeatureCompound]; !(c < -0.5) {
		t.Errorf("compound of a clearly negative text = %v, want < -0.5", c)
	}
	for _, id := range []string{"pos", "neg"} {
		f := got[id].Features
		if sum := f[sentiscore.FeaturePos] + f[sentiscore.FeatureNeg] + f[sentiscore.FeatureNeu]; math.Abs(sum-1) > 1e-9 {
			t.Errorf("%s: shares sum to %v, want 1", id, sum)
		}
	}
	if got["pos"].Features[sentiscore.FeaturePos] <= got["pos"].Features[sentiscore.FeatureNeg] {
		t.Errorf("positive text: pos share %v not above neg share %v", got["pos"].Features[sentiscore.FeaturePos], got["pos"].Features[sentiscore.FeatureNeg])
	}
	if !strings.Contains(got["empty"].Err, "empty") || !strings.Contains(got["bad"].Err, "UTF-8") {
		t.Errorf("per-item errors: empty %q, bad %q", got["empty"].Err, got["bad"].Err)
	}
	// The sentiment plugin ignores context, so its results are cached even
	// for a request with context.
	if res.Stored != 2 {
		t.Errorf("stored %d entries, want 2 (the items without errors)", res.Stored)
	}
}

// TestCache follows the life of cache entries: a hit on the second call
// without any plugin call, recomputation after a text change and after a
// version change, and per-item errors that are never cached.
func TestCache(t *testing.T) {
	ctx := context.Background()
	m := startPlugins(t, nil, sentiscore.Name)
	st := newTestStore(t)
	ts := &counting{TextScorer: textScorer(t, m, sentiscore.Name)}
	items := []store.Item{
		{ID: "a", Text: "What a wonderful, delightful day."},
		{ID: "b", Text: "This is awful and sad."},
		{ID: "c", Text: "The box is blue."},
	}

	first, err := Score(ctx, st, sentiscore.Name, ts, items, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if first.Hits != 0 || first.Scored != 3 || first.Stored != 3 {
		t.Fatalf("first call: hits %d, scored %d, stored %d; want 0, 3, 3", first.Hits, first.Scored, first.Stored)
	}
	if calls, _ := ts.counts(); calls != 1 {
		t.Fatalf("first call: %d plugin calls, want 1", calls)
	}

	second, err := Score(ctx, st, sentiscore.Name, ts, items, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if calls, _ := ts.counts(); calls != 1 {
		t.Errorf("second call reached the plugin (%d calls in all, want 1)", calls)
	}
	if second.Hits != 3 || second.Scored != 0 {
		t.Errorf("second call: hits %d, scored %d; want 3, 0", second.Hits, second.Scored)
	}
	for i, s := range second.Scores {
		if !s.Cached || s.ID != items[i].ID {
			t.Errorf("second call, item %d: %+v, want the cached score of %s", i, s, items[i].ID)
		}
		for k, v := range first.Scores[i].Features {
			if math.Abs(s.Features[k]-v) > 1e-12 {
				t.Errorf("item %s feature %s: cached %v, computed %v", s.ID, k, s.Features[k], v)
			}
		}
	}

	// A changed text is scored again; the others stay hits.
	changed := append([]store.Item(nil), items...)
	changed[2].Text = "The box is blue and I hate it."
	third, err := Score(ctx, st, sentiscore.Name, ts, changed, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if calls, sent := ts.counts(); calls != 2 || sent != 4 {
		t.Errorf("after a text change: %d calls, %d items sent; want 2 calls, 4 items", calls, sent)
	}
	if third.Hits != 2 || third.Scored != 1 || third.Scores[2].Cached {
		t.Errorf("after a text change: hits %d, scored %d, item c cached %v; want 2, 1, false", third.Hits, third.Scored, third.Scores[2].Cached)
	}
	if before, after := second.Scores[2].Features[sentiscore.FeatureCompound], third.Scores[2].Features[sentiscore.FeatureCompound]; !(after < before) {
		t.Errorf("compound of the edited text %v, want below the old %v", after, before)
	}

	// A new plugin version invalidates every entry.
	ts.mu.Lock()
	ts.version = "2.0.0+vader"
	ts.mu.Unlock()
	fourth, err := Score(ctx, st, sentiscore.Name, ts, changed, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if fourth.Version != "2.0.0+vader" || fourth.Hits != 0 || fourth.Scored != 3 || fourth.Stored != 3 {
		t.Errorf("after a version change: version %q, hits %d, scored %d, stored %d; want 2.0.0+vader, 0, 3, 3",
			fourth.Version, fourth.Hits, fourth.Scored, fourth.Stored)
	}
	fifth, err := Score(ctx, st, sentiscore.Name, ts, changed, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if fifth.Hits != 3 {
		t.Errorf("second call at the new version: hits %d, want 3", fifth.Hits)
	}

	// Per-item errors are returned but not cached: the plugin sees the
	// item every time.
	bad := []store.Item{{ID: "bad", Text: ""}, changed[0]}
	for round := range 2 {
		_, before := ts.counts()
		res, err := Score(ctx, st, sentiscore.Name, ts, bad, nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, after := ts.counts()
		if res.Scores[0].Err == "" || res.Scores[0].Cached || res.Stored != 0 || after-before != 1 || !res.Scores[1].Cached {
			t.Errorf("round %d: %+v, %d items sent; want an uncached error for bad (sent again) and a hit for a", round, res, after-before)
		}
	}
}

// TestModelChangeInvalidates runs the lm plugin twice, with the default
// model and with a model file, and checks that the version (and so the
// cache) follows the model.
func TestModelChangeInvalidates(t *testing.T) {
	ctx := context.Background()
	st := newTestStore(t)
	items := lmItems[:2]

	def := textScorer(t, startPlugins(t, nil, lmscore.Name), lmscore.Name)
	first, err := Score(ctx, st, lmscore.Name, def, items, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if first.Stored != 2 {
		t.Fatalf("no context: stored %d, want 2", first.Stored)
	}
	for _, s := range first.Scores {
		if _, ok := s.Features[lmscore.FeatureRelevance]; !ok || s.Features[lmscore.FeatureRelevance] != 0 {
			t.Errorf("%s: relevance without context = %v, want 0", s.ID, s.Features)
		}
	}
	again, err := Score(ctx, st, lmscore.Name, def, items, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Hits != 2 {
		t.Fatalf("same model: hits %d, want 2", again.Hits)
	}

	path := filepath.Join(t.TempDir(), "tiny.arpa")
	writeTinyModel(t, path)
	other := textScorer(t, startPlugins(t, []string{lmscore.EnvModel + "=" + path}, lmscore.Name), lmscore.Name)
	res, err := Score(ctx, st, lmscore.Name, other, items, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version == first.Version || res.Hits != 0 || res.Scored != 2 {
		t.Errorf("new model: version %q (old %q), hits %d, scored %d; want a new version, 0 hits, 2 scored", res.Version, first.Version, res.Hits, res.Scored)
	}
	if res.Scores[0].Features[lmscore.FeatureLogProb] == first.Scores[0].Features[lmscore.FeatureLogProb] {
		t.Errorf("new model gave the same log prob %v", res.Scores[0].Features[lmscore.FeatureLogProb])
	}
}

func TestBadModelFileIsReported(t *testing.T) {
	specs := []pluginhost.Spec{{Name: lmscore.Name, Kind: plugins.KindTextScorer, Path: os.Args[0], Builtin: true,
		Env: []string{serveEnv + "=" + lmscore.Name, lmscore.EnvModel + "=/nonexistent/model.arpa"}}}
	m, err := pluginhost.New(specs, pluginhost.Options{StartTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	err = m.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/model.arpa") {
		t.Fatalf("start with a missing model: %v; want an error naming the file", err)
	}
}

func writeTinyModel(t *testing.T, path string) {
	t.Helper()
	c := lm.NewCorpus()
	for _, s := range []string{
		"the detective found the footprints",
		"the detective read the letter",
		"revenue grew in the market",
		"the market grew",
	} {
		if err := c.Add(lm.Tokenize(s)); err != nil {
			t.Fatal(err)
		}
	}
	a, err := lm.Estimate(c, lm.EstimateOptions{Order: 2, DiscountFallback: &lm.DefaultFallback})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := lm.WriteARPA(f, a); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// fake is an in-process TextScorer for the cases a real plugin cannot
// produce on demand.
type fake struct {
	versions []string // Info answers these in turn (the last one repeats)
	infos    int
	score    func(plugins.ScoreRequest) (plugins.ScoreResponse, error)
}

func (f *fake) Info(context.Context, plugins.InfoRequest) (plugins.TextScorerInfo, error) {
	v := f.versions[min(f.infos, len(f.versions)-1)]
	f.infos++
	return plugins.TextScorerInfo{Name: "fake", Version: v, Features: []string{"x"}}, nil
}

func (f *fake) Score(_ context.Context, req plugins.ScoreRequest) (plugins.ScoreResponse, error) {
	return f.score(req)
}

func echo(v float64) func(plugins.ScoreRequest) (plugins.ScoreResponse, error) {
	return func(req plugins.ScoreRequest) (plugins.ScoreResponse, error) {
		out := plugins.ScoreResponse{Scores: make([]plugins.TextScore, len(req.Items))}
		for i, it := range req.Items {
			out.Scores[i] = plugins.TextScore{ID: it.ID, Features: map[string]float64{"x": v}}
		}
		return out, nil
	}
}

func TestEdgeCases(t *testing.T) {
	ctx := context.Background()
	st := newTestStore(t)
	items := []store.Item{{ID: "a", Text: "one"}, {ID: "b", Text: "two"}}

	t.Run("version changes during the call", func(t *testing.T) {
		f := &fake{versions: []string{"1", "2"}, score: echo(1)}
		res, err := Score(ctx, st, "race", f, items, nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Stored != 0 || res.Scored != 2 {
			t.Errorf("stored %d, scored %d; want 0, 2 (scores of an unknown version)", res.Stored, res.Scored)
		}
	})
	t.Run("non-finite features are returned, not cached", func(t *testing.T) {
		f := &fake{versions: []string{"1"}, score: echo(math.Inf(1))}
		res, err := Score(ctx, st, "inf", f, items, nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Stored != 0 || !math.IsInf(res.Scores[0].Features["x"], 1) {
			t.Errorf("stored %d, scores %+v", res.Stored, res.Scores)
		}
	})
	t.Run("plugin failure", func(t *testing.T) {
		f := &fake{versions: []string{"1"}, score: func(plugins.ScoreRequest) (plugins.ScoreResponse, error) {
			return plugins.ScoreResponse{}, plugins.ErrUnavailable
		}}
		_, err := Score(ctx, st, "down", f, items, nil, Options{})
		if !errors.Is(err, plugins.ErrUnavailable) || !strings.Contains(err.Error(), `"down"`) {
			t.Errorf("err = %v, want one wrapping ErrUnavailable and naming the plugin", err)
		}
	})
	t.Run("short reply", func(t *testing.T) {
		f := &fake{versions: []string{"1"}, score: func(plugins.ScoreRequest) (plugins.ScoreResponse, error) {
			return plugins.ScoreResponse{Scores: make([]plugins.TextScore, 1)}, nil
		}}
		_, err := Score(ctx, st, "short", f, items, nil, Options{})
		if !errors.Is(err, plugins.ErrPlugin) {
			t.Errorf("err = %v, want ErrPlugin", err)
		}
	})
	t.Run("wrong id", func(t *testing.T) {
		f := &fake{versions: []string{"1"}, score: func(req plugins.ScoreRequest) (plugins.ScoreResponse, error) {
			r, _ := echo(1)(req)
			r.Scores[1].ID = "zzz"
			return r, nil
		}}
		res, err := Score(ctx, st, "wrongid", f, items, nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(res.Scores[1].Err, "zzz") || res.Stored != 1 {
			t.Errorf("scores %+v, stored %d; want an error for b and a stored a", res.Scores, res.Stored)
		}
	})
	t.Run("context used by an unknown plugin bypasses the cache", func(t *testing.T) {
		calls := 0
		f := &fake{versions: []string{"1"}, score: func(req plugins.ScoreRequest) (plugins.ScoreResponse, error) {
			calls++
			if len(req.Context) != 1 {
				t.Errorf("context %v not sent", req.Context)
			}
			return echo(float64(calls))(req)
		}}
		for range 2 {
			res, err := Score(ctx, st, "ctx", f, items, []string{"history"}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Hits != 0 || res.Stored != 0 {
				t.Errorf("hits %d, stored %d; want 0, 0", res.Hits, res.Stored)
			}
		}
		if calls != 2 {
			t.Errorf("%d plugin calls, want 2", calls)
		}
	})
	t.Run("context ignored by option", func(t *testing.T) {
		f := &fake{versions: []string{"1"}, score: func(req plugins.ScoreRequest) (plugins.ScoreResponse, error) {
			if len(req.Context) != 0 {
				t.Errorf("context %v sent to a plugin that ignores it", req.Context)
			}
			return echo(1)(req)
		}}
		res, err := Score(ctx, st, "ign", f, items, []string{"history"}, Options{Context: ContextIgnored})
		if err != nil {
			t.Fatal(err)
		}
		if res.Stored != 2 {
			t.Errorf("stored %d, want 2", res.Stored)
		}
	})
	t.Run("no items", func(t *testing.T) {
		f := &fake{versions: []string{"1"}, score: echo(1)}
		res, err := Score(ctx, st, "none", f, nil, nil, Options{})
		if err != nil || len(res.Scores) != 0 {
			t.Errorf("res %+v, err %v", res, err)
		}
	})
	t.Run("duplicate ids with different texts", func(t *testing.T) {
		f := &fake{versions: []string{"1"}, score: func(req plugins.ScoreRequest) (plugins.ScoreResponse, error) {
			out := plugins.ScoreResponse{Scores: make([]plugins.TextScore, len(req.Items))}
			for i, it := range req.Items {
				out.Scores[i] = plugins.TextScore{ID: it.ID, Features: map[string]float64{"x": float64(len(it.Text))}}
			}
			return out, nil
		}}
		dup := []store.Item{{ID: "d", Text: "short"}, {ID: "d", Text: "much longer"}}
		if _, err := Score(ctx, st, "dup", f, dup[:1], nil, Options{}); err != nil {
			t.Fatal(err)
		}
		res, err := Score(ctx, st, "dup", f, dup, nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Scores[0].Features["x"] != 5 || res.Scores[1].Features["x"] != 11 {
			t.Errorf("scores %+v; want each text's own score", res.Scores)
		}
	})
	t.Run("empty plugin name", func(t *testing.T) {
		if _, err := Score(ctx, st, "", &fake{versions: []string{"1"}}, items, nil, Options{}); err == nil {
			t.Error("no error for an empty plugin name")
		}
	})
}

func TestUsesOf(t *testing.T) {
	ctx := context.Background()
	lmInfo, err := lmscore.FromEnv("v", nil, func(string) string { return "" }).Info(ctx, plugins.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	sentiInfo, err := sentiscore.New("v", 0).Info(ctx, plugins.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// old drops the declarations: an Info of a plugin built before them.
	old := func(info plugins.TextScorerInfo) plugins.TextScorerInfo { info.FeatureUses = nil; return info }
	for _, tc := range []struct {
		name, plugin string
		info         plugins.TextScorerInfo
		context      ContextUse
		perItem, log []string // of the features "lm_logprob", "perplexity", "relevance", "sentiment", "novel"
	}{
		{"lm declared", lmscore.Name, lmInfo, ContextUsed, []string{"lm_logprob", "perplexity"}, []string{"perplexity"}},
		{"sentiment declared", sentiscore.Name, sentiInfo, ContextIgnored, []string{"sentiment"}, nil},
		{"sentiment declared, renamed", "tone", sentiInfo, ContextIgnored, []string{"sentiment"}, nil},
		{"lm undeclared", lmscore.Name, old(lmInfo), ContextUsed, []string{"lm_logprob", "perplexity", "sentiment", "novel"}, []string{"perplexity"}},
		{"sentiment undeclared", sentiscore.Name, old(sentiInfo), ContextIgnored, []string{"lm_logprob", "perplexity", "sentiment", "novel"}, []string{"perplexity"}},
		{"unknown undeclared", "tone", old(sentiInfo), ContextUsed, []string{"lm_logprob", "perplexity", "sentiment", "novel"}, []string{"perplexity"}},
	} {
		u := UsesOf(tc.plugin, tc.info)
		if got := u.Context(); got != tc.context {
			t.Errorf("%s: context %v, want %v", tc.name, got, tc.context)
		}
		for _, f := range []string{"lm_logprob", "perplexity", "relevance", "sentiment", "novel"} {
			if got, want := u.PerItem(f), slices.Contains(tc.perItem, f); got != want {
				t.Errorf("%s: PerItem(%s) = %v, want %v", tc.name, f, got, want)
			}
			if got, want := u.LogScale(f), slices.Contains(tc.log, f); got != want {
				t.Errorf("%s: LogScale(%s) = %v, want %v", tc.name, f, got, want)
			}
		}
	}
}

func TestBuiltinContextUse(t *testing.T) {
	for _, tc := range []struct {
		name string
		want ContextUse
	}{
		{sentiscore.Name, ContextIgnored},
		{lmscore.Name, ContextUsed},
		{"someone-elses-plugin", ContextUsed},
	} {
		if got := BuiltinContextUse(tc.name); got != tc.want {
			t.Errorf("BuiltinContextUse(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
	// The lm plugin's context-dependent features are what ContextUsed
	// protects.
	if len(lmscore.ContextFeatures) == 0 {
		t.Error("lmscore lists no context features but is treated as using context")
	}
}
