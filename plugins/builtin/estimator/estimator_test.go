package estimator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/plugins"
)

// referenceRequest turns causal's reference simulation into a fit request.
func referenceRequest(n int) (plugins.FitRequest, []float64) {
	d := causal.SimulateReference(n, rand.NewPCG(1, 2))
	req := plugins.FitRequest{Arms: []string{"control", "treated"}, Estimator: "t", X: d.X.RawMatrix().Data, Arm: d.Treatment, Outcome: d.Y}
	for j := 0; j < causal.ReferenceFeatures; j++ {
		req.Features = append(req.Features, plugins.Feature{Name: "x", Kind: plugins.Numeric})
	}
	return req, causal.ReferenceEffects(nil, d.X)
}

func TestFitPredict(t *testing.T) {
	p := New(causal.NewRegistry(), "test")
	ctx := context.Background()
	req, truth := referenceRequest(20000)
	fit, err := p.Fit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if fit.Metadata["model_kind"] != "t-learner" || fit.Metadata["rows"] != "20000" {
		t.Errorf("metadata %v", fit.Metadata)
	}
	pred, err := p.Predict(ctx, plugins.PredictRequest{Model: fit.Model, ModelDigest: sha256.Sum256(fit.Model), X: req.X, NFeatures: len(req.Features)})
	if err != nil {
		t.Fatal(err)
	}
	if len(pred.Arms) != 1 || pred.Arms[0] != "treated" || len(pred.Effects) != 20000 {
		t.Fatalf("arms %v, %d effects", pred.Arms, len(pred.Effects))
	}
	var mse float64
	for i, e := range pred.Effects {
		mse += (e - truth[i]) * (e - truth[i])
	}
	if rmse := math.Sqrt(mse / float64(len(truth))); rmse > 0.05 {
		t.Errorf("effect RMSE %v against the simulation's truth", rmse)
	}
}

func TestErrorsAreInvalid(t *testing.T) {
	p := New(causal.NewRegistry(), "test")
	ctx := context.Background()
	req, _ := referenceRequest(200)
	tests := []struct {
		name   string
		mutate func(*plugins.FitRequest)
	}{
		{"unknown estimator", func(r *plugins.FitRequest) { r.Estimator = "magic" }},
		{"unknown parameter", func(r *plugins.FitRequest) { r.Params = map[string]string{"nope": "1"} }},
		{"bad value", func(r *plugins.FitRequest) { r.Params = map[string]string{"l2": "-1"} }},
		{"nan outcome", func(r *plugins.FitRequest) { r.Outcome = append([]float64{math.NaN()}, r.Outcome[1:]...) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := req
			tt.mutate(&r)
			if _, err := p.Fit(ctx, r); !errors.Is(err, plugins.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := p.Predict(ctx, plugins.PredictRequest{Model: []byte("junk"), X: []float64{1}, NFeatures: 1}); !errors.Is(err, plugins.ErrInvalid) {
		t.Errorf("junk model: %v", err)
	}
	fit, err := p.Fit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Predict(ctx, plugins.PredictRequest{Model: fit.Model, X: []float64{1, 2}, NFeatures: 2}); !errors.Is(err, plugins.ErrInvalid) {
		t.Errorf("wrong feature count: %v", err)
	}
}

func TestInfo(t *testing.T) {
	info, err := New(causal.NewRegistry(), "v9").Info(context.Background(), plugins.InfoRequest{})
	if err != nil || info.Name != Name || info.Version != "v9" || len(info.Estimators) < 5 {
		t.Fatalf("info %+v %v", info, err)
	}
}

// TestOutcomeModels fits the outcome rankers' estimators through the
// plugin, and serves a bare causal model as the host stored the outcome
// rankers' models up to 0.1.0: its effect is its prediction.
func TestOutcomeModels(t *testing.T) {
	p := New(causal.NewRegistry(), "test")
	ctx := context.Background()
	req, _ := referenceRequest(2000)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range req.Outcome {
		if rng.Float64() < 1/(1+math.Exp(-req.Outcome[i])) {
			req.Outcome[i] = 1
		} else {
			req.Outcome[i] = 0
		}
	}
	x := mat.NewDense(req.Rows(), len(req.Features), req.X)
	for _, est := range []string{"outcome", "outcome-ips"} {
		r := req
		r.Estimator = est
		r.Propensity = make([]float64, r.Rows())
		for i := range r.Propensity {
			r.Propensity[i] = 0.5
		}
		fit, err := p.Fit(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if fit.Metadata["model_kind"] != "outcome" {
			t.Errorf("%s: metadata %v", est, fit.Metadata)
		}
		pred, err := p.Predict(ctx, plugins.PredictRequest{Model: fit.Model, ModelDigest: sha256.Sum256(fit.Model), X: req.X, NFeatures: len(req.Features)})
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range pred.Effects {
			if !(e >= 0 && e <= 1) {
				t.Fatalf("%s: row %d: predicted outcome %v outside [0, 1]", est, i, e)
			}
		}
	}
	lin, err := causal.Linear{}.Fit(x, req.Outcome, nil, causal.Classification, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := causal.Marshal(lin.(causal.Kinded))
	if err != nil {
		t.Fatal(err)
	}
	pred, err := p.Predict(ctx, plugins.PredictRequest{Model: legacy, ModelDigest: sha256.Sum256(legacy), X: req.X, NFeatures: len(req.Features)})
	if err != nil {
		t.Fatal(err)
	}
	want := lin.Predict(nil, x)
	if len(pred.Arms) != 1 || len(pred.Effects) != len(want) {
		t.Fatalf("legacy model: arms %v, %d effects for %d rows", pred.Arms, len(pred.Effects), len(want))
	}
	for i, e := range pred.Effects {
		if e != want[i] {
			t.Fatalf("legacy model: row %d: %v, want the model's prediction %v", i, e, want[i])
		}
	}
	// Rows of another width are an error, not a crash.
	if _, err := p.Predict(ctx, plugins.PredictRequest{Model: legacy, ModelDigest: sha256.Sum256(legacy), X: []float64{1, 2}, NFeatures: 2}); !errors.Is(err, plugins.ErrInvalid) {
		t.Errorf("legacy model on rows of 2 features: %v, want ErrInvalid", err)
	}
}

// TestTooLittleData: a fit on too few rows is ErrInsufficientData, which
// the host answers with 409.
func TestTooLittleData(t *testing.T) {
	p := New(causal.NewRegistry(), "test")
	req, _ := referenceRequest(200)
	n, d := 3, len(req.Features)
	req.X, req.Arm, req.Outcome = req.X[:n*d], []int{0, 1, 1}, []float64{0, 1, 0}
	if _, err := p.Fit(context.Background(), req); !errors.Is(err, plugins.ErrInsufficientData) {
		t.Fatalf("fit on %d rows: %v, want ErrInsufficientData", n, err)
	}
}

// TestDecodeModelBulk checks that a causal forest's plugin model decodes
// to the same model whether its payload is taken out of the JSON directly
// or, written with escapes, by encoding/json, and that corrupt bytes are
// ErrInvalid.
func TestDecodeModelBulk(t *testing.T) {
	req, _ := referenceRequest(400)
	req.Estimator, req.Params = "causal-forest", map[string]string{"trees": "4", "nuisance_trees": "10"}
	fit, err := New(causal.NewRegistry(), "test").Fit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	escaped := bytes.ReplaceAll(fit.Model, []byte("/"), []byte(`\/`))
	if bytes.Equal(escaped, fit.Model) {
		t.Fatal("no slash in the model: the test does not reach encoding/json")
	}
	fast, err := decodeModel(fit.Model)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := decodeModel(escaped)
	if err != nil {
		t.Fatal(err)
	}
	fast.Model, slow.Model = nil, nil
	if !reflect.DeepEqual(fast, slow) {
		t.Errorf("the two decodings differ: %+v and %+v", fast, slow)
	}
	for name, bad := range map[string][]byte{
		"truncated": fit.Model[:len(fit.Model)-1],
		"trailing":  append(bytes.Clone(fit.Model), '}'),
	} {
		if _, err := decodeModel(bad); !errors.Is(err, plugins.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

// TestFitOverlap checks the overlap report of Fit: every uplift estimator
// but auto reports overlap_clipped, with a warning when treatment is
// nearly certain for many rows; auto reports its own count; the outcome
// models report none.
func TestFitOverlap(t *testing.T) {
	p := New(causal.NewRegistry(), "test")
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(4, 5))
	const n = 2000
	conf := plugins.FitRequest{Arms: []string{"control", "treated"}, Features: []plugins.Feature{{Name: "x0", Kind: plugins.Numeric}, {Name: "x1", Kind: plugins.Numeric}}}
	for range n {
		x0, x1 := rng.NormFloat64(), rng.NormFloat64()
		arm := 0
		if rng.Float64() < 1/(1+math.Exp(-3*x0)) {
			arm = 1
		}
		conf.X = append(conf.X, x0, x1)
		conf.Arm = append(conf.Arm, arm)
		conf.Outcome = append(conf.Outcome, x0+float64(arm)*x1+rng.NormFloat64())
	}
	rct, _ := referenceRequest(n)
	for _, tc := range []struct {
		name      string
		req       plugins.FitRequest
		estimator string
		params    map[string]string
		key       string // the share's key, "" for none
		warn      string
	}{
		{"t, confounded", conf, "t", nil, "overlap_clipped", "overlap_warning"},
		{"x, confounded", conf, "x", nil, "overlap_clipped", "overlap_warning"},
		{"t, randomised", rct, "t", nil, "overlap_clipped", ""},
		{"auto, confounded", conf, "auto", map[string]string{"candidates": "t/linear"}, "auto_clipped", "auto_overlap_warning"},
		{"outcome", conf, "outcome", nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			req.Estimator, req.Params = tc.estimator, tc.params
			fit, err := p.Fit(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			md := fit.Metadata
			for _, key := range []string{"overlap_clipped", "auto_clipped"} {
				if (md[key] != "") != (key == tc.key) {
					t.Errorf("%s %q, want it only under %q", key, md[key], tc.key)
				}
			}
			for _, key := range []string{"overlap_warning", "auto_overlap_warning"} {
				if (md[key] != "") != (key == tc.warn) {
					t.Errorf("%s %q, want one only under %q", key, md[key], tc.warn)
				}
			}
		})
	}
}

// namedFit is a fit request with a name for a subtest.
type namedFit struct {
	name string
	req  plugins.FitRequest
}

// reportRequests returns n reference rows as a randomised fit request and
// as one with logged propensities (whose ATE is a cross-fitted AIPW
// estimate), named.
func reportRequests(n int) []namedFit {
	req, _ := referenceRequest(n)
	logged := req
	logged.Propensity = make([]float64, req.Rows())
	for i := range logged.Propensity {
		logged.Propensity[i] = 0.5
	}
	return []namedFit{{"randomised", req}, {"logged", logged}}
}

// TestFitModelOnly: a fit asked for the model only gives the same model
// without the reports (the ATE, the overlap check), with logged
// propensities (cross-fitted AIPW) and without.
func TestFitModelOnly(t *testing.T) {
	p := New(causal.NewRegistry(), "test")
	ctx := context.Background()
	for _, tc := range reportRequests(3000) {
		t.Run(tc.name, func(t *testing.T) {
			full, err := p.Fit(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if len(full.ATE) != 1 || full.Metadata["overlap_clipped"] == "" {
				t.Fatalf("a full fit reports ATE %v, overlap %q; want both", full.ATE, full.Metadata["overlap_clipped"])
			}
			only := tc.req
			only.ModelOnly = true
			got, err := p.Fit(ctx, only)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Model, full.Model) {
				t.Error("the model-only fit's model differs from the full fit's")
			}
			if got.ATE != nil || got.ATESE != nil {
				t.Errorf("model-only fit reported ATE %v ± %v", got.ATE, got.ATESE)
			}
			for key := range got.Metadata {
				if strings.HasPrefix(key, "overlap") || strings.HasPrefix(key, "ate") {
					t.Errorf("model-only fit reported %s=%q", key, got.Metadata[key])
				}
			}
		})
	}
}
