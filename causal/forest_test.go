package causal

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestForestLearnsStep(t *testing.T) {
	x, y := treeStepData(2000, 3, 0.1, 31)
	m, err := Forest{Trees: 50}.Fit(x, y, nil, Regression, rand.NewPCG(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	test := mat.NewDense(4, 3, []float64{
		0.1, 0.5, 0.5,
		0.4, 0.2, 0.9,
		0.6, 0.8, 0.1,
		0.9, 0.5, 0.5,
	})
	want := []float64{0, 0, 1, 1}
	got := m.Predict(nil, test)
	for i := range want {
		if math.Abs(got[i]-want[i]) > 0.08 {
			t.Errorf("row %d: prediction %.4f, want %v ± 0.08", i, got[i], want[i])
		}
	}
}

func TestForestCalibrated(t *testing.T) {
	x, y, _ := treeLogisticData(10000, 3, 32)
	// Leaves of at least 50 rows average out the 0/1 noise.
	m, err := Forest{Trees: 60, MinSamplesLeaf: 50, MaxFeatures: 3}.Fit(x, y, nil, Classification, rand.NewPCG(3, 3))
	if err != nil {
		t.Fatal(err)
	}
	xt, yt, pt := treeLogisticData(10000, 3, 33)
	treeCheckCalibration(t, m.Predict(nil, xt), yt, pt, 0.06, 0.02)
}

func TestForestLimits(t *testing.T) {
	x, y := treeStepData(3000, 4, 0.5, 34)
	for _, tc := range []Forest{
		{Trees: 5, MaxDepth: 3},
		{Trees: 5, MinSamplesLeaf: 200},
	} {
		m, err := tc.FitForest(x, y, nil, Regression, rand.NewPCG(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		for k, tree := range m.Trees {
			leaves, depth := treeShape(tree, 0, 0)
			if tc.MaxDepth > 0 && depth > tc.MaxDepth {
				t.Errorf("%+v tree %d: depth %d", tc, k, depth)
			}
			if tc.MinSamplesLeaf > 0 && leaves > 3000/tc.MinSamplesLeaf {
				t.Errorf("%+v tree %d: %d leaves", tc, k, leaves)
			}
		}
	}
}

func TestForestDeterministic(t *testing.T) {
	// The same seed gives the same forest whatever the number of threads.
	x, y, _ := treeLogisticData(3000, 4, 35)
	fit := func(procs int, seed uint64) []byte {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m, err := Forest{Trees: 8}.FitForest(x, y, nil, Classification, rand.NewPCG(seed, 1))
		if err != nil {
			t.Fatal(err)
		}
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := fit(1, 1), fit(4, 1)
	if !bytes.Equal(a, b) {
		t.Error("GOMAXPROCS 1 and 4 gave different forests")
	}
	if bytes.Equal(a, fit(2, 2)) {
		t.Error("different seeds gave the same forest")
	}
}

func TestGBTDeterministicAcrossThreads(t *testing.T) {
	x, y, _ := treeLogisticData(20000, 4, 36)
	fit := func(procs int) []byte {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m, err := GBT{MaxIter: 10, Subsample: 0.8}.FitGBT(x, y, nil, Classification, rand.NewPCG(5, 1))
		if err != nil {
			t.Fatal(err)
		}
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !bytes.Equal(fit(1), fit(3)) {
		t.Error("GOMAXPROCS 1 and 3 gave different boosted models")
	}
}

func TestForestWeights(t *testing.T) {
	// Rows left of the step weigh 3, the others 1.
	x, y := treeStepData(2000, 1, 0, 37)
	w := make([]float64, len(y))
	for i := range w {
		w[i] = 1
		if x.At(i, 0) < 0.5 {
			w[i] = 3
		}
	}
	// Weights scale both sums of a leaf, so a pure step is still learned
	// exactly.
	m, err := Forest{Trees: 10}.Fit(x, y, w, Regression, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	got := m.Predict(nil, mat.NewDense(2, 1, []float64{0.2, 0.8}))
	if math.Abs(got[0]) > 1e-12 || math.Abs(got[1]-1) > 1e-12 {
		t.Errorf("weighted step: predictions %v, want [0 1]", got)
	}
}

func TestForestSaveLoad(t *testing.T) {
	x, y, _ := treeLogisticData(2000, 3, 38)
	for _, task := range []Task{Regression, Classification} {
		m, err := Forest{Trees: 10}.FitForest(x, y, nil, task, rand.NewPCG(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		treeRoundTrip(t, m, x)
	}
}

func FuzzTreeModelUnmarshal(f *testing.F) {
	x, y := treeStepData(200, 2, 0.1, 39)
	g, err := GBT{MaxIter: 3, MinSamplesLeaf: 10}.FitGBT(x, y, nil, Regression, rand.NewPCG(1, 1))
	if err != nil {
		f.Fatal(err)
	}
	fo, err := Forest{Trees: 2, MaxDepth: 3}.FitForest(x, y, nil, Regression, rand.NewPCG(1, 1))
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range []Kinded{g, fo} {
		b, err := Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"format":1,"kind":"gbt","payload":{"Features":1,"Trees":[[{"f":0,"l":0,"v":1}]]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Unmarshal(b)
		if err != nil {
			return
		}
		var m interface {
			Model
			Validate() error
		}
		var p int
		switch v := v.(type) {
		case *GBTModel:
			m, p = v, v.Features
		case *ForestModel:
			m, p = v, v.Features
		default:
			return
		}
		if m.Validate() != nil || p < 0 || p > 64 {
			return
		}
		// A valid model predicts without panicking.
		xt := mat.NewDense(3, max(p, 1), nil)
		if p == 0 {
			return
		}
		for i, v := range []float64{-1, 0, 0.5} {
			for j := range p {
				xt.Set(i, j, v)
			}
		}
		m.Predict(nil, xt)
	})
}

func BenchmarkForestFit(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		x, y := treeReferenceData(2*n, 1, 3)
		b.Run(fmt.Sprintf("size=%dx12/trees=100", len(y)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := (Forest{MinSamplesLeaf: 5}).Fit(x, y, nil, Classification, rand.NewPCG(1, 1)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkForestPredict(b *testing.B) {
	x, y := treeReferenceData(20_000, 1, 4)
	m, err := Forest{MinSamplesLeaf: 5}.Fit(x, y, nil, Classification, rand.NewPCG(1, 1))
	if err != nil {
		b.Fatal(err)
	}
	xt := benchMatrix(100_000, 12, 5)
	dst := make([]float64, 100_000)
	b.Run("size=100000x12/trees=100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Predict(dst, xt)
		}
	})
}
