package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:80": true, "[::1]:9090": true, "127.1.2.3:1": true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:1": false, "10.0.0.5:80": false, "example.com:80": false, "8080": false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestServeRefusesUnsafeDefaults runs `causalrec serve` as the container
// would: without a Redis it refuses unless --embedded, and on a
// non-loopback address without a token it refuses unless
// --insecure-no-auth, which serves with a loud warning.
func TestServeRefusesUnsafeDefaults(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	t.Setenv("CAUSALREC_API_TOKEN", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, "serve needs a Redis to keep its data: give --redis URL"},
		{[]string{"serve", "--embedded", "--redis", redisURL()}, "--embedded and --redis exclude each other"},
		{[]string{"serve", "--redis", redisURL(), "--http", "0.0.0.0:0", "--grpc", "off"}, "serve listens on 0.0.0.0:0, beyond this machine, without an API token"},
		{[]string{"serve", "--embedded", "--http", "127.0.0.1:0", "--grpc", ":0"}, "serve listens on :0, beyond this machine"},
	} {
		code, _, errs := runCLI(t, "", c.args...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%q: exit %d, %s; want 2 and %q", c.args, code, errs, c.want)
		}
	}

	// With --insecure-no-auth (and --embedded) it serves, and says so.
	var errb syncBuf
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--embedded", "--insecure-no-auth", "--http", "0.0.0.0:0", "--grpc", "off"}, stdio{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &errb})
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(errb.String(), "msg=serving") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve --insecure-no-auth ended with %d:\n%s", code, errb.String())
	}
	for _, want := range []string{"SERVING WITHOUT AUTHENTICATION", "addrs=0.0.0.0:0", "embedded in-memory Redis: data is NOT persisted", "msg=serving"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("serve's log lacks %q:\n%s", want, errb.String())
		}
	}
}

// syncBuf is a goroutine-safe buffer.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
