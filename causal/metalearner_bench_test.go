package causal

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// benchNaiveLogistic is a straightforward IRLS baseline built from gonum
// matrix products: it materialises the n×(p+1) design and forms Z'WZ with
// mat.Mul every iteration.
func benchNaiveLogistic(x *mat.Dense, y []float64, lambda float64, iters int) []float64 {
	n, p := x.Dims()
	q := p + 1
	z := mat.NewDense(n, q, nil)
	for i := 0; i < n; i++ {
		z.Set(i, 0, 1)
		for j := 0; j < p; j++ {
			z.Set(i, j+1, x.At(i, j))
		}
	}
	beta := mat.NewVecDense(q, nil)
	wz := mat.NewDense(n, q, nil)
	eta := mat.NewVecDense(n, nil)
	for it := 0; it < iters; it++ {
		eta.MulVec(z, beta)
		g := mat.NewVecDense(q, nil)
		r := mat.NewVecDense(n, nil)
		for i := 0; i < n; i++ {
			pr := sigmoid(eta.AtVec(i))
			w := pr * (1 - pr)
			r.SetVec(i, y[i]-pr)
			for j := 0; j < q; j++ {
				wz.Set(i, j, w*z.At(i, j))
			}
		}
		g.MulVec(z.T(), r)
		var h mat.Dense
		h.Mul(z.T(), wz)
		for j := 1; j < q; j++ {
			h.Set(j, j, h.At(j, j)+lambda)
			g.SetVec(j, g.AtVec(j)-lambda*beta.AtVec(j))
		}
		var step mat.VecDense
		if err := step.SolveVec(&h, g); err != nil {
			panic(err)
		}
		beta.AddVec(beta, &step)
	}
	return beta.RawVector().Data
}

func BenchmarkLogisticVsNaive(b *testing.B) {
	for _, n := range []int{100000, 1000000} {
		d := SimulateReference(n, rand.NewPCG(1, 2))
		b.Run("impl=linear/size="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := (Linear{}).Fit(d.X, d.Y, nil, Classification, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("impl=naive-gonum-irls-8iter/size="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				benchNaiveLogistic(d.X, d.Y, 1, 8)
			}
		})
	}
}

// BenchmarkTLearnerReference fits the T-learner with Linear on the
// reference workload (SimulateReference, 12 features) and predicts the
// effects of every row.
func BenchmarkTLearnerReference(b *testing.B) {
	for _, n := range []int{100000, 1000000} {
		d := SimulateReference(n, rand.NewPCG(1, 2))
		b.Run("fit/size="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := (TLearner{}).FitUplift(d, rand.NewPCG(1, 1)); err != nil {
					b.Fatal(err)
				}
			}
		})
		m, err := TLearner{}.FitUplift(d, rand.NewPCG(1, 1))
		if err != nil {
			b.Fatal(err)
		}
		dst := mat.NewDense(n, 1, nil)
		b.Run("effects/size="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Effects(dst, d.X)
			}
		})
	}
}

// BenchmarkMetaLearnersReference fits each meta-learner with Linear on the
// reference workload.
func BenchmarkMetaLearnersReference(b *testing.B) {
	n := 1000000
	if testing.Short() {
		n = 100000
	}
	d := SimulateReference(n, rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		est  UpliftEstimator
	}{
		{"s", SLearner{}}, {"t", TLearner{}}, {"x", XLearner{}}, {"r", RLearner{}}, {"dr", DRLearner{}},
	} {
		b.Run(tc.name+"/size="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.est.FitUplift(d, rand.NewPCG(1, 1)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
