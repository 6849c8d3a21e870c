// Package lmscore is causalrec's built-in language-model text scorer: a
// plugins.TextScorer that gives every item text its fluency under a
// background n-gram model and its relevance to the request's context texts
// (the user's history), computed with package lm.
//
// Features, per item text t tokenised with lm.Tokenize into N tokens and
// scored as one sentence (from <s>, with </s> scored):
//
//	lm_logprob = Σ log10 p(w_i | history_i)          (total, </s> included)
//	perplexity = 10^(−lm_logprob / (N + 1))
//	relevance  = (1/N) Σ_{w ∈ t} log10(p_H(w) / p_B(w)),
//	             p_H(w) = (c(w, H) + μ p_B(w)) / (|H| + μ)
//
// where H is the bag of tokens of the context texts, p_B the background
// model's 1-gram probability and μ the Dirichlet prior weight (lm.DefaultMu
// unless set). lm_logprob is the total, not a per-token mean: the per-token
// mean is −log10(perplexity) and would carry no extra information.
// relevance is 0 when the request has no context; it is the only feature
// that depends on the context.
//
// The background model is a model file (ARPA or lm's binary format) or,
// by default, an order-3 modified Kneser–Ney model that Open estimates at
// start-up from "The Adventures of Sherlock Holmes" (public domain, embedded
// gzipped). The version the plugin reports names the model by a digest, so
// a new model gives a new version and invalidates cached scores.
package lmscore

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/causalrec/causalrec/lm"
	"github.com/causalrec/causalrec/plugins"
)

// Name is the plugin's name.
const Name = "lm"

// Feature names.
const (
	FeatureLogProb    = "lm_logprob"
	FeaturePerplexity = "perplexity"
	FeatureRelevance  = "relevance"
)

// ContextFeatures lists the features that depend on the request's context
// texts; the others depend on the item text alone.
var ContextFeatures = []string{FeatureRelevance}

// EnvModel names the environment variable that gives the model file when
// no --model argument does.
const EnvModel = "CAUSALREC_LM_MODEL"

// DefaultMaxTextBytes is the longest item text scored by default (the
// store's limit on item texts).
const DefaultMaxTextBytes = 64 << 10

// DefaultOrder is the order of the default background model.
const DefaultOrder = 3

//go:embed sherlock.txt.gz
var defaultCorpus []byte

// Options configure the plugin. The zero value uses the embedded default
// model, lm.DefaultMu and DefaultMaxTextBytes.
type Options struct {
	// ModelPath is a model file in ARPA or binary format, trained on text
	// tokenised with lm.Tokenize. Empty means the default model.
	ModelPath string
	// Mu is the Dirichlet prior weight of relevance; 0 means lm.DefaultMu.
	Mu float64
	// MaxTextBytes is the longest text scored; 0 means
	// DefaultMaxTextBytes.
	MaxTextBytes int64
}

func (o Options) validate() error {
	if math.IsNaN(o.Mu) || o.Mu < 0 || math.IsInf(o.Mu, 0) {
		return fmt.Errorf("lm plugin: mu %v must be positive and finite (0 for the default %d)", o.Mu, lm.DefaultMu)
	}
	if o.MaxTextBytes < 0 {
		return fmt.Errorf("lm plugin: max text bytes %d is negative", o.MaxTextBytes)
	}
	return nil
}

// ParseArgs reads the plugin program's arguments:
//
//	--model PATH          model file (ARPA or binary); default: $CAUSALREC_LM_MODEL,
//	                      else the embedded default model
//	--mu X                Dirichlet prior weight of relevance
//	--max-text-bytes N    longest text scored
//
// getenv looks environment variables up (os.Getenv; nil means none are
// set).
func ParseArgs(args []string, getenv func(string) string) (Options, error) {
	var o Options
	fs := flag.NewFlagSet(Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.ModelPath, "model", "", "model file (ARPA or binary)")
	fs.Float64Var(&o.Mu, "mu", 0, "Dirichlet prior weight of relevance")
	fs.Int64Var(&o.MaxTextBytes, "max-text-bytes", 0, "longest text scored")
	if err := fs.Parse(args); err != nil {
		return Options{}, fmt.Errorf("lm plugin arguments: %w", err)
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("lm plugin arguments: unexpected %q", fs.Arg(0))
	}
	if o.ModelPath == "" && getenv != nil {
		o.ModelPath = getenv(EnvModel)
	}
	if err := o.validate(); err != nil {
		return Options{}, err
	}
	return o, nil
}

// Plugin implements plugins.TextScorer with an lm.Scorer. It is safe for
// concurrent use.
type Plugin struct {
	scorer   *lm.Scorer
	version  string
	maxBytes int64
	texts    textCache
	// uncached turns the text cache off (the baseline of the benchmark).
	uncached bool
}

// textCache keeps the tokens and fluency of texts scored before. Both
// depend on the text alone, and with relevance the same item texts come
// back with every request (only their relevance to the history changes);
// tokenising is half the cost of scoring a short text.
type textCache struct {
	mu   sync.RWMutex
	byID map[string]scoredText
}

type scoredText struct {
	toks []string
	f    lm.Fluency
}

// maxTexts bounds the texts cached; the cache is emptied when full.
const maxTexts = 50_000

// scored returns the tokens and fluency of text, from the cache or computed.
func (p *Plugin) scored(text string) scoredText {
	if p.uncached {
		toks := lm.Tokenize(text)
		return scoredText{toks: toks, f: p.scorer.Model().Fluency(toks)}
	}
	p.texts.mu.RLock()
	st, ok := p.texts.byID[text]
	p.texts.mu.RUnlock()
	if ok {
		return st
	}
	toks := lm.Tokenize(text)
	st = scoredText{toks: toks, f: p.scorer.Model().Fluency(toks)}
	p.texts.mu.Lock()
	if p.texts.byID == nil || len(p.texts.byID) >= maxTexts {
		p.texts.byID = make(map[string]scoredText)
	}
	p.texts.byID[text] = st
	p.texts.mu.Unlock()
	return st
}

var _ plugins.TextScorer = (*Plugin)(nil)

// Open loads the model of opts (or builds the default one) and returns the
// plugin. release is the software version; the reported version is
// release + "+lm." + the first 12 hex digits of a digest of the model
// source and μ.
func Open(release string, opts Options) (*Plugin, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	var (
		m      *lm.Model
		digest string
		err    error
	)
	if opts.ModelPath == "" {
		m, digest, err = DefaultModel()
	} else {
		m, digest, err = loadFile(opts.ModelPath)
	}
	if err != nil {
		return nil, err
	}
	return New(m, digest, release, opts)
}

// New returns the plugin over model m. modelDigest identifies the model
// (for example the hex sha256 of its file) and goes into the version.
func New(m *lm.Model, modelDigest, release string, opts Options) (*Plugin, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("lm plugin: nil model")
	}
	if modelDigest == "" {
		return nil, errors.New("lm plugin: empty model digest")
	}
	mu := opts.Mu
	if mu == 0 {
		mu = lm.DefaultMu
	}
	h := sha256.New()
	h.Write([]byte(modelDigest))
	h.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(mu)))
	version := release + "+lm." + hex.EncodeToString(h.Sum(nil))[:12]
	maxBytes := opts.MaxTextBytes
	if maxBytes == 0 {
		maxBytes = DefaultMaxTextBytes
	}
	return &Plugin{scorer: lm.NewScorer(m, lm.ScorerOptions{Mu: mu}), version: version, maxBytes: maxBytes}, nil
}

// loadFile reads a model file and returns it with its sha256.
func loadFile(path string) (*lm.Model, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("lm plugin: read model: %w", err)
	}
	m, err := lm.LoadModel(bytes.NewReader(data))
	if err != nil {
		return nil, "", fmt.Errorf("lm plugin: load model %s: %w", path, err)
	}
	sum := sha256.Sum256(data)
	return m, hex.EncodeToString(sum[:]), nil
}

// DefaultModel estimates the default background model: order DefaultOrder,
// interpolated modified Kneser–Ney, over the paragraphs of the embedded
// book (one paragraph per sentence, lm.Tokenize). It returns the model and
// a digest of the corpus and order.
func DefaultModel() (*lm.Model, string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(defaultCorpus))
	if err != nil {
		return nil, "", fmt.Errorf("lm plugin: default corpus: %w", err)
	}
	c := lm.NewCorpus()
	if err := addParagraphs(c, zr); err != nil {
		return nil, "", fmt.Errorf("lm plugin: default corpus: %w", err)
	}
	a, err := lm.Estimate(c, lm.EstimateOptions{Order: DefaultOrder})
	if err != nil {
		return nil, "", fmt.Errorf("lm plugin: estimate default model: %w", err)
	}
	m, err := lm.NewModel(a)
	if err != nil {
		return nil, "", fmt.Errorf("lm plugin: build default model: %w", err)
	}
	d := sha256.New()
	d.Write(defaultCorpus)
	d.Write([]byte("order=" + strconv.Itoa(DefaultOrder)))
	return m, hex.EncodeToString(d.Sum(nil)), nil
}

// addParagraphs adds each blank-line-separated paragraph of r to c as one
// tokenised sentence.
func addParagraphs(c *lm.Corpus, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var (
		toks []string
		line int
	)
	flush := func() error {
		if len(toks) == 0 {
			return nil
		}
		err := c.Add(toks)
		toks = toks[:0]
		if err != nil {
			return fmt.Errorf("paragraph ending at line %d: %w", line, err)
		}
		return nil
	}
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			if err := flush(); err != nil {
				return err
			}
			continue
		}
		toks = lm.AppendTokens(toks, text)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", line+1, err)
	}
	return flush()
}

// Info implements plugins.TextScorer.
func (p *Plugin) Info(context.Context, plugins.InfoRequest) (plugins.TextScorerInfo, error) {
	info := plugins.TextScorerInfo{
		Name:         Name,
		Version:      p.version,
		Features:     []string{FeatureLogProb, FeaturePerplexity, FeatureRelevance},
		MaxTextBytes: p.maxBytes,
	}
	for _, f := range info.Features {
		info.FeatureUses = append(info.FeatureUses, plugins.FeatureUse{
			Name: f, UsesContext: slices.Contains(ContextFeatures, f), LogScale: f == FeaturePerplexity,
		})
	}
	return info, nil
}

// Version returns the version Info reports.
func (p *Plugin) Version() string { return p.version }

// parallelMin is the number of items per goroutine from which Score
// uses several goroutines.
const parallelMin = 64

// Score implements plugins.TextScorer. Texts that are empty, not UTF-8,
// longer than the limit or without any token get a per-item error; the
// other items are scored. Context texts that are not UTF-8 have their
// invalid bytes replaced.
func (p *Plugin) Score(ctx context.Context, req plugins.ScoreRequest) (plugins.ScoreResponse, error) {
	var h *lm.History
	if len(req.Context) > 0 {
		toks := make([][]string, len(req.Context))
		for i, t := range req.Context {
			// The context is the texts of items, cached like the items'.
			toks[i] = p.scored(strings.ToValidUTF8(t, "\uFFFD")).toks
		}
		h = lm.NewHistory(toks)
	}
	out, err := plugins.ScoreEach(ctx, req.Items, parallelMin, 16, func(it plugins.TextItem) plugins.TextScore { return p.scoreOne(it, h) })
	if err != nil {
		return plugins.ScoreResponse{}, err
	}
	return plugins.ScoreResponse{Scores: out}, nil
}

func (p *Plugin) scoreOne(it plugins.TextItem, h *lm.History) plugins.TextScore {
	if msg := plugins.CheckText(it.Text, p.maxBytes); msg != "" {
		return plugins.TextScore{ID: it.ID, Err: msg}
	}
	st := p.scored(it.Text)
	if len(st.toks) == 0 {
		return plugins.TextScore{ID: it.ID, Err: "text has no tokens (only white space)"}
	}
	return plugins.TextScore{ID: it.ID, Features: map[string]float64{
		FeatureLogProb:    st.f.LogProb,
		FeaturePerplexity: st.f.Perplexity(),
		FeatureRelevance:  p.scorer.Relevance(st.toks, h),
	}}
}

// FromEnv returns the plugin configured by args and the environment, as
// the plugin programs run it. When the configuration is bad or the model
// cannot be loaded it returns a TextScorer whose every call fails with
// that error, so the host reports the reason instead of a process that
// vanished.
func FromEnv(release string, args []string, getenv func(string) string) plugins.TextScorer {
	opts, err := ParseArgs(args, getenv)
	if err != nil {
		return failed{err}
	}
	p, err := Open(release, opts)
	if err != nil {
		return failed{err}
	}
	return p
}

// failed is a TextScorer that could not start.
type failed struct{ err error }

func (f failed) Info(context.Context, plugins.InfoRequest) (plugins.TextScorerInfo, error) {
	return plugins.TextScorerInfo{}, f.err
}

func (f failed) Score(context.Context, plugins.ScoreRequest) (plugins.ScoreResponse, error) {
	return plugins.ScoreResponse{}, f.err
}
