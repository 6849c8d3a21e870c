// Command hillstrom compares causalrec's uplift estimators on the Hillstrom
// MineThatData e-mail data (Womens E-Mail against No E-Mail, outcome
// visit) with a scikit-learn two-model baseline on the same split.
//
// The 42,693 rows of the two arms (in file order) are split 50/50 by
// position: even positions train, odd positions test. Every estimator is
// fitted on the train half and ranks the test half; the Qini coefficient
// (scikit-uplift's qini_auc_score, see docs/estimators.md), CausalML's
// normalised Qini and uplift at 30% are computed on the test half with 95%
// percentile bootstrap intervals (causal.NewUpliftReport, 200 resamples).
// The scikit-learn side (sklearn_two_model.py, run with -python) fits
// HistGradientBoostingClassifier and LogisticRegression T-learners on the
// same train rows; its test scores are evaluated by the same Go code.
//
// Features: recency, history, mens, womens, newbie, zip_code one-hot
// (Urban, Surburban, Rural), channel one-hot (Phone, Web, Multichannel).
//
// Usage (from the repository root):
//
//	go run ./bench/uplift/hillstrom [-data ../shared/data/hillstrom/hillstrom.csv] [-python /usr/bin/python3]
package main

import (
	"bufio"
	_ "embed"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/causalrec/causalrec/causal"
	"gonum.org/v1/gonum/mat"
)

//go:embed sklearn_two_model.py
var script []byte

var featureNames = []string{"recency", "history", "mens", "womens", "newbie",
	"zip_urban", "zip_surburban", "zip_rural", "channel_phone", "channel_web", "channel_multichannel"}

func main() {
	data := flag.String("data", "../shared/data/hillstrom/hillstrom.csv", "hillstrom.csv")
	python := flag.String("python", "/usr/bin/python3", "python with numpy and scikit-learn (empty to skip)")
	list := flag.String("estimators", "t/linear,t/gbt,x/linear,x/gbt,dr/linear,dr/gbt,r/linear,s/gbt,uplift-forest,causal-forest,auto",
		"comma-separated estimators: name or name/base, as in auto's candidates")
	flag.Parse()
	if err := run(*data, *python, strings.Split(*list, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "hillstrom:", err)
		os.Exit(1)
	}
}

type split struct {
	train, test causal.UpliftData
}

func load(path string) (split, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return split{}, fmt.Errorf("hillstrom data not found at %s (it is not part of the repository; see docs/estimators.md): %w", path, err)
	}
	if err != nil {
		return split{}, err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	head, err := r.Read()
	if err != nil {
		return split{}, fmt.Errorf("%s: header: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	for _, c := range []string{"recency", "history", "mens", "womens", "newbie", "zip_code", "channel", "segment", "visit"} {
		if _, ok := col[c]; !ok {
			return split{}, fmt.Errorf("%s: no column %q", path, c)
		}
	}
	var s split
	var xs [2][]float64
	pos := 0
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return split{}, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		var t int
		switch rec[col["segment"]] {
		case "Womens E-Mail":
			t = 1
		case "No E-Mail":
			t = 0
		default:
			continue
		}
		row := make([]float64, 0, len(featureNames))
		for _, c := range []string{"recency", "history", "mens", "womens", "newbie"} {
			v, err := strconv.ParseFloat(rec[col[c]], 64)
			if err != nil {
				return split{}, fmt.Errorf("%s line %d: %s: %w", path, line, c, err)
			}
			row = append(row, v)
		}
		for _, z := range []string{"Urban", "Surburban", "Rural"} {
			row = append(row, b2f(rec[col["zip_code"]] == z))
		}
		for _, c := range []string{"Phone", "Web", "Multichannel"} {
			row = append(row, b2f(rec[col["channel"]] == c))
		}
		y, err := strconv.ParseFloat(rec[col["visit"]], 64)
		if err != nil {
			return split{}, fmt.Errorf("%s line %d: visit: %w", path, line, err)
		}
		d := &s.train
		if pos%2 == 1 {
			d = &s.test
		}
		xs[pos%2] = append(xs[pos%2], row...)
		d.Treatment = append(d.Treatment, t)
		d.Y = append(d.Y, y)
		pos++
	}
	p := len(featureNames)
	s.train.X = mat.NewDense(len(s.train.Y), p, xs[0])
	s.test.X = mat.NewDense(len(s.test.Y), p, xs[1])
	s.train.Arms, s.test.Arms = 1, 1
	return s, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func run(path, python string, names []string) error {
	s, err := load(path)
	if err != nil {
		return err
	}
	fmt.Printf("Hillstrom Womens E-Mail vs No E-Mail, outcome visit: %d train rows, %d test rows\n", len(s.train.Y), len(s.test.Y))
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "estimator\tQini\t95%% CI\tQini (CausalML)\t95%% CI\tuplift@30%%\tfit s\t\n")
	report := func(name string, score []float64, secs float64) error {
		rep, err := causal.NewUpliftReport(score, s.test.Treatment, s.test.Y, nil, causal.Bootstrap{}, rand.NewPCG(1, 2))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(w, "%s\t%.4f\t[%.4f, %.4f]\t%.4f\t[%.4f, %.4f]\t%.4f\t%.2f\t\n", name, rep.Qini, rep.QiniCI.Lo, rep.QiniCI.Hi,
			rep.QiniCausalML, rep.QiniCausalMLCI.Lo, rep.QiniCausalMLCI.Hi, rep.UpliftAt30, secs)
		return nil
	}
	reg := causal.NewRegistry()
	for _, name := range names {
		c, err := causal.ParseAutoCandidate(name)
		if err != nil {
			return err
		}
		c.Params["seed"] = "1"
		est, err := reg.NewEstimator(c.Estimator, c.Params)
		if err != nil {
			return err
		}
		start := time.Now()
		m, err := est.FitUplift(s.train, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		secs := time.Since(start).Seconds()
		if am, ok := m.(*causal.AutoModel); ok {
			fmt.Fprintf(os.Stderr, "auto: %s\n", am.Report()["auto_reason"])
			name += " (" + am.Chosen + ")"
		}
		eff := m.Effects(nil, s.test.X)
		if err := report(name, mat.Col(nil, 0, eff), secs); err != nil {
			return err
		}
	}
	if python != "" {
		if err := runPython(python, s, report); err != nil {
			return err
		}
	}
	return w.Flush()
}

func runPython(python string, s split, report func(string, []float64, float64) error) error {
	dir, err := os.MkdirTemp("", "hillstrom")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	feats := filepath.Join(dir, "features.csv")
	if err := writeFeatures(feats, s); err != nil {
		return err
	}
	sp := filepath.Join(dir, "sklearn_two_model.py")
	if err := os.WriteFile(sp, script, 0o644); err != nil {
		return err
	}
	scores := filepath.Join(dir, "scores.csv")
	cmd := exec.Command(python, sp, feats, scores)
	cmd.Stderr = os.Stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("scikit-learn side (%s): %w", python, err)
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(os.Stderr, "scikit-learn side: %s", out)
	f, err := os.Open(scores)
	if err != nil {
		return err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return err
	}
	if len(recs) != len(s.test.Y)+1 {
		return fmt.Errorf("scikit-learn side wrote %d scores for %d test rows", len(recs)-1, len(s.test.Y))
	}
	for j, name := range recs[0] {
		score := make([]float64, len(recs)-1)
		for i, rec := range recs[1:] {
			if score[i], err = strconv.ParseFloat(rec[j], 64); err != nil {
				return fmt.Errorf("scores line %d: %w", i+2, err)
			}
		}
		// The time covers both of the script's models and the CSV I/O.
		if err := report("sklearn "+name+" T-learner", score, secs); err != nil {
			return err
		}
	}
	return nil
}

func writeFeatures(path string, s split) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write(append([]string{"split", "t", "y"}, featureNames...))
	for _, part := range []struct {
		name string
		d    causal.UpliftData
	}{{"train", s.train}, {"test", s.test}} {
		n, p := part.d.X.Dims()
		for i := 0; i < n; i++ {
			rec := []string{part.name, strconv.Itoa(part.d.Treatment[i]), strconv.FormatFloat(part.d.Y[i], 'g', -1, 64)}
			for j := 0; j < p; j++ {
				rec = append(rec, strconv.FormatFloat(part.d.X.At(i, j), 'g', -1, 64))
			}
			w.Write(rec)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
