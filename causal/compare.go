package causal

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/gonum/mat"
)

// NamedEstimator is an uplift estimator with the name it is reported
// under.
type NamedEstimator struct {
	Name      string
	Estimator UpliftEstimator
}

// CompareConfig configures CompareEstimators. The zero value is usable.
type CompareConfig struct {
	// Folds is the number K of cross-fitting folds (0 means 5).
	Folds int
	// K is the fraction of uplift at k (0 means 0.3).
	K float64
	// Bootstrap configures the confidence intervals; its resamples are
	// also the RATE's half-samples.
	Bootstrap Bootstrap
	// Nuisance fits the outcome models behind the RATE's doubly robust
	// scores (nil means Linear{}).
	Nuisance Learner
}

// Comparison is the offline A/B test of several uplift estimators on one
// data set.
type Comparison struct {
	// Folds is the number of cross-fitting folds used.
	Folds int
	// K is the fraction used by uplift at k.
	K float64
	// Bootstrap is the resolved bootstrap configuration.
	Bootstrap Bootstrap
	// Arms holds one comparison per treated arm, in arm order.
	Arms []ArmComparison
	// Effects holds each estimator's out-of-fold effects (n×Arms), in the
	// order given: the scores the metrics rank by.
	Effects []*mat.Dense
	// ArmNames, when set, names the arms (control first) in WriteTable.
	ArmNames []string
}

// ArmComparison compares the estimators on arm Arm against control: only
// the units of that arm and of the control arm take part, ranked by the
// estimated effect of that arm.
type ArmComparison struct {
	Arm int
	// N, Treated and Control are total weights of the units compared.
	N, Treated, Control float64
	// Scores holds one entry per estimator, in the order given.
	Scores []EstimatorScores
	// Pairs holds the paired difference of every pair of estimators
	// (i < j, as A = estimator i, B = estimator j).
	Pairs []PairedDifference
	// RATEResamples is the number of half-samples of the RATE errors.
	RATEResamples int
}

// EstimatorScores are the metrics of one estimator's out-of-fold
// ranking (see UpliftScores) with percentile bootstrap intervals.
type EstimatorScores struct {
	Name                                string
	Qini, QiniCausalML, AUUC, UpliftAtK float64
	QiniCI, QiniCausalMLCI, AUUCCI      ConfInt
	UpliftAtKCI                         ConfInt
	// RATEAUTOC and RATEQini are the ranking's RATE (see RATEs).
	RATEAUTOC, RATEQini RATEEstimate
}

// PairedDifference is the difference A − B of two estimators' metrics,
// with intervals from the same bootstrap resamples for both, so the
// interval reflects the difference and not the two separate spreads.
type PairedDifference struct {
	A, B           string
	Qini, AUUC     float64
	QiniCI, AUUCCI ConfInt
	// RATEAUTOC and RATEQini are the differences of the RATEs.
	RATEAUTOC, RATEQini RATEEstimate
}

// CrossFitEffects returns out-of-fold effect estimates: the rows are split
// into folds (stratified by arm: each arm's rows are shuffled and dealt
// to the folds in turn), est is fitted on all folds but one and predicts
// the held-out fold. The result is n×Arms. Fold f is fitted with the
// source rand.NewPCG(seeds[f], f), where seeds are drawn from src before
// any fit, so the same src gives every estimator the same folds and the
// same fold seeds. A stop signal src carries (WithStop) reaches every
// fold's fit.
func CrossFitEffects(d UpliftData, est UpliftEstimator, folds int, src rand.Source) (*mat.Dense, error) {
	fold, seeds, err := cmpFolds(d, folds, src)
	if err != nil {
		return nil, err
	}
	return cmpCrossFit(d, est, fold, seeds, src)
}

// cmpCheck validates the data of a comparison.
func cmpCheck(d UpliftData) error {
	if d.X == nil {
		return fmt.Errorf("%w: no feature matrix", ErrInput)
	}
	n, _ := d.X.Dims()
	if len(d.Treatment) != n || len(d.Y) != n {
		return fmt.Errorf("%w: %d feature rows, %d treatments, %d outcomes", ErrInput, n, len(d.Treatment), len(d.Y))
	}
	if d.Weights != nil && len(d.Weights) != n {
		return fmt.Errorf("%w: %d weights but %d rows", ErrInput, len(d.Weights), n)
	}
	if d.Propensity != nil && len(d.Propensity) != n {
		return fmt.Errorf("%w: %d propensities but %d rows", ErrInput, len(d.Propensity), n)
	}
	if d.Arms < 1 {
		return fmt.Errorf("%w: %d treated arms, need at least 1", ErrInput, d.Arms)
	}
	for i, t := range d.Treatment {
		if t < 0 || t > d.Arms {
			return fmt.Errorf("%w: treatment %d is %d, want 0..%d", ErrInput, i, t, d.Arms)
		}
	}
	return nil
}

// cmpFolds assigns every row to a fold and draws one seed per fold.
func cmpFolds(d UpliftData, folds int, src rand.Source) ([]int, []uint64, error) {
	if err := cmpCheck(d); err != nil {
		return nil, nil, err
	}
	if folds < 2 {
		return nil, nil, fmt.Errorf("%w: cross-fitting needs at least 2 folds, got %d", ErrInput, folds)
	}
	byArm := make([][]int, d.Arms+1)
	for i, t := range d.Treatment {
		byArm[t] = append(byArm[t], i)
	}
	rng := rand.New(src)
	fold := make([]int, len(d.Treatment))
	for a, rows := range byArm {
		if len(rows) < folds {
			return nil, nil, fmt.Errorf("%w: arm %d has %d units, fewer than %d folds", ErrInput, a, len(rows), folds)
		}
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		for i, r := range rows {
			fold[r] = i % folds
		}
	}
	seeds := make([]uint64, folds)
	for f := range seeds {
		seeds[f] = rng.Uint64()
	}
	return fold, seeds, nil
}

// cmpCrossFit fits est once per fold and collects the held-out effects.
func cmpCrossFit(d UpliftData, est UpliftEstimator, fold []int, seeds []uint64, src rand.Source) (*mat.Dense, error) {
	return cmpCrossFitWorkers(d, est, fold, seeds, src, 1)
}

// cmpCrossFitWorkers is cmpCrossFit with the folds fitted on up to workers
// goroutines at a time (GOMAXPROCS when workers ≤ 0): each fold's source
// is fixed before any fit, so the effects do not depend on the order the
// folds run in. est must allow concurrent FitUplift calls. The first
// error in fold order is returned; a fit's panic is returned as an error.
func cmpCrossFitWorkers(d UpliftData, est UpliftEstimator, fold []int, seeds []uint64, src rand.Source, workers int) (*mat.Dense, error) {
	n, _ := d.X.Dims()
	out := mat.NewDense(n, d.Arms, nil)
	errs := make([]error, len(seeds))
	parallelFor(len(seeds), workers, func(f int) {
		defer func() {
			// A fold may run on a goroutine of its own, where a panic
			// would end the process: it becomes the fold's error.
			if r := recover(); r != nil {
				errs[f] = fmt.Errorf("fold %d of %d: panic: %v", f+1, len(seeds), r)
			}
		}()
		errs[f] = cmpFitFold(d, est, fold, f, len(seeds), derive(src, seeds[f], uint64(f)), out)
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// cmpFitFold fits est on the rows outside fold f of folds and writes its
// effects on the rows of fold f into out.
func cmpFitFold(d UpliftData, est UpliftEstimator, fold []int, f, folds int, src rand.Source, out *mat.Dense) error {
	if err := stopped(src); err != nil {
		return err
	}
	var train, test []int
	for i, g := range fold {
		if g == f {
			test = append(test, i)
		} else {
			train = append(train, i)
		}
	}
	m, err := est.FitUplift(cmpSubset(d, train), src)
	if err != nil {
		return fmt.Errorf("fold %d of %d: %w", f+1, folds, err)
	}
	eff := m.Effects(nil, cmpRows(d.X, test))
	if r, c := eff.Dims(); r != len(test) || c != d.Arms {
		return fmt.Errorf("fold %d of %d: effects are %d×%d, want %d×%d", f+1, folds, r, c, len(test), d.Arms)
	}
	for i, row := range test {
		for k := range d.Arms {
			v := eff.At(i, k)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("fold %d of %d: effect of arm %d on row %d is %v", f+1, folds, k+1, row, v)
			}
			out.Set(row, k, v)
		}
	}
	return nil
}

// cmpRows copies the given rows of x.
func cmpRows(x *mat.Dense, rows []int) *mat.Dense {
	_, p := x.Dims()
	out := mat.NewDense(len(rows), p, nil)
	for i, r := range rows {
		out.SetRow(i, x.RawRowView(r))
	}
	return out
}

// cmpSubset returns the rows of d as a new data set.
func cmpSubset(d UpliftData, rows []int) UpliftData {
	s := UpliftData{
		X:           cmpRows(d.X, rows),
		Treatment:   make([]int, len(rows)),
		Arms:        d.Arms,
		Y:           make([]float64, len(rows)),
		Categorical: d.Categorical,
	}
	if d.Weights != nil {
		s.Weights = make([]float64, len(rows))
	}
	if d.Propensity != nil {
		s.Propensity = make([]float64, len(rows))
	}
	for i, r := range rows {
		s.Treatment[i], s.Y[i] = d.Treatment[r], d.Y[r]
		if d.Weights != nil {
			s.Weights[i] = d.Weights[r]
		}
		if d.Propensity != nil {
			s.Propensity[i] = d.Propensity[r]
		}
	}
	return s
}

// CompareEstimators runs the offline A/B test of estimators on d: each is
// cross-fitted (CrossFitEffects, the same folds and fold seeds for all),
// and its pooled out-of-fold effects rank the units. For multi-arm data
// each treated arm k is evaluated on its own against control: the units
// of arm k and arm 0, ranked by the estimated effect of arm k. The
// metrics are those of UpliftScores, with percentile bootstrap intervals;
// the resamples are shared by all estimators of an arm, which makes the
// intervals of the paired differences A − B meaningful. Each ranking
// also gets its RATE, AUTOC and Qini weighting (RATEs, on AIPW scores from
// cross-fitted cfg.Nuisance outcome models), with paired differences over
// shared half-samples. src drives the folds, the fits and the resampling.
func CompareEstimators(d UpliftData, ests []NamedEstimator, cfg CompareConfig, src rand.Source) (*Comparison, error) {
	if len(ests) == 0 {
		return nil, fmt.Errorf("%w: no estimators to compare", ErrInput)
	}
	seen := map[string]bool{}
	for _, e := range ests {
		switch {
		case e.Name == "":
			return nil, fmt.Errorf("%w: estimator without a name", ErrInput)
		case seen[e.Name]:
			return nil, fmt.Errorf("%w: estimator name %q used twice", ErrInput, e.Name)
		case e.Estimator == nil:
			return nil, fmt.Errorf("%w: estimator %q is nil", ErrInput, e.Name)
		}
		seen[e.Name] = true
	}
	if cfg.Folds == 0 {
		cfg.Folds = 5
	}
	if cfg.K == 0 {
		cfg.K = 0.3
	}
	if !(cfg.K > 0 && cfg.K < 1) {
		return nil, fmt.Errorf("%w: uplift at k needs k in (0, 1), got %v", ErrInput, cfg.K)
	}
	boot, err := cfg.Bootstrap.withDefaults()
	if err != nil {
		return nil, err
	}
	for i, v := range d.Y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: outcome %d is %v", ErrInput, i, v)
		}
	}
	fold, seeds, err := cmpFolds(d, cfg.Folds, src)
	if err != nil {
		return nil, err
	}
	effects := make([]*mat.Dense, len(ests))
	for i, e := range ests {
		if effects[i], err = cmpCrossFit(d, e.Estimator, fold, seeds, src); err != nil {
			return nil, fmt.Errorf("estimator %q: %w", e.Name, err)
		}
	}
	c := &Comparison{Folds: cfg.Folds, K: cfg.K, Bootstrap: boot, Effects: effects}
	for arm := 1; arm <= d.Arms; arm++ {
		ac, err := cmpArm(d, arm, ests, effects, cfg.K, boot, src)
		if err != nil {
			return nil, fmt.Errorf("arm %d: %w", arm, err)
		}
		c.Arms = append(c.Arms, ac)
	}
	// The RATE draws from src after every other statistic, so those do
	// not change with it.
	nuisance := cfg.Nuisance
	if nuisance == nil {
		nuisance = Linear{}
	}
	for i := range c.Arms {
		if err := cmpRATE(d, &c.Arms[i], effects, cfg.Folds, nuisance, boot, src); err != nil {
			return nil, fmt.Errorf("arm %d: %w", c.Arms[i].Arm, err)
		}
	}
	return c, nil
}

// cmpArm evaluates every estimator's ranking of arm against control.
func cmpArm(d UpliftData, arm int, ests []NamedEstimator, effects []*mat.Dense, k float64, boot Bootstrap, src rand.Source) (ArmComparison, error) {
	var rows []int
	for i, t := range d.Treatment {
		if t == 0 || t == arm {
			rows = append(rows, i)
		}
	}
	n := len(rows)
	tr, y := make([]int, n), make([]float64, n)
	var w []float64
	if d.Weights != nil {
		w = make([]float64, n)
	}
	for i, r := range rows {
		if d.Treatment[r] == arm {
			tr[i] = 1
		}
		y[i] = d.Y[r]
		if w != nil {
			w[i] = d.Weights[r]
		}
	}
	ranks := make([]*metricRanking, len(ests))
	score := make([]float64, n)
	for e := range ests {
		for i, r := range rows {
			score[i] = effects[e].At(r, arm-1)
		}
		var err error
		if ranks[e], err = newMetricRanking(score, tr, y, w); err != nil {
			return ArmComparison{}, err
		}
	}
	ev := newMetricEvaluator(ranks[0].binary, tr, y, w)
	ac := ArmComparison{Arm: arm, N: ranks[0].total}
	for i := range tr {
		wi := 1.0
		if w != nil {
			wi = w[i]
		}
		if tr[i] == 1 {
			ac.Treated += wi
		}
	}
	ac.Control = ac.N - ac.Treated
	const per = 4
	res := bootRun(n, boot, src, per*len(ests), func() func([]uint32, []float64) {
		return func(m []uint32, out []float64) {
			for e, r := range ranks {
				s := ev.eval(r, m, k)
				out[per*e], out[per*e+1], out[per*e+2], out[per*e+3] = s.Qini, s.QiniCausalML, s.AUUC, s.UpliftAtK
			}
		}
	})
	full := make([]UpliftMetrics, len(ests))
	for e, r := range ranks {
		full[e] = ev.eval(r, nil, k)
		ac.Scores = append(ac.Scores, EstimatorScores{
			Name:           ests[e].Name,
			Qini:           full[e].Qini,
			QiniCausalML:   full[e].QiniCausalML,
			AUUC:           full[e].AUUC,
			UpliftAtK:      full[e].UpliftAtK,
			QiniCI:         PercentileCI(res[per*e], boot.Level),
			QiniCausalMLCI: PercentileCI(res[per*e+1], boot.Level),
			AUUCCI:         PercentileCI(res[per*e+2], boot.Level),
			UpliftAtKCI:    PercentileCI(res[per*e+3], boot.Level),
		})
	}
	diff := make([]float64, boot.Resamples)
	for a := range ests {
		for b := a + 1; b < len(ests); b++ {
			p := PairedDifference{
				A: ests[a].Name, B: ests[b].Name,
				Qini: full[a].Qini - full[b].Qini,
				AUUC: full[a].AUUC - full[b].AUUC,
			}
			for i := range diff {
				diff[i] = res[per*a][i] - res[per*b][i]
			}
			p.QiniCI = PercentileCI(diff, boot.Level)
			for i := range diff {
				diff[i] = res[per*a+2][i] - res[per*b+2][i]
			}
			p.AUUCCI = PercentileCI(diff, boot.Level)
			ac.Pairs = append(ac.Pairs, p)
		}
	}
	return ac, nil
}

// WriteTable writes the comparison as aligned text tables, one block per
// arm: the metrics of each estimator with their intervals, then the
// paired differences. A difference whose interval excludes 0 is marked *.
func (c *Comparison) WriteTable(w io.Writer) error {
	var b strings.Builder
	for _, a := range c.Arms {
		arm, control := fmt.Sprintf("arm %d", a.Arm), "control"
		if a.Arm < len(c.ArmNames) {
			arm, control = fmt.Sprintf("arm %q", c.ArmNames[a.Arm]), fmt.Sprintf("control %q", c.ArmNames[0])
		}
		fmt.Fprintf(&b, "%s vs %s: n=%g (treated %g, control %g); %d folds; %d bootstrap resamples, %g%% percentile intervals\n",
			arm, control, a.N, a.Treated, a.Control, c.Folds, c.Bootstrap.Resamples, 100*c.Bootstrap.Level)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "estimator\tqini\tqini CI\tqini_causalml\tqini_causalml CI\tauuc\tauuc CI\tuplift@%g\tuplift@%g CI\n", 100*c.K, 100*c.K)
		for _, s := range a.Scores {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name,
				cmpNum(s.Qini), cmpCI(s.QiniCI), cmpNum(s.QiniCausalML), cmpCI(s.QiniCausalMLCI),
				cmpNum(s.AUUC), cmpCI(s.AUUCCI), cmpNum(s.UpliftAtK), cmpCI(s.UpliftAtKCI))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(a.Pairs) > 0 {
			b.WriteString("paired differences A - B (same resamples):\n")
			tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "A\tB\tqini diff\tqini diff CI\t\tauuc diff\tauuc diff CI\t\n")
			for _, p := range a.Pairs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.A, p.B,
					cmpNum(p.Qini), cmpCI(p.QiniCI), cmpStar(p.QiniCI), cmpNum(p.AUUC), cmpCI(p.AUUCCI), cmpStar(p.AUUCCI))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("qini: " + QiniNormalisation + "\nqini_causalml: " + QiniCausalMLNormalisation +
		"\nauuc: " + AUUCNormalisation + "\nuplift@k: " + UpliftAtKDefinition + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func cmpNum(x float64) string {
	if math.IsNaN(x) {
		return "NaN"
	}
	return fmt.Sprintf("%.4f", x)
}

func cmpCI(c ConfInt) string { return "[" + cmpNum(c.Lo) + ", " + cmpNum(c.Hi) + "]" }

func cmpStar(c ConfInt) string {
	if c.Lo > 0 || c.Hi < 0 {
		return "*"
	}
	return ""
}
