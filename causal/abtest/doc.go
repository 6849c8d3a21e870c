// Package abtest analyses online experiments (A/B tests): per arm the
// users, outcomes per user and exposures; per arm against the baseline the
// absolute lift (Welch), the relative lift (delta method), CUPED and CUPAC
// variance reduction, an always-valid asymptotic confidence sequence; the
// sample ratio mismatch check across arms and Holm's correction across arms
// and metrics.
//
// The package is plain numeric Go in the style of gonum: slices in, the
// formula and its reference in each doc comment, no I/O and no hidden
// state. It imports neither Redis nor HTTP; a service collects each user's
// metric and hands the slices to Analyze.
//
// Notation used throughout: arm j has n_j users with metric values y_ij,
// mean ȳ_j and unbiased sample variance s_j² = Σ_i (y_ij − ȳ_j)²/(n_j − 1).
// Arm 0 is the baseline; every other arm is compared with it.
//
// References:
//   - B. L. Welch (1947), The generalization of "Student's" problem when
//     several different population variances are involved. Biometrika 34.
//   - A. Deng, Y. Xu, R. Kohavi, T. Walker (2013), Improving the sensitivity
//     of online controlled experiments by utilizing pre-experiment data
//     (CUPED). WSDM.
//   - J. Tang et al. / Doordash (2020), CUPAC: control using predictions as
//     covariates. (Regression adjustment on a model's prediction.)
//   - I. Waudby-Smith, D. Arbour, R. Sinha, E. H. Kennedy, A. Ramdas (2023),
//     Time-uniform central limit theory and asymptotic confidence sequences.
//     Annals of Statistics (arXiv:2103.06476).
//   - S. R. Howard, A. Ramdas, J. McAuliffe, J. Sekhon (2021), Time-uniform,
//     nonparametric, nonasymptotic confidence sequences. Annals of Statistics.
//   - S. Holm (1979), A simple sequentially rejective multiple test
//     procedure. Scandinavian Journal of Statistics 6.
//   - R. Kohavi, D. Tang, Y. Xu (2020), Trustworthy Online Controlled
//     Experiments, chapter 21 (sample ratio mismatch); A. Fabijan et al.
//     (2019), Diagnosing sample ratio mismatch in online controlled
//     experiments. KDD.
package abtest
