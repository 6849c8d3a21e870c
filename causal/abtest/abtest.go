package abtest

import (
	"errors"
	"fmt"
	"math"
)

// Errors returned by Analyze and the helpers; check with errors.Is.
var (
	// ErrInput reports malformed input: fewer than two arms, duplicate
	// names, mismatched lengths, NaN or infinite values, bad weights or a
	// bad Config.
	ErrInput = errors.New("abtest: invalid input")
	// ErrEmptyArm reports an arm with fewer than two users, whose variance
	// is undefined. A running experiment returns it until every arm has
	// users; a caller can show "waiting for data".
	ErrEmptyArm = errors.New("abtest: arm has fewer than 2 users")
)

// Defaults of Config.
const (
	// DefaultAlpha is the two-sided significance level.
	DefaultAlpha = 0.05
	// DefaultTuningN is the sample size (users in the two arms compared)
	// at which the confidence sequence is tightest, GrowthBook's default
	// sequential tuning parameter. See SequentialHalfWidth.
	DefaultTuningN = 5000
	// DefaultMinUsers is the number of users per arm below which Analyze
	// warns that the normal approximations may not hold yet.
	DefaultMinUsers = 100
	// SRMThreshold is the p-value of the SRM chi-square test below which a
	// sample ratio mismatch is flagged (Kohavi et al. 2020 and Fabijan et
	// al. 2019 use 0.001 or 0.0005).
	SRMThreshold = 0.001
	// MDEPower is the power at which Comparison.MDE is computed.
	MDEPower = 0.8
	// MaxAbsValue bounds the magnitude of every metric and covariate value:
	// sums of squares of larger values could overflow, and no per-user
	// metric comes near it.
	MaxAbsValue = 1e100
)

// Arm is one arm of an experiment: the metric of each user assigned to it.
type Arm struct {
	// Name identifies the arm; names are unique within an experiment.
	Name string
	// Weight is the planned share of traffic (any positive scale; the
	// weights are normalised). It is the expectation of the SRM test.
	Weight float64
	// Y is the metric of each assigned user after assignment, e.g. the
	// number of outcome events per user.
	Y []float64
	// Pre, optional (nil or len(Y)), is each user's metric before
	// assignment: the CUPED covariate.
	Pre []float64
	// Pred, optional (nil or len(Y)), is the serving model's predicted
	// baseline of each user: the second CUPAC covariate.
	Pred []float64
	// Exposures counts the arm's exposures (items shown); reported as is.
	Exposures int
}

// Config holds the settings of Analyze. The zero value means the defaults.
type Config struct {
	// Alpha is the two-sided significance level of every interval, in
	// (0, 1); 0 means DefaultAlpha.
	Alpha float64
	// TuningN is the confidence sequence's tuning sample size n*: the
	// total of users in the two arms compared at which the sequence is
	// tightest; 0 means DefaultTuningN.
	TuningN float64
	// MinUsers is the number of users per arm below which Analyze warns;
	// 0 means DefaultMinUsers, a negative value turns the warning off.
	MinUsers int
}

// WithDefaults returns c with its zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	if c.Alpha == 0 {
		c.Alpha = DefaultAlpha
	}
	if c.TuningN == 0 {
		c.TuningN = DefaultTuningN
	}
	if c.MinUsers == 0 {
		c.MinUsers = DefaultMinUsers
	}
	return c
}

// Validate reports a Config that cannot be used (after WithDefaults).
func (c Config) Validate() error {
	if !(c.Alpha > 0 && c.Alpha < 1) {
		return fmt.Errorf("%w: alpha %v must be in (0, 1)", ErrInput, c.Alpha)
	}
	if !(c.TuningN >= 1) || math.IsInf(c.TuningN, 1) {
		return fmt.Errorf("%w: tuning n %v must be a finite number ≥ 1", ErrInput, c.TuningN)
	}
	return nil
}

// Report is the analysis of an experiment.
type Report struct {
	// Alpha and TuningN are the settings used.
	Alpha   float64 `json:"alpha"`
	TuningN float64 `json:"tuning_n"`
	// Arms summarises each arm, in the order given.
	Arms []ArmSummary `json:"arms"`
	// Comparisons holds each arm against the baseline (arms[0]), in the
	// order of the arms.
	Comparisons []Comparison `json:"comparisons"`
	// SRM is the sample ratio mismatch test over all arms.
	SRM SRM `json:"srm"`
	// Warnings say what to be careful about, in plain words; never nil.
	Warnings []string `json:"warnings"`
}

// ArmSummary describes one arm.
type ArmSummary struct {
	Name string `json:"name"`
	// Weight is the planned traffic share, normalised to sum to 1.
	Weight float64 `json:"weight"`
	// Users is len(Y); Share is Users over all users.
	Users int     `json:"users"`
	Share float64 `json:"share"`
	// Outcomes is Σ Y; Mean and Variance are ȳ and the unbiased s².
	Outcomes  float64 `json:"outcomes"`
	Mean      float64 `json:"mean"`
	Variance  float64 `json:"variance"`
	Exposures int     `json:"exposures"`
	// PreMean is the mean of Pre, when given.
	PreMean *float64 `json:"pre_mean,omitempty"`
}

// Comparison is one arm against the baseline. Intervals are [lo, hi] at
// level 1 − Alpha. RelativeLift and RelativeCI are NaN (null in JSON)
// when the baseline mean is 0.
type Comparison struct {
	Arm      string `json:"arm"`
	Baseline string `json:"baseline"`
	// Lift is ȳ_arm − ȳ_baseline, SE its standard error and DF the
	// Welch–Satterthwaite degrees of freedom of CI and PValue.
	Lift   float64    `json:"lift"`
	SE     float64    `json:"se"`
	DF     float64    `json:"df"`
	CI     [2]float64 `json:"ci"`
	PValue float64    `json:"p_value"`
	// PValueHolm is PValue adjusted by Holm's method across the arms of
	// this report (and across metrics after HolmAcross).
	PValueHolm float64 `json:"p_value_holm"`
	// RelativeLift is ȳ_arm/ȳ_baseline − 1 with a delta-method CI.
	RelativeLift float64    `json:"relative_lift"`
	RelativeCI   [2]float64 `json:"relative_ci"`
	// SequentialCI is the always-valid asymptotic confidence sequence of
	// the lift at this sample size; SequentialPValue the matching
	// always-valid p-value (0 leaves SequentialCI exactly when
	// SequentialPValue < Alpha).
	SequentialCI     [2]float64 `json:"sequential_ci"`
	SequentialPValue float64    `json:"sequential_p_value"`
	// SequentialPValueHolm is SequentialPValue adjusted like PValueHolm:
	// Holm needs only valid p-values, and always-valid ones stay valid at
	// whatever look the experiment stops.
	SequentialPValueHolm float64 `json:"sequential_p_value_holm"`
	// MDE is the minimum detectable effect at the current sample: the
	// absolute lift the fixed-horizon test would detect with power
	// MDEPower (see MinimumDetectable).
	MDE float64 `json:"mde"`
	// CUPED is the lift adjusted for Pre; CUPAC adjusted for Pre and
	// Pred together (or Pred alone when Pre is missing). Nil when the
	// covariates are missing in either arm.
	CUPED *Adjusted `json:"cuped"`
	CUPAC *Adjusted `json:"cupac"`
}

// Adjusted is a regression-adjusted (CUPED or CUPAC) lift.
type Adjusted struct {
	// Covariates names the covariates used: "pre", "pred".
	Covariates []string `json:"covariates"`
	// Theta are the adjustment coefficients, one per covariate.
	Theta  []float64  `json:"theta"`
	Lift   float64    `json:"lift"`
	SE     float64    `json:"se"`
	DF     float64    `json:"df"`
	CI     [2]float64 `json:"ci"`
	PValue float64    `json:"p_value"`
	// SequentialCI is the confidence sequence on the adjusted lift.
	SequentialCI [2]float64 `json:"sequential_ci"`
	// VarianceReduction is 1 − SE²/SE²_unadjusted: the share of the
	// lift's variance removed by the adjustment.
	VarianceReduction float64 `json:"variance_reduction"`
	// MDE is the minimum detectable effect with the adjusted SE.
	MDE float64 `json:"mde"`
}

// Analyze analyses an experiment whose arms[0] is the baseline: a summary
// per arm, each other arm compared with the baseline (see Welch, Relative,
// AdjustedLift and SequentialHalfWidth for the formulas), the SRM test of
// the users per arm against the weights, Holm-adjusted p-values across the
// comparisons and warnings. cfg's zero fields take the defaults.
//
// Analyze returns an error wrapping ErrInput for fewer than two arms,
// duplicate or empty names, a weight that is not positive and finite, Pre
// or Pred of another length than Y, or a NaN, infinite or larger than
// MaxAbsValue value; and one
// wrapping ErrEmptyArm when an arm has fewer than 2 users.
func Analyze(arms []Arm, cfg Config) (Report, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	if err := validate(arms); err != nil {
		return Report{}, err
	}
	rep := Report{Alpha: cfg.Alpha, TuningN: cfg.TuningN, Warnings: []string{}}

	users := make([]int, len(arms))
	weights := make([]float64, len(arms))
	total, wsum := 0, 0.0
	for j, a := range arms {
		users[j] = len(a.Y)
		weights[j] = a.Weight
		total += len(a.Y)
		wsum += a.Weight
	}
	stats := make([]sample, len(arms))
	for j, a := range arms {
		stats[j] = summarize(a.Y)
		s := ArmSummary{
			Name:      a.Name,
			Weight:    a.Weight / wsum,
			Users:     len(a.Y),
			Share:     float64(len(a.Y)) / float64(total),
			Outcomes:  stats[j].sum,
			Mean:      stats[j].mean,
			Variance:  stats[j].variance,
			Exposures: a.Exposures,
		}
		if a.Pre != nil {
			m := summarize(a.Pre).mean
			s.PreMean = &m
		}
		rep.Arms = append(rep.Arms, s)
		if cfg.MinUsers > 0 && len(a.Y) < cfg.MinUsers {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("arm %q has %d users, fewer than the minimum of %d: intervals rest on normal approximations that may not hold yet", a.Name, len(a.Y), cfg.MinUsers))
		} else if need := SkewnessMinUsers(a.Y); cfg.MinUsers > 0 && float64(len(a.Y)) < need {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("arm %q has %d users but its metric is so skewed that the normal approximation wants about %.0f (355·skewness²): intervals may be off; consider capping outliers", a.Name, len(a.Y), math.Ceil(need)))
		}
	}

	srm, err := SRMTest(users, weights)
	if err != nil {
		return Report{}, err
	}
	rep.SRM = srm
	if srm.Flag {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("sample ratio mismatch: users per arm %v do not match the weights (chi-square %.4g, p = %.3g < %g); find the cause before trusting any result", users, srm.Chi2, srm.PValue, SRMThreshold))
	}

	base := arms[0]
	for j := 1; j < len(arms); j++ {
		a := arms[j]
		c := compare(stats[j], stats[0], cfg)
		c.Arm, c.Baseline = a.Name, base.Name
		if math.IsNaN(c.RelativeLift) {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("relative lift of %q is undefined: the baseline %q has mean 0", a.Name, base.Name))
		}
		switch {
		case a.Pre != nil && base.Pre != nil:
			adj, err := adjust(cfg, [][2][]float64{{base.Pre, a.Pre}}, []string{"pre"}, base.Y, a.Y)
			if err != nil {
				return Report{}, err
			}
			c.CUPED = adj
		case a.Pre != nil || base.Pre != nil:
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("CUPED skipped for %q against %q: pre-assignment metric missing in one arm", a.Name, base.Name))
		}
		switch {
		case a.Pred != nil && base.Pred != nil:
			covs := [][2][]float64{{base.Pred, a.Pred}}
			names := []string{"pred"}
			if a.Pre != nil && base.Pre != nil {
				covs = [][2][]float64{{base.Pre, a.Pre}, {base.Pred, a.Pred}}
				names = []string{"pre", "pred"}
			}
			adj, err := adjust(cfg, covs, names, base.Y, a.Y)
			if err != nil {
				return Report{}, err
			}
			c.CUPAC = adj
		case a.Pred != nil || base.Pred != nil:
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("CUPAC skipped for %q against %q: predicted baseline missing in one arm", a.Name, base.Name))
		}
		rep.Comparisons = append(rep.Comparisons, c)
	}
	if rep.Comparisons == nil {
		rep.Comparisons = []Comparison{}
	}
	HolmAcross(&rep)
	if err := checkFinite(&rep); err != nil {
		return Report{}, err
	}
	return rep, nil
}

// checkFinite is a last guard that every number of the report is finite
// (but the relative lift, NaN when undefined), so that the report always
// encodes.
func checkFinite(rep *Report) error {
	bad := func(v ...float64) bool {
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return true
			}
		}
		return false
	}
	for _, a := range rep.Arms {
		if bad(a.Mean, a.Variance, a.Outcomes, a.Share, a.Weight) {
			return fmt.Errorf("%w: arm %q: values too large or too small to summarise", ErrInput, a.Name)
		}
	}
	if bad(rep.SRM.Chi2, rep.SRM.PValue) {
		return fmt.Errorf("%w: SRM test not finite", ErrInput)
	}
	for _, c := range rep.Comparisons {
		if bad(c.Lift, c.SE, c.DF, c.MDE, c.CI[0], c.CI[1], c.PValue, c.PValueHolm, c.SequentialCI[0], c.SequentialCI[1], c.SequentialPValue, c.SequentialPValueHolm) {
			return fmt.Errorf("%w: %q against %q: values too large or too small to compare", ErrInput, c.Arm, c.Baseline)
		}
		for _, a := range []*Adjusted{c.CUPED, c.CUPAC} {
			if a != nil && (bad(a.Lift, a.SE, a.DF, a.MDE, a.CI[0], a.CI[1], a.PValue, a.SequentialCI[0], a.SequentialCI[1], a.VarianceReduction) || bad(a.Theta...)) {
				return fmt.Errorf("%w: %q against %q: covariates too large or too small to adjust by", ErrInput, c.Arm, c.Baseline)
			}
		}
	}
	return nil
}

// validate checks the arms; see Analyze.
func validate(arms []Arm) error {
	if len(arms) < 2 {
		return fmt.Errorf("%w: %d arms, need a baseline and at least one other arm", ErrInput, len(arms))
	}
	seen := make(map[string]bool, len(arms))
	for j, a := range arms {
		switch {
		case a.Name == "":
			return fmt.Errorf("%w: arm %d has no name", ErrInput, j)
		case seen[a.Name]:
			return fmt.Errorf("%w: duplicate arm name %q", ErrInput, a.Name)
		case !(a.Weight > 0) || math.IsInf(a.Weight, 1):
			return fmt.Errorf("%w: arm %q: weight %v must be positive and finite", ErrInput, a.Name, a.Weight)
		case a.Exposures < 0:
			return fmt.Errorf("%w: arm %q: negative exposures %d", ErrInput, a.Name, a.Exposures)
		case len(a.Y) < 2:
			return fmt.Errorf("%w: arm %q has %d users", ErrEmptyArm, a.Name, len(a.Y))
		case a.Pre != nil && len(a.Pre) != len(a.Y):
			return fmt.Errorf("%w: arm %q: %d pre values for %d users", ErrInput, a.Name, len(a.Pre), len(a.Y))
		case a.Pred != nil && len(a.Pred) != len(a.Y):
			return fmt.Errorf("%w: arm %q: %d predictions for %d users", ErrInput, a.Name, len(a.Pred), len(a.Y))
		}
		seen[a.Name] = true
		for _, col := range []struct {
			name string
			v    []float64
		}{{"y", a.Y}, {"pre", a.Pre}, {"pred", a.Pred}} {
			for i, v := range col.v {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return fmt.Errorf("%w: arm %q: %s[%d] is %v", ErrInput, a.Name, col.name, i, v)
				}
				if math.Abs(v) > MaxAbsValue {
					return fmt.Errorf("%w: arm %q: %s[%d] = %g is outside ±%g", ErrInput, a.Name, col.name, i, v, MaxAbsValue)
				}
			}
		}
	}
	return nil
}

// compare fills the unadjusted part of a Comparison of arm a against
// baseline b.
func compare(a, b sample, cfg Config) Comparison {
	w := Welch(a.mean, a.variance, a.n, b.mean, b.variance, b.n, cfg.Alpha)
	c := Comparison{
		Lift:       w.Diff,
		SE:         w.SE,
		DF:         w.DF,
		CI:         w.CI,
		PValue:     w.PValue,
		PValueHolm: w.PValue,
	}
	c.RelativeLift, c.RelativeCI = Relative(a.mean, a.variance, a.n, b.mean, b.variance, b.n, cfg.Alpha)
	n := a.n + b.n
	h := SequentialHalfWidth(w.SE, n, cfg.Alpha, cfg.TuningN)
	c.SequentialCI = [2]float64{w.Diff - h, w.Diff + h}
	c.SequentialPValue = SequentialPValue(w.Diff, w.SE, n, cfg.Alpha, cfg.TuningN)
	c.MDE = MinimumDetectable(w.SE, w.DF, cfg.Alpha, MDEPower)
	return c
}
