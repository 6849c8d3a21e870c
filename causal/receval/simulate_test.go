package receval

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSimulateConsistent(t *testing.T) {
	cfg := DefaultSimConfig()
	cfg.Users, cfg.Items = 400, 60
	sim, err := Simulate(cfg, rand.NewPCG(3, 4))
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Users * cfg.Items
	for _, l := range []*Log{sim.Train, sim.Test} {
		if l.Len() != n || len(l.Users) != cfg.Users || len(l.Items) != cfg.Items {
			t.Fatalf("log has %d rows, %d users, %d items; want %d, %d, %d", l.Len(), len(l.Users), len(l.Items), n, cfg.Users, cfg.Items)
		}
		if err := l.Validate(); err != nil {
			t.Fatal(err)
		}
		if got, want := len(l.FeatureNames), SimUserFeatures+SimItemFeatures; got != want {
			t.Errorf("%d features, want %d", got, want)
		}
	}
	// Ground truth: τ = μT − μC, within [−1, 1].
	for r := range n {
		if d := sim.Train.Tau[r] - (sim.MuT[r] - sim.MuC[r]); math.Abs(d) > 1e-15 {
			t.Fatalf("row %d: tau − (μT − μC) = %v", r, d)
		}
		if p := sim.Train.Propensity[r]; p < cfg.PropensityClip || p > 1-cfg.PropensityClip {
			t.Fatalf("row %d: propensity %v outside the clip", r, p)
		}
	}
	// Propensities are the treatment probabilities: within propensity
	// deciles the share treated matches the mean propensity, and the
	// outcome rates match the potential outcome probabilities of the
	// arm received.
	for _, l := range []*Log{sim.Train, sim.Test} {
		order := make([]int, n)
		for r := range order {
			order[r] = r
		}
		slices.SortFunc(order, func(a, b int) int {
			return cmpFloat(l.Propensity[a], l.Propensity[b])
		})
		for d := range 10 {
			rows := order[d*n/10 : (d+1)*n/10]
			var p, z float64
			for _, r := range rows {
				p += l.Propensity[r]
				z += float64(l.Treated[r])
			}
			m := float64(len(rows))
			se := math.Sqrt(p/m*(1-p/m)/m) + 1e-3
			if math.Abs(z/m-p/m) > 4*se {
				t.Errorf("decile %d: treated share %.4f, mean propensity %.4f", d, z/m, p/m)
			}
		}
		for arm := range 2 {
			var y, mu, c float64
			for r := range n {
				if l.Treated[r] != arm {
					continue
				}
				y += l.Outcome[r]
				if arm == 1 {
					mu += sim.MuT[r]
				} else {
					mu += sim.MuC[r]
				}
				c++
			}
			se := math.Sqrt(mu/c*(1-mu/c)/c) + 1e-4
			if math.Abs(y/c-mu/c) > 4*se {
				t.Errorf("arm %d: outcome rate %.4f, mean probability %.4f", arm, y/c, mu/c)
			}
		}
	}
	// The two periods draw treatments independently.
	if slices.Equal(sim.Train.Treated, sim.Test.Treated) {
		t.Error("training and test treatments are identical")
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestSimulateAgreement checks that the agreement parameter moves the
// correlation between engagement (μC) and the effect.
func TestSimulateAgreement(t *testing.T) {
	corr := func(rho float64) float64 {
		cfg := DefaultSimConfig()
		cfg.Users, cfg.Items, cfg.Agreement = 200, 50, rho
		sim, err := Simulate(cfg, rand.NewPCG(5, 6))
		if err != nil {
			t.Fatal(err)
		}
		return pearson(sim.MuC, sim.Train.Tau)
	}
	lo, hi := corr(-0.9), corr(0.9)
	if !(lo < 0 && hi > 0.5) {
		t.Errorf("corr(μC, τ) = %.3f at ρ=−0.9 and %.3f at ρ=0.9; want < 0 and > 0.5", lo, hi)
	}
}

func pearson(a, b []float64) float64 {
	n := float64(len(a))
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma, mb = ma/n, mb/n
	var sab, saa, sbb float64
	for i := range a {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	return sab / math.Sqrt(saa*sbb)
}

func TestSimulateDeterministic(t *testing.T) {
	cfg := DefaultSimConfig()
	cfg.Users, cfg.Items = 20, 10
	a, err := Simulate(cfg, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Simulate(cfg, rand.NewPCG(1, 1))
	if !slices.Equal(a.Test.Outcome, b.Test.Outcome) || !slices.Equal(a.Train.Treated, b.Train.Treated) {
		t.Error("same seed gave different logs")
	}
}

func TestSimConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*SimConfig)
	}{
		{"users", func(c *SimConfig) { c.Users = 0 }},
		{"items", func(c *SimConfig) { c.Items = -1 }},
		{"agreement", func(c *SimConfig) { c.Agreement = 1.5 }},
		{"nan", func(c *SimConfig) { c.BaseLogit = math.NaN() }},
		{"clip", func(c *SimConfig) { c.PropensityClip = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultSimConfig()
			tc.edit(&c)
			if _, err := Simulate(c, rand.NewPCG(1, 1)); !errors.Is(err, ErrInput) {
				t.Errorf("err = %v, want ErrInput", err)
			}
		})
	}
}
