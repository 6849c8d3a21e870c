package abtest

import (
	"fmt"
	"math"
	"time"
)

// sequentialRho2 is the squared mixture parameter ρ² of the confidence
// sequence tuned to be tightest at n = tuningN (Howard et al. 2021,
// eq. (3.4); Waudby-Smith et al. 2023, eq. (9)):
//
//	ρ² = (−2·ln α + ln(−2·ln α + 1)) / n*
func sequentialRho2(alpha, tuningN float64) float64 {
	l := -2 * math.Log(alpha)
	return (l + math.Log(l+1)) / tuningN
}

// SequentialHalfWidth is the half-width of the two-sided asymptotic
// confidence sequence (Waudby-Smith et al. 2023, Theorem 2.2; the
// normal-mixture boundary of Howard et al. 2021) for a difference of means
// with standard error se estimated from n units in total (both arms):
//
//	σ̂² = n·se²
//	h  = σ̂·√( 2(nρ² + 1)/(n²ρ²) · ln(√(nρ² + 1)/α) )
//
// with ρ² from the tuning n* (see Config.TuningN): the interval lift ± h
// covers the true lift at every n simultaneously with probability ≥ 1 − α
// asymptotically, so it may be read daily and the experiment stopped at
// any look. This is the form GrowthBook uses for its sequential testing
// (n* its "tuning parameter", default 5000). h is always wider than the
// fixed-horizon interval; it is tightest relative to it near n = n*.
func SequentialHalfWidth(se float64, n int, alpha, tuningN float64) float64 {
	if n <= 0 {
		return math.Inf(1)
	}
	N := float64(n)
	rho2 := sequentialRho2(alpha, tuningN)
	// σ̂·√(…) = se·√(n·…), with se outside the root so that a tiny se
	// does not underflow when squared.
	return se * math.Sqrt(2*(N*rho2+1)/(N*rho2)*math.Log(math.Sqrt(N*rho2+1)/alpha))
}

// SequentialPValue is the always-valid p-value matching
// SequentialHalfWidth: the smallest level a at which the sequence, its
// mixture ρ² kept tuned to alpha, excludes 0,
//
//	p = min(1, √(nρ² + 1) · exp(−d²·nρ² / (2·se²·(nρ² + 1)))).
//
// It is below alpha exactly when 0 lies outside lift ± h. With se = 0 it is
// 1 when d is 0, else 0.
func SequentialPValue(d, se float64, n int, alpha, tuningN float64) float64 {
	if se == 0 {
		if d == 0 {
			return 1
		}
		return 0
	}
	if n <= 0 {
		return 1
	}
	N := float64(n)
	r := N * sequentialRho2(alpha, tuningN)
	z := d / se
	return math.Min(1, math.Sqrt(r+1)*math.Exp(-z*z*r/(2*(r+1))))
}

// Moments are the cumulative sufficient statistics of an arm's metric:
// the users N, Σy and Σy². A service can keep them per arm and day
// instead of every user's value.
type Moments struct {
	N     int     `json:"n"`
	Sum   float64 `json:"sum"`
	SumSq float64 `json:"sum_sq"`
}

// MomentsOf returns the moments of y.
func MomentsOf(y []float64) Moments {
	m := Moments{N: len(y)}
	for _, v := range y {
		m.Sum += v
		m.SumSq += v * v
	}
	return m
}

// Add returns the moments of the union of the samples of m and o.
func (m Moments) Add(o Moments) Moments {
	return Moments{N: m.N + o.N, Sum: m.Sum + o.Sum, SumSq: m.SumSq + o.SumSq}
}

// Mean returns Σy/N (0 when N is 0).
func (m Moments) Mean() float64 {
	if m.N == 0 {
		return 0
	}
	return m.Sum / float64(m.N)
}

// Variance returns the unbiased (Σy² − N·ȳ²)/(N − 1), clamped at 0 (0
// when N < 2). It is computed from the raw moments, so it loses precision
// when the mean is large against the spread; Analyze uses the two-pass
// formula on the values themselves.
func (m Moments) Variance() float64 {
	if m.N < 2 {
		return 0
	}
	mean := m.Sum / float64(m.N)
	v := (m.SumSq - float64(m.N)*mean*mean) / float64(m.N-1)
	return math.Max(v, 0)
}

// Snapshot is the cumulative state of an experiment at one time: the
// moments of every arm since the start, in the order of the arms
// (baseline first).
type Snapshot struct {
	Time time.Time `json:"time"`
	Arms []Moments `json:"arms"`
}

// BandPoint is one comparison at one snapshot: the lift, its
// fixed-horizon interval and its confidence sequence.
type BandPoint struct {
	Time time.Time `json:"time"`
	// Users is the number of users in the two arms compared.
	Users        int        `json:"users"`
	Lift         float64    `json:"lift"`
	CI           [2]float64 `json:"ci"`
	SequentialCI [2]float64 `json:"sequential_ci"`
}

// Band is the confidence sequence of one arm against the baseline over
// time, for a plot.
type Band struct {
	Arm      string      `json:"arm"`
	Baseline string      `json:"baseline"`
	Points   []BandPoint `json:"points"`
}

// SequentialBand computes, for every arm but the baseline (names[0]), the
// lift over the baseline with its Welch interval and its confidence
// sequence (SequentialHalfWidth) at each snapshot, in the order of snaps.
// A snapshot at which either arm has fewer than 2 users has no point.
// Because the sequence is valid at every time at once, the band may be
// plotted and read at every snapshot. cfg's zero fields take the defaults.
// SequentialBand returns an error wrapping ErrInput when a snapshot does
// not have one Moments per name, holds a negative count or a non-finite
// sum, or gives a non-finite lift.
func SequentialBand(names []string, snaps []Snapshot, cfg Config) ([]Band, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(names) < 2 {
		return nil, fmt.Errorf("%w: %d arm names, need a baseline and at least one other arm", ErrInput, len(names))
	}
	for s, sn := range snaps {
		if len(sn.Arms) != len(names) {
			return nil, fmt.Errorf("%w: snapshot %d has %d arms, want %d", ErrInput, s, len(sn.Arms), len(names))
		}
		for j, m := range sn.Arms {
			if m.N < 0 || math.IsNaN(m.Sum) || math.IsInf(m.Sum, 0) || math.IsNaN(m.SumSq) || math.IsInf(m.SumSq, 0) || m.SumSq < 0 {
				return nil, fmt.Errorf("%w: snapshot %d arm %q: moments %+v", ErrInput, s, names[j], m)
			}
		}
	}
	bands := make([]Band, 0, len(names)-1)
	for j := 1; j < len(names); j++ {
		b := Band{Arm: names[j], Baseline: names[0], Points: []BandPoint{}}
		for _, sn := range snaps {
			a, o := sn.Arms[j], sn.Arms[0]
			if a.N < 2 || o.N < 2 {
				continue
			}
			w := Welch(a.Mean(), a.Variance(), a.N, o.Mean(), o.Variance(), o.N, cfg.Alpha)
			n := a.N + o.N
			h := SequentialHalfWidth(w.SE, n, cfg.Alpha, cfg.TuningN)
			if v := w.Diff + w.CI[0] + w.CI[1] + h; math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%w: %q against %q at %v: moments too large to compare", ErrInput, names[j], names[0], sn.Time)
			}
			b.Points = append(b.Points, BandPoint{
				Time:         sn.Time,
				Users:        n,
				Lift:         w.Diff,
				CI:           w.CI,
				SequentialCI: [2]float64{w.Diff - h, w.Diff + h},
			})
		}
		bands = append(bands, b)
	}
	return bands, nil
}
