package causal

import (
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// ReferenceFeatures is the number of features of SimulateReference.
const ReferenceFeatures = 12

// SimulateReference draws n units of causalrec's reference uplift
// workload: a randomised trial with one treated arm,
//
//	x_0..x_11 ~ N(0, 1) independently,
//	t ~ Bernoulli(0.5),
//	y ~ Bernoulli(σ(−2 + x_0 + 0.5·x_1 + t·(0.3·x_2 − 0.2·x_3 + 0.5))),
//
// with σ(z) = 1/(1+e^−z). Propensity, Weights and Categorical are nil.
// ReferenceEffects gives the true effect of each unit. The draws for a row
// are its 12 features, then t, then y, so the same src state gives the
// same data.
func SimulateReference(n int, src rand.Source) UpliftData {
	if n < 1 {
		panic(fmt.Sprintf("causal: SimulateReference with %d rows", n))
	}
	rng := rand.New(src)
	x := mat.NewDense(n, ReferenceFeatures, nil)
	raw := x.RawMatrix()
	t := make([]int, n)
	y := make([]float64, n)
	for i := 0; i < n; i++ {
		row := raw.Data[i*raw.Stride : i*raw.Stride+ReferenceFeatures]
		for j := range row {
			row[j] = rng.NormFloat64()
		}
		if rng.Float64() < 0.5 {
			t[i] = 1
		}
		eta := -2 + row[0] + 0.5*row[1]
		if t[i] == 1 {
			eta += 0.3*row[2] - 0.2*row[3] + 0.5
		}
		if rng.Float64() < sigmoid(eta) {
			y[i] = 1
		}
	}
	return UpliftData{X: x, Treatment: t, Arms: 1, Y: y}
}

// ReferenceEffects writes the true effect of treatment on P(y=1) for each
// row of x in the SimulateReference design,
//
//	τ(x) = σ(−1.5 + x_0 + 0.5·x_1 + 0.3·x_2 − 0.2·x_3) − σ(−2 + x_0 + 0.5·x_1),
//
// into dst (allocated when nil or too short) and returns it.
func ReferenceEffects(dst []float64, x *mat.Dense) []float64 {
	n, p := x.Dims()
	if p < 4 {
		panic(fmt.Sprintf("causal: reference effects need 4 features, got %d", p))
	}
	if cap(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	for i := range dst {
		base := -2 + x.At(i, 0) + 0.5*x.At(i, 1)
		dst[i] = sigmoid(base+0.3*x.At(i, 2)-0.2*x.At(i, 3)+0.5) - sigmoid(base)
	}
	return dst
}
