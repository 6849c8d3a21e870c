package causal

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestNewBinsFewDistinct(t *testing.T) {
	x := mat.NewDense(6, 2, []float64{
		1, 0,
		3, 2,
		2, 1,
		3, 0,
		1, 2,
		5, 1,
	})
	b, err := NewBins(x, 0, []bool{false, true})
	if err != nil {
		t.Fatal(err)
	}
	wantEdges := [][]float64{{1.5, 2.5, 4, math.Inf(1)}, {0, 1, math.Inf(1)}}
	wantCodes := [][]uint8{{0, 2, 1, 2, 0, 3}, {0, 2, 1, 0, 2, 1}}
	for j := range 2 {
		if fmt.Sprint(b.Edges[j]) != fmt.Sprint(wantEdges[j]) {
			t.Errorf("column %d: edges = %v, want %v", j, b.Edges[j], wantEdges[j])
		}
		if fmt.Sprint(b.Column(j)) != fmt.Sprint(wantCodes[j]) {
			t.Errorf("column %d: codes = %v, want %v", j, b.Column(j), wantCodes[j])
		}
		if b.NumBins(j) != len(wantEdges[j]) {
			t.Errorf("column %d: NumBins = %d, want %d", j, b.NumBins(j), len(wantEdges[j]))
		}
	}
	for _, tc := range []struct {
		j    int
		v    float64
		want uint8
	}{
		{0, -10, 0}, {0, 1.5, 0}, {0, 1.6, 1}, {0, 4, 2}, {0, 100, 3}, {0, math.NaN(), 3},
		{1, 0, 0}, {1, 1, 1}, {1, 2, 2}, {1, 7, 2},
	} {
		if got := b.Bin(tc.j, tc.v); got != tc.want {
			t.Errorf("Bin(%d, %v) = %d, want %d", tc.j, tc.v, got, tc.want)
		}
	}
}

func TestNewBinsQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 10000
	data := make([]float64, n)
	for i := range data {
		data[i] = rng.Float64()
	}
	x := mat.NewDense(n, 1, data)
	for _, maxBins := range []int{2, 4, 16, 255} {
		b, err := NewBins(x, maxBins, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b.NumBins(0) != maxBins {
			t.Fatalf("maxBins=%d: %d bins", maxBins, b.NumBins(0))
		}
		count := make([]int, maxBins)
		for i, c := range b.Column(0) {
			count[c]++
			if b.Bin(0, data[i]) != c {
				t.Fatalf("maxBins=%d: Bin of row %d = %d, code %d", maxBins, i, b.Bin(0, data[i]), c)
			}
		}
		want := float64(n) / float64(maxBins)
		for c, got := range count {
			if math.Abs(float64(got)-want) > 1.01 {
				t.Errorf("maxBins=%d: bin %d holds %d rows, want %.1f", maxBins, c, got, want)
			}
		}
	}
}

func TestNewBinsWeighted(t *testing.T) {
	// Values 0..999; the upper half weighs 3 times the lower half, so the
	// weighted median sits at 2/3 of the way through the lower... upper mass.
	const n = 1000
	data := make([]float64, n)
	w := make([]float64, n)
	for i := range data {
		data[i] = float64(i)
		w[i] = 1
		if i >= n/2 {
			w[i] = 3
		}
	}
	b, err := NewBinsWeighted(mat.NewDense(n, 1, data), w, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Total weight 2000; half of it (1000) is reached at value 666.
	if got, want := b.Edges[0][0], 666.5; math.Abs(got-want) > 1 {
		t.Errorf("weighted median edge = %v, want %v", got, want)
	}
}

func TestNewBinsLargeSample(t *testing.T) {
	// More rows than the sample: every row still gets a bin consistent
	// with Bin, and bins stay close to equal in size.
	const n = binSampleRows + 50000
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]float64, n)
	for i := range data {
		data[i] = rng.NormFloat64()
	}
	b, err := NewBins(mat.NewDense(n, 1, data), 64, nil)
	if err != nil {
		t.Fatal(err)
	}
	count := make([]int, b.NumBins(0))
	for i, c := range b.Column(0) {
		count[c]++
		if i%997 == 0 && b.Bin(0, data[i]) != c {
			t.Fatalf("Bin of row %d = %d, code %d", i, b.Bin(0, data[i]), c)
		}
	}
	want := float64(n) / 64
	for c, got := range count {
		if math.Abs(float64(got)-want) > 0.1*want {
			t.Errorf("bin %d holds %d rows, want about %.0f", c, got, want)
		}
	}
}

func TestNewBinsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		x    []float64
		cat  []bool
		w    []float64
	}{
		{"nan", []float64{1, math.NaN()}, nil, nil},
		{"inf", []float64{math.Inf(-1), 1}, nil, nil},
		{"category not integer", []float64{1.5, 1}, []bool{true}, nil},
		{"category negative", []float64{-1, 1}, []bool{true}, nil},
		{"category too large", []float64{300, 1}, []bool{true}, nil},
		{"negative weight", []float64{1, 2}, nil, []float64{1, -1}},
	} {
		_, err := NewBinsWeighted(mat.NewDense(2, 1, tc.x), tc.w, 0, tc.cat)
		if !errors.Is(err, ErrInput) {
			t.Errorf("%s: err = %v, want ErrInput", tc.name, err)
		}
	}
}

func TestBinsTransform(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, p = 500, 3
	x := mat.NewDense(n, p, nil)
	for i := range n {
		for j := range p {
			x.Set(i, j, rng.NormFloat64())
		}
	}
	b, err := NewBins(x, 32, nil)
	if err != nil {
		t.Fatal(err)
	}
	tb := b.Transform(x)
	for k := range b.Codes {
		if tb.Codes[k] != b.Codes[k] {
			t.Fatalf("Transform code %d = %d, want %d", k, tb.Codes[k], b.Codes[k])
		}
	}
}

func TestRadixSortFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 100, 5000} {
		v := make([]float64, n)
		for i := range v {
			switch i % 7 {
			case 0:
				v[i] = 0
			case 1:
				v[i] = math.Copysign(0, -1)
			case 2:
				v[i] = math.Inf(1 - 2*(i%2))
			case 3:
				v[i] = float64(rng.IntN(5))
			default:
				v[i] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
			}
		}
		want := slices.Clone(v)
		slices.Sort(want)
		radixSortFloat64(v, nil)
		for i := range v {
			// -0 and +0 compare equal; both orders are sorted.
			if v[i] != want[i] {
				t.Fatalf("n=%d: element %d = %v, want %v", n, i, v[i], want[i])
			}
		}
	}
}

func BenchmarkNewBins(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		x := benchMatrix(n, 12, 1)
		b.Run(fmt.Sprintf("size=%dx12", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NewBins(x, 255, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchMatrix returns an n×p matrix of standard normal values.
func benchMatrix(n, p int, seed uint64) *mat.Dense {
	rng := rand.New(rand.NewPCG(seed, 99))
	data := make([]float64, n*p)
	for i := range data {
		data[i] = rng.NormFloat64()
	}
	return mat.NewDense(n, p, data)
}
