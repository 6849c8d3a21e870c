// Package experiment runs online experiments in the service: it validates
// and stores experiments (POST /v1/experiments), assigns users to arms by a
// deterministic hash, records each user's first arm, routes the user's
// lists to the arm's model and policy, logs the lists served, and
// assembles the per-user data of a report.
//
// Assignment. Every user has a position in the global hash space,
// Position("", user), and a position within each experiment,
// Position(salt, user); both are the first 53 bits of
// SHA-256(salt ‖ 0x00 ‖ user) read as a fraction of 2⁵³, a number in
// [0, 1) computed the same on every replica and after restarts. A user is
// in the running experiment whose namespace [lo, hi) holds the global
// position, and among its covered users when the experiment position p is
// below the coverage c; the arm is the first whose cumulative weight
// exceeds p/c. Running experiments' namespaces are disjoint, so a user is
// in at most one. The first list served records (experiment, arm, time);
// the recorded arm stands.
//
// The analysis of the data (package causal/abtest and causal/ope) is not
// here: the host reaches the numeric libraries only through the commands,
// which give the Service an Analyzer.
package experiment
