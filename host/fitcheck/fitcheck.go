// Package fitcheck finds fitted uplift models that learned nothing: a model
// that predicts the same effect for every row (a boosted effect model with
// no trees, a linear one with all-zero weights, a forest of root-only
// trees) ranks nobody, and a user should hear so at fit time rather than
// find a Qini of 0 later. The check needs only Predict, so it works for
// the models of every estimator plugin.
package fitcheck

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/causalrec/causalrec/plugins"
)

// MaxRows is the largest number of training rows Check predicts.
const MaxRows = 5000

// Predictor is the part of an estimator plugin Check uses.
type Predictor interface {
	Predict(ctx context.Context, req plugins.PredictRequest) (plugins.PredictResponse, error)
}

// Report is the outcome of Check.
type Report struct {
	// Rows is the number of training rows predicted.
	Rows int
	// Arms names the treated arms, as the plugin answered.
	Arms []string
	// Constant[k] says whether arm k's effect was the same on every row
	// (within a relative 1e-9), and Value[k] is then that effect.
	Constant []bool
	Value    []float64
}

// Check predicts the effects of up to MaxRows rows of the training data
// req (evenly spaced, first and last included) with model and reports, per
// treated arm, whether they are all equal. A request without rows gives an
// empty report.
func Check(ctx context.Context, est Predictor, req plugins.FitRequest, model []byte) (Report, error) {
	n, p := req.Rows(), len(req.Features)
	if n == 0 || p == 0 {
		return Report{}, nil
	}
	m := min(n, MaxRows)
	x := make([]float64, 0, m*p)
	for r := range m {
		i := r
		if m < n && m > 1 {
			i = int(int64(r) * int64(n-1) / int64(m-1))
		}
		if req.X == nil && req.FillX != nil {
			// The rows are written on demand (a streamed training table).
			x = x[:len(x)+p]
			req.FillX(x[len(x)-p:], i, i+1)
			continue
		}
		x = append(x, req.X[i*p:(i+1)*p]...)
	}
	resp, err := est.Predict(ctx, plugins.PredictRequest{Model: model, ModelDigest: sha256.Sum256(model), X: x, NFeatures: p})
	if err != nil {
		return Report{}, fmt.Errorf("predict the training rows: %w", err)
	}
	k := len(resp.Arms)
	if k == 0 || len(resp.Effects) != m*k {
		return Report{}, fmt.Errorf("predict the training rows: %d effects for %d rows and %d arms", len(resp.Effects), m, k)
	}
	rep := Report{Rows: m, Arms: resp.Arms, Constant: make([]bool, k), Value: make([]float64, k)}
	for a := range k {
		lo, hi := math.Inf(1), math.Inf(-1)
		for r := range m {
			v := resp.Effects[r*k+a]
			lo, hi = min(lo, v), max(hi, v)
		}
		if !math.IsNaN(lo) && !math.IsNaN(hi) && hi-lo <= 1e-9*max(1e-3, math.Abs(lo), math.Abs(hi)) {
			rep.Constant[a], rep.Value[a] = true, lo
		}
	}
	return rep, nil
}

// Any says whether some arm's effect was constant.
func (r Report) Any() bool {
	for _, c := range r.Constant {
		if c {
			return true
		}
	}
	return false
}

// Warning describes the constant arms in a sentence, or returns "" when
// there is none.
func (r Report) Warning() string {
	var parts []string
	for a, c := range r.Constant {
		if c {
			parts = append(parts, fmt.Sprintf("%q: %.6g", r.Arms[a], r.Value[a]))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("the model predicts one constant uplift (%s) on the %d training rows checked: it learned no difference between units (for example an effect model with no trees or all-zero weights) and ranks nobody",
		strings.Join(parts, ", "), r.Rows)
}

// Metadata returns the model metadata the report adds: "constant_effect",
// the constant effect of each treated arm in the order of Arms, comma-
// separated, empty for an arm whose effect varies; and "warning", the
// Warning. It is nil when no arm is constant.
func (r Report) Metadata() map[string]string {
	if !r.Any() {
		return nil
	}
	vals := make([]string, len(r.Constant))
	for a, c := range r.Constant {
		if c {
			vals[a] = strconv.FormatFloat(r.Value[a], 'g', -1, 64)
		}
	}
	return map[string]string{"constant_effect": strings.Join(vals, ","), "warning": r.Warning()}
}
