package causal

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// MaxBins is the largest number of bins a column of Bins can have.
const MaxBins = 255

// binSampleRows is the number of rows sampled to place the bin edges of a
// numeric column. Quantiles from 200,000 rows are within about 0.2% of the
// full-data quantiles, and sorting fewer rows keeps binning cheap.
const binSampleRows = 200_000

// Bins is a quantised, column-major copy of a feature matrix. Each numeric
// column is mapped to at most MaxBins ordered bins placed at weighted
// quantiles of its values; each code of a category column maps to its own
// bin.
//
// Bin b of column j holds the values v with
//
//	Edges[j][b-1] < v ≤ Edges[j][b]
//
// (with Edges[j][-1] = -∞); the last edge of every column is +∞, so
// len(Edges[j]) is the number of bins of column j. A split "bin ≤ b" on the
// codes is the same as the split "v ≤ Edges[j][b]" on raw values.
type Bins struct {
	Rows, Cols int
	// Codes is column-major: Codes[j*Rows+i] is the bin of row i in
	// column j.
	Codes []uint8
	// Edges[j][b] is the upper edge of bin b of column j.
	Edges [][]float64
	// Categorical marks the category columns. Nil means all numeric.
	Categorical []bool
}

// NewBins bins the columns of x into at most maxBins bins each (maxBins ≤ 0
// means MaxBins). It is NewBinsWeighted with unit weights.
func NewBins(x *mat.Dense, maxBins int, categorical []bool) (*Bins, error) {
	return NewBinsWeighted(x, nil, maxBins, categorical)
}

// NewBinsWeighted bins the columns of x into at most maxBins bins each
// (maxBins ≤ 0 means MaxBins), with optional row weights (nil means 1).
//
// A numeric column with at most maxBins distinct values gets one bin per
// value, with edges half-way between neighbouring values. Otherwise the
// edges are placed half-way between the distinct values that straddle the
// weighted quantiles k/maxBins, k = 1..maxBins-1, of up to 200,000 rows
// sampled with a fixed seed, so the result depends only on the input.
//
// A category column (categorical[j] true) must hold integer codes in
// [0, maxBins); code c goes to bin c.
//
// NewBinsWeighted returns an error wrapping ErrInput when x holds NaN or
// infinite values, a weight is negative or not finite, or a category code
// is out of range. It panics if the lengths of weights or categorical do not
// match x.
func NewBinsWeighted(x *mat.Dense, weights []float64, maxBins int, categorical []bool) (*Bins, error) {
	n, p := x.Dims()
	if weights != nil && len(weights) != n {
		panic(fmt.Sprintf("causal: NewBins: %d weights for %d rows", len(weights), n))
	}
	if categorical != nil && len(categorical) != p {
		panic(fmt.Sprintf("causal: NewBins: %d categorical flags for %d columns", len(categorical), p))
	}
	if maxBins <= 0 || maxBins > MaxBins {
		maxBins = MaxBins
	}
	if maxBins < 2 {
		maxBins = 2
	}
	for i, w := range weights {
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("%w: weight %d is %v", ErrInput, i, w)
		}
	}
	b := &Bins{
		Rows:        n,
		Cols:        p,
		Codes:       make([]uint8, n*p),
		Edges:       make([][]float64, p),
		Categorical: categorical,
	}
	if n == 0 || p == 0 {
		for j := range b.Edges {
			b.Edges[j] = []float64{math.Inf(1)}
		}
		return b, nil
	}

	// The sample of rows used for the edges is shared by all columns.
	var sample []int
	if n > binSampleRows {
		rng := rand.New(rand.NewPCG(0x62696e73, uint64(n)))
		sample = make([]int, binSampleRows)
		for k := range sample {
			sample[k] = rng.IntN(n)
		}
		slices.Sort(sample)
	}

	raw := x.RawMatrix()
	// Gather the rows that place the edges into column-major order once,
	// reading each row's cache lines together.
	m := n
	if sample != nil {
		m = len(sample)
	}
	cols := make([]float64, p*m)
	const gatherBlock = 8192
	parallelFor((m+gatherBlock-1)/gatherBlock, 0, func(blk int) {
		for k := blk * gatherBlock; k < min(m, (blk+1)*gatherBlock); k++ {
			i := k
			if sample != nil {
				i = sample[k]
			}
			for j, v := range raw.Data[i*raw.Stride : i*raw.Stride+p] {
				cols[j*m+k] = v
			}
		}
	})
	errs := make([]error, p)
	// Scratch buffers are shared by the columns, one set per goroutine.
	free := make(chan *binScratch, p)
	parallelFor(p, 0, func(j int) {
		var sc *binScratch
		select {
		case sc = <-free:
		default:
			sc = new(binScratch)
		}
		errs[j] = b.binColumnEdges(raw, cols[j*m:(j+1)*m], j, weights, sample, maxBins, categorical != nil && categorical[j], sc)
		free <- sc
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}

	tables := make([]*[256]int64, p)
	for j := range p {
		if categorical == nil || !categorical[j] {
			tables[j] = binTable(b.Edges[j])
		}
	}
	const block = 8192
	blocks := (n + block - 1) / block
	errs = make([]error, blocks)
	parallelFor(blocks, 0, func(k int) {
		errs[k] = b.binRows(raw, tables, k*block, min(n, (k+1)*block))
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

// binColumnEdges fills Edges[j] (and, for a category column, its codes).
// col holds the column's values at the sampled rows (all rows when sample
// is nil).
func (b *Bins) binColumnEdges(raw blas64.General, col []float64, j int, weights []float64, sample []int, maxBins int, cat bool, sc *binScratch) error {
	n := b.Rows
	if cat {
		codes := b.Codes[j*n : (j+1)*n]
		maxCode := 0
		for i := 0; i < n; i++ {
			v := raw.Data[i*raw.Stride+j]
			c := int(v)
			if v != math.Trunc(v) || v < 0 || v >= float64(maxBins) {
				return fmt.Errorf("%w: row %d column %d: category code %v is not an integer in [0, %d)", ErrInput, i, j, v, maxBins)
			}
			codes[i] = uint8(c)
			maxCode = max(maxCode, c)
		}
		e := make([]float64, maxCode+1)
		for c := range maxCode {
			e[c] = float64(c)
		}
		e[maxCode] = math.Inf(1)
		b.Edges[j] = e
		return nil
	}

	m := len(col)
	row := func(k int) int {
		if sample != nil {
			return sample[k]
		}
		return k
	}
	if weights == nil {
		vals := sc.floats(m)
		for k := range vals {
			v := col[k]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: row %d column %d is %v", ErrInput, row(k), j, v)
			}
			vals[k] = v
		}
		radixSortFloat64(vals, sc)
		b.Edges[j] = binEdgesSorted(vals, maxBins)
		return nil
	}
	vals := make([]binValue, m)
	for k := range vals {
		i := row(k)
		v := col[k]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: row %d column %d is %v", ErrInput, i, j, v)
		}
		vals[k] = binValue{v: v, w: weights[i]}
	}
	b.Edges[j] = binEdges(vals, maxBins)
	return nil
}

// binRows writes the codes of the numeric columns for rows [lo, hi) using
// padded edge tables, and reports the first NaN or infinite value.
func (b *Bins) binRows(raw blas64.General, tables []*[256]int64, lo, hi int) error {
	n := b.Rows
	for j, tab := range tables {
		if tab == nil {
			continue
		}
		codes := b.Codes[j*n : (j+1)*n]
		for i := lo; i < hi; i++ {
			v := raw.Data[i*raw.Stride+j]
			if v-v != 0 {
				return fmt.Errorf("%w: row %d column %d is %v", ErrInput, i, j, v)
			}
			codes[i] = binSearch256(tab, orderKey(v))
		}
	}
	return nil
}

// binTable pads edges (at most 256, ending with +∞) with +∞ to 256 entries
// and stores them as order keys for binSearch256.
func binTable(edges []float64) *[256]int64 {
	var t [256]int64
	for k := range t {
		e := math.Inf(1)
		if k < len(edges) {
			e = edges[k]
		}
		t[k] = orderKey(e)
	}
	return &t
}

// orderKey maps a non-NaN float64 to an int64 with the same order.
func orderKey(v float64) int64 {
	u := int64(math.Float64bits(v))
	return u ^ (u >> 63 & math.MaxInt64)
}

// binSearch256 returns the number of keys of the sorted table t that are
// below key, which is the smallest b with key ≤ t[b] when t[255] is the key
// of +∞. It makes no data-dependent branches.
func binSearch256(t *[256]int64, key int64) uint8 {
	k := 0
	k += binStep(t[127], key, 128)
	k += binStep(t[(k+63)&255], key, 64)
	k += binStep(t[(k+31)&255], key, 32)
	k += binStep(t[(k+15)&255], key, 16)
	k += binStep(t[(k+7)&255], key, 8)
	k += binStep(t[(k+3)&255], key, 4)
	k += binStep(t[(k+1)&255], key, 2)
	k += binStep(t[k&255], key, 1)
	return uint8(k)
}

// binStep returns step if a < b and 0 otherwise, without a branch
// (Hacker's Delight §2-12: the sign of (a-b) ^ ((a^b) & ((a-b)^a)) is
// set exactly when a < b).
func binStep(a, b int64, step int) int {
	d := a - b
	m := (d ^ ((a ^ b) & (d ^ a))) >> 63
	return step & int(m)
}

type binValue struct{ v, w float64 }

// binEdges returns the upper bin edges, ending with +∞, of the weighted
// values vals (which it sorts).
func binEdges(vals []binValue, maxBins int) []float64 {
	slices.SortFunc(vals, func(a, b binValue) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	// Collapse to distinct values with summed weights.
	d := 0
	for k := range vals {
		if d > 0 && vals[d-1].v == vals[k].v {
			vals[d-1].w += vals[k].w
			continue
		}
		vals[d] = vals[k]
		d++
	}
	vals = vals[:d]

	edges := make([]float64, 0, min(d, maxBins))
	if d <= maxBins {
		for k := 0; k+1 < d; k++ {
			edges = append(edges, midEdge(vals[k].v, vals[k+1].v))
		}
		return append(edges, math.Inf(1))
	}
	var total float64
	for _, bv := range vals {
		total += bv.w
	}
	if total == 0 {
		// All weights zero: fall back to unit weights.
		for k := range vals {
			vals[k].w = 1
		}
		total = float64(d)
	}
	var cum float64
	next := 1
	for k := 0; k+1 < d && next < maxBins; k++ {
		cum += vals[k].w
		if cum >= float64(next)*total/float64(maxBins) {
			edges = append(edges, midEdge(vals[k].v, vals[k+1].v))
			for next < maxBins && cum >= float64(next)*total/float64(maxBins) {
				next++
			}
		}
	}
	return append(edges, math.Inf(1))
}

// binEdgesSorted returns the upper bin edges, ending with +∞, of the
// sorted unit-weight values vals; it is binEdges without the weights.
func binEdgesSorted(vals []float64, maxBins int) []float64 {
	d := 0
	for k := range vals {
		if k == 0 || vals[k] != vals[k-1] {
			d++
		}
	}
	edges := make([]float64, 0, min(d, maxBins))
	if d <= maxBins {
		for k := 1; k < len(vals); k++ {
			if vals[k] != vals[k-1] {
				edges = append(edges, midEdge(vals[k-1], vals[k]))
			}
		}
		return append(edges, math.Inf(1))
	}
	m := len(vals)
	next := 1
	for k := 0; k+1 < m && next < maxBins; k++ {
		if vals[k] == vals[k+1] {
			continue
		}
		// k+1 values are at or below vals[k].
		cum := float64(k + 1)
		if cum >= float64(next)*float64(m)/float64(maxBins) {
			edges = append(edges, midEdge(vals[k], vals[k+1]))
			for next < maxBins && cum >= float64(next)*float64(m)/float64(maxBins) {
				next++
			}
		}
	}
	return append(edges, math.Inf(1))
}

// binScratch holds reusable buffers for binning one column.
type binScratch struct {
	vals     []float64
	src, dst []uint64
}

func (sc *binScratch) floats(m int) []float64 {
	sc.vals = slices.Grow(sc.vals[:0], m)[:m]
	return sc.vals
}

// radixSortFloat64 sorts vals, which hold no NaN, in increasing order by
// a least-significant-byte-first radix sort on their order keys, using the
// buffers of sc (nil means allocate).
func radixSortFloat64(vals []float64, sc *binScratch) {
	n := len(vals)
	if n < 512 {
		slices.Sort(vals)
		return
	}
	// Unsigned order key: flip every bit of negatives, the sign of the rest.
	key := func(v float64) uint64 {
		u := math.Float64bits(v)
		return u ^ (uint64(int64(u)>>63) | 1<<63)
	}
	if sc == nil {
		sc = new(binScratch)
	}
	sc.src = slices.Grow(sc.src[:0], n)[:n]
	sc.dst = slices.Grow(sc.dst[:0], n)[:n]
	src, dst := sc.src, sc.dst
	for i, v := range vals {
		src[i] = key(v)
	}
	var count [256]int
	for shift := uint(0); shift < 64; shift += 8 {
		clear(count[:])
		for _, k := range src {
			count[byte(k>>shift)]++
		}
		if count[byte(src[0]>>shift)] == n {
			continue // every key has the same byte here
		}
		sum := 0
		for b, c := range count {
			count[b] = sum
			sum += c
		}
		for _, k := range src {
			d := byte(k >> shift)
			dst[count[d]] = k
			count[d]++
		}
		src, dst = dst, src
	}
	for i, k := range src {
		// Invert the key.
		var u uint64
		if k>>63 == 1 {
			u = k ^ 1<<63
		} else {
			u = ^k
		}
		vals[i] = math.Float64frombits(u)
	}
}

// midEdge returns an edge between a < b that keeps a on its low side and b
// on its high side.
func midEdge(a, b float64) float64 {
	m := a/2 + b/2
	if m >= b || m < a {
		return a
	}
	return m
}

// searchEdges returns the smallest b with v ≤ edges[b]; edges ends with +∞.
func searchEdges(edges []float64, v float64) int {
	lo, hi := 0, len(edges)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if v <= edges[mid] {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// Bin returns the bin of value v in column j. Values above every finite
// edge, +∞ and NaN go to the last bin.
func (b *Bins) Bin(j int, v float64) uint8 {
	return uint8(searchEdges(b.Edges[j], v))
}

// NumBins returns the number of bins of column j.
func (b *Bins) NumBins(j int) int { return len(b.Edges[j]) }

// Column returns the codes of column j (a view, not a copy).
func (b *Bins) Column(j int) []uint8 { return b.Codes[j*b.Rows : (j+1)*b.Rows] }

// Transform bins the rows of x with the edges of b into a new Bins.
// It panics if x does not have b.Cols columns.
func (b *Bins) Transform(x *mat.Dense) *Bins {
	n, p := x.Dims()
	if p != b.Cols {
		panic(fmt.Sprintf("causal: Bins.Transform: %d columns, want %d", p, b.Cols))
	}
	out := &Bins{Rows: n, Cols: p, Codes: make([]uint8, n*p), Edges: b.Edges, Categorical: b.Categorical}
	if n == 0 {
		return out
	}
	raw := x.RawMatrix()
	tables := make([]*[256]int64, p)
	for j := range p {
		tables[j] = binTable(b.Edges[j])
	}
	const block = 8192
	parallelFor((n+block-1)/block, 0, func(k int) {
		lo, hi := k*block, min(n, (k+1)*block)
		for j, tab := range tables {
			codes := out.Codes[j*n : (j+1)*n]
			for i := lo; i < hi; i++ {
				v := raw.Data[i*raw.Stride+j]
				if v != v {
					codes[i] = uint8(len(b.Edges[j]) - 1)
					continue
				}
				codes[i] = binSearch256(tab, orderKey(v))
			}
		}
	})
	return out
}
