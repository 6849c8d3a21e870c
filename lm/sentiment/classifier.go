package sentiment

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

// TrainOptions configures Train. A zero field means its default (see
// DefaultTrainOptions).
type TrainOptions struct {
	// Epochs is the number of shuffled passes of stochastic gradient
	// descent. The weights are averaged over the second half of them.
	Epochs int `json:"epochs"`
	// LearningRate is the AdaGrad base step size η.
	LearningRate float64 `json:"learning_rate"`
	// L2 is the ridge penalty λ on the sparse (word) weights.
	L2 float64 `json:"l2"`
	// MinCount drops sparse features seen in fewer training texts.
	MinCount int `json:"min_count"`
}

// DefaultTrainOptions returns the options Train uses for zero fields.
func DefaultTrainOptions() TrainOptions {
	return TrainOptions{Epochs: 20, LearningRate: 0.1, L2: 1e-2, MinCount: 1}
}

func (o TrainOptions) withDefaults() TrainOptions {
	d := DefaultTrainOptions()
	if o.Epochs == 0 {
		o.Epochs = d.Epochs
	}
	if o.LearningRate == 0 {
		o.LearningRate = d.LearningRate
	}
	if o.L2 == 0 {
		o.L2 = d.L2
	}
	if o.MinCount == 0 {
		o.MinCount = d.MinCount
	}
	return o
}

func (o TrainOptions) validate() error {
	switch {
	case o.Epochs < 0:
		return fmt.Errorf("epochs %d is negative", o.Epochs)
	case !(o.LearningRate > 0) || math.IsInf(o.LearningRate, 0):
		return fmt.Errorf("learning rate %v is not a positive number", o.LearningRate)
	case !(o.L2 >= 0) || math.IsInf(o.L2, 0):
		return fmt.Errorf("L2 penalty %v is not a non-negative number", o.L2)
	case o.MinCount < 0:
		return fmt.Errorf("min count %d is negative", o.MinCount)
	}
	return nil
}

// Classifier is a binary sentiment classifier: logistic regression
//
//	P(positive | text) = σ(b + Σ_j w_j x_j + Σ_k v_k d_k),  σ(z) = 1 / (1 + e^(−z)),
//
// over binary sparse features x (words and word pairs with negation
// marking, word prefixes, VADER valence bins, opinion-lexicon polarities)
// and dense lexicon features d (VADER scores and word statistics, AFINN-165
// sums, opinion-lexicon counts).
//
// A Classifier is safe for concurrent use.
type Classifier struct {
	analyzer *Analyzer
	afinn    map[string]float64
	opinion  map[string]int8  // nil for a version-1 model
	version  int              // model file format version (feature extraction)
	vocab    map[string]int32 // sparse feature name → index into w
	names    []string         // sparse feature names by index
	w        []float64
	dense    [numDense]float64
	bias     float64
	opts     TrainOptions
	pool     sync.Pool
}

// newClassifier returns an empty Classifier whose features are those of
// model format version (1 or 2).
func newClassifier(a *Analyzer, version int) (*Classifier, error) {
	if a == nil {
		a = NewAnalyzer()
	}
	afinn, err := ReadLexicon(bytes.NewReader(embeddedAFINN))
	if err != nil {
		return nil, fmt.Errorf("embedded AFINN lexicon: %w", err)
	}
	c := &Classifier{analyzer: a, afinn: afinn, vocab: map[string]int32{}, version: version}
	if version >= 2 {
		if c.opinion, err = opinionLexicon(); err != nil {
			return nil, fmt.Errorf("embedded opinion lexicon: %w", err)
		}
	}
	c.pool.New = func() any { return new(featScratch) }
	return c, nil
}

// Train fits a Classifier to texts with labels 0 (negative) or 1
// (positive) and optional weights ω (nil means 1 each). It minimises the
// weighted log-loss with a ridge penalty on the sparse weights,
//
//	L(w, v, b) = Σ_i ω_i ℓ(y_i, p_i) / Σ_i ω_i + (λ/2) ‖w‖²,  ℓ(y, p) = −y log p − (1−y) log(1−p),
//
// by AdaGrad stochastic gradient descent (step η/√Σg²) over opts.Epochs
// passes in an order shuffled by src, averaging the weights over the second
// half of the passes. The model depends only on the data, opts and src, so
// a fixed seed gives a fixed model. a supplies the VADER features (nil means
// NewAnalyzer()).
//
// Train panics if the lengths of texts, labels and weights differ or src is
// nil (programmer errors) and returns an error for bad labels, weights or
// options.
func Train(texts []string, labels []int, weights []float64, opts TrainOptions, src rand.Source, a *Analyzer) (*Classifier, error) {
	return train(texts, labels, weights, opts, src, a, modelVersion)
}

// train is Train with the features of model format version (the
// benchmarks compare version 1 with the current one).
func train(texts []string, labels []int, weights []float64, opts TrainOptions, src rand.Source, a *Analyzer, version int) (*Classifier, error) {
	if len(labels) != len(texts) {
		panic("sentiment: len(labels) != len(texts)")
	}
	if weights != nil && len(weights) != len(texts) {
		panic("sentiment: len(weights) != len(texts)")
	}
	if src == nil {
		panic("sentiment: nil random source")
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if len(texts) == 0 {
		return nil, errors.New("train: no training texts")
	}
	sumW := 0.0
	for i, y := range labels {
		if y != 0 && y != 1 {
			return nil, fmt.Errorf("train: label %d of text %d is not 0 or 1", y, i)
		}
		wi := 1.0
		if weights != nil {
			wi = weights[i]
			if !(wi >= 0) || math.IsInf(wi, 0) {
				return nil, fmt.Errorf("train: weight %v of text %d is not a finite non-negative number", wi, i)
			}
		}
		sumW += wi
	}
	if !(sumW > 0) {
		return nil, errors.New("train: weights sum to zero")
	}
	c, err := newClassifier(a, version)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	c.opts = opts

	// Vocabulary: sparse features seen in at least MinCount texts, sorted so
	// that indices do not depend on map order.
	counts := map[string]int{}
	sc := new(featScratch)
	var seen []string
	for _, t := range texts {
		seen = seen[:0]
		eachSparse(sc, c.analyzer.lex, c.opinion, t, func(name []byte) {
			seen = append(seen, string(name))
		})
		slices.Sort(seen)
		for _, s := range slices.Compact(seen) {
			counts[s]++
		}
	}
	for s, n := range counts {
		if n >= opts.MinCount {
			c.names = append(c.names, s)
		}
	}
	slices.Sort(c.names)
	for i, s := range c.names {
		c.vocab[s] = int32(i)
	}

	xs := make([][]int32, len(texts))
	ds := make([][numDense]float64, len(texts))
	for i, t := range texts {
		xs[i] = slices.Clone(c.features(sc, &ds[i], t))
	}
	c.fit(xs, ds, labels, weights, sumW/float64(len(texts)), rand.New(src))
	return c, nil
}

// fit runs averaged AdaGrad SGD; meanW is the mean example weight.
func (c *Classifier) fit(xs [][]int32, ds [][numDense]float64, labels []int, weights []float64, meanW float64, rng *rand.Rand) {
	opts := c.opts
	nw := len(c.names)
	var (
		w, g2, aw = make([]float64, nw), make([]float64, nw), make([]float64, nw)
		v, vg2    [numDense]float64
		av        [numDense]float64
		b, bg2    float64
		ab        float64
		nAvg      int
	)
	const eps = 1e-8
	lr, lambda := opts.LearningRate, opts.L2
	order := make([]int, len(xs))
	for i := range order {
		order[i] = i
	}
	for ep := range opts.Epochs {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			z := b
			for _, j := range xs[i] {
				z += w[j]
			}
			for k := range numDense {
				z += v[k] * ds[i][k]
			}
			gi := sigmoid(z) - float64(labels[i])
			if weights != nil {
				gi *= weights[i] / meanW
			}
			for _, j := range xs[i] {
				g := gi + lambda*w[j]
				g2[j] += g * g
				w[j] -= lr * g / (math.Sqrt(g2[j]) + eps)
			}
			for k := range numDense {
				g := gi * ds[i][k]
				vg2[k] += g * g
				v[k] -= lr * g / (math.Sqrt(vg2[k]) + eps)
			}
			bg2 += gi * gi
			b -= lr * gi / (math.Sqrt(bg2) + eps)
		}
		if ep >= opts.Epochs/2 {
			for j := range w {
				aw[j] += w[j]
			}
			for k := range v {
				av[k] += v[k]
			}
			ab += b
			nAvg++
		}
	}
	if nAvg == 0 { // zero epochs
		c.w = w
		return
	}
	n := float64(nAvg)
	for j := range aw {
		aw[j] /= n
	}
	for k := range av {
		av[k] /= n
	}
	c.w, c.dense, c.bias = aw, av, ab/n
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// features returns the sorted, distinct vocabulary indices of the sparse
// features of text (in sc.idx) and writes its dense features into d.
func (c *Classifier) features(sc *featScratch, d *[numDense]float64, text string) []int32 {
	idx := sc.idx[:0]
	eachSparse(sc, c.analyzer.lex, c.opinion, text, func(name []byte) {
		if j, ok := c.vocab[string(name)]; ok {
			idx = append(idx, j)
		}
	})
	slices.Sort(idx)
	idx = slices.Compact(idx)
	sc.idx = idx
	denseFeatures(d, c.analyzer, c.afinn, c.opinion, sc, text)
	return idx
}

// Prob returns the probability that text is positive.
func (c *Classifier) Prob(text string) float64 {
	sc := c.pool.Get().(*featScratch)
	var d [numDense]float64
	z := c.bias
	for _, j := range c.features(sc, &d, text) {
		z += c.w[j]
	}
	c.pool.Put(sc)
	for k := range numDense {
		z += c.dense[k] * d[k]
	}
	return sigmoid(z)
}

// Score returns 2·Prob(text) − 1, a sentiment score in [-1, 1].
func (c *Classifier) Score(text string) float64 {
	return 2*c.Prob(text) - 1
}

// Predict returns 1 if text is more likely positive than negative, else 0.
func (c *Classifier) Predict(text string) int {
	if c.Prob(text) > 0.5 {
		return 1
	}
	return 0
}

// NumFeatures returns the number of sparse features of the model.
func (c *Classifier) NumFeatures() int { return len(c.names) }

// Options returns the options the model was trained with.
func (c *Classifier) Options() TrainOptions { return c.opts }
