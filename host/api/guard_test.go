package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/causalrec/causalrec/host/recommend"
	apiv1 "github.com/causalrec/causalrec/proto/causalrec/api/v1"
)

// TestRateLimit checks the per-client token buckets: a client over its
// burst gets 429 with Retry-After, other clients and the health checks are
// not held back.
func TestRateLimit(t *testing.T) {
	st, _ := testStore(t)
	srv := testServer(t, st, Deps{Server: ServerOptions{RateLimit: 0.5, RateBurst: 3, RateLimitBy: RateByToken}})
	get := func(token string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/models", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Header.Set("X-Body", string(body))
		return resp
	}
	for i := range 3 {
		if resp := get("a"); resp.StatusCode != 200 {
			t.Fatalf("request %d within the burst: %d %s", i+1, resp.StatusCode, resp.Header.Get("X-Body"))
		}
	}
	resp := get("a")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" || !strings.Contains(resp.Header.Get("X-Body"), "rate limit of 0.5 requests/s exceeded") {
		t.Errorf("over the burst: %d Retry-After %q %s; want 429, Retry-After 2", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("X-Body"))
	}
	if resp := get("b"); resp.StatusCode != 200 {
		t.Errorf("another token: %d, want 200 (its own bucket)", resp.StatusCode)
	}
	for range 5 {
		if code, out := do(t, srv, "GET", "/v1/health", "", nil); code != 200 {
			t.Fatalf("health under the rate limit: %d %s", code, out)
		}
	}
}

func TestRateLimiterRefills(t *testing.T) {
	now := time.Unix(0, 0)
	l := newRateLimiter(10, 2, func() time.Time { return now })
	for i, want := range []bool{true, true, false} {
		if _, ok := l.take("c"); ok != want {
			t.Fatalf("take %d: %v, want %v", i+1, ok, want)
		}
	}
	if wait, _ := l.take("c"); wait != 100*time.Millisecond {
		t.Errorf("wait %v, want 100ms", wait)
	}
	now = now.Add(150 * time.Millisecond)
	if _, ok := l.take("c"); !ok {
		t.Error("no token after the refill")
	}
	if _, ok := l.take("other"); !ok {
		t.Error("another client held back")
	}
	now = now.Add(time.Hour)
	l.sweep(now)
	if len(l.buckets) != 0 {
		t.Errorf("%d buckets of idle clients kept", len(l.buckets))
	}
}

// blocking is a Recommender that waits until released.
type blocking struct {
	entered chan struct{}
	release chan struct{}
}

func (b blocking) Recommend(ctx context.Context, req recommend.Request) (recommend.Response, error) {
	b.entered <- struct{}{}
	<-b.release
	return recommend.Response{User: req.User, Items: []recommend.Ranked{}}, nil
}

// TestRequestsInFlightCapped holds one request in the handler with a cap
// of one: the next is refused at once with 503 and Retry-After.
func TestRequestsInFlightCapped(t *testing.T) {
	st, _ := testStore(t)
	b := blocking{entered: make(chan struct{}), release: make(chan struct{})}
	srv := testServer(t, st, Deps{Recommender: b, Server: ServerOptions{MaxConcurrent: 1}})
	var wg sync.WaitGroup
	wg.Go(func() {
		if code, out := do(t, srv, "POST", "/v1/recommend", "", `{"user": "u"}`); code != 200 {
			t.Errorf("first request: %d %s", code, out)
		}
	})
	<-b.entered
	req, _ := http.NewRequest("POST", srv.URL+"/v1/recommend", strings.NewReader(`{"user": "v"}`))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(body), "server busy: 1 requests in flight") {
		t.Errorf("second request: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if code, _ := do(t, srv, "GET", "/v1/ready", "", nil); code != 200 {
		t.Errorf("readiness while busy: %d", code)
	}
	close(b.release)
	wg.Wait()
}

// naNScores is a Recommender whose answer JSON cannot hold.
type naNScores struct{}

func (naNScores) Recommend(context.Context, recommend.Request) (recommend.Response, error) {
	return recommend.Response{Items: []recommend.Ranked{{Item: "a", Score: math.Inf(1)}}}, nil
}

// TestAnswerEncodedFirst checks that an answer that cannot be encoded is
// a 500 naming the problem, not a 200 with an empty body.
func TestAnswerEncodedFirst(t *testing.T) {
	st, _ := testStore(t)
	srv := testServer(t, st, Deps{Recommender: naNScores{}})
	if code, out := do(t, srv, "POST", "/v1/recommend", "", `{"user": "u"}`); code != 500 || !strings.Contains(out, "encode the answer") {
		t.Errorf("got %d %s, want 500 saying the answer could not be encoded", code, out)
	}
}

// TestBearerSchemeCaseInsensitive sends the token with the scheme in any
// case (RFC 7235).
func TestBearerSchemeCaseInsensitive(t *testing.T) {
	st, _ := testStore(t)
	srv := testServer(t, st, Deps{Token: "secret"})
	for _, h := range []string{"Bearer secret", "bearer secret", "BEARER secret", "bEaReR  secret"} {
		if code, out := doHeader(t, srv, "GET", "/v1/models", http.Header{"Authorization": {h}}, nil); code != 200 {
			t.Errorf("%q: %d %s", h, code, out)
		}
	}
	for _, h := range []string{"Basic secret", "Bearer", "Bearersecret", "bearer wrong"} {
		if code, _ := doHeader(t, srv, "GET", "/v1/models", http.Header{"Authorization": {h}}, nil); code != 401 {
			t.Errorf("%q: %d, want 401", h, code)
		}
	}
}

// TestHealthAndReady checks liveness and readiness, with their details
// only for a caller with the token.
func TestHealthAndReady(t *testing.T) {
	st, _ := testStore(t)
	list := plugins{{Name: "causal", Kind: "uplift_estimator", Healthy: true, PID: 4242, Path: "/opt/secret/causal"},
		{Name: "lm", Kind: "text_scorer", Healthy: false, Error: "restarting"}}
	tok := http.Header{"Authorization": {"Bearer secret"}}
	srv := testServer(t, st, Deps{Token: "secret", Plugins: list, Required: []string{"causal"}})
	code, out := do(t, srv, "GET", "/v1/health", "", nil)
	if code != 200 || strings.TrimSpace(out) != `{"ok":true}` {
		t.Errorf("health without the token: %d %s, want only ok", code, out)
	}
	code, out = doHeader(t, srv, "GET", "/v1/health", tok, nil)
	if code != 200 || !strings.Contains(out, `"redis":true`) || !strings.Contains(out, `"pid":4242`) {
		t.Errorf("health with the token: %d %s, want the details", code, out)
	}
	if code, out := do(t, srv, "GET", "/v1/ready", "", nil); code != 200 || strings.TrimSpace(out) != `{"ok":true,"ready":true}` {
		t.Errorf("ready: %d %s", code, out)
	}
	srv = testServer(t, st, Deps{Token: "secret", Plugins: list, Required: []string{"causal", "lm"}})
	code, out = do(t, srv, "GET", "/v1/ready", "", nil)
	if code != 503 || strings.Contains(out, "lm") || strings.Contains(out, "/opt") {
		t.Errorf("not ready, without the token: %d %s; want 503 without details", code, out)
	}
	code, out = doHeader(t, srv, "GET", "/v1/ready", tok, nil)
	if code != 503 || !strings.Contains(out, "required plugin lm is not up") {
		t.Errorf("not ready, with the token: %d %s; want 503 naming the plugin", code, out)
	}
}

// startRun runs the API server of d on a free local port and returns its
// HTTP address.
func startRun(t *testing.T, d Deps) string {
	t.Helper()
	h, _ := startRunGRPC(t, d, false)
	return h
}

// startRunGRPC is startRun that serves gRPC too, when asked, and returns
// its address.
func startRunGRPC(t *testing.T, d Deps, withGRPC bool) (string, string) {
	t.Helper()
	srv := New(d)
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan [2]string, 1)
	done := make(chan error, 1)
	grpcAddr := ""
	if withGRPC {
		grpcAddr = "127.0.0.1:0"
	}
	go func() {
		done <- srv.Run(ctx, "127.0.0.1:0", grpcAddr, func(h, g net.Addr) {
			a := [2]string{h.String(), ""}
			if g != nil {
				a[1] = g.String()
			}
			addr <- a
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	select {
	case a := <-addr:
		return a[0], a[1]
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	return "", ""
}

// TestGRPCGuards checks the rate limit over gRPC: ResourceExhausted with a
// RetryInfo, and Health exempt.
func TestGRPCGuards(t *testing.T) {
	st, _ := testStore(t)
	_, gaddr := startRunGRPC(t, Deps{Ingest: st, Models: st, Health: st, Recommender: recommend.NewRanker(st, nil, nil), Plugins: plugins{},
		Server: ServerOptions{RateLimit: 0.5, RateBurst: 2}}, true)
	conn, err := grpc.NewClient(gaddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := apiv1.NewRecommenderClient(conn)
	ctx := context.Background()
	for i := range 2 {
		if _, err := c.Recommend(ctx, &apiv1.RecommendRequest{User: "u"}); err != nil {
			t.Fatalf("call %d within the burst: %v", i+1, err)
		}
	}
	_, err = c.Recommend(ctx, &apiv1.RecommendRequest{User: "u"})
	st2 := status.Convert(err)
	var retry *errdetails.RetryInfo
	for _, d := range st2.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if st2.Code() != codes.ResourceExhausted || retry == nil || retry.GetRetryDelay().AsDuration() != 2*time.Second {
		t.Errorf("over the burst: %v (details %v); want ResourceExhausted with a RetryInfo of 2s", err, st2.Details())
	}
	if h, err := c.Health(ctx, &apiv1.HealthRequest{}); err != nil || !h.GetOk() {
		t.Errorf("health under the rate limit: %v %v", h, err)
	}
}

// closedWithin reads from c until the server closes it and returns how
// long that took after start.
func closedWithin(t *testing.T, c net.Conn, start time.Time) time.Duration {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept the connection open for 10s")
	}
	return time.Since(start)
}

// TestSlowAndIdleClientsCut connects as a slow-header, a slow-body and an
// idle keep-alive client: each connection is closed at its timeout.
func TestSlowAndIdleClientsCut(t *testing.T) {
	st, _ := testStore(t)
	addr := startRun(t, Deps{Ingest: st, Models: st, Health: st, Recommender: recommend.NewRanker(st, nil, nil), Plugins: plugins{},
		RequestTimeout: 100 * time.Millisecond,
		Server:         ServerOptions{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond, WriteTimeout: time.Second, IdleTimeout: 400 * time.Millisecond}})
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	for _, tc := range []struct {
		name     string
		send     string
		min, max time.Duration
	}{
		{"slow headers", "POST /v1/items HTTP/1.1\r\nHost: x\r\n", 250 * time.Millisecond, 2 * time.Second},
		{"slow body", "POST /v1/items HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"items\": [", 550 * time.Millisecond, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial()
			start := time.Now()
			if _, err := io.WriteString(c, tc.send); err != nil {
				t.Fatal(err)
			}
			if d := closedWithin(t, c, start); d < tc.min || d > tc.max {
				t.Errorf("connection closed after %v, want within [%v, %v]", d, tc.min, tc.max)
			}
		})
	}
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial()
		if _, err := io.WriteString(c, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("health: %v %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		start := time.Now()
		if d := closedWithin(t, c, start); d < 350*time.Millisecond || d > 2*time.Second {
			t.Errorf("idle connection closed after %v, want about 400ms", d)
		}
	})
}

// TestConnectionsCapped holds the only connection slot: a second client
// is served only once the first connection closes.
func TestConnectionsCapped(t *testing.T) {
	st, _ := testStore(t)
	addr := startRun(t, Deps{Ingest: st, Models: st, Health: st, Recommender: recommend.NewRanker(st, nil, nil), Plugins: plugins{},
		Server: ServerOptions{MaxConnections: 1}})
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // accepted: it holds the slot
	answered := make(chan error, 1)
	go func() {
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get("http://" + addr + "/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		answered <- err
	}()
	select {
	case err := <-answered:
		t.Fatalf("a second connection was served while the first held the only slot: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	first.Close()
	select {
	case err := <-answered:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second client was not served after the first closed")
	}
}
