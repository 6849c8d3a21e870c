// Package ope estimates, from logged bandit feedback, what an evaluation
// policy would have earned had it chosen the actions (off-policy
// evaluation, OPE).
//
// A log holds rows i = 1..n: a context x_i, the action a_i the logging
// policy π_b chose at position k_i, the reward r_i it earned and the
// logging propensity p_i = π_b(a_i | x_i, k_i). The evaluation policy π_e
// gives, at every row, a distribution π_e(· | x_i, k_i) over the actions.
// The estimand is the value per logged row, as Open Bandit Pipeline (OBP)
// defines it for lists of len_list positions evaluated position by
// position:
//
//	V(π_e) = E[ Σ_a π_e(a | x, k) · q(x, a, k) ],   q(x, a, k) = E[r | x, a, k],
//
// with the expectation over the logged contexts and positions. It assumes
// that the reward at a position depends on the action there and not on the
// other positions' actions (OBP's independent-position, "IIPS" setting),
// and that π_b(a | x, k) > 0 wherever π_e(a | x, k) > 0.
//
// With the importance weight w_i = π_e(a_i | x_i, k_i) / p_i, a reward
// model q̂ cross-fitted on the log (FitRewards), its prediction at the
// logged action q̂_i = q̂(x_i, a_i, k_i) and its policy average
// d_i = Σ_a π_e(a | x_i, k_i)·q̂(x_i, a, k_i), the estimators are
//
//	ipw        (1/n) Σ w_i·r_i                                   (Horvitz & Thompson 1952; Precup et al. 2000)
//	snipw      Σ w_i·r_i / Σ w_i                                  (Swaminathan & Joachims 2015)
//	dm         (1/n) Σ d_i                                        (Beygelzimer & Langford 2009)
//	dr         (1/n) Σ d_i + w_i·(r_i − q̂_i)                      (Dudík, Erhan, Langford & Li 2014)
//	sndr       (1/n) Σ d_i + Σ w_i·(r_i − q̂_i) / Σ w_i            (self-normalised DR, as OBP's SNDR)
//	switch-dr  (1/n) Σ d_i + 1{w_i ≤ λ}·w_i·(r_i − q̂_i)           (Wang, Agarwal & Dudík 2017)
//	dros       (1/n) Σ d_i + λ·w_i/(w_i² + λ)·(r_i − q̂_i)         (Su, Dimakopoulou, Krishnamurthy & Dudík 2020)
//
// and switch-dr-tuned and dros-tuned choose λ from a grid by SLOPE (Su,
// Srinath & Krishnamurthy 2020, "Adaptive estimator selection for
// off-policy evaluation", in the form of Tucker & Lee 2021 that OBP
// implements) or by the estimated mean squared error with the bias upper
// bound of Su et al. (2020).
//
// Every estimate has a standard error from its influence function and a
// confidence interval: the percentile bootstrap over rows (the
// self-normalised estimators are normalised again inside every resample)
// or, without resamples, the normal interval value ± z·se.
//
// The package is plain numeric Go: slices and *mat.Dense in, an explicit
// rand.Source, no I/O. Evaluate is the entry point; Log, Policy and
// RewardModel are what a caller provides.
package ope
