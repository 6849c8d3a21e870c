package causal

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// MaxCategoryCode bounds the category codes an Encoder accepts.
const MaxCategoryCode = 1 << 20

// Encoder expands category code columns into indicator (one-hot) columns
// for models, such as LinearModel, that need numbers. It keeps numeric
// columns as they are and replaces categorical column j, whose fitted
// levels are c_0 < c_1 < ... < c_m, by m indicator columns 1{x_j = c_1},
// ..., 1{x_j = c_m}: the lowest level c_0 is the reference level and gets
// no column (drop-first), so the encoded matrix has no column that is a
// linear combination of an intercept and the others.
//
// Output columns keep the order of the input: each column is replaced in
// place by its numeric value or its indicators. A code that was not seen
// when the Encoder was fitted, or that is not a valid code, encodes as the
// reference level (all indicators zero).
//
// An Encoder is saved with Marshal under kind "onehot".
type Encoder struct {
	// Categorical marks the input columns that hold category codes.
	Categorical []bool `json:"categorical"`
	// Levels lists, for each categorical column, the codes seen when
	// fitting in increasing order (the first is the reference level); it
	// is nil for numeric columns.
	Levels [][]int `json:"levels"`
}

// Kind implements Kinded.
func (e *Encoder) Kind() string { return "onehot" }

// FitEncoder records the levels of the columns of x marked in categorical.
// Category codes must be whole numbers in [0, MaxCategoryCode].
func FitEncoder(x *mat.Dense, categorical []bool) (*Encoder, error) {
	n, p := x.Dims()
	if len(categorical) != p {
		return nil, fmt.Errorf("encoder: %w: %d categorical flags for %d columns", ErrInput, len(categorical), p)
	}
	e := &Encoder{Categorical: append([]bool(nil), categorical...), Levels: make([][]int, p)}
	for j, c := range categorical {
		if !c {
			continue
		}
		seen := make([]bool, 0, 16)
		for i := 0; i < n; i++ {
			v := x.At(i, j)
			code, ok := encCode(v)
			if !ok {
				return nil, fmt.Errorf("encoder: %w: row %d column %d holds %v, want a category code in [0, %d]", ErrInput, i, j, v, MaxCategoryCode)
			}
			for code >= len(seen) {
				seen = append(seen, false)
			}
			seen[code] = true
		}
		lv := []int{}
		for code, s := range seen {
			if s {
				lv = append(lv, code)
			}
		}
		e.Levels[j] = lv
	}
	return e, nil
}

// encCode converts a float category code to an int.
func encCode(v float64) (int, bool) {
	if !(v >= 0 && v <= MaxCategoryCode) || v != math.Trunc(v) {
		return 0, false
	}
	return int(v), true
}

// extra returns the number of indicator columns of categorical column j.
func (e *Encoder) extra(j int) int {
	if j >= len(e.Levels) || len(e.Levels[j]) == 0 {
		return 0
	}
	return len(e.Levels[j]) - 1
}

// Width returns the number of encoded columns.
func (e *Encoder) Width() int {
	w := 0
	for j, c := range e.Categorical {
		if c {
			w += e.extra(j)
			continue
		}
		w++
	}
	return w
}

// lookup returns, per input column, a table from category code to the
// offset of its indicator column within that column's block (−1 for the
// reference level), or nil for numeric columns.
func (e *Encoder) lookup() [][]int32 {
	tabs := make([][]int32, len(e.Categorical))
	for j, c := range e.Categorical {
		if !c || j >= len(e.Levels) {
			continue
		}
		lv := e.Levels[j]
		size := 0
		if len(lv) > 0 {
			size = lv[len(lv)-1] + 1
		}
		t := make([]int32, size)
		for k := range t {
			t[k] = -1
		}
		for k, code := range lv {
			if k > 0 && code >= 0 && code < size {
				t[code] = int32(k - 1)
			}
		}
		tabs[j] = t
	}
	return tabs
}

// Transform writes the encoded rows of x into dst, which it allocates when
// nil, and returns it. It panics when x or dst has the wrong number of
// columns.
func (e *Encoder) Transform(dst, x *mat.Dense) *mat.Dense {
	n, p := x.Dims()
	if p != len(e.Categorical) {
		panic(fmt.Sprintf("causal: encoder for %d columns applied to %d", len(e.Categorical), p))
	}
	w := e.Width()
	if dst == nil {
		if n == 0 || w == 0 {
			return &mat.Dense{}
		}
		dst = mat.NewDense(n, w, nil)
	} else if r, c := dst.Dims(); r != n || c != w {
		panic(fmt.Sprintf("causal: encoder output is %d×%d, want %d×%d", r, c, n, w))
	} else {
		dst.Zero()
	}
	tabs := e.lookup()
	src, out := x.RawMatrix(), dst.RawMatrix()
	for i := 0; i < n; i++ {
		row := src.Data[i*src.Stride : i*src.Stride+p]
		o := out.Data[i*out.Stride : i*out.Stride+w]
		k := 0
		for j, v := range row {
			t := tabs[j]
			if !e.Categorical[j] {
				o[k] = v
				k++
				continue
			}
			if code, ok := encCode(v); ok && code < len(t) && t[code] >= 0 {
				o[k+int(t[code])] = 1
			}
			k += e.extra(j)
		}
	}
	return dst
}

// dot returns Σ coef·encoded(row) without building the encoded row.
func (e *Encoder) dot(coef, row []float64, tabs [][]int32) float64 {
	var s float64
	k := 0
	for j, v := range row {
		if !e.Categorical[j] {
			s += coef[k] * v
			k++
			continue
		}
		t := tabs[j]
		if code, ok := encCode(v); ok && code < len(t) && t[code] >= 0 {
			s += coef[k+int(t[code])]
		}
		k += e.extra(j)
	}
	return s
}
