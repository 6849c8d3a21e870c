package causal

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/gonum/mat"
)

// cmpRATE adds the RATE (AUTOC and Qini weighting, see RATEs) of every
// estimator's ranking of arm against control to ac: the doubly robust
// scores come from outcome models μ̂₀, μ̂_k cross-fitted with nuisance on
// the arm's and control's rows (folds stratified by arm) and the
// propensity (the logged one with one treated arm, else the arm's share);
// all estimators share the half-samples, so the pairs get paired
// standard errors. Weights are not used.
func cmpRATE(d UpliftData, ac *ArmComparison, effects []*mat.Dense, folds int, nuisance Learner, boot Bootstrap, src rand.Source) error {
	a := metaSplitArm(d, ac.Arm)
	rng := rand.New(src)
	fold := metaFolds(a.t, folds, rng)
	if cl, ok := nuisance.(CategoricalLearner); ok && d.Categorical != nil {
		nuisance = cl.WithCategorical(d.Categorical)
	}
	task := Regression
	if metricIsBinary(a.y) {
		task = Classification
	}
	mu1, err := metaCrossFit(nuisance, a.x, a.y, nil, fold, folds, func(r int) bool { return a.t[r] == 1 }, task, rng, nil)
	if err != nil {
		return fmt.Errorf("RATE: treated outcome model: %w", err)
	}
	mu0, err := metaCrossFit(nuisance, a.x, a.y, nil, fold, folds, func(r int) bool { return a.t[r] == 0 }, task, rng, nil)
	if err != nil {
		return fmt.Errorf("RATE: control outcome model: %w", err)
	}
	e := a.e
	if e == nil {
		var n1 float64
		for _, t := range a.t {
			n1 += t
		}
		e = make([]float64, len(a.t))
		for r := range e {
			e[r] = n1 / float64(len(a.t))
		}
	}
	gamma := AIPWScores(nil, a.y, a.t, mu0, mu1, e)
	prio := make([][]float64, len(effects))
	for j, eff := range effects {
		prio[j] = make([]float64, len(a.idx))
		for r, i := range a.idx {
			prio[j][r] = eff.At(i, ac.Arm-1)
		}
	}
	for _, target := range []RATETarget{AUTOC, QiniRATE} {
		res, err := RATEs(gamma, prio, target, boot.Resamples, boot.Level, rand.NewPCG(rng.Uint64(), rng.Uint64()))
		if err != nil {
			return fmt.Errorf("RATE: %w", err)
		}
		for j := range ac.Scores {
			if target == AUTOC {
				ac.Scores[j].RATEAUTOC = res.Estimates[j]
			} else {
				ac.Scores[j].RATEQini = res.Estimates[j]
			}
		}
		p := 0
		for x := range prio {
			for y := x + 1; y < len(prio); y++ {
				if target == AUTOC {
					ac.Pairs[p].RATEAUTOC = res.Diff[x][y]
				} else {
					ac.Pairs[p].RATEQini = res.Diff[x][y]
				}
				p++
			}
		}
	}
	ac.RATEResamples = boot.Resamples
	return nil
}

// WriteRATETable writes each arm's RATE table: the AUTOC and Qini RATE of
// every estimator with their intervals, then the paired differences. A
// difference whose interval excludes 0 is marked *.
func (c *Comparison) WriteRATETable(w io.Writer) error {
	var b strings.Builder
	for _, a := range c.Arms {
		fmt.Fprintf(&b, "RATE, arm %d vs control (grf's rank-weighted average treatment effect of each ranking, on AIPW scores; %d half-samples, %g%% normal intervals):\n",
			a.Arm, a.RATEResamples, 100*c.Bootstrap.Level)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "estimator\tautoc\tautoc CI\tqini\tqini CI\n")
		for _, s := range a.Scores {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, cmpNum(s.RATEAUTOC.Value), rateCI(s.RATEAUTOC), cmpNum(s.RATEQini.Value), rateCI(s.RATEQini))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(a.Pairs) > 0 {
			b.WriteString("paired RATE differences A - B (same half-samples):\n")
			tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "A\tB\tautoc diff\tautoc diff CI\t\tqini diff\tqini diff CI\t\n")
			for _, p := range a.Pairs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.A, p.B, cmpNum(p.RATEAUTOC.Value), rateCI(p.RATEAUTOC), rateStar(p.RATEAUTOC),
					cmpNum(p.RATEQini.Value), rateCI(p.RATEQini), rateStar(p.RATEQini))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func rateCI(r RATEEstimate) string { return cmpCI(ConfInt{Lo: r.CI[0], Hi: r.CI[1]}) }

func rateStar(r RATEEstimate) string { return cmpStar(ConfInt{Lo: r.CI[0], Hi: r.CI[1]}) }
