// Package textscore scores item texts through a text-scorer plugin with the
// Redis text-score cache of package store in front of it.
//
// The cache holds one entry per (plugin, item): the features the plugin
// gave for the item's text, with the plugin version and the hash of the
// text. An entry is used only while both still match, so an edited text or
// a new plugin version (for the lm plugin: a new background model) makes
// the item be scored again.
//
// Context texts (such as the user's history) make some features, like the
// lm plugin's relevance, depend on the request, and such values must not be
// cached per item. The rule is:
//
//   - a request without context reads the cache, sends only the misses to
//     the plugin (without context) and caches their results;
//   - a request with context to a plugin whose features ignore the context
//     (ContextIgnored, such as the sentiment plugin) drops the context and
//     is served as above;
//   - a request with context to any other plugin (ContextUsed, such as lm,
//     and unknown plugins) sends every item to the plugin with the context
//     and neither reads nor writes the cache.
//
// The plugin computes every feature of an item in one call, so reading
// context-free features such as lm_logprob from the cache while the plugin
// computes relevance would not save a call; it would only make the cached
// and uncached feature sets differ.
//
// Per-item errors (an empty, too long or non-UTF-8 text) are returned in
// the result and never cached, so a fixed text is scored on the next call.
package textscore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/plugins"
)

// ContextUse says whether a plugin's features depend on the request's
// context texts.
type ContextUse int

const (
	// ContextDefault means: as the plugin's Info declares (see UsesOf).
	ContextDefault ContextUse = iota
	// ContextIgnored: no feature depends on the context, so it is not sent
	// and every result can be cached.
	ContextIgnored
	// ContextUsed: some feature depends on the context, so requests with
	// context bypass the cache.
	ContextUsed
)

// BuiltinContextUse returns the context use of the built-in plugin called
// name, for plugins whose Info declares no feature uses (built before
// plugins.FeatureUse existed): ContextIgnored for "sentiment",
// ContextUsed for "lm" (relevance) and, to stay safe, for every other
// name.
func BuiltinContextUse(name string) ContextUse {
	if name == "sentiment" {
		return ContextIgnored
	}
	return ContextUsed
}

// Uses says how the features of one text scorer may be used: as its Info
// declares (plugins.FeatureUse), or, for a plugin that declares nothing,
// by the host's rules for the built-in plugins.
type Uses struct {
	name string
	// declared holds the declared uses by feature; nil when none are.
	declared map[string]plugins.FeatureUse
}

// UsesOf returns the uses of the features of the text scorer configured
// under name, whose Info is info.
func UsesOf(name string, info plugins.TextScorerInfo) Uses {
	u := Uses{name: name}
	if len(info.FeatureUses) > 0 {
		u.declared = make(map[string]plugins.FeatureUse, len(info.FeatureUses))
		for _, f := range info.FeatureUses {
			u.declared[f.Name] = f
		}
	}
	return u
}

// Context says whether some feature depends on the context texts:
// ContextUsed when one declares so, else ContextIgnored; for a plugin that
// declares nothing, BuiltinContextUse.
func (u Uses) Context() ContextUse {
	if u.declared == nil {
		return BuiltinContextUse(u.name)
	}
	for _, f := range u.declared {
		if f.UsesContext {
			return ContextUsed
		}
	}
	return ContextIgnored
}

// PerItem reports whether the feature describes the item alone, so that a
// model may use it as a feature of the item: declared without context
// use. A feature the plugin did not declare is not; for a plugin that
// declares nothing, every feature but "relevance" is.
func (u Uses) PerItem(feature string) bool {
	if u.declared == nil {
		return feature != "relevance"
	}
	f, ok := u.declared[feature]
	return ok && !f.UsesContext
}

// LogScale reports whether models use the feature's log10: declared so,
// or, for a plugin that declares nothing, "perplexity".
func (u Uses) LogScale(feature string) bool {
	if u.declared == nil {
		return feature == "perplexity"
	}
	return u.declared[feature].LogScale
}

// Options configure Score. The zero value is ready to use.
type Options struct {
	// Context says whether the plugin uses context texts; ContextDefault
	// means as its Info declares (Uses.Context).
	Context ContextUse
}

// Result is the outcome of Score.
type Result struct {
	// Version is the plugin version the scores belong to.
	Version string
	// Uses says how the features may be used, from the plugin's Info.
	Uses Uses
	// Scores holds one entry per item, in the order of the items.
	Scores []ItemScore
	// Hits counts the items served from the cache, Scored those sent to
	// the plugin, and Stored the entries written to the cache.
	Hits, Scored, Stored int
}

// ItemScore is the outcome for one item: its features, or a non-empty Err
// saying why the plugin could not score it. Features from the cache are
// shared with the store's cache of decoded entries: do not modify them.
type ItemScore struct {
	ID       string
	Features map[string]float64
	Err      string
	// Cached reports that the features came from the cache.
	Cached bool
}

// Score returns the features of items from the text-scorer plugin ts
// (configured under name), with the cache in st; contextTexts are the
// request's context texts (nil for none). See the package documentation
// for what is cached. The error is for failures of the whole call (the
// plugin or Redis unreachable, a cancelled ctx); per-item failures are in
// Result.Scores[i].Err.
//
// A call asks the plugin for its version (Info) first, and again before it
// writes to the cache; with every item a hit, the plugin's Score is not
// called.
func Score(ctx context.Context, st *store.Store, name string, ts plugins.TextScorer, items []store.Item, contextTexts []string, opts Options) (Result, error) {
	if name == "" {
		return Result{}, errors.New("text scores: empty plugin name")
	}
	info, err := ts.Info(ctx, plugins.InfoRequest{})
	if err != nil {
		return Result{}, fmt.Errorf("text scores: plugin %q info: %w", name, err)
	}
	res := Result{Version: info.Version, Uses: UsesOf(name, info), Scores: make([]ItemScore, len(items))}
	use := opts.Context
	if use == ContextDefault {
		use = res.Uses.Context()
	}
	if len(items) == 0 {
		return res, nil
	}
	if len(contextTexts) > 0 && use != ContextIgnored {
		resp, err := callPlugin(ctx, name, ts, items, contextTexts)
		if err != nil {
			return Result{}, err
		}
		for i, sc := range resp {
			res.Scores[i] = fromPlugin(items[i], sc)
		}
		res.Scored = len(items)
		return res, nil
	}

	hits, misses, err := st.TextScores(ctx, name, info.Version, items)
	if err != nil {
		return Result{}, fmt.Errorf("text scores: plugin %q: read cache: %w", name, err)
	}
	missing := make(map[string]bool, len(misses))
	for _, it := range misses {
		missing[it.ID] = true
	}
	var todo []int // indices of the items to score
	for i, it := range items {
		if f, ok := hits[it.ID]; ok && !missing[it.ID] {
			res.Scores[i] = ItemScore{ID: it.ID, Features: f, Cached: true}
			res.Hits++
			continue
		}
		todo = append(todo, i)
	}
	if len(todo) == 0 {
		return res, nil
	}
	send := make([]store.Item, len(todo))
	for k, i := range todo {
		send[k] = items[i]
	}
	resp, err := callPlugin(ctx, name, ts, send, nil)
	if err != nil {
		return Result{}, err
	}
	res.Scored = len(todo)
	put := make([]store.TextScore, 0, len(todo))
	for k, i := range todo {
		s := fromPlugin(items[i], resp[k])
		res.Scores[i] = s
		if s.Err == "" && cacheable(s) {
			put = append(put, store.TextScore{ItemID: s.ID, TextHash: store.TextHash(items[i].Text), Features: s.Features})
		}
	}
	if len(put) == 0 {
		return res, nil
	}
	// A plugin restarted with a new version during the call gave scores
	// that may belong to either version: return them, but do not cache
	// them under the old one.
	after, err := ts.Info(ctx, plugins.InfoRequest{})
	if err != nil {
		return Result{}, fmt.Errorf("text scores: plugin %q info: %w", name, err)
	}
	if after.Version != info.Version {
		return res, nil
	}
	if err := st.PutTextScores(ctx, name, info.Version, put); err != nil {
		return Result{}, fmt.Errorf("text scores: plugin %q: write cache: %w", name, err)
	}
	res.Stored = len(put)
	return res, nil
}

// callPlugin sends items to the plugin and checks the reply's length.
func callPlugin(ctx context.Context, name string, ts plugins.TextScorer, items []store.Item, contextTexts []string) ([]plugins.TextScore, error) {
	req := plugins.ScoreRequest{Items: make([]plugins.TextItem, len(items)), Context: contextTexts}
	for i, it := range items {
		req.Items[i] = plugins.TextItem{ID: it.ID, Text: it.Text}
	}
	resp, err := ts.Score(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("text scores: plugin %q: %w", name, err)
	}
	if len(resp.Scores) != len(items) {
		return nil, fmt.Errorf("text scores: plugin %q: %w: %d scores for %d items", name, plugins.ErrPlugin, len(resp.Scores), len(items))
	}
	return resp.Scores, nil
}

// fromPlugin turns a plugin's score for it into an ItemScore.
func fromPlugin(it store.Item, sc plugins.TextScore) ItemScore {
	switch {
	case sc.Err != "":
		return ItemScore{ID: it.ID, Err: sc.Err}
	case sc.ID != it.ID:
		return ItemScore{ID: it.ID, Err: fmt.Sprintf("plugin answered for item %q instead", sc.ID)}
	}
	return ItemScore{ID: it.ID, Features: sc.Features}
}

// cacheable reports whether the store accepts s: a valid item ID and named,
// finite feature values. Other scores are returned but not cached.
func cacheable(s ItemScore) bool {
	if s.ID == "" || len(s.ID) > store.MaxIDBytes || !utf8.ValidString(s.ID) {
		return false
	}
	for k, v := range s.Features {
		if k == "" || math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}
