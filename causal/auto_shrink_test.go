package causal

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAutoShrinkJS builds nested loss terms that are exact quadratics in
// λ and checks the factor against λ̂ = Σb/Σc and its James–Stein
// shrinkage, and the terms returned at that factor.
func TestAutoShrinkJS(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name       string
		slope, sdb float64 // b_r = slope·c_r + noise of sd sdb
		want       func(hat, se float64) float64
	}{
		{"clear", 0.7, 0.01, func(hat, se float64) float64 { return hat * (1 - se*se/(hat*hat)) }},
		{"noise", 0.0, 1, func(hat, se float64) float64 { return math.Max(0, hat*math.Max(0, 1-se*se/(hat*hat))) }},
		{"over one", 1.6, 0.01, func(hat, se float64) float64 { return 1 }},
		{"negative", -0.5, 0.01, func(hat, se float64) float64 { return 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 400
			a, b, c := make([]float64, n), make([]float64, n), make([]float64, n)
			for r := range n {
				c[r] = 0.5 + rng.Float64()
				b[r] = tc.slope*c[r] + tc.sdb*rng.NormFloat64()
				a[r] = 3 + rng.Float64()
			}
			stack := make([][]float64, len(autoShrinks))
			for j, l := range autoShrinks {
				stack[j] = make([]float64, n)
				for r := range n {
					stack[j][r] = a[r] - 2*l*b[r] + l*l*c[r]
				}
			}
			sb, sc := 0.0, 0.0
			for r := range n {
				sb += b[r]
				sc += c[r]
			}
			hat := sb / sc
			v := 0.0
			for r := range n {
				e := b[r] - hat*c[r]
				v += e * e
			}
			se := math.Sqrt(v) / sc
			want := math.Min(math.Max(tc.want(hat, se), 0), 1)
			got, terms := autoShrinkJS(stack)
			if math.Abs(got-want) > 1e-9 {
				t.Fatalf("λ = %v, want %v (λ̂ %v, se %v)", got, want, hat, se)
			}
			for r := range n {
				if w := a[r] - 2*got*b[r] + got*got*c[r]; math.Abs(terms[r]-w) > 1e-9 {
					t.Fatalf("row %d: term %v, want %v", r, terms[r], w)
				}
			}
		})
	}
}
