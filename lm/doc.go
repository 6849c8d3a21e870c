// Package lm implements n-gram language models for scoring item text:
// interpolated modified Kneser–Ney estimation following KenLM's lmplz,
// ARPA reading and writing, a compact hashed model with allocation-free
// queries and a fast binary format, perplexity, and the fluency and
// relevance features a recommender uses.
//
// All probabilities are log10, as in ARPA files and KenLM.
package lm
