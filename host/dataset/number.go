package dataset

import (
	"math"
	"math/big"
	"math/bits"
	"sync"
)

// The powers of ten 10^q for |q| ≤ pow10Range as 128-bit mantissas,
// truncated, with the top bit set: 10^q ≈ (hi·2⁶⁴ + lo)·2^(e−127) where
// e = ⌊q·log₂10⌋ + 1. Computed once, on first use.
const pow10Range = 64

var (
	pow10Once sync.Once
	pow10Hi   [2*pow10Range + 1]uint64
	pow10Lo   [2*pow10Range + 1]uint64
)

func pow10Table() {
	one, ten := big.NewInt(1), big.NewInt(10)
	limit := new(big.Int).Lsh(one, 128)
	for q := -pow10Range; q <= pow10Range; q++ {
		// num/den = 10^q scaled by a power of two into [2¹²⁷, 2¹²⁸).
		num, den := big.NewInt(1), big.NewInt(1)
		if q >= 0 {
			num.Exp(ten, big.NewInt(int64(q)), nil)
		} else {
			den.Exp(ten, big.NewInt(int64(-q)), nil)
		}
		m := new(big.Int).Quo(new(big.Int).Lsh(num, 512), den)
		for m.Cmp(limit) >= 0 {
			m.Rsh(m, 1)
		}
		lo := new(big.Int).And(m, new(big.Int).Sub(new(big.Int).Lsh(one, 64), one))
		pow10Hi[q+pow10Range] = new(big.Int).Rsh(m, 64).Uint64()
		pow10Lo[q+pow10Range] = lo.Uint64()
	}
}

// eiselLemire returns the float64 nearest to man·10^e10 (man > 0) by the
// Eisel–Lemire algorithm (Lemire, "Number parsing at a gigabyte per
// second", 2021; N. Tao's exposition, 2020): multiply the normalised
// mantissa by a 128-bit approximation of 10^e10 and keep the top 54 bits,
// widening to the full 192-bit product when the truncation could matter.
// ok is false when the result cannot be decided this way (a halfway case,
// a subnormal or overflow, |e10| > 64); the caller then parses slowly.
func eiselLemire(man uint64, e10 int) (f float64, ok bool) {
	if e10 < -pow10Range || e10 > pow10Range || man == 0 {
		return 0, false
	}
	pow10Once.Do(pow10Table)
	pHi, pLo := pow10Hi[e10+pow10Range], pow10Lo[e10+pow10Range]
	clz := bits.LeadingZeros64(man)
	man <<= uint(clz)
	// ⌊e10·log₂10⌋ = (e10·108853) >> 15 for |e10| ≤ 500.
	exp2 := uint64(1+((e10*108853)>>15)+63+1023) - uint64(clz)
	hi, lo := bits.Mul64(man, pHi)
	// The low 9 bits below the 54 kept are all ones: the truncated part of
	// 10^e10 could carry into them; add man·pLo.
	if hi&0x1FF == 0x1FF && lo+man < man {
		yHi, yLo := bits.Mul64(man, pLo)
		mHi, mLo := hi, lo+yHi
		if mLo < lo {
			mHi++
		}
		if mHi&0x1FF == 0x1FF && mLo+1 == 0 && yLo+man < man {
			return 0, false
		}
		hi, lo = mHi, mLo
	}
	top := hi >> 63
	mant := hi >> (top + 9)
	exp2 -= 1 ^ top
	if lo == 0 && hi&0x1FF == 0 && mant&3 == 1 {
		return 0, false // exactly halfway: round to even is undecided
	}
	mant += mant & 1
	mant >>= 1
	if mant>>53 > 0 {
		mant >>= 1
		exp2++
	}
	if exp2-1 >= 0x7FF-1 {
		return 0, false // subnormal, zero or out of range
	}
	return math.Float64frombits(exp2<<52 | mant&(1<<52-1)), true
}
