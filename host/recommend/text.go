package recommend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"

	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/host/textscore"
	"github.com/causalrec/causalrec/plugins"
)

// Text feature modes of TextOptions.Mode.
const (
	// TextAuto uses each text scorer when some item has text and the
	// scorer answers, and skips it (saying why in the result) otherwise.
	TextAuto = "auto"
	// TextOn fails the training when a text scorer cannot score.
	TextOn = "on"
	// TextOff uses no text features.
	TextOff = "off"
)

// DefaultTextScorers are the text scorers whose features a model uses by
// default: the built-in "lm" and "sentiment" plugins.
var DefaultTextScorers = []string{"lm", "sentiment"}

// TextScorerSource returns a text-scorer plugin by name.
type TextScorerSource interface {
	TextScorer(name string) (plugins.TextScorer, error)
}

// TextOptions choose the text features of a training table.
type TextOptions struct {
	// Mode is TextAuto (the default when empty), TextOn or TextOff.
	Mode string
	// Scorers are the text-scorer plugins whose per-item features are
	// used (nil means DefaultTextScorers).
	Scorers []string
	// Relevance adds the "lm" scorer's relevance of each item to the
	// texts of the items the user engaged with among their latest
	// historyRead events before the row starts (before the request at
	// serving). It costs a plugin call per distinct history window at
	// training and one per request at serving.
	Relevance bool
	// Source reaches the plugins; nil means no text features.
	Source TextScorerSource
}

// checkMode validates the mode, defaulting an empty one to TextAuto.
func (o *TextOptions) checkMode() error {
	switch o.Mode {
	case "":
		o.Mode = TextAuto
	case TextAuto, TextOn, TextOff:
	default:
		return fmt.Errorf("text features %q: want auto, on or off", o.Mode)
	}
	if o.Scorers == nil {
		o.Scorers = DefaultTextScorers
	}
	return nil
}

// TextReport says which text features a table has.
type TextReport struct {
	// Used lists the text scorers whose features are in the table.
	Used []string `json:"used,omitempty"`
	// Versions maps each used scorer to its plugin version.
	Versions map[string]string `json:"versions,omitempty"`
	// Relevance says whether the relevance feature is in the table.
	Relevance bool `json:"relevance,omitempty"`
	// Skipped maps a scorer (or "relevance") to why it was left out.
	Skipped map[string]string `json:"skipped,omitempty"`
	// Hits and Scored count the items served from the text-score cache
	// and those sent to the plugins.
	Hits   int `json:"cache_hits"`
	Scored int `json:"scored"`
}

// textBatch is how many items one text-scorer call carries.
const textBatch = 256

// scoreItemTexts returns, per used scorer, the features of each item with
// text, through the Redis-cached host/textscore, and the feature names
// found. A scorer that fails is an error in TextOn mode and skipped (with
// the reason in rep) in TextAuto mode.
func scoreItemTexts(ctx context.Context, st *store.Store, opts TextOptions, items map[string]store.Item, rep *TextReport, logger *slog.Logger) (map[string]map[string]map[string]float64, []string, error) {
	var withText []store.Item
	for _, it := range items {
		if it.Text != "" {
			withText = append(withText, it)
		}
	}
	sort.Slice(withText, func(a, b int) bool { return withText[a].ID < withText[b].ID })
	if len(withText) == 0 {
		for _, p := range opts.Scorers {
			skip(rep, p, "no item has text")
		}
		return nil, nil, nil
	}
	out := map[string]map[string]map[string]float64{}
	names := map[string]bool{}
	for _, p := range opts.Scorers {
		feats, version, uses, err := scoreAll(ctx, st, opts.Source, p, withText, rep)
		if err != nil {
			if opts.Mode == TextOn {
				return nil, nil, fmt.Errorf("text features: %w (set text_features to auto or off to train without them)", err)
			}
			logger.Warn("text scorer unavailable; training without its features", "plugin", p, "error", err)
			skip(rep, p, err.Error())
			continue
		}
		out[p] = feats
		rep.Used = append(rep.Used, p)
		if rep.Versions == nil {
			rep.Versions = map[string]string{}
		}
		rep.Versions[p] = version
		for _, f := range feats {
			for _, n := range textFeatureNames(p, f, uses) {
				names[n] = true
			}
		}
	}
	list := make([]string, 0, len(names))
	for n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	return out, list, nil
}

func skip(rep *TextReport, what, why string) {
	if rep.Skipped == nil {
		rep.Skipped = map[string]string{}
	}
	rep.Skipped[what] = why
}

// scoreAll scores items with scorer p in batches; items the plugin could
// not score are left out of the map. It returns the plugin's version and
// how its features may be used.
func scoreAll(ctx context.Context, st *store.Store, src TextScorerSource, p string, items []store.Item, rep *TextReport) (map[string]map[string]float64, string, textscore.Uses, error) {
	var uses textscore.Uses
	if src == nil {
		return nil, "", uses, errors.New("no text scorer plugins")
	}
	ts, err := src.TextScorer(p)
	if err != nil {
		return nil, "", uses, err
	}
	out := make(map[string]map[string]float64, len(items))
	var version string
	for lo := 0; lo < len(items); lo += textBatch {
		res, err := textscore.Score(ctx, st, p, ts, items[lo:min(lo+textBatch, len(items))], nil, textscore.Options{})
		if err != nil {
			return nil, "", uses, err
		}
		version, uses = res.Version, res.Uses
		rep.Hits += res.Hits
		rep.Scored += res.Scored
		for _, s := range res.Scores {
			if s.Err == "" && s.Features != nil {
				out[s.ID] = s.Features
			}
		}
	}
	return out, version, uses, nil
}
