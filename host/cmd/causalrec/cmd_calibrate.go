package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/causal/plot"
	"github.com/causalrec/causalrec/host/dataset"
	"github.com/causalrec/causalrec/plugins"
)

func upliftCalibrate(_ context.Context, s stdio, args []string) error {
	fs := newFlags(s, "uplift calibrate", "--data FILE --treatment COL --outcome COL --score COL [flags]",
		"Checks uplift scores against a randomised experiment (or data with known propensities):\n"+
			"are they right in size, not only in order? Prints JSON with\n"+
			"  blp: grf's test_calibration, the fit of y − m̂(x) on (w − ê)·mean(τ̂) and (w − ê)(τ̂ − mean τ̂)\n"+
			"       without intercept, HC3 standard errors, one-sided p-values against 0: mean.coef = 1 means\n"+
			"       the average effect is right, differential.coef = 1 that the spread is right, > 0 that the\n"+
			"       scores find real heterogeneity;\n"+
			"  bins: score quantile bins, predicted = mean score, observed = mean AIPW score with its interval;\n"+
			"  calibration_r2: EconML DRTester's calibration R² of the bins;\n"+
			"  rate: grf's rank-weighted average treatment effect of the scores as a priority (AUTOC and\n"+
			"       Qini weighting) with half-sample bootstrap intervals.\n"+
			"The outcome models behind m̂ and the AIPW scores are cross-fitted on --features (default: every\n"+
			"other column but the treatment, outcome, score and propensity; leave out columns measured after\n"+
			"treatment). The propensity is the treated share unless --propensity is given. See docs/estimators.md.")
	data := fs.String("data", "", "CSV file with treatment, outcome and score columns")
	treatment := fs.String("treatment", "", "treatment column")
	outcome := fs.String("outcome", "", "outcome column (numeric)")
	score := fs.String("score", "", "score column: the predicted effect of each row")
	control := fs.String("control", "0", "treatment value of the control arm")
	treated := fs.String("treated", "", "treated arm compared with control when the column has more than two values; other rows are left out")
	propensity := fs.String("propensity", "", "column of propensities P(arm received | x), as in uplift fit (default: the arms' shares)")
	features := fs.String("features", "", "comma-separated feature columns of the outcome models")
	outcomeModel := fs.String("outcome-model", "linear", "learner of the outcome models: linear, gbt, forest or mlp, with :name=value parameters")
	folds := fs.Int("folds", causal.DefaultFolds, "cross-fitting folds of the outcome models")
	bins := fs.Int("bins", 10, "score quantile bins")
	resamples := fs.Int("bootstrap", 1000, "half-samples of the RATE standard errors")
	level := fs.Float64("level", 0.95, "confidence level of the intervals")
	seed := fs.Uint64("seed", 1, "seed of the folds, the outcome models and the half-samples")
	plotPath := fs.String("plot", "", "draw the bins against the diagonal of perfect calibration (.svg or .png)")
	bf := addBalanceFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *treatment == "" || *outcome == "" || *score == "":
		return usageErr("--treatment, --outcome and --score are required")
	case fs.NArg() > 0:
		return usageErr("unexpected arguments %q", fs.Args())
	case *bins < 1:
		return usageErr("--bins must be at least 1")
	case *resamples < 2:
		return usageErr("--bootstrap must be at least 2")
	case *folds < 2:
		return usageErr("--folds must be at least 2")
	case !(*level > 0 && *level < 1):
		return usageErr("--level must be in (0, 1)")
	}
	var format plot.Format
	if *plotPath != "" {
		var err error
		if format, err = plotFormat("plot", *plotPath); err != nil {
			return err
		}
	}
	learner, err := registryLearner(*outcomeModel)
	if err != nil {
		return usageErr("--outcome-model: %v", err)
	}
	fr, err := readFrame(*data)
	if err != nil {
		return err
	}
	t, err := dataset.Binary(fr, *treatment, *control, *treated)
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	num := func(role, name string) (*dataset.Column, error) {
		c, ok := fr.Column(name)
		if !ok {
			return nil, fmt.Errorf("%s: %s column %q not found (columns: %s)", *data, role, name, strings.Join(fr.Names(), ", "))
		}
		if !c.Numeric {
			return nil, fmt.Errorf("%s: %s column %q is not numeric (for example %q at line %d)", *data, role, name, c.String(0), fr.Lines[0])
		}
		return c, nil
	}
	yc, err := num("outcome", *outcome)
	if err != nil {
		return err
	}
	sc, err := num("score", *score)
	if err != nil {
		return err
	}
	var pc *dataset.Column
	if *propensity != "" {
		if pc, err = num("propensity", *propensity); err != nil {
			return err
		}
		for _, v := range t {
			if v < 0 {
				return fmt.Errorf("%s: with --propensity the data must hold only the control and the treated arm", *data)
			}
		}
	}
	roles := []string{*treatment, *outcome, *score, *propensity}
	var feats []*dataset.Column
	if names := splitList(*features); len(names) > 0 {
		for _, name := range names {
			c, ok := fr.Column(name)
			if !ok {
				return fmt.Errorf("%s: feature column %q not found (columns: %s)", *data, name, strings.Join(fr.Names(), ", "))
			}
			if slices.Contains(roles, name) {
				return usageErr("column %q cannot be both a feature and the treatment, outcome, score or propensity", name)
			}
			feats = append(feats, c)
		}
	} else {
		for j, c := range fr.Columns {
			if !slices.Contains(roles, c.Name) && !(j == 0 && c.Name == "") {
				feats = append(feats, c)
			}
		}
	}
	var d causal.CalibrationData
	var rows []int
	for i, v := range t {
		if v >= 0 {
			rows = append(rows, i)
		}
	}
	if left := len(t) - len(rows); left > 0 {
		fmt.Fprintf(s.err, "left out %d rows of other arms\n", left)
	}
	if len(feats) > 0 {
		d.X = mat.NewDense(len(rows), len(feats), nil)
		d.Categorical = make([]bool, len(feats))
		for j, c := range feats {
			d.Categorical[j] = !c.Numeric
			for r, i := range rows {
				if c.Numeric {
					d.X.Set(r, j, c.Values[i])
				} else {
					d.X.Set(r, j, float64(c.Codes[i]))
				}
			}
		}
	}
	var received []float64 // P(arm received | x), as the balance check reads propensities
	for _, i := range rows {
		d.T = append(d.T, t[i])
		d.Y = append(d.Y, yc.Values[i])
		d.Score = append(d.Score, sc.Values[i])
		if pc != nil {
			p := pc.Values[i]
			if !(p > 0 && p < 1) {
				return fmt.Errorf("%s: line %d: propensity %v is outside (0, 1)", *data, fr.Lines[i], p)
			}
			received = append(received, p)
			if t[i] == 0 {
				p = 1 - p
			}
			d.Propensity = append(d.Propensity, p)
		}
	}
	if len(feats) > 0 {
		// The outcome models must not see columns measured after
		// treatment: the same balance check as uplift fit runs.
		if err := calibrationBalance(s, bf, d, feats, received, *treatment, *outcome, *control, *treated); err != nil {
			return err
		}
	}
	c, err := causal.Calibrate(d, causal.CalibrationConfig{Bins: *bins, Resamples: *resamples, Level: *level, Folds: *folds, Learner: learner}, rand.NewPCG(*seed, 0xca1))
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	var img bytes.Buffer
	if *plotPath != "" {
		pb := make([]plot.Bin, len(c.Bins))
		for i, b := range c.Bins {
			pb[i] = plot.Bin{Predicted: b.Predicted, Observed: b.Observed, Lo: b.CI[0], Hi: b.CI[1]}
			if math.IsNaN(b.CI[0]) {
				pb[i].Lo, pb[i].Hi = b.Observed, b.Observed
			}
		}
		blp := fmt.Sprintf("differential %.2f [%.2f, %.2f], calibration R² %.2f", c.Differential.Coef, c.Differential.CI[0], c.Differential.CI[1], c.R2)
		if err := plot.WriteCalibration(&img, format, *score, blp, *level, pb); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(calibrationJSON(c), "", "  ")
	if err != nil {
		return err
	}
	if *plotPath != "" {
		if err := writeFileAtomic(*plotPath, img.Bytes()); err != nil {
			return err
		}
	}
	_, err = s.out.Write(append(b, '\n'))
	return err
}

// calibrationBalance runs the balance check of uplift fit on the outcome
// models' features.
func calibrationBalance(s stdio, bf balanceFlags, d causal.CalibrationData, feats []*dataset.Column, received []float64, treatment, outcome, control, treated string) error {
	if treated == "" {
		treated = "treated"
	}
	schema := dataset.Schema{Treatment: treatment, Outcome: outcome, Arms: []string{control, treated}}
	for _, c := range feats {
		schema.Features = append(schema.Features, dataset.SchemaFeature{Name: c.Name, Categorical: !c.Numeric, Levels: c.Levels})
	}
	req := plugins.FitRequest{Features: schema.PluginFeatures(), Arms: schema.Arms, X: d.X.RawMatrix().Data, Arm: d.T, Outcome: d.Y, Propensity: received}
	_, err := checkBalance(s, req, schema, bf)
	return err
}

// registryLearner builds a base learner of causal's registry from a spec
// name[:k=v...].
func registryLearner(spec string) (causal.Learner, error) {
	name, params, err := parseLearnerSpec(spec)
	if err != nil {
		return nil, err
	}
	f, ok := causal.NewRegistry().Learners[name]
	if !ok {
		return nil, fmt.Errorf("unknown learner %q (linear, gbt, forest or mlp)", name)
	}
	p := causal.NewParams(params)
	l, err := f(p)
	if err != nil {
		return nil, err
	}
	if un := p.Unread(); len(un) > 0 {
		return nil, fmt.Errorf("%s does not take %s", name, strings.Join(un, ", "))
	}
	return l, nil
}

// calibrationJSON is the JSON form of a calibration, in the order of the
// issue's example.
func calibrationJSON(c *causal.Calibration) any {
	type coefJSON struct {
		Coef   any `json:"coef"`
		CI     ci  `json:"ci"`
		PValue any `json:"p_value"`
		SE     any `json:"se"`
	}
	type binJSON struct {
		Lo        any `json:"lo"`
		Hi        any `json:"hi"`
		N         int `json:"n"`
		Predicted any `json:"predicted"`
		Observed  any `json:"observed"`
		CI        ci  `json:"ci"`
	}
	type rateJSON struct {
		Value any `json:"value"`
		CI    ci  `json:"ci"`
		SE    any `json:"se"`
	}
	coef := func(b causal.BLPCoef) coefJSON {
		return coefJSON{jsonFloat(b.Coef), ci{jsonFloat(b.CI[0]), jsonFloat(b.CI[1])}, jsonFloat(b.PValue), jsonFloat(b.SE)}
	}
	rate := func(r causal.RATEEstimate) rateJSON {
		return rateJSON{jsonFloat(r.Value), ci{jsonFloat(r.CI[0]), jsonFloat(r.CI[1])}, jsonFloat(r.SE)}
	}
	bins := make([]binJSON, len(c.Bins))
	for i, b := range c.Bins {
		bins[i] = binJSON{jsonFloat(b.Lo), jsonFloat(b.Hi), b.N, jsonFloat(b.Predicted), jsonFloat(b.Observed), ci{jsonFloat(b.CI[0]), jsonFloat(b.CI[1])}}
	}
	return struct {
		BLP struct {
			Mean         coefJSON `json:"mean"`
			Differential coefJSON `json:"differential"`
		} `json:"blp"`
		Bins          []binJSON `json:"bins"`
		CalibrationR2 any       `json:"calibration_r2"`
		RATE          struct {
			AUTOC rateJSON `json:"autoc"`
			Qini  rateJSON `json:"qini"`
		} `json:"rate"`
		N   int `json:"n"`
		ATE any `json:"ate"`
	}{
		BLP: struct {
			Mean         coefJSON `json:"mean"`
			Differential coefJSON `json:"differential"`
		}{coef(c.Mean), coef(c.Differential)},
		Bins: bins, CalibrationR2: jsonFloat(c.R2),
		RATE: struct {
			AUTOC rateJSON `json:"autoc"`
			Qini  rateJSON `json:"qini"`
		}{rate(c.AUTOC), rate(c.Qini)},
		N: c.N, ATE: jsonFloat(c.ATE),
	}
}
