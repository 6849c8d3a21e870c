// Package sentiment scores the sentiment of English text.
//
// Analyzer is a port of VADER (Hutto & Gilbert 2014) that agrees with the
// reference Python implementation: a valence lexicon, negation, intensifiers
// and dampeners, the contrastive "but", ALL-CAPS and "!"/"?" emphasis,
// idioms, and emoji. Its compound score is in [-1, 1]. The lexicons are
// embedded, so NewAnalyzer needs no files, and an Analyzer is safe for
// concurrent use and does not allocate per call.
//
// Classifier is a trained binary classifier (logistic regression over word,
// word-pair and word-prefix features with negation marking, plus VADER and
// AFINN-165 lexicon scores). Train fits it deterministically given a random
// source; Save and LoadClassifier store it as versioned JSON.
//
// ReadLabeled parses "text<TAB>label" training data.
//
// The package reads only from io.Readers and strings; it does no other I/O.
package sentiment
