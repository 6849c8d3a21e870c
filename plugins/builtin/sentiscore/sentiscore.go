// Package sentiscore is causalrec's built-in sentiment text scorer: a
// plugins.TextScorer that gives every item text its VADER polarity scores
// (package lm/sentiment, which agrees with vaderSentiment 3.3.x):
//
//	sentiment     = compound = s / sqrt(s² + 15), s = Σ rule-adjusted valences, in [−1, 1]
//	sentiment_pos = share of the text that is positive, in [0, 1]
//	sentiment_neg = share of the text that is negative, in [0, 1]
//	sentiment_neu = share of the text that is neutral,  in [0, 1]
//
// The three shares sum to 1 (all are 0 for a text without words). No
// feature depends on the request's context texts, which are ignored.
package sentiscore

import (
	"context"

	"github.com/causalrec/causalrec/lm/sentiment"
	"github.com/causalrec/causalrec/plugins"
)

// Name is the plugin's name.
const Name = "sentiment"

// Feature names.
const (
	FeatureCompound = "sentiment"
	FeaturePos      = "sentiment_pos"
	FeatureNeg      = "sentiment_neg"
	FeatureNeu      = "sentiment_neu"
)

// DefaultMaxTextBytes is the longest item text scored by default (the
// store's limit on item texts).
const DefaultMaxTextBytes = 64 << 10

// Plugin implements plugins.TextScorer with a VADER analyzer. It is safe
// for concurrent use.
type Plugin struct {
	analyzer *sentiment.Analyzer
	version  string
	maxBytes int64
}

var _ plugins.TextScorer = (*Plugin)(nil)

// New returns the plugin. release is the software version; the reported
// version is release + "+vader". maxTextBytes is the longest text scored
// (0 means DefaultMaxTextBytes); New panics if it is negative.
func New(release string, maxTextBytes int64) *Plugin {
	if maxTextBytes < 0 {
		panic("sentiscore: negative maxTextBytes")
	}
	if maxTextBytes == 0 {
		maxTextBytes = DefaultMaxTextBytes
	}
	return &Plugin{analyzer: sentiment.NewAnalyzer(), version: release + "+vader", maxBytes: maxTextBytes}
}

// Info implements plugins.TextScorer.
func (p *Plugin) Info(context.Context, plugins.InfoRequest) (plugins.TextScorerInfo, error) {
	return plugins.TextScorerInfo{
		Name:         Name,
		Version:      p.version,
		Features:     []string{FeatureCompound, FeaturePos, FeatureNeg, FeatureNeu},
		MaxTextBytes: p.maxBytes,
		FeatureUses:  []plugins.FeatureUse{{Name: FeatureCompound}, {Name: FeaturePos}, {Name: FeatureNeg}, {Name: FeatureNeu}},
	}, nil
}

// parallelMin is the number of items per goroutine from which Score
// uses several goroutines.
const parallelMin = 128

// Score implements plugins.TextScorer. Texts that are empty, not UTF-8 or
// longer than the limit get a per-item error; the others are scored. The
// context is ignored.
func (p *Plugin) Score(ctx context.Context, req plugins.ScoreRequest) (plugins.ScoreResponse, error) {
	out, err := plugins.ScoreEach(ctx, req.Items, parallelMin, 32, p.scoreOne)
	if err != nil {
		return plugins.ScoreResponse{}, err
	}
	return plugins.ScoreResponse{Scores: out}, nil
}

func (p *Plugin) scoreOne(it plugins.TextItem) plugins.TextScore {
	if msg := plugins.CheckText(it.Text, p.maxBytes); msg != "" {
		return plugins.TextScore{ID: it.ID, Err: msg}
	}
	s := p.analyzer.PolarityScores(it.Text)
	return plugins.TextScore{ID: it.ID, Features: map[string]float64{
		FeatureCompound: s.Compound,
		FeaturePos:      s.Pos,
		FeatureNeg:      s.Neg,
		FeatureNeu:      s.Neu,
	}}
}
