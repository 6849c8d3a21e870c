package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/causalrec/causalrec/host/redistest"
)

// TestMain lets the test binary stand in for the causalrec executable:
// built-in plugins run as "<executable> plugins serve NAME", and here the
// executable is the test binary, so such a call serves the plugin.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "plugins" && os.Args[2] == "serve" {
		os.Exit(run(context.Background(), os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}))
	}
	// A test may run "<test binary> serve ..." as a serve process of its
	// own (TestServeProcessesAssignAlike); it stops on SIGINT.
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		code := run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
		stop()
		os.Exit(code)
	}
	redis.SetLogger(redisLogger{slog.New(slog.DiscardHandler)})
	code := m.Run()
	if builtDir != "" {
		_ = os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// runCLI runs the CLI in process and returns the exit code, standard
// output and standard error.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, stdio{in: strings.NewReader(stdin), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

// redisURL is the real Redis the tests use.
func redisURL() string { return redistest.URL() }

// testPrefix returns a key prefix owned by this test; every key under it
// is deleted when the test ends.
func testPrefix(t *testing.T) string {
	t.Helper()
	return redistest.Prefix(t)
}

// clusterRedis returns the URL of the test Redis Cluster and a key prefix
// owned by this test on it; it skips the test when REDIS_CLUSTER_URL is
// unset (see package redistest).
func clusterRedis(tb testing.TB) (url, prefix string) {
	tb.Helper()
	c := redistest.ClusterClient(tb)
	return redistest.ClusterURL(), redistest.PrefixOn(tb, c)
}

// testPrefixB is testPrefix for tests and benchmarks.
func testPrefixB(t testing.TB) string {
	t.Helper()
	return redistest.Prefix(t)
}
