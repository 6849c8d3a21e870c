package dataset

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestParseNumberMatchesStrconv compares the fast parser with
// strconv.ParseFloat on random decimals of 1 to 22 digits with exponents
// around the fast paths' limits.
func TestParseNumberMatchesStrconv(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	forms := []func() string{
		func() string { return strconv.FormatFloat(rng.NormFloat64()*rng.ExpFloat64(), 'g', -1, 64) },
		func() string { return strconv.FormatFloat(rng.Float64()*1e-5, 'g', -1, 64) },
		func() string { return strconv.FormatFloat(rng.Float64(), 'f', rng.IntN(25), 64) },
		func() string {
			digits := make([]byte, 1+rng.IntN(22))
			for i := range digits {
				digits[i] = byte('0' + rng.IntN(10))
			}
			s := string(digits)
			if k := rng.IntN(len(s) + 1); k < len(s) {
				s = s[:k] + "." + s[k:]
			}
			if rng.IntN(2) == 0 {
				s += "e" + strconv.Itoa(rng.IntN(141)-70)
			}
			return s
		},
	}
	for i := range 2000000 {
		s := forms[i%len(forms)]()
		want, err := strconv.ParseFloat(s, 64)
		got, ok := parseNumber([]byte(s))
		if ok != (err == nil) || (ok && got != want) {
			t.Fatalf("%q: parseNumber = %v, %v; strconv = %v, %v", s, got, ok, want, err)
		}
	}
}

func BenchmarkParseNumber(b *testing.B) {
	for _, s := range []string{"0.0", "14", "-1.2345", "0.029411764705882353", "-0.8024826241110656"} {
		b.Run(s, func(b *testing.B) {
			in := []byte(s)
			var sink float64
			for range b.N {
				v, _ := parseNumber(in)
				sink += v
			}
			_ = sink
		})
	}
}
