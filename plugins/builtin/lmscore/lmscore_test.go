package lmscore

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/causalrec/causalrec/lm"
	"github.com/causalrec/causalrec/plugins"
)

// defaultPlugin builds the default model once for all tests.
var defaultPlugin = sync.OnceValues(func() (*Plugin, error) { return Open("0.1.0", Options{}) })

func mustDefault(tb testing.TB) *Plugin {
	tb.Helper()
	p, err := defaultPlugin()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func score(tb testing.TB, p plugins.TextScorer, history []string, texts ...string) []plugins.TextScore {
	tb.Helper()
	req := plugins.ScoreRequest{Context: history}
	for i, t := range texts {
		req.Items = append(req.Items, plugins.TextItem{ID: fmt.Sprint(i), Text: t})
	}
	resp, err := p.Score(context.Background(), req)
	if err != nil {
		tb.Fatal(err)
	}
	if len(resp.Scores) != len(texts) {
		tb.Fatalf("%d scores for %d texts", len(resp.Scores), len(texts))
	}
	return resp.Scores
}

func TestInfo(t *testing.T) {
	p := mustDefault(t)
	info, err := p.Info(context.Background(), plugins.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != Name || info.MaxTextBytes != DefaultMaxTextBytes || !strings.HasPrefix(info.Version, "0.1.0+lm.") ||
		len(info.Version) != len("0.1.0+lm.")+12 || strings.Join(info.Features, ",") != "lm_logprob,perplexity,relevance" {
		t.Errorf("info = %+v", info)
	}
}

// TestFeaturesMatchScorer checks the features against package lm's Scorer
// and the formulas of the package documentation.
func TestFeaturesMatchScorer(t *testing.T) {
	def := mustDefault(t)
	// A plugin with an empty text cache: the first pass computes every
	// text, the second takes tokens and fluency from the cache while the
	// relevance follows the other history.
	p := &Plugin{scorer: def.scorer, version: def.version, maxBytes: def.maxBytes}
	texts := []string{
		"Holmes read the letter again.",
		"The stock market closed higher on strong earnings.",
		"I had seen little of Holmes lately.",
	}
	for _, history := range [][]string{
		{"Holmes examined the letter by the lamp.", "A letter arrived for Holmes at Baker Street."},
		{"Holmes read the letter again.", "The market fell."},
	} {
		checkFeatures(t, p, history, texts)
	}
	if n := len(p.texts.byID); n != len(texts)+3 {
		t.Errorf("%d texts cached, want the %d items and the 3 distinct history texts", n, len(texts))
	}
}

// checkFeatures checks the plugin's features of texts against the scorer's.
func checkFeatures(t *testing.T, p *Plugin, history, texts []string) {
	t.Helper()
	got := score(t, p, history, texts...)
	for i, text := range texts {
		want := p.scorer.Score(text, history...)
		f := got[i].Features
		if got[i].Err != "" || got[i].ID != fmt.Sprint(i) {
			t.Fatalf("text %d: %+v", i, got[i])
		}
		for name, w := range map[string]float64{FeatureLogProb: want.LogProb, FeaturePerplexity: want.Perplexity, FeatureRelevance: want.Relevance} {
			if math.Abs(f[name]-w) > 1e-12*math.Max(1, math.Abs(w)) {
				t.Errorf("text %d %s = %v, want %v", i, name, f[name], w)
			}
		}
		n := float64(len(lm.Tokenize(text)))
		if ppl := math.Pow(10, -f[FeatureLogProb]/(n+1)); math.Abs(ppl-f[FeaturePerplexity]) > 1e-9*ppl {
			t.Errorf("text %d: perplexity %v, want 10^(-lm_logprob/(N+1)) = %v", i, f[FeaturePerplexity], ppl)
		}
	}
	if !(got[0].Features[FeatureRelevance] > got[1].Features[FeatureRelevance]) || !(got[0].Features[FeatureRelevance] > 0) {
		t.Errorf("relevance of a text like the history %v, of an unrelated one %v", got[0].Features[FeatureRelevance], got[1].Features[FeatureRelevance])
	}
	// A sentence of the book is more fluent under its own model than news.
	if !(got[2].Features[FeaturePerplexity] < got[1].Features[FeaturePerplexity]) {
		t.Errorf("perplexity of an in-domain sentence %v not below an out-of-domain one %v", got[2].Features[FeaturePerplexity], got[1].Features[FeaturePerplexity])
	}
	// Without context relevance is 0.
	for i, s := range score(t, p, nil, texts...) {
		if s.Features[FeatureRelevance] != 0 {
			t.Errorf("text %d: relevance without context = %v", i, s.Features[FeatureRelevance])
		}
	}
}

func TestPerItemErrors(t *testing.T) {
	p, err := New(mustDefault(t).scorer.Model(), "digest", "1", Options{MaxTextBytes: 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		text, want string
	}{
		{"", "empty text"},
		{"  \n\t", "no tokens"},
		{"bad \xff byte", "not valid UTF-8"},
		{"twenty-one bytes long", "21 bytes, over the limit of 20"},
		{"fine", ""},
	} {
		got := score(t, p, nil, "a good text", tc.text, "another one")
		if got[0].Err != "" || got[2].Err != "" {
			t.Errorf("%q spoiled its neighbours: %+v", tc.text, got)
		}
		if tc.want == "" {
			if got[1].Err != "" || len(got[1].Features) != 3 {
				t.Errorf("%q: %+v, want features", tc.text, got[1])
			}
			continue
		}
		if !strings.Contains(got[1].Err, tc.want) || got[1].Features != nil || got[1].ID != "1" {
			t.Errorf("%q: %+v, want an error containing %q", tc.text, got[1], tc.want)
		}
	}
}

func TestParallelMatchesSerial(t *testing.T) {
	p := mustDefault(t)
	texts := make([]string, 1000)
	for i := range texts {
		texts[i] = fmt.Sprintf("Holmes counted %d footprints near the %s.", i, []string{"door", "gate", "window"}[i%3])
	}
	texts[17] = ""
	history := []string{"footprints by the window"}
	batch := score(t, p, history, texts...)
	for i, text := range texts {
		one := score(t, p, history, text)[0]
		if one.Err != batch[i].Err || len(one.Features) != len(batch[i].Features) {
			t.Fatalf("text %d: batch %+v, alone %+v", i, batch[i], one)
		}
		for k, v := range one.Features {
			if batch[i].Features[k] != v {
				t.Fatalf("text %d %s: batch %v, alone %v", i, k, batch[i].Features[k], v)
			}
		}
	}
}

func TestCancelled(t *testing.T) {
	p := mustDefault(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, n := range []int{1, 1000} {
		req := plugins.ScoreRequest{Items: make([]plugins.TextItem, n)}
		if _, err := p.Score(ctx, req); err == nil {
			t.Errorf("%d items: no error for a cancelled context", n)
		}
	}
}

func writeModel(t *testing.T, path string, binary bool) {
	t.Helper()
	c := lm.NewCorpus()
	for _, s := range []string{"the cat sat", "the dog sat", "a cat ran", "the cat ran away"} {
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
	defer f.Close()
	if binary {
		m, err := lm.NewModel(a)
		if err != nil {
			t.Fatal(err)
		}
		err = m.WriteBinary(f)
		if err != nil {
			t.Fatal(err)
		}
	} else if err := lm.WriteARPA(f, a); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestVersion checks that the version follows the model and μ and nothing
// else.
func TestVersion(t *testing.T) {
	dir := t.TempDir()
	arpa, bin, bad := filepath.Join(dir, "m.arpa"), filepath.Join(dir, "m.bin"), filepath.Join(dir, "bad.arpa")
	writeModel(t, arpa, false)
	writeModel(t, bin, true)
	if err := os.WriteFile(bad, []byte("\\data\\\nngram 1=x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	version := func(release string, o Options) string {
		t.Helper()
		p, err := Open(release, o)
		if err != nil {
			t.Fatal(err)
		}
		return p.Version()
	}
	def := mustDefault(t).Version()
	fromARPA := version("0.1.0", Options{ModelPath: arpa})
	fromBin := version("0.1.0", Options{ModelPath: bin})
	for _, tc := range []struct {
		name  string
		v     string
		equal bool
	}{
		{"default model again", version("0.1.0", Options{}), true},
		{"default mu spelled out", version("0.1.0", Options{Mu: lm.DefaultMu}), true},
		{"another text limit", version("0.1.0", Options{MaxTextBytes: 10}), true},
		{"another mu", version("0.1.0", Options{Mu: 2000}), false},
		{"another release", version("0.2.0", Options{}), false},
		{"an ARPA model file", fromARPA, false},
		{"a binary model file", fromBin, false},
	} {
		if (tc.v == def) != tc.equal {
			t.Errorf("%s: version %q, default %q; want equal = %v", tc.name, tc.v, def, tc.equal)
		}
	}
	if fromARPA == fromBin {
		t.Errorf("ARPA and binary files share the version %q", fromARPA)
	}
	if _, err := Open("0.1.0", Options{ModelPath: bad}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("malformed model: err %v, want one naming %s", err, bad)
	}
	if _, err := Open("0.1.0", Options{ModelPath: filepath.Join(dir, "missing")}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing model: err %v", err)
	}
	// A model file is actually used: its scores differ from the default's.
	p, err := Open("0.1.0", Options{ModelPath: arpa})
	if err != nil {
		t.Fatal(err)
	}
	a, b := score(t, p, nil, "the cat sat")[0], score(t, mustDefault(t), nil, "the cat sat")[0]
	if a.Features[FeatureLogProb] == b.Features[FeatureLogProb] {
		t.Errorf("model file and default model agree on %v", a.Features)
	}
}

func TestParseArgs(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    Options
		wantErr string
	}{
		{name: "defaults", want: Options{}},
		{name: "env model", env: map[string]string{EnvModel: "/m.bin"}, want: Options{ModelPath: "/m.bin"}},
		{name: "flag beats env", args: []string{"--model", "/a.arpa"}, env: map[string]string{EnvModel: "/m.bin"}, want: Options{ModelPath: "/a.arpa"}},
		{name: "all flags", args: []string{"--model=/a", "--mu", "50", "--max-text-bytes", "100"}, want: Options{ModelPath: "/a", Mu: 50, MaxTextBytes: 100}},
		{name: "unknown flag", args: []string{"--order", "3"}, wantErr: "order"},
		{name: "stray argument", args: []string{"model.arpa"}, wantErr: `unexpected "model.arpa"`},
		{name: "negative mu", args: []string{"--mu", "-1"}, wantErr: "mu -1"},
		{name: "NaN mu", args: []string{"--mu", "NaN"}, wantErr: "mu NaN"},
		{name: "infinite mu", args: []string{"--mu", "+Inf"}, wantErr: "mu +Inf"},
		{name: "bad number", args: []string{"--max-text-bytes", "lots"}, wantErr: "max-text-bytes"},
		{name: "negative limit", args: []string{"--max-text-bytes", "-5"}, wantErr: "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseArgs(tc.args, env(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if _, err := ParseArgs(nil, nil); err != nil {
		t.Errorf("nil getenv: %v", err)
	}
}

func TestFromEnvFailure(t *testing.T) {
	ts := FromEnv("0.1.0", []string{"--model", "/nonexistent/x.arpa"}, nil)
	if _, err := ts.Info(context.Background(), plugins.InfoRequest{}); err == nil || !strings.Contains(err.Error(), "/nonexistent/x.arpa") {
		t.Errorf("Info: err %v, want one naming the model file", err)
	}
	if _, err := ts.Score(context.Background(), plugins.ScoreRequest{}); err == nil {
		t.Error("Score: no error")
	}
	if _, err := New(nil, "d", "1", Options{}); err == nil {
		t.Error("New(nil model): no error")
	}
}

func FuzzScore(f *testing.F) {
	p := mustDefault(f)
	f.Add("Holmes smiled.", "the letter")
	f.Add("", "")
	f.Add("\xff\xfe", "\xc3")
	f.Add("   ", "x")
	f.Add("日本語のテキスト 🎉", "emoji 🎉")
	f.Fuzz(func(t *testing.T, text, history string) {
		resp, err := p.Score(context.Background(), plugins.ScoreRequest{Items: []plugins.TextItem{{ID: "x", Text: text}}, Context: []string{history}})
		if err != nil {
			t.Fatal(err)
		}
		s := resp.Scores[0]
		if s.Err != "" {
			if s.Features != nil {
				t.Fatalf("error %q with features %v", s.Err, s.Features)
			}
			return
		}
		for k, v := range s.Features {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%s = %v for %q", k, v, text)
			}
		}
		if s.Features[FeaturePerplexity] < 1 || s.Features[FeatureLogProb] > 0 {
			t.Fatalf("perplexity %v, log prob %v for %q", s.Features[FeaturePerplexity], s.Features[FeatureLogProb], text)
		}
	})
}
