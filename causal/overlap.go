package causal

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// OverlapClip is the propensity bound of the overlap check: a row whose
// estimated probability of its treated arm (against control) is at most
// OverlapClip or at least 1 − OverlapClip is one the data compare with few
// units of the other group. It is auto's default clip.
const OverlapClip = 0.05

// OverlapWarn is the share of rows at the bounds above which the overlap
// check warns (AutoOverlapWarn for auto's own selection rows).
const OverlapWarn = AutoOverlapWarn

// DefaultOverlapRows is the number of rows the overlap check fits on when
// OverlapOptions.MaxRows is 0: enough to place a share of 10% within
// about ±0.4% (one standard error), and a fraction of a second of fits.
const DefaultOverlapRows = 5000

// OverlapOptions configures Overlap. The zero value is usable.
type OverlapOptions struct {
	// Learner fits the propensity (nil means auto's nuisance learner,
	// shallow boosting).
	Learner Learner
	// Folds is the number of cross-fitting folds (0 means 3).
	Folds int
	// Clip is the bound c (0 means OverlapClip).
	Clip float64
	// MaxRows bounds the rows used: on more, about MaxRows are drawn at
	// random stratified by arm (each arm keeps its share, rounded, so one
	// or two more may be drawn); 0 means DefaultOverlapRows, negative all.
	MaxRows int
}

// OverlapReport is the outcome of Overlap.
type OverlapReport struct {
	// Rows is the number of rows the check used, Clip its bound c.
	Rows int
	Clip float64
	// Logged says whether the logged propensities were read rather than
	// a propensity model fitted.
	Logged bool
	// Clipped[k] is, for treated arm k+1, the share of the rows of that
	// arm and control whose propensity e(x) = P(t = k+1 | x, t ∈ {0, k+1})
	// is ≤ c or ≥ 1 − c.
	Clipped []float64
}

// Overlap measures how much of the data lies where treatment or control
// is nearly certain. Per treated arm k it cross-fits ê(x) = P(t = k | x,
// t ∈ {0, k}) on the rows of arm k and control (or takes the logged
// propensity, with one treated arm) and reports the share of those rows
// with ê ≤ c or ≥ 1 − c. Effects for such rows are extrapolations of every
// estimator: the data hold few units of the other group like them. The
// check reads only the features and the arms, so it applies to any
// estimator's training data.
func Overlap(d UpliftData, o OverlapOptions, src rand.Source) (*OverlapReport, error) {
	if err := metaCheck(d); err != nil {
		return nil, fmt.Errorf("overlap: %w", err)
	}
	// The check's own defaults, then the meta-learners' validation.
	folds, clip := o.Folds, o.Clip
	if folds == 0 {
		folds = 3
	}
	if clip == 0 {
		clip = OverlapClip
	}
	folds, err := metaCheckFolds(folds)
	if err != nil {
		return nil, fmt.Errorf("overlap: %w", err)
	}
	if clip, err = metaCheckClip(clip); err != nil {
		return nil, fmt.Errorf("overlap: %w", err)
	}
	l := o.Learner
	if l == nil {
		l = autoNuisanceGBT
	}
	l = metaBase(l, d.Categorical)
	rng := rand.New(src)
	limit := o.MaxRows
	if limit == 0 {
		limit = DefaultOverlapRows
	}
	n, _ := d.X.Dims()
	if limit > 0 && limit < n {
		d = cmpSubset(d, autoSubsample(d.Treatment, d.Arms, limit, rng))
		n, _ = d.X.Dims()
	}
	rep := &OverlapReport{Rows: n, Clip: clip, Logged: d.Propensity != nil && d.Arms == 1, Clipped: make([]float64, d.Arms)}
	for k := 1; k <= d.Arms; k++ {
		a := metaSplitArm(d, k)
		f := metaFolds(a.t, folds, rng)
		e, err := metaPropensity(&a, l, f, folds, clip, rng, src)
		if err != nil {
			return nil, fmt.Errorf("overlap: arm %d: %w", k, err)
		}
		rep.Clipped[k-1] = clippedShare(e, clip)
	}
	return rep, nil
}

// clippedShare is the share of e at or beyond the bounds c and 1 − c.
func clippedShare(e []float64, clip float64) float64 {
	at := 0
	for _, v := range e {
		if v <= clip || v >= 1-clip {
			at++
		}
	}
	return float64(at) / float64(max(1, len(e)))
}

// Warning returns a sentence when more than OverlapWarn of some arm's rows
// are at the bounds, else "".
func (r *OverlapReport) Warning() string {
	if r == nil {
		return ""
	}
	kind := "an estimated"
	if r.Logged {
		kind = "a logged"
	}
	return overlapWarning(r.Clipped, r.Clip, "rows", kind)
}

// Metadata returns the report as a model's metadata: overlap_clipped (per
// treated arm, comma-separated), overlap_rows, and overlap_warning when
// Warning has one.
func (r *OverlapReport) Metadata() map[string]string {
	if r == nil {
		return nil
	}
	out := map[string]string{"overlap_clipped": autoFmts(r.Clipped), "overlap_rows": strconv.Itoa(r.Rows)}
	if w := r.Warning(); w != "" {
		out["overlap_warning"] = w
	}
	return out
}

// overlapWarning is the weak-overlap sentence for per-arm shares clipped
// at bound clip, of the rows named by what, whose propensity is of kind
// ("an estimated" or "a logged").
func overlapWarning(clipped []float64, clip float64, what, kind string) string {
	var arms []string
	worst := 0.0
	for k, v := range clipped {
		if v > OverlapWarn {
			arms = append(arms, strconv.Itoa(k+1))
			worst = max(worst, v)
		}
	}
	if len(arms) == 0 {
		return ""
	}
	return fmt.Sprintf("weak overlap: up to %.1f%% of the %s (treated arm %s) have %s propensity at the clip bounds %s and %s; the data compare few units there, so effects for such rows are extrapolations",
		100*worst, what, strings.Join(arms, ", "), kind, autoFmt(clip), autoFmt(1-clip))
}
