package dataset

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/causalrec/causalrec/plugins"
)

// Spec says which columns of a frame play which role.
type Spec struct {
	Treatment string
	Outcome   string
	// Control is the treatment value of the control arm.
	Control string
	// Treated, when set, keeps only these treated arms; rows of other
	// arms are dropped (and counted in Summary.Dropped).
	Treated []string
	// Features lists the feature columns; empty means every other column.
	Features []string
	// Weight and Propensity optionally name columns of sample weights and
	// logged propensities.
	Weight, Propensity string
}

// SchemaFeature describes how one feature column is encoded.
type SchemaFeature struct {
	Name        string   `json:"name"`
	Categorical bool     `json:"categorical,omitempty"`
	Levels      []string `json:"levels,omitempty"`
}

// Schema records how training data was encoded, so that data to predict
// on is encoded the same way.
type Schema struct {
	Features  []SchemaFeature `json:"features"`
	Arms      []string        `json:"arms"`
	Treatment string          `json:"treatment"`
	Outcome   string          `json:"outcome"`
}

// PluginFeatures returns the features in the plugin SDK's form.
func (s Schema) PluginFeatures() []plugins.Feature {
	out := make([]plugins.Feature, len(s.Features))
	for i, f := range s.Features {
		out[i] = plugins.Feature{Name: f.Name, Kind: plugins.Numeric}
		if f.Categorical {
			out[i].Kind, out[i].Levels = plugins.Categorical, f.Levels
		}
	}
	return out
}

// Summary counts what BuildFit used.
type Summary struct {
	Rows    int
	Used    int
	Dropped int
	// ArmRows counts the used rows per arm, in Schema.Arms order.
	ArmRows []int
	// Arms lists every treatment value found with its row count, kept or not.
	Found map[string]int
}

// BuildFit turns a frame into a fit request.
func BuildFit(f *Frame, s Spec) (plugins.FitRequest, Schema, Summary, error) {
	var sum Summary
	tc, ok := f.Column(s.Treatment)
	if !ok {
		return plugins.FitRequest{}, Schema{}, sum, fmt.Errorf("treatment column %q not found (columns: %s)", s.Treatment, strings.Join(f.Names(), ", "))
	}
	oc, ok := f.Column(s.Outcome)
	if !ok {
		return plugins.FitRequest{}, Schema{}, sum, fmt.Errorf("outcome column %q not found (columns: %s)", s.Outcome, strings.Join(f.Names(), ", "))
	}
	if !oc.Numeric {
		return plugins.FitRequest{}, Schema{}, sum, fmt.Errorf("outcome column %q is not numeric (for example %q at line %d)", s.Outcome, oc.String(0), f.Lines[0])
	}
	values, counts := tc.Distinct()
	sum.Rows, sum.Found = f.Rows, map[string]int{}
	for i, v := range values {
		sum.Found[v] = counts[i]
	}
	controlIdx := -1
	for i, v := range values {
		if sameValue(tc, v, s.Control) {
			controlIdx = i
		}
	}
	if controlIdx < 0 {
		return plugins.FitRequest{}, Schema{}, sum, fmt.Errorf("control value %q not found in treatment column %q (values: %s); set it with --control", s.Control, s.Treatment, strings.Join(values, ", "))
	}
	arms := []string{values[controlIdx]}
	for i, v := range values {
		if i == controlIdx {
			continue
		}
		if len(s.Treated) > 0 && !slices.Contains(s.Treated, v) {
			continue
		}
		arms = append(arms, v)
	}
	for _, t := range s.Treated {
		if !slices.Contains(values, t) {
			return plugins.FitRequest{}, Schema{}, sum, fmt.Errorf("treated value %q not found in treatment column %q (values: %s)", t, s.Treatment, strings.Join(values, ", "))
		}
	}
	if len(arms) < 2 {
		return plugins.FitRequest{}, Schema{}, sum, fmt.Errorf("treatment column %q has no treated arm besides control %q", s.Treatment, s.Control)
	}
	feats, err := featureColumns(f, s)
	if err != nil {
		return plugins.FitRequest{}, Schema{}, sum, err
	}
	schema := Schema{Arms: arms, Treatment: s.Treatment, Outcome: s.Outcome}
	for _, c := range feats {
		sf := SchemaFeature{Name: c.Name}
		if !c.Numeric {
			sf.Categorical, sf.Levels = true, append([]string(nil), c.Levels...)
		}
		schema.Features = append(schema.Features, sf)
	}
	armOf := map[string]int{}
	for k, a := range arms {
		armOf[a] = k
	}
	var wc, pc *Column
	if s.Weight != "" {
		if wc, ok = f.Column(s.Weight); !ok || !wc.Numeric {
			return plugins.FitRequest{}, Schema{}, sum, fmt.Errorf("weight column %q not found or not numeric", s.Weight)
		}
	}
	if s.Propensity != "" {
		if pc, ok = f.Column(s.Propensity); !ok || !pc.Numeric {
			return plugins.FitRequest{}, Schema{}, sum, fmt.Errorf("propensity column %q not found or not numeric", s.Propensity)
		}
	}
	req := plugins.FitRequest{Arms: arms, Features: schema.PluginFeatures()}
	req.X = make([]float64, 0, f.Rows*len(feats))
	sum.ArmRows = make([]int, len(arms))
	for i := 0; i < f.Rows; i++ {
		k, ok := armOf[tc.String(i)]
		if !ok {
			sum.Dropped++
			continue
		}
		if wc != nil && (wc.Values[i] < 0) {
			return plugins.FitRequest{}, Schema{}, sum, fmt.Errorf("line %d: weight %v is negative", f.Lines[i], wc.Values[i])
		}
		if pc != nil && (pc.Values[i] <= 0 || pc.Values[i] > 1) {
			return plugins.FitRequest{}, Schema{}, sum, fmt.Errorf("line %d: propensity %v is outside (0, 1]", f.Lines[i], pc.Values[i])
		}
		for _, c := range feats {
			if c.Numeric {
				req.X = append(req.X, c.Values[i])
			} else {
				req.X = append(req.X, float64(c.Codes[i]))
			}
		}
		req.Arm = append(req.Arm, k)
		req.Outcome = append(req.Outcome, oc.Values[i])
		if wc != nil {
			req.Weight = append(req.Weight, wc.Values[i])
		}
		if pc != nil {
			req.Propensity = append(req.Propensity, pc.Values[i])
		}
		sum.ArmRows[k]++
		sum.Used++
	}
	for k, n := range sum.ArmRows {
		if n == 0 {
			return plugins.FitRequest{}, Schema{}, sum, fmt.Errorf("arm %q has no rows", arms[k])
		}
	}
	return req, schema, sum, nil
}

// sameValue reports whether the texts a and b denote the same value of c:
// numerically for a numeric column, exactly otherwise.
func sameValue(c *Column, a, b string) bool {
	if !c.Numeric {
		return a == b
	}
	x, errx := strconv.ParseFloat(strings.TrimSpace(a), 64)
	y, erry := strconv.ParseFloat(strings.TrimSpace(b), 64)
	return errx == nil && erry == nil && x == y
}

// featureColumns returns the feature columns of s, by default every column
// other than the roles'.
func featureColumns(f *Frame, s Spec) ([]*Column, error) {
	roles := []string{s.Treatment, s.Outcome, s.Weight, s.Propensity}
	var out []*Column
	if len(s.Features) == 0 {
		for _, c := range f.Columns {
			if !slices.Contains(roles, c.Name) {
				out = append(out, c)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no feature columns: the data has only %s", strings.Join(f.Names(), ", "))
		}
		return out, nil
	}
	for _, name := range s.Features {
		c, ok := f.Column(name)
		if !ok {
			return nil, fmt.Errorf("feature column %q not found (columns: %s)", name, strings.Join(f.Names(), ", "))
		}
		if slices.Contains(roles, name) {
			return nil, fmt.Errorf("column %q cannot be both a feature and the treatment, outcome, weight or propensity", name)
		}
		out = append(out, c)
	}
	return out, nil
}

// Matrix encodes the schema's feature columns of f, row-major. A category
// level not seen in training is encoded as the first training level and
// counted in unknown; a feature that was numeric in training must be
// numeric here.
func (s Schema) Matrix(f *Frame) (x []float64, unknown int, err error) {
	cols := make([]*Column, len(s.Features))
	maps := make([]map[string]int, len(s.Features))
	for j, sf := range s.Features {
		c, ok := f.Column(sf.Name)
		if !ok {
			return nil, 0, fmt.Errorf("feature column %q of the model is missing (columns: %s)", sf.Name, strings.Join(f.Names(), ", "))
		}
		if !sf.Categorical && !c.Numeric {
			return nil, 0, fmt.Errorf("feature column %q was numeric in training but holds text such as %q", sf.Name, c.Levels[0])
		}
		cols[j] = c
		if sf.Categorical {
			maps[j] = make(map[string]int, len(sf.Levels))
			for k, l := range sf.Levels {
				maps[j][l] = k
			}
		}
	}
	x = make([]float64, 0, f.Rows*len(cols))
	for i := 0; i < f.Rows; i++ {
		for j, c := range cols {
			if !s.Features[j].Categorical {
				x = append(x, c.Values[i])
				continue
			}
			k, ok := maps[j][c.String(i)]
			if !ok {
				unknown++
			}
			x = append(x, float64(k))
		}
	}
	return x, unknown, nil
}

// Binary returns 1 for rows whose treatment is treated, 0 for control and
// an error naming the line for any other value. With treated empty, the
// column must hold exactly two values.
func Binary(f *Frame, treatment, control, treated string) ([]int, error) {
	tc, ok := f.Column(treatment)
	if !ok {
		return nil, fmt.Errorf("treatment column %q not found (columns: %s)", treatment, strings.Join(f.Names(), ", "))
	}
	values, _ := tc.Distinct()
	if treated == "" {
		var others []string
		for i := range values {
			if !sameValue(tc, values[i], control) {
				others = append(others, values[i])
			}
		}
		if len(others) != 1 {
			return nil, fmt.Errorf("treatment column %q has values %s: evaluation compares one treated arm with control %q, so name the arm with --treated (rows of other arms are then left out)", treatment, strings.Join(values, ", "), control)
		}
		treated = others[0]
	}
	out := make([]int, f.Rows)
	seenControl := false
	for i := 0; i < f.Rows; i++ {
		switch {
		case tc.Equal(i, control):
			out[i] = 0
			seenControl = true
		case tc.Equal(i, treated):
			out[i] = 1
		default:
			out[i] = -1
		}
	}
	if !seenControl {
		return nil, fmt.Errorf("control value %q not found in treatment column %q (values: %s)", control, treatment, strings.Join(values, ", "))
	}
	return out, nil
}
