package causal

import (
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// autoTestData draws y = x_0 + τ(x)·t + ε with τ(x) = 1 + 2·x_1,
// x ~ N(0, I_p), t ~ Bernoulli(0.5), ε ~ N(0, 1).
func autoTestData(n, p int, seed uint64) (UpliftData, []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := mat.NewDense(n, p, nil)
	t := make([]int, n)
	y := make([]float64, n)
	tau := make([]float64, n)
	for i := 0; i < n; i++ {
		for j := 0; j < p; j++ {
			x.Set(i, j, rng.NormFloat64())
		}
		tau[i] = 1 + 2*x.At(i, 1)
		if rng.Float64() < 0.5 {
			t[i] = 1
		}
		y[i] = x.At(i, 0) + tau[i]*float64(t[i]) + rng.NormFloat64()
	}
	return UpliftData{X: x, Treatment: t, Arms: 1, Y: y}, tau
}

func TestAutoChoosesHeterogeneous(t *testing.T) {
	d, _ := autoTestData(1500, 4, 7)
	for _, crit := range []AutoCriterion{RLoss, DRLoss} {
		t.Run(crit.String(), func(t *testing.T) {
			a := AutoEstimator{
				Candidates: []NamedEstimator{
					// A linear S-learner has one effect for every x.
					{Name: "s/linear", Estimator: SLearner{}},
					{Name: "t/linear", Estimator: TLearner{}},
				},
				Criterion: crit,
				Nuisance:  Linear{},
			}
			m, err := a.Fit(d, rand.NewPCG(1, 2))
			if err != nil {
				t.Fatal(err)
			}
			if m.Chosen != "t/linear" {
				t.Fatalf("chose %s, want t/linear; scores %+v", m.Chosen, m.Scores)
			}
			if m.Criterion != crit.String() || m.Rows != 1500 || m.SelectionRows != 1500 || m.Folds != 5 {
				t.Errorf("record = %+v", m)
			}
			if !(m.Scores[1].Loss < m.Scores[0].Loss) || m.Scores[1].SE != 0 || !(m.Scores[0].SE > 0) {
				t.Errorf("scores = %+v", m.Scores)
			}
			// The chosen model beats a zero and a constant effect.
			if !(m.Scores[1].Loss < m.ConstantLoss && m.ConstantLoss < m.ZeroLoss) {
				t.Errorf("loss %v, constant %v, zero %v", m.Scores[1].Loss, m.ConstantLoss, m.ZeroLoss)
			}
			rep := m.Report()
			for _, key := range []string{"auto_chosen", "auto_reason", "auto_tried", "auto_loss.s/linear", "auto_loss.t/linear"} {
				if rep[key] == "" {
					t.Errorf("report has no %s: %v", key, rep)
				}
			}
			if rep["auto_chosen"] != "t/linear" || !strings.Contains(rep["auto_reason"], "runner-up s/linear") {
				t.Errorf("report = %v", rep)
			}
		})
	}
}

func TestAutoSubsampleAndFailures(t *testing.T) {
	d, _ := autoTestData(3000, 3, 8)
	a := AutoEstimator{
		Candidates: []NamedEstimator{
			{Name: "broken", Estimator: TLearner{Base: GBT{LearningRate: -1}}},
			{Name: "t/linear", Estimator: TLearner{}},
		},
		MaxRows:  600,
		Nuisance: Linear{},
	}
	m, err := a.Fit(d, rand.NewPCG(3, 4))
	if err != nil {
		t.Fatal(err)
	}
	if m.SelectionRows < 590 || m.SelectionRows > 610 || m.Rows != 3000 {
		t.Errorf("selection rows %d of %d, want about 600 of 3000", m.SelectionRows, m.Rows)
	}
	if m.Chosen != "t/linear" || m.Scores[0].Err == "" || !math.IsNaN(m.Scores[0].Loss) {
		t.Errorf("chosen %s, scores %+v", m.Chosen, m.Scores)
	}
	if !strings.HasPrefix(m.Report()["auto_loss.broken"], "failed: ") {
		t.Errorf("report of a failed candidate: %q", m.Report()["auto_loss.broken"])
	}
	a.Candidates = a.Candidates[:1]
	if _, err := a.Fit(d, rand.NewPCG(3, 4)); err == nil || !strings.Contains(err.Error(), "every candidate failed") {
		t.Errorf("all candidates failing: err = %v", err)
	}
	if _, err := (AutoEstimator{}).Fit(d, rand.NewPCG(1, 1)); !errors.Is(err, ErrParam) {
		t.Errorf("no candidates: err = %v, want ErrParam", err)
	}
	bad := d
	bad.Y = append([]float64(nil), d.Y...)
	bad.Y[5] = math.NaN()
	if _, err := (AutoEstimator{Candidates: a.Candidates}).Fit(bad, rand.NewPCG(1, 1)); !errors.Is(err, ErrInput) {
		t.Errorf("NaN outcome: err = %v, want ErrInput", err)
	}
}

// fitAuto fits the registry's "auto" estimator with params on d.
func fitAuto(t *testing.T, d UpliftData, params map[string]string) *AutoModel {
	t.Helper()
	est, err := NewRegistry().NewEstimator("auto", params)
	if err != nil {
		t.Fatal(err)
	}
	fit, err := est.FitUplift(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fit.(*AutoModel)
}

func TestAutoRegistryAndRoundTrip(t *testing.T) {
	d, _ := autoTestData(800, 3, 9)
	r := NewRegistry()
	m := fitAuto(t, d, map[string]string{
		"candidates": "s/linear,t/linear,dr/linear", "criterion": "dr", "folds": "2",
		"select_rows": "500", "nuisance": "linear", "seed": "5", "budget": "off",
	})
	if m.Folds != 2 || m.Criterion != "dr-loss" || len(m.Scores) != 3 || m.SelectionRows > 510 {
		t.Errorf("model record = %+v", m)
	}
	v := reload(t, m)
	m2 := v.(*AutoModel)
	want, got := m.Effects(nil, d.X), m2.Effects(nil, d.X)
	if !mat.Equal(want, got) {
		t.Error("effects differ after a save/load round trip")
	}
	if m2.Chosen != m.Chosen || m2.Scores[0].Loss != m.Scores[0].Loss || m2.Unwrap() == nil {
		t.Errorf("record differs after reload: %+v vs %+v", m2, m)
	}
	for _, tc := range []struct {
		param string
		def   float64
		field func(autoEstimator) float64
	}{
		{"qagg", DefaultAutoQAgg, func(a autoEstimator) float64 { return a.QAgg }},
		{"prefer_select", DefaultAutoPreferSelect, func(a autoEstimator) float64 { return a.PreferSelect }},
		{"mix_overlap", DefaultAutoMixOverlap, func(a autoEstimator) float64 { return a.MixOverlap }},
	} {
		for value, want := range map[string]float64{"": tc.def, "0": 0, "0.25": 0.25} {
			p := map[string]string{}
			if value != "" {
				p[tc.param] = value
			}
			est, err := r.NewEstimator("auto", p)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.field(est.(autoEstimator)); got != want {
				t.Errorf("%s=%q: %v, want %v", tc.param, value, got, want)
			}
		}
	}
	if _, err := Unmarshal([]byte(`{"format":1,"kind":"auto","payload":{"chosen":"x"}}`)); !errors.Is(err, ErrFormat) {
		t.Errorf("auto without a model: err = %v, want ErrFormat", err)
	}

	for _, bad := range []map[string]string{
		{"candidates": "nosuch"},
		{"candidates": "t/"},
		{"candidates": "auto"},
		{"candidates": "t/nosuch"},
		{"criterion": "mse"},
		{"folds": "1"},
		{"folds": "-3"},
		{"clip": "0.7"},
		{"nuisance": "nosuch"},
		{"combine": "mix"},
		{"members": "0"},
		{"bags": "-1"},
		{"weights": "any"},
		{"mix": "0"},
		{"mix": "1"},
		{"mix_overlap": "-1"},
		{"mix_overlap": "+Inf"},
		{"mix_overlap": "NaN"},
		{"mix_overlap": "much"},
		{"prefer_select": "NaN"},
		{"prefer_select": "-Inf"},
		{"prefer_select": "much"},
		{"qagg": "1"},
		{"qagg": "-0.1"},
		{"qagg": "NaN"},
		{"qagg": "much"},
		{"budget": "1"},
		{"budget": "fast"},
		{"colour": "red"},
	} {
		est, err := r.NewEstimator("auto", bad)
		if err == nil {
			// Candidate learners are built when fitting.
			_, err = est.FitUplift(d, rand.NewPCG(1, 1))
		}
		if !errors.Is(err, ErrParam) {
			t.Errorf("params %v: err = %v, want ErrParam", bad, err)
		}
	}
}

func TestAutoFoldsByRows(t *testing.T) {
	big, _ := autoTestData(AutoSmallRows+1000, 3, 10)
	small, _ := autoTestData(1000, 3, 11)
	// Four treated rows: at most 4 folds fit.
	few, _ := autoTestData(300, 3, 14)
	for i := range few.Treatment {
		few.Treatment[i] = 0
		if i < 4 {
			few.Treatment[i] = 1
		}
	}
	for _, tc := range []struct {
		name   string
		d      UpliftData
		params map[string]string
		want   int
	}{
		{"small", small, nil, 5},
		{"small, folds set", small, map[string]string{"folds": "3"}, 3},
		{"four treated rows", few, nil, 4},
		{"big", big, map[string]string{"select_rows": "0"}, 3},
		{"big, small selection", big, map[string]string{"select_rows": "2000"}, 5},
		{"big, folds set", big, map[string]string{"select_rows": "0", "folds": "4"}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := map[string]string{"candidates": "s/linear,t/linear", "nuisance": "linear", "seed": "3", "budget": "off"}
			for k, v := range tc.params {
				p[k] = v
			}
			m := fitAuto(t, tc.d, p)
			if m.Folds != tc.want || m.Report()["auto_folds"] != strconv.Itoa(tc.want) {
				t.Errorf("folds %d (report %q) on %d selection rows, want %d", m.Folds, m.Report()["auto_folds"], m.SelectionRows, tc.want)
			}
			wantReps := 0 // one partition
			if m.SelectionRows <= AutoSmallRows {
				wantReps = DefaultAutoCVReps
			}
			if m.CVReps != wantReps {
				t.Errorf("%d fold partitions on %d selection rows, want %d", m.CVReps, m.SelectionRows, wantReps)
			}
		})
	}
}

func TestAutoOverlap(t *testing.T) {
	balanced, _ := autoTestData(1000, 3, 12)
	// The same outcome model, but P(t=1 | x) = 1/(1 + exp(−3·x_0)): about
	// a third of the rows have a propensity beyond [0.05, 0.95].
	confounded, _ := autoTestData(1000, 3, 12)
	rng := rand.New(rand.NewPCG(13, 1))
	for i := range confounded.Y {
		x0 := confounded.X.At(i, 0)
		tau := 1 + 2*confounded.X.At(i, 1)
		confounded.Treatment[i] = 0
		if rng.Float64() < 1/(1+math.Exp(-3*x0)) {
			confounded.Treatment[i] = 1
		}
		confounded.Y[i] = x0 + tau*float64(confounded.Treatment[i]) + rng.NormFloat64()
	}
	p := map[string]string{"candidates": "s/linear,t/linear", "nuisance": "linear", "seed": "3", "budget": "off"}
	for _, tc := range []struct {
		name     string
		d        UpliftData
		lo, hi   float64
		warnWant bool
	}{
		{"randomised", balanced, 0, 0.02, false},
		{"confounded", confounded, 0.15, 0.6, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fitAuto(t, tc.d, p)
			if len(m.Clipped) != 1 || !(m.Clipped[0] >= tc.lo && m.Clipped[0] <= tc.hi) || m.Clip != 0.05 {
				t.Fatalf("clipped %v at clip %v, want a share in [%v, %v]", m.Clipped, m.Clip, tc.lo, tc.hi)
			}
			rep := m.Report()
			if rep["auto_clipped"] == "" || (rep["auto_overlap_warning"] != "") != tc.warnWant {
				t.Errorf("report: clipped %q, warning %q", rep["auto_clipped"], rep["auto_overlap_warning"])
			}
			if tc.warnWant && !strings.Contains(rep["auto_overlap_warning"], "0.05 and 0.95") {
				t.Errorf("warning %q does not name the bounds", rep["auto_overlap_warning"])
			}
			// By default the DR share grows with the clipped share.
			def := min(DefaultAutoMix+DefaultAutoMixOverlap*m.Clipped[0], autoMixMax)
			if len(m.Mix) != 1 || math.Abs(m.Mix[0]-def) > 1e-12 || rep["auto_mix"] != strconv.FormatFloat(def, 'g', 6, 64) {
				t.Errorf("mix %v (report %q) at clipped %v, want %v", m.Mix, rep["auto_mix"], m.Clipped, def)
			}
			if tc.warnWant && !(m.Mix[0] > DefaultAutoMix) {
				t.Errorf("mix %v at clipped %v: the default did not raise the DR share", m.Mix, m.Clipped)
			}
			// mix_overlap raises the DR share with the clipped share, up
			// to autoMixMax (0 keeps the mix); the R-loss has none.
			for _, k := range []float64{0, 2, 5, 50} {
				q := maps.Clone(p)
				q["mix_overlap"] = strconv.FormatFloat(k, 'g', -1, 64)
				mo := fitAuto(t, tc.d, q)
				want := min(DefaultAutoMix+k*mo.Clipped[0], autoMixMax)
				if len(mo.Mix) != 1 || math.Abs(mo.Mix[0]-want) > 1e-12 {
					t.Errorf("mix_overlap=%v: mix %v at clipped %v, want %v", k, mo.Mix, mo.Clipped, want)
				}
			}
			q := maps.Clone(p)
			q["criterion"] = "r-loss"
			if mr := fitAuto(t, tc.d, q); len(mr.Mix) != 0 || mr.Report()["auto_mix"] != "" {
				t.Errorf("r-loss: mix %v", mr.Mix)
			}
		})
	}
}

func TestAutoDefaultCandidates(t *testing.T) {
	bin := DefaultAutoCandidates(true)
	cont := DefaultAutoCandidates(false)
	if len(bin) != len(cont)+1 || bin[len(bin)-1].Estimator != "uplift-forest" {
		t.Errorf("binary candidates %d, continuous %d", len(bin), len(cont))
	}
	r := NewRegistry()
	names := map[string]bool{}
	for _, c := range bin {
		names[c.Name] = true
		if _, err := c.Build(r); err != nil {
			t.Errorf("candidate %s: %v", c.Name, err)
		}
	}
	for _, want := range []string{"tarnet", "dragonnet", "t/linear", "causal-forest:trees=500"} {
		if !names[want] {
			t.Errorf("default candidates lack %s", want)
		}
	}
}

// TestAutoChoosesTARNet checks that auto prefers TARNet over a T-learner
// OLS when the effect is nonlinear, and records both losses: chosen alone
// (combine=select), or, by default, as the stack's member with the
// largest weight (or its only member).
func TestAutoChoosesTARNet(t *testing.T) {
	d, tau := tarnetData(1200, 21)
	for _, combine := range []string{"select", "stack"} {
		t.Run(combine, func(t *testing.T) {
			// Three folds: TestAutoFoldsByRows covers the default.
			m := fitAuto(t, d, map[string]string{"seed": "3", "candidates": "t/linear,tarnet", "combine": combine, "folds": "3"})
			var lead UpliftModel
			switch st, ok := m.Unwrap().(*StackModel); {
			case ok:
				best := -1
				for i, mem := range st.Members {
					if best < 0 || mem.Weights[0] > st.Members[best].Weights[0] {
						best = i
					}
				}
				if m.Chosen != "stack" || st.Members[best].Name != "tarnet" {
					t.Fatalf("auto stacked %+v, want tarnet with the largest weight", st.Members)
				}
				lead = st.Members[best].Model.UpliftModel
			case combine == "select":
				if m.Chosen != "tarnet" {
					t.Fatalf("auto chose %s, want tarnet; scores %+v", m.Chosen, m.Scores)
				}
				lead = m.Unwrap()
			default:
				// The nested cross-validation may prefer one candidate.
				if m.Chosen != "tarnet" {
					t.Fatalf("auto chose %s (stack %v, select %v), want tarnet", m.Chosen, m.StackCVLoss, m.SelectCVLoss)
				}
				lead = m.Unwrap()
			}
			if _, ok := lead.(*TARNetModel); !ok {
				t.Errorf("leading model is %T, want *TARNetModel", lead)
			}
			rep := m.Report()
			for _, k := range []string{"auto_loss.tarnet", "auto_loss.t/linear"} {
				if v := rep[k]; v == "" || strings.HasPrefix(v, "failed") {
					t.Errorf("%s = %q, want a loss", k, v)
				}
			}
			if rep["auto_tried"] != "t/linear,tarnet" {
				t.Errorf("auto_tried = %q", rep["auto_tried"])
			}
			if got := effectMSE(m, d.X, tau); got > 0.15 {
				t.Errorf("in-sample effect MSE of the chosen model %.3f, want below 0.15", got)
			}
			// The saved model round-trips with its selection record.
			v := reload(t, m)
			if got := v.(*AutoModel); got.Chosen != m.Chosen || !mat.Equal(got.Effects(nil, d.X), m.Effects(nil, d.X)) {
				t.Error("loaded auto model differs")
			}
		})
	}
}

func TestAutoDefaultFit(t *testing.T) {
	if testing.Short() {
		t.Skip("fits every default candidate; skipped with -short")
	}
	d := SimulateReference(3000, rand.NewPCG(11, 12))
	// Three folds for time: TestAutoFoldsByRows covers the default.
	m := fitAuto(t, d, map[string]string{"seed": "1", "select_rows": "2000", "budget": "off", "folds": "3"})
	if len(m.Scores) != len(DefaultAutoCandidatesFor(2000, true)) {
		t.Errorf("tried %d candidates", len(m.Scores))
	}
	for _, s := range m.Scores {
		if s.Err != "" {
			t.Errorf("candidate %s failed: %s", s.Name, s.Err)
		}
	}
	if _, err := Marshal(m); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseAutoCandidate(f *testing.F) {
	for _, s := range []string{"t", "dr/gbt", "x/gbt:depth=2:lr=0.05", "causal-forest:trees=500", "/", "t/:a", "t:a=1:a=2", "t/gbt:base=linear"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		c, err := ParseAutoCandidate(spec)
		if err != nil {
			if !errors.Is(err, ErrParam) {
				t.Fatalf("%q: error %v does not wrap ErrParam", spec, err)
			}
			return
		}
		if c.Estimator == "" || c.Name != strings.TrimSpace(spec) || strings.Contains(c.Estimator, "/") {
			t.Fatalf("%q: parsed %+v", spec, c)
		}
	})
}

// TestAutoSkipsConstant: on data whose effect is the same for everybody a
// linear S-learner (one effect for every x) has the lower loss, but it
// ranks nobody; auto refits the next candidate, a T-learner that ranks,
// and records the skip. With no candidate that ranks it keeps the winner.
func TestAutoSkipsConstant(t *testing.T) {
	d := constantEffectData(rand.NewPCG(5, 1), 3000, 1)
	a := AutoEstimator{
		Candidates: []NamedEstimator{{Name: "s/linear", Estimator: SLearner{}}, {Name: "t/linear", Estimator: TLearner{}}},
		Nuisance:   Linear{},
	}
	m, err := a.Fit(d, rand.NewPCG(3, 4))
	if err != nil {
		t.Fatal(err)
	}
	if !(m.Scores[0].Loss < m.Scores[1].Loss) {
		t.Fatalf("the constant candidate does not have the lower loss (%+v): the test shows nothing", m.Scores)
	}
	rep := m.Report()
	if m.Chosen != "t/linear" || len(m.SkippedConstant) != 1 || m.SkippedConstant[0] != "s/linear" ||
		rep["auto_skipped_constant"] != "s/linear" || !strings.Contains(rep["auto_reason"], "predicted one constant effect") {
		t.Errorf("chosen %s, skipped %v, report %v", m.Chosen, m.SkippedConstant, rep)
	}
	if constantEffects(m, d.X) {
		t.Error("the chosen model predicts one constant effect")
	}
	a.Candidates = a.Candidates[:1]
	if m, err = a.Fit(d, rand.NewPCG(3, 4)); err != nil {
		t.Fatal(err)
	}
	if m.Chosen != "s/linear" || m.SkippedConstant != nil {
		t.Errorf("only a constant candidate: chosen %v, skipped %v", m.Chosen, m.SkippedConstant)
	}
}

// TestAutoNNLS checks the constrained least squares against the
// unconstrained solution on the columns left free or positive: with
// y = 2·z0 − 0.5·z1 + 3·z2 + noise and β1 ≥ 0, β1 is 0 and (β0, β2) are
// the least-squares fit on z0 and z2 alone.
func TestAutoNNLS(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 400
	z := [][]float64{make([]float64, n), make([]float64, n), make([]float64, n)}
	y := make([]float64, n)
	w := make([]float64, n)
	for i := range n {
		z[0][i], z[1][i], z[2][i] = rng.NormFloat64(), rng.NormFloat64(), 1
		z[1][i] += 0.3 * z[0][i]
		y[i] = 2*z[0][i] - 0.5*z[1][i] + 3 + 0.1*rng.NormFloat64()
		w[i] = 0.5 + rng.Float64()
	}
	got := autoNNLS(z, y, w, nil, []bool{true, true, false})
	// Weighted least squares on z0 and z2 by the normal equations.
	var a00, a02, a22, b0, b2 float64
	for i := range n {
		a00 += w[i] * z[0][i] * z[0][i]
		a02 += w[i] * z[0][i]
		a22 += w[i]
		b0 += w[i] * z[0][i] * y[i]
		b2 += w[i] * y[i]
	}
	det := a00*a22 - a02*a02
	want := []float64{(b0*a22 - a02*b2) / det, 0, (a00*b2 - a02*b0) / det}
	for j := range want {
		if math.Abs(got[j]-want[j]) > 1e-6 {
			t.Errorf("β = %v, want %v", got, want)
			break
		}
	}
	// Without the constraint the negative coefficient is found.
	free := autoNNLS(z, y, nil, nil, []bool{false, false, false})
	if math.Abs(free[1]+0.5) > 0.05 || math.Abs(free[0]-2) > 0.05 {
		t.Errorf("unconstrained β = %v, want about (2, −0.5, 3)", free)
	}
}

// TestAutoStack fits a stack of candidates on an effect with a linear and
// a step part, τ(x) = 1 + 2·x_1 + 2·1{x_2 > 0}, which neither a linear
// nor a shallow-tree T-learner gets alone, and checks that the stack wins
// the nested cross-validation, predicts the weighted sum of its members
// plus the constant, records the weights in the scores and the report,
// and survives a save/load round trip.
func TestAutoStack(t *testing.T) {
	d, tau := autoTestData(2000, 4, 11)
	for i := range tau {
		step := 0.0
		if d.X.At(i, 2) > 0 {
			step = 2
		}
		tau[i] += step
		d.Y[i] += step * float64(d.Treatment[i])
	}
	for _, crit := range []AutoCriterion{RLoss, DRLoss} {
		t.Run(crit.String(), func(t *testing.T) {
			a := AutoEstimator{
				Candidates: []NamedEstimator{
					{Name: "s/linear", Estimator: SLearner{}},
					{Name: "t/linear", Estimator: TLearner{}},
					{Name: "t/gbt", Estimator: TLearner{Base: GBT{MaxIter: 40, MaxDepth: 1}}},
				},
				Criterion: crit,
				Nuisance:  Linear{},
				Combine:   AutoStack,
				Bags:      10,
			}
			m, err := a.Fit(d, rand.NewPCG(5, 6))
			if err != nil {
				t.Fatal(err)
			}
			if !(m.StackCVLoss > 0 && m.SelectCVLoss > 0) {
				t.Fatalf("nested losses %v, %v", m.StackCVLoss, m.SelectCVLoss)
			}
			if m.Combine != "stack" || !(m.StackShrink > 0) {
				t.Fatalf("the stack lost (%v vs %v): the test shows nothing", m.StackCVLoss, m.SelectCVLoss)
			}
			st, ok := m.Unwrap().(*StackModel)
			if !ok || m.Chosen != "stack" || len(st.Members) < 2 {
				t.Fatalf("chosen %s, model %T", m.Chosen, m.Unwrap())
			}
			want := mat.NewDense(2000, 1, nil)
			for i := range 2000 {
				want.Set(i, 0, st.Constant[0])
			}
			for _, mem := range st.Members {
				if mem.Weights[0] <= 0 {
					t.Errorf("member %s has weight %v", mem.Name, mem.Weights[0])
				}
				var sc *AutoScore
				for i := range m.Scores {
					if m.Scores[i].Name == mem.Name {
						sc = &m.Scores[i]
					}
				}
				if sc == nil || len(sc.Weights) != 1 || sc.Weights[0] != mem.Weights[0] || !(sc.RefitSeconds > 0) {
					t.Errorf("score of member %s: %+v", mem.Name, sc)
				}
				e := mem.Model.Effects(nil, d.X)
				for i := range 2000 {
					want.Set(i, 0, want.At(i, 0)+mem.Weights[0]*e.At(i, 0))
				}
			}
			got := m.Effects(nil, d.X)
			if !mat.EqualApprox(got, want, 1e-12) {
				t.Error("stack effects differ from the weighted sum of its members")
			}
			// The stack is closer to τ than any of its members alone.
			mse := effectMSE(m, d.X, tau)
			for _, mem := range st.Members {
				if alone := effectMSE(mem.Model, d.X, tau); !(mse < alone) {
					t.Errorf("in-sample effect MSE of the stack %.3f, of %s alone %.3f", mse, mem.Name, alone)
				}
			}
			rep := m.Report()
			if rep["auto_combine"] != "stack" || !strings.Contains(rep["auto_reason"], "stack of") || rep["auto_weight."+st.Members[0].Name] == "" {
				t.Errorf("report = %v", rep)
			}
			v := reload(t, m).(*AutoModel)
			if v.Combine != "stack" || !mat.Equal(v.Effects(nil, d.X), got) || len(v.Scores[1].Weights) != len(m.Scores[1].Weights) {
				t.Error("the stack differs after a save/load round trip")
			}
		})
	}
	for _, bad := range []string{
		`{"format":1,"kind":"stack","payload":{"members":[],"constant":[0]}}`,
		`{"format":1,"kind":"stack","payload":{"members":[{"name":"a","weights":[1,2],"model":null}],"constant":[0]}}`,
	} {
		if _, err := Unmarshal([]byte(bad)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err = %v, want ErrFormat", bad, err)
		}
	}
}

// TestAutoOldFile reads an auto model saved before stacking (no combine
// field, one chosen model) and predicts through the chosen model.
func TestAutoOldFile(t *testing.T) {
	d, _ := autoTestData(300, 3, 2)
	lin, err := TLearner{}.FitUplift(d, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	inner, err := Marshal(lin.(Kinded))
	if err != nil {
		t.Fatal(err)
	}
	old := `{"format":1,"kind":"auto","payload":{"chosen":"t/linear","model":` + string(inner) +
		`,"criterion":"r-loss","rows":300,"selection_rows":300,"folds":3,"scores":[{"name":"t/linear","loss":1.5,"se":0}],"zero_loss":2,"constant_loss":1.8}}`
	v, err := Unmarshal([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	m := v.(*AutoModel)
	if !mat.Equal(m.Effects(nil, d.X), lin.Effects(nil, d.X)) || m.Report()["auto_chosen"] != "t/linear" {
		t.Errorf("old auto file: chosen %s, report %v", m.Chosen, m.Report())
	}
}

// TestAutoStackConstant: on data whose effect is the same for everybody
// and noisy, the one-standard-error rule shrinks the stack to the
// constant effect; the model still orders the units through the member
// with the lowest loss at autoTieWeight.
func TestAutoStackConstant(t *testing.T) {
	d := constantEffectData(rand.NewPCG(9, 1), 2000, 3)
	a := AutoEstimator{
		Candidates: []NamedEstimator{{Name: "t/linear", Estimator: TLearner{}}, {Name: "x/linear", Estimator: XLearner{}}},
		Nuisance:   Linear{},
		Combine:    AutoStack,
		Bags:       5,
		// The nested cross-validation chooses λ = 0 here with 3 folds
		// (with 5 it does in 10 of 20 seeds, with 3 in 12 of 20).
		Folds: 3,
	}
	m, err := a.Fit(d, rand.NewPCG(3, 4))
	if err != nil {
		t.Fatal(err)
	}
	st, ok := m.Unwrap().(*StackModel)
	if !ok || m.StackShrink != 0 {
		t.Fatalf("combine %s, shrink %v: the test shows nothing", m.Combine, m.StackShrink)
	}
	if len(st.Members) != 1 || st.Members[0].Weights[0] != autoTieWeight || constantEffects(m, d.X) {
		t.Errorf("members %+v of a constant stack", st.Members)
	}
	if math.Abs(st.Constant[0]-0.5) > 0.3 {
		t.Errorf("constant %v, want about 0.5", st.Constant[0])
	}
}

// BenchmarkStackEffects compares a stack's Effects on 10,000 rows with
// those of its members alone (the baseline: the sum of the members'
// times).
func BenchmarkStackEffects(b *testing.B) {
	d, _ := autoTestData(2000, 6, 3)
	var members []StackMember
	for _, e := range []struct {
		name string
		est  UpliftEstimator
	}{{"t/linear", TLearner{}}, {"t/gbt", TLearner{Base: GBT{MaxIter: 50, MaxDepth: 3}}}} {
		m, err := e.est.FitUplift(d, rand.NewPCG(1, 1))
		if err != nil {
			b.Fatal(err)
		}
		members = append(members, StackMember{Name: e.name, Weights: []float64{0.5}, Model: savedUplift{m}})
	}
	st := &StackModel{Members: members, Constant: []float64{0.1}}
	x, _ := autoTestData(10000, 6, 4)
	b.Run("members", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			for _, m := range members {
				m.Model.Effects(nil, x.X)
			}
		}
	})
	b.Run("stack", func(b *testing.B) {
		b.ReportAllocs()
		dst := mat.NewDense(10000, 1, nil)
		for range b.N {
			st.Effects(dst, x.X)
		}
	})
}

// constantEffectData draws n rows of a randomised trial whose effect is
// 0.5 for everybody: four N(0, 1) features, y = x₁ + 0.5·t + noise·ε.
func constantEffectData(src rand.Source, n int, noise float64) UpliftData {
	rng := rand.New(src)
	x := mat.NewDense(n, 4, nil)
	tr := make([]int, n)
	y := make([]float64, n)
	for i := range n {
		for j := range 4 {
			x.Set(i, j, rng.NormFloat64())
		}
		tr[i] = rng.IntN(2)
		y[i] = x.At(i, 0) + 0.5*float64(tr[i]) + noise*rng.NormFloat64()
	}
	return UpliftData{X: x, Treatment: tr, Arms: 1, Y: y}
}

// simplexSSE is Σ_i (y_i − Σ_j b_j·z_j[i])².
func simplexSSE(z [][]float64, y, b []float64) float64 {
	s := 0.0
	for i := range y {
		e := y[i]
		for j := range b {
			e -= b[j] * z[j][i]
		}
		s += e * e
	}
	return s
}

// TestAutoSimplexLS checks the convex least squares against a brute-force
// search over the simplex of four columns, one of them constant (as the
// stack's constant effect is).
func TestAutoSimplexLS(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 300
	z := [][]float64{make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)}
	y := make([]float64, n)
	for i := range n {
		z[0][i], z[1][i], z[2][i], z[3][i] = rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64(), 2
		z[1][i] += 0.9 * z[0][i]
		y[i] = 0.5*z[0][i] + 0.2*z[1][i] - 0.3*z[2][i] + 0.6 + rng.NormFloat64()
	}
	got := autoSimplexLS(z, y, nil, nil, 0)
	sse := func(b []float64) float64 { return simplexSSE(z, y, b) }
	if sum := got[0] + got[1] + got[2] + got[3]; math.Abs(sum-1) > 1e-9 || slices.Min(got) < 0 {
		t.Fatalf("β = %v: not on the simplex", got)
	}
	best := math.Inf(1)
	const step = 0.01
	for a := 0.0; a <= 1+1e-12; a += step {
		for b := 0.0; a+b <= 1+1e-12; b += step {
			for c := 0.0; a+b+c <= 1+1e-12; c += step {
				best = min(best, sse([]float64{a, b, c, max(0, 1-a-b-c)}))
			}
		}
	}
	if g := sse(got); g > best+1e-9*best {
		t.Errorf("β = %v has SSE %v, the grid found %v", got, g, best)
	}
	if got[2] > 1e-6 {
		t.Errorf("β = %v: the negatively related column got weight", got)
	}
	// One column takes all the weight.
	if one := autoSimplexLS(z[2:3], y, nil, nil, 0); math.Abs(one[0]-1) > 1e-12 {
		t.Errorf("one column: β = %v", one)
	}
	v := []float64{0.5, 2, -1}
	autoProjectSimplex(v)
	if math.Abs(v[0]) > 1e-12 || math.Abs(v[1]-1) > 1e-12 || v[2] != 0 {
		t.Errorf("projection %v, want (0, 1, 0)", v)
	}
}

// TestAutoSimplexQAgg checks Q-aggregation's weights against a brute-force
// search of its objective (1 − ν)·Q(β) + ν·Σ_j β_j·Q(e_j) over the simplex
// of three columns, and that a larger ν moves the weight toward the
// column with the lowest loss of its own.
func TestAutoSimplexQAgg(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	n := 400
	z := [][]float64{make([]float64, n), make([]float64, n), make([]float64, n)}
	y := make([]float64, n)
	for i := range n {
		s := rng.NormFloat64()
		y[i] = s + 0.5*rng.NormFloat64()
		z[0][i] = s + 0.3*rng.NormFloat64() // good alone
		z[1][i] = s + 1.5*rng.NormFloat64() // noisy, but its noise is independent
		z[2][i] = 0.5                       // a constant
	}
	q := func(b []float64) float64 { return simplexSSE(z, y, b) }
	alone := []float64{q([]float64{1, 0, 0}), q([]float64{0, 1, 0}), q([]float64{0, 0, 1})}
	var prev []float64
	for _, nu := range []float64{0, 0.25, 0.5, 0.9} {
		obj := func(b []float64) float64 {
			return (1-nu)*q(b) + nu*(b[0]*alone[0]+b[1]*alone[1]+b[2]*alone[2])
		}
		got := autoSimplexLS(z, y, nil, nil, nu)
		if sum := got[0] + got[1] + got[2]; math.Abs(sum-1) > 1e-9 || slices.Min(got) < 0 {
			t.Fatalf("ν = %v: β = %v not on the simplex", nu, got)
		}
		best := math.Inf(1)
		const step = 0.002
		for a := 0.0; a <= 1+1e-12; a += step {
			for b := 0.0; a+b <= 1+1e-12; b += step {
				best = min(best, obj([]float64{a, b, max(0, 1-a-b)}))
			}
		}
		if g := obj(got); g > best+1e-9*best {
			t.Errorf("ν = %v: β = %v has objective %v, the grid found %v", nu, got, g, best)
		}
		if prev != nil && got[0] < prev[0]-1e-9 {
			t.Errorf("ν = %v: the best column's weight fell from %v to %v", nu, prev[0], got[0])
		}
		prev = got
	}
	if plain := autoSimplexLS(z, y, nil, nil, 0); !(plain[1] > 0.01 && prev[1] < plain[1]) {
		t.Errorf("the noisy column's weight: %v with ν = 0, %v with ν = 0.9; want it lowered from a positive weight", plain[1], prev[1])
	}
}

// With Convex the stack is a convex combination of its members and the
// constant effect fitted alone: per arm, on the same rows, the weights
// of the members and of the constant sum to 1, and the constant is the
// constant effect's share of it.
func TestAutoConvexWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	n := 600
	s := autoStackArm{target: make([]float64, n), mult: make([]float64, n), tau: make([][]float64, 3), convex: true}
	for j := range s.tau {
		s.tau[j] = make([]float64, n)
	}
	for r := range n {
		x := rng.NormFloat64()
		tau := 1 + x
		s.mult[r] = float64(rng.IntN(2)) - 0.5
		s.tau[0][r] = tau + 0.5*rng.NormFloat64() // noisy but right
		s.tau[1][r] = 3 * tau                     // stretched
		s.tau[2][r] = rng.NormFloat64()           // noise
		s.target[r] = s.mult[r]*tau + rng.NormFloat64()
	}
	use := []bool{true, true, true}
	beta := autoStackWeights(s, use, nil)
	c0 := autoConstant(s, nil)
	sum := beta[3] / c0
	for j := range 3 {
		if beta[j] < 0 {
			t.Errorf("β = %v: negative weight", beta)
		}
		sum += beta[j]
	}
	if math.Abs(sum-1) > 1e-6 {
		t.Errorf("β = %v, c0 = %v: weights and constant share sum to %v, want 1", beta, c0, sum)
	}
	// Without the constraint the stretched member can be scaled down
	// and the weights need not sum to 1.
	s.convex = false
	free := autoStackWeights(s, use, nil)
	if math.Abs(free[0]+free[1]+free[2]+free[3]/c0-1) < 1e-3 {
		t.Errorf("non-negative weights %v sum to 1 with the constant share too: the test shows nothing", free)
	}
}

// The registry's default stack is convex: on a fitted stack the
// members' weights are at most 1 in all.
func TestAutoConvexFit(t *testing.T) {
	d, _ := autoTestData(1500, 4, 21)
	for i := range d.Y {
		if d.X.At(i, 2) > 0 {
			d.Y[i] += 2 * float64(d.Treatment[i])
		}
	}
	est, err := NewRegistry().NewEstimator("auto", map[string]string{
		"candidates": "t/linear,t/gbt:trees=40:depth=2", "nuisance": "linear", "bags": "10", "seed": "3"})
	if err != nil {
		t.Fatal(err)
	}
	fit, err := est.FitUplift(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := fit.(*AutoModel)
	st, ok := m.Unwrap().(*StackModel)
	if !ok {
		t.Fatalf("model %T (%s): the stack lost, the test shows nothing", m.Unwrap(), m.Report()["auto_reason"])
	}
	sum := 0.0
	for _, mem := range st.Members {
		if mem.Weights[0] < 0 {
			t.Errorf("member %s has weight %v", mem.Name, mem.Weights[0])
		}
		sum += mem.Weights[0]
	}
	if sum > 1+1e-9 {
		t.Errorf("members' weights sum to %v, above 1", sum)
	}
	if len(m.ATE) != 1 || m.Report()["auto_ate"] == "" {
		t.Errorf("ATE %v, report %v", m.ATE, m.Report())
	}
}

// The mixed loss's per-row square differs from (1 − α)·R/s_R + α·DR/s_D
// only by a term free of τ.
func TestAutoMixedLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	n := 200
	ar := autoArm{ry: make([]float64, n), rt: make([]float64, n), phi: make([]float64, n), w: make([]float64, n)}
	for r := range n {
		e := 0.1 + 0.8*rng.Float64()
		tr := float64(rng.IntN(2))
		ar.rt[r] = tr - e
		ar.ry[r] = 2*ar.rt[r] + rng.NormFloat64()
		ar.phi[r] = 2 + 3*rng.NormFloat64()
		ar.w[r] = 0.5 + rng.Float64()
	}
	const alpha = 0.3
	ar.mixed(alpha)
	// s_R and s_D: each loss at its own best constant.
	var sw, num, den, mphi float64
	for r := range n {
		sw += ar.w[r]
		num += ar.w[r] * ar.ry[r] * ar.rt[r]
		den += ar.w[r] * ar.rt[r] * ar.rt[r]
		mphi += ar.w[r] * ar.phi[r]
	}
	cr, cd := num/den, mphi/sw
	var sr, sd float64
	for r := range n {
		sr += ar.w[r] * (ar.ry[r] - ar.rt[r]*cr) * (ar.ry[r] - ar.rt[r]*cr) / sw
		sd += ar.w[r] * (ar.phi[r] - cd) * (ar.phi[r] - cd) / sw
	}
	direct := func(r int, tau float64) float64 {
		a := ar.ry[r] - ar.rt[r]*tau
		b := ar.phi[r] - tau
		return (1-alpha)*a*a/sr + alpha*b*b/sd
	}
	for r := range n {
		for _, pair := range [][2]float64{{0, 1}, {-1, 3}, {2.5, 0.5}} {
			got := autoTerm(ar, r, pair[0], MixedLoss) - autoTerm(ar, r, pair[1], MixedLoss)
			want := direct(r, pair[0]) - direct(r, pair[1])
			if math.Abs(got-want) > 1e-9*(1+math.Abs(want)) {
				t.Fatalf("row %d, τ %v: difference %v, want %v", r, pair, got, want)
			}
		}
	}
	if c, err := ParseAutoCriterion("mixed"); err != nil || c != MixedLoss || c.String() != "mixed-loss" {
		t.Errorf("ParseAutoCriterion(mixed) = %v, %v", c, err)
	}
}

// TestAutoPreferSelect: prefer_select moves the choice between the stack
// and the single candidate; at its extremes one or the other is taken
// whatever the nested losses, and the struct API refuses a non-finite
// value, as it refuses a mix_overlap that is not finite and ≥ 0.
func TestAutoPreferSelect(t *testing.T) {
	d, _ := autoTestData(800, 3, 9)
	base := map[string]string{"candidates": "t/linear,x/linear,t/gbt:depth=2:trees=50", "nuisance": "linear", "seed": "5", "budget": "off"}
	for _, tc := range []struct {
		prefer string
		stack  bool
	}{{"-100", true}, {"100", false}} {
		p := maps.Clone(base)
		p["prefer_select"] = tc.prefer
		m := fitAuto(t, d, p)
		if (m.Chosen == "stack") != tc.stack {
			t.Errorf("prefer_select=%s: chose %s (nested losses: stack %v, single %v), want the stack %v",
				tc.prefer, m.Chosen, m.StackCVLoss, m.SelectCVLoss, tc.stack)
		}
	}
	for _, a := range []AutoEstimator{{PreferSelect: math.NaN()}, {MixOverlap: math.NaN()}, {MixOverlap: -1}} {
		a.Candidates = []NamedEstimator{{Name: "t/linear", Estimator: TLearner{}}}
		if _, err := a.Fit(d, nil); !errors.Is(err, ErrParam) {
			t.Errorf("PreferSelect %v, MixOverlap %v: err %v, want ErrParam", a.PreferSelect, a.MixOverlap, err)
		}
	}
}

func TestAutoConstantPropensity(t *testing.T) {
	tr := []float64{1, 0, 1, 0, 1, 1}
	fold := []int{0, 0, 1, 1, 2, 2}
	for _, tc := range []struct {
		w    []float64
		clip float64
		want []float64
	}{
		// Fold 0's rows see rows 2–5 (3 of 4 treated), fold 1's rows 0, 1,
		// 4, 5 (3 of 4), fold 2's rows 0–3 (2 of 4).
		{nil, 0.05, []float64{0.75, 0.75, 0.75, 0.75, 0.5, 0.5}},
		{nil, 0.3, []float64{0.7, 0.7, 0.7, 0.7, 0.5, 0.5}},
		// Row 3 weighs 3: fold 0 sees 3 of 6, fold 2 sees 2 of 6.
		{[]float64{1, 1, 1, 3, 1, 1}, 0.05, []float64{0.5, 0.5, 0.75, 0.75, 1.0 / 3, 1.0 / 3}},
	} {
		got := autoConstantPropensity(tr, tc.w, fold, 3, tc.clip)
		for r := range got {
			if math.Abs(got[r]-tc.want[r]) > 1e-12 {
				t.Errorf("w %v clip %v: got %v, want %v", tc.w, tc.clip, got, tc.want)
				break
			}
		}
	}
}

func TestAutoPrefersConstant(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 2000
	tr, p, noisy, half := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for r := range n {
		p[r] = 1 / (1 + math.Exp(-2*rng.NormFloat64()))
		noisy[r] = 0.5 + 0.1*(rng.Float64()-0.5)
		half[r] = 0.5
	}
	// A randomised trial: a model that only adds noise loses to the
	// constant.
	for r := range n {
		tr[r] = 0
		if rng.Float64() < 0.5 {
			tr[r] = 1
		}
	}
	if !autoPrefersConstant(tr, nil, noisy, half) {
		t.Error("randomised treatment: a noisy model was preferred to the constant")
	}
	// Confounded: the true propensity beats the constant by far.
	share := 0.0
	for r := range n {
		tr[r] = 0
		if rng.Float64() < p[r] {
			tr[r] = 1
		}
		share += tr[r] / float64(n)
	}
	c := make([]float64, n)
	for r := range c {
		c[r] = share
	}
	if autoPrefersConstant(tr, nil, p, c) {
		t.Error("confounded treatment: the constant was preferred to the true propensity")
	}
}

// TestAutoPropensityParam fits auto with propensity=select on randomised
// and confounded data and with logged propensities, and checks the
// registry's values.
func TestAutoPropensityParam(t *testing.T) {
	base := map[string]string{"candidates": "t/linear,x/linear", "nuisance": "linear", "seed": "5", "budget": "off", "folds": "3"}
	rct, _ := autoTestData(1500, 3, 11)
	conf, _ := autoTestData(1500, 3, 12)
	for i := range conf.Treatment {
		conf.Treatment[i] = 0
		if conf.X.At(i, 2) > 0.3*math.Sin(float64(i)) {
			conf.Treatment[i] = 1
		}
	}
	logged, _ := autoTestData(1500, 3, 13)
	logged.Propensity = make([]float64, len(logged.Treatment))
	for i := range logged.Propensity {
		logged.Propensity[i] = 0.5
	}
	for _, tc := range []struct {
		name, param string
		d           UpliftData
		want        string
	}{
		{"randomised, select", "select", rct, "constant"},
		{"randomised, model", "model", rct, "model"},
		{"randomised, default", "", rct, "model"},
		{"confounded, constant", "constant", conf, "constant"},
		{"confounded, select", "select", conf, "model"},
		{"logged, select", "select", logged, "logged"},
	} {
		p := maps.Clone(base)
		if tc.param != "" {
			p["propensity"] = tc.param
		}
		m := fitAuto(t, tc.d, p)
		rep := m.Report()
		if got := rep["auto_propensity"]; got != tc.want {
			t.Errorf("%s: auto_propensity %q, want %q", tc.name, got, tc.want)
		}
		if says := strings.Contains(rep["auto_reason"], "constant: the arm's share"); says != (tc.want == "constant") {
			t.Errorf("%s: the reason %q says the constant propensity: %v, want %v", tc.name, rep["auto_reason"], says, tc.want == "constant")
		}
	}
	if _, err := NewRegistry().NewEstimator("auto", map[string]string{"propensity": "known"}); !errors.Is(err, ErrParam) {
		t.Errorf("propensity=known: %v, want ErrParam", err)
	}
}

func TestAutoFoldReps(t *testing.T) {
	arms := []autoArm{{idx: []int{0, 1}}, {idx: []int{2, 3, 4}}}
	long := autoLongArms(arms, 5, 2)
	if want := []int{0, 1, 5, 6}; !slices.Equal(long[0].idx, want) {
		t.Errorf("arm 1 rows %v, want %v", long[0].idx, want)
	}
	if want := []int{2, 3, 4, 7, 8, 9}; !slices.Equal(long[1].idx, want) {
		t.Errorf("arm 2 rows %v, want %v", long[1].idx, want)
	}
	// Arm by arm, copy by copy: arm 1's two copies, then arm 2's.
	terms := []float64{1, 2, 3, 6, 10, 20, 30, 30, 40, 50}
	got := autoFoldReps(terms, arms, 2)
	want := []float64{2, 4, 20, 30, 40}
	if !slices.Equal(got, want) {
		t.Errorf("folded %v, want %v", got, want)
	}
	if got := autoFoldReps(terms, arms, 1); !slices.Equal(got, terms) {
		t.Errorf("one partition folded to %v", got)
	}
}

func TestAutoCVReps(t *testing.T) {
	d, _ := autoTestData(600, 3, 21)
	base := map[string]string{"candidates": "t/linear,x/linear,t/gbt:depth=2:trees=30", "nuisance": "linear", "seed": "4", "budget": "off"}
	def := fitAuto(t, d, base)
	if def.CVReps != DefaultAutoCVReps || def.Report()["auto_cv_reps"] != strconv.Itoa(DefaultAutoCVReps) {
		t.Errorf("default on %d rows: CVReps %d, report %q, want %d", def.SelectionRows, def.CVReps, def.Report()["auto_cv_reps"], DefaultAutoCVReps)
	}
	base["cvreps"] = "1"
	one := fitAuto(t, d, base)
	if one.CVReps != 0 || one.Report()["auto_cv_reps"] != "" || !strings.Contains(one.Report()["auto_reason"], "(5 folds)") {
		t.Errorf("one partition: CVReps %d, report %q, reason %q", one.CVReps, one.Report()["auto_cv_reps"], one.Report()["auto_reason"])
	}
	p := maps.Clone(base)
	p["cvreps"] = "2"
	two := fitAuto(t, d, p)
	r := two.Report()
	if two.CVReps != 2 || r["auto_cv_reps"] != "2" || !strings.Contains(r["auto_reason"], "5 folds × 2 partitions") {
		t.Errorf("two partitions: CVReps %d, report %q, reason %q", two.CVReps, r["auto_cv_reps"], r["auto_reason"])
	}
	changed := false
	for c, s := range two.Scores {
		if math.IsNaN(s.Loss) || !(s.SE >= 0) {
			t.Errorf("%s: loss %v, se %v", s.Name, s.Loss, s.SE)
		}
		// The first partition is the one of cvreps=1; the second moves
		// every candidate's loss.
		if s.Loss != one.Scores[c].Loss {
			changed = true
		}
	}
	if !changed {
		t.Error("the second partition changed no candidate's loss")
	}
	for _, v := range []string{"-1", strconv.Itoa(AutoMaxCVReps + 1)} {
		p["cvreps"] = v
		est, err := NewRegistry().NewEstimator("auto", p)
		if err == nil {
			_, err = est.FitUplift(d, nil)
		}
		if !errors.Is(err, ErrParam) {
			t.Errorf("cvreps=%s: err %v, want ErrParam", v, err)
		}
	}
}
