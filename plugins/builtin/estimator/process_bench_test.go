package estimator

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/plugins"
)

// With this variable set the test binary serves the plugin instead of
// running tests, so benchmarks talk to a real plugin process.
const servePluginEnv = "CAUSALREC_ESTIMATOR_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(servePluginEnv) != "" {
		plugins.Serve(plugins.Set{Estimator: New(causal.NewRegistry(), "test")})
		return
	}
	os.Exit(m.Run())
}

// startProcess runs this test binary as the plugin, connected the way the
// host connects (gRPC, AutoMTLS), and returns the host-side Estimator.
func startProcess(tb testing.TB) plugins.Estimator {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), servePluginEnv+"=1")
	client := goplugin.NewClient(plugins.ClientConfig(cmd, hclog.New(&hclog.LoggerOptions{Output: io.Discard})))
	tb.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := rpc.Dispense(plugins.KindEstimator)
	if err != nil {
		tb.Fatal(err)
	}
	return raw.(plugins.Estimator)
}

// BenchmarkPredictProcess times Predict through a real plugin process for
// a gbt T-learner fitted on 100,000 reference rows: one row a call (the
// serving path) and 10,000 rows a call.
func BenchmarkPredictProcess(b *testing.B) {
	req, _ := referenceRequest(100_000)
	req.Params = map[string]string{"base": "gbt"}
	fit, err := New(causal.NewRegistry(), "test").Fit(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	est := startProcess(b)
	ctx := context.Background()
	d := len(req.Features)
	for _, rows := range []int{1, 10_000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				lo := (i * rows) % (req.Rows() - rows)
				i++
				out, err := est.Predict(ctx, plugins.PredictRequest{Model: fit.Model, X: req.X[lo*d : (lo+rows)*d], NFeatures: d})
				if err != nil {
					b.Fatal(err)
				}
				if len(out.Effects) != rows {
					b.Fatalf("%d effects for %d rows", len(out.Effects), rows)
				}
			}
			b.ReportMetric(float64(len(fit.Model)), "model-bytes")
		})
	}
}

// TestFitModelOnlyProcess: ModelOnly reaches a plugin process over gRPC.
func TestFitModelOnlyProcess(t *testing.T) {
	est := startProcess(t)
	req, _ := referenceRequest(1000)
	req.ModelOnly = true
	fit, err := est.Fit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(fit.Model) == 0 || fit.ATE != nil || fit.Metadata["overlap_clipped"] != "" {
		t.Errorf("model-only fit through the process: %d model bytes, ATE %v, overlap %q; want a model alone",
			len(fit.Model), fit.ATE, fit.Metadata["overlap_clipped"])
	}
}

// BenchmarkFitModelOnly times a linear T-learner's fit on 20,000
// reference rows in the plugin with its reports (ATE, overlap check) and
// with ModelOnly, as cross-fitting callers ask: randomised, and with
// logged propensities (the ATE is then a cross-fitted AIPW estimate).
func BenchmarkFitModelOnly(b *testing.B) {
	p := New(causal.NewRegistry(), "test")
	for _, data := range reportRequests(20_000) {
		for _, only := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/model_only=%v", data.name, only), func(b *testing.B) {
				r := data.req
				r.ModelOnly = only
				b.ReportAllocs()
				for b.Loop() {
					if _, err := p.Fit(context.Background(), r); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
