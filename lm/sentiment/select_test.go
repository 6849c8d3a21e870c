package sentiment

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// innerTransfer trains on UCI source tr and returns the accuracy on source
// te, with the features of model version and the CLI's random source for
// seed 1.
func innerTransfer(t *testing.T, texts [3][]string, labels [3][]int, tr, te int, opts TrainOptions, version int, a *Analyzer) float64 {
	t.Helper()
	c, err := train(texts[tr], labels[tr], nil, opts, rand.NewPCG(1, 0), a, version)
	if err != nil {
		t.Fatal(err)
	}
	right := 0
	for i, s := range texts[te] {
		if c.Predict(s) == labels[te][i] {
			right++
		}
	}
	return float64(right) / float64(len(texts[te]))
}

// TestInnerValidation is the rule by which the defaults were chosen, run
// for each held-out source without looking at it: among candidate options
// and feature versions, score each by the mean accuracy of the two
// single-source transfers between the two training sources (train on one,
// test on the other), and check that the defaults (version 2, the opinion
// lexicon features) score within 0.005 of the best candidate for every
// held-out source.
func TestInnerValidation(t *testing.T) {
	a := NewAnalyzer()
	var texts [3][]string
	var labels [3][]int
	for k, f := range uciFiles {
		texts[k], labels[k] = readUCIRaw(t, f)
	}
	type cand struct {
		name    string
		opts    TrainOptions
		version int
	}
	d := DefaultTrainOptions()
	cands := []cand{{"defaults", d, modelVersion}, {"defaults, version-1 features", d, 1}}
	for _, l2 := range []float64{3e-3, 3e-2} {
		o := d
		o.L2 = l2
		cands = append(cands, cand{fmt.Sprintf("l2=%g", l2), o, modelVersion})
	}
	for _, ep := range []int{10, 40} {
		o := d
		o.Epochs = ep
		cands = append(cands, cand{fmt.Sprintf("epochs=%d", ep), o, modelVersion})
	}
	for _, mc := range []int{2} {
		o := d
		o.MinCount = mc
		cands = append(cands, cand{fmt.Sprintf("min-count=%d", mc), o, modelVersion})
	}
	for held := range 3 {
		var tr []int
		for k := range 3 {
			if k != held {
				tr = append(tr, k)
			}
		}
		best, bestName := -1.0, ""
		scores := make([]float64, len(cands))
		for i, c := range cands {
			s := (innerTransfer(t, texts, labels, tr[0], tr[1], c.opts, c.version, a) +
				innerTransfer(t, texts, labels, tr[1], tr[0], c.opts, c.version, a)) / 2
			scores[i] = s
			t.Logf("held out %s: %-30s inner accuracy %.4f", uciFiles[held], c.name, s)
			if s > best {
				best, bestName = s, c.name
			}
		}
		if scores[0] < best-0.005 {
			t.Errorf("held out %s: defaults score %.4f on the training sources, %s %.4f", uciFiles[held], scores[0], bestName, best)
		}
	}
}
