package main

// The report of an explanation (causal.Explain) with feature names, as
// uplift explain prints it and GET /v1/models/{id}/explain answers it:
// JSON, text with the tree as rules, and a plot.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/causal/plot"
	"github.com/causalrec/causalrec/host/api"
	"github.com/causalrec/causalrec/lm"
)

// explainFeature names a column of the explained matrix: a numeric
// feature, or a categorical one with its levels by code.
type explainFeature struct {
	Name   string
	Levels []string // nil for a numeric feature
}

// termName is the name of a BLP term: the feature, or feature=level.
func termName(fs []explainFeature, feature, level int) string {
	f := fs[feature]
	if level < 0 {
		return f.Name
	}
	if level < len(f.Levels) {
		return f.Name + "=" + f.Levels[level]
	}
	return fmt.Sprintf("%s=%d", f.Name, level)
}

// newExplainReport names the parts of ex. top, when positive, keeps the
// top largest importances and the top BLP terms of smallest p-value (in
// feature order).
func newExplainReport(ex *causal.Explanation, fs []explainFeature, terms []causal.TermEffect, top int, level float64) *api.ExplainReport {
	r := &api.ExplainReport{BLP: []api.ExplainCoef{}, Importance: []api.ExplainImportance{}, Terms: []api.ExplainTerm{}, N: len(ex.Tau), Level: level}
	if ex.BLP != nil {
		ic := ex.Intercept
		r.BLPIntercept = &api.ExplainCoef{Feature: "(intercept)", Coef: api.Num(ic.Coef), CI: api.Nums(ic.CI), PValue: api.Num(ic.PValue), SE: api.Num(ic.SE)}
		keep := slices.Clone(ex.BLP)
		if top > 0 && len(keep) > top {
			slices.SortStableFunc(keep, func(a, b causal.ProjectionCoef) int { return cmpNaNLast(a.PValue, b.PValue) })
			keep = keep[:top]
			slices.SortStableFunc(keep, func(a, b causal.ProjectionCoef) int {
				if a.Feature != b.Feature {
					return a.Feature - b.Feature
				}
				return a.Level - b.Level
			})
		}
		for _, c := range keep {
			r.BLP = append(r.BLP, api.ExplainCoef{Feature: termName(fs, c.Feature, c.Level), Coef: api.Num(c.Coef), CI: api.Nums(c.CI), PValue: api.Num(c.PValue), SE: api.Num(c.SE)})
		}
	}
	for _, f := range fs {
		if f.Levels != nil && ex.BLP != nil {
			r.Notes = append(r.Notes, fmt.Sprintf("blp: %s enters as one term per level against the level %q", f.Name, f.Levels[0]))
		}
	}
	for k, f := range ex.Importance {
		if top > 0 && k >= top {
			break
		}
		r.Importance = append(r.Importance, api.ExplainImportance{Feature: fs[f.Feature].Name, Value: api.Num(f.Value), CI: api.Nums(f.CI)})
	}
	r.Tree = treeOf(ex.Tree, fs)
	for _, t := range terms {
		r.Terms = append(r.Terms, api.ExplainTerm{Term: t.Term, Effect: api.Num(t.Effect), CI: api.Nums(t.CI), N: t.N})
	}
	return r
}

// cmpNaNLast orders numbers increasingly with NaN last.
func cmpNaNLast(a, b float64) int {
	switch {
	case math.IsNaN(a) && math.IsNaN(b):
		return 0
	case math.IsNaN(a):
		return 1
	case math.IsNaN(b):
		return -1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func treeOf(nd *causal.EffectNode, fs []explainFeature) *api.ExplainNode {
	if nd == nil {
		return nil
	}
	t := &api.ExplainNode{N: nd.N, Effect: api.Num(nd.Effect), CI: api.Nums(nd.CI), Tau: api.Num(nd.Tau)}
	if nd.Leaf() {
		return t
	}
	t.Feature = fs[nd.Feature].Name
	if nd.Level >= 0 {
		l := termName(fs, nd.Feature, nd.Level)[len(t.Feature)+1:]
		t.Level = &l
	} else {
		th := api.Num(nd.Threshold)
		t.Threshold = &th
	}
	t.Left, t.Right = treeOf(nd.Left, fs), treeOf(nd.Right, fs)
	return t
}

// writeJSON writes the report as indented JSON.
func writeExplainJSON(w io.Writer, r *api.ExplainReport) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// fmtNum formats a number of the text report.
func fmtExplainNum(v api.Num) string {
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "-"
	}
	return strconv.FormatFloat(f, 'g', 4, 64)
}

func fmtCI(c [2]api.Num) string { return "[" + fmtExplainNum(c[0]) + ", " + fmtExplainNum(c[1]) + "]" }

// writeText writes the report for a reader: the tables, and the tree as
// one rule per leaf.
func writeExplainText(w io.Writer, r *api.ExplainReport) error {
	var b bytes.Buffer
	pct := fmt.Sprintf("%g%%", 100*r.Level)
	what := "the effect"
	if r.Arm != "" {
		what = fmt.Sprintf("the effect of %q", r.Arm)
	}
	fmt.Fprintf(&b, "Explaining %s on %d rows; intervals at %s.\n", what, r.N, pct)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if r.BLPIntercept != nil {
		fmt.Fprintf(&b, "\nBest linear projection of the doubly robust scores on the standardised features (HC3):\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "feature\tcoef\tinterval\tp-value\t\n")
		for _, c := range append([]api.ExplainCoef{*r.BLPIntercept}, r.BLP...) {
			star := ""
			if float64(c.CI[0]) > 0 || float64(c.CI[1]) < 0 {
				star = "*"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Feature, fmtExplainNum(c.Coef), fmtCI(c.CI), fmtExplainNum(c.PValue), star)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(&b, "\nPermutation importance (share of the predicted effects' variance lost when the feature is permuted):\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "feature\timportance\tinterval\n")
	for _, f := range r.Importance {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Feature, fmtExplainNum(f.Value), fmtCI(f.CI))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nTree of the predicted effects (one rule per leaf; effect = mean doubly robust score):\n")
	writeRules(&b, r.Tree, nil)
	if len(r.Terms) > 0 {
		fmt.Fprintf(&b, "\nTerms of the item texts (effect = mean effect of items with the term minus without):\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "term\teffect\tinterval\titems\n")
		for _, t := range r.Terms {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", t.Term, fmtExplainNum(t.Effect), fmtCI(t.CI), t.N)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// ruleCond is one condition on the path to a leaf: a numeric feature
// ≤ or > a threshold, or a categorical one = or ≠ a level.
type ruleCond struct {
	feature string
	le      bool
	value   api.Num
	level   *string
}

// rules writes one line per leaf: the conditions from the root (the
// tightest bounds of each numeric feature), the leaf's rows and effects.
func writeRules(w io.Writer, t *api.ExplainNode, conds []ruleCond) {
	if t == nil {
		return
	}
	if t.Left == nil {
		rule := "all rows"
		if len(conds) > 0 {
			rule = ruleText(conds)
		}
		eff := "predicted effect " + fmtExplainNum(t.Tau)
		if !math.IsNaN(float64(t.CI[0])) {
			eff += ", effect " + fmtExplainNum(t.Effect) + " " + fmtCI(t.CI)
		}
		fmt.Fprintf(w, "  if %s: %d rows, %s\n", rule, t.N, eff)
		return
	}
	l, r := ruleCond{feature: t.Feature, le: true, level: t.Level}, ruleCond{feature: t.Feature, level: t.Level}
	if t.Threshold != nil {
		l.value, r.value = *t.Threshold, *t.Threshold
	}
	writeRules(w, t.Left, append(slices.Clip(conds), l))
	writeRules(w, t.Right, append(slices.Clip(conds), r))
}

// ruleText joins a leaf's conditions, one per feature and kind in the
// order they first appear: "a < x ≤ b" for the tightest bounds of a
// numeric feature, each level test of a categorical one.
func ruleText(conds []ruleCond) string {
	type bounds struct {
		lo, hi       api.Num
		hasLo, hasHi bool
	}
	var order []string
	nb := map[string]*bounds{}
	var parts []string
	for _, c := range conds {
		if c.level != nil {
			op := "="
			if !c.le {
				op = "≠"
			}
			parts = append(parts, fmt.Sprintf("%s %s %q", c.feature, op, *c.level))
			order = append(order, "")
			continue
		}
		b, ok := nb[c.feature]
		if !ok {
			b = &bounds{}
			nb[c.feature] = b
			order = append(order, c.feature)
			parts = append(parts, "")
		}
		switch {
		case c.le && (!b.hasHi || c.value < b.hi):
			b.hi, b.hasHi = c.value, true
		case !c.le && (!b.hasLo || c.value > b.lo):
			b.lo, b.hasLo = c.value, true
		}
	}
	for k, f := range order {
		if f == "" {
			continue
		}
		b := nb[f]
		switch {
		case b.hasLo && b.hasHi:
			parts[k] = fmt.Sprintf("%s < %s ≤ %s", fmtExplainNum(b.lo), f, fmtExplainNum(b.hi))
		case b.hasHi:
			parts[k] = fmt.Sprintf("%s ≤ %s", f, fmtExplainNum(b.hi))
		default:
			parts[k] = fmt.Sprintf("%s > %s", f, fmtExplainNum(b.lo))
		}
	}
	return strings.Join(parts, " and ")
}

// writePlot draws the importances and the BLP coefficients with their
// intervals.
func writeExplainPlot(w io.Writer, r *api.ExplainReport, format plot.Format, title string) error {
	var imp, blp []plot.Estimate
	for _, f := range r.Importance {
		imp = append(imp, plot.Estimate{Name: f.Feature, Value: float64(f.Value), Lo: float64(f.CI[0]), Hi: float64(f.CI[1])})
	}
	for _, c := range r.BLP {
		if !math.IsNaN(float64(c.Coef)) {
			blp = append(blp, plot.Estimate{Name: c.Feature, Value: float64(c.Coef), Lo: float64(c.CI[0]), Hi: float64(c.CI[1])})
		}
	}
	return plot.WriteExplanation(w, format, title, r.Level, imp, blp)
}

// textTerms returns the terms of an item text: its words, tokenised as the
// lm plugin tokenises item text (lm.Tokenize), that hold a letter or a
// digit, and the bigrams "a b" of words next to each other (punctuation
// between them breaks the pair).
func textTerms(text string) []string {
	var out []string
	prev := ""
	for _, tok := range lm.Tokenize(text) {
		if !strings.ContainsFunc(tok, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) {
			prev = ""
			continue
		}
		out = append(out, tok)
		if prev != "" {
			out = append(out, prev+" "+tok)
		}
		prev = tok
	}
	return out
}

// documentEffects groups rows into documents: the mean τ̂ of the rows of
// each document key (an item) and the terms of its text. Rows with an
// empty key are left out.
func documentEffects(tau []float64, keys []string, text func(key string) string) ([]float64, [][]string) {
	idx := map[string]int{}
	var sum []float64
	var cnt []int
	var docs [][]string
	for i, k := range keys {
		if k == "" {
			continue
		}
		d, ok := idx[k]
		if !ok {
			d = len(sum)
			idx[k] = d
			sum, cnt = append(sum, 0), append(cnt, 0)
			docs = append(docs, textTerms(text(k)))
		}
		sum[d] += tau[i]
		cnt[d]++
	}
	for d := range sum {
		sum[d] /= float64(cnt[d])
	}
	return sum, docs
}
