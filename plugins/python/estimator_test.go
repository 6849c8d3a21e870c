package python_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/causalrec/causalrec/examples"
	"github.com/causalrec/causalrec/host/dataset"
	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/plugins"
	"github.com/causalrec/causalrec/plugins/python/pyenv"
	pb "github.com/causalrec/causalrec/proto/causalrec/plugin/v1"
)

// skReference computes the plugin's T-learner with scikit-learn directly.
const skReference = "tests/sklearn_reference.py"

func needSklearn(t testing.TB) {
	t.Helper()
	pyenv.Require(t, pyenv.GRPC, pyenv.Sklearn)
}

// hillstromFeatures are the pre-treatment columns of the Hillstrom data.
var hillstromFeatures = []string{"recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel"}

// hillstrom returns the Hillstrom e-mail data (examples/hillstrom): the
// header line and the data lines.
func hillstrom(tb testing.TB) (string, []string) {
	tb.Helper()
	r, err := examples.Hillstrom()
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	sc := bufio.NewScanner(r)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil || len(lines) < 2 {
		tb.Fatalf("hillstrom: %d lines, %v", len(lines), err)
	}
	return lines[0], lines[1:]
}

// hillstromSample returns the rows whose index is rem modulo every.
func hillstromSample(tb testing.TB, every, rem int) *dataset.Frame {
	tb.Helper()
	header, rows := hillstrom(tb)
	var b strings.Builder
	b.WriteString(header + "\n")
	for i, l := range rows {
		if i%every == rem {
			b.WriteString(l + "\n")
		}
	}
	f, err := dataset.ReadCSV(strings.NewReader(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func startSklearn(t *testing.T, opts pluginhost.Options) (*pluginhost.Manager, *syncBuffer, plugins.Estimator) {
	t.Helper()
	needSklearn(t)
	logs := &syncBuffer{}
	opts.Logger = newLogger(logs)
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 30 * time.Second
	}
	// These tests are of the plugin's answers, not of the serving
	// deadlines (pluginhost's tests hold those): a Python predict on a
	// loaded machine may take longer than the 300 ms a request allows.
	if opts.Timeouts.Predict == 0 {
		opts.Timeouts.Predict = 10 * time.Second
	}
	spec := pluginhost.Spec{Name: "py-sklearn", Kind: plugins.KindEstimator, Path: abs(t, skWrapper), SHA256: fileSHA256(t, skWrapper)}
	m, err := pluginhost.New([]pluginhost.Spec{spec}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		if t.Failed() {
			t.Logf("host log:\n%s", logs.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.StartOne(ctx, "py-sklearn"); err != nil {
		t.Fatalf("start: %v\n%s", err, logs.String())
	}
	est, err := m.Estimator("py-sklearn")
	if err != nil {
		t.Fatal(err)
	}
	return m, logs, est
}

// skCase is one fit the plugin and scikit-learn must agree on.
type skCase struct {
	name    string
	outcome string
	treated []string
	weights bool
	seed    uint64
	params  map[string]string
	task    string
	// kwargs are the HistGradientBoosting arguments the plugin documents
	// for params and seed (categorical_features is added from the data).
	kwargs      map[string]any
	categorical bool
}

var skCases = []skCase{
	{
		name: "visit, three arms, categorical, early stopping", outcome: "visit", seed: 12345,
		params: map[string]string{"max_iter": "60", "learning_rate": "0.1", "max_leaf_nodes": "15", "min_samples_leaf": "30",
			"l2_regularization": "1", "early_stopping": "true"},
		task: "classification", categorical: true,
		kwargs: map[string]any{"max_iter": 60, "learning_rate": 0.1, "max_leaf_nodes": 15, "max_depth": nil, "min_samples_leaf": 30,
			"l2_regularization": 1.0, "max_bins": 255, "early_stopping": true, "validation_fraction": 0.1, "n_iter_no_change": 10,
			"random_state": 12345},
	},
	{
		// The seed is reduced modulo 2^32 for scikit-learn.
		name: "spend, two arms, weights, regression", outcome: "spend", treated: []string{"Womens E-Mail"}, weights: true, seed: 1<<33 + 7,
		params: map[string]string{"max_iter": "40", "max_depth": "4", "categorical": "false", "task": "regression"},
		task:   "regression",
		kwargs: map[string]any{"max_iter": 40, "learning_rate": 0.1, "max_leaf_nodes": 31, "max_depth": 4, "min_samples_leaf": 20,
			"l2_regularization": 0.0, "max_bins": 255, "early_stopping": "auto", "validation_fraction": 0.1, "n_iter_no_change": 10,
			"random_state": 7},
	},
}

// skFit builds the fit request of c from one Hillstrom sample and the
// rows to predict from another.
func skFit(t testing.TB, c skCase) (plugins.FitRequest, []float64) {
	t.Helper()
	train, test := hillstromSample(t, 8, 0), hillstromSample(t, 8, 1)
	req, schema, _, err := dataset.BuildFit(train, dataset.Spec{Treatment: "segment", Outcome: c.outcome, Control: "No E-Mail",
		Treated: c.treated, Features: hillstromFeatures})
	if err != nil {
		t.Fatal(err)
	}
	req.Estimator, req.Params, req.Seed = "t", c.params, c.seed
	if c.weights {
		req.Weight = make([]float64, req.Rows())
		for i := range req.Weight {
			req.Weight[i] = 0.5 + float64(i%4)
		}
	}
	x, unknown, err := schema.Matrix(test)
	if err != nil || unknown != 0 {
		t.Fatalf("test rows: %v, %d unknown levels", err, unknown)
	}
	return req, x
}

func writeF8(t testing.TB, path string, v []float64) {
	t.Helper()
	b := make([]byte, 8*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(f))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// sklearnReference runs skReference on the rows of req and xTest and
// returns its effects, rows × (arms − 1).
func sklearnReference(t testing.TB, c skCase, req plugins.FitRequest, xTest []float64) []float64 {
	t.Helper()
	dir := t.TempDir()
	d := len(req.Features)
	kwargs := map[string]any{}
	for k, v := range c.kwargs {
		kwargs[k] = v
	}
	if c.categorical {
		mask := make([]bool, d)
		for j, f := range req.Features {
			mask[j] = f.Kind == plugins.Categorical
		}
		kwargs["categorical_features"] = mask
	}
	spec, err := json.Marshal(map[string]any{"task": c.task, "arms": len(req.Arms), "train_rows": req.Rows(),
		"test_rows": len(xTest) / d, "features": d, "weights": req.Weight != nil, "kwargs": kwargs})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "spec.json"), spec, 0o644); err != nil {
		t.Fatal(err)
	}
	writeF8(t, filepath.Join(dir, "x_train.f8"), req.X)
	arms := make([]byte, 8*len(req.Arm))
	for i, a := range req.Arm {
		binary.LittleEndian.PutUint64(arms[8*i:], uint64(a))
	}
	if err := os.WriteFile(filepath.Join(dir, "arm.i8"), arms, 0o644); err != nil {
		t.Fatal(err)
	}
	writeF8(t, filepath.Join(dir, "y.f8"), req.Outcome)
	if req.Weight != nil {
		writeF8(t, filepath.Join(dir, "w.f8"), req.Weight)
	}
	writeF8(t, filepath.Join(dir, "x_test.f8"), xTest)
	cmd := exec.Command(python, "-I", "-B", abs(t, skReference), dir)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", skReference, err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "effects.f8"))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(b)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out
}

// TestSklearnPlugin runs the py-sklearn plugin as the host does (the
// wrapper, its checksum, pluginhost) and checks its answers.
func TestSklearnPlugin(t *testing.T) {
	m, logs, est := startSklearn(t, pluginhost.Options{})
	t.Run("matches scikit-learn", func(t *testing.T) { testMatchesScikitLearn(t, est) })
	t.Run("bad requests", func(t *testing.T) { testBadRequests(t, m, est) })
	t.Run("progress through FitStream", func(t *testing.T) { testProgressStream(t, est) })
	// The plugin's log lines reach the host at their level, and the host's
	// Close makes it exit through the controller's Shutdown.
	m.Close()
	for _, want := range []string{"level=INFO msg=\"model fitted\"", "stopping: the host asked the plugin to shut down"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("host log lacks %q:\n%s", want, logs.String())
		}
	}
}

// testMatchesScikitLearn fits and predicts through the host and the real
// plugin process, on Hillstrom's data, and compares the effects with
// scikit-learn's called directly in the same Python.
func testMatchesScikitLearn(t *testing.T, est plugins.Estimator) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	info, err := est.Info(ctx, plugins.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "py-sklearn" || !slices.Equal(info.Estimators, []string{"t"}) || !strings.HasPrefix(info.Version, "1.0.0+sklearn-") || len(info.Params) < 10 {
		t.Fatalf("info = %+v", info)
	}
	for _, c := range skCases {
		t.Run(c.name, func(t *testing.T) {
			req, xTest := skFit(t, c)
			fit, err := est.Fit(ctx, req)
			if err != nil {
				t.Fatalf("fit: %v", err)
			}
			if fit.Metadata["task"] != c.task || len(fit.ATE) != len(req.Arms)-1 || len(fit.ATESE) != len(fit.ATE) {
				t.Fatalf("fit metadata %v, ATE %v ± %v", fit.Metadata, fit.ATE, fit.ATESE)
			}
			d := len(req.Features)
			got, err := est.Predict(ctx, plugins.PredictRequest{Model: fit.Model, X: xTest, NFeatures: d})
			if err != nil {
				t.Fatalf("predict: %v", err)
			}
			if !slices.Equal(got.Arms, req.Arms[1:]) {
				t.Fatalf("arms %v, want %v", got.Arms, req.Arms[1:])
			}
			want := sklearnReference(t, c, req, xTest)
			if len(got.Effects) != len(want) || len(want) != len(xTest)/d*(len(req.Arms)-1) {
				t.Fatalf("%d effects from the plugin, %d from scikit-learn, for %d rows", len(got.Effects), len(want), len(xTest)/d)
			}
			var maxDiff, sum, sumSq float64
			for i, w := range want {
				maxDiff = max(maxDiff, math.Abs(got.Effects[i]-w))
				sum += w
				sumSq += w * w
			}
			if maxDiff > 1e-9 {
				t.Errorf("largest difference from scikit-learn %g, want at most 1e-9", maxDiff)
			}
			// The effects vary across rows: the test compares models, not constants.
			n := float64(len(want))
			if sd := math.Sqrt(sumSq/n - (sum/n)*(sum/n)); sd < 1e-3 {
				t.Errorf("effects barely vary (sd %g): the case does not test the trees", sd)
			}
			t.Logf("%d rows × %d arms: largest difference %g; model %d bytes", len(xTest)/d, len(req.Arms)-1, maxDiff, len(fit.Model))
		})
	}
}

// testProgressStream fits with a progress callback, through the plugin's
// FitStream: the plugin reports one step per arm's model, in order, ending
// at all of them done, and the model is the one Fit (no callback) gives.
func testProgressStream(t *testing.T, est plugins.Estimator) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, c := range skCases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := skFit(t, c)
			want, err := est.Fit(ctx, req)
			if err != nil {
				t.Fatalf("fit: %v", err)
			}
			arms := len(req.Arms)
			for round := range 2 {
				var got [][2]int
				req.Progress = func(done, total int) { got = append(got, [2]int{done, total}) }
				fit, err := est.Fit(ctx, req)
				if err != nil {
					t.Fatalf("round %d: fit with progress: %v", round, err)
				}
				if !bytes.Equal(fit.Model, want.Model) {
					t.Fatalf("round %d: the model differs from the fit without progress", round)
				}
				if len(got) == 0 || got[len(got)-1] != [2]int{arms, arms} {
					t.Fatalf("round %d: reports %v, want them to end at %d of %d", round, got, arms, arms)
				}
				for i, r := range got {
					if r[1] != arms || r[0] < 0 || r[0] > arms || (i > 0 && r[0] <= got[i-1][0]) {
						t.Fatalf("round %d: reports %v: want done rising within [0,%d] of %d", round, got, arms, arms)
					}
				}
				t.Logf("round %d: reports %v", round, got)
			}
		})
	}
}

// TestSklearnRestartResendsModel kills the plugin between fit and predict:
// the restarted plugin does not hold the model, answers NOT_FOUND, and the
// host sends the model's bytes again.
func TestSklearnRestartResendsModel(t *testing.T) {
	m, logs, est := startSklearn(t, pluginhost.Options{PingInterval: 100 * time.Millisecond, MinBackoff: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go m.Run(ctx)
	c := skCases[0]
	c.params = map[string]string{"max_iter": "20"}
	req, xTest := skFit(t, c)
	fit, err := est.Fit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	pr := plugins.PredictRequest{Model: fit.Model, X: xTest, NFeatures: len(req.Features)}
	before, err := est.Predict(ctx, pr)
	if err != nil {
		t.Fatal(err)
	}
	const resent = "model loaded from the request"
	if strings.Contains(logs.String(), resent) {
		t.Fatalf("the plugin needed the model's bytes right after fitting it:\n%s", logs.String())
	}
	pid := m.List()[0].PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for st := m.List()[0]; !st.Healthy || st.PID == pid; st = m.List()[0] {
		if time.Now().After(deadline) {
			t.Fatalf("plugin not restarted in 30s: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	after, err := est.Predict(ctx, pr)
	if err != nil {
		t.Fatalf("predict after the restart: %v", err)
	}
	if !slices.Equal(before.Effects, after.Effects) {
		t.Errorf("effects differ after the restart")
	}
	if !strings.Contains(logs.String(), resent) {
		t.Errorf("the restarted plugin did not receive the model's bytes:\n%s", logs.String())
	}
}

// testBadRequests checks that bad parameters and bytes the plugin did not
// write are INVALID_ARGUMENT (plugins.ErrInvalid) with a message naming
// the problem, and that the plugin keeps serving.
func testBadRequests(t *testing.T, m *pluginhost.Manager, est plugins.Estimator) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := skCases[0]
	c.params = map[string]string{"max_iter": "5"}
	good, xTest := skFit(t, c)
	fit, err := est.Fit(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	d := len(good.Features)
	fitWith := func(mod func(*plugins.FitRequest)) func() error {
		return func() error {
			req := good
			req.Params = map[string]string{}
			mod(&req)
			_, err := est.Fit(ctx, req)
			return err
		}
	}
	predictWith := func(model []byte, x []float64, nf int, level float64) func() error {
		return func() error {
			_, err := est.Predict(ctx, plugins.PredictRequest{Model: model, X: x, NFeatures: nf, IntervalLevel: level})
			return err
		}
	}
	damaged := slices.Clone(fit.Model)
	damaged[len(damaged)/2] ^= 1
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"negative learning rate", fitWith(func(r *plugins.FitRequest) { r.Params["learning_rate"] = "-1" }), "parameter learning_rate=-1: must be positive"},
		{"not an integer", fitWith(func(r *plugins.FitRequest) { r.Params["max_iter"] = "ten" }), "parameter max_iter=ten: not an integer"},
		{"unknown parameter", fitWith(func(r *plugins.FitRequest) { r.Params["folds"] = "3" }), `estimator t does not take parameter "folds"`},
		{"bad enum", fitWith(func(r *plugins.FitRequest) { r.Params["task"] = "ranking" }), "parameter task=ranking: want one of auto, classification, regression"},
		{"too many bins", fitWith(func(r *plugins.FitRequest) { r.Params["max_bins"] = "300" }), "parameter max_bins=300: must be between 2 and 255"},
		{"unknown estimator", fitWith(func(r *plugins.FitRequest) { r.Estimator = "x" }), `unknown estimator "x" (plugin py-sklearn fits: t)`},
		{"classification of amounts", fitWith(func(r *plugins.FitRequest) {
			r.Params["task"] = "classification"
			r.Outcome = slices.Clone(r.Outcome)
			r.Outcome[0] = 2.5
		}), "task classification needs outcomes that are 0 or 1"},
		{"not a model", predictWith([]byte("not a model"), xTest, d, 0), "not a py-sklearn model"},
		{"another plugin's model", predictWith([]byte(`{"estimator":"t","arms":["1"],"n_features":8,"model":{}}`), xTest, d, 0), "not a py-sklearn model"},
		{"damaged model", predictWith(damaged, xTest, d, 0), "checksum mismatch"},
		{"wrong feature count", predictWith(fit.Model, xTest[:3*(d-1)], d-1, 0), "rows have 7 features, the model was fitted on 8"},
		{"interval level", predictWith(fit.Model, xTest[:d], d, 1.5), "interval level 1.5 is not in (0, 1)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, plugins.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want plugins.ErrInvalid containing %q", err, tc.want)
			}
		})
	}
	if st := m.List()[0]; !st.Healthy || st.Restarts != 0 {
		t.Fatalf("after the bad requests: %+v", st)
	}
	if _, err := est.Predict(ctx, plugins.PredictRequest{Model: fit.Model, X: xTest, NFeatures: d}); err != nil {
		t.Fatalf("a good request after the bad ones: %v", err)
	}
}

// TestSklearnWireCodes talks to the plugin over plain gRPC, without the
// Go SDK, to pin down the status codes of the contract.
func TestSklearnWireCodes(t *testing.T) {
	needSklearn(t)
	env := []string{cookie, "PLUGIN_CLIENT_CERT="}
	cmd, line, stderr, _, done := startPlugin(t, skScript, env)
	conn, err := grpc.NewClient(strings.Split(line, "|")[3], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := pb.NewUpliftEstimatorClient(conn)
	unknown := sha256.Sum256([]byte("a model this plugin never saw"))
	code := func(err error) codes.Code { return status.Code(err) }
	if _, err := client.Predict(ctx, &pb.PredictRequest{ModelDigest: unknown[:], Features: []float64{1}, NFeatures: 1}); code(err) != codes.NotFound {
		t.Errorf("predict with an unknown digest: %v, want NOT_FOUND", err)
	}
	if _, err := client.Predict(ctx, &pb.PredictRequest{ModelDigest: unknown[:], ModelBytes: []byte("x"), Features: []float64{1}, NFeatures: 1}); code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "digest does not match") {
		t.Errorf("predict with bytes that do not match the digest: %v, want INVALID_ARGUMENT", err)
	}
	if _, err := client.Predict(ctx, &pb.PredictRequest{Features: []float64{1, 2, 3}, NFeatures: 2}); code(err) != codes.InvalidArgument {
		t.Errorf("predict with 3 values of 2 features: %v, want INVALID_ARGUMENT", err)
	}
	stream, err := client.Fit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.CloseAndRecv(); code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "empty Fit stream") {
		t.Errorf("an empty fit stream: %v, want INVALID_ARGUMENT", err)
	}
	stream, err = client.Fit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.Send(&pb.FitRequest{Rows: &pb.RowChunk{Arm: []int32{0}}})
	if _, err := stream.CloseAndRecv(); code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "must carry the header") {
		t.Errorf("a fit stream without a header: %v, want INVALID_ARGUMENT", err)
	}
	// The plugin serves no text scorer.
	if _, err := pb.NewTextScorerClient(conn).Score(ctx, &pb.ScoreRequest{}); code(err) != codes.Unimplemented {
		t.Errorf("text scorer call: %v, want UNIMPLEMENTED", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(t, done, stderr); err != nil {
		t.Fatalf("exit after SIGTERM: %v; stderr:\n%s", err, stderr.String())
	}
}

// TestPythonUnitTests runs the Python unit tests under tests/ (the model
// format's checks of damaged and forged bytes).
func TestPythonUnitTests(t *testing.T) {
	needSklearn(t)
	cmd := exec.Command(python, "-B", "-m", "unittest", "discover", "-s", "tests", "-p", "test_*.py", "-v")
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "OK") {
		t.Fatalf("no OK from unittest:\n%s", out)
	}
	t.Logf("%s", out)
}
