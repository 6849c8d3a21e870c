package examples

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
)

func TestHillstromIntact(t *testing.T) {
	r, err := Hillstrom()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatal(err)
	}
	const want = "ff9e59285e9dc3f5fa3e0975419e6631ea5bdccd65d818991473d2367e02979c"
	if got := hex.EncodeToString(h.Sum(nil)); got != want || n != 3964975 {
		t.Fatalf("hillstrom.csv: %d bytes, sha256 %s; want 3964975 bytes, %s", n, got, want)
	}
}
