// Command speed times causalrec's uplift estimators on the reference
// workload (causal.SimulateReference: 1,000,000 rows, 12 standard-normal
// features; fit on the first 80%, score the rest) and reports, in one run:
//
//   - the logistic-regression T-learner against scikit-learn's
//     LogisticRegression T-learner (each side in its own child process, so
//     that the peak resident memory of each, from getrusage, is its own);
//   - the uplift forest (10 trees, min leaf 100, KL) at depth 4 and 5 (our
//     depth 4 is CausalML's max_depth=5): fit and predict time and Qini;
//   - prediction through the plugin boundary: the built-in estimator plugin
//     runs as a real process (this binary, re-executed) and a T-learner
//     with gbt is fitted through it; then one call of 10,000 rows and
//     single-row calls, with latency percentiles.
//
// The gradient-boosted-tree T-learner against HistGradientBoosting is
// measured by ./bench/uplift (go run ./bench/uplift).
//
// Usage (from the repository root):
//
//	go run ./bench/uplift/speed [-n 1000000] [-python /usr/bin/python3] [-sections logreg,forest,plugin]
package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/causalrec/causalrec/bench/internal/loadavg"
	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/plugins"
	"github.com/causalrec/causalrec/plugins/builtin/estimator"
	"gonum.org/v1/gonum/mat"
)

//go:embed sklearn_logreg.py
var script []byte

const (
	serveEnv = "CAUSALREC_SPEED_SERVE_PLUGIN"
	childEnv = "CAUSALREC_SPEED_CHILD"
)

func main() {
	if os.Getenv(serveEnv) != "" {
		plugins.Serve(plugins.Set{Estimator: estimator.New(causal.NewRegistry(), "bench")})
		return
	}
	n := flag.Int("n", 1000000, "rows of the reference workload")
	python := flag.String("python", "/usr/bin/python3", "python with numpy and scikit-learn (empty to skip)")
	sections := flag.String("sections", "logreg,forest,plugin", "comma-separated parts to run: logreg, forest, plugin")
	flag.Parse()
	var err error
	if c := os.Getenv(childEnv); c != "" {
		err = goLogregChild(c)
	} else {
		err = run(*n, *python, strings.Split(*sections, ","))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "speed:", err)
		os.Exit(1)
	}
}

func run(n int, python string, sections []string) error {
	d := causal.SimulateReference(n, rand.NewPCG(2024, 1))
	ntr := n * 8 / 10
	train, test := head(d, 0, ntr), head(d, ntr, n)
	fmt.Printf("reference workload: %d rows (%d train, %d test), 12 features; 1-minute load average %s\n\n", n, ntr, n-ntr, loadavg.One())

	if slices.Contains(sections, "logreg") {
		if err := logreg(d, ntr, test, python); err != nil {
			return err
		}
	}
	if slices.Contains(sections, "forest") {
		if err := forest(train, test); err != nil {
			return err
		}
	}
	if slices.Contains(sections, "plugin") {
		if err := pluginLatency(train, test); err != nil {
			return err
		}
	}
	fmt.Printf("\n1-minute load average at the end: %s\n", loadavg.One())
	return nil
}

// loadAvg returns the 1-minute load average of the machine ("?" when
// unknown): other work on the machine slows the measurements.
// head returns rows [lo, hi) of d (sharing memory).
func head(d causal.UpliftData, lo, hi int) causal.UpliftData {
	_, p := d.X.Dims()
	return causal.UpliftData{X: d.X.Slice(lo, hi, 0, p).(*mat.Dense), Treatment: d.Treatment[lo:hi], Arms: 1, Y: d.Y[lo:hi]}
}

func qini(score []float64, test causal.UpliftData) (causal.UpliftMetrics, error) {
	return causal.UpliftScores(score, test.Treatment, test.Y, nil, 0.3)
}

type sideResult struct {
	Fit     float64 `json:"fit_s"`
	Predict float64 `json:"predict_s"`
	Numpy   string  `json:"numpy,omitempty"`
	Sklearn string  `json:"sklearn,omitempty"`
	peakMB  float64
}

// writeNpy writes rows [t, y, x...] as a float64 .npy file.
func writeNpy(path string, d causal.UpliftData) error {
	n, p := d.X.Dims()
	hdr := fmt.Sprintf("{'descr': '<f8', 'fortran_order': False, 'shape': (%d, %d), }", n, p+2)
	for (10+len(hdr)+1)%64 != 0 {
		hdr += " "
	}
	hdr += "\n"
	buf := make([]byte, 0, 10+len(hdr)+8*n*(p+2))
	buf = append(buf, "\x93NUMPY\x01\x00"...)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(hdr)))
	buf = append(buf, hdr...)
	for i := 0; i < n; i++ {
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(float64(d.Treatment[i])))
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(d.Y[i]))
		for j := 0; j < p; j++ {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(d.X.At(i, j)))
		}
	}
	return os.WriteFile(path, buf, 0o644)
}

// readNpy reads a float64 .npy file written by numpy or writeNpy.
func readNpy(path string) (rows, cols int, data []float64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, nil, err
	}
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return 0, 0, nil, fmt.Errorf("%s: not a .npy file", path)
	}
	hl := int(binary.LittleEndian.Uint16(b[8:10]))
	body := b[10+hl:]
	data = make([]float64, len(body)/8)
	for i := range data {
		data[i] = math.Float64frombits(binary.LittleEndian.Uint64(body[8*i:]))
	}
	var shape string
	h := string(b[10 : 10+hl])
	if i := indexOf(h, "'shape': ("); i >= 0 {
		shape = h[i+10:]
		shape = shape[:indexOf(shape, ")")]
	}
	var r, c int
	if _, err := fmt.Sscanf(shape, "%d, %d", &r, &c); err != nil {
		r, c = len(data), 1
	}
	return r, c, data, nil
}

// readNpyRows reads a .npy file of rows [t, y, x...] written by writeNpy
// straight into the arms, outcomes and feature matrix, a row at a time, so
// the file's bytes are never held in memory next to the matrix.
func readNpyRows(path string) (*mat.Dense, []int, []float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var pre [10]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil || string(pre[:6]) != "\x93NUMPY" {
		return nil, nil, nil, fmt.Errorf("%s: not a .npy file", path)
	}
	hdr := make([]byte, binary.LittleEndian.Uint16(pre[8:10]))
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: header: %w", path, err)
	}
	var n, c int
	h := string(hdr)
	if i := indexOf(h, "'shape': ("); i >= 0 {
		if _, err := fmt.Sscanf(h[i+10:], "%d, %d", &n, &c); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: shape: %w", path, err)
		}
	}
	if c < 3 {
		return nil, nil, nil, fmt.Errorf("%s: %d columns, want t, y and features", path, c)
	}
	x := mat.NewDense(n, c-2, nil)
	t := make([]int, n)
	y := make([]float64, n)
	buf := make([]byte, 8*c)
	for i := range n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: row %d: %w", path, i, err)
		}
		v := func(j int) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(buf[8*j:])) }
		t[i], y[i] = int(v(0)), v(1)
		row := x.RawRowView(i)
		for j := range row {
			row[j] = v(j + 2)
		}
	}
	return x, t, y, nil
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// runChild runs cmd and returns its JSON result with its peak RSS.
func runChild(cmd *exec.Cmd) (sideResult, error) {
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return sideResult{}, fmt.Errorf("%s: %w", cmd.Path, err)
	}
	var r sideResult
	if err := json.Unmarshal(out, &r); err != nil {
		return sideResult{}, fmt.Errorf("%s: output %q: %w", cmd.Path, out, err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.peakMB = float64(ru.Maxrss) / 1024
	}
	return r, nil
}

// goLogregChild fits the Go logistic T-learner on the .npy data.
func goLogregChild(arg string) error {
	path, ntrS, _ := cut(arg, ",")
	ntr, err := strconv.Atoi(ntrS)
	if err != nil {
		return err
	}
	x, t, y, err := readNpyRows(path)
	if err != nil {
		return err
	}
	n, _ := x.Dims()
	d := causal.UpliftData{X: x, Treatment: t, Arms: 1, Y: y}
	train, test := head(d, 0, ntr), head(d, ntr, n)
	start := time.Now()
	m, err := causal.TLearner{Base: causal.Linear{}}.FitUplift(train, rand.NewPCG(1, 1))
	if err != nil {
		return err
	}
	fit := time.Since(start).Seconds()
	start = time.Now()
	m.Effects(nil, test.X)
	pred := time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(sideResult{Fit: fit, Predict: pred})
}

func cut(s, sep string) (string, string, bool) {
	if i := indexOf(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

func logreg(d causal.UpliftData, ntr int, test causal.UpliftData, python string) error {
	dir, err := os.MkdirTemp("", "speed")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	npy := filepath.Join(dir, "data.npy")
	if err := writeNpy(npy, d); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), childEnv+"="+npy+","+strconv.Itoa(ntr))
	g, err := runChild(cmd)
	if err != nil {
		return err
	}
	fmt.Println("T-learner, logistic regression (each side a child process; peak RSS includes the data):")
	fmt.Printf("  causalrec linear:        fit %.2fs  predict %.3fs  peak %.0f MB\n", g.Fit, g.Predict, g.peakMB)
	if python == "" {
		fmt.Println("  scikit-learn: skipped (-python empty)")
		return nil
	}
	sp := filepath.Join(dir, "sklearn_logreg.py")
	if err := os.WriteFile(sp, script, 0o644); err != nil {
		return err
	}
	s, err := runChild(exec.Command(python, sp, npy, strconv.Itoa(ntr)))
	if err != nil {
		return err
	}
	_, _, sc, err := readNpy(npy + ".scores.npy")
	if err != nil {
		return err
	}
	mq, err := qini(sc, test)
	if err != nil {
		return err
	}
	fmt.Printf("  sklearn LogisticRegression: fit %.2fs  predict %.3fs  peak %.0f MB  (numpy %s, scikit-learn %s)\n", s.Fit, s.Predict, s.peakMB, s.Numpy, s.Sklearn)
	fmt.Printf("  ratios sklearn/causalrec: fit %.2fx  predict %.2fx  peak RSS %.2fx; sklearn Qini %.4f\n\n", s.Fit/g.Fit, s.Predict/g.Predict, s.peakMB/g.peakMB, mq.Qini)
	return nil
}

func forest(train, test causal.UpliftData) error {
	fmt.Println("uplift forest, 10 trees, min leaf 100, KL (CausalML published, 1M rows: fit 88 s, predict 14.7 s, 0.93 GB, Qini 0.0900):")
	for _, depth := range []int{4, 5} {
		f := causal.UpliftForest{Trees: 10, Tree: causal.UpliftTree{MaxDepth: depth, MinLeaf: 100, Criterion: causal.KL}}
		start := time.Now()
		m, err := f.Fit(train, rand.NewPCG(7, uint64(depth)))
		if err != nil {
			return err
		}
		fit := time.Since(start).Seconds()
		start = time.Now()
		eff := m.Effects(nil, test.X)
		pred := time.Since(start).Seconds()
		q, err := qini(mat.Col(nil, 0, eff), test)
		if err != nil {
			return err
		}
		fmt.Printf("  depth %d (CausalML max_depth=%d): fit %.2fs  predict %d rows %.3fs  Qini %.4f  Qini (CausalML normalised) %.4f\n",
			depth, depth+1, fit, len(test.Y), pred, q.Qini, q.QiniCausalML)
	}
	fmt.Println()
	return nil
}

func pluginLatency(train, test causal.UpliftData) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	m, err := pluginhost.New([]pluginhost.Spec{{Name: "causal", Kind: plugins.KindEstimator, Path: self, Env: []string{serveEnv + "=1"}, Builtin: true}},
		pluginhost.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), StartTimeout: 30 * time.Second})
	if err != nil {
		return err
	}
	defer m.Close()
	ctx := context.Background()
	if err := m.Start(ctx); err != nil {
		return err
	}
	est, err := m.Estimator("causal")
	if err != nil {
		return err
	}
	const nfit = 100000
	_, p := train.X.Dims()
	fitX := train.X.Slice(0, nfit, 0, p).(*mat.Dense)
	req := plugins.FitRequest{Estimator: "t", Params: map[string]string{"base": "gbt"}, Arms: []string{"control", "treated"}, Seed: 1,
		X: denseData(fitX), Arm: train.Treatment[:nfit], Outcome: train.Y[:nfit]}
	for j := 0; j < p; j++ {
		req.Features = append(req.Features, plugins.Feature{Name: "x" + strconv.Itoa(j)})
	}
	fit, err := est.Fit(ctx, req)
	if err != nil {
		return err
	}
	x10k := denseData(test.X.Slice(0, 10000, 0, p).(*mat.Dense))
	call := func(x []float64) (time.Duration, error) {
		start := time.Now()
		_, err := est.Predict(ctx, plugins.PredictRequest{Model: fit.Model, X: x, NFeatures: p})
		return time.Since(start), err
	}
	if _, err := call(x10k); err != nil { // warm the model cache
		return err
	}
	var big, one []time.Duration
	for i := 0; i < 30; i++ {
		d, err := call(x10k)
		if err != nil {
			return err
		}
		big = append(big, d)
	}
	for i := 0; i < 5000; i++ {
		r := i % 10000
		d, err := call(x10k[r*p : (r+1)*p])
		if err != nil {
			return err
		}
		one = append(one, d)
	}
	fmt.Printf("plugin boundary (T-learner gbt fitted on %d rows through the plugin; real process, gRPC):\n", nfit)
	fmt.Printf("  10,000 rows in one call: p50 %s  p99 %s (%d calls)\n", pct(big, 0.5), pct(big, 0.99), len(big))
	fmt.Printf("  1 row a call:            p50 %s  p90 %s  p99 %s  max %s (%d calls)\n", pct(one, 0.5), pct(one, 0.9), pct(one, 0.99), pct(one, 1), len(one))
	return nil
}

func denseData(x *mat.Dense) []float64 {
	n, p := x.Dims()
	out := make([]float64, 0, n*p)
	for i := 0; i < n; i++ {
		out = append(out, x.RawRowView(i)...)
	}
	return out
}

func pct(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)].Round(time.Microsecond)
}
