package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/plugins"
)

// format names this plugin's model bytes; Predict refuses any other.
const format = "ridge-estimator/t/1"

// ridge implements plugins.Estimator.
type ridge struct{}

var _ plugins.Estimator = ridge{}

func (ridge) Info(context.Context, plugins.InfoRequest) (plugins.EstimatorInfo, error) {
	return plugins.EstimatorInfo{
		Name: "ridge", Version: "1.0.0", Estimators: []string{"t"},
		Capabilities: []string{"multi_arm", "categorical", "weights"},
		Params:       []plugins.ParamSpec{{Name: "l2", Type: "float", Default: "1", Description: "ridge penalty, >= 0"}},
	}, nil
}

// model is what the plugin stores in the model bytes.
type model struct {
	Format string      `json:"format"`
	Arms   []string    `json:"arms"` // the treated arms
	Levels []int       `json:"levels"`
	Mean   []float64   `json:"mean"`
	Scale  []float64   `json:"scale"`
	Coef   [][]float64 `json:"coef"` // per arm: intercept, then one per column of z
}

func (ridge) Fit(ctx context.Context, req plugins.FitRequest) (plugins.FitResponse, error) {
	for k := range req.Params {
		if k != "l2" {
			return plugins.FitResponse{}, fmt.Errorf("%w: estimator t does not take parameter %q (it takes: l2)", plugins.ErrInvalid, k)
		}
	}
	l2 := 1.0
	if v, ok := req.Params["l2"]; ok {
		var err error
		if l2, err = strconv.ParseFloat(v, 64); err != nil || l2 < 0 || math.IsInf(l2, 0) {
			return plugins.FitResponse{}, fmt.Errorf("%w: parameter l2=%s: want a number >= 0", plugins.ErrInvalid, v)
		}
	}
	if req.Estimator != "t" {
		return plugins.FitResponse{}, fmt.Errorf("%w: unknown estimator %q (this plugin fits t)", plugins.ErrInvalid, req.Estimator)
	}
	m := model{Format: format, Arms: req.Arms[1:]}
	d := len(req.Features)
	for j, f := range req.Features {
		m.Levels = append(m.Levels, len(f.Levels))
		var sum, sq float64
		for i := 0; i < req.Rows(); i++ {
			sum += req.X[i*d+j]
		}
		mean := sum / float64(req.Rows())
		for i := 0; i < req.Rows(); i++ {
			sq += (req.X[i*d+j] - mean) * (req.X[i*d+j] - mean)
		}
		m.Mean, m.Scale = append(m.Mean, mean), append(m.Scale, math.Max(math.Sqrt(sq/float64(req.Rows())), 1e-12))
	}
	for a := range req.Arms {
		if err := ctx.Err(); err != nil {
			return plugins.FitResponse{}, err
		}
		var rows [][]float64
		var y, w []float64
		for i, arm := range req.Arm {
			if arm == a {
				rows = append(rows, m.design(req.X[i*d:(i+1)*d]))
				y = append(y, req.Outcome[i])
				w = append(w, weight(req.Weight, i))
			}
		}
		if len(rows) == 0 {
			return plugins.FitResponse{}, fmt.Errorf("%w: arm %q has no rows", plugins.ErrInvalid, req.Arms[a])
		}
		coef, err := solve(rows, y, w, l2)
		if err != nil {
			return plugins.FitResponse{}, fmt.Errorf("arm %q: %w", req.Arms[a], err)
		}
		m.Coef = append(m.Coef, coef)
	}
	b, err := json.Marshal(m)
	return plugins.FitResponse{Model: b, Metadata: map[string]string{"estimator": "t", "l2": fmt.Sprint(l2)}}, err
}

func weight(w []float64, i int) float64 {
	if w == nil {
		return 1
	}
	return w[i]
}

// design returns z(x) with a leading 1 for the intercept.
func (m *model) design(x []float64) []float64 {
	z := []float64{1}
	for j, v := range x {
		if m.Levels[j] == 0 {
			z = append(z, (v-m.Mean[j])/m.Scale[j])
			continue
		}
		for l := 1; l < m.Levels[j]; l++ {
			z = append(z, b2f(int(v) == l))
		}
	}
	return z
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// solve returns the ridge coefficients: (ZᵀVZ + l2·I')β = ZᵀVy, with I'
// the identity but for the intercept, which is not penalised.
func solve(z [][]float64, y, w []float64, l2 float64) ([]float64, error) {
	p := len(z[0])
	a, rhs := mat.NewSymDense(p, nil), mat.NewVecDense(p, nil)
	for i, row := range z {
		for r := 0; r < p; r++ {
			rhs.SetVec(r, rhs.AtVec(r)+w[i]*row[r]*y[i])
			for c := r; c < p; c++ {
				a.SetSym(r, c, a.At(r, c)+w[i]*row[r]*row[c])
			}
		}
	}
	for r := 1; r < p; r++ {
		a.SetSym(r, r, a.At(r, r)+l2+1e-9)
	}
	var ch mat.Cholesky
	if !ch.Factorize(a) {
		return nil, fmt.Errorf("%w: the arm's rows do not determine the model (try a larger l2)", plugins.ErrInvalid)
	}
	var beta mat.VecDense
	if err := ch.SolveVecTo(&beta, rhs); err != nil {
		return nil, err
	}
	return beta.RawVector().Data, nil
}

func (ridge) Predict(_ context.Context, req plugins.PredictRequest) (plugins.PredictResponse, error) {
	var m model
	if err := json.Unmarshal(req.Model, &m); err != nil || m.Format != format || !m.consistent() {
		return plugins.PredictResponse{}, fmt.Errorf("%w: not a model of this plugin (want format %s)", plugins.ErrInvalid, format)
	}
	d := len(m.Levels)
	if req.NFeatures != d {
		return plugins.PredictResponse{}, fmt.Errorf("%w: rows have %d features, the model was fitted on %d", plugins.ErrInvalid, req.NFeatures, d)
	}
	out := plugins.PredictResponse{Arms: m.Arms, Effects: make([]float64, 0, req.Rows()*len(m.Arms))}
	for i := 0; i < req.Rows(); i++ {
		z := m.design(req.X[i*d : (i+1)*d])
		mu0 := mat.Dot(mat.NewVecDense(len(z), z), mat.NewVecDense(len(z), m.Coef[0]))
		for k := 1; k < len(m.Coef); k++ {
			out.Effects = append(out.Effects, mat.Dot(mat.NewVecDense(len(z), z), mat.NewVecDense(len(z), m.Coef[k]))-mu0)
		}
	}
	return out, nil
}

// consistent reports whether the lengths in m agree, so that Predict
// cannot index out of range on bytes it did not write.
func (m *model) consistent() bool {
	d, p := len(m.Levels), 1
	for _, l := range m.Levels {
		if l < 0 {
			return false
		}
		p += max(l-1, 0)
		if l == 0 {
			p++
		}
	}
	if len(m.Mean) != d || len(m.Scale) != d || len(m.Coef) != len(m.Arms)+1 {
		return false
	}
	for _, c := range m.Coef {
		if len(c) != p {
			return false
		}
	}
	return true
}
