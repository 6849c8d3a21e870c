// Command ope benchmarks causalrec's off-policy evaluation and checks it on
// the Open Bandit Dataset. Sections (-sections, comma-separated):
//
//   - speed: writes a synthetic log (ope.SyntheticEnv: -n rows, 3 positions,
//     80 actions, 5 numeric and 3 hashed-text context columns, an unnamed
//     leading index column, a logging policy that differs from the
//     evaluated one) and its context-free evaluation policy, then runs
//     `causalrec ope` with all nine estimators and -bootstrap resamples,
//     and bench/ope/sklearn_ope.py (numpy and scikit-learn: the same
//     estimators, the same reward model, the same file) in turn, each as a
//     child process: wall time and peak RSS, medians of -runs runs, and the
//     estimates side by side with the known true value;
//   - csv: the CSV reader that uplift and ope share (dataset.ReadCSVFile)
//     against pandas.read_csv (C parser) on the same files, alternating:
//     the speed section's log and the uplift benchmark's reference data
//     (causal.SimulateReference, 1M rows, written by bench/uplift -out);
//   - obd: the four Open Bandit Dataset cases (men and women; Bernoulli TS
//     estimated from the random log and the uniform random policy from the
//     Bernoulli TS log), every estimator's relative error and interval
//     against the other log's click rate and its 95% interval, the check
//     that dr's interval overlaps the truth's; and OBP's protocol (30
//     bootstrap resamples of the log, the mean and sd of each estimator's
//     relative error).
//
// Usage (from the repository root, with the shared data beside it):
//
//	go run ./bench/ope [-sections speed,csv,obd] [-n 1000000] [-runs 1] [-python /usr/bin/python3] [-obd ../shared/data/obd]
package main

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
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
	"github.com/causalrec/causalrec/causal/ope"
	"github.com/causalrec/causalrec/host/dataset"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

const allEstimators = "ipw,snipw,dm,dr,sndr,switch-dr,dros,switch-dr-tuned,dros-tuned"

func main() {
	sections := flag.String("sections", "speed,csv,obd", "comma-separated parts: speed, csv, obd")
	n := flag.Int("n", 1000000, "logged rows of the speed section")
	runs := flag.Int("runs", 1, "runs of each side in the speed section (medians are reported)")
	resamples := flag.Int("bootstrap", 1000, "bootstrap resamples of the speed section")
	python := flag.String("python", "/usr/bin/python3", "python with numpy, pandas and scikit-learn (empty to skip)")
	obdDir := flag.String("obd", "../shared/data/obd", "Open Bandit Dataset small sample (see docs/ope.md)")
	keep := flag.String("dir", "", "write the generated files here and keep them (default: a temporary directory)")
	flag.Parse()
	if err := run(strings.Split(*sections, ","), *n, *runs, *resamples, *python, *obdDir, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "ope:", err)
		os.Exit(1)
	}
}

func run(sections []string, n, runs, resamples int, python, obdDir, keep string) error {
	dir := keep
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "causalrec-bench-ope"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	fmt.Printf("1-minute load average at the start: %s\n\n", loadavg.One())
	var logPath, polPath string
	var truth float64
	if slices.Contains(sections, "speed") || slices.Contains(sections, "csv") {
		start := time.Now()
		var err error
		logPath, polPath, truth, err = writeSynthetic(dir, n)
		if err != nil {
			return err
		}
		st, _ := os.Stat(logPath)
		fmt.Printf("synthetic log: %d rows, 3 positions, 80 actions, 5 numeric and 3 text context columns; %.0f MB; true value %.6f (written in %.1fs)\n\n",
			n, float64(st.Size())/1e6, truth, time.Since(start).Seconds())
	}
	if slices.Contains(sections, "speed") {
		if err := speed(dir, logPath, polPath, truth, runs, resamples, python); err != nil {
			return err
		}
	}
	if slices.Contains(sections, "csv") {
		if err := csvSpeed(dir, logPath, python); err != nil {
			return err
		}
	}
	if slices.Contains(sections, "obd") {
		if err := obd(obdDir); err != nil {
			return err
		}
	}
	fmt.Printf("1-minute load average at the end: %s\n", loadavg.One())
	return nil
}

// hashed returns a 32-hex-digit text standing for a category level, as the
// Open Bandit Dataset's hashed user features.
func hashed(col, level int) string {
	h := md5.Sum([]byte(fmt.Sprintf("feature %d level %d", col, level)))
	return hex.EncodeToString(h[:])
}

// writeSynthetic writes the speed section's log and policy.
func writeSynthetic(dir string, n int) (logPath, polPath string, truth float64, err error) {
	env, err := ope.NewSyntheticEnv(ope.SyntheticConfig{Actions: 80, Positions: 3, Numeric: 5, Categorical: 3, Levels: 5, ContextFree: true}, rand.NewPCG(2026, 1))
	if err != nil {
		return "", "", 0, err
	}
	s := env.Sample(n, rand.NewPCG(2026, 2))
	l := s.Log
	logPath, polPath = filepath.Join(dir, "log.csv"), filepath.Join(dir, "policy.csv")
	f, err := os.Create(logPath)
	if err != nil {
		return "", "", 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(",x0,x1,x2,x3,x4,c0,c1,c2,item_id,position,click,propensity_score\n")
	var buf []byte
	for i := range n {
		buf = strconv.AppendInt(buf[:0], int64(i), 10)
		row := l.Context.RawRowView(i)
		for j := range 5 {
			buf = append(buf, ',')
			buf = strconv.AppendFloat(buf, row[j], 'g', -1, 64)
		}
		for j := range 3 {
			buf = append(buf, ',')
			buf = append(buf, hashed(j, int(row[5+j]))...)
		}
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, int64(l.Action[i]), 10)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, int64(l.Position[i])+1, 10)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, l.Reward[i], 'g', -1, 64)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, l.PScore[i], 'g', -1, 64)
		buf = append(buf, '\n')
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		return "", "", 0, err
	}
	if err := f.Close(); err != nil {
		return "", "", 0, err
	}
	var pb strings.Builder
	pb.WriteString("item_id,position,prob\n")
	for k, row := range s.EvalProb {
		for a, p := range row {
			fmt.Fprintf(&pb, "%d,%d,%s\n", a, k+1, strconv.FormatFloat(p, 'g', -1, 64))
		}
	}
	return logPath, polPath, s.Truth, os.WriteFile(polPath, []byte(pb.String()), 0o644)
}

// child is one timed child process: wall and CPU time (user + system,
// all threads) and peak resident memory.
type child struct {
	wall, cpu, peakMB float64
	out               []byte
}

func runChild(cmd *exec.Cmd) (child, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	c := child{wall: time.Since(start).Seconds(), out: out}
	if err != nil {
		return c, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		c.peakMB = float64(ru.Maxrss) / 1024
	}
	c.cpu = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	return c, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// estimates reads the JSON of causalrec ope or of the script.
type estimates struct {
	Estimates []struct {
		Estimator string
		Value     float64
		CI        [2]float64
		SE        float64
	}
	Lambda  map[string]string `json:"lambda"`
	Seconds map[string]float64
	Numpy   string
	Sklearn string
}

func speed(dir, logPath, polPath string, truth float64, runs, resamples int, python string) error {
	bin := filepath.Join(dir, "causalrec")
	build := exec.Command("go", "build", "-o", bin, "./host/cmd/causalrec")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build causalrec: %w", err)
	}
	script := "bench/ope/sklearn_ope.py"
	var goWall, goMB, pyWall, pyMB, goCPU, pyCPU []float64
	var goOut, pyOut estimates
	for r := range runs {
		goJSON := filepath.Join(dir, "go.json")
		c, err := runChild(exec.Command(bin, "ope", "--log", logPath, "--policy", polPath, "--estimators", allEstimators,
			"--bootstrap", strconv.Itoa(resamples), "--seed", strconv.Itoa(r+1), "--out", goJSON))
		if err != nil {
			return err
		}
		goWall, goMB, goCPU = append(goWall, c.wall), append(goMB, c.peakMB), append(goCPU, c.cpu)
		if err := json.Unmarshal(c.out, &goOut); err != nil {
			return err
		}
		fmt.Printf("run %d: causalrec ope %.2fs (CPU %.2fs), peak %.0f MB; load %s\n", r+1, c.wall, c.cpu, c.peakMB, loadavg.One())
		if python == "" {
			continue
		}
		pyJSON := filepath.Join(dir, "py.json")
		c, err = runChild(exec.Command(python, script, logPath, polPath, pyJSON, "3", strconv.Itoa(resamples), strconv.Itoa(r+1)))
		if err != nil {
			return err
		}
		pyWall, pyMB, pyCPU = append(pyWall, c.wall), append(pyMB, c.peakMB), append(pyCPU, c.cpu)
		b, err := os.ReadFile(pyJSON)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &pyOut); err != nil {
			return err
		}
		fmt.Printf("run %d: numpy/scikit-learn %.2fs (CPU %.2fs; read %.2fs, reward model %.2fs, estimators and bootstrap %.2fs), peak %.0f MB; load %s\n",
			r+1, c.wall, c.cpu, pyOut.Seconds["read"], pyOut.Seconds["reward_model"], pyOut.Seconds["estimators_and_bootstrap"], c.peakMB, loadavg.One())
	}
	fmt.Printf("\nope, %d bootstrap resamples, all nine estimators; medians of %d runs:\n", resamples, runs)
	fmt.Printf("  causalrec ope:       wall %.2fs  CPU %.2fs  peak RSS %.0f MB\n", median(goWall), median(goCPU), median(goMB))
	if python != "" {
		fmt.Printf("  numpy/scikit-learn:  wall %.2fs  CPU %.2fs  peak RSS %.0f MB  (numpy %s, scikit-learn %s)\n", median(pyWall), median(pyCPU), median(pyMB), pyOut.Numpy, pyOut.Sklearn)
		fmt.Printf("  ratio: causalrec %.2fx faster in wall time (target >= 3x: %s), %.2fx less CPU time, %.2fx less memory\n", median(pyWall)/median(goWall),
			metOr(median(pyWall)/median(goWall) >= 3), median(pyCPU)/median(goCPU), median(pyMB)/median(goMB))
	}
	fmt.Printf("\n  %-16s %10s %22s %10s %22s  (true value %.6f)\n", "estimator", "causalrec", "95% interval", "sklearn", "95% interval", truth)
	for i, e := range goOut.Estimates {
		line := fmt.Sprintf("  %-16s %10.6f [%9.6f, %9.6f]", e.Estimator, e.Value, e.CI[0], e.CI[1])
		if python != "" && i < len(pyOut.Estimates) {
			p := pyOut.Estimates[i]
			line += fmt.Sprintf(" %10.6f [%9.6f, %9.6f]", p.Value, p.CI[0], p.CI[1])
		}
		fmt.Println(line)
	}
	if python != "" {
		fmt.Printf("  sklearn's SLOPE choices: %v\n", pyOut.Lambda)
	}
	fmt.Println()
	return nil
}

func metOr(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// csvSpeed times the CSV reader against pandas on the same files.
func csvSpeed(dir, logPath, python string) error {
	ref := filepath.Join(dir, "reference.csv")
	if err := writeReference(ref); err != nil {
		return err
	}
	fmt.Println("CSV reading, dataset.ReadCSVFile (uplift and ope) against pandas.read_csv (C parser), alternating, medians of 3:")
	for _, f := range []struct{ name, path, index string }{
		{"synthetic ope log", logPath, "0"},
		{"uplift reference data (causal.SimulateReference)", ref, "None"},
	} {
		var goT, pyT []float64
		var rows int
		for range 3 {
			start := time.Now()
			fr, err := dataset.ReadCSVFile(f.path)
			if err != nil {
				return err
			}
			goT = append(goT, time.Since(start).Seconds())
			rows = fr.Rows
			fr = nil
			if python == "" {
				continue
			}
			code := fmt.Sprintf("import time, pandas as pd\nt = time.perf_counter()\nd = pd.read_csv(%q, index_col=%s)\nprint(time.perf_counter() - t, len(d))", f.path, f.index)
			out, err := exec.Command(python, "-c", code).Output()
			if err != nil {
				return fmt.Errorf("pandas: %w", err)
			}
			fields := strings.Fields(string(out))
			t, err := strconv.ParseFloat(fields[0], 64)
			if err != nil {
				return err
			}
			pyT = append(pyT, t)
		}
		st, _ := os.Stat(f.path)
		line := fmt.Sprintf("  %s (%d rows, %.0f MB): ReadCSVFile %.2fs", f.name, rows, float64(st.Size())/1e6, median(goT))
		if python != "" {
			r := median(pyT) / median(goT)
			line += fmt.Sprintf(", pandas %.2fs: %.2fx (target >= 1x: %s)", median(pyT), r, metOr(r >= 1))
		}
		fmt.Println(line)
	}
	fmt.Println()
	return nil
}

// writeReference writes the uplift benchmark's reference data (1M rows)
// with that benchmark's own writer: go run ./bench/uplift -out.
func writeReference(path string) error {
	cmd := exec.Command("go", "run", "./bench/uplift", "-n", "1000000", "-out", path)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("write the uplift reference data: %w", err)
	}
	return nil
}

// obdCase is one Open Bandit Dataset evaluation: the policy eval estimated
// from the log of policy logged.
type obdCase struct{ campaign, logged, eval string }

func obd(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "random", "men", "men.csv")); err != nil {
		fmt.Printf("obd: the Open Bandit Dataset is not at %s (see docs/ope.md); skipped\n", dir)
		return nil
	}
	cases := []obdCase{{"men", "random", "bts"}, {"men", "bts", "random"}, {"women", "random", "bts"}, {"women", "bts", "random"}}
	// The All campaign's logs are in OBP's clone but not in every copy of
	// the small sample.
	_, errA := os.Stat(filepath.Join(dir, "random", "all", "all.csv"))
	_, errB := os.Stat(filepath.Join(dir, "bts", "all", "all.csv"))
	_, errP := os.Stat(filepath.Join(dir, "prior_bts", "all.csv"))
	if errA == nil && errB == nil && errP == nil {
		cases = append(cases, obdCase{"all", "random", "bts"}, obdCase{"all", "bts", "random"})
	}
	specs, err := ope.ParseSpecs(allEstimators)
	if err != nil {
		return err
	}
	fmt.Println("Open Bandit Dataset (small sample): estimates with 95% percentile intervals (1,000 resamples, seed 1),")
	fmt.Println("relative error |v - truth|/truth; truth = the evaluated policy's own log's click rate, 95% Wilson interval")
	allOverlap := true
	for _, c := range cases {
		l, pol, truth, tlo, thi, err := obdLoad(dir, c)
		if err != nil {
			return err
		}
		res, err := ope.Evaluate(l, pol, ope.Config{Estimators: specs, Resamples: 1000}, rand.NewPCG(1, 0x09e))
		if err != nil {
			return err
		}
		fmt.Printf("\n%s, %s policy estimated from the %s log: truth %.5f [%.5f, %.5f], logged %.5f, mean weight %.3f\n",
			c.campaign, c.eval, c.logged, truth, tlo, thi, res.LoggedValue, res.MeanWeight)
		fmt.Printf("  | estimator | estimate | 95%% interval | relative error | ESS | max weight |\n  |---|---|---|---|---|---|\n")
		for _, e := range res.Estimates {
			mark := ""
			if e.Estimator == ope.DR {
				overlap := e.CI[0] <= thi && tlo <= e.CI[1]
				allOverlap = allOverlap && overlap
				mark = " (overlaps the truth's interval: " + map[bool]string{true: "yes", false: "NO"}[overlap] + ")"
			}
			lam := ""
			if !math.IsNaN(e.Lambda) {
				lam = fmt.Sprintf(" λ=%g", e.Lambda)
			}
			fmt.Printf("  | %s%s | %.5f | [%.5f, %.5f]%s | %.3f | %.0f | %.4g |\n", e.Estimator, lam, e.Value, e.CI[0], e.CI[1], mark,
				math.Abs(e.Value-truth)/truth, e.ESS, e.MaxWeight)
		}
	}
	fmt.Printf("\ndr's 95%% interval overlaps the truth's in all %d cases: %s\n", len(cases), map[bool]string{true: "yes", false: "NO"}[allOverlap])
	// OBP's protocol: 30 bootstrap samples of the log.
	fmt.Println("\nOBP's protocol: mean (sd) relative error over 30 bootstrap samples of the log (no intervals):")
	fmt.Printf("  | case | %s |\n  |---|%s\n", strings.ReplaceAll(allEstimators, ",", " | "), strings.Repeat("---|", len(specs)))
	for _, c := range cases {
		l, pol, truth, _, _, err := obdLoad(dir, c)
		if err != nil {
			return err
		}
		errs := make([][]float64, len(specs))
		for b := range 30 {
			bl, bp := resampleLog(l, pol.(*ope.PositionPolicy), uint64(b))
			res, err := ope.Evaluate(bl, bp, ope.Config{Estimators: specs}, rand.NewPCG(uint64(b), 7))
			if err != nil {
				return err
			}
			for j, e := range res.Estimates {
				errs[j] = append(errs[j], math.Abs(e.Value-truth)/truth)
			}
		}
		line := fmt.Sprintf("  | %s, %s from %s |", c.campaign, c.eval, c.logged)
		for _, e := range errs {
			m, sd := stat.MeanStdDev(e, nil)
			line += fmt.Sprintf(" %.3f (%.3f) |", m, sd)
		}
		fmt.Println(line)
	}
	fmt.Println()
	return nil
}

// obdLoad reads a case's log and builds the evaluation policy: Bernoulli
// TS from the campaign's prior (100,000 draws, seed 1, as `causalrec ope
// policy`) or the uniform random policy; the truth is the evaluated
// policy's own log's click rate with its 95% Wilson interval.
func obdLoad(dir string, c obdCase) (*ope.Log, ope.Policy, float64, float64, float64, error) {
	fr, err := dataset.ReadCSVFile(filepath.Join(dir, c.logged, c.campaign, c.campaign+".csv"))
	if err != nil {
		return nil, nil, 0, 0, 0, err
	}
	bl, err := dataset.BuildBanditLog(fr, dataset.DefaultBanditSpec)
	if err != nil {
		return nil, nil, 0, 0, 0, err
	}
	l := &ope.Log{Actions: len(bl.Actions), Positions: len(bl.Positions), Action: bl.Action, Position: bl.Position,
		Reward: bl.Reward, PScore: bl.PScore, Context: bl.Context, Categorical: bl.Categorical}
	var prob [][]float64
	if c.eval == "bts" {
		pf, err := dataset.ReadCSVFile(filepath.Join(dir, "prior_bts", c.campaign+".csv"))
		if err != nil {
			return nil, nil, 0, 0, 0, err
		}
		al, _ := pf.Column("alpha")
		be, _ := pf.Column("beta")
		id, _ := pf.Column("item_id")
		for i, v := range id.Values {
			if strconv.FormatFloat(v, 'g', -1, 64) != bl.Actions[i] {
				return nil, nil, 0, 0, 0, fmt.Errorf("prior item %v is not the log's action %s", v, bl.Actions[i])
			}
		}
		if prob, err = ope.BernoulliTS(al.Values, be.Values, l.Positions, 100000, rand.NewPCG(1, 0xb75)); err != nil {
			return nil, nil, 0, 0, 0, err
		}
	} else {
		prob = make([][]float64, l.Positions)
		for k := range prob {
			prob[k] = make([]float64, l.Actions)
			for a := range prob[k] {
				prob[k][a] = 1 / float64(l.Actions)
			}
		}
	}
	pol, err := ope.NewPositionPolicy(l.Position, prob)
	if err != nil {
		return nil, nil, 0, 0, 0, err
	}
	tf, err := dataset.ReadCSVFile(filepath.Join(dir, c.eval, c.campaign, c.campaign+".csv"))
	if err != nil {
		return nil, nil, 0, 0, 0, err
	}
	clicks, _ := tf.Column("click")
	var k float64
	for _, v := range clicks.Values {
		k += v
	}
	nt := float64(tf.Rows)
	p := k / nt
	// Wilson score interval.
	z := 1.959963984540054
	centre := (p + z*z/(2*nt)) / (1 + z*z/nt)
	half := z / (1 + z*z/nt) * math.Sqrt(p*(1-p)/nt+z*z/(4*nt*nt))
	return l, pol, p, centre - half, centre + half, nil
}

// resampleLog draws a bootstrap sample of the log's rows (seed b), as
// OBP's sample_bootstrap_bandit_feedback.
func resampleLog(l *ope.Log, pol *ope.PositionPolicy, b uint64) (*ope.Log, ope.Policy) {
	n := l.Rows()
	rng := rand.New(rand.NewPCG(b, 0xb00))
	_, p := l.Context.Dims()
	out := &ope.Log{Actions: l.Actions, Positions: l.Positions, Action: make([]int32, n), Position: make([]int32, n),
		Reward: make([]float64, n), PScore: make([]float64, n), Categorical: l.Categorical}
	rows := make([]int, n)
	for i := range rows {
		rows[i] = rng.IntN(n)
	}
	ctx := make([]float64, 0, n*p)
	for i, r := range rows {
		out.Action[i], out.Position[i], out.Reward[i], out.PScore[i] = l.Action[r], l.Position[r], l.Reward[r], l.PScore[r]
		ctx = append(ctx, l.Context.RawRowView(r)...)
	}
	out.Context = mat.NewDense(n, p, ctx)
	prob := make([][]float64, l.Positions)
	for k := range prob {
		prob[k] = make([]float64, l.Actions)
		acts, ps := pol.Dist(firstAt(l, k))
		for t, a := range acts {
			prob[k][a] = ps[t]
		}
	}
	np, _ := ope.NewPositionPolicy(out.Position, prob)
	return out, np
}

// firstAt returns the first row of the log at position k.
func firstAt(l *ope.Log, k int) int {
	for i, p := range l.Position {
		if int(p) == k {
			return i
		}
	}
	return 0
}
