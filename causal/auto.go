package causal

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"
)

// AutoCriterion is the validation loss AutoEstimator ranks candidates by.
type AutoCriterion int

const (
	// RLoss (the zero value) is the R-loss of Nie and Wager (2021),
	//
	//	L_R(τ) = Σ w_i·((y_i − m̂(x_i)) − (t_i − ê(x_i))·τ(x_i))² / Σ w_i,
	//
	// with out-of-fold nuisances m̂(x) = E[y | x] and ê(x) = P(t=1 | x).
	RLoss AutoCriterion = iota
	// DRLoss is the squared error against the doubly robust (AIPW)
	// pseudo-outcome φ of AIPWScores,
	//
	//	L_DR(τ) = Σ w_i·(φ_i − τ(x_i))² / Σ w_i,
	//
	// with out-of-fold nuisances μ̂_0, μ̂_1 and ê.
	DRLoss
	// MixedLoss mixes the R-loss and the DR-loss, each divided by its
	// loss at the constant effect (s_R, s_D): per row
	//
	//	(1 − α)·((y − m̂) − (t − ê)τ)²/s_R + α·(φ − τ)²/s_D,
	//
	// with α = AutoEstimator.Mix, a square in τ with weight
	// W = (1 − α)(t − ê)²/s_R + α/s_D around the weighted mean of the
	// two targets (plus a term free of τ, left out). The R-loss weighs
	// each unit by about ê(1 − ê) and so barely sees the units whose
	// treatment is nearly certain, where the error is also measured; the
	// DR-loss sees them but is noisy where the noise is large.
	MixedLoss
)

// DefaultAutoMix is the registry's default DR-loss share of MixedLoss.
const DefaultAutoMix = 0.25

// DefaultAutoQAgg is the registry's default share ν of Q-aggregation's
// spread penalty in the convex stack's weights (AutoEstimator.QAgg).
const DefaultAutoQAgg = 0.5

// DefaultAutoMixOverlap is the registry's default rate at which the
// DR-loss's share grows with the share of selection rows at the
// propensity clip bounds (AutoEstimator.MixOverlap).
const DefaultAutoMixOverlap = 5

// DefaultAutoPreferSelect is the registry's default shift of the choice
// between the stack and the single candidate (AutoEstimator.PreferSelect):
// the single candidate replaces the stack only when its nested loss is
// lower by more than two standard errors.
const DefaultAutoPreferSelect = -1

// autoMixMax bounds the DR-loss's share that AutoEstimator.MixOverlap
// reaches.
const autoMixMax = 0.75

// String returns "r-loss" or "dr-loss".
func (c AutoCriterion) String() string {
	switch c {
	case RLoss:
		return "r-loss"
	case DRLoss:
		return "dr-loss"
	case MixedLoss:
		return "mixed-loss"
	}
	return "criterion(" + strconv.Itoa(int(c)) + ")"
}

// ParseAutoCriterion reads "r" / "r-loss" or "dr" / "dr-loss".
func ParseAutoCriterion(s string) (AutoCriterion, error) {
	switch strings.ToLower(s) {
	case "r", "r-loss":
		return RLoss, nil
	case "dr", "dr-loss":
		return DRLoss, nil
	case "mixed", "mixed-loss":
		return MixedLoss, nil
	}
	return 0, fmt.Errorf("%w: criterion %q, want r-loss, dr-loss or mixed-loss", ErrParam, s)
}

// AutoPropensity is where AutoEstimator's loss takes the propensity ê
// from when the data log none.
type AutoPropensity int

const (
	// PropensityModel cross-fits ê with the nuisance learner.
	PropensityModel AutoPropensity = iota
	// PropensityConstant takes, for a row in fold f, the arm's
	// (weighted) share of the rows outside f: the propensity of a
	// randomised trial.
	PropensityConstant
	// PropensitySelect keeps the learner's ê only when its out-of-fold
	// log-loss is lower than the constant's by more than one standard
	// error of the per-row difference, a one-standard-error rule toward
	// the constant (see autoPrefersConstant).
	PropensitySelect
)

// DefaultAutoPropensity is the registry's default AutoEstimator.Propensity.
const DefaultAutoPropensity = PropensityModel

// String returns "model", "constant" or "select".
func (p AutoPropensity) String() string {
	switch p {
	case PropensityModel:
		return "model"
	case PropensityConstant:
		return "constant"
	case PropensitySelect:
		return "select"
	}
	return "propensity(" + strconv.Itoa(int(p)) + ")"
}

// ParseAutoPropensity reads "model", "constant" or "select".
func ParseAutoPropensity(s string) (AutoPropensity, error) {
	for _, p := range []AutoPropensity{PropensityModel, PropensityConstant, PropensitySelect} {
		if strings.EqualFold(s, p.String()) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("%w: propensity=%s, want model, constant or select", ErrParam, s)
}

// autoTieWeight is the weight of the candidate with the lowest loss in a
// stack where no candidate earns a weight: small enough to leave the
// constant effect's accuracy, large enough to order the units.
const autoTieWeight = 0.01

// autoNuisanceGBT is AutoEstimator's default nuisance learner: shallow
// boosting as in AutoShallowGBT. Deeper trees fit noise in the
// propensity, and an error ê − e in the R-loss's (t − ê)·τ̂ rewards
// candidates that shrink τ̂.
var autoNuisanceGBT = GBT{MaxDepth: 2, LearningRate: 0.05, MaxIter: 200, MinSamplesLeaf: 40}

// DefaultAutoBags is the registry's default number of bootstrap
// resamples of the stacking weights (AutoEstimator.Bags).
const DefaultAutoBags = 20

// DefaultAutoRows is AutoEstimator's default limit on the rows used for
// selection.
const DefaultAutoRows = 20000

// AutoSmallRows is the most selection rows on which AutoEstimator's
// default folds are 5 rather than 3. On few rows a candidate's
// out-of-fold fit on (folds−1)/folds of them is a poorer stand-in for
// its refit on all of them, and every fit is cheap.
const AutoSmallRows = 5000

// AutoMaxCVReps bounds AutoEstimator.CVReps.
const AutoMaxCVReps = 10

// DefaultAutoCVReps is auto's number of fold partitions of the
// cross-fitting on at most AutoSmallRows selection rows (1 above): on
// a few hundred rows one partition's luck moves the candidates' losses
// and the stack's weights as much as their differences, and every fit
// is cheap.
const DefaultAutoCVReps = 3

// autoCVReps returns the default number of fold partitions for ns
// selection rows.
func autoCVReps(ns int) int {
	if ns > AutoSmallRows {
		return 1
	}
	return DefaultAutoCVReps
}

// AutoOverlapWarn is the share of selection rows with the estimated
// propensity at a clip bound above which AutoModel.Report warns: there
// treatment (or control) is nearly certain, the data hold few
// comparisons, and every candidate's effect is an extrapolation.
const AutoOverlapWarn = 0.1

// autoFolds returns the default number of folds for the selection rows
// with treatments t (arms 0..arms): 5 up to AutoSmallRows rows, else 3;
// never more than the rows of the smallest arm, unless that is below 3
// (the cross-fitting then reports the arm as too small). The treatments
// are in range: Fit checked them (metaCheck) before choosing the folds.
func autoFolds(t []int, arms int) int {
	if len(t) > AutoSmallRows {
		return 3
	}
	count := make([]int, arms+1)
	for _, v := range t {
		count[v]++
	}
	return max(3, min(5, slices.Min(count)))
}

// AutoEstimator chooses an uplift estimator by cross-validation and fits
// it on all the data. Selection runs on a stratified random subsample of
// at most MaxRows rows (all rows when there are fewer):
//
//  1. the nuisance models are cross-fitted on the subsample with Folds
//     folds (per treated arm k, on the rows of arm k and control):
//     m̂(x) = E[y | x], μ̂_0, μ̂_1 and ê(x) = P(t=k | x) (the logged
//     propensity when the data has one arm and a Propensity column; the
//     arm's share instead of the learner's ê as Propensity says),
//     clipped to [Clip, 1−Clip];
//  2. every candidate gives out-of-fold effects τ̂ (CrossFitEffects with
//     Folds folds, the same folds and fold seeds for every candidate),
//     on CVReps fold partitions;
//  3. each candidate's loss (RLoss or DRLoss, see AutoCriterion) is
//     averaged over the arms, and the candidate with the smallest loss
//     wins; a candidate whose fit fails is skipped and reported;
//  4. the winner is refitted on all rows.
//
// The fitted AutoModel records every candidate's loss and standard error
// and the loss of a zero and of a constant effect for reference. The cost
// is about Folds+1 fits of each candidate on the subsample plus one fit
// of the winner on all rows.
type AutoEstimator struct {
	// Candidates are the estimators to choose among (nil means
	// DefaultAutoCandidates for the data).
	Candidates []NamedEstimator
	// Criterion is the validation loss (RLoss, the zero value; the
	// registry's default is MixedLoss with Mix 0.25).
	Criterion AutoCriterion
	// Nuisance fits the nuisance models of the loss (nil means shallow
	// boosting: GBT with the settings of AutoShallowGBT).
	Nuisance Learner
	// Folds is the number of cross-validation folds (0 means 5 on at
	// most AutoSmallRows selection rows, or the smallest arm's rows when
	// fewer but at least 3; else 3).
	Folds int
	// MaxRows limits the rows used for selection (0 means
	// DefaultAutoRows; negative means all rows).
	MaxRows int
	// Clip bounds the propensity in the loss to [Clip, 1−Clip]; zero
	// means 0.05.
	Clip float64
	// Combine says whether the best candidate is refitted (AutoSelect,
	// the zero value) or the candidates are stacked (AutoStack).
	Combine AutoCombine
	// Members bounds the candidates a stack keeps (0 means
	// DefaultAutoMembers).
	Members int
	// Bags is the number of bootstrap resamples whose stacking weights
	// are averaged (0 means none: one fit on all selection rows).
	Bags int
	// Convex makes the stack a convex combination: the candidates'
	// weights and the weight of the constant effect fitted alone sum to
	// 1 (the registry's default, weights=convex). Otherwise (the zero
	// value, weights=nonneg) the weights are any non-negative values and
	// the constant effect is free.
	Convex bool
	// Mix is the DR-loss's share α of MixedLoss, (1 − α)·R/s_R +
	// α·DR/s_D (0 means DefaultAutoMix).
	Mix float64
	// MixOverlap raises the DR-loss's share with the arm's share c of
	// selection rows at the propensity clip bounds (see
	// AutoModel.Clipped): α = max(Mix, min(Mix + MixOverlap·c,
	// autoMixMax)). 0 keeps α at Mix; the registry's default is
	// DefaultAutoMixOverlap.
	MixOverlap float64
	// PreferSelect shifts the choice between the stack and the single
	// candidate (step 6): the single choice replaces the stack when its
	// nested loss is lower by more than 1 − PreferSelect standard errors
	// of the per-row difference. 0 is the one-standard-error rule in the
	// stack's favour, 1 takes the lower nested loss, 2 keeps the stack
	// only when it is lower by more than one standard error; the
	// registry's default is DefaultAutoPreferSelect (two standard errors).
	PreferSelect float64
	// QAgg is the share ν in [0, 1) of Q-aggregation's penalty in the
	// convex stack's weights (with Convex only): they minimise
	// (1 − ν)·L(Σ_k β_k τ̂_k) + ν·Σ_k β_k·L(τ̂_k), the loss plus ν times
	// the members' spread about the stack, which keeps weight off
	// members that disagree with the rest unless they lower the loss by
	// more. 0 (the zero value) is plain convex stacking; the registry's
	// default is DefaultAutoQAgg.
	QAgg float64
	// Propensity says where the loss's ê comes from when the data log
	// none: the nuisance learner (PropensityModel, the zero value), the
	// arm's share (PropensityConstant, as in a randomised trial), or the
	// learner only when it beats the share (PropensitySelect).
	Propensity AutoPropensity
	// Budget bounds the fit's time on data with more than ten times the
	// selection rows (0 means no bound; see DefaultAutoBudget and
	// autoBudgetRows): the whole fit aims at
	// Budget times the full-data fit time of the candidate with the
	// lowest loss so far. The first candidate, the anchor, is then
	// fitted on all rows before the selection, which measures the unit;
	// every other candidate's full-data fit time is predicted from its
	// cross-fitting time, scaled as the anchor's. A candidate's
	// cross-fitting is stopped, and the candidate skipped, when it would
	// take the fit past 0.8·Budget units (the margin covers the
	// predictions' error) with the lead's refit still to come; the
	// candidates after it are skipped without being started, and a stack
	// keeps only members whose refits fit in what is left. List the
	// candidates cheapest first: the registry's auto sorts them by their
	// usual cost (autoCostRank). On smaller data the budget plays no
	// part.
	Budget float64
	// CVReps is the number R of fold partitions of the cross-fitting
	// (0 means DefaultAutoCVReps on at most AutoSmallRows selection rows
	// and 1 above): every candidate is cross-fitted on R random
	// partitions into Folds folds, and the losses, the stack's weights
	// and the nested comparison use the R out-of-fold effects of every
	// row, each row's copies kept in one nested fold. It takes the
	// partition's noise out of the candidates' losses at R times their
	// cross-fitting cost. Under a time budget it is 1.
	CVReps int
}

// AutoScore is one candidate's validation result.
type AutoScore struct {
	// Name is the candidate's name.
	Name string `json:"name"`
	// Loss is the candidate's validation loss averaged over arms; NaN
	// (saved as null) when its fit failed.
	Loss float64 `json:"-"`
	// SE is the standard error of the loss difference between this
	// candidate and the winner (zero for the winner).
	SE float64 `json:"-"`
	// Err is the fit error of a candidate that failed.
	Err string `json:"err,omitempty"`
	// Skipped says why a candidate was not scored although it did not
	// fail: its cross-fitting was stopped, or never started, to keep
	// the fit within its time budget.
	Skipped string `json:"-"`
	// Seconds is the wall time of the candidate's cross-fitting on the
	// selection rows, and RefitSeconds that of its refit on all rows
	// (zero when it was not refitted).
	Seconds, RefitSeconds float64 `json:"-"`
	// Weights holds the candidate's stacking weight per treated arm (nil
	// when it is not in the stack).
	Weights []float64 `json:"-"`
}

// MarshalJSON writes NaN losses as null.
func (s AutoScore) MarshalJSON() ([]byte, error) {
	type plain struct {
		Name         string    `json:"name"`
		Loss         *float64  `json:"loss"`
		SE           *float64  `json:"se"`
		Err          string    `json:"err,omitempty"`
		Skipped      string    `json:"skipped,omitempty"`
		Seconds      float64   `json:"seconds,omitempty"`
		RefitSeconds float64   `json:"refit_seconds,omitempty"`
		Weights      []float64 `json:"weights,omitempty"`
	}
	return json.Marshal(plain{s.Name, jsonNum(s.Loss), jsonNum(s.SE), s.Err, s.Skipped, s.Seconds, s.RefitSeconds, s.Weights})
}

// UnmarshalJSON reads null losses as NaN.
func (s *AutoScore) UnmarshalJSON(b []byte) error {
	var p struct {
		Name string   `json:"name"`
		Loss *float64 `json:"loss"`
		SE   *float64 `json:"se"`
		Err  string   `json:"err"`

		Skipped      string    `json:"skipped"`
		Seconds      float64   `json:"seconds"`
		RefitSeconds float64   `json:"refit_seconds"`
		Weights      []float64 `json:"weights"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	s.Name, s.Err, s.Skipped, s.Loss, s.SE = p.Name, p.Err, p.Skipped, math.NaN(), math.NaN()
	s.Seconds, s.RefitSeconds, s.Weights = p.Seconds, p.RefitSeconds, p.Weights
	if p.Loss != nil {
		s.Loss = *p.Loss
	}
	if p.SE != nil {
		s.SE = *p.SE
	}
	return nil
}

// AutoModel is a fitted AutoEstimator, saved under kind "auto": the chosen
// model and the record of the selection.
type AutoModel struct {
	// Chosen is the name of the winning candidate.
	Chosen string `json:"chosen"`
	// Model is the winner refitted on all rows.
	Model savedUplift `json:"model"`
	// Criterion is the validation loss ("r-loss", "dr-loss" or
	// "mixed-loss").
	Criterion string `json:"criterion"`
	// Rows is the number of training rows; SelectionRows the number
	// used for selection; Folds the cross-validation folds.
	Rows          int `json:"rows"`
	SelectionRows int `json:"selection_rows"`
	Folds         int `json:"folds"`
	// CVReps is the number of fold partitions of the cross-fitting
	// (AutoEstimator.CVReps; absent when 1).
	CVReps int `json:"cv_reps,omitempty"`
	// Scores holds every candidate's result, in the order tried.
	Scores []AutoScore `json:"scores"`
	// ZeroLoss and ConstantLoss are the losses of τ = 0 and of τ equal
	// to the mean of the candidates' pseudo-outcome (the DR estimate of
	// the ATE), for reference.
	ZeroLoss     float64 `json:"zero_loss"`
	ConstantLoss float64 `json:"constant_loss"`
	// ATE is that DR estimate of the average effect of each treated arm
	// on the selection rows (absent in files saved before it was kept).
	ATE []float64 `json:"ate,omitempty"`
	// Clip is the propensity clip c of the loss, and Clipped, per treated
	// arm, the share of that arm's and control's selection rows whose
	// estimated propensity ê lies at c or 1 − c: rows where the data
	// compare few units and every effect is an extrapolation (absent in
	// files saved before it was kept).
	Clip    float64   `json:"clip,omitempty"`
	Clipped []float64 `json:"clipped,omitempty"`
	// Mix is, per treated arm, the DR-loss's share α of the mixed loss
	// (absent for the other criteria and in files saved before it was
	// kept).
	Mix []float64 `json:"mix,omitempty"`
	// Propensity is, per treated arm, the loss's propensity: "model"
	// (cross-fitted by the nuisance learner), "constant" (the arm's
	// share, by AutoEstimator.Propensity) or "logged"
	// (absent in files saved before it was kept).
	Propensity []string `json:"propensity,omitempty"`
	// SkippedConstant lists the candidates, better by loss than Chosen,
	// whose refit on all rows predicted one constant effect and so was
	// passed over.
	SkippedConstant []string `json:"skipped_constant,omitempty"`
	// Combine is "stack" when Model is a StackModel of the candidates
	// with Weights, "select" (or empty, in files saved before stacking)
	// when it is the single candidate Chosen.
	Combine string `json:"combine,omitempty"`
	// StackLoss is the stack's validation loss on the selection rows
	// (weights fitted on the same rows); StackCVLoss and SelectCVLoss are
	// the nested cross-validated losses of stacking and of choosing one
	// candidate, by which Combine was decided (zero when not computed).
	StackLoss float64 `json:"stack_loss,omitempty"`
	// StackShrink is the factor λ by which the stack was shrunk toward
	// the constant effect: λ·(c + Σ β_k τ̂_k) + (1 − λ)·c0, with c0 the
	// constant fitted alone; the weights and the constant saved are the
	// shrunk ones.
	StackShrink  float64 `json:"stack_shrink,omitempty"`
	StackCVLoss  float64 `json:"stack_cv_loss,omitempty"`
	SelectCVLoss float64 `json:"select_cv_loss,omitempty"`
	// Budget is the time budget's factor when one applied (see
	// AutoEstimator.Budget), BudgetUnit the anchor's full-data fit time
	// in seconds, and Seconds the fit's own wall time.
	Budget     float64 `json:"budget,omitempty"`
	BudgetUnit float64 `json:"budget_unit_seconds,omitempty"`
	Seconds    float64 `json:"seconds,omitempty"`
	// NuisanceSeconds is the wall time of the loss's nuisance fits on the
	// selection rows (absent in files saved before it was kept).
	NuisanceSeconds float64 `json:"nuisance_seconds,omitempty"`
}

// Kind implements Kinded.
func (m *AutoModel) Kind() string { return "auto" }

// OverlapWarning returns a sentence when more than AutoOverlapWarn of
// some arm's selection rows have ê at a clip bound, else "".
func (m *AutoModel) OverlapWarning() string {
	return overlapWarning(m.Clipped, m.Clip, "selection rows", "an estimated")
}

// Validate checks that a decoded model holds a chosen model.
func (m *AutoModel) Validate() error {
	if m.Model.UpliftModel == nil {
		return fmt.Errorf("auto model without a chosen model")
	}
	return nil
}

// Effects implements UpliftModel: the chosen model's effects.
func (m *AutoModel) Effects(dst, x *mat.Dense) *mat.Dense { return m.Model.Effects(dst, x) }

// Unwrap returns the chosen model. AutoModel itself gives no intervals;
// when the chosen model is an IntervalModel (the causal forest), use
// Unwrap's intervals, or wrap the auto estimator in Bootstrapped.
func (m *AutoModel) Unwrap() UpliftModel { return m.Model.UpliftModel }

// Report returns the selection record as flat metadata: auto_chosen,
// auto_criterion, auto_rows, auto_selection_rows, auto_folds,
// auto_cv_reps (with repeated cross-fitting),
// auto_combine, auto_reason, one auto_loss.NAME entry per candidate
// ("loss ± se" of the difference to the best candidate, or the fit error),
// auto_seconds.NAME (its cross-fitting time, plus its refit time when
// refitted) and, for a stack, auto_weight.NAME for every member (one
// weight per treated arm), auto_constant and the nested losses
// auto_stack_cv_loss and auto_select_cv_loss; auto_mix (per treated arm,
// the mixed loss's DR share α); auto_propensity (per treated arm, where
// the loss's ê came from: model, constant or logged); auto_clipped (per treated
// arm, the share of selection rows with ê at a clip bound) and, above
// AutoOverlapWarn, auto_overlap_warning (see OverlapWarning).
func (m *AutoModel) Report() map[string]string {
	combine := m.Combine
	if combine == "" {
		combine = AutoSelect.String()
	}
	out := map[string]string{
		"auto_chosen":         m.Chosen,
		"auto_criterion":      m.Criterion,
		"auto_rows":           strconv.Itoa(m.Rows),
		"auto_selection_rows": strconv.Itoa(m.SelectionRows),
		"auto_folds":          strconv.Itoa(m.Folds),
		"auto_loss.zero":      autoFmt(m.ZeroLoss),
		"auto_loss.constant":  autoFmt(m.ConstantLoss),
		"auto_combine":        combine,
	}
	if m.CVReps > 1 {
		out["auto_cv_reps"] = strconv.Itoa(m.CVReps)
	}
	if len(m.ATE) > 0 {
		out["auto_ate"] = autoFmts(m.ATE)
	}
	if len(m.Mix) > 0 {
		out["auto_mix"] = autoFmts(m.Mix)
	}
	if len(m.Propensity) > 0 {
		out["auto_propensity"] = strings.Join(m.Propensity, ",")
	}
	if len(m.Clipped) > 0 {
		out["auto_clipped"] = autoFmts(m.Clipped)
		if w := m.OverlapWarning(); w != "" {
			out["auto_overlap_warning"] = w
		}
	}
	var tried, skipped []string
	best, bestName := math.Inf(1), ""
	chosen := math.NaN()
	second, secondName := math.Inf(1), ""
	for _, s := range m.Scores {
		if s.Skipped == "" {
			tried = append(tried, s.Name)
		}
		if s.Seconds > 0 || s.RefitSeconds > 0 {
			v := strconv.FormatFloat(s.Seconds, 'f', 3, 64) + "s cross-fitting"
			if s.RefitSeconds > 0 {
				v += ", " + strconv.FormatFloat(s.RefitSeconds, 'f', 3, 64) + "s refit"
			}
			out["auto_seconds."+s.Name] = v
		}
		if s.Skipped != "" {
			out["auto_loss."+s.Name] = "skipped: " + s.Skipped
			skipped = append(skipped, s.Name)
			continue
		}
		if s.Err != "" && math.IsNaN(s.Loss) {
			out["auto_loss."+s.Name] = "failed: " + s.Err
			continue
		}
		out["auto_loss."+s.Name] = autoFmt(s.Loss) + " (diff se " + autoFmt(s.SE) + ")"
		if s.Loss < best {
			best, bestName = s.Loss, s.Name
		}
		if s.Name == m.Chosen {
			chosen = s.Loss
		} else if s.Loss < second {
			second, secondName = s.Loss, s.Name
		}
	}
	out["auto_tried"] = strings.Join(tried, ",")
	if m.Budget > 0 && len(m.Scores) > 0 {
		v := fmt.Sprintf("%s × the full-data fit of the candidate with the lowest loss (unit: %s on all rows, %ss)",
			autoFmt(m.Budget), m.Scores[0].Name, strconv.FormatFloat(m.BudgetUnit, 'f', 3, 64))
		if len(skipped) > 0 {
			v += "; skipped: " + strings.Join(skipped, ",")
		}
		out["auto_budget"] = v
	}
	if m.Seconds > 0 {
		out["auto_seconds"] = strconv.FormatFloat(m.Seconds, 'f', 3, 64) + "s"
	}
	if m.NuisanceSeconds > 0 {
		out["auto_nuisance_seconds"] = strconv.FormatFloat(m.NuisanceSeconds, 'f', 3, 64) + "s"
	}
	var reason string
	if combine == AutoStack.String() {
		var parts []string
		if st, ok := m.Model.UpliftModel.(*StackModel); ok {
			for _, mem := range st.Members {
				out["auto_weight."+mem.Name] = autoFmts(mem.Weights)
				parts = append(parts, mem.Name+" "+autoFmts(mem.Weights))
			}
			out["auto_constant"] = autoFmts(st.Constant)
			parts = append(parts, "constant "+autoFmts(st.Constant))
		}
		out["auto_stack_cv_loss"] = autoFmt(m.StackCVLoss)
		out["auto_select_cv_loss"] = autoFmt(m.SelectCVLoss)
		out["auto_stack_shrink"] = autoFmt(m.StackShrink)
		reason = fmt.Sprintf("stack of %s (share λ = %s of the stack against the constant effect, after shrinking): %s %s on %d of %d rows (%s), nested cross-validated %s (against %s choosing one candidate); best single candidate %s %s",
			strings.Join(parts, ", "), autoFmt(m.StackShrink), m.Criterion, autoFmt(m.StackLoss), m.SelectionRows, m.Rows, m.foldsText(), autoFmt(m.StackCVLoss), autoFmt(m.SelectCVLoss), bestName, autoFmt(best))
	} else {
		reason = fmt.Sprintf("lowest cross-validated %s %s on %d of %d rows (%s)", m.Criterion, autoFmt(chosen), m.SelectionRows, m.Rows, m.foldsText())
		if len(m.SkippedConstant) > 0 {
			out["auto_skipped_constant"] = strings.Join(m.SkippedConstant, ",")
			reason = fmt.Sprintf("lowest cross-validated %s %s on %d of %d rows (%s) among the candidates whose refit ranks (%s, better, predicted one constant effect)",
				m.Criterion, autoFmt(chosen), m.SelectionRows, m.Rows, m.foldsText(), strings.Join(m.SkippedConstant, ", "))
		}
		if m.SelectCVLoss > 0 {
			reason += fmt.Sprintf("; nested cross-validated %s of choosing one candidate %s, of stacking %s", m.Criterion, autoFmt(m.SelectCVLoss), autoFmt(m.StackCVLoss))
		}
		if secondName != "" {
			reason += fmt.Sprintf("; runner-up %s %s", secondName, autoFmt(second))
		}
	}
	reason += fmt.Sprintf("; constant effect %s, zero effect %s", autoFmt(m.ConstantLoss), autoFmt(m.ZeroLoss))
	if slices.Contains(m.Propensity, PropensityConstant.String()) {
		reason += "; the loss's propensity per treated arm: " + strings.Join(m.Propensity, ",") + " (constant: the arm's share)"
	}
	if len(skipped) > 0 {
		reason += fmt.Sprintf("; %d of %d candidates skipped to keep within the time budget (auto_budget)", len(skipped), len(m.Scores))
	}
	out["auto_reason"] = reason
	return out
}

// foldsText says how the selection rows were cross-fitted: "5 folds",
// or "5 folds × 2 partitions" with repeated cross-fitting.
func (m *AutoModel) foldsText() string {
	s := strconv.Itoa(m.Folds) + " folds"
	if m.CVReps > 1 {
		s += " × " + strconv.Itoa(m.CVReps) + " partitions"
	}
	return s
}

func autoFmts(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = autoFmt(x)
	}
	return strings.Join(s, ",")
}

func autoFmt(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// AutoCandidate names an estimator built from the registry: Estimator is
// a registry name and Params its parameters.
type AutoCandidate struct {
	Name      string
	Estimator string
	Params    map[string]string
}

// AutoShallowGBT is the parameter suffix of the shallow boosted-tree
// candidates of DefaultAutoCandidates: 200 trees of depth 2, learning rate
// 0.05, at least 40 rows a leaf, which suit effect surfaces learnt from a
// few thousand noisy rows better than GBT's defaults.
const AutoShallowGBT = ":depth=2:lr=0.05:trees=200:min_leaf=40"

// DefaultAutoCandidates returns the candidates AutoEstimator tries by
// default: the T-, X-, R- and DR-learners over the linear learner and over
// shallow boosted trees (AutoShallowGBT), the T- and S-learners over gbt
// with its defaults, the causal forest (500 trees), TARNet and DragonNet
// with their defaults and, when binary is true (every outcome is 0 or 1),
// the uplift forest (KL, 50 trees). Names are ParseAutoCandidate specs
// (e.g. "dr/linear", "causal-forest").
func DefaultAutoCandidates(binary bool) []AutoCandidate {
	var specs []string
	for _, est := range []string{"t", "x", "r", "dr"} {
		specs = append(specs, est+"/linear", est+"/gbt"+AutoShallowGBT)
	}
	specs = append(specs, "t/gbt", "s/gbt", "causal-forest:trees=500", "tarnet", "dragonnet")
	if binary {
		specs = append(specs, "uplift-forest:trees=50")
	}
	out := make([]AutoCandidate, len(specs))
	for i, s := range specs {
		c, err := ParseAutoCandidate(s)
		if err != nil {
			panic(err)
		}
		out[i] = c
	}
	return out
}

// DefaultAutoCandidatesFor returns the candidates AutoEstimator tries by
// default when it selects on rows rows: a strongly regularised linear
// R-learner ("r/gbt…:propensity=gbt:final=linear:l2=R", shallow boosted
// nuisances (outcome and propensity) and a
// linear effect whose ridge penalty R = max(rows, 100) outweighs the
// data's Σ(t − ê)² ≤ rows/4), then DefaultAutoCandidates. On up to 2,000
// rows the causal forest has 200 trees instead of 500 (its cost is linear
// in the trees), and t/gbt and s/gbt with gbt's defaults, the DR-learners
// and the shallow-boosted R-learner are left out: deep boosting overfits so
// few rows, the DR-learners' inverse-propensity pseudo-outcomes and the
// R-learner's boosted final stage are noisy on them, and on the Nie and
// Wager setups at n ≤ 1,000 none of them was the best candidate of a
// cell.
func DefaultAutoCandidatesFor(rows int, binary bool) []AutoCandidate {
	var out []AutoCandidate
	c, err := ParseAutoCandidate("r/gbt" + AutoShallowGBT + ":propensity=gbt:final=linear:l2=" + strconv.Itoa(max(rows, 100)))
	if err != nil {
		panic(err)
	}
	out = append(out, c)
	for _, c := range DefaultAutoCandidates(binary) {
		if rows <= 2000 {
			switch c.Name {
			case "t/gbt", "s/gbt", "dr/linear", "r/gbt" + AutoShallowGBT, "dr/gbt" + AutoShallowGBT:
				continue
			case "causal-forest:trees=500":
				c.Params["trees"] = "200"
				c.Name = "causal-forest:trees=200"
			}
		}
		out = append(out, c)
	}
	return out
}

// ParseAutoCandidate reads a candidate spec: an estimator name, optionally
// followed by "/base", then optionally by ":name=value" parameters of the
// estimator or its learners (for example "dr/gbt", "causal-forest",
// "x/gbt:depth=2:lr=0.05"). The spec is the candidate's name.
func ParseAutoCandidate(spec string) (AutoCandidate, error) {
	spec = strings.TrimSpace(spec)
	head, rest, _ := strings.Cut(spec, ":")
	est, base, ok := strings.Cut(head, "/")
	if est == "" || (ok && base == "") {
		return AutoCandidate{}, fmt.Errorf("%w: candidate %q, want estimator[/base][:name=value...]", ErrParam, spec)
	}
	c := AutoCandidate{Name: spec, Estimator: est, Params: map[string]string{}}
	if ok {
		c.Params["base"] = base
	}
	if rest != "" {
		kv, err := ParseParams(strings.Split(rest, ":"))
		if err != nil {
			return AutoCandidate{}, fmt.Errorf("candidate %q: %w", spec, err)
		}
		for k, v := range kv {
			if _, dup := c.Params[k]; dup {
				return AutoCandidate{}, fmt.Errorf("%w: candidate %q sets %s twice", ErrParam, spec, k)
			}
			c.Params[k] = v
		}
	}
	return c, nil
}

// Build makes the candidate's estimator from r.
func (c AutoCandidate) Build(r Registry) (NamedEstimator, error) {
	e, err := r.NewEstimator(c.Estimator, c.Params)
	if err != nil {
		return NamedEstimator{}, fmt.Errorf("candidate %s: %w", c.Name, err)
	}
	return NamedEstimator{Name: c.Name, Estimator: e}, nil
}

// autoEstimator is the registry form of AutoEstimator: its candidates are
// built when the data's outcome type is known.
type autoEstimator struct {
	AutoEstimator
	specs    []AutoCandidate // nil means the defaults
	registry Registry
}

// selectionRows returns the rows selection aims at on data of n rows:
// at most MaxRows (DefaultAutoRows when it is 0), or n when MaxRows is
// negative. The stratified subsample may differ from it by a row per arm.
func (a AutoEstimator) selectionRows(n int) int {
	switch {
	case a.MaxRows < 0:
		return n
	case a.MaxRows == 0:
		return min(n, DefaultAutoRows)
	}
	return min(n, a.MaxRows)
}

// FitUplift implements UpliftEstimator.
func (a autoEstimator) FitUplift(d UpliftData, src rand.Source) (UpliftModel, error) {
	specs := a.specs
	n := 0
	if d.X != nil {
		n, _ = d.X.Dims()
	}
	ns := a.selectionRows(n)
	if specs == nil {
		specs = DefaultAutoCandidatesFor(ns, metricIsBinary(d.Y))
	}
	if autoBudgets(a.Budget, n, ns) {
		specs = autoByCost(specs)
	}
	a.Candidates = nil
	for _, c := range specs {
		ne, err := c.Build(a.registry)
		if err != nil {
			return nil, fmt.Errorf("auto: %w", err)
		}
		a.Candidates = append(a.Candidates, ne)
	}
	return a.AutoEstimator.FitUplift(d, src)
}

// newAutoEstimator builds the "auto" registry entry from candidates (a
// comma-separated list of ParseAutoCandidate specs), criterion, folds,
// select_rows, nuisance (a learner name), clip, combine, members, bags,
// mix, mix_overlap, prefer_select (DefaultAutoPreferSelect;
// AutoEstimator.PreferSelect), weights
// ("convex", the default, or "nonneg"; see AutoEstimator.Convex), qagg
// (DefaultAutoQAgg; AutoEstimator.QAgg, with convex weights only),
// propensity (DefaultAutoPropensity; ParseAutoPropensity) and budget
// (DefaultAutoBudget; "off" for none). With a budget, on data
// of more than ten times the selection rows, the candidates are tried
// cheapest first (autoCostRank).
func newAutoEstimator(p *Params, r Registry) (UpliftEstimator, error) {
	var a autoEstimator
	a.registry = r
	var err error
	if p.Has("candidates") {
		for _, s := range strings.Split(p.String("candidates", ""), ",") {
			c, err := ParseAutoCandidate(s)
			if err != nil {
				return nil, err
			}
			if _, ok := r.Estimators[c.Estimator]; !ok || c.Estimator == "auto" {
				return nil, fmt.Errorf("%w: candidate %q is not a known estimator", ErrParam, s)
			}
			a.specs = append(a.specs, c)
		}
	}
	if a.Criterion, err = ParseAutoCriterion(p.String("criterion", "mixed-loss")); err != nil {
		return nil, err
	}
	if a.Folds, err = p.Int("folds", 0); err != nil {
		return nil, err
	}
	if a.Folds < 0 || a.Folds == 1 {
		return nil, fmt.Errorf("%w: folds=%d, want at least 2 (or 0 for 5 on at most %d selection rows, else 3)", ErrParam, a.Folds, AutoSmallRows)
	}
	if a.MaxRows, err = p.Int("select_rows", DefaultAutoRows); err != nil {
		return nil, err
	}
	if a.MaxRows == 0 {
		a.MaxRows = -1
	}
	if p.Has("nuisance") {
		if a.Nuisance, err = r.Learner(p, "nuisance", "gbt"); err != nil {
			return nil, err
		}
	}
	if a.Clip, err = p.Float("clip", 0.05); err != nil {
		return nil, err
	}
	if a.Combine, err = ParseAutoCombine(p.String("combine", "stack")); err != nil {
		return nil, err
	}
	if a.Members, err = p.Int("members", DefaultAutoMembers); err != nil {
		return nil, err
	}
	if a.Members < 1 {
		return nil, fmt.Errorf("%w: members=%d, want at least 1", ErrParam, a.Members)
	}
	if a.Bags, err = p.Int("bags", DefaultAutoBags); err != nil {
		return nil, err
	}
	if a.Bags < 0 {
		return nil, fmt.Errorf("%w: bags=%d, want at least 0", ErrParam, a.Bags)
	}
	if a.Mix, err = p.Float("mix", DefaultAutoMix); err != nil {
		return nil, err
	}
	if !(a.Mix > 0 && a.Mix < 1) {
		return nil, fmt.Errorf("%w: mix=%v, want 0 < mix < 1", ErrParam, a.Mix)
	}
	if a.MixOverlap, err = p.Float("mix_overlap", DefaultAutoMixOverlap); err != nil {
		return nil, err
	}
	// Fit checks mix_overlap, prefer_select and qagg, for the struct API too.
	if a.PreferSelect, err = p.Float("prefer_select", DefaultAutoPreferSelect); err != nil {
		return nil, err
	}
	if a.QAgg, err = p.Float("qagg", DefaultAutoQAgg); err != nil {
		return nil, err
	}
	if a.CVReps, err = p.Int("cvreps", 0); err != nil {
		return nil, err
	}
	if a.Propensity, err = ParseAutoPropensity(p.String("propensity", DefaultAutoPropensity.String())); err != nil {
		return nil, err
	}
	switch v := p.String("weights", "convex"); v {
	case "convex":
		a.Convex = true
	case "nonneg":
	default:
		return nil, fmt.Errorf("%w: weights=%s, want convex or nonneg", ErrParam, v)
	}
	a.Budget = DefaultAutoBudget
	if p.Has("budget") {
		if a.Budget, err = ParseAutoBudget(p.String("budget", "")); err != nil {
			return nil, err
		}
	}
	if !(a.Clip > 0 && a.Clip < 0.5) {
		return nil, fmt.Errorf("%w: clip=%v, want 0 < clip < 0.5", ErrParam, a.Clip)
	}
	return a, nil
}

// FitUplift implements UpliftEstimator.
func (a AutoEstimator) FitUplift(d UpliftData, src rand.Source) (UpliftModel, error) {
	m, err := a.Fit(d, src)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Fit selects and fits the best candidate (see AutoEstimator).
func (a AutoEstimator) Fit(d UpliftData, src rand.Source) (*AutoModel, error) {
	began := time.Now()
	if err := metaCheck(d); err != nil {
		return nil, fmt.Errorf("auto: %w", err)
	}
	if len(a.Candidates) == 0 {
		return nil, fmt.Errorf("auto: %w: no candidates", ErrParam)
	}
	if a.Folds < 0 || a.Folds == 1 {
		return nil, fmt.Errorf("auto: %w: %d folds, want at least 2", ErrParam, a.Folds)
	}
	if !(a.MixOverlap >= 0 && !math.IsInf(a.MixOverlap, 0)) {
		return nil, fmt.Errorf("auto: %w: mix_overlap=%v, want a finite value ≥ 0", ErrParam, a.MixOverlap)
	}
	if a.CVReps < 0 || a.CVReps > AutoMaxCVReps {
		return nil, fmt.Errorf("auto: %w: cvreps=%d, want 1 to %d (0 for the default)", ErrParam, a.CVReps, AutoMaxCVReps)
	}
	if !(a.QAgg >= 0 && a.QAgg < 1) {
		return nil, fmt.Errorf("auto: %w: qagg=%v, want 0 ≤ qagg < 1", ErrParam, a.QAgg)
	}
	if math.IsNaN(a.PreferSelect) || math.IsInf(a.PreferSelect, 0) {
		return nil, fmt.Errorf("auto: %w: prefer_select=%v, want a finite number", ErrParam, a.PreferSelect)
	}
	clip := a.Clip
	if clip == 0 {
		clip = 0.05
	}
	if !(clip > 0 && clip < 0.5) {
		return nil, fmt.Errorf("auto: %w: clip %v, want a value in (0, 0.5)", ErrParam, clip)
	}
	nuis := a.Nuisance
	if nuis == nil {
		nuis = autoNuisanceGBT
	}
	nuis = metaBase(nuis, d.Categorical)
	task, err := AutoOutcome.resolve(d.Y)
	if err != nil {
		return nil, fmt.Errorf("auto: %w", err)
	}
	rng := rand.New(src)
	prog := startProgress(src, len(a.Candidates)+2) // nuisances, candidates, refit
	n, _ := d.X.Dims()
	sel := d
	if limit := a.selectionRows(n); limit < n {
		sel = cmpSubset(d, autoSubsample(d.Treatment, d.Arms, limit, rng))
	}
	ns, _ := sel.X.Dims()
	folds := a.Folds
	if folds == 0 {
		folds = autoFolds(sel.Treatment, sel.Arms)
	}
	bud := a.anchor(d, n, ns, folds, began, src, rng)

	// Nuisances and the per-arm loss terms.
	nuisStart := time.Now()
	arms := make([]autoArm, sel.Arms)
	for k := 1; k <= sel.Arms; k++ {
		ar, err := autoNuisance(sel, k, nuis, task, folds, clip, a.Propensity, rng, src)
		if err != nil {
			return nil, fmt.Errorf("auto: arm %d nuisance: %w", k, err)
		}
		if a.Criterion == MixedLoss {
			mix := a.Mix
			if mix == 0 {
				mix = DefaultAutoMix
			}
			ar.alpha = max(mix, min(mix+a.MixOverlap*ar.clipped, autoMixMax))
			ar.mixed(ar.alpha)
		}
		arms[k-1] = ar
	}
	nuisSeconds := time.Since(nuisStart).Seconds()
	prog.step()

	// Out-of-fold effects of every candidate, on shared folds and seeds.
	// The folds are fitted concurrently, except under a time budget,
	// whose predictions of full-data fit times scale cross-fitting
	// times measured one fold at a time.
	cvSeed := rng.Uint64()
	cvWorkers := 0
	if bud != nil {
		cvWorkers = 1
	}
	reps := a.CVReps
	if reps == 0 {
		reps = autoCVReps(ns)
	}
	if bud != nil {
		reps = 1
	}
	larms := autoLongArms(arms, ns, reps)
	scores := make([]AutoScore, len(a.Candidates))
	terms := make([][]float64, len(a.Candidates))
	taus := make([]*mat.Dense, len(a.Candidates))
	best := -1
	for c, ne := range a.Candidates {
		scores[c] = AutoScore{Name: ne.Name, Loss: math.NaN(), SE: math.NaN()}
		cvSrc := derive(src, cvSeed, 0xa070)
		if bud != nil && c > 0 {
			left := bud.left()
			if left <= 0 {
				scores[c].Skipped = "not started, the time budget was spent"
				prog.step()
				continue
			}
			cvSrc = bud.within(cvSrc, left)
		}
		start := time.Now()
		srcs := []rand.Source{cvSrc}
		for r := 1; r < reps; r++ {
			srcs = append(srcs, derive(src, cvSeed, 0xa070+uint64(r)))
		}
		tau, err := autoCrossFitReps(sel, ne.Estimator, folds, cvWorkers, srcs)
		prog.step()
		scores[c].Seconds = time.Since(start).Seconds()
		if err != nil {
			if bud != nil && errors.Is(err, errAutoBudget) {
				scores[c].Skipped = "stopped after " + strconv.FormatFloat(scores[c].Seconds, 'f', 3, 64) + "s, over the time budget"
				continue
			}
			scores[c].Err = err.Error()
			continue
		}
		if bud != nil && c == 0 {
			bud.calibrate(scores[c].Seconds)
		}
		taus[c] = tau
		terms[c] = autoLossTerms(larms, tau, a.Criterion)
		scores[c].Loss = autoMean(terms[c], nil)
		if best < 0 || scores[c].Loss < scores[best].Loss {
			best = c
			if bud != nil {
				bud.lead(c, scores[c].Seconds)
			}
		}
	}
	if best < 0 {
		return nil, fmt.Errorf("auto: every candidate failed; first: %s: %s", scores[0].Name, scores[0].Err)
	}
	for c := range scores {
		if terms[c] == nil {
			continue
		}
		diff := make([]float64, len(terms[c]))
		for i := range diff {
			diff[i] = terms[c][i] - terms[best][i]
		}
		// A row's copies are not independent: the standard error is the
		// one of their means.
		_, se := MeanSE(autoFoldReps(diff, arms, reps), nil)
		if c == best {
			se = 0
		}
		scores[c].SE = se
	}
	zero, constant, ate := autoReference(arms, a.Criterion)
	out := &AutoModel{
		Criterion: a.Criterion.String(), Rows: n, SelectionRows: ns, Folds: folds,
		Scores: scores, ZeroLoss: zero, ConstantLoss: constant, ATE: ate, Combine: AutoSelect.String(),
		Clip: clip, Clipped: make([]float64, len(arms)), NuisanceSeconds: nuisSeconds,
	}
	if reps > 1 {
		out.CVReps = reps
	}
	for k, ar := range arms {
		out.Clipped[k] = ar.clipped
		out.Propensity = append(out.Propensity, ar.propensity)
		if a.Criterion == MixedLoss {
			out.Mix = append(out.Mix, ar.alpha)
		}
	}
	var anchor UpliftModel
	if bud != nil {
		out.Budget, out.BudgetUnit, anchor = bud.factor, bud.anchorSeconds, bud.anchor
		scores[0].RefitSeconds = bud.anchorSeconds
	}

	if a.Combine == AutoStack {
		members := a.Members
		if members <= 0 {
			members = DefaultAutoMembers
		}
		sarms := autoStackArms(larms, taus, a.Criterion, a.Convex, a.QAgg)
		use := make([]bool, len(taus))
		for c := range taus {
			use[c] = taus[c] != nil
		}
		if bud != nil {
			// Besides the lead, whose refit is reserved, a member's
			// refit may take a members-th of what is left.
			per := bud.left() / float64(members)
			for c := range use {
				if use[c] && c != 0 && c != best && bud.predict(scores[c].Seconds) > per {
					use[c] = false
				}
			}
		}
		stackTerms, selTerms := autoNested(sarms, terms, use, members, a.Bags, folds, reps, rng)
		for j := range stackTerms {
			stackTerms[j] = autoFoldReps(stackTerms[j], arms, reps)
		}
		selTerms = autoFoldReps(selTerms, arms, reps)
		shrink, shrinkLoss, selLoss := autoOneSE(stackTerms, selTerms, 1-a.PreferSelect)
		out.SelectCVLoss = selLoss
		if shrink >= 0 {
			out.StackCVLoss = shrinkLoss[shrink]
		} else {
			out.StackCVLoss = slices.Min(shrinkLoss)
		}
		if shrink >= 0 {
			stack, beta, err := a.fitStack(d, sarms, use, members, scores, anchor, src, rng)
			if err != nil {
				return nil, err
			}
			if stack != nil {
				lambda := autoShrinks[shrink]
				for k, s := range sarms {
					beta[k] = autoShrink(beta[k], autoConstant(s, nil), lambda)
					stack.Constant[k] = beta[k][len(beta[k])-1]
				}
				lead := -1
				var kept []StackMember
				for _, mem := range stack.Members {
					c := slices.IndexFunc(scores, func(s AutoScore) bool { return s.Name == mem.Name })
					if lead < 0 || scores[c].Loss < scores[lead].Loss {
						lead = c
					}
					if lambda == 0 {
						scores[c].Weights = nil
						continue
					}
					for k := range mem.Weights {
						mem.Weights[k] *= lambda
					}
					kept = append(kept, mem)
				}
				if len(kept) == 0 {
					// The constant effect alone won: autoTieWeight times
					// the member with the lowest loss orders the units.
					i := slices.IndexFunc(stack.Members, func(m StackMember) bool { return m.Name == scores[lead].Name })
					mem := stack.Members[i]
					for k := range mem.Weights {
						mem.Weights[k] = autoTieWeight
						beta[k][lead] = autoTieWeight
					}
					scores[lead].Weights = mem.Weights
					kept = append(kept, mem)
				}
				stack.Members = kept
				out.StackShrink = lambda
			}
			if stack != nil && !constantEffects(stack, d.X) {
				var st []float64
				for k, s := range sarms {
					st = autoStackTerms(s, beta[k], st)
				}
				out.StackLoss = autoMean(st, nil)
				out.Chosen, out.Model, out.Combine = "stack", savedUplift{stack}, AutoStack.String()
				out.Seconds = time.Since(began).Seconds()
				prog.finish()
				return out, nil
			}
			for c := range scores {
				scores[c].Weights = nil
				if c > 0 || anchor == nil {
					scores[c].RefitSeconds = 0
				}
			}
			out.StackShrink = 0
		}
	}

	// The winner is refitted on all rows. A refit that predicts one
	// constant effect ranks nobody: the next candidate by loss is
	// refitted instead, until one ranks (or none does, and the winner's
	// constant model is kept).
	order := make([]int, 0, len(scores))
	for c := range scores {
		if terms[c] != nil {
			order = append(order, c)
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return scores[order[i]].Loss < scores[order[j]].Loss })
	var fit UpliftModel
	chosen := -1
	ranks := false
	var skipped []string
	for _, c := range order {
		f, err := anchor, error(nil)
		if c > 0 || anchor == nil {
			start := time.Now()
			f, err = a.Candidates[c].Estimator.FitUplift(d, metaSource(src, rng))
			scores[c].RefitSeconds = time.Since(start).Seconds()
		}
		if err != nil {
			if c == best {
				return nil, fmt.Errorf("auto: refit %s on all rows: %w", a.Candidates[c].Name, err)
			}
			continue
		}
		if _, ok := f.(Kinded); !ok {
			return nil, fmt.Errorf("auto: chosen model %T cannot be saved", f)
		}
		if fit == nil {
			fit, chosen = f, c
		}
		if !constantEffects(f, d.X) {
			fit, chosen, ranks = f, c, true
			break
		}
		skipped = append(skipped, a.Candidates[c].Name)
	}
	if !ranks {
		// Every refit was constant: the winner's is kept.
		skipped = nil
	}
	prog.finish()
	out.Chosen, out.Model, out.SkippedConstant = a.Candidates[chosen].Name, savedUplift{fit}, skipped
	out.Seconds = time.Since(began).Seconds()
	return out, nil
}

// fitStack fits the stack's weights on the selection rows and refits its
// members on all rows of d (the first candidate's refit is anchor when
// that is not nil). A member whose refit fails is dropped and the
// weights are fitted again without it. It returns nil when every
// candidate failed.
func (a AutoEstimator) fitStack(d UpliftData, sarms []autoStackArm, use []bool, members int, scores []AutoScore, anchor UpliftModel, src rand.Source, rng *rand.Rand) (*StackModel, [][]float64, error) {
	use = append([]bool(nil), use...)
	refits := make([]UpliftModel, len(use))
	refits[0] = anchor
	for {
		beta := autoStackFit(sarms, use, nil, members, a.Bags, rng)
		nc := len(use)
		var in []int
		for c := range use {
			for k := range sarms {
				if beta[k][c] > 0 {
					in = append(in, c)
					break
				}
			}
		}
		if len(in) == 0 {
			// No candidate earns a weight: the stack is the constant
			// effect plus autoTieWeight times the candidate with the
			// lowest loss, which then orders the units.
			lead := -1
			for c := range use {
				if use[c] && (lead < 0 || scores[c].Loss < scores[lead].Loss) {
					lead = c
				}
			}
			if lead < 0 {
				return nil, nil, nil
			}
			for k := range sarms {
				beta[k][lead] = autoTieWeight
			}
			in = []int{lead}
		}
		failed := false
		for _, c := range in {
			if refits[c] != nil {
				continue
			}
			start := time.Now()
			f, err := a.Candidates[c].Estimator.FitUplift(d, metaSource(src, rng))
			scores[c].RefitSeconds = time.Since(start).Seconds()
			if err == nil {
				if _, ok := f.(Kinded); !ok {
					err = fmt.Errorf("model %T cannot be saved", f)
				}
			}
			if err != nil {
				use[c], failed = false, true
				scores[c].Err = "refit on all rows: " + err.Error()
				continue
			}
			refits[c] = f
		}
		if failed {
			continue
		}
		m := &StackModel{Constant: make([]float64, len(sarms))}
		for k := range sarms {
			m.Constant[k] = beta[k][nc]
		}
		for _, c := range in {
			w := make([]float64, len(sarms))
			for k := range sarms {
				w[k] = beta[k][c]
			}
			scores[c].Weights = w
			m.Members = append(m.Members, StackMember{Name: a.Candidates[c].Name, Weights: w, Model: savedUplift{refits[c]}})
		}
		return m, beta, nil
	}
}

// anchor starts the time budget on data of n rows whose selection uses
// ns: it fits the first candidate on all rows and returns the budget, or
// nil when no budget applies (Budget is 0, or the data hold no more than
// autoBudgetRows times selectionRows, as FitUplift's ordering decides) or
// the anchor's fit failed (its cross-fitting will report the error).
func (a AutoEstimator) anchor(d UpliftData, n, ns, folds int, began time.Time, src rand.Source, rng *rand.Rand) *autoBudget {
	if !autoBudgets(a.Budget, n, a.selectionRows(n)) {
		return nil
	}
	start := time.Now()
	f, err := a.Candidates[0].Estimator.FitUplift(d, metaSource(src, rng))
	if err != nil {
		return nil
	}
	if _, ok := f.(Kinded); !ok {
		return nil
	}
	secs := time.Since(start).Seconds()
	rows := float64(n) / float64(ns*(folds-1))
	return &autoBudget{factor: a.Budget, start: began, rows: rows, scale: rows, unit: secs, anchor: f, anchorSeconds: secs}
}

// constantEffects says whether m predicts, for every treated arm, one
// effect on up to 5000 rows of x (evenly spaced), within a relative 1e-9.
func constantEffects(m UpliftModel, x *mat.Dense) bool {
	n, p := x.Dims()
	k := min(n, 5000)
	xs := mat.NewDense(k, p, nil)
	for r := range k {
		i := r
		if k < n && k > 1 {
			i = int(int64(r) * int64(n-1) / int64(k-1))
		}
		copy(xs.RawRowView(r), x.RawRowView(i))
	}
	eff := m.Effects(nil, xs)
	_, arms := eff.Dims()
	for a := range arms {
		lo, hi := math.Inf(1), math.Inf(-1)
		for r := range k {
			v := eff.At(r, a)
			lo, hi = min(lo, v), max(hi, v)
		}
		if !(hi-lo <= 1e-9*max(1e-3, math.Abs(lo), math.Abs(hi))) {
			return false
		}
	}
	return true
}

// autoSubsample draws limit rows stratified by arm (each arm keeps its
// share, at least one row) and returns them in ascending order.
func autoSubsample(t []int, arms, limit int, rng *rand.Rand) []int {
	byArm := make([][]int, arms+1)
	for i, a := range t {
		byArm[a] = append(byArm[a], i)
	}
	n := len(t)
	var out []int
	for _, rows := range byArm {
		k := max(1, int(math.Round(float64(len(rows))*float64(limit)/float64(n))))
		k = min(k, len(rows))
		// Partial Fisher–Yates: the first k entries are a uniform sample.
		for i := 0; i < k; i++ {
			j := i + rng.IntN(len(rows)-i)
			rows[i], rows[j] = rows[j], rows[i]
		}
		out = append(out, rows[:k]...)
	}
	sort.Ints(out)
	return out
}

// autoArm holds the cross-fitted nuisances of one treated arm on the
// selection rows of that arm and control.
type autoArm struct {
	idx []int     // rows of the selection data
	w   []float64 // weights (nil means 1)
	// R-loss: outcome residual y − m̂ and treatment residual t − ê.
	ry, rt []float64
	// DR-loss: the AIPW pseudo-outcome.
	phi []float64
	// Mixed loss: the square's target and the square root of its
	// weight (see MixedLoss).
	mt, mm []float64
	// clipped is the share of the arm's rows whose ê is at a clip bound.
	clipped float64
	// propensity says where ê came from: "model", "constant" or
	// "logged" (see AutoModel.Propensity).
	propensity string
	// alpha is the mixed loss's DR share (0 for the other criteria).
	alpha float64
}

// autoNuisance cross-fits m̂, μ̂_0, μ̂_1 and ê for arm k.
func autoNuisance(d UpliftData, k int, l Learner, task Task, folds int, clip float64, prop AutoPropensity, rng *rand.Rand, src rand.Source) (autoArm, error) {
	a := metaSplitArm(d, k)
	f := metaFolds(a.t, folds, rng)
	// The four cross-fits (propensity, outcome, control and treated
	// outcomes) draw their seeds in that order and are fitted together.
	pe, err := planPropensity(&a, l, f, folds, rng, src)
	if err != nil {
		return autoArm{}, err
	}
	pm, err := planCrossFit("outcome model", l, a.x, a.y, a.w, f, folds, nil, task, rng, src)
	if err != nil {
		return autoArm{}, err
	}
	p0, p1, err := planArmOutcomes(&a, l, task, f, folds, rng, src)
	if err != nil {
		return autoArm{}, err
	}
	if err := runCrossFits(0, pe, pm, p0, p1); err != nil {
		return autoArm{}, err
	}
	e := clippedPropensity(&a, pe, clip)
	// The overlap report reads the model's ê even when the loss uses the
	// constant: a weak propensity model still tells rows at the bounds.
	clipped := clippedShare(e, clip)
	source := "model"
	if a.e != nil {
		source = "logged"
	} else if prop != PropensityModel {
		if c := autoConstantPropensity(a.t, a.w, f, folds, clip); prop == PropensityConstant || autoPrefersConstant(a.t, a.w, e, c) {
			e, source = c, "constant"
		}
	}
	phi := AIPWScores(nil, a.y, a.t, p0.out, p1.out, e)
	ar := autoArm{idx: a.idx, w: a.w, ry: make([]float64, len(a.y)), rt: make([]float64, len(a.y)), phi: phi}
	for r := range a.y {
		ar.ry[r] = a.y[r] - pm.out[r]
		ar.rt[r] = a.t[r] - e[r]
	}
	ar.clipped = clipped
	ar.propensity = source
	return ar, nil
}

// autoConstantPropensity returns the out-of-fold constant propensity:
// for a row in fold f, the weighted share of treated rows outside f,
// clipped to [clip, 1 − clip].
func autoConstantPropensity(t, w []float64, fold []int, folds int, clip float64) []float64 {
	sum, cnt := make([]float64, folds), make([]float64, folds)
	var tsum, tcnt float64
	for r, v := range t {
		wr := autoW(w, r)
		sum[fold[r]] += wr * v
		cnt[fold[r]] += wr
		tsum += wr * v
		tcnt += wr
	}
	out := make([]float64, len(t))
	for r := range t {
		g := fold[r]
		out[r] = math.Min(math.Max((tsum-sum[g])/(tcnt-cnt[g]), clip), 1-clip)
	}
	return out
}

// autoPrefersConstant reports whether the propensity model's out-of-fold
// predictions e fail to beat the constant c in weighted log-loss,
//
//	ℓ_r(p) = −(t_r·log p_r + (1 − t_r)·log(1 − p_r)),
//
// by more than one standard error of the per-row difference ℓ_r(e) − ℓ_r(c)
// (a one-standard-error rule toward the simpler model).
func autoPrefersConstant(t, w, e, c []float64) bool {
	diff := make([]float64, len(t))
	for r, v := range t {
		ll := func(p float64) float64 { return -(v*math.Log(p) + (1-v)*math.Log(1-p)) }
		diff[r] = ll(e[r]) - ll(c[r])
	}
	m, se := MeanSE(diff, w)
	return !(m < -se)
}

// autoCrossFit returns out-of-fold effects of est, as CrossFitEffects
// does but with its folds fitted on up to workers goroutines (see
// cmpCrossFitWorkers), or an error when any is not finite.
func autoCrossFit(d UpliftData, est UpliftEstimator, folds, workers int, src rand.Source) (tau *mat.Dense, err error) {
	defer func() {
		if r := recover(); r != nil {
			tau, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	fold, seeds, err := cmpFolds(d, folds, src)
	if err != nil {
		return nil, err
	}
	tau, err = cmpCrossFitWorkers(d, est, fold, seeds, src, workers)
	if err != nil {
		return nil, err
	}
	for _, v := range tau.RawMatrix().Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: non-finite effect estimate %v", ErrInput, v)
		}
	}
	return tau, nil
}

// autoCrossFitReps cross-fits est once per fold partition, partition r
// seeded by srcs[r] (autoCrossFit), and stacks the out-of-fold effects:
// row r·n + i holds row i's effects under partition r.
func autoCrossFitReps(d UpliftData, est UpliftEstimator, folds, workers int, srcs []rand.Source) (*mat.Dense, error) {
	if len(srcs) == 1 {
		return autoCrossFit(d, est, folds, workers, srcs[0])
	}
	n, _ := d.X.Dims()
	long := mat.NewDense(len(srcs)*n, d.Arms, nil)
	for r, s := range srcs {
		tau, err := autoCrossFit(d, est, folds, workers, s)
		if err != nil {
			return nil, err
		}
		long.Slice(r*n, (r+1)*n, 0, d.Arms).(*mat.Dense).Copy(tau)
	}
	return long, nil
}

// autoLongArms repeats every arm's rows reps times, the r-th copy of
// row i reading row r·ns + i of the effects.
func autoLongArms(arms []autoArm, ns, reps int) []autoArm {
	if reps <= 1 {
		return arms
	}
	rep := func(v []float64) []float64 {
		if v == nil {
			return nil
		}
		out := make([]float64, 0, len(v)*reps)
		for range reps {
			out = append(out, v...)
		}
		return out
	}
	out := make([]autoArm, len(arms))
	for k, ar := range arms {
		l := ar
		l.idx = make([]int, 0, len(ar.idx)*reps)
		for r := range reps {
			for _, i := range ar.idx {
				l.idx = append(l.idx, r*ns+i)
			}
		}
		l.w, l.ry, l.rt, l.phi, l.mt, l.mm = rep(ar.w), rep(ar.ry), rep(ar.rt), rep(ar.phi), rep(ar.mt), rep(ar.mm)
		out[k] = l
	}
	return out
}

// autoFoldReps averages long loss terms (arm by arm, reps copies of the
// arm's rows) back to one term per row.
func autoFoldReps(t []float64, arms []autoArm, reps int) []float64 {
	if reps <= 1 {
		return t
	}
	out := make([]float64, 0, len(t)/reps)
	off := 0
	for _, ar := range arms {
		n := len(ar.idx)
		for i := range n {
			v := 0.0
			for r := range reps {
				v += t[off+r*n+i]
			}
			out = append(out, v/float64(reps))
		}
		off += reps * n
	}
	return out
}

// autoLossTerms returns the weighted per-row loss terms of every arm,
// scaled so that their plain mean is the mean over arms of each arm's
// weighted loss.
func autoLossTerms(arms []autoArm, tau *mat.Dense, c AutoCriterion) []float64 {
	var out []float64
	for k, ar := range arms {
		sw := 0.0
		for r := range ar.idx {
			sw += autoW(ar.w, r)
		}
		start := len(out)
		for r, i := range ar.idx {
			out = append(out, autoTerm(ar, r, tau.At(i, k), c)*autoW(ar.w, r))
		}
		// Arm k's loss is Σ_r terms / sw; its share of the mean over
		// all terms is made 1/K of the total.
		total := 0
		for _, a := range arms {
			total += len(a.idx)
		}
		scale := float64(total) / (sw * float64(len(arms)))
		for r := start; r < len(out); r++ {
			out[r] *= scale
		}
	}
	return out
}

// mixed sets the mixed loss's columns: with s_R and s_D the R- and
// DR-loss of the constant effect fitted by each, row r's loss
// (1 − α)(ry − rt·τ)²/s_R + α(φ − τ)²/s_D is W(τ* − τ)² plus a term
// free of τ, W = (1 − α)rt²/s_R + α/s_D and
// τ* = ((1 − α)ry·rt/s_R + αφ/s_D)/W; mt = √W·τ* and mm = √W.
func (ar *autoArm) mixed(alpha float64) {
	n := len(ar.ry)
	var sw, rr, rtt, ph float64
	for r := range n {
		w := autoW(ar.w, r)
		sw += w
		rr += w * ar.ry[r] * ar.rt[r]
		rtt += w * ar.rt[r] * ar.rt[r]
		ph += w * ar.phi[r]
	}
	cr, cd := rr/max(rtt, 1e-300), ph/sw
	var sr, sd float64
	for r := range n {
		w := autoW(ar.w, r)
		e := ar.ry[r] - ar.rt[r]*cr
		sr += w * e * e
		e = ar.phi[r] - cd
		sd += w * e * e
	}
	sr, sd = max(sr/sw, 1e-300), max(sd/sw, 1e-300)
	ar.mt, ar.mm = make([]float64, n), make([]float64, n)
	for r := range n {
		ar.mm[r] = math.Sqrt((1-alpha)*ar.rt[r]*ar.rt[r]/sr + alpha/sd)
		ar.mt[r] = ((1-alpha)*ar.ry[r]*ar.rt[r]/sr + alpha*ar.phi[r]/sd) / ar.mm[r]
	}
}

func autoTerm(ar autoArm, r int, tau float64, c AutoCriterion) float64 {
	switch c {
	case DRLoss:
		e := ar.phi[r] - tau
		return e * e
	case MixedLoss:
		e := ar.mt[r] - ar.mm[r]*tau
		return e * e
	}
	e := ar.ry[r] - ar.rt[r]*tau
	return e * e
}

func autoW(w []float64, r int) float64 {
	if w == nil {
		return 1
	}
	return w[r]
}

func autoMean(x, w []float64) float64 {
	m, _ := MeanSE(x, w)
	return m
}

// autoReference returns the losses of a zero effect and of the constant
// effect equal to the weighted mean of φ per arm, and those means (the DR
// estimates of each arm's average effect).
func autoReference(arms []autoArm, c AutoCriterion) (zero, constant float64, ates []float64) {
	for _, ar := range arms {
		ate := autoMean(ar.phi, ar.w)
		ates = append(ates, ate)
		var sw, z, k float64
		for r := range ar.idx {
			w := autoW(ar.w, r)
			sw += w
			z += w * autoTerm(ar, r, 0, c)
			k += w * autoTerm(ar, r, ate, c)
		}
		zero += z / sw
		constant += k / sw
	}
	return zero / float64(len(arms)), constant / float64(len(arms)), ates
}

// savedUplift holds a nested UpliftModel inside another model's JSON.
type savedUplift struct{ UpliftModel }

// MarshalJSON implements json.Marshaler.
func (s savedUplift) MarshalJSON() ([]byte, error) {
	k, ok := s.UpliftModel.(Kinded)
	if !ok {
		return nil, fmt.Errorf("uplift model %T cannot be saved", s.UpliftModel)
	}
	return Marshal(k)
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *savedUplift) UnmarshalJSON(b []byte) error {
	v, err := Unmarshal(b)
	if err != nil {
		return err
	}
	m, ok := v.(UpliftModel)
	if !ok {
		return fmt.Errorf("%w: %T is not an uplift model", ErrFormat, v)
	}
	s.UpliftModel = m
	return nil
}
