package receval

import (
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
)

// DLCE ranks by causal.DLCE, the unbiased learner of the causal effect
// of recommendation of Sato et al. (2020), whose doc comment gives the
// score and the loss: it is fitted on the log's rows with the log's user
// and item indexes as the id columns, and the host serves the same model
// as the estimator "dlce". The settings are causal.DLCE's, whose zero
// value takes the defaults; FitModel sets UserCol and ItemCol to the id
// columns it adds.
type DLCE struct {
	causal.DLCE
}

// DLCEModel is a fitted DLCE scorer.
type DLCEModel struct {
	train *Log
	model *causal.DLCEModel
}

// Fit implements Ranker.
func (d DLCE) Fit(train *Log, src rand.Source) (Scorer, error) {
	return d.FitModel(train, src)
}

// FitModel fits DLCE on train. Bad settings are an ErrInput error.
func (d DLCE) FitModel(train *Log, src rand.Source) (*DLCEModel, error) {
	n := train.Len()
	nf := len(train.FeatureNames)
	x := withIDs(train, nil, n, nf, func(r int) (float64, float64) {
		return float64(train.User[r]), float64(train.Item[r])
	})
	p := make([]float64, n)
	for r, t := range train.Treated {
		p[r] = train.Propensity[r]
		if t == 0 {
			p[r] = 1 - p[r]
		}
	}
	est := d.DLCE
	est.UserCol, est.ItemCol = nf, nf+1
	m, err := est.Fit(causal.UpliftData{X: x, Treatment: train.Treated, Arms: 1, Y: train.Outcome, Propensity: p}, src)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	return &DLCEModel{train: train, model: m}, nil
}

// withIDs returns the n×(nf+2) matrix of the features of l (aligned to
// the training log's when aligned is non-nil) followed by the user and
// item codes that ids gives for each row.
func withIDs(l *Log, aligned *mat.Dense, n, nf int, ids func(r int) (float64, float64)) *mat.Dense {
	src := l.X
	if aligned != nil {
		src = aligned
	}
	x := mat.NewDense(n, nf+2, nil)
	for r := range n {
		row := x.RawRowView(r)
		if nf > 0 {
			copy(row, src.RawRowView(r))
		}
		row[nf], row[nf+1] = ids(r)
	}
	return x
}

// Score implements Scorer. Unseen users and items contribute no factor
// or bias term.
func (m *DLCEModel) Score(l *Log) ([]float64, error) {
	nf := len(m.train.FeatureNames)
	var aligned *mat.Dense
	if nf > 0 {
		var err error
		if aligned, err = AlignFeatures(m.train, l); err != nil {
			return nil, err
		}
	}
	uidx := index(m.train.Users, l.Users)
	iidx := index(m.train.Items, l.Items)
	x := withIDs(l, aligned, l.Len(), nf, func(r int) (float64, float64) {
		return float64(uidx[l.User[r]]), float64(iidx[l.Item[r]])
	})
	return mat.Col(nil, 0, m.model.Effects(nil, x)), nil
}

// index maps each id of ids to its index in known, or −1.
func index(known, ids []string) []int {
	pos := make(map[string]int, len(known))
	for i, id := range known {
		pos[id] = i
	}
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = -1
		if v, ok := pos[id]; ok {
			out[i] = v
		}
	}
	return out
}
