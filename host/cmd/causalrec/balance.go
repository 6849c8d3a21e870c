package main

// The balance check that the commands fitting on a CSV file run before
// fitting (uplift fit, uplift compare), and what a model file records of
// it; cmd_balance.go prints the whole table.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/host/dataset"
	"github.com/causalrec/causalrec/plugins"
)

// Study designs of --design.
const (
	designRCT           = "rct"
	designObservational = "observational"
)

// balanceRule describes the balance check in one line, for reports and
// model files.
const balanceRule = "per feature and treated arm, a test of the arm against control: the larger of the rank-sum and the " +
	"mean-difference z (numeric) or chi-squared (categorical); weighted Holm over features x arms at family-wise " +
	"false-alarm rate alpha, weights from each feature's within-arm association with the outcome (docs/balance.md)"

// errImbalanced reports that --design rct found features that differ
// between the arms. Check with errors.Is.
var errImbalanced = errors.New("refused by the balance check")

// balanceFlags are the flags of the balance check, shared by every command
// that fits on a CSV file (uplift fit, compare, balance; calibrate and
// explain add them the same way).
type balanceFlags struct {
	design, allow *string
}

func addBalanceFlags(fs *flag.FlagSet) balanceFlags {
	return balanceFlags{
		design: fs.String("design", designObservational, "study design: rct (a randomised trial: features that differ between the arms are refused, as they are measured after treatment or the randomisation failed) or observational (they are reported as a warning)"),
		allow:  fs.String("allow-imbalanced", "", "comma-separated features to keep although they differ between the arms (recorded in the model file)"),
	}
}

// parse validates the flags against the features in use.
func (b balanceFlags) parse(schema dataset.Schema) (rct bool, allow []string, err error) {
	switch *b.design {
	case designRCT:
		rct = true
	case designObservational:
	default:
		return false, nil, usageErr("--design %q: want rct or observational", *b.design)
	}
	allow = splitList(*b.allow)
	for _, a := range allow {
		if !slices.ContainsFunc(schema.Features, func(f dataset.SchemaFeature) bool { return f.Name == a }) {
			return false, nil, usageErr("--allow-imbalanced %q is not a feature (features: %s)", a, strings.Join(featureNames(schema), ","))
		}
	}
	return rct, allow, nil
}

func featureNames(schema dataset.Schema) []string {
	out := make([]string, len(schema.Features))
	for i, f := range schema.Features {
		out[i] = f.Name
	}
	return out
}

// balanceResult is the balance check of one data set: the unweighted
// report and, with logged propensities, the weighted one, which then
// decides.
type balanceResult struct {
	schema   dataset.Schema
	rct      bool
	allow    []string
	plain    *causal.BalanceReport
	weighted *causal.BalanceReport // nil without propensities
}

// decisive is the report the check acts on.
func (r *balanceResult) decisive() *causal.BalanceReport {
	if r.weighted != nil {
		return r.weighted
	}
	return r.plain
}

// armFeature is a feature's balance between treated arm Arm and control.
type armFeature struct {
	Arm int
	causal.FeatureBalance
}

// flagged lists the imbalanced features of the decisive report, each once,
// in column order, with the arm of its strongest evidence.
func (r *balanceResult) flagged() []armFeature {
	var out []armFeature
	for _, a := range r.decisive().Arms {
		for _, f := range a.Features {
			if !f.Imbalanced {
				continue
			}
			i := slices.IndexFunc(out, func(g armFeature) bool { return g.Feature == f.Feature })
			switch {
			case i < 0:
				out = append(out, armFeature{a.Arm, f})
			case f.PAdjusted < out[i].PAdjusted:
				out[i] = armFeature{a.Arm, f}
			}
		}
	}
	slices.SortFunc(out, func(a, b armFeature) int { return a.Feature - b.Feature })
	return out
}

// refused lists the flagged features not named by --allow-imbalanced.
func (r *balanceResult) refused() []armFeature {
	var out []armFeature
	for _, f := range r.flagged() {
		if !slices.Contains(r.allow, r.schema.Features[f.Feature].Name) {
			out = append(out, f)
		}
	}
	return out
}

// runBalance tests the balance of the features of a fit request.
func runBalance(req plugins.FitRequest, schema dataset.Schema, bf balanceFlags) (*balanceResult, error) {
	rct, allow, err := bf.parse(schema)
	if err != nil {
		return nil, err
	}
	d := requestData(req, schema)
	res := &balanceResult{schema: schema, rct: rct, allow: allow}
	if res.plain, err = causal.Balance(d, causal.BalanceOptions{}); err != nil {
		return nil, fmt.Errorf("balance check: %w", err)
	}
	if req.Propensity != nil {
		if res.weighted, err = causal.Balance(d, causal.BalanceOptions{IPW: true}); err != nil {
			return nil, fmt.Errorf("weighted balance check: %w", err)
		}
	}
	return res, nil
}

// checkBalance runs the balance check before a fit and acts on it: with
// --design rct, features that differ between the arms are refused unless
// --allow-imbalanced names them; otherwise they are a warning on stderr.
// The summary goes into the model file.
func checkBalance(s stdio, req plugins.FitRequest, schema dataset.Schema, bf balanceFlags) (*balanceSummary, error) {
	res, err := runBalance(req, schema, bf)
	if err != nil {
		return nil, err
	}
	if err := res.verdict(s.err); err != nil {
		return nil, err
	}
	return res.summary(), nil
}

// verdict writes the finding to w and returns errImbalanced when --design
// rct refuses it.
func (r *balanceResult) verdict(w io.Writer) error {
	flagged := r.flagged()
	if len(flagged) == 0 {
		return nil
	}
	var b strings.Builder
	weighting := ""
	if r.weighted != nil {
		weighting = ", after weighting by the logged propensities,"
	}
	refused := r.refused()
	switch {
	case r.rct && len(refused) > 0:
		fmt.Fprintf(&b, "%s%s differ between the arms of this randomised trial (--design rct), as columns measured after treatment do (or the randomisation failed):\n", countFeatures(len(refused)), weighting)
		r.listFeatures(&b, refused)
		var keep []string
		for _, f := range r.schema.Features {
			if !slices.ContainsFunc(refused, func(g armFeature) bool { return r.schema.Features[g.Feature].Name == f.Name }) {
				keep = append(keep, f.Name)
			}
		}
		fmt.Fprintf(&b, "leave them out with --features %s\nor keep them on purpose with --allow-imbalanced %s\n(causalrec uplift balance prints the whole table)",
			strings.Join(keep, ","), strings.Join(r.names(refused), ","))
		return fmt.Errorf("%w: %s", errImbalanced, b.String())
	case r.rct:
		fmt.Fprintf(&b, "note: kept with --allow-imbalanced although they differ between the arms%s (recorded in the model file):\n", weighting)
		r.listFeatures(&b, flagged)
	default:
		fmt.Fprintf(&b, "WARNING: %s differ between the arms%s:\n", countFeatures(len(flagged)), weighting)
		r.listFeatures(&b, flagged)
		b.WriteString("Confounders differ by design in observational data, but so do columns measured after treatment\n" +
			"(a leak of the outcome). Use only features measured before treatment; in a randomised trial,\n" +
			"declare --design rct to refuse such features. causalrec uplift balance prints the whole table.\n")
		if r.weighted != nil {
			fmt.Fprintf(&b, "Weighting balances confounders, not columns measured after treatment; without weights %s differ.\n", countFeatures(len(uniqueFeatures(r.plain.Imbalanced()))))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// countFeatures is "1 feature" or "n features".
func countFeatures(n int) string {
	if n == 1 {
		return "1 feature"
	}
	return fmt.Sprintf("%d features", n)
}

func uniqueFeatures(fs []causal.FeatureBalance) []int {
	var out []int
	for _, f := range fs {
		if !slices.Contains(out, f.Feature) {
			out = append(out, f.Feature)
		}
	}
	return out
}

func (r *balanceResult) names(fs []armFeature) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = r.schema.Features[f.Feature].Name
	}
	return out
}

// listFeatures writes one indented line per feature with its arm, SMD and
// p-values.
func (r *balanceResult) listFeatures(w io.Writer, fs []armFeature) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range fs {
		fmt.Fprintf(tw, "  %s\tarm %q\tSMD %s\tp %s (adjusted %s)\n", r.schema.Features[f.Feature].Name, r.schema.Arms[f.Arm],
			fmtSMD(f.SMD), fmtP(f.P), fmtP(f.PAdjusted))
	}
	_ = tw.Flush()
}

func fmtSMD(v float64) string {
	if math.IsInf(v, 0) {
		return fmt.Sprintf("%+.0f", v)
	}
	return fmt.Sprintf("%+.3f", v)
}

func fmtP(p float64) string {
	switch {
	case p >= 0.01:
		return strconv.FormatFloat(p, 'f', 2, 64)
	case p >= 1e-4:
		return strconv.FormatFloat(p, 'f', 5, 64)
	}
	return strconv.FormatFloat(p, 'e', 1, 64)
}

// balanceSummary is what a model file records of the balance check.
type balanceSummary struct {
	Design string  `json:"design"`
	Rule   string  `json:"rule"`
	Alpha  float64 `json:"alpha"`
	// Weighted reports that the check used the logged propensities.
	Weighted bool `json:"weighted"`
	// Imbalanced lists the features that differ between the arms.
	Imbalanced []balanceFeature `json:"imbalanced"`
	// Allowed lists the features of --allow-imbalanced.
	Allowed []string `json:"allowed,omitempty"`
	// Status is "balanced", "imbalanced" (fitted with a warning) or
	// "allowed" (a randomised trial with --allow-imbalanced).
	Status string `json:"status"`
}

// balanceFeature is one feature's line of the balance table.
type balanceFeature struct {
	Feature     string  `json:"feature"`
	Arm         string  `json:"arm"`
	Kind        string  `json:"kind"`
	MeanTreated float64 `json:"mean_treated"`
	MeanControl float64 `json:"mean_control"`
	SMD         any     `json:"smd"`
	Level       string  `json:"level,omitempty"`
	Test        string  `json:"test"`
	Statistic   float64 `json:"statistic"`
	ZRank       any     `json:"z_rank,omitempty"`
	ZMean       any     `json:"z_mean,omitempty"`
	DF          int     `json:"df,omitempty"`
	P           float64 `json:"p"`
	OutcomeR2   float64 `json:"outcome_r2"`
	Weight      float64 `json:"weight"`
	PAdjusted   float64 `json:"p_adjusted"`
	Imbalanced  bool    `json:"imbalanced"`
	Allowed     bool    `json:"allowed,omitempty"`
}

func (r *balanceResult) feature(arm int, f causal.FeatureBalance) balanceFeature {
	sf := r.schema.Features[f.Feature]
	out := balanceFeature{
		Feature: sf.Name, Arm: r.schema.Arms[arm], Kind: "numeric", MeanTreated: f.MeanTreated, MeanControl: f.MeanControl,
		SMD: jsonFloat(f.SMD), Test: f.Test, Statistic: f.Statistic, DF: f.DF, P: f.P, OutcomeR2: f.OutcomeR2,
		Weight: f.Weight, PAdjusted: f.PAdjusted, Imbalanced: f.Imbalanced,
		Allowed: f.Imbalanced && slices.Contains(r.allow, sf.Name),
	}
	if math.IsInf(f.SMD, 0) {
		out.SMD = fmtSMD(f.SMD)
	}
	if !f.Categorical {
		out.ZRank, out.ZMean = f.ZRank, f.ZMean
	}
	if f.Categorical {
		out.Kind = "categorical"
		if f.Level >= 0 && f.Level < len(sf.Levels) {
			out.Level = sf.Levels[f.Level]
		}
	}
	return out
}

func (r *balanceResult) summary() *balanceSummary {
	s := &balanceSummary{Design: designObservational, Rule: balanceRule, Alpha: r.plain.Alpha, Weighted: r.weighted != nil,
		Allowed: r.allow, Imbalanced: []balanceFeature{}, Status: "balanced"}
	if r.rct {
		s.Design = designRCT
	}
	for _, f := range r.flagged() {
		s.Imbalanced = append(s.Imbalanced, r.feature(f.Arm, f.FeatureBalance))
	}
	switch {
	case len(s.Imbalanced) == 0:
	case r.rct:
		s.Status = "allowed"
	default:
		s.Status = "imbalanced"
	}
	return s
}

// metadata is the one-line note a model's metadata carries when features
// differ between the arms.
func (s *balanceSummary) metadata() string {
	if s == nil || len(s.Imbalanced) == 0 {
		return ""
	}
	parts := make([]string, len(s.Imbalanced))
	for i, f := range s.Imbalanced {
		smd, _ := f.SMD.(float64)
		parts[i] = fmt.Sprintf("%s (arm %q, SMD %.3f, p %s)", f.Feature, f.Arm, smd, fmtP(f.P))
	}
	what := "fitted with a warning: features differ between the arms: "
	if s.Status == "allowed" {
		what = "randomised trial; kept with --allow-imbalanced although they differ between the arms: "
	}
	return what + strings.Join(parts, ", ")
}
