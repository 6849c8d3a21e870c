// Command ridge-estimator is an example causalrec uplift estimator plugin
// in its own Go module: estimator "t", a T-learner over ridge regression.
// For each arm a it fits
//
//	mu_a(x) = b_a + w_a·z(x),  minimising  Σ_i v_i (y_i − mu_a(x_i))² + l2·|w_a|²
//
// over that arm's rows (v the row weights, 1 when the host sends none),
// where z(x) is x with every numeric feature standardised on the training
// rows and every categorical feature one-hot encoded (its first level
// dropped). The effect of treated arm k is mu_k(x) − mu_0(x).
//
// The host starts it; run by hand it says so and exits. See README.md.
package main

import "github.com/causalrec/causalrec/plugins"

func main() {
	plugins.Serve(plugins.Set{Estimator: ridge{}})
}
