package receval

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/causalrec/causalrec/causal"
)

// evalRanker fits the named ranker on sim's training log and evaluates it
// on the test log at k = 10.
func evalRanker(t *testing.T, sim *Simulation, name string) *Report {
	t.Helper()
	r, err := NewRanker(name, causal.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := r.Fit(sim.Train, rand.NewPCG(11, 12))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	score, err := sc.Score(sim.Test)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	rep, err := Evaluate(sim.Test, score, 10, causal.Bootstrap{}, rand.NewPCG(13, 14))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestUpliftBeatsOutcome is the claim of the package on a small
// simulation: ranking by estimated uplift recommends items with larger
// effects than ranking by predicted outcome or by popularity, with
// disjoint 95% intervals. The rankers see only the training log.
func TestUpliftBeatsOutcome(t *testing.T) {
	cfg := DefaultSimConfig()
	cfg.Users, cfg.Items = 400, 60
	sim, err := Simulate(cfg, rand.NewPCG(21, 22))
	if err != nil {
		t.Fatal(err)
	}
	reps := map[string]*Report{}
	for _, name := range []string{"popularity", "outcome", "uplift:t", "uplift:dr", "dlce"} {
		reps[name] = evalRanker(t, sim, name)
		t.Logf("%-10s CP@10 %.4f [%.4f, %.4f]  ips %.4f", name, reps[name].CP.Value, reps[name].CP.CI.Lo, reps[name].CP.CI.Hi, reps[name].IPSCP.Value)
	}
	for _, up := range []string{"uplift:t", "uplift:dr"} {
		for _, base := range []string{"popularity", "outcome"} {
			if u, b := reps[up].CP, reps[base].CP; !(u.CI.Lo > b.CI.Hi) {
				t.Errorf("%s CP@10 %.4f [%.4f, %.4f] does not beat %s %.4f [%.4f, %.4f]",
					up, u.Value, u.CI.Lo, u.CI.Hi, base, b.Value, b.CI.Lo, b.CI.Hi)
			}
		}
	}
	if d, o := reps["dlce"].CP, reps["outcome"].CP; !(d.Value > o.Value) {
		t.Errorf("dlce CP@10 %.4f is not above outcome's %.4f", d.Value, o.Value)
	}
}

// TestRankersEngagement checks the other side: when uplift agrees with
// engagement, outcome ranking is no longer beaten by a wide margin, so
// the comparison above is a property of the data, not of the metric.
func TestRankersEngagement(t *testing.T) {
	cfg := DefaultSimConfig()
	cfg.Users, cfg.Items, cfg.Agreement = 300, 50, 1
	sim, err := Simulate(cfg, rand.NewPCG(31, 32))
	if err != nil {
		t.Fatal(err)
	}
	o, u := evalRanker(t, sim, "outcome").CP, evalRanker(t, sim, "uplift:t").CP
	if o.Value < 0.8*u.Value {
		t.Errorf("with agreement 1, outcome CP@10 %.4f is far below uplift's %.4f", o.Value, u.Value)
	}
}

func TestNewRankerErrors(t *testing.T) {
	reg := causal.NewRegistry()
	for _, name := range []string{"pop", "uplift:nope", "uplift:", "", "uplift:tarnet:l2=-1", "uplift:tarnet:bogus=1", "uplift:t/", "uplift:tarnet:l2"} {
		if _, err := NewRanker(name, reg); !errors.Is(err, causal.ErrParam) {
			t.Errorf("NewRanker(%q): err = %v, want ErrParam", name, err)
		}
	}
	for _, name := range append(DefaultRankers(reg), "uplift:tarnet:l2=0.001:epochs=5", "uplift:x/gbt:depth=2") {
		if _, err := NewRanker(name, reg); err != nil {
			t.Errorf("default ranker %q: %v", name, err)
		}
	}
}

func TestRankersUnseen(t *testing.T) {
	cfg := DefaultSimConfig()
	cfg.Users, cfg.Items = 30, 20
	sim, err := Simulate(cfg, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	other := *sim.Test
	other.Users = append([]string{"new"}, sim.Test.Users[1:]...)
	other.Items = append([]string{"fresh"}, sim.Test.Items[1:]...)
	for _, name := range []string{"popularity", "outcome", "outcome-ips", "dlce", "uplift:t"} {
		r, _ := NewRanker(name, causal.NewRegistry())
		sc, err := r.Fit(sim.Train, rand.NewPCG(1, 1))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s, err := sc.Score(&other)
		if err != nil || len(s) != other.Len() {
			t.Errorf("%s: %d scores, err %v", name, len(s), err)
		}
	}
}

func TestRankersNeedFeatures(t *testing.T) {
	l := smallLog()
	for _, name := range []string{"outcome", "uplift:t"} {
		r, _ := NewRanker(name, causal.NewRegistry())
		if _, err := r.Fit(l, rand.NewPCG(1, 1)); !errors.Is(err, ErrInput) {
			t.Errorf("%s without features: err = %v, want ErrInput", name, err)
		}
	}
	if _, err := (DLCE{causal.DLCE{Cap: 0.7}}).Fit(l, rand.NewPCG(1, 1)); !errors.Is(err, ErrInput) {
		t.Errorf("dlce cap 0.7: err = %v, want ErrInput", err)
	}
}

func TestDefaultRankersCoverRegistry(t *testing.T) {
	reg := causal.NewRegistry()
	got := DefaultRankers(reg)
	for _, tc := range []struct {
		name string
		want bool
	}{
		{RankerPopularity, true}, {RankerOutcome, true}, {RankerOutcomeIPS, true}, {RankerDLCE, true},
		{"uplift:t", true}, {"uplift:auto", true}, {"uplift:bootstrap", true},
		{"uplift:causal-forest", false}, {"uplift:dlce", false}, {"uplift:outcome", false}, {"uplift:outcome-ips", false},
	} {
		if slices.Contains(got, tc.name) != tc.want {
			t.Errorf("DefaultRankers = %v: contains %s = %v, want %v", got, tc.name, !tc.want, tc.want)
		}
	}
	// Every registry estimator is a default ranker or explicitly left out.
	for e := range reg.Estimators {
		if !slices.Contains(got, UpliftPrefix+e) && !slices.Contains(SlowEstimators, e) && !slices.Contains(OwnRankers, e) {
			t.Errorf("estimator %s is neither a default ranker nor listed as slow", e)
		}
	}
}

// TestNewUpliftRanker checks that an estimator handed over directly ranks
// as the uplift ranker of the same registry name.
func TestNewUpliftRanker(t *testing.T) {
	cfg := DefaultSimConfig()
	cfg.Users, cfg.Items = 150, 30
	sim, err := Simulate(cfg, rand.NewPCG(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	byName, err := NewRanker("uplift:x/linear", causal.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	est, err := causal.NewRegistry().NewEstimator("x", map[string]string{"base": "linear"})
	if err != nil {
		t.Fatal(err)
	}
	var scores [2][]float64
	for i, r := range []Ranker{byName, NewUpliftRanker(est)} {
		sc, err := r.Fit(sim.Train, rand.NewPCG(11, 12))
		if err != nil {
			t.Fatal(err)
		}
		if scores[i], err = sc.Score(sim.Test); err != nil {
			t.Fatal(err)
		}
	}
	if len(scores[0]) != sim.Test.Len() || !slices.Equal(scores[0], scores[1]) {
		t.Fatalf("scores differ: %d and %d rows", len(scores[0]), len(scores[1]))
	}
}
