// Package receval evaluates recommenders by the causal effect of their
// recommendations, after Sato, Takemori, Singh and Ohkuma, "Unbiased
// Learning for the Causal Effect of Recommendation" (RecSys 2020) and
// Sato et al., "Uplift-based Evaluation and Optimization of Recommenders"
// (RecSys 2019).
//
// A log (Log) holds one row per user–item pair of a period: whether the
// item was recommended (treated), the logging policy's probability of
// recommending it (propensity), the observed outcome (a purchase, a
// click), numeric features and, for simulated data, the true effect τ of
// recommending the item on the outcome probability.
//
// The package holds
//   - a semi-synthetic simulator (Simulate) with known propensities and
//     potential outcomes, whose agreement between engagement and uplift is
//     a parameter;
//   - the causal ranking metrics CP@K, CDCG and CAR computed from the true
//     effects or estimated by inverse propensity scoring from a test log,
//     with bootstrap confidence intervals over users (Evaluate);
//   - rankers: popularity, outcome prediction (plain and inverse
//     propensity weighted), DLCE, and any uplift estimator of a
//     causal.Registry (NewRanker).
//
// The package does no I/O besides reading and writing CSV through
// io.Reader and io.Writer.
package receval
