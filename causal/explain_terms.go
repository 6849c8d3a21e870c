package causal

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/gonum/stat/distuv"
)

// TermEffect is the effect of a term's presence in documents (item texts,
// say): the mean effect of the N documents with the term minus that of
// the documents without it, with its Welch normal interval.
type TermEffect struct {
	Term   string
	Effect float64
	CI     [2]float64
	N      int
}

// TermEffects says which terms of documents go with a larger or smaller
// effect: for every term present in at least minSupport documents and
// absent from at least minSupport, with D_t the documents holding it,
//
//	effect_t = mean_{i ∈ D_t} τ_i − mean_{i ∉ D_t} τ_i,
//	se_t² = s²_{D_t}/|D_t| + s²_{not D_t}/(n − |D_t|),
//
// and the interval effect_t ± z·se_t at level. tau holds each document's
// effect, terms its terms (repeats count once). The result is ordered by
// the size of the effect the interval supports, the distance of its
// nearer end from 0 (0 when it holds 0), then by |effect_t| and term, and
// holds at most top terms (0 means all).
func TermEffects(tau []float64, terms [][]string, minSupport, top int, level float64) ([]TermEffect, error) {
	n := len(tau)
	switch {
	case len(terms) != n:
		return nil, fmt.Errorf("%w: %d effects for %d documents", ErrInput, n, len(terms))
	case minSupport < 2:
		return nil, fmt.Errorf("%w: minimum support %d, need at least 2", ErrInput, minSupport)
	case !(level > 0 && level < 1):
		return nil, fmt.Errorf("%w: confidence level %v", ErrInput, level)
	}
	docs := map[string][]int{}
	var total, total2 float64
	for i, ts := range terms {
		if math.IsNaN(tau[i]) || math.IsInf(tau[i], 0) {
			return nil, fmt.Errorf("%w: the effect of document %d is %v", ErrInput, i, tau[i])
		}
		total += tau[i]
		total2 += tau[i] * tau[i]
		for k, t := range ts {
			if !slices.Contains(ts[:k], t) {
				docs[t] = append(docs[t], i)
			}
		}
	}
	z := distuv.UnitNormal.Quantile((1 + level) / 2)
	var out []TermEffect
	for t, ds := range docs {
		m := len(ds)
		if m < minSupport || n-m < minSupport {
			continue
		}
		var s, s2 float64
		for _, i := range ds {
			s += tau[i]
			s2 += tau[i] * tau[i]
		}
		mw, mo := s/float64(m), (total-s)/float64(n-m)
		vw := math.Max(0, (s2-float64(m)*mw*mw)/float64(m-1))
		vo := math.Max(0, (total2-s2-float64(n-m)*mo*mo)/float64(n-m-1))
		se := math.Sqrt(vw/float64(m) + vo/float64(n-m))
		e := mw - mo
		out = append(out, TermEffect{Term: t, Effect: e, CI: [2]float64{e - z*se, e + z*se}, N: m})
	}
	supported := func(t TermEffect) float64 { return math.Max(0, math.Max(t.CI[0], -t.CI[1])) }
	slices.SortFunc(out, func(a, b TermEffect) int {
		if sa, sb := supported(a), supported(b); sa != sb {
			if sa > sb {
				return -1
			}
			return 1
		}
		if ea, eb := math.Abs(a.Effect), math.Abs(b.Effect); ea != eb {
			if ea > eb {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Term, b.Term)
	})
	if top > 0 && len(out) > top {
		out = out[:top]
	}
	return out, nil
}
