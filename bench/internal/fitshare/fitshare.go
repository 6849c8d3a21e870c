// Package fitshare shares uplift fits among the estimators a benchmark
// fits on one data set, so that variants of auto which differ only in how
// they combine their candidates are compared at the cost of about one fit.
package fitshare

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"github.com/causalrec/causalrec/causal"
)

// Cache shares fits among estimators: an estimator built from the same
// registry name and parameters (the seed aside) and fitted on the same
// rows gets the model fitted first. Every auto variant's cross-fitting
// and refits on all rows then reuse its candidates' fits (when the
// variants share their folds and seed), so a variant costs only its
// nuisances and its combination rule; the models differ from separate
// fits only in the seed of the fit that ran. A Cache holds every model it
// fitted: use one per data set. The zero value is ready to use.
type Cache struct {
	mu     sync.Mutex
	models map[string]*cachedFit
}

type cachedFit struct {
	once  sync.Once
	model causal.UpliftModel
	err   error
}

// Registry returns the built-in registry whose estimators, all but auto,
// fit through the cache.
func (c *Cache) Registry() causal.Registry {
	reg := causal.NewRegistry()
	for name, f := range reg.Estimators {
		if name == "auto" {
			continue
		}
		reg.Estimators[name] = func(p *causal.Params, r causal.Registry) (causal.UpliftEstimator, error) {
			vals := p.Values()
			est, err := f(p, r)
			if err != nil {
				return nil, err
			}
			delete(vals, "seed")
			keys := slices.Sorted(func(yield func(string) bool) {
				for k := range vals {
					if !yield(k) {
						return
					}
				}
			})
			var b strings.Builder
			b.WriteString(name)
			for _, k := range keys {
				b.WriteString(":" + k + "=" + vals[k])
			}
			return cachedEstimator{cache: c, spec: b.String(), est: est}, nil
		}
	}
	return reg
}

type cachedEstimator struct {
	cache *Cache
	spec  string
	est   causal.UpliftEstimator
}

// FitUplift implements causal.UpliftEstimator.
func (e cachedEstimator) FitUplift(d causal.UpliftData, src rand.Source) (causal.UpliftModel, error) {
	key := e.spec + "@" + fingerprint(d)
	e.cache.mu.Lock()
	if e.cache.models == nil {
		e.cache.models = make(map[string]*cachedFit)
	}
	f := e.cache.models[key]
	if f == nil {
		f = &cachedFit{}
		e.cache.models[key] = f
	}
	e.cache.mu.Unlock()
	f.once.Do(func() { f.model, f.err = e.est.FitUplift(d, src) })
	return f.model, f.err
}

// fingerprint hashes the rows of d.
func fingerprint(d causal.UpliftData) string {
	h := fnv.New128a()
	var buf [8]byte
	put := func(v float64) {
		binary.LittleEndian.PutUint64(buf[:], math.Float64bits(v))
		h.Write(buf[:])
	}
	r, c := d.X.Dims()
	put(float64(r))
	put(float64(c))
	for i := range r {
		for j := range c {
			put(d.X.At(i, j))
		}
	}
	for _, t := range d.Treatment {
		put(float64(t))
	}
	for _, y := range d.Y {
		put(y)
	}
	for _, w := range d.Weights {
		put(w)
	}
	put(-1)
	for _, e := range d.Propensity {
		put(e)
	}
	return string(h.Sum(nil))
}
