package receval

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// ErrInput reports invalid input data: a malformed CSV line, a NaN, a
// propensity outside [0, 1], mismatched feature columns. Check with
// errors.Is.
var ErrInput = errors.New("invalid input")

// The columns every log file has. Every other column but ColTau is a
// numeric feature.
const (
	ColUser       = "user"
	ColItem       = "item"
	ColTreated    = "treated"
	ColPropensity = "propensity"
	ColOutcome    = "outcome"
	// ColTau is the optional ground-truth effect column.
	ColTau = "tau"
)

// Log is one period of logged recommendations: one row per user–item pair.
type Log struct {
	// Users and Items are the distinct ids in order of first appearance.
	Users, Items []string
	// User and Item index Users and Items for each row.
	User, Item []int
	// Treated is 1 when the item was recommended to the user, else 0.
	Treated []int
	// Propensity is the logging policy's probability P(treated = 1) of
	// the row, whatever its arm.
	Propensity []float64
	// Outcome is the observed outcome.
	Outcome []float64
	// Tau is the true effect of treatment on the outcome's expectation,
	// E[Y(1) − Y(0)], or nil when unknown.
	Tau []float64
	// FeatureNames names the columns of X.
	FeatureNames []string
	// X holds the features, one row per log row; nil when there are none.
	X *mat.Dense
}

// Len returns the number of rows.
func (l *Log) Len() int { return len(l.User) }

// Validate checks the lengths and values of l: equal lengths, ids in
// range, treated in {0, 1}, finite outcomes, features and effects, and
// propensities in [0, 1] that do not make the received arm impossible.
func (l *Log) Validate() error {
	n := len(l.User)
	switch {
	case len(l.Item) != n || len(l.Treated) != n || len(l.Propensity) != n || len(l.Outcome) != n:
		return fmt.Errorf("%w: log columns have different lengths", ErrInput)
	case l.Tau != nil && len(l.Tau) != n:
		return fmt.Errorf("%w: tau has %d rows, want %d", ErrInput, len(l.Tau), n)
	}
	if l.X != nil {
		r, c := l.X.Dims()
		if r != n || c != len(l.FeatureNames) {
			return fmt.Errorf("%w: features are %d×%d, want %d×%d", ErrInput, r, c, n, len(l.FeatureNames))
		}
	} else if len(l.FeatureNames) != 0 {
		return fmt.Errorf("%w: %d feature names but no features", ErrInput, len(l.FeatureNames))
	}
	for i := range n {
		if l.User[i] < 0 || l.User[i] >= len(l.Users) || l.Item[i] < 0 || l.Item[i] >= len(l.Items) {
			return fmt.Errorf("%w: row %d: user or item index out of range", ErrInput, i)
		}
		if err := checkRow(l.Treated[i], l.Propensity[i], l.Outcome[i]); err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
		if l.Tau != nil && !finite(l.Tau[i]) {
			return fmt.Errorf("%w: row %d: tau %v is not finite", ErrInput, i, l.Tau[i])
		}
	}
	if l.X != nil {
		for _, v := range l.X.RawMatrix().Data {
			if !finite(v) {
				return fmt.Errorf("%w: feature value %v is not finite", ErrInput, v)
			}
		}
	}
	return nil
}

func checkRow(t int, p, y float64) error {
	switch {
	case t != 0 && t != 1:
		return fmt.Errorf("%w: treated %d is not 0 or 1", ErrInput, t)
	case !(p >= 0 && p <= 1):
		return fmt.Errorf("%w: propensity %v is not in [0, 1]", ErrInput, p)
	case t == 1 && p == 0:
		return fmt.Errorf("%w: treated row with propensity 0", ErrInput)
	case t == 0 && p == 1:
		return fmt.Errorf("%w: untreated row with propensity 1", ErrInput)
	case !finite(y):
		return fmt.Errorf("%w: outcome %v is not finite", ErrInput, y)
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// ReadCSV reads a log from CSV with a header row. The header must name
// user, item, treated, propensity and outcome (in any order); tau is
// optional; every other column is a numeric feature. Ids are strings;
// treated is 0 or 1 (or false/true); the other values are finite numbers.
// A malformed line gives an error that wraps ErrInput and names the line.
func ReadCSV(r io.Reader) (*Log, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: empty file, want a header row", ErrInput)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: line 1: %v", ErrInput, err)
	}
	head = slices.Clone(head)
	col := map[string]int{}
	for j, h := range head {
		h = strings.TrimSpace(h)
		if j == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		if h == "" {
			return nil, fmt.Errorf("%w: line 1: column %d has an empty name", ErrInput, j+1)
		}
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("%w: line 1: column %q appears twice", ErrInput, h)
		}
		col[h] = j
		head[j] = h
	}
	for _, c := range []string{ColUser, ColItem, ColTreated, ColPropensity, ColOutcome} {
		if _, ok := col[c]; !ok {
			return nil, fmt.Errorf("%w: line 1: missing column %q", ErrInput, c)
		}
	}
	tauCol, hasTau := col[ColTau]
	var featCols []int
	l := &Log{}
	for j, h := range head {
		switch h {
		case ColUser, ColItem, ColTreated, ColPropensity, ColOutcome, ColTau:
		default:
			featCols = append(featCols, j)
			l.FeatureNames = append(l.FeatureNames, h)
		}
	}
	featLabel := make([]string, len(l.FeatureNames))
	for k, n := range l.FeatureNames {
		featLabel[k] = fmt.Sprintf("feature %q", n)
	}
	users, items := map[string]int{}, map[string]int{}
	var feats []float64
	intern := func(m map[string]int, ids *[]string, s string) int {
		if k, ok := m[s]; ok {
			return k
		}
		s = strings.Clone(s)
		m[s] = len(*ids)
		*ids = append(*ids, s)
		return m[s]
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%w: line %d: %v", ErrInput, pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("%w: after row %d: %v", ErrInput, l.Len(), err)
		}
		line, _ := cr.FieldPos(0)
		num := func(name string, j int) (float64, error) {
			v, err := strconv.ParseFloat(rec[j], 64)
			if err != nil {
				// Retry with surrounding spaces removed, the rare case.
				v, err = strconv.ParseFloat(strings.TrimSpace(rec[j]), 64)
			}
			if err != nil || !finite(v) {
				return 0, fmt.Errorf("%w: line %d: %s %q is not a finite number", ErrInput, line, name, strings.TrimSpace(rec[j]))
			}
			return v, nil
		}
		u := strings.TrimSpace(rec[col[ColUser]])
		it := strings.TrimSpace(rec[col[ColItem]])
		if u == "" || it == "" {
			return nil, fmt.Errorf("%w: line %d: empty user or item id", ErrInput, line)
		}
		var t int
		switch s := strings.TrimSpace(rec[col[ColTreated]]); s {
		case "0", "false", "0.0":
		case "1", "true", "1.0":
			t = 1
		default:
			return nil, fmt.Errorf("%w: line %d: treated %q is not 0 or 1", ErrInput, line, s)
		}
		p, err := num(ColPropensity, col[ColPropensity])
		if err != nil {
			return nil, err
		}
		y, err := num(ColOutcome, col[ColOutcome])
		if err != nil {
			return nil, err
		}
		if err := checkRow(t, p, y); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if hasTau {
			v, err := num(ColTau, tauCol)
			if err != nil {
				return nil, err
			}
			l.Tau = append(l.Tau, v)
		}
		for k, j := range featCols {
			v, err := num(featLabel[k], j)
			if err != nil {
				return nil, err
			}
			feats = append(feats, v)
		}
		l.User = append(l.User, intern(users, &l.Users, u))
		l.Item = append(l.Item, intern(items, &l.Items, it))
		l.Treated = append(l.Treated, t)
		l.Propensity = append(l.Propensity, p)
		l.Outcome = append(l.Outcome, y)
	}
	if l.Len() == 0 {
		return nil, fmt.Errorf("%w: no data rows", ErrInput)
	}
	if len(featCols) > 0 {
		l.X = mat.NewDense(l.Len(), len(featCols), feats)
	}
	return l, nil
}

// WriteCSV writes l as CSV: user, item, treated, propensity, outcome, the
// features, and tau when l has it. Features and tau are written with six
// significant digits.
func WriteCSV(w io.Writer, l *Log) error {
	cw := csv.NewWriter(w)
	head := append([]string{ColUser, ColItem, ColTreated, ColPropensity, ColOutcome}, l.FeatureNames...)
	if l.Tau != nil {
		head = append(head, ColTau)
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	rec := make([]string, len(head))
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	for i := range l.Len() {
		rec[0], rec[1] = l.Users[l.User[i]], l.Items[l.Item[i]]
		rec[2] = strconv.Itoa(l.Treated[i])
		// Propensity and outcome are written exactly, so that a rounded
		// propensity never makes the received arm impossible.
		rec[3] = strconv.FormatFloat(l.Propensity[i], 'g', -1, 64)
		rec[4] = strconv.FormatFloat(l.Outcome[i], 'g', -1, 64)
		for j := range l.FeatureNames {
			rec[5+j] = f(l.X.At(i, j))
		}
		if l.Tau != nil {
			rec[len(rec)-1] = f(l.Tau[i])
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// AlignFeatures returns the columns of test's features in the order of
// train's FeatureNames, or an error naming a missing or extra column.
func AlignFeatures(train, test *Log) (*mat.Dense, error) {
	if slices.Equal(train.FeatureNames, test.FeatureNames) {
		return test.X, nil
	}
	idx := make(map[string]int, len(test.FeatureNames))
	for j, n := range test.FeatureNames {
		idx[n] = j
	}
	for _, n := range test.FeatureNames {
		if !slices.Contains(train.FeatureNames, n) {
			return nil, fmt.Errorf("%w: test feature %q is not in the training log", ErrInput, n)
		}
	}
	x := mat.NewDense(test.Len(), len(train.FeatureNames), nil)
	for j, n := range train.FeatureNames {
		k, ok := idx[n]
		if !ok {
			return nil, fmt.Errorf("%w: training feature %q is not in the test log", ErrInput, n)
		}
		x.SetCol(j, mat.Col(nil, k, test.X))
	}
	return x, nil
}
