package textscore_test

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/causalrec/causalrec/host/redistest"
)

// TestExampleLeavesNoKeys runs Example and checks that no key under its
// prefixes is left in Redis: it used to leave the catalog token that its
// write of text scores creates.
func TestExampleLeavesNoKeys(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	before, err := redistest.Keys(ctx, rdb, examplePrefix)
	if err != nil {
		t.Fatal(err)
	}
	// Example prints; its output is checked by go test as an example.
	stdout := os.Stdout
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout = w
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, r); close(done) }()
	Example()
	os.Stdout = stdout
	w.Close()
	<-done
	after, err := redistest.Keys(ctx, rdb, examplePrefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) > len(before) {
		t.Fatalf("Example left keys in Redis: %v (before it: %v)", after, before)
	}
}
