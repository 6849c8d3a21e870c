package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/host/dataset"
)

// balanceTable is the JSON form of one balance report.
type balanceTable struct {
	Weighting string          `json:"weighting"`
	Alpha     float64         `json:"alpha"`
	Tests     int             `json:"tests"`
	Arms      []balanceArmRow `json:"arms"`
}

type balanceArmRow struct {
	Arm         string           `json:"arm"`
	Control     string           `json:"control"`
	TreatedRows int              `json:"treated_rows"`
	ControlRows int              `json:"control_rows"`
	OutcomeZ    any              `json:"outcome_z"`
	Features    []balanceFeature `json:"features"`
}

func (r *balanceResult) table(rep *causal.BalanceReport) balanceTable {
	t := balanceTable{Weighting: "none", Alpha: rep.Alpha, Tests: rep.Tests}
	if rep.Weighted {
		t.Weighting = "inverse propensity"
	}
	for _, a := range rep.Arms {
		row := balanceArmRow{Arm: r.schema.Arms[a.Arm], Control: r.schema.Arms[0], TreatedRows: a.Treated, ControlRows: a.Control, OutcomeZ: jsonFloat(a.OutcomeZ)}
		for _, f := range a.Features {
			row.Features = append(row.Features, r.feature(a.Arm, f))
		}
		t.Arms = append(t.Arms, row)
	}
	return t
}

// writeText writes the tables as aligned text.
func (r *balanceResult) writeText(w io.Writer) error {
	var b strings.Builder
	reps := []*causal.BalanceReport{r.plain}
	if r.weighted != nil {
		reps = append(reps, r.weighted)
	}
	for _, rep := range reps {
		t := r.table(rep)
		for _, a := range t.Arms {
			fmt.Fprintf(&b, "arm %q (%d rows) vs control %q (%d rows)", a.Arm, a.TreatedRows, a.Control, a.ControlRows)
			if z, ok := a.OutcomeZ.(float64); ok {
				fmt.Fprintf(&b, "; outcome %s: z %.2f", r.schema.Outcome, z)
			}
			if rep.Weighted {
				b.WriteString("; weighted by 1/propensity")
			}
			b.WriteString("\n")
			tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "feature\tSMD\ttest\tstatistic\tp\tweight\tp adjusted\t\tmean treated\tmean control\toutcome R2\tlevel")
			for _, f := range a.Features {
				means := [2]string{fmtNum(f.MeanTreated), fmtNum(f.MeanControl)}
				level := ""
				if f.Kind == "categorical" {
					means = [2]string{fmt.Sprintf("%.4f", f.MeanTreated), fmt.Sprintf("%.4f", f.MeanControl)}
					level = strconv.Quote(f.Level)
				}
				stat := fmt.Sprintf("z %+.2f", f.Statistic)
				if f.Test == causal.BalanceChiSquared {
					stat = fmt.Sprintf("chi2(%d) %.2f", f.DF, f.Statistic)
				}
				mark := ""
				switch {
				case f.Allowed:
					mark = "IMBALANCED (allowed)"
				case f.Imbalanced:
					mark = "IMBALANCED"
				}
				smd, _ := f.SMD.(float64)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\t%.4f\t%s\n", f.Feature, fmtSMD(smd), f.Test, stat,
					fmtP(f.P), f.Weight, fmtP(f.PAdjusted), mark, means[0], means[1], f.OutcomeR2, level)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			b.WriteString("\n")
		}
	}
	fmt.Fprintf(&b, "SMD of a categorical feature: that of its level with the largest |SMD| (level); means: that level's share.\n"+
		"rule: %s; alpha %g over %d tests.\n", balanceRule, r.plain.Alpha, r.plain.Tests)
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', 5, 64) }

// balanceJSON is the JSON answer of uplift balance.
type balanceJSON struct {
	Design     string        `json:"design"`
	Rule       string        `json:"rule"`
	Decision   string        `json:"decision"`
	Imbalanced []string      `json:"imbalanced"`
	Allowed    []string      `json:"allowed,omitempty"`
	Refused    []string      `json:"refused,omitempty"`
	Balance    balanceTable  `json:"balance"`
	Weighted   *balanceTable `json:"weighted_balance,omitempty"`
	Overlap    *overlapJSON  `json:"overlap,omitempty"`
}

// overlapJSON is the overlap check of uplift balance (causal.Overlap).
type overlapJSON struct {
	Clip       float64          `json:"clip"`
	Rows       int              `json:"rows"`
	Propensity string           `json:"propensity"` // "estimated" or "logged"
	Arms       []overlapArmJSON `json:"arms"`
	Warning    string           `json:"warning,omitempty"`
}

type overlapArmJSON struct {
	Arm     string  `json:"arm"`
	Clipped float64 `json:"clipped"`
}

// overlapTable is the JSON form of an overlap report.
func overlapTable(rep *causal.OverlapReport, schema dataset.Schema) *overlapJSON {
	out := &overlapJSON{Clip: rep.Clip, Rows: rep.Rows, Propensity: "estimated", Warning: rep.Warning()}
	if rep.Logged {
		out.Propensity = "logged"
	}
	for k, v := range rep.Clipped {
		out.Arms = append(out.Arms, overlapArmJSON{Arm: schema.Arms[k+1], Clipped: v})
	}
	return out
}

// writeText writes the overlap check as lines of text.
func (o *overlapJSON) writeText(w io.Writer, control string) error {
	var b strings.Builder
	for _, a := range o.Arms {
		fmt.Fprintf(&b, "overlap: arm %q vs control %q: %.1f%% of their rows have %s propensity <= %g or >= %g\n",
			a.Arm, control, 100*a.Clipped, map[string]string{"estimated": "an estimated", "logged": "a logged"}[o.Propensity], o.Clip, 1-o.Clip)
	}
	fmt.Fprintf(&b, "overlap rule: on %d rows, the propensity of each treated arm against control (cross-fitted shallow boosting, 3 folds, or the logged one); a warning above %g%%.\n",
		o.Rows, 100*causal.OverlapWarn)
	if o.Warning != "" {
		fmt.Fprintf(&b, "warning: %s\n", o.Warning)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *balanceResult) json() balanceJSON {
	out := balanceJSON{Design: designObservational, Rule: balanceRule, Decision: "unweighted", Imbalanced: r.names(r.flagged()),
		Allowed: r.allow, Balance: r.table(r.plain)}
	if r.rct {
		out.Design = designRCT
		out.Refused = r.names(r.refused())
	}
	if r.weighted != nil {
		t := r.table(r.weighted)
		out.Weighted, out.Decision = &t, "weighted"
	}
	if out.Imbalanced == nil {
		out.Imbalanced = []string{}
	}
	return out
}

func upliftBalance(_ context.Context, s stdio, args []string) error {
	fs := newFlags(s, "uplift balance", "--data FILE --treatment COL --outcome COL [flags]",
		"Tests whether every feature has the same distribution in each treated arm as in control,\n"+
			"as features measured before treatment have in a randomised trial, and prints the table:\n"+
			"per feature and arm the means, the standardised mean difference (SMD), the two-sample test\n"+
			"(rank-sum and mean difference for numeric, chi-squared for categorical features), its\n"+
			"p-value and the adjusted p-value of the rule (docs/balance.md). With --propensity the\n"+
			"table is also weighted by 1/propensity, and the weighted one decides. Then the overlap:\n"+
			"per treated arm, the share of its and control's rows whose propensity (estimated, or\n"+
			"--propensity's) is <= 0.05 or >= 0.95, where uplift is an extrapolation. Exits 1 when\n"+
			"--design rct finds features that differ and --allow-imbalanced does not name them;\n"+
			"uplift fit refuses the same features.")
	data := fs.String("data", "", "CSV file with a header row (.csv.gz is read too)")
	treatment := fs.String("treatment", "", "treatment column")
	outcome := fs.String("outcome", "", "outcome column (numeric): its association with each feature weights the rule")
	control := fs.String("control", "0", "treatment value of the control arm")
	treated := fs.String("treated", "", "comma-separated treated arms to keep; rows of other arms are left out")
	features := fs.String("features", "", "comma-separated feature columns (default: every other column)")
	weight := fs.String("weight", "", "column of sample weights")
	propensity := fs.String("propensity", "", "column of logged propensities P(arm received | x)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	bf := addBalanceFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *treatment == "" || *outcome == "":
		return usageErr("--treatment and --outcome are required")
	case fs.NArg() > 0:
		return usageErr("unexpected arguments %q", fs.Args())
	}
	fr, err := readFrame(*data)
	if err != nil {
		return err
	}
	req, schema, sum, err := dataset.BuildFit(fr, dataset.Spec{
		Treatment: *treatment, Outcome: *outcome, Control: *control, Treated: splitList(*treated),
		Features: splitList(*features), Weight: *weight, Propensity: *propensity,
	})
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	if sum.Dropped > 0 {
		fmt.Fprintf(s.err, "left out %d rows of arms not named by --treated\n", sum.Dropped)
	}
	res, err := runBalance(req, schema, bf)
	if err != nil {
		return err
	}
	// The overlap of the arms, beside their balance: a diagnosis, so a
	// check that fails says so and the table is still printed.
	var overlap *overlapJSON
	if rep, err := causal.Overlap(requestData(req, schema), causal.OverlapOptions{}, rand.NewPCG(1, 0x0e)); err != nil {
		fmt.Fprintf(s.err, "warning: the overlap of the arms was not checked: %v\n", err)
	} else {
		overlap = overlapTable(rep, schema)
	}
	if *asJSON {
		out := res.json()
		out.Overlap = overlap
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		err = enc.Encode(out)
	} else {
		err = res.writeText(s.out)
		if err == nil && overlap != nil {
			err = overlap.writeText(s.out, schema.Arms[0])
		}
	}
	if err != nil {
		return err
	}
	if res.rct && len(res.refused()) > 0 {
		return res.verdict(io.Discard)
	}
	return nil
}
