// Package estimator is causalrec's built-in uplift estimator plugin: it
// serves every estimator of package causal (meta-learners over linear,
// boosted-tree and forest base learners, uplift forests, the causal forest)
// through the plugin SDK's Estimator interface.
package estimator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/causal/jsonobj"
	"github.com/causalrec/causalrec/plugins"
)

// Name is the plugin's name.
const Name = "causal"

// Plugin implements plugins.Estimator with package causal.
type Plugin struct {
	registry causal.Registry
	version  string

	mu    sync.Mutex
	cache map[[32]byte]*savedModel
	order [][32]byte
}

// New returns the plugin serving the estimators of registry. version is
// reported by Info.
func New(registry causal.Registry, version string) *Plugin {
	return &Plugin{registry: registry, version: version, cache: make(map[[32]byte]*savedModel)}
}

var _ plugins.Estimator = (*Plugin)(nil)

// savedModel is the plugin's model format: the causal model plus what is
// needed to apply it.
type savedModel struct {
	Estimator string            `json:"estimator"`
	Params    map[string]string `json:"params,omitempty"`
	Arms      []string          `json:"arms"`
	NFeatures int               `json:"n_features"`
	Model     json.RawMessage   `json:"model"`

	uplift causal.UpliftModel
}

// Info implements plugins.Estimator.
func (p *Plugin) Info(context.Context, plugins.InfoRequest) (plugins.EstimatorInfo, error) {
	names := make([]string, 0, len(p.registry.Estimators))
	for n := range p.registry.Estimators {
		names = append(names, n)
	}
	sort.Strings(names)
	learners := make([]string, 0, len(p.registry.Learners))
	for n := range p.registry.Learners {
		learners = append(learners, n)
	}
	sort.Strings(learners)
	return plugins.EstimatorInfo{
		Name:         Name,
		Version:      p.version,
		Estimators:   names,
		Capabilities: []string{"multi_arm", "categorical", "weights", "propensity", "intervals"},
		Params: []plugins.ParamSpec{
			{Name: "base", Type: "enum", Default: "linear", Description: "base learner of the meta-learners", Allowed: learners},
			{Name: "seed", Type: "int", Default: "", Description: "random seed; the same seed gives the same model"},
			{Name: "folds", Type: "int", Default: "5", Description: "cross-fitting folds (r, dr)"},
			{Name: "l2", Type: "float", Default: "", Description: "L2 penalty of the linear learner (default 0) and of the network weights (tarnet, dragonnet, mlp: 0.01)"},
			{Name: "criterion", Type: "string", Default: "", Description: "split criterion KL, ED, Chi or DDP (uplift-tree, uplift-forest); selection loss of auto: mixed-loss (its default; mix, 0.25, is the DR-loss share), r-loss or dr-loss"},
			{Name: "trees", Type: "int", Default: "", Description: "number of trees (uplift-forest, causal-forest, forest learner)"},
			{Name: "depth", Type: "int", Default: "", Description: "maximum tree depth"},
			{Name: "min_leaf", Type: "int", Default: "", Description: "minimum rows per leaf"},
			{Name: "candidates", Type: "string", Default: "", Description: "auto: comma-separated estimator[/base][:k=v] candidates"},
			{Name: "of", Type: "string", Default: "t", Description: "bootstrap: the estimator to bootstrap"},
			{Name: "replicates", Type: "int", Default: "", Description: "bootstrap: number of replicates"},
			{Name: "hidden", Type: "int", Default: "64", Description: "tarnet, dragonnet, mlp learner: width of the shared layers"},
			{Name: "layers", Type: "int", Default: "2", Description: "tarnet, dragonnet, mlp learner: number of shared layers"},
			{Name: "head_hidden", Type: "int", Default: "32", Description: "tarnet, dragonnet: width of each outcome head's hidden layers"},
			{Name: "head_layers", Type: "int", Default: "1", Description: "tarnet, dragonnet: hidden layers per outcome head (0: linear heads)"},
			{Name: "epochs", Type: "int", Default: "", Description: "training epochs (tarnet, dragonnet, mlp: at most; default 300, fewer on large data)"},
			{Name: "batch", Type: "int", Default: "64", Description: "tarnet, dragonnet, mlp learner: minibatch size"},
			{Name: "learn_rate", Type: "float", Default: "", Description: "step size (tarnet, dragonnet, mlp: Adam, 0.001)"},
			{Name: "patience", Type: "int", Default: "30", Description: "tarnet, dragonnet, mlp learner: epochs without validation improvement before stopping"},
			{Name: "val_fraction", Type: "float", Default: "0.2", Description: "tarnet, dragonnet, mlp learner: share of rows held out for early stopping (0: none)"},
			{Name: "nets", Type: "int", Default: "1", Description: "tarnet, dragonnet, mlp learner: number of networks averaged"},
			{Name: "alpha", Type: "float", Default: "1", Description: "dragonnet: weight of the propensity head's loss"},
			{Name: "dim", Type: "int", Default: "10", Description: "dlce: embedding dimension"},
			{Name: "negatives", Type: "int", Default: "5", Description: "dlce: sampled pairs per positive"},
			{Name: "cap", Type: "float", Default: "0.05", Description: "dlce: lower cap on propensities in the IPS weights"},
			{Name: "user_col", Type: "int", Default: "-1", Description: "dlce: feature column holding the user index"},
			{Name: "item_col", Type: "int", Default: "-1", Description: "dlce: feature column holding the item index"},
		},
	}, nil
}

// Fit implements plugins.Estimator.
func (p *Plugin) Fit(ctx context.Context, req plugins.FitRequest) (plugins.FitResponse, error) {
	if err := req.Validate(); err != nil {
		return plugins.FitResponse{}, err
	}
	est, err := p.registry.NewEstimator(req.Estimator, req.Params)
	if err != nil {
		return plugins.FitResponse{}, fmt.Errorf("%w: %v", plugins.ErrInvalid, err)
	}
	d := upliftData(req)
	type result struct {
		m          causal.UpliftModel
		ate        []causal.ATEEstimate
		ateErr     error
		overlap    *causal.OverlapReport
		overlapErr error
		err        error
	}
	// The fit runs in a goroutine of its own so that a cancelled call
	// answers at once; the sources carry ctx as their stop signal, so the
	// estimator's loops see the cancellation and the goroutine ends soon
	// after, freeing the CPU (causal.WithStop). The fit's source also
	// carries the request's progress callback, if any (causal.WithProgress).
	src := causal.WithProgress(causal.WithStop(rand.NewPCG(req.Seed, 0x5eed), ctx.Err), req.Progress)
	done := make(chan result, 1)
	go func() {
		var r result
		r.m, r.err = est.FitUplift(d, src)
		// With ModelOnly the caller reads only the model: the reports
		// (the ATE, the overlap check) are left out.
		if r.err == nil && !req.ModelOnly {
			// AIPW with logged propensities, the difference in means
			// otherwise. The ATE is a report: data too few for its
			// cross-fitting leave it out, not the model.
			r.ate, r.ateErr = causal.ATE(d, causal.ATEOptions{Randomised: d.Propensity == nil}, causal.WithStop(rand.NewPCG(req.Seed, 0xa7e), ctx.Err))
			if checksOverlap(req.Estimator, r.m) {
				r.overlap, r.overlapErr = causal.Overlap(d, causal.OverlapOptions{}, causal.WithStop(rand.NewPCG(req.Seed, 0x0e), ctx.Err))
			}
		}
		done <- r
	}()
	var res result
	select {
	case <-ctx.Done():
		return plugins.FitResponse{}, ctx.Err()
	case res = <-done:
	}
	if res.err != nil {
		switch {
		case errors.Is(res.err, causal.ErrInput) || errors.Is(res.err, causal.ErrParam):
			return plugins.FitResponse{}, fmt.Errorf("%w: %v", plugins.ErrInvalid, res.err)
		case errors.Is(res.err, causal.ErrInsufficientData):
			return plugins.FitResponse{}, fmt.Errorf("%w: fit %s: %v", plugins.ErrInsufficientData, req.Estimator, res.err)
		}
		return plugins.FitResponse{}, fmt.Errorf("fit %s: %w", req.Estimator, res.err)
	}
	k, ok := res.m.(causal.Kinded)
	if !ok {
		return plugins.FitResponse{}, fmt.Errorf("estimator %s: model %T cannot be saved", req.Estimator, res.m)
	}
	raw, err := causal.Marshal(k)
	if err != nil {
		return plugins.FitResponse{}, err
	}
	b, err := json.Marshal(savedModel{Estimator: req.Estimator, Params: req.Params, Arms: req.Arms[1:], NFeatures: len(req.Features), Model: raw})
	if err != nil {
		return plugins.FitResponse{}, err
	}
	meta := map[string]string{
		"estimator":   req.Estimator,
		"rows":        fmt.Sprint(req.Rows()),
		"features":    fmt.Sprint(len(req.Features)),
		"model_kind":  k.Kind(),
		"format":      fmt.Sprint(causal.FormatVersion),
		"plugin":      Name,
		"plugin_vers": p.version,
	}
	if r, ok := res.m.(interface{ Report() map[string]string }); ok {
		for key, v := range r.Report() {
			meta[key] = v
		}
	}
	if res.ateErr != nil {
		meta["ate_error"] = res.ateErr.Error()
	}
	// Like the ATE, the overlap check is a report: data it cannot check
	// leave it out, not the model.
	maps.Copy(meta, res.overlap.Metadata())
	if res.overlapErr != nil {
		meta["overlap_error"] = res.overlapErr.Error()
	}
	resp := plugins.FitResponse{Model: b, Metadata: meta}
	for _, a := range res.ate {
		resp.ATE, resp.ATESE = append(resp.ATE, a.Effect), append(resp.ATESE, a.SE)
	}
	return resp, nil
}

// checksOverlap says whether Fit measures the overlap of the arms
// (causal.Overlap) for a model of estimator name: every uplift estimator
// but auto, which counts the same on its selection rows, and not the
// outcome models or DLCE, which estimate no effect from the features.
func checksOverlap(name string, m causal.UpliftModel) bool {
	switch name {
	case "outcome", "outcome-ips", "dlce":
		return false
	}
	_, auto := m.(*causal.AutoModel)
	return !auto
}

// upliftData converts a fit request into causal's input, sharing memory.
func upliftData(req plugins.FitRequest) causal.UpliftData {
	n, dim := req.Rows(), len(req.Features)
	d := causal.UpliftData{
		X:          mat.NewDense(n, dim, req.X),
		Treatment:  req.Arm,
		Arms:       len(req.Arms) - 1,
		Y:          req.Outcome,
		Weights:    req.Weight,
		Propensity: req.Propensity,
	}
	for j, f := range req.Features {
		if f.Kind == plugins.Categorical {
			if d.Categorical == nil {
				d.Categorical = make([]bool, dim)
			}
			d.Categorical[j] = true
		}
	}
	return d
}

// Predict implements plugins.Estimator.
func (p *Plugin) Predict(_ context.Context, req plugins.PredictRequest) (out plugins.PredictResponse, err error) {
	m, err := p.load(req.ModelDigest, req.Model)
	if err != nil {
		return plugins.PredictResponse{}, err
	}
	if m.NFeatures == anyWidth {
		// A model of unrecorded width panics on rows of another width.
		defer func() {
			if r := recover(); r != nil {
				out, err = plugins.PredictResponse{}, fmt.Errorf("%w: rows of %d features do not fit the model: %v", plugins.ErrInvalid, req.NFeatures, r)
			}
		}()
	}
	if m.NFeatures != anyWidth && req.NFeatures != m.NFeatures {
		return plugins.PredictResponse{}, fmt.Errorf("%w: rows have %d features, the model was fitted on %d", plugins.ErrInvalid, req.NFeatures, m.NFeatures)
	}
	n := req.Rows()
	if n == 0 {
		return plugins.PredictResponse{Arms: m.Arms, Effects: []float64{}}, nil
	}
	x := mat.NewDense(n, req.NFeatures, req.X)
	im, ok := m.uplift.(causal.IntervalModel)
	if ok && req.IntervalLevel >= 1 {
		return plugins.PredictResponse{}, fmt.Errorf("%w: interval level %v is not in (0, 1)", plugins.ErrInvalid, req.IntervalLevel)
	}
	if one, ok := m.uplift.(effectsIntervals); ok && req.IntervalLevel > 0 {
		eff, lo, hi := one.EffectsIntervals(nil, nil, nil, x, req.IntervalLevel)
		return plugins.PredictResponse{Arms: m.Arms, Effects: eff.RawMatrix().Data, Lower: lo.RawMatrix().Data, Upper: hi.RawMatrix().Data}, nil
	}
	eff := m.uplift.Effects(nil, x)
	out = plugins.PredictResponse{Arms: m.Arms, Effects: eff.RawMatrix().Data}
	if ok && req.IntervalLevel > 0 {
		lo, hi := im.Intervals(nil, nil, x, req.IntervalLevel)
		out.Lower, out.Upper = lo.RawMatrix().Data, hi.RawMatrix().Data
	}
	return out, nil
}

// effectsIntervals is implemented by interval models that compute the
// effects and the intervals in one pass (the causal forest walks its trees
// once for both).
type effectsIntervals interface {
	EffectsIntervals(eff, lo, hi, x *mat.Dense, level float64) (*mat.Dense, *mat.Dense, *mat.Dense)
}

// decodeModel decodes the plugin's model format, or a bare model of
// package causal as the host stored the models of the outcome rankers up
// to release 0.1.0 (commit 80eca2c), which it serves as an outcome model.
func decodeModel(b []byte) (*savedModel, error) {
	// The causal model is most of the bytes; causal.Unmarshal checks it.
	m := new(savedModel)
	if raw, rest, ok := jsonobj.Split(b, "model"); ok && json.Unmarshal(rest, m) == nil {
		m.Model = raw
	} else {
		m = new(savedModel)
		if err := json.Unmarshal(b, m); err != nil {
			return nil, fmt.Errorf("%w: model is not a %s plugin model: %v", plugins.ErrInvalid, Name, err)
		}
	}
	legacy := m.Model == nil
	if legacy {
		m.Model = b
	}
	v, err := causal.Unmarshal(m.Model)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", plugins.ErrInvalid, err)
	}
	switch v := v.(type) {
	case causal.UpliftModel:
		m.uplift = v
	case causal.Model:
		if !legacy {
			return nil, fmt.Errorf("%w: saved %T is not an uplift model", plugins.ErrInvalid, v)
		}
		// The host fitted the model on rows of the arms control and
		// "recommended"; it predicts rows of any width it was fitted on.
		m.Estimator, m.Arms, m.NFeatures = "outcome", []string{"recommended"}, anyWidth
		m.uplift = causal.NewOutcomeModel(v, false)
	default:
		return nil, fmt.Errorf("%w: saved %T is not an uplift model", plugins.ErrInvalid, v)
	}
	return m, nil
}

// anyWidth is the NFeatures of a model whose width is not recorded: the
// model itself checks the rows.
const anyWidth = -1

// load decodes a model, keeping the most recent few by digest.
func (p *Plugin) load(digest [32]byte, b []byte) (*savedModel, error) {
	p.mu.Lock()
	m, ok := p.cache[digest]
	p.mu.Unlock()
	if ok {
		return m, nil
	}
	m, err := decodeModel(b)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.order) >= 8 {
		delete(p.cache, p.order[0])
		p.order = slices.Delete(p.order, 0, 1)
	}
	p.cache[digest] = m
	p.order = append(p.order, digest)
	return m, nil
}
