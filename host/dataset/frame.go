// Package dataset reads tabular CSV data for the uplift tools and turns it
// into plugin requests: it infers which columns are numeric and which are
// categorical, keeps the schema so that later data is encoded the same way,
// and reports malformed input with its line number.
package dataset

import (
	"errors"
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

	index map[string]int32
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
