// Package causal holds causalrec's uplift (conditional average treatment
// effect) estimators, their base learners and the metrics that evaluate them.
//
// The package is plain numeric Go in the style of gonum: slices and
// *mat.Dense in, optional weights (nil means every weight is 1), explicit
// random sources, no I/O. It imports neither gRPC nor Redis, so it can be
// used as a library on its own.
//
// Conventions shared by every file:
//   - Feature matrices are row-major *mat.Dense with one row per unit.
//   - Treatment arms are integers: 0 is the control arm, 1..K are the
//     treated arms.
//   - Effects are returned as an n×K matrix: column k-1 holds the estimated
//     effect of arm k against control.
package causal
