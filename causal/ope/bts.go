package ope

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/stat/distuv"
)

// BernoulliTS returns the context-free action distribution of a Bernoulli
// Thompson-sampling list policy, prob[k][a] = P(action a is placed at
// position k), by Monte Carlo as OBP's BernoulliTS.compute_batch_action_dist:
// in each of samples draws every action a draws θ_a ~ Beta(alpha[a],
// beta[a]), and the action with the (k+1)-th largest θ goes to position k.
// src drives the draws.
func BernoulliTS(alpha, beta []float64, positions, samples int, src rand.Source) ([][]float64, error) {
	A := len(alpha)
	switch {
	case A == 0 || len(beta) != A:
		return nil, fmt.Errorf("%w: %d alphas and %d betas", ErrInput, len(alpha), len(beta))
	case positions < 1 || positions > A:
		return nil, fmt.Errorf("%w: %d positions for %d actions", ErrInput, positions, A)
	case samples < 1:
		return nil, fmt.Errorf("%w: %d samples", ErrInput, samples)
	}
	for a := range alpha {
		if !(alpha[a] > 0) || !(beta[a] > 0) || math.IsInf(alpha[a], 0) || math.IsInf(beta[a], 0) {
			return nil, fmt.Errorf("%w: action %d: Beta(%v, %v) needs positive finite parameters", ErrInput, a, alpha[a], beta[a])
		}
	}
	dists := make([]distuv.Beta, A)
	for a := range dists {
		dists[a] = distuv.Beta{Alpha: alpha[a], Beta: beta[a], Src: src}
	}
	count := make([][]int, positions)
	for k := range count {
		count[k] = make([]int, A)
	}
	theta := make([]float64, A)
	top := make([]int, positions)
	for range samples {
		for a := range theta {
			theta[a] = dists[a].Rand()
		}
		// The positions' actions: a partial selection of the largest draws.
		for k := range top {
			best := -1
			for a, v := range theta {
				if best < 0 || v > theta[best] {
					best = a
				}
			}
			top[k] = best
			theta[best] = math.Inf(-1)
		}
		for k, a := range top {
			count[k][a]++
		}
	}
	prob := make([][]float64, positions)
	for k := range prob {
		prob[k] = make([]float64, A)
		for a, c := range count[k] {
			prob[k][a] = float64(c) / float64(samples)
		}
	}
	return prob, nil
}
