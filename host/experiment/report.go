package experiment

import (
	"context"
	"time"

	"github.com/causalrec/causalrec/host/store"
)

// Report is the answer of GET /v1/experiments/{id}/report. The Service
// fills the experiment's fields and the series; the Analyzer the
// statistics.
type Report struct {
	ID        string     `json:"id"`
	Status    string     `json:"status"`
	Metric    string     `json:"metric"`
	StartedAt time.Time  `json:"started_at"`
	StoppedAt *time.Time `json:"stopped_at,omitempty"`
	// At is the time the data runs to: now, or when the experiment
	// stopped.
	At time.Time `json:"at"`
	// Alpha is the significance level; TuningN the confidence sequence's
	// tuning sample size.
	Alpha       float64      `json:"alpha"`
	TuningN     float64      `json:"tuning_n"`
	Arms        []ArmReport  `json:"arms"`
	Comparisons []Comparison `json:"comparisons"`
	SRM         SRM          `json:"srm"`
	// OPE estimates every arm's policy from every other arm's logged
	// lists, beside the arm's measured value.
	OPE []OPEResult `json:"ope"`
	// Calibration checks the uplift arm's scores against the exploring
	// arms' random placements; nil when no arm explores or none ranks by
	// uplift.
	Calibration *CalibrationResult `json:"calibration,omitempty"`
	// Series holds each comparison at times through the experiment, for
	// the confidence-sequence plot.
	Series   []SeriesPoint `json:"series"`
	Warnings []string      `json:"warnings"`
}

// ArmReport is one arm's users and metric (the JSON of
// causal/abtest.ArmSummary, with the arm's model).
type ArmReport struct {
	Name    string  `json:"name"`
	ModelID string  `json:"model_id,omitempty"`
	Weight  float64 `json:"weight"`
	Users   int     `json:"users"`
	Share   float64 `json:"share"`
	// Outcomes is the metric's total over the arm's users; Mean and
	// Variance its mean and sample variance per user.
	Outcomes  float64  `json:"outcomes"`
	Mean      float64  `json:"mean"`
	Variance  float64  `json:"variance"`
	Exposures int      `json:"exposures"`
	PreMean   *float64 `json:"pre_mean,omitempty"`
}

// Comparison is an arm against the baseline on one metric (the JSON of
// causal/abtest.Comparison, with the metric).
type Comparison struct {
	Arm      string `json:"arm"`
	Baseline string `json:"baseline"`
	Metric   string `json:"metric"`
	// Lift is the difference of the means with its CI and p-value;
	// PValueHolm is the p-value after Holm's correction across arms and
	// metrics.
	Lift       float64    `json:"lift"`
	SE         float64    `json:"se"`
	DF         float64    `json:"df"`
	CI         [2]float64 `json:"ci"`
	PValue     float64    `json:"p_value"`
	PValueHolm float64    `json:"p_value_holm"`
	// RelativeLift is Lift over the baseline's mean, with a delta-method
	// CI; null when the baseline's mean is 0.
	RelativeLift *float64    `json:"relative_lift"`
	RelativeCI   *[2]float64 `json:"relative_ci"`
	// SequentialCI is the always-valid confidence sequence's interval.
	SequentialCI     [2]float64 `json:"sequential_ci"`
	SequentialPValue float64    `json:"sequential_p_value"`
	MDE              float64    `json:"mde"`
	CUPED            *Adjusted  `json:"cuped"`
	CUPAC            *Adjusted  `json:"cupac"`
}

// Adjusted is a lift adjusted with covariates (CUPED: "pre"; CUPAC: "pre"
// and "pred").
type Adjusted struct {
	Covariates   []string   `json:"covariates"`
	Theta        []float64  `json:"theta"`
	Lift         float64    `json:"lift"`
	SE           float64    `json:"se"`
	DF           float64    `json:"df"`
	CI           [2]float64 `json:"ci"`
	PValue       float64    `json:"p_value"`
	SequentialCI [2]float64 `json:"sequential_ci"`
	// VarianceReduction is 1 − SE²/SE²_unadjusted.
	VarianceReduction float64 `json:"variance_reduction"`
	MDE               float64 `json:"mde"`
}

// SRM is the sample-ratio-mismatch check (flagged at p < 0.001).
type SRM struct {
	Chi2     float64   `json:"chi2"`
	DF       int       `json:"df"`
	PValue   float64   `json:"p_value"`
	Flag     bool      `json:"flag"`
	Expected []float64 `json:"expected"`
}

// OPEResult is one arm's policy estimated from another arm's logged lists
// (the top position), beside the value measured in its own.
type OPEResult struct {
	Target string `json:"target"`
	Logged string `json:"logged"`
	// Rounds is the number of logged lists used.
	Rounds    int        `json:"rounds"`
	Estimator string     `json:"estimator"`
	Estimate  float64    `json:"estimate"`
	CI        [2]float64 `json:"ci"`
	// Measured is the target arm's mean reward per list in its own log,
	// with its CI; RelativeError is (Estimate − Measured)/Measured.
	Measured      float64    `json:"measured"`
	MeasuredCI    [2]float64 `json:"measured_ci"`
	RelativeError float64    `json:"relative_error"`
	// Within says the measured value lies in the estimate's CI.
	Within bool `json:"within"`
	// SE and MeasuredSE are the two values' standard errors; DiffCI is
	// the interval of Estimate − Measured at the report's level,
	// ± z·√(SE² + MeasuredSE²) (the two logs hold different users, so
	// their variances add), and Agrees says it holds 0: the estimate and
	// the measurement differ by no more than their noise. Within ignores
	// the measurement's own noise and so misses more often than its level.
	SE         float64    `json:"se"`
	MeasuredSE float64    `json:"measured_se"`
	DiffCI     [2]float64 `json:"diff_ci"`
	Agrees     bool       `json:"agrees"`
	ESS        float64    `json:"ess"`
	Warnings   []string   `json:"warnings,omitempty"`
}

// CalibrationResult checks an arm's uplift scores against random
// placements.
type CalibrationResult struct {
	Arm string `json:"arm"`
	// Units are the (list, candidate) pairs used; Treated those placed.
	Units   int `json:"units"`
	Treated int `json:"treated"`
	// ATE is the mean doubly robust score; Slope the BLP test's
	// coefficient on the centred scores (1 when calibrated) with its CI
	// and p-value against 0.
	ATE      float64          `json:"ate"`
	Slope    float64          `json:"slope"`
	SlopeCI  [2]float64       `json:"slope_ci"`
	SlopeP   float64          `json:"slope_p_value"`
	Bins     []CalibrationBin `json:"bins"`
	Warnings []string         `json:"warnings,omitempty"`
}

// CalibrationBin is one bin of scores: their mean and the effect measured
// among them.
type CalibrationBin struct {
	Predicted float64    `json:"predicted"`
	Measured  float64    `json:"measured"`
	CI        [2]float64 `json:"ci"`
	N         int        `json:"n"`
}

// SeriesPoint is a comparison as it read at time At.
type SeriesPoint struct {
	At           time.Time  `json:"at"`
	Arm          string     `json:"arm"`
	Users        int        `json:"users"`
	Lift         float64    `json:"lift"`
	CI           [2]float64 `json:"ci"`
	SequentialCI [2]float64 `json:"sequential_ci"`
}

// Analyzer computes a report's statistics from an experiment's data: the
// arms, comparisons, SRM check and warnings, and, when the data hold them,
// OPE and calibration. The commands give one over causal/abtest and
// causal/ope.
type Analyzer interface {
	Analyze(ctx context.Context, d Data) (Report, error)
}

// Data are an experiment's per-user numbers up to a time.
type Data struct {
	Experiment store.Experiment
	At         time.Time
	Arms       []ArmData
	// OPE is nil when the report leaves OPE out (the series).
	OPE *OPEData
	// Calibration is nil when no arm explores or none ranks by uplift.
	Calibration *CalibrationData
	Warnings    []string
}

// ArmData are one arm's users, in order of assignment, and per user the
// metric after assignment (Y), before it (Pre), the serving model's
// predicted baseline (Pred, nil when not available), the exposures after
// assignment, and the guardrail metrics by name.
type ArmData struct {
	Name       string
	ModelID    string
	Weight     float64
	Users      []string
	Y          []float64
	Pre        []float64
	Pred       []float64
	Exposures  []float64
	Guardrails map[string][]float64
}

// OPEData are the arms' logged lists (their top positions) over one action
// set, and for each, every arm's policy over the list's candidates.
type OPEData struct {
	// Items names the actions 0..len(Items)-1.
	Items []string
	Logs  []OPELog
}

// OPELog is one arm's logged lists: per list the top item (an action),
// its reward and the logged propensity, and per arm (by name) the arm's
// distribution over the list's candidates.
type OPELog struct {
	Arm string
	// User is the user of each list.
	User    []string
	Action  []int32
	Reward  []float64
	PScore  []float64
	Targets map[string]RowDist
}

// RowDist is a policy's distribution over each logged list's candidates
// in compressed sparse rows: list i's actions are Action[Start[i]:Start[i+1]]
// with probabilities Prob and the arm's model's scores Score.
type RowDist struct {
	Start  []int
	Action []int32
	Prob   []float64
	Score  []float64
}

// CalibrationData are the units of the calibration check: per (list,
// candidate) of an exploring arm's lists, whether the candidate was placed
// on top (T), the user's outcomes on it before the user's next list (Y),
// the calibrated arm's uplift score and the logging policy's probability of
// the placement.
type CalibrationData struct {
	Arm        string
	T          []int
	Y          []float64
	Score      []float64
	Propensity []float64
}
