package ope

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
)

// interactionDesign builds Logistic's design explicitly: [x, onehot(k),
// onehot(a), onehot(a) ⊗ (1, x)] for the rows with the given actions.
func interactionDesign(l *Log, x *mat.Dense, act []int32) *mat.Dense {
	n := l.Rows()
	_, d := x.Dims()
	D, P, A := 1+d, l.positions(), l.Actions
	out := mat.NewDense(n, d+P+A*D, nil)
	for i := range n {
		row := out.RawRowView(i)
		copy(row, x.RawRowView(i))
		row[d+l.pos(i)] = 1
		a := int(act[i])
		off := d + P + a*D
		row[off] = 1
		copy(row[off+1:off+D], x.RawRowView(i))
	}
	return out
}

// TestLogisticMatchesLinear checks that the structured fit minimises
// causal.Linear's objective: on the explicit design, Linear predicts the
// same rewards for every action.
func TestLogisticMatchesLinear(t *testing.T) {
	for _, tc := range []struct {
		name      string
		intercept float64
		regress   bool
	}{{"logistic", -1, false}, {"least squares", -1, true}} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := NewSyntheticEnv(SyntheticConfig{Actions: 5, Positions: 2, Numeric: 2, Categorical: 1, Levels: 3, Intercept: tc.intercept}, rand.NewPCG(7, 1))
			if err != nil {
				t.Fatal(err)
			}
			s := env.Sample(3000, rand.NewPCG(7, 2))
			l := s.Log
			if tc.regress {
				for i := range l.Reward {
					l.Reward[i] = 3*l.Reward[i] - 1 + 0.5*l.Context.At(i, 0)
				}
			}
			x, err := encodeContext(l)
			if err != nil {
				t.Fatal(err)
			}
			rows := make([]int, l.Rows())
			for i := range rows {
				rows[i] = i
			}
			m, err := Logistic{L2: 2}.FitRewards(l, x, rows, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float64, l.Rows()*l.Actions)
			m.Predict(got, l, x, rows)
			task := causal.Classification
			if tc.regress {
				task = causal.Regression
			}
			lin, err := causal.Linear{L2: 2}.Fit(interactionDesign(l, x, l.Action), l.Reward, nil, task, nil)
			if err != nil {
				t.Fatal(err)
			}
			act := make([]int32, l.Rows())
			var worst float64
			for a := range l.Actions {
				for i := range act {
					act[i] = int32(a)
				}
				want := lin.Predict(nil, interactionDesign(l, x, act))
				for i, w := range want {
					worst = math.Max(worst, math.Abs(got[i*l.Actions+a]-w))
				}
			}
			if worst > 1e-7 {
				t.Errorf("largest difference from causal.Linear's predictions %g, want ≤ 1e-7", worst)
			}
		})
	}
}

// TestWarmStartMatchesColdStart: a fold started from another fold's fit
// ends where a fit from scratch ends, also when a column has no spread in
// this fold's rows (its coefficient must be 0, not the other fold's).
func TestWarmStartMatchesColdStart(t *testing.T) {
	env, err := NewSyntheticEnv(SyntheticConfig{Actions: 6, Numeric: 2, Categorical: 1, Levels: 3}, rand.NewPCG(9, 1))
	if err != nil {
		t.Fatal(err)
	}
	s := env.Sample(2000, rand.NewPCG(9, 2))
	l := s.Log
	// Column 1 is zero on the first half: no spread there.
	for i := range 1000 {
		l.Context.Set(i, 1, 0)
	}
	x, err := encodeContext(l)
	if err != nil {
		t.Fatal(err)
	}
	first, second, all := make([]int, 1000), make([]int, 1000), make([]int, 2000)
	for i := range all {
		all[i] = i
	}
	copy(first, all[:1000])
	copy(second, all[1000:])
	other, err := Logistic{}.FitRewards(l, x, second, nil)
	if err != nil {
		t.Fatal(err)
	}
	cold, err := Logistic{}.FitRewards(l, x, first, nil)
	if err != nil {
		t.Fatal(err)
	}
	warm, err := Logistic{}.warmStart(other).FitRewards(l, x, first, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := make([]float64, 2000*l.Actions), make([]float64, 2000*l.Actions)
	cold.Predict(a, l, x, all)
	warm.Predict(b, l, x, all)
	var worst float64
	for i := range a {
		worst = math.Max(worst, math.Abs(a[i]-b[i]))
	}
	if worst > 1e-9 {
		t.Errorf("warm and cold starts predict %g apart", worst)
	}
}

// TestLearnerRewards: any causal.Learner models the rewards on [x,
// onehot(a), onehot(k)]; with gradient-boosted trees dr stays close to the
// truth and dm's predictions are probabilities.
func TestLearnerRewards(t *testing.T) {
	env, err := NewSyntheticEnv(SyntheticConfig{}, rand.NewPCG(4, 1))
	if err != nil {
		t.Fatal(err)
	}
	s := env.Sample(5000, rand.NewPCG(4, 2))
	model := LearnerRewards{Learner: causal.GBT{MaxIter: 30, MaxDepth: 3}}
	q, err := FitRewards(s.Log, s.Policy, model, 2, rand.NewPCG(4, 3))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range q.Policy {
		if !(v > 0 && v < 1) || !(q.Factual[i] > 0 && q.Factual[i] < 1) {
			t.Fatalf("row %d: predictions %v, %v outside (0, 1)", i, q.Factual[i], v)
		}
	}
	res, err := Evaluate(s.Log, s.Policy, Config{Estimators: []Spec{{Name: DR}}, Rewards: q}, rand.NewPCG(4, 4))
	if err != nil {
		t.Fatal(err)
	}
	if dr := res.Estimates[0]; math.Abs(dr.Value-s.Truth) > 4*dr.SE {
		t.Errorf("dr with gbt rewards %v ± %v, truth %v", dr.Value, dr.SE, s.Truth)
	}
	if _, err := (LearnerRewards{}).FitRewards(s.Log, nil, []int{0, 1}, nil); err == nil {
		t.Error("LearnerRewards without a learner fitted")
	}
}
