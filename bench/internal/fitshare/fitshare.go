// Package fitshare shares uplift fits among the estimators a benchmark
// fits on one data set, so that variants of auto which differ only in how
// they combine their candidates are compared at the cost of about one fit.
package fitshare

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
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
//
// With Dir set, the models are also saved there (causal.Marshal, one file
// per estimator and rows) and read back by later runs, so that a changed
// combination rule is compared on the same candidate fits in seconds. The
// files are keyed by the estimator's registry name, its parameters and a
// hash of the rows, not by the code that fitted them: empty Dir after
// changing an estimator.
type Cache struct {
	Dir    string
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
			var b strings.Builder
			b.WriteString(name)
			for _, k := range slices.Sorted(maps.Keys(vals)) {
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
	f.once.Do(func() { f.model, f.err = e.cache.fit(e.est, key, d, src) })
	return f.model, f.err
}

// fit reads the model of key from Dir, or fits it and saves it there.
func (c *Cache) fit(est causal.UpliftEstimator, key string, d causal.UpliftData, src rand.Source) (causal.UpliftModel, error) {
	if c.Dir == "" {
		return est.FitUplift(d, src)
	}
	sum := sha256.Sum256([]byte(key))
	path := filepath.Join(c.Dir, hex.EncodeToString(sum[:16])+".json")
	if b, err := os.ReadFile(path); err == nil {
		v, err := causal.Unmarshal(b)
		if err != nil {
			return nil, fmt.Errorf("cached fit %s: %w", path, err)
		}
		m, ok := v.(causal.UpliftModel)
		if !ok {
			return nil, fmt.Errorf("cached fit %s holds %T, not an uplift model", path, v)
		}
		return m, nil
	}
	m, err := est.FitUplift(d, src)
	if err != nil {
		return nil, err
	}
	k, ok := m.(causal.Kinded)
	if !ok {
		return m, nil
	}
	b, err := causal.Marshal(k)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(c.Dir, "fit-*")
	if err != nil {
		return nil, err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return nil, err
	}
	return m, os.Rename(tmp.Name(), path)
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
