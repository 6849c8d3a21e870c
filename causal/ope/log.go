package ope

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// ErrInput reports invalid input: mismatched lengths, an action or
// position out of range, a propensity outside (0, 1], a policy whose
// probabilities do not sum to 1. Check with errors.Is.
var ErrInput = errors.New("invalid input")

// Log is logged bandit feedback: one row per logged round, the action the
// logging policy chose at one position with the reward it earned and the
// probability the logging policy gave it (OBP's bandit_feedback).
type Log struct {
	// Actions is the number A of actions; actions are 0..A-1.
	Actions int
	// Positions is the number P of positions; positions are 0..P-1. Zero
	// means 1.
	Positions int
	// Action holds a_i for every row.
	Action []int32
	// Position holds k_i for every row; nil means position 0 everywhere.
	Position []int32
	// Reward holds r_i.
	Reward []float64
	// PScore holds the logging propensity p_i = π_b(a_i | x_i, k_i), in
	// (0, 1].
	PScore []float64
	// Context optionally holds one row of context features per logged row
	// (nil means no context). Columns marked in Categorical hold category
	// codes 0, 1, 2, ...; the reward models one-hot encode them.
	Context *mat.Dense
	// Categorical marks the category columns of Context (nil means all
	// numeric).
	Categorical []bool
}

// Rows returns the number of logged rows.
func (l *Log) Rows() int { return len(l.Action) }

// positions returns P, at least 1.
func (l *Log) positions() int { return max(l.Positions, 1) }

// pos returns k_i.
func (l *Log) pos(i int) int {
	if l.Position == nil {
		return 0
	}
	return int(l.Position[i])
}

// contextCols returns the number of context columns.
func (l *Log) contextCols() int {
	if l.Context == nil {
		return 0
	}
	_, p := l.Context.Dims()
	return p
}

// Validate checks the log: equal lengths, actions in 0..A-1, positions in
// 0..P-1, finite rewards, propensities in (0, 1], a context matrix with
// one row per logged row, and at least two distinct logged actions (with
// one action every policy is the logging policy).
func (l *Log) Validate() error {
	n := len(l.Action)
	switch {
	case n == 0:
		return fmt.Errorf("%w: the log has no rows", ErrInput)
	case l.Actions < 1:
		return fmt.Errorf("%w: %d actions", ErrInput, l.Actions)
	case l.Positions < 0:
		return fmt.Errorf("%w: %d positions", ErrInput, l.Positions)
	case len(l.Reward) != n || len(l.PScore) != n:
		return fmt.Errorf("%w: %d actions, %d rewards and %d propensities", ErrInput, n, len(l.Reward), len(l.PScore))
	case l.Position != nil && len(l.Position) != n:
		return fmt.Errorf("%w: %d positions for %d rows", ErrInput, len(l.Position), n)
	}
	if l.Context != nil {
		if r, c := l.Context.Dims(); r != n {
			return fmt.Errorf("%w: %d context rows for %d logged rows", ErrInput, r, n)
		} else if l.Categorical != nil && len(l.Categorical) != c {
			return fmt.Errorf("%w: %d categorical flags for %d context columns", ErrInput, len(l.Categorical), c)
		}
	}
	first, distinct := int32(-1), false
	for i, a := range l.Action {
		if a < 0 || int(a) >= l.Actions {
			return fmt.Errorf("%w: row %d: action %d is outside 0..%d", ErrInput, i, a, l.Actions-1)
		}
		if first < 0 {
			first = a
		} else if a != first {
			distinct = true
		}
		if k := l.pos(i); k < 0 || k >= l.positions() {
			return fmt.Errorf("%w: row %d: position %d is outside 0..%d", ErrInput, i, k, l.positions()-1)
		}
		if r := l.Reward[i]; math.IsNaN(r) || math.IsInf(r, 0) {
			return fmt.Errorf("%w: row %d: reward %v", ErrInput, i, r)
		}
		if p := l.PScore[i]; !(p > 0 && p <= 1) {
			return fmt.Errorf("%w: row %d: propensity %v is outside (0, 1]", ErrInput, i, p)
		}
	}
	if !distinct {
		return fmt.Errorf("%w: every logged row has the same action %d: with one action every policy is the logging policy", ErrInput, first)
	}
	if l.Context != nil {
		raw := l.Context.RawMatrix()
		for i := 0; i < raw.Rows; i++ {
			for j, v := range raw.Data[i*raw.Stride : i*raw.Stride+raw.Cols] {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return fmt.Errorf("%w: row %d: context column %d is %v", ErrInput, i, j, v)
				}
			}
		}
	}
	return nil
}

// Policy is an evaluation policy's distribution over actions at every
// logged row, π_e(· | x_i, k_i).
type Policy interface {
	// Dist returns the actions of row i with their probabilities, as two
	// slices of equal length that the caller must not modify. Actions
	// left out have probability 0; an action appears at most once.
	Dist(i int) (actions []int32, probs []float64)
}

// PositionPolicy is a context-free policy: the same distribution over
// actions for every row at a position, as OBP's action distribution of a
// policy such as Bernoulli Thompson sampling computed once for a batch.
type PositionPolicy struct {
	position []int32
	acts     [][]int32
	probs    [][]float64
}

// NewPositionPolicy returns the policy that gives every row i the
// distribution prob[k_i], where position holds k_i for every logged row
// (nil means position 0 everywhere) and prob[k][a] = π_e(a | k). Each
// prob[k] must be a distribution over the same number of actions: entries
// in [0, 1] summing to 1 within 1e-6.
func NewPositionPolicy(position []int32, prob [][]float64) (*PositionPolicy, error) {
	if len(prob) == 0 {
		return nil, fmt.Errorf("%w: a policy without positions", ErrInput)
	}
	p := &PositionPolicy{position: position, acts: make([][]int32, len(prob)), probs: make([][]float64, len(prob))}
	for k, row := range prob {
		if len(row) != len(prob[0]) {
			return nil, fmt.Errorf("%w: position %d has %d actions, position 0 has %d", ErrInput, k, len(row), len(prob[0]))
		}
		var sum float64
		for a, v := range row {
			if !(v >= 0 && v <= 1) {
				return nil, fmt.Errorf("%w: position %d action %d: probability %v is outside [0, 1]", ErrInput, k, a, v)
			}
			sum += v
			if v > 0 {
				p.acts[k] = append(p.acts[k], int32(a))
				p.probs[k] = append(p.probs[k], v)
			}
		}
		if math.Abs(sum-1) > SumTolerance {
			return nil, fmt.Errorf("%w: position %d: probabilities sum to %.10g, not 1", ErrInput, k, sum)
		}
	}
	for i, k := range position {
		if k < 0 || int(k) >= len(prob) {
			return nil, fmt.Errorf("%w: row %d is at position %d, the policy has %d positions", ErrInput, i, k, len(prob))
		}
	}
	return p, nil
}

// Dist implements Policy.
func (p *PositionPolicy) Dist(i int) ([]int32, []float64) {
	k := 0
	if p.position != nil {
		k = int(p.position[i])
	}
	return p.acts[k], p.probs[k]
}

// SumTolerance is how far from 1 the probabilities of a distribution may
// sum.
const SumTolerance = 1e-6

// RowPolicy is a policy given row by row in compressed sparse row form:
// row i's actions are Action[Start[i]:Start[i+1]] with probabilities
// Prob[Start[i]:Start[i+1]]. It suits contextual policies, such as a
// model's ranking of each logged round's candidates.
type RowPolicy struct {
	// Start has one entry per row plus one; Start[0] = 0.
	Start []int
	// Action and Prob hold the rows' entries back to back.
	Action []int32
	Prob   []float64
}

// Dist implements Policy.
func (p *RowPolicy) Dist(i int) ([]int32, []float64) {
	lo, hi := p.Start[i], p.Start[i+1]
	return p.Action[lo:hi], p.Prob[lo:hi]
}

// Append adds the next row's distribution. It does not check it;
// Evaluate does.
func (p *RowPolicy) Append(actions []int32, probs []float64) {
	if len(p.Start) == 0 {
		p.Start = append(p.Start, 0)
	}
	p.Action = append(p.Action, actions...)
	p.Prob = append(p.Prob, probs...)
	p.Start = append(p.Start, len(p.Action))
}

// checkPolicy validates pol at every row of l: actions in range and
// listed once, probabilities in [0, 1] summing to 1 within SumTolerance.
func checkPolicy(l *Log, pol Policy) error {
	if pol == nil {
		return fmt.Errorf("%w: no evaluation policy", ErrInput)
	}
	if rp, ok := pol.(*RowPolicy); ok && len(rp.Start) != l.Rows()+1 {
		return fmt.Errorf("%w: the row policy has %d rows, the log %d", ErrInput, len(rp.Start)-1, l.Rows())
	}
	if pp, ok := pol.(*PositionPolicy); ok {
		if len(pp.acts) < l.positions() {
			return fmt.Errorf("%w: the policy has %d positions, the log %d", ErrInput, len(pp.acts), l.positions())
		}
		for k, acts := range pp.acts {
			for _, a := range acts {
				if int(a) >= l.Actions {
					return fmt.Errorf("%w: position %d: action %d is outside 0..%d", ErrInput, k, a, l.Actions-1)
				}
			}
		}
		return nil // NewPositionPolicy checked the sums
	}
	seen := make([]int, l.Actions)
	for i := range l.Rows() {
		acts, probs := pol.Dist(i)
		if len(acts) != len(probs) {
			return fmt.Errorf("%w: row %d: %d actions and %d probabilities", ErrInput, i, len(acts), len(probs))
		}
		var sum float64
		for j, a := range acts {
			if a < 0 || int(a) >= l.Actions {
				return fmt.Errorf("%w: row %d: action %d is outside 0..%d", ErrInput, i, a, l.Actions-1)
			}
			if seen[a] == i+1 {
				return fmt.Errorf("%w: row %d: action %d listed twice", ErrInput, i, a)
			}
			seen[a] = i + 1
			v := probs[j]
			if !(v >= 0 && v <= 1) {
				return fmt.Errorf("%w: row %d action %d: probability %v is outside [0, 1]", ErrInput, i, a, v)
			}
			sum += v
		}
		if math.Abs(sum-1) > SumTolerance {
			return fmt.Errorf("%w: row %d (position %d): probabilities sum to %.10g, not 1", ErrInput, i, l.pos(i), sum)
		}
	}
	return nil
}

// probOf returns π_e(a | row i).
func probOf(pol Policy, i int, a int32) float64 {
	acts, probs := pol.Dist(i)
	if j := slices.Index(acts, a); j >= 0 {
		return probs[j]
	}
	return 0
}
