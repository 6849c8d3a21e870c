// Package examples ships the small data sets the demo and the tests use, so
// that a fresh clone runs them with no other files.
package examples

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"io"
)

//go:embed hillstrom/hillstrom.csv.gz
var hillstromGz []byte

// Hillstrom returns the Hillstrom e-mail RCT as CSV (see
// hillstrom/SOURCE.md).
func Hillstrom() (io.ReadCloser, error) {
	return gzip.NewReader(bytes.NewReader(hillstromGz))
}
