// Command causalforest measures the default causal forest at a user's
// scale through the CLI, for one or more causalrec binaries in the same run
// (for example a build of this tree and one of an earlier commit):
//
//   - Hillstrom: the 42,693 rows of Womens E-Mail and No E-Mail (in file
//     order) split by position, even positions train (21,347 rows), odd
//     positions test (21,346), as ./bench/uplift/hillstrom does. `uplift
//     fit --estimator causal-forest` with its defaults on the train half, the
//     model file's size, `uplift predict --interval 0.9` on the test half
//     (wall time and peak resident memory of the command and its plugin
//     processes, from getrusage, and their CPU time, user and system),
//     and `uplift eval`'s Qini coefficient with
//     its 95% bootstrap interval;
//   - a simulated randomised trial of the same size with a known effect
//     (8 features x_j ~ U(−1, 1), P(w=1) = 0.5, y = x_1 + x_2/2 + w·τ(x) +
//     N(0, 1), τ(x) = 0.2 + 0.3·x_1): the share of test rows whose 90%
//     interval covers τ(x), with its binomial standard error, and the mean
//     width;
//   - with several binaries, the largest difference of each one's
//     predictions (effect, interval bounds) from the first one's.
//
// Usage (from the repository root, after make build):
//
//	go run ./bench/uplift/causalforest [-bin bin/causalrec,/tmp/old-causalrec] [-config FILE] [-param trees=936]
//
// -config is passed to every command (e.g. {"plugin_timeouts": {"load": "300s"}}
// for binaries whose models take longer to load than the default deadline).
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
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
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/causalrec/causalrec/bench/internal/loadavg"
)

func main() {
	data := flag.String("data", "examples/hillstrom/hillstrom.csv.gz", "Hillstrom CSV (.csv or .csv.gz)")
	bins := flag.String("bin", "bin/causalrec", "comma-separated causalrec binaries to compare")
	config := flag.String("config", "", "config file passed to every command")
	keep := flag.String("dir", "", "folder for the files, made if missing and kept (default: a temporary one, removed)")
	var params []string
	flag.Func("param", "estimator parameter name=value passed to every fit (repeatable), e.g. trees=936", func(v string) error {
		params = append(params, "--param", v)
		return nil
	})
	flag.Parse()
	if err := run(*data, strings.Split(*bins, ","), *config, *keep, params); err != nil {
		fmt.Fprintln(os.Stderr, "causalforest:", err)
		os.Exit(1)
	}
}

var hillFeatures = "recency,history_segment,history,mens,womens,zip_code,newbie,channel"

func run(data string, bins []string, config, dir string, params []string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "cfbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("-dir: %w", err)
	}
	if err := splitHillstrom(data, filepath.Join(dir, "train.csv"), filepath.Join(dir, "test.csv")); err != nil {
		return err
	}
	if err := simulate(21347, 1, filepath.Join(dir, "sim_train.csv")); err != nil {
		return err
	}
	if err := simulate(21346, 2, filepath.Join(dir, "sim_test.csv")); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "binary\tfit s (CPU)\tfit peak MB\tmodel MB\tpredict s (CPU)\tpredict peak MB\tQini [95% CI]\tsim fit s\tsim model MB\tsim coverage (SE)\tsim width")
	for i, bin := range bins {
		bin, err := filepath.Abs(bin)
		if err != nil {
			return err
		}
		r, err := measure(bin, config, dir, i, params)
		if err != nil {
			// Report and go on: the other binaries' rows still count.
			fmt.Fprintf(tw, "%s\tfailed: %v\n", bin, strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		fmt.Fprintf(tw, "%s\t%.1f (%.1f)\t%.0f\t%.1f\t%.2f (%.2f)\t%.0f\t%.4f [%.4f, %.4f]\t%.1f\t%.1f\t%.3f (%.3f)\t%.3f\n", bin, r.fit.secs, r.fit.cpu, r.fit.peakMB, r.modelMB,
			r.predict.secs, r.predict.cpu, r.predict.peakMB, r.qini, r.qiniLo, r.qiniHi, r.simFit.secs, r.simModelMB, r.coverage, r.coverageSE, r.width)
	}
	tw.Flush()
	// The binaries fit the same forests from the same seed: how far
	// apart are their predictions?
	for i := 1; i < len(bins); i++ {
		for _, name := range []string{"hill", "sim"} {
			a := filepath.Join(dir, fmt.Sprintf("%s_scored_0.csv", name))
			b := filepath.Join(dir, fmt.Sprintf("%s_scored_%d.csv", name, i))
			d, err := maxDiff(a, b, []string{"uplift", "uplift_lower", "uplift_upper"})
			if err != nil {
				fmt.Printf("%s: %s against %s: %v\n", name, bins[i], bins[0], err)
				continue
			}
			fmt.Printf("%s: largest |difference| of %s against %s: uplift %.3g, lower %.3g, upper %.3g\n", name, bins[i], bins[0], d[0], d[1], d[2])
		}
	}
	fmt.Printf("load average (1, 5, 15 min) at the end: %s\n", loadavg.All())
	return nil
}

// maxDiff returns, per column, the largest absolute difference between
// the rows of two scored files.
func maxDiff(a, b string, cols []string) ([]float64, error) {
	read := func(path string) ([][]float64, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil || len(rows) < 2 {
			return nil, fmt.Errorf("%s: %d rows, %v", path, len(rows), err)
		}
		idx := make([]int, len(cols))
		for k, c := range cols {
			idx[k] = -1
			for j, h := range rows[0] {
				if h == c {
					idx[k] = j
				}
			}
			if idx[k] < 0 {
				return nil, fmt.Errorf("%s has no column %s", path, c)
			}
		}
		out := make([][]float64, len(rows)-1)
		for i, r := range rows[1:] {
			out[i] = make([]float64, len(cols))
			for k, j := range idx {
				if out[i][k], err = strconv.ParseFloat(r[j], 64); err != nil {
					return nil, err
				}
			}
		}
		return out, nil
	}
	x, err := read(a)
	if err != nil {
		return nil, err
	}
	y, err := read(b)
	if err != nil {
		return nil, err
	}
	if len(x) != len(y) {
		return nil, fmt.Errorf("%d and %d rows", len(x), len(y))
	}
	d := make([]float64, len(cols))
	for i := range x {
		for k := range cols {
			d[k] = max(d[k], math.Abs(x[i][k]-y[i][k]))
		}
	}
	return d, nil
}

type timing struct{ secs, cpu, peakMB float64 }

type result struct {
	fit, predict, simFit timing
	modelMB, simModelMB  float64
	qini, qiniLo, qiniHi float64
	coverage, coverageSE float64
	width                float64
}

// command runs bin with args and returns its wall time and the peak
// resident memory of it and its waited-for children.
func command(bin, config string, args ...string) (timing, []byte, error) {
	if config != "" {
		args = append(args[:2:2], append([]string{"--config", config}, args[2:]...)...)
	}
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	err := cmd.Run()
	secs := time.Since(t0).Seconds()
	if err != nil {
		return timing{}, nil, fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args[:2], " "), err, errb.String())
	}
	t := timing{secs: secs, cpu: (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		t.peakMB = float64(ru.Maxrss) / 1024 // kB on Linux
	}
	return t, out.Bytes(), nil
}

func measure(bin, config, dir string, i int, params []string) (result, error) {
	var r result
	model := filepath.Join(dir, fmt.Sprintf("hill_%d.json", i))
	scored := filepath.Join(dir, fmt.Sprintf("hill_scored_%d.csv", i))
	arms := []string{"--treatment", "segment", "--control", "No E-Mail", "--treated", "Womens E-Mail"}
	var err error
	r.fit, _, err = command(bin, config, append([]string{"uplift", "fit", "--data", filepath.Join(dir, "train.csv"), "--outcome", "visit",
		"--design", "rct", "--features", hillFeatures, "--estimator", "causal-forest", "--model-out", model}, append(arms, params...)...)...)
	if err != nil {
		return r, err
	}
	st, err := os.Stat(model)
	if err != nil {
		return r, err
	}
	r.modelMB = float64(st.Size()) / 1e6
	r.predict, _, err = command(bin, config, "uplift", "predict", "--model", model, "--data", filepath.Join(dir, "test.csv"),
		"--interval", "0.9", "--keep", "segment,visit", "--out", scored)
	if err != nil {
		return r, err
	}
	_, out, err := command(bin, "", append([]string{"uplift", "eval", "--data", scored, "--outcome", "visit", "--score", "uplift"}, arms...)...)
	if err != nil {
		return r, err
	}
	var ev struct {
		Qini   float64 `json:"qini"`
		QiniCI struct {
			Lo float64 `json:"lo"`
			Hi float64 `json:"hi"`
		} `json:"qini_ci"`
	}
	if err := json.Unmarshal(out, &ev); err != nil {
		return r, fmt.Errorf("uplift eval output %q: %w", out, err)
	}
	r.qini, r.qiniLo, r.qiniHi = ev.Qini, ev.QiniCI.Lo, ev.QiniCI.Hi

	simModel := filepath.Join(dir, fmt.Sprintf("sim_%d.json", i))
	simScored := filepath.Join(dir, fmt.Sprintf("sim_scored_%d.csv", i))
	r.simFit, _, err = command(bin, config, append([]string{"uplift", "fit", "--data", filepath.Join(dir, "sim_train.csv"), "--treatment", "w", "--control", "0",
		"--outcome", "y", "--design", "rct", "--features", "x1,x2,x3,x4,x5,x6,x7,x8", "--estimator", "causal-forest", "--model-out", simModel}, params...)...)
	if err != nil {
		return r, err
	}
	if st, err := os.Stat(simModel); err == nil {
		r.simModelMB = float64(st.Size()) / 1e6
	}
	if _, _, err = command(bin, config, "uplift", "predict", "--model", simModel, "--data", filepath.Join(dir, "sim_test.csv"),
		"--interval", "0.9", "--keep", "tau", "--out", simScored); err != nil {
		return r, err
	}
	r.coverage, r.coverageSE, r.width, err = coverage(simScored)
	return r, err
}

// coverage reads tau and the interval columns of a scored file.
func coverage(path string) (rate, se, width float64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return 0, 0, 0, err
	}
	if len(rows) < 2 {
		return 0, 0, 0, errors.New("no scored rows")
	}
	col := map[string]int{}
	for j, h := range rows[0] {
		col[h] = j
	}
	ti, ok1 := col["tau"]
	li, ok2 := col["uplift_lower"]
	hi, ok3 := col["uplift_upper"]
	if !ok1 || !ok2 || !ok3 {
		return 0, 0, 0, fmt.Errorf("scored file has columns %v, want tau, uplift_lower, uplift_upper", rows[0])
	}
	var cover, n int
	for _, r := range rows[1:] {
		tau, e1 := strconv.ParseFloat(r[ti], 64)
		lo, e2 := strconv.ParseFloat(r[li], 64)
		up, e3 := strconv.ParseFloat(r[hi], 64)
		if err := errors.Join(e1, e2, e3); err != nil {
			return 0, 0, 0, err
		}
		if lo <= tau && tau <= up {
			cover++
		}
		width += up - lo
		n++
	}
	rate = float64(cover) / float64(n)
	return rate, math.Sqrt(rate * (1 - rate) / float64(n)), width / float64(n), nil
}

// splitHillstrom writes the Womens E-Mail and No E-Mail rows of data, even
// positions to train and odd ones to test.
func splitHillstrom(data, train, test string) error {
	f, err := os.Open(data)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(data, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		r = gz
	}
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return fmt.Errorf("%s: %w", data, err)
	}
	seg := -1
	for j, h := range rows[0] {
		if h == "segment" {
			seg = j
		}
	}
	if seg < 0 {
		return fmt.Errorf("%s has no segment column", data)
	}
	out := [2][][]string{{rows[0]}, {rows[0]}}
	k := 0
	for _, row := range rows[1:] {
		if row[seg] != "Womens E-Mail" && row[seg] != "No E-Mail" {
			continue
		}
		out[k%2] = append(out[k%2], row)
		k++
	}
	for i, path := range []string{train, test} {
		if err := writeCSV(path, out[i]); err != nil {
			return err
		}
	}
	return nil
}

// simulate writes n rows of the simulated trial drawn with seed.
func simulate(n int, seed uint64, path string) error {
	rng := rand.New(rand.NewPCG(seed, 42))
	rows := [][]string{{"x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "w", "y", "tau"}}
	for range n {
		row := make([]string, 0, 11)
		x := make([]float64, 8)
		for j := range x {
			x[j] = 2*rng.Float64() - 1
			row = append(row, strconv.FormatFloat(x[j], 'g', 6, 64))
		}
		w := rng.IntN(2)
		tau := 0.2 + 0.3*x[0]
		y := x[0] + x[1]/2 + float64(w)*tau + rng.NormFloat64()
		row = append(row, strconv.Itoa(w), strconv.FormatFloat(y, 'g', 6, 64), strconv.FormatFloat(tau, 'g', 6, 64))
		rows = append(rows, row)
	}
	return writeCSV(path, rows)
}

func writeCSV(path string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	if err := w.WriteAll(rows); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
