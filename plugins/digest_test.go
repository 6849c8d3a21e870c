package plugins

import (
	"crypto/sha256"
	"fmt"
	"testing"
)

func TestDigestMemo(t *testing.T) {
	// The memo gives the sha256 of the bytes it is shown, also for bytes
	// changed in place after they were first seen, and stays bounded.
	d := newDigestMemo()
	model := []byte("first model bytes")
	tests := []struct {
		name   string
		mutate func()
	}{
		{"first sight", func() {}},
		{"seen again", func() {}},
		{"changed in place", func() { model[0] = 'F' }},
		{"same length, other bytes", func() { copy(model, "other model bytes") }},
		{"shorter", func() { model = model[:5] }},
		{"nil", func() { model = nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.mutate()
			if got, want := d.sum(model), sha256.Sum256(model); got != want {
				t.Fatalf("digest %x, want %x", got[:8], want[:8])
			}
		})
	}
	for i := range 3 * digestMemoSize {
		b := fmt.Appendf(nil, "model %d", i)
		if got, want := d.sum(b), sha256.Sum256(b); got != want {
			t.Fatalf("model %d: digest %x, want %x", i, got[:8], want[:8])
		}
	}
	if n := len(d.m); n > digestMemoSize {
		t.Errorf("memo holds %d digests, limit %d", n, digestMemoSize)
	}
	var none *digestMemo
	if got, want := none.sum(model), sha256.Sum256(model); got != want {
		t.Errorf("nil memo: digest %x, want %x", got[:8], want[:8])
	}
}
