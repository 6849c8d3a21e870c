package causal

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
)

// Bootstrap configures percentile bootstrap confidence intervals. The zero
// value is usable: 200 resamples, 95% level, every core.
//
// Each resample draws n units with replacement (a multinomial draw of
// multiplicities). Because a resample of a ranked data set is the same
// ranking with integer weights, no resample is sorted again: each costs
// O(n) random draws plus one pass per ranking. Resample b uses its own
// PCG stream seeded from src before any work starts, so the intervals do
// not depend on the number of workers.
type Bootstrap struct {
	// Resamples is the number B of resamples (0 means 200).
	Resamples int
	// Level is the confidence level in (0, 1) (0 means 0.95).
	Level float64
	// Workers is the number of goroutines (0 means GOMAXPROCS).
	Workers int
}

// withDefaults returns b with zero fields set to their defaults, or an
// error naming an invalid field.
func (b Bootstrap) withDefaults() (Bootstrap, error) {
	if b.Resamples == 0 {
		b.Resamples = 200
	}
	if b.Level == 0 {
		b.Level = 0.95
	}
	if b.Workers == 0 {
		b.Workers = runtime.GOMAXPROCS(0)
	}
	switch {
	case b.Resamples < 2:
		return b, fmt.Errorf("%w: bootstrap needs at least 2 resamples, got %d", ErrInput, b.Resamples)
	case !(b.Level > 0 && b.Level < 1):
		return b, fmt.Errorf("%w: confidence level must be in (0, 1), got %v", ErrInput, b.Level)
	case b.Workers < 1:
		return b, fmt.Errorf("%w: bootstrap needs at least 1 worker, got %d", ErrInput, b.Workers)
	}
	return b, nil
}

// ConfInt is a percentile bootstrap confidence interval.
type ConfInt struct {
	// Lo and Hi bound the interval; NaN when no resample gave a value.
	Lo, Hi float64
	// Resamples is the number of resamples on which the statistic was
	// defined (not NaN); the others are left out of the percentiles.
	Resamples int
}

// MarshalJSON writes {"lo":…,"hi":…,"resamples":…} with null for NaN.
func (c ConfInt) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Lo        *float64 `json:"lo"`
		Hi        *float64 `json:"hi"`
		Resamples int      `json:"resamples"`
	}{jsonNum(c.Lo), jsonNum(c.Hi), c.Resamples})
}

// jsonNum returns &x, or nil for NaN and infinities, which JSON cannot
// hold.
func jsonNum(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// PercentileCI returns the percentile interval of level (e.g. 0.95) of the
// replicate values vals, leaving NaN values out. The percentiles
// (1−level)/2 and (1+level)/2 interpolate linearly between order
// statistics (numpy.percentile's default): the p-quantile of the sorted
// values v₀ ≤ … ≤ v_{m−1} is v_j + f·(v_{j+1} − v_j) with j + f = p·(m−1).
// vals is not modified.
func PercentileCI(vals []float64, level float64) ConfInt {
	v := make([]float64, 0, len(vals))
	for _, x := range vals {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return ConfInt{Lo: math.NaN(), Hi: math.NaN()}
	}
	slices.Sort(v)
	a := (1 - level) / 2
	return ConfInt{Lo: bootQuantile(v, a), Hi: bootQuantile(v, 1-a), Resamples: len(v)}
}

// bootQuantile is the linear-interpolation p-quantile of sorted v.
func bootQuantile(v []float64, p float64) float64 {
	pos := p * float64(len(v)-1)
	j := int(math.Floor(pos))
	if j >= len(v)-1 {
		return v[len(v)-1]
	}
	f := pos - float64(j)
	return v[j] + f*(v[j+1]-v[j])
}

// bootRun draws cfg.Resamples resamples of n units and evaluates nstat
// statistics on each. newStat is called once per worker and returns the
// statistic, which reads the multiplicities m (indexed by unit, summing to
// n) and writes nstat values into out. The result is indexed
// [statistic][resample]. cfg must have its defaults set.
func bootRun(n int, cfg Bootstrap, src rand.Source, nstat int, newStat func() func(m []uint32, out []float64)) [][]float64 {
	B := cfg.Resamples
	seeds := make([][2]uint64, B)
	for b := range seeds {
		seeds[b] = [2]uint64{src.Uint64(), src.Uint64()}
	}
	res := make([][]float64, nstat)
	for s := range res {
		res[s] = make([]float64, B)
	}
	parallelWork(B, cfg.Workers, func() func(b int) {
		stat := newStat()
		m := make([]uint32, n)
		out := make([]float64, nstat)
		pcg := rand.NewPCG(0, 0)
		rng := rand.New(pcg)
		return func(b int) {
			pcg.Seed(seeds[b][0], seeds[b][1])
			clear(m)
			for range n {
				m[rng.IntN(n)]++
			}
			stat(m, out)
			for s, v := range out {
				res[s][b] = v
			}
		}
	})
	return res
}

// UpliftReport holds the uplift metrics of one scoring of a data set with
// bootstrap confidence intervals, in the form the CLI prints as JSON.
type UpliftReport struct {
	// N, Treated and Control are the total weights of all, treated and
	// control units.
	N, Treated, Control float64
	// Qini is scikit-uplift's qini_auc_score; see UpliftScores.
	Qini   float64
	QiniCI ConfInt
	// QiniCausalML is CausalML's qini_score(normalize=True).
	QiniCausalML   float64
	QiniCausalMLCI ConfInt
	// AUUC is scikit-uplift's uplift_auc_score.
	AUUC   float64
	AUUCCI ConfInt
	// UpliftAt30 is scikit-uplift's uplift_at_k, strategy "overall",
	// k = 0.3.
	UpliftAt30   float64
	UpliftAt30CI ConfInt
	// ATE and ATESE are the difference in (weighted) mean outcome between
	// treated and control units and its standard error hypot(se₁, se₀),
	// each group's se from MeanSE (without weights sqrt(v₁/n₁ + v₀/n₀)
	// with sample variances v); the same numbers as DiffInMeans. ATESE is
	// NaN when a group has fewer than two units.
	ATE, ATESE float64
	// Bootstrap is the configuration the intervals used.
	Bootstrap Bootstrap
}

// NewUpliftReport computes the metrics of the ranking by score and their
// percentile bootstrap intervals. src drives the resampling.
func NewUpliftReport(score []float64, treatment []int, y, weights []float64, boot Bootstrap, src rand.Source) (*UpliftReport, error) {
	boot, err := boot.withDefaults()
	if err != nil {
		return nil, err
	}
	r, err := newMetricRanking(score, treatment, y, weights)
	if err != nil {
		return nil, err
	}
	const k = 0.3
	ev := newMetricEvaluator(r.binary, treatment, y, weights)
	m := ev.eval(r, nil, k)
	rep := &UpliftReport{
		N:            r.total,
		Qini:         m.Qini,
		QiniCausalML: m.QiniCausalML,
		AUUC:         m.AUUC,
		UpliftAt30:   m.UpliftAtK,
		Bootstrap:    boot,
	}
	for i, t := range treatment {
		w := 1.0
		if weights != nil {
			w = weights[i]
		}
		if t == 1 {
			rep.Treated += w
		} else {
			rep.Control += w
		}
	}
	rep.ATE, rep.ATESE = reportATE(treatment, y, weights)
	res := bootRun(len(y), boot, src, 4, func() func([]uint32, []float64) {
		return func(mult []uint32, out []float64) {
			b := ev.eval(r, mult, k)
			out[0], out[1], out[2], out[3] = b.Qini, b.QiniCausalML, b.AUUC, b.UpliftAtK
		}
	})
	rep.QiniCI = PercentileCI(res[0], boot.Level)
	rep.QiniCausalMLCI = PercentileCI(res[1], boot.Level)
	rep.AUUCCI = PercentileCI(res[2], boot.Level)
	rep.UpliftAt30CI = PercentileCI(res[3], boot.Level)
	return rep, nil
}

// reportATE is the difference in means of valid 0/1 data with its
// standard error.
func reportATE(treatment []int, y, weights []float64) (ate, se float64) {
	var ys, ws [2][]float64
	for i, t := range treatment {
		ys[t] = append(ys[t], y[i])
		if weights != nil {
			ws[t] = append(ws[t], weights[i])
		}
	}
	m0, s0 := MeanSE(ys[0], ws[0])
	m1, s1 := MeanSE(ys[1], ws[1])
	return m1 - m0, math.Hypot(s1, s0)
}

// MarshalJSON writes the report with the keys qini, qini_causalml, auuc and
// uplift_at_30, their intervals (key_ci), the definition of each metric
// and null for undefined (NaN) values.
func (r UpliftReport) MarshalJSON() ([]byte, error) {
	type boot struct {
		Resamples int     `json:"resamples"`
		Level     float64 `json:"level"`
		Method    string  `json:"method"`
	}
	return json.Marshal(struct {
		N                         float64  `json:"n"`
		Treated                   float64  `json:"n_treated"`
		Control                   float64  `json:"n_control"`
		Qini                      *float64 `json:"qini"`
		QiniCI                    ConfInt  `json:"qini_ci"`
		QiniNormalisation         string   `json:"qini_normalisation"`
		QiniCausalML              *float64 `json:"qini_causalml"`
		QiniCausalMLCI            ConfInt  `json:"qini_causalml_ci"`
		QiniCausalMLNormalisation string   `json:"qini_causalml_normalisation"`
		AUUC                      *float64 `json:"auuc"`
		AUUCCI                    ConfInt  `json:"auuc_ci"`
		AUUCNormalisation         string   `json:"auuc_normalisation"`
		UpliftAt30                *float64 `json:"uplift_at_30"`
		UpliftAt30CI              ConfInt  `json:"uplift_at_30_ci"`
		UpliftAtKDefinition       string   `json:"uplift_at_30_definition"`
		ATE                       *float64 `json:"ate"`
		ATESE                     *float64 `json:"ate_se"`
		Bootstrap                 boot     `json:"bootstrap"`
	}{
		N: r.N, Treated: r.Treated, Control: r.Control,
		Qini: jsonNum(r.Qini), QiniCI: r.QiniCI, QiniNormalisation: QiniNormalisation,
		QiniCausalML: jsonNum(r.QiniCausalML), QiniCausalMLCI: r.QiniCausalMLCI,
		QiniCausalMLNormalisation: QiniCausalMLNormalisation,
		AUUC:                      jsonNum(r.AUUC), AUUCCI: r.AUUCCI, AUUCNormalisation: AUUCNormalisation,
		UpliftAt30: jsonNum(r.UpliftAt30), UpliftAt30CI: r.UpliftAt30CI, UpliftAtKDefinition: UpliftAtKDefinition,
		ATE: jsonNum(r.ATE), ATESE: jsonNum(r.ATESE),
		Bootstrap: boot{r.Bootstrap.Resamples, r.Bootstrap.Level, "percentile"},
	})
}
