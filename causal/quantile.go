package causal

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// QuantileUplift is the observed uplift of one bin of units ranked by
// predicted uplift; see UpliftByQuantile.
type QuantileUplift struct {
	// Bin is the bin's rank, 1 for the units with the highest scores.
	Bin int
	// N, Treated and Control are the total weights of the bin's units and
	// of its treated and control units.
	N, Treated, Control float64
	// MeanTreated and MeanControl are the (weighted) mean outcomes of the
	// bin's treated and control units; NaN for a side without units.
	MeanTreated, MeanControl float64
	// Uplift is MeanTreated − MeanControl and SE its standard error
	// hypot(se_t, se_c) (MeanSE of each side; NaN with fewer than two
	// units on a side).
	Uplift, SE float64
	// MeanScore is the (weighted) mean score of the bin: the predicted
	// uplift when the score is one.
	MeanScore float64
}

// UpliftByQuantile ranks the units by score, highest first, cuts the
// ranking into bins of (nearly) equal numbers of units and returns each
// bin's observed uplift, the difference of the mean outcomes of its treated
// and control units, with its standard error: scikit-uplift's
// uplift_by_percentile (strategy "by_group") with bins = 10 for deciles.
// Ties in score are broken by row order. weights may be nil.
func UpliftByQuantile(score []float64, treatment []int, y, weights []float64, bins int) ([]QuantileUplift, error) {
	if err := metricCheck(score, treatment, y, weights); err != nil {
		return nil, err
	}
	n := len(y)
	if bins < 1 || bins > n {
		return nil, fmt.Errorf("%w: %d bins for %d units", ErrInput, bins, n)
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(score[b], score[a]) })
	out := make([]QuantileUplift, bins)
	var side [2][]float64
	var sideW [2][]float64
	for b := range out {
		lo, hi := b*n/bins, (b+1)*n/bins
		q := QuantileUplift{Bin: b + 1}
		side[0], side[1] = side[0][:0], side[1][:0]
		sideW[0], sideW[1] = sideW[0][:0], sideW[1][:0]
		var sw, ss float64
		for _, i := range order[lo:hi] {
			w := 1.0
			if weights != nil {
				w = weights[i]
			}
			s := treatment[i]
			side[s] = append(side[s], y[i])
			sideW[s] = append(sideW[s], w)
			sw += w
			ss += w * score[i]
		}
		q.N, q.MeanScore = sw, ss/sw
		var se [2]float64
		means := [2]float64{math.NaN(), math.NaN()}
		for s := range 2 {
			var w []float64
			if weights != nil {
				w = sideW[s]
			}
			for _, v := range sideW[s] {
				if s == 1 {
					q.Treated += v
				} else {
					q.Control += v
				}
			}
			if len(side[s]) > 0 {
				means[s], se[s] = MeanSE(side[s], w)
			} else {
				se[s] = math.NaN()
			}
		}
		q.MeanTreated, q.MeanControl = means[1], means[0]
		q.Uplift, q.SE = means[1]-means[0], math.Hypot(se[1], se[0])
		out[b] = q
	}
	return out, nil
}
