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
// word-pair and word-prefix features with negation marking, plus VADER,
// AFINN-165 and Hu–Liu opinion-lexicon features). Train fits it
// deterministically given a random source; Save and LoadClassifier store it
// as versioned JSON, and LoadClassifier still reads the models of older
// versions.
//
// ReadLabeled parses "text<TAB>label" training data.
//
// The package reads only from io.Readers and strings; it does no other I/O.
package sentiment
