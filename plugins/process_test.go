package plugins_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/causalrec/causalrec/plugins"
)

// The test binary doubles as a plugin program: with this variable set it
// serves the toy implementations below instead of running tests, so the
// tests talk to a real plugin process over gRPC.
const servePluginEnv = "CAUSALREC_SDK_TEST_SERVE"

func TestMain(m *testing.M) {
	switch os.Getenv(servePluginEnv) {
	case "":
	case "legacy":
		// A plugin built before FitStream.
		cfg := plugins.ServeConfig(plugins.Set{})
		cfg.VersionedPlugins = map[int]goplugin.PluginSet{plugins.ProtocolVersion: {
			plugins.KindEstimator: &plugins.LegacyEstimatorPlugin{Impl: meanDiff{}},
		}}
		goplugin.Serve(cfg)
		return
	default:
		plugins.Serve(plugins.Set{TextScorer: lengthScorer{}, Estimator: meanDiff{}})
		return
	}
	os.Exit(m.Run())
}

// lengthScorer scores a text by its length. The text "block" waits for the
// caller's context to end, which shows the deadline crosses the process
// boundary.
type lengthScorer struct{}

func (lengthScorer) Info(context.Context, plugins.InfoRequest) (plugins.TextScorerInfo, error) {
	return plugins.TextScorerInfo{Name: "length", Version: "1", Features: []string{"length", "context_len"}, MaxTextBytes: 1 << 16}, nil
}

func (lengthScorer) Score(ctx context.Context, req plugins.ScoreRequest) (plugins.ScoreResponse, error) {
	out := plugins.ScoreResponse{Scores: make([]plugins.TextScore, len(req.Items))}
	for i, it := range req.Items {
		if it.Text == "block" {
			<-ctx.Done()
			return plugins.ScoreResponse{}, ctx.Err()
		}
		out.Scores[i] = plugins.TextScore{ID: it.ID}
		if msg := plugins.CheckText(it.Text, 1<<16); msg != "" {
			out.Scores[i].Err = msg
			continue
		}
		out.Scores[i].Features = map[string]float64{"length": float64(len(it.Text)), "context_len": float64(len(req.Context))}
	}
	return out, nil
}

// meanDiff "fits" the difference in mean outcome per arm and predicts it
// plus the first feature, so the tests can check every row arrives in order.
type meanDiff struct{}

func (meanDiff) Info(context.Context, plugins.InfoRequest) (plugins.EstimatorInfo, error) {
	return plugins.EstimatorInfo{Name: "meandiff", Version: "0.1", Estimators: []string{"meandiff"}, Capabilities: []string{"multi_arm"}}, nil
}

func (meanDiff) Fit(_ context.Context, req plugins.FitRequest) (plugins.FitResponse, error) {
	if req.Estimator != "meandiff" {
		return plugins.FitResponse{}, fmt.Errorf("%w: unknown estimator %q", plugins.ErrInvalid, req.Estimator)
	}
	sum := make([]float64, len(req.Arms))
	cnt := make([]float64, len(req.Arms))
	checksum := 0.0
	for i, a := range req.Arm {
		sum[a] += req.Outcome[i]
		cnt[a]++
		checksum += req.X[i*len(req.Features)+len(req.Features)-1]
	}
	// Progress: steps 1 to progressSteps-1 of progressSteps, faster than
	// they can be sent (the SDK drops the ones not taken yet); the last
	// step is left to the SDK, which reports the total when a fit ends.
	if req.Progress != nil {
		for k := 1; k < progressSteps; k++ {
			req.Progress(k, progressSteps)
		}
	}
	model := make([]byte, 8*(len(req.Arms)-1))
	ate := make([]float64, len(req.Arms)-1)
	for k := 1; k < len(req.Arms); k++ {
		ate[k-1] = sum[k]/cnt[k] - sum[0]/cnt[0]
		binary.LittleEndian.PutUint64(model[8*(k-1):], math.Float64bits(ate[k-1]))
	}
	return plugins.FitResponse{Model: model, ATE: ate, Metadata: map[string]string{"rows": fmt.Sprint(len(req.Arm)), "checksum": fmt.Sprint(checksum)}}, nil
}

func (meanDiff) Predict(_ context.Context, req plugins.PredictRequest) (plugins.PredictResponse, error) {
	k := len(req.Model) / 8
	n := req.Rows()
	out := plugins.PredictResponse{Effects: make([]float64, n*k)}
	for j := 0; j < k; j++ {
		out.Arms = append(out.Arms, fmt.Sprintf("arm%d", j+1))
	}
	for i := 0; i < n; i++ {
		for j := 0; j < k; j++ {
			out.Effects[i*k+j] = math.Float64frombits(binary.LittleEndian.Uint64(req.Model[8*j:])) + req.X[i*req.NFeatures]
		}
	}
	return out, nil
}

// progressSteps is the total of meanDiff's progress reports.
const progressSteps = 5000

// startPlugin runs this test binary as a plugin process and dispenses kind.
func startPlugin(t *testing.T, kind string) any {
	t.Helper()
	return startPluginAs(t, kind, "1")
}

// startPluginAs is startPlugin with the value of servePluginEnv: "legacy"
// serves a plugin built before FitStream.
func startPluginAs(t *testing.T, kind, serve string) any {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), servePluginEnv+"="+serve)
	client := goplugin.NewClient(plugins.ClientConfig(cmd, hclog.NewNullLogger()))
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("start plugin: %v", err)
	}
	raw, err := rpc.Dispense(kind)
	if err != nil {
		t.Fatalf("dispense %s: %v", kind, err)
	}
	if v := client.NegotiatedVersion(); v != plugins.ProtocolVersion {
		t.Fatalf("negotiated protocol %d, want %d", v, plugins.ProtocolVersion)
	}
	return raw
}

func TestTextScorerOverGRPC(t *testing.T) {
	ts := startPlugin(t, plugins.KindTextScorer).(plugins.TextScorer)
	ctx := context.Background()
	info, err := ts.Info(ctx, plugins.InfoRequest{})
	if err != nil || info.Name != "length" || info.MaxTextBytes != 1<<16 {
		t.Fatalf("info = %+v, %v", info, err)
	}
	// 5,000 texts of 2 KiB are 10 MiB: more than one gRPC message holds.
	const n = 5000
	items := make([]plugins.TextItem, n)
	for i := range items {
		items[i] = plugins.TextItem{ID: fmt.Sprint(i), Text: strings.Repeat("x", 2048+i%7)}
	}
	items[17].Text = ""
	items[18].Text = "\xff\xfe"
	resp, err := ts.Score(ctx, plugins.ScoreRequest{Items: items, Context: []string{"a", "b"}})
	if err != nil {
		t.Fatalf("score: %v", err)
	}
	if len(resp.Scores) != n {
		t.Fatalf("got %d scores, want %d", len(resp.Scores), n)
	}
	for i, s := range resp.Scores {
		switch i {
		case 17, 18:
			if s.Err == "" {
				t.Errorf("item %d: want a per-item error", i)
			}
		default:
			if s.ID != items[i].ID || s.Features["length"] != float64(len(items[i].Text)) || s.Features["context_len"] != 2 {
				t.Fatalf("item %d: got %+v", i, s)
			}
		}
	}
}

func TestContextDeadlineCrossesBoundary(t *testing.T) {
	ts := startPlugin(t, plugins.KindTextScorer).(plugins.TextScorer)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := ts.Score(ctx, plugins.ScoreRequest{Items: []plugins.TextItem{{ID: "1", Text: "block"}}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
}

func TestEstimatorOverGRPC(t *testing.T) {
	est := startPlugin(t, plugins.KindEstimator).(plugins.Estimator)
	ctx := context.Background()
	// 200,000 rows of 6 features (about 10 MiB) are streamed in chunks.
	const n, d = 200000, 6
	req := plugins.FitRequest{Estimator: "meandiff", Arms: []string{"ctl", "a", "b"}}
	for j := 0; j < d; j++ {
		req.Features = append(req.Features, plugins.Feature{Name: fmt.Sprint("x", j), Kind: plugins.Numeric})
	}
	req.X = make([]float64, n*d)
	req.Arm = make([]int, n)
	req.Outcome = make([]float64, n)
	checksum := 0.0
	for i := 0; i < n; i++ {
		req.Arm[i] = i % 3
		req.Outcome[i] = float64(i%3) * 0.5
		for j := 0; j < d; j++ {
			req.X[i*d+j] = float64(i + j)
		}
		checksum += req.X[i*d+d-1]
	}
	fit, err := est.Fit(ctx, req)
	if err != nil {
		t.Fatalf("fit: %v", err)
	}
	if fit.Metadata["rows"] != fmt.Sprint(n) || fit.Metadata["checksum"] != fmt.Sprint(checksum) {
		t.Fatalf("rows arrived damaged: metadata %v, want rows %d checksum %v", fit.Metadata, n, checksum)
	}
	if len(fit.ATE) != 2 || math.Abs(fit.ATE[0]-0.5) > 1e-12 || math.Abs(fit.ATE[1]-1) > 1e-12 {
		t.Fatalf("ATE = %v, want [0.5 1]", fit.ATE)
	}
	// Predict on more rows than one chunk; twice, so the second call goes
	// by digest only.
	for round := 0; round < 2; round++ {
		x := make([]float64, 100000*d)
		for i := 0; i < 100000; i++ {
			x[i*d] = float64(i)
		}
		pred, err := est.Predict(ctx, plugins.PredictRequest{Model: fit.Model, X: x, NFeatures: d})
		if err != nil {
			t.Fatalf("predict: %v", err)
		}
		if len(pred.Effects) != 200000 || len(pred.Arms) != 2 {
			t.Fatalf("got %d effects for arms %v", len(pred.Effects), pred.Arms)
		}
		for _, i := range []int{0, 1, 54321, 99999} {
			if pred.Effects[2*i] != 0.5+float64(i) || pred.Effects[2*i+1] != 1+float64(i) {
				t.Fatalf("row %d: effects %v", i, pred.Effects[2*i:2*i+2])
			}
		}
	}
	_, err = est.Fit(ctx, plugins.FitRequest{Estimator: "nope", Arms: []string{"c", "t"}, Features: []plugins.Feature{{Name: "x"}}, X: []float64{1}, Arm: []int{0}, Outcome: []float64{1}})
	if !errors.Is(err, plugins.ErrInvalid) || !strings.Contains(err.Error(), `unknown estimator "nope"`) {
		t.Fatalf("unknown estimator: got %v, want ErrInvalid naming it", err)
	}
}
