package main

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/causalrec/causalrec/plugins"
)

// With this variable set the test binary is the plugin program, so the test
// talks to a real plugin process the way the causalrec host does.
const serveEnv = "RIDGE_ESTIMATOR_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) != "" {
		main()
		return
	}
	os.Exit(m.Run())
}

// start runs the plugin process and returns the host's side of it.
func start(t *testing.T) plugins.Estimator {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), serveEnv+"=1")
	client := goplugin.NewClient(plugins.ClientConfig(cmd, hclog.New(&hclog.LoggerOptions{Output: io.Discard})))
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rpc.Dispense(plugins.KindEstimator)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(plugins.Estimator)
}

// data has the effects tau_1(x) = 0.5 + x0 and tau_2(x) = −1 + 2·[x1 is level 2],
// with noise.
func data(n int) (plugins.FitRequest, func(x []float64) []float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	req := plugins.FitRequest{
		Estimator: "t", Arms: []string{"control", "a", "b"},
		Features: []plugins.Feature{{Name: "x0", Kind: plugins.Numeric}, {Name: "x1", Kind: plugins.Categorical, Levels: []string{"u", "v", "w"}}},
	}
	tau := func(x []float64) []float64 { return []float64{0.5 + x[0], -1 + 2*b2f(x[1] == 2)} }
	for range n {
		x := []float64{rng.NormFloat64(), float64(rng.IntN(3))}
		arm := rng.IntN(3)
		y := 1 + 0.3*x[0] + 0.05*rng.NormFloat64()
		if arm > 0 {
			y += tau(x)[arm-1]
		}
		req.X, req.Arm, req.Outcome = append(req.X, x...), append(req.Arm, arm), append(req.Outcome, y)
	}
	return req, tau
}

func TestFitAndPredictOverGRPC(t *testing.T) {
	est := start(t)
	ctx := context.Background()
	req, tau := data(3000)
	req.Params = map[string]string{"l2": "0.01"}
	fit, err := est.Fit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	x := []float64{-1, 0, 0, 2, 1.5, 1}
	got, err := est.Predict(ctx, plugins.PredictRequest{Model: fit.Model, X: x, NFeatures: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Effects) != 6 || len(got.Arms) != 2 || got.Arms[0] != "a" {
		t.Fatalf("prediction %+v", got)
	}
	for i := range 3 {
		want := tau(x[2*i : 2*i+2])
		for k := range 2 {
			if g := got.Effects[2*i+k]; math.Abs(g-want[k]) > 0.05 {
				t.Errorf("row %d, arm %s: effect %.3f, want %.3f", i, got.Arms[k], g, want[k])
			}
		}
	}
}

func TestBadRequests(t *testing.T) {
	est := start(t)
	ctx := context.Background()
	req, _ := data(300)
	for _, params := range []map[string]string{{"l2": "-1"}, {"depth": "3"}} {
		req.Params = params
		if _, err := est.Fit(ctx, req); !errors.Is(err, plugins.ErrInvalid) {
			t.Errorf("fit with %v: %v, want plugins.ErrInvalid", params, err)
		}
	}
	for _, m := range [][]byte{[]byte("nope"), []byte(`{"format":"ridge-estimator/t/1","levels":[0],"arms":["a"],"coef":[[1]]}`)} {
		if _, err := est.Predict(ctx, plugins.PredictRequest{Model: m, X: []float64{1}, NFeatures: 1}); !errors.Is(err, plugins.ErrInvalid) {
			t.Errorf("predict with model %q: %v, want plugins.ErrInvalid", m, err)
		}
	}
}
