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
// alternate between the two sides.
//
// Usage:
//
//	go run ./bench/uplift [-n 1000000] [-runs 3] [-python /usr/bin/python3]
//	go run ./bench/uplift -n 1000000 -out reference.csv   # only write the data
//	go run ./bench/uplift -child reference.csv            # only the Go side
//
// The Python side needs numpy and scikit-learn (Debian: python3-sklearn).
package main

import (
	"bufio"
	"bytes"
	_ "embed"
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
	"time"

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
	PredSec   float64 `json:"predict_sec"`
	PeakMB    float64 `json:"peak_mb"`
	RMSE      float64 `json:"rmse"`
	TreesCtrl int     `json:"trees_control"`
	TreesTrt  int     `json:"trees_treated"`
}

func main() {
	n := flag.Int("n", 1_000_000, "rows of reference data")
	runs := flag.Int("runs", 3, "runs of each side")
	seed := flag.Uint64("seed", 1, "seed of the data")
	python := flag.String("python", "/usr/bin/python3", "python interpreter with numpy and scikit-learn")
	child := flag.String("child", "", "fit only the Go side on this CSV and print a JSON result")
	out := flag.String("out", "", "only write the reference data as CSV to this file")
	flag.Parse()
	var err error
	switch {
	case *out != "":
		err = writeCSV(*out, causal.SimulateReference(*n, rand.NewPCG(*seed, 0)))
	case *child != "":
		err = runGo(*child)
	default:
		err = run(*n, *runs, *seed, *python)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/uplift:", err)
		os.Exit(1)
	}
}

func run(n, runs int, seed uint64, python string) error {
	dir, err := os.MkdirTemp("", "uplift-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	csvPath := filepath.Join(dir, "reference.csv")
	if err := writeCSV(csvPath, causal.SimulateReference(n, rand.NewPCG(seed, 0))); err != nil {
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
	fmt.Printf("reference data: %d rows × %d features, fit on the first 80%%, GOMAXPROCS=%d\n", n, causal.ReferenceFeatures, runtime.GOMAXPROCS(0))
	var goRes, skRes []result
	for r := 0; r < runs; r++ {
		g, err := runChild(exec.Command(self, "-child", csvPath))
		if err != nil {
			return fmt.Errorf("go side: %w", err)
		}
		s, err := runChild(exec.Command(python, script, csvPath))
		if err != nil {
			return fmt.Errorf("scikit-learn side: %w", err)
		}
		goRes, skRes = append(goRes, g), append(skRes, s)
		fmt.Printf("run %d: causalrec fit %.2fs predict %.2fs peak %.0f MB rmse %.4f trees %d+%d | scikit-learn fit %.2fs predict %.2fs peak %.0f MB rmse %.4f trees %d+%d\n",
			r+1, g.FitSec, g.PredSec, g.PeakMB, g.RMSE, g.TreesCtrl, g.TreesTrt, s.FitSec, s.PredSec, s.PeakMB, s.RMSE, s.TreesCtrl, s.TreesTrt)
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
	pred := func(r result) float64 { return r.PredSec }
	peak := func(r result) float64 { return r.PeakMB }
	rmse := func(r result) float64 { return r.RMSE }
	fmt.Printf("median ratios (scikit-learn / causalrec): fit %.2fx faster, predict %.2fx faster, peak memory %.2fx smaller; effect RMSE %.4f vs %.4f\n",
		med(skRes, fit)/med(goRes, fit), med(skRes, pred)/med(goRes, pred), med(skRes, peak)/med(goRes, peak), med(goRes, rmse), med(skRes, rmse))
	return nil
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

// runGo is the Go side: a T-learner with GBT classifiers.
func runGo(path string) error {
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

	start := time.Now()
	m0, err := causal.GBT{}.FitGBT(x0, y0, nil, causal.Classification, rand.NewPCG(1, 0))
	if err != nil {
		return err
	}
	m1, err := causal.GBT{}.FitGBT(x1, y1, nil, causal.Classification, rand.NewPCG(2, 0))
	if err != nil {
		return err
	}
	fitSec := time.Since(start).Seconds()

	start = time.Now()
	p0 := m0.Predict(nil, xTest)
	p1 := m1.Predict(nil, xTest)
	predSec := time.Since(start).Seconds()

	truth := causal.ReferenceEffects(nil, xTest)
	var se float64
	for i := range p0 {
		d := p1[i] - p0[i] - truth[i]
		se += d * d
	}
	r := result{
		Side: "causalrec", FitSec: fitSec, PredSec: predSec, PeakMB: peakMB(),
		RMSE: math.Sqrt(se / float64(len(p0))), TreesCtrl: len(m0.Trees), TreesTrt: len(m1.Trees),
	}
	return json.NewEncoder(os.Stdout).Encode(r)
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
