package causal

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestHalfRoundTrip(t *testing.T) {
	// Every half value converts to float32 and back unchanged.
	for h := range 1 << 16 {
		f := fromHalf(uint16(h))
		if math.IsNaN(float64(f)) {
			if g := toHalf(f); g&0x7c00 != 0x7c00 || g&0x3ff == 0 {
				t.Fatalf("NaN %#04x came back as %#04x", h, g)
			}
			continue
		}
		if g := toHalf(f); g != uint16(h) {
			t.Fatalf("%#04x → %v → %#04x", h, f, g)
		}
	}
}

func TestHalfRounding(t *testing.T) {
	for _, tc := range []struct {
		f    float32
		want uint16
	}{
		{0, 0}, {1, 0x3c00}, {-2, 0xc000}, {0.5, 0x3800}, {65504, 0x7bff}, {65520, 0x7c00}, {1e9, 0x7c00},
		{float32(math.Inf(-1)), 0xfc00},
		// 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even.
		{1 + 1.0/2048, 0x3c00}, {1 + 3.0/2048, 0x3c02},
		// The smallest subnormal 2^-24, half of it (a tie, to even: 0)
		// and a little more than half.
		{1.0 / (1 << 24), 0x0001}, {1.0 / (1 << 25), 0}, {1.5 / (1 << 25), 0x0001},
		{1e-10, 0},
	} {
		if got := toHalf(tc.f); got != tc.want {
			t.Errorf("toHalf(%v) = %#04x, want %#04x", tc.f, got, tc.want)
		}
	}
	// Relative error at most 2^-11 in the normal range, absolute 2^-25
	// among the subnormals.
	rng := rand.New(rand.NewPCG(1, 1))
	for range 100000 {
		f := float32((2*rng.Float64() - 1) * math.Pow(2, float64(rng.IntN(28)-14)))
		g := fromHalf(toHalf(f))
		tol := math.Abs(float64(f)) / 2048 * 1.0000001
		if math.Abs(float64(f)) < 1.0/(1<<14) {
			tol = 1.0 / (1 << 25) // subnormal: half the spacing
		}
		if math.Abs(float64(g-f)) > tol {
			t.Fatalf("%v → %v", f, g)
		}
	}
}
