// Command uplift times causalrec's gradient-boosted-tree T-learner against
// scikit-learn's HistGradientBoostingClassifier T-learner on the same data,
// in the same run, and reports the ratios.
//
// The data are causalrec's reference workload (causal.SimulateReference:
// 12 standard-normal features, t ~ Bernoulli(0.5), a logistic outcome). Both
// sides read the same CSV, fit one classifier per arm on the first 80% of
// the rows and predict the effect P(y=1|t=1,x) − P(y=1|t=0,x) on the rest;
// each side runs in its own process so its peak resident memory can be
// compared. The peak is reset after the data are loaded and split by arm,
// so it covers the data held in memory plus fitting and predicting. Runs
// alternate between the two sides, and which side goes first alternates
// from run to run.
//
// Each side writes its predicted effects on the test rows; this program
// scores both with the same Qini (causal.UpliftScores, scikit-uplift's
// qini_auc_score normalisation) and prints the three comparisons of the
// speed target, each from the median of the runs: fit time (target:
// causalrec at least 1.5× faster), Qini (target: within 0.003 of
// scikit-learn's, or above it) and peak resident memory (target: lower).
//
// With -threads k both sides use k threads (GOMAXPROCS=k for Go,
// OMP_NUM_THREADS=k and OPENBLAS_NUM_THREADS=k for scikit-learn); 0 keeps
// each side's default, all cores. On a machine shared with other work,
// -threads 1 gives the steadier comparison: OpenMP threads that wait for
// each other at barriers slow down much more than Go's goroutines when
// cores are taken by other processes.
//
// Usage:
//
//	go run ./bench/uplift [-n 1000000] [-runs 3] [-python /usr/bin/python3] [-threads 0]
//	go run ./bench/uplift -n 1000000 -out reference.csv   # only write the data
//	go run ./bench/uplift -child reference.csv [-scores effects.f64]  # only the Go side
//
// The Python side needs numpy and scikit-learn (Debian: python3-sklearn).
package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/causalrec/causalrec/bench/internal/loadavg"
	"github.com/causalrec/causalrec/causal"
	"gonum.org/v1/gonum/mat"
)

//go:embed sklearn_tlearner.py
var sklearnScript []byte

// pythonScript writes the scikit-learn side into dir and returns its path.
func pythonScript(dir string) (string, error) {
	p := filepath.Join(dir, "sklearn_tlearner.py")
	return p, os.WriteFile(p, sklearnScript, 0o644)
}

// result is one timed run of one side, printed as a JSON line by the child
// processes.
type result struct {
	Side      string  `json:"side"`
	FitSec    float64 `json:"fit_sec"`
	FitCPUSec float64 `json:"fit_cpu_sec"` // CPU time of all threads while fitting
	PredSec   float64 `json:"predict_sec"`
	PeakMB    float64 `json:"peak_mb"`
	RMSE      float64 `json:"rmse"`
	TreesCtrl int     `json:"trees_control"`
	TreesTrt  int     `json:"trees_treated"`
	// Qini is filled in by the parent from the effects the child wrote.
	Qini float64 `json:"-"`
}

func main() {
	n := flag.Int("n", 1_000_000, "rows of reference data")
	runs := flag.Int("runs", 3, "runs of each side")
	seed := flag.Uint64("seed", 1, "seed of the data")
	python := flag.String("python", "/usr/bin/python3", "python interpreter with numpy and scikit-learn")
	child := flag.String("child", "", "fit only the Go side on this CSV and print a JSON result")
	threads := flag.Int("threads", 0, "threads for each side (0: each side's default)")
	scores := flag.String("scores", "", "with -child: write the predicted effects of the test rows to this file (little-endian float64)")
	out := flag.String("out", "", "only write the reference data as CSV to this file")
	flag.Parse()
	var err error
	switch {
	case *out != "":
		err = writeCSV(*out, causal.SimulateReference(*n, rand.NewPCG(*seed, 0)))
	case *child != "":
		err = runGo(*child, *scores)
	default:
		err = run(*n, *runs, *seed, *python, *threads)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/uplift:", err)
		os.Exit(1)
	}
}

func run(n, runs int, seed uint64, python string, threads int) error {
	dir, err := os.MkdirTemp("", "uplift-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	csvPath := filepath.Join(dir, "reference.csv")
	d := causal.SimulateReference(n, rand.NewPCG(seed, 0))
	if err := writeCSV(csvPath, d); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	script, err := pythonScript(dir)
	if err != nil {
		return err
	}
	nTrain := n * 8 / 10
	testT, testY := d.Treatment[nTrain:], d.Y[nTrain:]
	var env []string
	if threads > 0 {
		k := strconv.Itoa(threads)
		env = append(os.Environ(), "GOMAXPROCS="+k, "OMP_NUM_THREADS="+k, "OPENBLAS_NUM_THREADS="+k)
	}
	command := func(name string, args ...string) *exec.Cmd {
		c := exec.Command(name, args...)
		c.Env = env
		return c
	}
	sideThreads := "each side's default"
	if threads > 0 {
		sideThreads = strconv.Itoa(threads)
	}
	fmt.Printf("reference data: %d rows × %d features, fit on the first 80%%, %d cores, threads per side: %s\n", n, causal.ReferenceFeatures, runtime.NumCPU(), sideThreads)
	load0 := loadavg.One()
	var goRes, skRes []result
	for r := 0; r < runs; r++ {
		goScores := filepath.Join(dir, "causalrec.f64")
		skScores := filepath.Join(dir, "sklearn.f64")
		var g, s result
		sides := []func() error{
			func() (err error) {
				g, err = runSide(command(self, "-child", csvPath, "-scores", goScores), goScores, testT, testY)
				if err != nil {
					return fmt.Errorf("go side: %w", err)
				}
				return nil
			},
			func() (err error) {
				s, err = runSide(command(python, script, csvPath, skScores), skScores, testT, testY)
				if err != nil {
					return fmt.Errorf("scikit-learn side: %w", err)
				}
				return nil
			},
		}
		if r%2 == 1 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		for _, side := range sides {
			if err := side(); err != nil {
				return err
			}
		}
		goRes, skRes = append(goRes, g), append(skRes, s)
		fmt.Printf("run %d: causalrec fit %.2fs (cpu %.2fs) predict %.2fs peak %.0f MB Qini %.4f rmse %.4f trees %d+%d | scikit-learn fit %.2fs (cpu %.2fs) predict %.2fs peak %.0f MB Qini %.4f rmse %.4f trees %d+%d | fit ratio %.2fx\n",
			r+1, g.FitSec, g.FitCPUSec, g.PredSec, g.PeakMB, g.Qini, g.RMSE, g.TreesCtrl, g.TreesTrt,
			s.FitSec, s.FitCPUSec, s.PredSec, s.PeakMB, s.Qini, s.RMSE, s.TreesCtrl, s.TreesTrt, s.FitSec/g.FitSec)
	}
	med := func(rs []result, f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	fit := func(r result) float64 { return r.FitSec }
	fitCPU := func(r result) float64 { return r.FitCPUSec }
	pred := func(r result) float64 { return r.PredSec }
	peak := func(r result) float64 { return r.PeakMB }
	rmse := func(r result) float64 { return r.RMSE }
	qini := func(r result) float64 { return r.Qini }
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	gFit, sFit := med(goRes, fit), med(skRes, fit)
	gQ, sQ := med(goRes, qini), med(skRes, qini)
	gPeak, sPeak := med(goRes, peak), med(skRes, peak)
	fmt.Printf("\nmedians of %d runs, causalrec vs scikit-learn HistGradientBoostingClassifier T-learner (1-minute load average at the start %s, now %s):\n", runs, load0, loadavg.One())
	fmt.Printf("  fit:       %.2fs vs %.2fs  -> causalrec %.2fx faster (target >= 1.5x: %s)\n", gFit, sFit, sFit/gFit, met(sFit/gFit >= 1.5))
	fmt.Printf("             CPU time of all threads while fitting %.2fs vs %.2fs -> %.2fx less\n", med(goRes, fitCPU), med(skRes, fitCPU), med(skRes, fitCPU)/med(goRes, fitCPU))
	fmt.Printf("  Qini:      %.4f vs %.4f  -> difference %+.4f (target within 0.003 or above: %s)\n", gQ, sQ, gQ-sQ, met(gQ-sQ >= -0.003))
	fmt.Printf("  peak RSS:  %.0f MB vs %.0f MB  -> causalrec %.2fx smaller (target lower: %s)\n", gPeak, sPeak, sPeak/gPeak, met(gPeak < sPeak))
	fmt.Printf("  predict:   %.2fs vs %.2fs  -> %.2fx; effect RMSE against the true effects %.4f vs %.4f\n",
		med(goRes, pred), med(skRes, pred), med(skRes, pred)/med(goRes, pred), med(goRes, rmse), med(skRes, rmse))
	return nil
}

// runSide runs one side and scores the effects it wrote to scores against
// the test rows' arms t and outcomes y.
func runSide(cmd *exec.Cmd, scores string, t []int, y []float64) (result, error) {
	r, err := runChild(cmd)
	if err != nil {
		return r, err
	}
	b, err := os.ReadFile(scores)
	if err != nil {
		return r, err
	}
	if len(b) != 8*len(y) {
		return r, fmt.Errorf("%s: %d bytes for %d test rows", scores, len(b), len(y))
	}
	eff := make([]float64, len(y))
	for i := range eff {
		eff[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	m, err := causal.UpliftScores(eff, t, y, nil, 0.3)
	if err != nil {
		return r, fmt.Errorf("qini: %w", err)
	}
	r.Qini = m.Qini
	return r, nil
}

// runChild runs cmd and decodes the last line of its output as a result.
func runChild(cmd *exec.Cmd) (result, error) {
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, err
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var r result
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return result{}, fmt.Errorf("decode result %q: %w", lines[len(lines)-1], err)
	}
	return r, nil
}

// writeCSV writes x0..x11,t,y with a header line.
func writeCSV(path string, d causal.UpliftData) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	n, p := d.X.Dims()
	for j := range p {
		fmt.Fprintf(w, "x%d,", j)
	}
	fmt.Fprintln(w, "t,y")
	buf := make([]byte, 0, 512)
	for i := range n {
		buf = buf[:0]
		for _, v := range d.X.RawRowView(i) {
			buf = strconv.AppendFloat(buf, v, 'g', -1, 64)
			buf = append(buf, ',')
		}
		buf = strconv.AppendInt(buf, int64(d.Treatment[i]), 10)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, d.Y[i], 'g', -1, 64)
		buf = append(buf, '\n')
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readCSV reads a file written by writeCSV into preallocated storage, so
// parsing leaves little garbage behind.
func readCSV(path string) (x *mat.Dense, t []int, y []float64, err error) {
	lines, err := countLines(path)
	if err != nil {
		return nil, nil, nil, err
	}
	if lines--; lines < 1 { // minus the header
		return nil, nil, nil, errors.New("no rows")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, err
	}
	defer f.Close()
	const p = causal.ReferenceFeatures
	data := make([]float64, 0, lines*p)
	t = make([]int, 0, lines)
	y = make([]float64, 0, lines)
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for line := 2; sc.Scan(); line++ {
		row := sc.Bytes()
		var v [p + 2]float64
		for j := range v {
			field := row
			if k := bytes.IndexByte(row, ','); k >= 0 {
				field, row = row[:k], row[k+1:]
			} else {
				row = nil
			}
			if v[j], err = strconv.ParseFloat(string(field), 64); err != nil {
				return nil, nil, nil, fmt.Errorf("%s line %d field %d: %w", path, line, j+1, err)
			}
		}
		if len(row) != 0 {
			return nil, nil, nil, fmt.Errorf("%s line %d: more than %d fields", path, line, p+2)
		}
		data = append(data, v[:p]...)
		t = append(t, int(v[p]))
		y = append(y, v[p+1])
	}
	if err := sc.Err(); err != nil {
		return nil, nil, nil, err
	}
	return mat.NewDense(len(y), p, data), t, y, nil
}

// countLines returns the number of newline characters in a file.
func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	n := 0
	for {
		k, err := f.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// resetPeak returns freed memory to the system and resets the peak
// resident set size that peakMB reports, so the peak covers only what
// follows (Linux: writing 5 to /proc/self/clear_refs).
func resetPeak() {
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// runGo is the Go side: a T-learner with GBT classifiers. It writes the
// effects of the test rows to scores unless scores is empty.
func runGo(path, scores string) error {
	x, t, y, err := readCSV(path)
	if err != nil {
		return err
	}
	n, p := x.Dims()
	nTrain := n * 8 / 10
	var rows [2][]int
	for i := range nTrain {
		rows[t[i]] = append(rows[t[i]], i)
	}
	sub := func(idx []int) (*mat.Dense, []float64) {
		xs := mat.NewDense(len(idx), p, nil)
		ys := make([]float64, len(idx))
		for k, i := range idx {
			xs.SetRow(k, x.RawRowView(i))
			ys[k] = y[i]
		}
		return xs, ys
	}
	x0, y0 := sub(rows[0])
	x1, y1 := sub(rows[1])
	xTest := x.Slice(nTrain, n, 0, p).(*mat.Dense)
	resetPeak()

	start, cpu0 := time.Now(), cpuSeconds()
	m0, err := causal.GBT{}.FitGBT(x0, y0, nil, causal.Classification, rand.NewPCG(1, 0))
	if err != nil {
		return err
	}
	m1, err := causal.GBT{}.FitGBT(x1, y1, nil, causal.Classification, rand.NewPCG(2, 0))
	if err != nil {
		return err
	}
	fitSec, fitCPU := time.Since(start).Seconds(), cpuSeconds()-cpu0

	start = time.Now()
	p0 := m0.Predict(nil, xTest)
	p1 := m1.Predict(nil, xTest)
	predSec := time.Since(start).Seconds()

	truth := causal.ReferenceEffects(nil, xTest)
	var se float64
	out := make([]byte, 0, 8*len(p0))
	for i := range p0 {
		e := p1[i] - p0[i]
		out = binary.LittleEndian.AppendUint64(out, math.Float64bits(e))
		d := e - truth[i]
		se += d * d
	}
	if scores != "" {
		if err := os.WriteFile(scores, out, 0o644); err != nil {
			return err
		}
	}
	r := result{
		Side: "causalrec", FitSec: fitSec, FitCPUSec: fitCPU, PredSec: predSec, PeakMB: peakMB(),
		RMSE: math.Sqrt(se / float64(len(p0))), TreesCtrl: len(m0.Trees), TreesTrt: len(m1.Trees),
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// loadAvg returns the 1-minute load average of the machine ("?" when
// unknown): other work on the machine slows both sides, not always alike.
// cpuSeconds returns the user and system CPU time of this process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// peakMB returns the peak resident set size of this process in MB.
func peakMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return math.NaN()
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	return math.NaN()
}
