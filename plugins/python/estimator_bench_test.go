package python_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/host/dataset"
	"github.com/causalrec/causalrec/plugins"
	"github.com/causalrec/causalrec/plugins/builtin/estimator"
)

// With this variable set the test binary serves the built-in Go estimator
// plugin instead of running tests: the baseline of the benchmark.
const serveGoEnv = "CAUSALREC_PYTHON_TEST_SERVE_GO"

func TestMain(m *testing.M) {
	if os.Getenv(serveGoEnv) != "" {
		plugins.Serve(plugins.Set{Estimator: estimator.New(causal.NewRegistry(), "bench")})
		return
	}
	os.Exit(m.Run())
}

// byteCounter counts the gRPC message bytes on the wire (with their 5-byte
// frame headers) between the host and a plugin.
type byteCounter struct{ sent, recv atomic.Int64 }

func (c *byteCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (c *byteCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (c *byteCounter) HandleConn(context.Context, stats.ConnStats) {}
func (c *byteCounter) HandleRPC(_ context.Context, s stats.RPCStats) {
	switch p := s.(type) {
	case *stats.OutPayload:
		c.sent.Add(int64(p.WireLength))
	case *stats.InPayload:
		c.recv.Add(int64(p.WireLength))
	}
}

// startCounted starts the plugin program cmd the way the host does (gRPC,
// mutual TLS, the SDK's client) and counts the bytes of its calls.
func startCounted(b *testing.B, cmd *exec.Cmd) (plugins.Estimator, *byteCounter) {
	b.Helper()
	bc := &byteCounter{}
	cfg := plugins.ClientConfig(cmd, hclog.New(&hclog.LoggerOptions{Output: io.Discard}))
	cfg.StartTimeout = 30 * time.Second
	cfg.GRPCDialOptions = append(cfg.GRPCDialOptions, grpc.WithStatsHandler(bc))
	client := goplugin.NewClient(cfg)
	b.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		b.Fatal(err)
	}
	raw, err := rpc.Dispense(plugins.KindEstimator)
	if err != nil {
		b.Fatal(err)
	}
	return raw.(plugins.Estimator), bc
}

// hillstromRows returns n rows drawn with replacement (seeded) from the
// whole Hillstrom data, all three arms, outcome visit.
func hillstromRows(b *testing.B, n int) plugins.FitRequest {
	b.Helper()
	all, _, _, err := dataset.BuildFit(hillstromSample(b, 1, 0), dataset.Spec{Treatment: "segment", Outcome: "visit",
		Control: "No E-Mail", Features: hillstromFeatures})
	if err != nil {
		b.Fatal(err)
	}
	d := len(all.Features)
	req := plugins.FitRequest{Estimator: "t", Features: all.Features, Arms: all.Arms, Seed: 1,
		X: make([]float64, 0, n*d), Arm: make([]int, n), Outcome: make([]float64, n)}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range n {
		r := rng.IntN(all.Rows())
		req.X = append(req.X, all.X[r*d:(r+1)*d]...)
		req.Arm[i], req.Outcome[i] = all.Arm[r], all.Outcome[r]
	}
	return req
}

// BenchmarkEstimatorRoundTrip fits a T-learner on 100,000 rows (8 features,
// 3 arms) and predicts the same rows, through a real plugin process: the
// Python plugin (scikit-learn's HistGradientBoosting per arm, 100
// iterations, early stopping) against the built-in Go plugin (causal's
// T-learner over its boosted trees, estimator t with base=gbt). Beside the
// time it reports the bytes on the wire each way and the model's size.
//
//	go test -run '^$' -bench EstimatorRoundTrip -benchtime 1x -count 3 ./plugins/python/
func BenchmarkEstimatorRoundTrip(b *testing.B) {
	needSklearn(b)
	const n = 100_000
	req := hillstromRows(b, n)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name   string
		cmd    func() *exec.Cmd
		params map[string]string
	}{
		{"py-sklearn:t", func() *exec.Cmd { return exec.Command(abs(b, skWrapper)) }, nil},
		{"causal:t/gbt", func() *exec.Cmd {
			cmd := exec.Command(exe)
			cmd.Env = append(os.Environ(), serveGoEnv+"=1")
			return cmd
		}, map[string]string{"base": "gbt"}},
	}
	for _, p := range cases {
		b.Run(fmt.Sprintf("rows=%d/%s", n, p.name), func(b *testing.B) {
			est, bc := startCounted(b, p.cmd())
			ctx := context.Background()
			r := req
			r.Params = p.params
			b.ReportAllocs()
			bc.sent.Store(0)
			bc.recv.Store(0)
			var fitTime, predictTime time.Duration
			var modelBytes int
			for b.Loop() {
				start := time.Now()
				fit, err := est.Fit(ctx, r)
				if err != nil {
					b.Fatal(err)
				}
				mid := time.Now()
				out, err := est.Predict(ctx, plugins.PredictRequest{Model: fit.Model, X: r.X, NFeatures: len(r.Features)})
				if err != nil {
					b.Fatal(err)
				}
				fitTime += mid.Sub(start)
				predictTime += time.Since(mid)
				if len(out.Effects) != n*(len(r.Arms)-1) {
					b.Fatalf("%d effects for %d rows", len(out.Effects), n)
				}
				modelBytes = len(fit.Model)
			}
			ops := float64(b.N)
			b.ReportMetric(fitTime.Seconds()/ops, "fit-s/op")
			b.ReportMetric(predictTime.Seconds()/ops, "predict-s/op")
			b.ReportMetric(float64(bc.sent.Load())/ops, "sent-B/op")
			b.ReportMetric(float64(bc.recv.Load())/ops, "recv-B/op")
			b.ReportMetric(float64(modelBytes), "model-B")
		})
	}
}
