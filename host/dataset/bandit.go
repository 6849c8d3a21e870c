package dataset

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// BanditSpec names the columns of a logged bandit feedback table. The
// defaults (DefaultBanditSpec) are the Open Bandit Dataset's.
type BanditSpec struct {
	Action, Position, Reward, PScore string
	// Features lists the context columns; empty means every other column
	// except "timestamp" and an unnamed leading index column.
	Features []string
}

// DefaultBanditSpec is the Open Bandit Dataset's layout.
var DefaultBanditSpec = BanditSpec{Action: "item_id", Position: "position", Reward: "click", PScore: "propensity_score"}

// BanditLog is a logged bandit table in the form of causal/ope's Log
// (the commands convert it): per row an action and a position index, a
// reward, a logging propensity and the context features.
type BanditLog struct {
	// Actions and Positions hold the log's values of each action and
	// position index, sorted (numerically for numeric columns).
	Actions, Positions []string
	// Action and Position hold every row's indices; Position is nil when
	// the log has no position column.
	Action, Position []int32
	// Reward and PScore hold the rewards and the logging propensities, in
	// (0, 1].
	Reward, PScore []float64
	// Context holds the features of every row (category codes in the
	// columns marked in Categorical); nil without features.
	Context     *mat.Dense
	Categorical []bool
	// Features names the context columns.
	Features []string
	// ActionLine holds, per action, the line of its first logged row.
	ActionLine []int

	numericAction, numericPosition bool
	actionOf, positionOf           map[string]int32
	lines                          []int
}

// BuildBanditLog reads the log's columns: the action and position (numbers
// or texts, indexed in sorted order; no position column puts every row at
// one position), a numeric reward and a propensity in (0, 1] in every row,
// and the context features (text columns are categorical).
func BuildBanditLog(f *Frame, s BanditSpec) (*BanditLog, error) {
	col := func(role, name string) (*Column, error) {
		c, ok := f.Column(name)
		if !ok {
			return nil, fmt.Errorf("%s column %q not found (columns: %s)", role, name, strings.Join(quoted(f.Names()), ", "))
		}
		return c, nil
	}
	ac, err := col("action", s.Action)
	if err != nil {
		return nil, err
	}
	var pc *Column
	if s.Position != "" {
		if pc, err = col("position", s.Position); err != nil {
			return nil, fmt.Errorf("%w (a log without positions: --position '')", err)
		}
	}
	rc, err := col("reward", s.Reward)
	if err != nil {
		return nil, err
	}
	if !rc.Numeric {
		i := firstNonNumber(rc)
		return nil, fmt.Errorf("line %d: reward %q is not a number (column %q)", f.Lines[i], rc.String(i), s.Reward)
	}
	psc, err := col("propensity", s.PScore)
	if err != nil {
		return nil, err
	}
	if !psc.Numeric {
		i := firstNonNumber(psc)
		return nil, fmt.Errorf("line %d: propensity %q is not a number (column %q)", f.Lines[i], psc.String(i), s.PScore)
	}
	for i, p := range psc.Values {
		if !(p > 0 && p <= 1) {
			return nil, fmt.Errorf("line %d: propensity %v is outside (0, 1] (column %q)", f.Lines[i], p, s.PScore)
		}
	}
	roles := []string{s.Action, s.Position, s.Reward, s.PScore}
	var feats []*Column
	if len(s.Features) == 0 {
		for j, c := range f.Columns {
			if slices.Contains(roles, c.Name) || c.Name == "timestamp" || (j == 0 && c.Name == "") {
				continue
			}
			feats = append(feats, c)
		}
	} else {
		for _, name := range s.Features {
			c, err := col("feature", name)
			if err != nil {
				return nil, err
			}
			if slices.Contains(roles, name) {
				return nil, fmt.Errorf("column %q cannot be both a feature and the action, position, reward or propensity", name)
			}
			feats = append(feats, c)
		}
	}
	n := f.Rows
	b := &BanditLog{lines: f.Lines, numericAction: ac.Numeric, numericPosition: pc == nil || pc.Numeric,
		Reward: rc.Values, PScore: psc.Values, Action: make([]int32, n)}
	b.Actions, b.actionOf = index(ac, b.Action)
	b.ActionLine = make([]int, len(b.Actions))
	for i := n - 1; i >= 0; i-- {
		b.ActionLine[b.Action[i]] = f.Lines[i]
	}
	if len(b.Actions) < 2 {
		return nil, fmt.Errorf("action column %q holds one action (%s): with one action every policy is the logging policy", s.Action, b.Actions[0])
	}
	if pc != nil {
		b.Position = make([]int32, n)
		b.Positions, b.positionOf = index(pc, b.Position)
	} else {
		b.Positions, b.positionOf = []string{""}, map[string]int32{"": 0}
	}
	if len(feats) > 0 {
		b.Context = mat.NewDense(n, len(feats), nil)
		b.Categorical = make([]bool, len(feats))
		for j, c := range feats {
			b.Features = append(b.Features, c.Name)
			b.Categorical[j] = !c.Numeric
			for i := range n {
				if c.Numeric {
					b.Context.Set(i, j, c.Values[i])
				} else {
					b.Context.Set(i, j, float64(c.Codes[i]))
				}
			}
		}
	}
	return b, nil
}

func quoted(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strconv.Quote(v)
	}
	return out
}

// firstNonNumber returns the first row of a categorical column whose text
// is not a number.
func firstNonNumber(c *Column) int {
	for i := range c.Codes {
		if _, ok := parseNumber([]byte(c.Levels[c.Codes[i]])); !ok {
			return i
		}
	}
	return 0
}

// key is the text a value is matched by: a numeric column's value
// formatted, a text column's value as it is.
func key(numeric bool, v float64, s string) string {
	if numeric {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return s
}

// index maps a column's distinct values to 0..m-1 in sorted order and
// writes every row's index into dst.
func index(c *Column, dst []int32) ([]string, map[string]int32) {
	type val struct {
		s string
		v float64
	}
	var vals []val
	of := map[string]int32{}
	if c.Numeric {
		seen := map[float64]bool{}
		for _, v := range c.Values {
			if !seen[v] {
				seen[v] = true
				vals = append(vals, val{key(true, v, ""), v})
			}
		}
		slices.SortFunc(vals, func(a, b val) int { return cmp.Compare(a.v, b.v) })
	} else {
		for _, l := range c.Levels {
			vals = append(vals, val{s: l})
		}
		slices.SortFunc(vals, func(a, b val) int { return strings.Compare(a.s, b.s) })
	}
	names := make([]string, len(vals))
	for k, v := range vals {
		names[k] = v.s
		of[v.s] = int32(k)
	}
	if c.Numeric {
		for i, v := range c.Values {
			dst[i] = of[key(true, v, "")]
		}
	} else {
		remap := make([]int32, len(c.Levels))
		for k, l := range c.Levels {
			remap[k] = of[l]
		}
		for i, code := range c.Codes {
			dst[i] = remap[code]
		}
	}
	return names, of
}

// PolicySumTolerance is how far from 1 a distribution's probabilities may
// sum (causal/ope's SumTolerance).
const PolicySumTolerance = 1e-6

// BanditPolicy is an evaluation policy read for a BanditLog, in the forms
// of causal/ope's PositionPolicy (ContextFree) and RowPolicy (PerRound).
type BanditPolicy struct {
	Kind PolicyKind
	// Prob[k][a] is the probability of action a at position k
	// (ContextFree).
	Prob [][]float64
	// Row i's actions are Action[Start[i]:Start[i+1]] with probabilities
	// RowProb[Start[i]:Start[i+1]], at the row's logged position
	// (PerRound).
	Start   []int
	Action  []int32
	RowProb []float64
}

// PolicyKind says how a policy file gives the distribution.
type PolicyKind int

const (
	// ContextFree is item_id,position,prob: one distribution per position
	// for every round.
	ContextFree PolicyKind = iota
	// PerRound is round,item_id,position,prob: a distribution per round
	// (0-based data row of the log) and position.
	PerRound
)

// Policy reads an evaluation policy file for this log: context-free
// (item_id,position,prob) or per round (round,item_id,position,prob). The
// item column may also be named as the log's action column, the position
// column as the log's; without positions in the log the position column
// is left out. Items and positions are the log's values. At each position
// (per round: each listed round and position) the probabilities must sum
// to 1 within PolicySumTolerance, every row of the log needs its round's
// distribution at its position, a context-free policy must list every
// logged item (with probability 0 when it never chooses it), and an item
// or position the log lacks is an error.
func (b *BanditLog) Policy(f *Frame, s BanditSpec) (*BanditPolicy, error) {
	find := func(names ...string) *Column {
		for _, n := range names {
			if c, ok := f.Column(n); ok && n != "" {
				return c
			}
		}
		return nil
	}
	item := find("item_id", s.Action)
	pos := find("position", s.Position)
	prob := find("prob")
	round := find("round")
	hasPos := s.Position != ""
	want := "item_id,position,prob or round,item_id,position,prob"
	if !hasPos {
		want = "item_id,prob or round,item_id,prob"
	}
	switch {
	case item == nil || prob == nil || (hasPos && pos == nil):
		return nil, fmt.Errorf("policy: want columns %s; found %s", want, strings.Join(quoted(f.Names()), ", "))
	case !hasPos && pos != nil:
		return nil, fmt.Errorf("policy: column %q, but the log has no positions", pos.Name)
	case !prob.Numeric:
		i := firstNonNumber(prob)
		return nil, fmt.Errorf("policy: line %d: prob %q is not a number", f.Lines[i], prob.String(i))
	case round != nil && !round.Numeric:
		i := firstNonNumber(round)
		return nil, fmt.Errorf("policy: line %d: round %q is not a number", f.Lines[i], round.String(i))
	}
	A, P, n := len(b.Actions), len(b.Positions), len(b.Action)
	lookup := func(c *Column, numeric bool, of map[string]int32, i int, what string) (int32, error) {
		if c == nil {
			return 0, nil
		}
		var k string
		switch {
		case numeric && c.Numeric:
			k = key(true, c.Values[i], "")
		case numeric:
			v, ok := parseNumber([]byte(c.String(i)))
			if !ok {
				return 0, fmt.Errorf("policy: line %d: %s %q does not appear in the log", f.Lines[i], what, c.String(i))
			}
			k = key(true, v, "")
		default:
			k = c.String(i)
		}
		idx, ok := of[k]
		if !ok {
			return 0, fmt.Errorf("policy: line %d: %s %q does not appear in the log", f.Lines[i], what, c.String(i))
		}
		return idx, nil
	}
	// entry reads line i's item, position and probability.
	entry := func(i int) (a, k int32, p float64, err error) {
		if a, err = lookup(item, b.numericAction, b.actionOf, i, "item"); err != nil {
			return 0, 0, 0, err
		}
		if k, err = lookup(pos, b.numericPosition, b.positionOf, i, "position"); err != nil {
			return 0, 0, 0, err
		}
		if p = prob.Values[i]; !(p >= 0 && p <= 1) {
			return 0, 0, 0, fmt.Errorf("policy: line %d: prob %v is outside [0, 1]", f.Lines[i], p)
		}
		return a, k, p, nil
	}
	posName := func(k int32) string { return b.Positions[k] }
	if round == nil {
		probs := make([][]float64, P)
		listed := make([][]bool, P)
		for k := range probs {
			probs[k], listed[k] = make([]float64, A), make([]bool, A)
		}
		everListed := make([]bool, A)
		for i := range f.Rows {
			a, k, p, err := entry(i)
			if err != nil {
				return nil, err
			}
			if listed[k][a] {
				return nil, fmt.Errorf("policy: line %d: item %s at position %s is listed twice", f.Lines[i], b.Actions[a], posName(k))
			}
			listed[k][a], everListed[a] = true, true
			probs[k][a] = p
		}
		for k := range probs {
			var sum float64
			for _, p := range probs[k] {
				sum += p
			}
			if math.Abs(sum-1) > PolicySumTolerance {
				return nil, fmt.Errorf("policy: position %s: probabilities sum to %.10g, not 1", posName(int32(k)), sum)
			}
		}
		for a, ok := range everListed {
			if !ok {
				return nil, fmt.Errorf("policy: item %s of the log (line %d) is not in the policy; list it with prob 0 if the policy never chooses it", b.Actions[a], b.ActionLine[a])
			}
		}
		return &BanditPolicy{Kind: ContextFree, Prob: probs}, nil
	}
	// Per round: keep each round's entries at its logged position, check
	// every listed (round, position)'s sum.
	sums := make([]float64, n*P)
	count := make([]int32, n)
	type kept struct {
		round int32
		a     int32
		p     float64
		line  int
	}
	var keep []kept
	for i := range f.Rows {
		r := round.Values[i]
		if r != math.Trunc(r) || r < 0 {
			return nil, fmt.Errorf("policy: line %d: round %v is not a row number (0, 1, 2, ...)", f.Lines[i], r)
		}
		if r >= float64(n) {
			return nil, fmt.Errorf("policy: line %d: round %v exceeds the log's %d rows (rounds are 0-based data rows of the log)", f.Lines[i], r, n)
		}
		a, k, p, err := entry(i)
		if err != nil {
			return nil, err
		}
		ri := int(r)
		sums[ri*P+int(k)] += p
		if b.Position == nil || k == b.Position[ri] {
			keep = append(keep, kept{int32(ri), a, p, f.Lines[i]})
			count[ri]++
		}
	}
	for ri := range n {
		k := 0
		if b.Position != nil {
			k = int(b.Position[ri])
		}
		if count[ri] == 0 {
			return nil, fmt.Errorf("policy: round %d, position %s: no probabilities, but row %d of the log (line %d) is at that position", ri, posName(int32(k)), ri, b.lines[ri])
		}
	}
	for idx, s := range sums {
		if s != 0 && math.Abs(s-1) > PolicySumTolerance {
			return nil, fmt.Errorf("policy: round %d, position %s: probabilities sum to %.10g, not 1", idx/P, posName(int32(idx%P)), s)
		}
	}
	// A listed (round, position) whose entries are all 0 sums to 0.
	for ri := range n {
		k := 0
		if b.Position != nil {
			k = int(b.Position[ri])
		}
		if s := sums[ri*P+k]; s == 0 {
			return nil, fmt.Errorf("policy: round %d, position %s: probabilities sum to 0, not 1", ri, posName(int32(k)))
		}
	}
	slices.SortStableFunc(keep, func(x, y kept) int {
		return cmp.Or(cmp.Compare(x.round, y.round), cmp.Compare(x.a, y.a))
	})
	rp := &BanditPolicy{Kind: PerRound, Start: make([]int, n+1), Action: make([]int32, len(keep)), RowProb: make([]float64, len(keep))}
	for j, e := range keep {
		if j > 0 && keep[j-1].round == e.round && keep[j-1].a == e.a {
			return nil, fmt.Errorf("policy: line %d: round %d lists item %s twice at its position", e.line, e.round, b.Actions[e.a])
		}
		rp.Action[j], rp.RowProb[j] = e.a, e.p
		rp.Start[e.round+1]++
	}
	for ri := range n {
		rp.Start[ri+1] += rp.Start[ri]
	}
	return rp, nil
}
