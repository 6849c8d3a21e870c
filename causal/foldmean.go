package causal

import (
	"fmt"

	"gonum.org/v1/gonum/mat"
)

// FoldMeanModel predicts the mean effect of models fitted on the folds of
// a cross-fitting (each on all rows but one fold's):
//
//	τ̂(x) = (1/K)·Σ_k τ̂_k(x).
//
// AutoEstimator keeps one in place of a refit on all rows when it
// averages its candidates' fold models (AutoRefitFolds): the mean of K
// fits on overlapping subsamples varies less than one fit on all rows
// for estimators whose fits are unstable on small data (networks,
// boosting, trees). It is saved under kind "fold-mean".
type FoldMeanModel struct {
	// Models are the folds' models.
	Models []savedUplift `json:"models"`
}

// Kind implements Kinded.
func (m *FoldMeanModel) Kind() string { return "fold-mean" }

// Validate checks that a decoded model has models.
func (m *FoldMeanModel) Validate() error {
	if len(m.Models) == 0 {
		return fmt.Errorf("fold mean without models")
	}
	for i, f := range m.Models {
		if f.UpliftModel == nil {
			return fmt.Errorf("fold mean: model %d is missing", i+1)
		}
	}
	return nil
}

// Effects implements UpliftModel.
func (m *FoldMeanModel) Effects(dst, x *mat.Dense) *mat.Dense {
	var buf *mat.Dense
	for i, f := range m.Models {
		if i == 0 {
			dst = f.Effects(dst, x)
			continue
		}
		buf = f.Effects(buf, x)
		dst.Add(dst, buf)
	}
	dst.Scale(1/float64(len(m.Models)), dst)
	return dst
}
