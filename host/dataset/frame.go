// Package dataset reads tabular CSV data for the uplift tools and turns it
// into plugin requests: it infers which columns are numeric and which are
// categorical, keeps the schema so that later data is encoded the same way,
// and reports malformed input with its line number.
package dataset

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ErrMalformed reports input that cannot be read. Check with errors.Is.
var ErrMalformed = errors.New("malformed data")

// Column is one column of a Frame. A column is numeric when every cell
// parses as a finite number; otherwise it is categorical and its values
// are codes into Levels, in order of first appearance.
type Column struct {
	Name    string
	Numeric bool
	// Values holds the numbers of a numeric column.
	Values []float64
	// Codes and Levels hold a categorical column.
	Codes  []int32
	Levels []string

	index      map[string]int32
	firstEmpty int // line of the first empty cell while numeric
}

// String returns the value of row i as text.
func (c *Column) String(i int) string {
	if c.Numeric {
		return strconv.FormatFloat(c.Values[i], 'g', -1, 64)
	}
	return c.Levels[c.Codes[i]]
}

// Equal reports whether row i holds the value v (numerically for numeric
// columns, so "1" equals "1.0").
func (c *Column) Equal(i int, v string) bool {
	if c.Numeric {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return err == nil && f == c.Values[i]
	}
	return c.Levels[c.Codes[i]] == v
}

// Distinct returns the distinct values of the column as text, in order of
// first appearance, with their counts.
func (c *Column) Distinct() (values []string, counts []int) {
	if !c.Numeric {
		counts = make([]int, len(c.Levels))
		for _, code := range c.Codes {
			counts[code]++
		}
		return append([]string(nil), c.Levels...), counts
	}
	seen := map[float64]int{}
	for _, v := range c.Values {
		k, ok := seen[v]
		if !ok {
			k = len(values)
			seen[v] = k
			values = append(values, strconv.FormatFloat(v, 'g', -1, 64))
			counts = append(counts, 0)
		}
		counts[k]++
	}
	return values, counts
}

func (c *Column) toCategorical() {
	c.Numeric = false
	c.index = map[string]int32{}
	c.Codes = make([]int32, len(c.Values))
	for i, v := range c.Values {
		s := ""
		if !math.IsNaN(v) {
			s = strconv.FormatFloat(v, 'g', -1, 64)
		}
		c.Codes[i] = c.code(s)
	}
	c.Values = nil
}

func (c *Column) code(s string) int32 {
	k, ok := c.index[s]
	if !ok {
		k = int32(len(c.Levels))
		c.index[s] = k
		c.Levels = append(c.Levels, s)
	}
	return k
}

// Frame is a table of named columns of equal length.
type Frame struct {
	Columns []*Column
	Rows    int
	// Lines holds the input line number of each row, for messages.
	Lines []int
}

// Column returns the named column.
func (f *Frame) Column(name string) (*Column, bool) {
	for _, c := range f.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return nil, false
}

// Names returns the column names in order.
func (f *Frame) Names() []string {
	out := make([]string, len(f.Columns))
	for i, c := range f.Columns {
		out[i] = c.Name
	}
	return out
}

// ReadCSV reads a CSV table with a header row. Empty cells, NaN and
// infinite numbers in numeric columns, ragged rows and duplicate column
// names are errors that name the line.
func ReadCSV(r io.Reader) (*Frame, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: empty input: no header row", ErrMalformed)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	f := &Frame{}
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		if h == "" {
			return nil, fmt.Errorf("%w: line 1: column %d has no name", ErrMalformed, i+1)
		}
		if seen[h] {
			return nil, fmt.Errorf("%w: line 1: duplicate column %q", ErrMalformed, h)
		}
		seen[h] = true
		f.Columns = append(f.Columns, &Column{Name: h, Numeric: true})
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && rec[0] == "" {
			continue // blank line
		}
		if len(rec) != len(f.Columns) {
			return nil, fmt.Errorf("%w: line %d: %d fields, the header has %d", ErrMalformed, line, len(rec), len(f.Columns))
		}
		for j, cell := range rec {
			c := f.Columns[j]
			if c.Numeric {
				trimmed := strings.TrimSpace(cell)
				if trimmed == "" {
					// Missing: an error if the column stays numeric, the
					// empty level if it turns out to be categorical.
					if c.firstEmpty == 0 {
						c.firstEmpty = line
					}
					c.Values = append(c.Values, math.NaN())
					continue
				}
				v, perr := strconv.ParseFloat(trimmed, 64)
				if perr == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
					return nil, fmt.Errorf("%w: line %d: column %q: %q is not a finite number", ErrMalformed, line, c.Name, cell)
				}
				if perr == nil {
					c.Values = append(c.Values, v)
					continue
				}
				c.toCategorical()
			}
			c.Codes = append(c.Codes, c.code(cell))
		}
		f.Rows++
		f.Lines = append(f.Lines, line)
	}
	if f.Rows == 0 {
		return nil, fmt.Errorf("%w: no data rows after the header", ErrMalformed)
	}
	for _, c := range f.Columns {
		if c.Numeric && c.firstEmpty > 0 {
			return nil, fmt.Errorf("%w: line %d: column %q is empty (numeric columns need a number in every row)", ErrMalformed, c.firstEmpty, c.Name)
		}
	}
	return f, nil
}
