package causal

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultAutoBudget is the registry's default time budget of auto
// (AutoEstimator.Budget): the whole fit aims at three times the full-data
// fit of the candidate it would choose.
const DefaultAutoBudget = 3

// autoBudgetRows is how many times the selection rows the data must hold
// for the time budget to apply. Below it a candidate's fit on all rows
// costs less than about five times its cross-fitting on the subsample, so
// the selection, bounded by the subsample, is most of the cost, and a
// budget would only cut the search (on 100,000 rows of the reference
// data, five times the default selection rows, it left only the anchor).
const autoBudgetRows = 10

// autoBudgets says whether the time budget applies to n rows of which ns
// are used for selection.
func autoBudgets(budget float64, n, ns int) bool {
	return budget > 0 && int64(ns)*autoBudgetRows < int64(n)
}

// autoBudgetAim is the share of the budget the selection plans for. The
// full-data fit times it plans with are predicted from times on the
// subsample and are rough (a fixed cost per fit grows with the rows in the
// prediction; on fewer than 6,666 training rows a network runs more
// epochs than on all rows), so it leaves a margin.
const autoBudgetAim = 0.8

// errAutoBudget ends a candidate's cross-fitting that would take the fit
// over its time budget.
var errAutoBudget = errors.New("over the time budget")

// autoBudget is AutoEstimator's time budget on data of more than
// autoBudgetRows times its selection rows. The unit is the predicted full-data fit time of the
// lead, the candidate with the lowest loss so far (measured for the
// anchor, the first candidate, which is fitted on all rows first); the
// fit plans for autoBudgetAim·factor units in all, the lead's refit
// included.
type autoBudget struct {
	factor float64
	start  time.Time
	// rows is n / (ns·(folds−1)): the full data's rows over the rows
	// a candidate's cross-fitting trains on; scale is rows calibrated
	// by the anchor (its full-data fit time over its cross-fitting
	// time, within [rows/4, 4·rows]).
	rows, scale float64
	// unit is the lead's full-data fit time in seconds (measured for
	// the anchor, predicted for others); reserve the part of it still
	// to spend (zero when the lead is the anchor, already fitted).
	unit, reserve float64
	anchor        UpliftModel // the first candidate fitted on all rows
	anchorSeconds float64
}

// left returns the seconds the selection may still spend.
func (b *autoBudget) left() float64 {
	return autoBudgetAim*b.factor*b.unit - time.Since(b.start).Seconds() - b.reserve
}

// predict returns the full-data fit time of a candidate whose
// cross-fitting on the subsample took cf seconds.
func (b *autoBudget) predict(cf float64) float64 { return b.scale * cf }

// calibrate sets the scale from the anchor's cross-fitting time cf.
func (b *autoBudget) calibrate(cf float64) {
	b.scale = b.rows
	if cf > 0 {
		b.scale = min(max(b.anchorSeconds/cf, b.rows/4), 4*b.rows)
	}
}

// lead makes candidate c, whose cross-fitting took cf seconds, the lead.
func (b *autoBudget) lead(c int, cf float64) {
	if c == 0 {
		b.unit, b.reserve = b.anchorSeconds, 0
		return
	}
	b.unit = b.predict(cf)
	b.reserve = b.unit
}

// within returns src with a stop signal that fires secs seconds from now.
func (b *autoBudget) within(src rand.Source, secs float64) rand.Source {
	end := time.Now().Add(time.Duration(secs * float64(time.Second)))
	return WithStop(src, func() error {
		if time.Now().After(end) {
			return errAutoBudget
		}
		return nil
	})
}

// autoCostRank orders candidates by their usual fit cost, cheapest first:
// learners over the linear base, then shallow boosting (trees=200,
// depth=2) and other learners over gbt, the uplift forest, the causal
// forest, and the networks (tarnet, dragonnet, an mlp base) last; an
// estimator it does not know ranks with the causal forest.
func autoCostRank(c AutoCandidate) int {
	base := c.Params["base"]
	switch {
	case c.Estimator == "tarnet" || c.Estimator == "dragonnet" || base == "mlp":
		return 5
	case c.Estimator == "causal-forest":
		return 4
	case c.Estimator == "uplift-forest":
		return 3
	case base == "linear" && c.Params["propensity"] != "gbt" && c.Params["outcome_base"] != "gbt":
		return 0
	case base == "gbt" && c.Params["depth"] == "2":
		return 1
	case base == "gbt":
		return 2
	}
	return 4
}

// autoByCost returns specs stably sorted by autoCostRank.
func autoByCost(specs []AutoCandidate) []AutoCandidate {
	out := slices.Clone(specs)
	slices.SortStableFunc(out, func(a, b AutoCandidate) int { return autoCostRank(a) - autoCostRank(b) })
	return out
}

// ParseAutoBudget reads auto's budget parameter: "off" (or 0) for none, or
// a factor above 1.
func ParseAutoBudget(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "off") {
		return 0, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v == 0 || v > 1) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%w: budget=%s, want off or a factor above 1", ErrParam, s)
	}
	return v, nil
}
