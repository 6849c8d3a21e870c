package sentiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// Saved classifier format. A model file is JSON:
//
//	{"format": "causalrec-sentiment-classifier", "version": 2,
//	 "options": {...}, "bias": b, "dense": {name: weight}, "sparse": {name: weight}}
//
// The version names the feature extraction. Version 1 lacks the opinion
// lexicon features (three dense weights and the "ol:" sparse features); it
// is still read, scores as it did, and is saved again as version 1. A
// model of any other version is refused with ErrModelVersion.
const (
	modelFormat  = "causalrec-sentiment-classifier"
	modelVersion = 2
	// minModelVersion is the oldest version LoadClassifier reads.
	minModelVersion = 1
)

// numDenseOf returns the number of dense features of a model version.
func numDenseOf(version int) int {
	if version == 1 {
		return numDenseV1
	}
	return numDense
}

// ErrModelVersion is returned by LoadClassifier for a model file of a
// version this package cannot read. Check with errors.Is.
var ErrModelVersion = errors.New("unsupported model version")

// ErrModelFormat is returned by LoadClassifier for a file that is not a
// well-formed classifier model. Check with errors.Is.
var ErrModelFormat = errors.New("malformed model")

type modelFile struct {
	Format  string             `json:"format"`
	Version int                `json:"version"`
	Options TrainOptions       `json:"options"`
	Bias    float64            `json:"bias"`
	Dense   map[string]float64 `json:"dense"`
	Sparse  map[string]float64 `json:"sparse"`
}

// Save writes the model to w as JSON (see the format above). The output
// depends only on the model: keys are written in sorted order.
func (c *Classifier) Save(w io.Writer) error {
	m := modelFile{
		Format:  modelFormat,
		Version: c.version,
		Options: c.opts,
		Bias:    c.bias,
		Dense:   make(map[string]float64, numDense),
		Sparse:  make(map[string]float64, len(c.names)),
	}
	for k, name := range denseNames[:numDenseOf(c.version)] {
		m.Dense[name] = c.dense[k]
	}
	for j, name := range c.names {
		m.Sparse[name] = c.w[j]
	}
	enc := json.NewEncoder(w)
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("save sentiment model: %w", err)
	}
	return nil
}

// LoadClassifier reads a model written by Save. a supplies the VADER
// features (nil means NewAnalyzer()); it must use the lexicon the model was
// trained with. A file of format version 1 or 2 is read (see the format
// above); another version gives ErrModelVersion; a malformed file
// ErrModelFormat.
func LoadClassifier(r io.Reader, a *Analyzer) (*Classifier, error) {
	var m modelFile
	dec := json.NewDecoder(r)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("load sentiment model: %w: %w", ErrModelFormat, err)
	}
	if m.Format != modelFormat {
		return nil, fmt.Errorf("load sentiment model: %w: format %q, want %q", ErrModelFormat, m.Format, modelFormat)
	}
	if m.Version < minModelVersion || m.Version > modelVersion {
		return nil, fmt.Errorf("load sentiment model: %w: file has version %d, this program reads versions %d to %d", ErrModelVersion, m.Version, minModelVersion, modelVersion)
	}
	if err := m.Options.validate(); err != nil {
		return nil, fmt.Errorf("load sentiment model: %w: options: %w", ErrModelFormat, err)
	}
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	if !finite(m.Bias) {
		return nil, fmt.Errorf("load sentiment model: %w: bias %v is not finite", ErrModelFormat, m.Bias)
	}
	c, err := newClassifier(a, m.Version)
	if err != nil {
		return nil, fmt.Errorf("load sentiment model: %w", err)
	}
	c.opts, c.bias = m.Options, m.Bias
	nd := numDenseOf(m.Version)
	if len(m.Dense) != nd {
		return nil, fmt.Errorf("load sentiment model: %w: %d dense weights, want %d for version %d", ErrModelFormat, len(m.Dense), nd, m.Version)
	}
	for k, name := range denseNames[:nd] {
		x, ok := m.Dense[name]
		if !ok {
			return nil, fmt.Errorf("load sentiment model: %w: dense weight %q missing", ErrModelFormat, name)
		}
		if !finite(x) {
			return nil, fmt.Errorf("load sentiment model: %w: dense weight %q is not finite", ErrModelFormat, name)
		}
		c.dense[k] = x
	}
	c.names = make([]string, 0, len(m.Sparse))
	for name := range m.Sparse {
		c.names = append(c.names, name)
	}
	slices.Sort(c.names)
	c.w = make([]float64, len(c.names))
	for j, name := range c.names {
		x := m.Sparse[name]
		if !finite(x) {
			return nil, fmt.Errorf("load sentiment model: %w: weight of %q is not finite", ErrModelFormat, name)
		}
		c.w[j] = x
		c.vocab[name] = int32(j)
	}
	return c, nil
}
