package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/causalrec/causalrec/host/causalrec"
	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/redistest"
)

func TestMain(m *testing.M) {
	// The test binary is the executable the built-in plugins run from.
	if causalrec.ServePlugin() {
		return
	}
	os.Exit(m.Run())
}

// TestEmbed runs the example on the real Redis at REDIS_URL: it ingests,
// trains and recommends in-process, and an uplift model must put the
// umbrella first for the rainy user and the sunglasses first for the other.
func TestEmbed(t *testing.T) {
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix = redistest.URL(), redistest.Prefix(t)
	cfg.EstimatorParams = map[string]string{"base": "gbt"}
	var out bytes.Buffer
	if err := run(context.Background(), cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("output of %d lines, want 4:\n%s", len(lines), out.String())
	}
	for _, want := range []struct {
		line   int
		prefix string
	}{
		{0, "ingested 3 items, 3000 users, "},
		{1, "trained uplift:t on "},
		{2, "new-rainy (uplift:t): umbrella +"},
		{3, "new-sunny (uplift:t): sunglasses +"},
	} {
		if !strings.HasPrefix(lines[want.line], want.prefix) {
			t.Errorf("line %d: %q, want it to start with %q", want.line+1, lines[want.line], want.prefix)
		}
	}
}
