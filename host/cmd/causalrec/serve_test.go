package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

// startServe runs serve with cfg in the background and returns the base
// URL of its HTTP API.
func startServe(t *testing.T, cfg config.Config) string {
	t.Helper()
	base, _ := startServeGRPC(t, cfg)
	return base
}

// startServeGRPC is startServe that also returns the gRPC address.
func startServeGRPC(t *testing.T, cfg config.Config) (string, string) {
	t.Helper()
	return startServeB(t, cfg)
}

// startServeB starts serve for a test or a benchmark.
func startServeB(t testing.TB, cfg config.Config) (string, string) {
	t.Helper()
	return startServeLogged(t, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// startServeLogged is startServeB with the server's logger.
func startServeLogged(t testing.TB, cfg config.Config, logger *slog.Logger) (string, string) {
	t.Helper()
	cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, logger, func(h, g net.Addr) { ready <- [2]net.Addr{h, g} }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve ended with %v", err)
		}
	})
	select {
	case a := <-ready:
		return "http://" + a[0].String(), a[1].String()
	case err := <-done:
		done <- err // for the cleanup, which waits for serve to end
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	return "", ""
}

// call sends a JSON request (in encoded, or sent as it is when it is a
// []byte) and decodes the JSON answer into out, returning the status code
// and the raw body.
func call(t testing.TB, method, url, token string, in, out any) (int, string) {
	t.Helper()
	var body io.Reader
	switch in := in.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(in)
	default:
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

// simulatedEvents logs a small experiment: users with a feature x see
// item "a" or "b" or are held out; the outcome is likelier when shown,
// more so for users with x = 1.
func simulatedEvents(n int, from int) []store.Event {
	var out []store.Event
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := from; i < from+n; i++ {
		u := fmt.Sprintf("u%d", i)
		x := i % 2
		for j, it := range []string{"a", "b"} {
			arm := "treated"
			if (i+j)%3 == 0 {
				arm = recommend.ControlArm
			}
			out = append(out, store.Event{ID: fmt.Sprintf("%s:%s:x", u, it), Kind: store.Exposure, User: u, Item: it, Time: t0, Arm: arm, Propensity: 0.5})
			p := 1 + x // outcome when i%7 < p (+2 when treated)
			if arm == "treated" {
				p += 2
			}
			if i%7 < p {
				out = append(out, store.Event{ID: fmt.Sprintf("%s:%s:o", u, it), Kind: store.Outcome, User: u, Item: it, Time: t0.Add(time.Hour)})
			}
		}
	}
	return out
}

func ingestUsers(t testing.TB, base, token string, n int) {
	t.Helper()
	var users []store.User
	for i := 0; i < n; i++ {
		users = append(users, store.User{ID: fmt.Sprintf("u%d", i), Features: map[string]float64{"x": float64(i % 2)}})
	}
	if code, body := call(t, "POST", base+"/v1/users", token, map[string]any{"users": users}, nil); code != 200 {
		t.Fatalf("users: %d %s", code, body)
	}
	items := []store.Item{{ID: "a", Text: "item a", Features: map[string]float64{"f": 1}}, {ID: "b", Text: "item b", Features: map[string]float64{"f": 0}}}
	if code, body := call(t, "POST", base+"/v1/items", token, map[string]any{"items": items}, nil); code != 200 {
		t.Fatalf("items: %d %s", code, body)
	}
}

// postEvents ingests events through the API and fails the test unless
// the answer is 200.
func postEvents(t testing.TB, base, token string, events []store.Event) {
	t.Helper()
	if code, body := call(t, "POST", base+"/v1/events", token, map[string]any{"events": events}, nil); code != 200 {
		t.Fatalf("events: %d %s", code, body)
	}
}

// textlessConfig is the default configuration on the real Redis under a
// prefix of the test's own, without text features: for tests of the
// training and the serving of the other features.
func textlessConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix = redisURL(), testPrefix(t)
	cfg.TextFeatures = "off"
	return cfg
}

// modelList is the answer of GET /v1/models and POST /v1/models/rollback.
type modelList struct {
	Serving, Previous string
	Models            []store.ModelRecord
}

func TestServeSurvivesPluginCrash(t *testing.T) {
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix = redisURL(), testPrefix(t)
	cfg.PluginPingInterval = config.Duration(200 * time.Millisecond)
	base := startServe(t, cfg)

	ingestUsers(t, base, "", 600)
	events := simulatedEvents(600, 0)
	var ing struct{ Received, Written, Duplicates int }
	if code, body := call(t, "POST", base+"/v1/events", "", map[string]any{"events": events}, &ing); code != 200 || ing.Written != len(events) {
		t.Fatalf("events: %d %s", code, body)
	}
	sent := len(events)
	var tr recommend.TrainResult
	if code, body := call(t, "POST", base+"/v1/train", "", struct{}{}, &tr); code != 200 || tr.Rows != 1200 {
		t.Fatalf("train: %d %s", code, body)
	}
	var rec recommend.Response
	if code, body := call(t, "POST", base+"/v1/recommend", "", recommend.Request{User: "u1", K: 2, IncludeConsumed: true}, &rec); code != 200 || rec.Ranker != "uplift:t" || len(rec.Items) != 2 || rec.RequestID == "" {
		t.Fatalf("recommend: %d %s", code, body)
	}

	var plugins []pluginhost.Status
	call(t, "GET", base+"/v1/plugins", "", nil, &plugins)
	pid := 0
	for _, p := range plugins {
		if p.Name == "causal" {
			pid = p.PID
		}
	}
	if pid <= 0 {
		t.Fatalf("no causal plugin pid in %+v", plugins)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// While the plugin is down: recommendations fall back and say why,
	// quickly; ingestion goes on.
	sawFallback := false
	deadline := time.Now().Add(15 * time.Second)
	for round := 0; ; round++ {
		start := time.Now()
		rec = recommend.Response{}
		code, body := call(t, "POST", base+"/v1/recommend", "", recommend.Request{User: "u2", K: 2, IncludeConsumed: true}, &rec)
		if code != 200 {
			t.Fatalf("recommend while the plugin is down: %d %s", code, body)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("recommend took %v while the plugin was down", d)
		}
		if rec.Ranker == "popularity" {
			if !strings.Contains(rec.FallbackReason, "causal") || strings.Contains(rec.FallbackReason, "/") {
				t.Fatalf("fallback reason does not name the plugin, or shows a path: %q", rec.FallbackReason)
			}
			sawFallback = true
		}
		more := simulatedEvents(5, 1000+5*round)
		if code, body := call(t, "POST", base+"/v1/events", "", map[string]any{"events": more}, nil); code != 200 {
			t.Fatalf("events while the plugin is down: %d %s", code, body)
		}
		sent += len(more)
		if rec.Ranker == "uplift:t" && (sawFallback || round > 0) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin not back within 15s; last response %+v", rec)
		}
		time.Sleep(50 * time.Millisecond)
	}
	call(t, "GET", base+"/v1/plugins", "", nil, &plugins)
	for _, p := range plugins {
		if p.Name == "causal" && (!p.Healthy || p.PID == pid) {
			t.Fatalf("causal plugin after restart: %+v (old pid %d)", p, pid)
		}
	}
	// No ingested event was lost.
	n, err := storeOf(t, cfg).EventCount(context.Background())
	if err != nil || n != int64(sent) {
		t.Fatalf("event log holds %d events (%v), %d were sent", n, err, sent)
	}
	// Metrics are exported.
	if code, body := call(t, "GET", base+"/metrics", "", nil, nil); code != 200 || !strings.Contains(body, "causalrec_recommend_fallbacks_total") {
		t.Fatalf("metrics: %d", code)
	}
}

// storeOf opens the store of cfg (its Redis and prefix) for the test to
// read what serve wrote.
func storeOf(t *testing.T, cfg config.Config) *store.Store {
	t.Helper()
	o, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	o.MaxRetries = -1
	rdb := redis.NewClient(o)
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := store.New(rdb, store.Options{Prefix: cfg.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// pluginPID returns the PID of the named plugin from GET /v1/plugins
// (0 when it is not running).
func pluginPID(t *testing.T, base, token, name string) (int, pluginhost.Status) {
	t.Helper()
	var plugins []pluginhost.Status
	if code, body := call(t, "GET", base+"/v1/plugins", token, nil, &plugins); code != 200 {
		t.Fatalf("plugins: %d %s", code, body)
	}
	for _, p := range plugins {
		if p.Name == name {
			return p.PID, p
		}
	}
	t.Fatalf("no plugin %s in %+v", name, plugins)
	return 0, pluginhost.Status{}
}

// TestServeFallsBackFromHungPlugin stops the estimator plugin (SIGSTOP)
// under serve: every recommendation falls back to popularity within the
// Predict deadline and says why without a path, the plugin is ejected and
// restarted, and the model ranks again.
func TestServeFallsBackFromHungPlugin(t *testing.T) {
	cfg := textlessConfig(t)
	cfg.PluginPingInterval = config.Duration(200 * time.Millisecond)
	cfg.PluginTimeouts.Predict = config.Duration(250 * time.Millisecond)
	base := startServe(t, cfg)
	ingestUsers(t, base, "", 300)
	postEvents(t, base, "", simulatedEvents(300, 0))
	if code, body := call(t, "POST", base+"/v1/train", "", struct{}{}, nil); code != 200 {
		t.Fatalf("train: %d %s", code, body)
	}
	req := recommend.Request{User: "u1", K: 2, IncludeConsumed: true}
	var rec recommend.Response
	if code, body := call(t, "POST", base+"/v1/recommend", "", req, &rec); code != 200 || rec.Ranker != "uplift:t" {
		t.Fatalf("recommend: %d %s", code, body)
	}
	pid, _ := pluginPID(t, base, "", "causal")
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	var slowest time.Duration
	fallbacks := 0
	deadline := time.Now().Add(20 * time.Second)
	for {
		start := time.Now()
		rec = recommend.Response{}
		if code, body := call(t, "POST", base+"/v1/recommend", "", req, &rec); code != 200 {
			t.Fatalf("recommend with the plugin stopped: %d %s", code, body)
		}
		slowest = max(slowest, time.Since(start))
		if rec.Ranker == "popularity" {
			fallbacks++
			if !strings.Contains(rec.FallbackReason, "estimator plugin causal") || strings.Contains(rec.FallbackReason, "/") {
				t.Fatalf("fallback reason %q: want the plugin named and no path", rec.FallbackReason)
			}
		} else if fallbacks > 0 {
			break // the restarted plugin ranks again
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stopped plugin was not restarted within 20s (last answer %+v)", rec)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if slowest >= 500*time.Millisecond {
		t.Errorf("the slowest recommendation took %v with the plugin stopped; want under 500ms (Predict deadline 250ms)", slowest)
	}
	newPID, st := pluginPID(t, base, "", "causal")
	if newPID == pid || !st.Healthy || st.Ejections < 1 {
		t.Errorf("plugin after the restart: %+v (old pid %d)", st, pid)
	}
	t.Logf("%d fallbacks, slowest answer %v; plugin %+v", fallbacks, slowest, st)
}

func mustParseRedis(t *testing.T) *redis.Options {
	t.Helper()
	o, err := redis.ParseURL(redisURL())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestAPIRejectsBadRequests(t *testing.T) {
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix, cfg.APIToken, cfg.MaxBodyBytes = redisURL(), testPrefix(t), "s3cret", 4096
	base := startServe(t, cfg)
	tests := []struct {
		name, method, path, token string
		body                      any
		code                      int
		want                      string
	}{
		{"no token", "POST", "/v1/recommend", "", recommend.Request{User: "u"}, 401, "API token"},
		{"wrong token", "POST", "/v1/recommend", "nope", recommend.Request{User: "u"}, 401, "API token"},
		{"unknown field", "POST", "/v1/recommend", "s3cret", map[string]any{"usr": "u"}, 400, `unknown field "usr"`},
		{"no user", "POST", "/v1/recommend", "s3cret", map[string]any{}, 400, "user is required"},
		{"unknown candidates", "POST", "/v1/recommend", "s3cret", recommend.Request{User: "u", Candidates: []string{"zz"}}, 400, `unknown items "zz"`},
		{"wrong type", "POST", "/v1/recommend", "s3cret", map[string]any{"user": 5}, 400, `field "user"`},
		{"not an object", "POST", "/v1/recommend", "s3cret", []int{1}, 400, "request body: want a JSON object, got JSON array"},
		{"too large", "POST", "/v1/items", "s3cret", map[string]any{"items": []store.Item{{ID: "x", Text: strings.Repeat("y", 5000)}}}, 413, "over the limit of 4096 bytes"},
		{"bad event", "POST", "/v1/events", "s3cret", map[string]any{"events": []map[string]any{{"kind": "exposure", "user": "u", "item": "i", "propensity": 2}}}, 400, "events[0]"},
		{"bad kind", "POST", "/v1/events", "s3cret", map[string]any{"events": []map[string]any{{"kind": "click", "user": "u", "item": "i"}}}, 400, "events[0]"},
		{"health without token", "GET", "/v1/health", "", nil, 200, `{"ok":true}`},
		{"health with token", "GET", "/v1/health", "s3cret", nil, 200, `"redis":true`},
		{"ready without token", "GET", "/v1/ready", "", nil, 200, `"ready":true`},
		{"no route", "GET", "/v2/x", "s3cret", nil, 404, "no route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := call(t, tt.method, base+tt.path, tt.token, tt.body, nil)
			var msg struct{ Error string }
			if code != 200 {
				if err := json.Unmarshal([]byte(body), &msg); err != nil || msg.Error == "" {
					t.Fatalf("error body is not JSON with an error message: %s", body)
				}
				body = msg.Error
			}
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Fatalf("got %d %s; want %d containing %q", code, body, tt.code, tt.want)
			}
		})
	}
	// Before any training, recommend falls back and says so.
	var rec recommend.Response
	call(t, "POST", base+"/v1/items", "s3cret", map[string]any{"items": []store.Item{{ID: "a"}}}, nil)
	if code, body := call(t, "POST", base+"/v1/recommend", "s3cret", recommend.Request{User: "new-user", Candidates: []string{"a"}}, &rec); code != 200 || rec.Ranker != "popularity" || !strings.Contains(rec.FallbackReason, "no serving model") {
		t.Fatalf("recommend before training: %d %s", code, body)
	}
}

// ownRedis is a redis-server of a test's own on a free port, with its
// data (AOF with every write synced, when aof is set) in a directory of
// the test's, so that a restart finds what was acknowledged.
type ownRedis struct {
	t    *testing.T
	port int
	dir  string
	aof  bool
	stop func() // kills the running server; nil when none runs
}

// startOwnRedis starts a redis-server for the test and stops it when the
// test ends.
func startOwnRedis(t *testing.T, aof bool) *ownRedis {
	t.Helper()
	r := &ownRedis{t: t, port: freePorts(t, 1)[0], dir: t.TempDir(), aof: aof}
	r.start() // startRedisProc kills every server it started when the test ends
	return r
}

func (r *ownRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d", r.port) }

// start starts the server and waits until it answers.
func (r *ownRedis) start() {
	r.t.Helper()
	args := []string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--dir", r.dir, "--appendonly", "no"}
	if r.aof {
		args = append(args[:len(args)-1], "yes", "--appendfsync", "always")
	}
	r.stop = startRedisProc(r.t, r.port, args...)
}

// kill kills the server (SIGKILL) and waits for it to exit.
func (r *ownRedis) kill() {
	if r.stop != nil {
		r.stop()
		r.stop = nil
	}
}

// freePorts returns n free TCP ports of 127.0.0.1.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// startRedisProc starts redis-server with args, waits until it answers on
// port and kills it (SIGKILL) when the test ends; kill kills it earlier.
func startRedisProc(t *testing.T, port int, args ...string) (kill func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("this test needs redis-server on PATH (Debian package redis-server): %v", err)
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	kill = func() {
		if !done {
			done = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(kill)
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1})
	defer c.Close()
	waitFor(t, 10*time.Second, fmt.Sprintf("redis-server %v to answer on port %d", args, port), func() bool {
		return c.Ping(context.Background()).Err() == nil
	})
	return kill
}

// waitFor polls ok every 20 ms until it holds and fails the test when it
// does not within limit; what names the awaited state in the failure.
func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	for start := time.Now(); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > limit {
			t.Fatalf("waited %v for %s", limit, what)
		}
	}
}

// TestServeSurvivesRedisOutage runs a Redis server of its own, stops it
// under a running serve and starts it again.
func TestServeSurvivesRedisOutage(t *testing.T) {
	srv := startOwnRedis(t, false)
	port := srv.port
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix = srv.url(), "outage:"
	base := startServe(t, cfg)
	ingestUsers(t, base, "", 10)

	srv.kill()
	code, body := call(t, "GET", base+"/v1/ready", "", nil, nil)
	if code != 503 || !strings.Contains(body, "redis") || !strings.Contains(body, strconv.Itoa(port)) {
		t.Fatalf("readiness during the outage: %d %s", code, body)
	}
	if code, body := call(t, "GET", base+"/v1/health", "", nil, nil); code != 200 {
		t.Fatalf("liveness during the outage: %d %s (the process still serves)", code, body)
	}
	code, body = call(t, "POST", base+"/v1/recommend", "", recommend.Request{User: "u1"}, nil)
	if code != 503 || !strings.Contains(body, strconv.Itoa(port)) {
		t.Fatalf("recommend during the outage: %d %s", code, body)
	}
	code, body = call(t, "POST", base+"/v1/events", "", map[string]any{"events": simulatedEvents(1, 0)}, nil)
	if code != 503 {
		t.Fatalf("ingest during the outage: %d %s (the client must be told to retry)", code, body)
	}

	srv.start()
	waitHealthy(t, base)
	if code, body := call(t, "POST", base+"/v1/events", "", map[string]any{"events": simulatedEvents(1, 0)}, nil); code != 200 {
		t.Fatalf("ingest after the outage: %d %s", code, body)
	}
}

// waitHealthy waits until serve's readiness check answers 200.
func waitHealthy(t *testing.T, base string) {
	t.Helper()
	waitFor(t, 20*time.Second, "serve to be ready again after Redis came back", func() bool {
		code, _ := call(t, "GET", base+"/v1/ready", "", nil, nil)
		return code == 200
	})
}

// TestIngestSurvivesRedisKill kills Redis (SIGKILL; AOF with every write
// synced) while serve writes a batch of 20,000 events without IDs sent with
// an Idempotency-Key: the answer says how many were written and where the
// batch stopped, and once Redis is back the same request stores the rest,
// each event exactly once.
func TestIngestSurvivesRedisKill(t *testing.T) {
	srv := startOwnRedis(t, true)
	cfg := textlessConfig(t)
	cfg.RedisURL, cfg.Prefix = srv.url(), "kill:"
	base := startServe(t, cfg)
	st := storeOf(t, cfg)
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", srv.port), MaxRetries: -1})
	defer rdb.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	events := make([]store.Event, 20000)
	for i := range events {
		events[i] = store.Event{Kind: store.Exposure, User: fmt.Sprint("u", i%997), Item: fmt.Sprint("i", i%50), Time: t0.Add(time.Duration(i) * time.Second)}
	}
	body, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		code int
		body string
	}
	post := func(key string) answer {
		req, err := http.NewRequest("POST", base+"/v1/events", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, string(b)}
	}
	// Kill Redis once the first events are in the log. On a fast machine
	// the batch may finish first: then try again with a new key.
	var key string
	var cut answer
	for attempt := 1; ; attempt++ {
		key = fmt.Sprint("bulk-", attempt)
		done := make(chan answer, 1)
		before, err := st.EventCount(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		go func() { done <- post(key) }()
		for {
			n, err := st.EventCount(context.Background())
			if err == nil && n > before {
				srv.kill()
				break
			}
			time.Sleep(time.Millisecond)
		}
		cut = <-done
		if cut.code != 200 || attempt == 3 {
			break
		}
		t.Logf("attempt %d: the batch was stored before Redis was killed", attempt)
		srv.start()
		waitHealthy(t, base)
		if err := rdb.Del(context.Background(), "kill:{kill:events}:log").Err(); err != nil {
			t.Fatal(err)
		}
	}
	var partial struct {
		Error                         string
		Received, Written, Duplicates int
		FirstUnwritten                *int `json:"first_unwritten"`
	}
	if err := json.Unmarshal([]byte(cut.body), &partial); err != nil {
		t.Fatal(err)
	}
	if cut.code != 503 || partial.FirstUnwritten == nil || partial.Received != 20000 || partial.Written != *partial.FirstUnwritten ||
		partial.Written >= 20000 || !strings.Contains(partial.Error, "redis unavailable") {
		t.Fatalf("answer when Redis died: %d %s; want 503 with written = first_unwritten < 20000", cut.code, cut.body)
	}
	t.Logf("cut answer: %s", cut.body)
	srv.start()
	waitHealthy(t, base)
	stored, err := st.EventCount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// What was acknowledged is stored (the AOF syncs every write); at most
	// the one call in flight was stored without an answer.
	if stored < int64(partial.Written) || stored > int64(partial.Written)+500 {
		t.Errorf("after the restart the log holds %d events; the answer said %d written", stored, partial.Written)
	}
	again := post(key)
	if again.code != 200 || !strings.Contains(again.body, `"written":20000,"duplicates":0`) {
		t.Fatalf("retry with the same key: %d %s", again.code, again.body)
	}
	ids := map[string]bool{}
	if err := st.Events(context.Background(), func(e store.Event) error {
		if ids[e.ID] {
			return fmt.Errorf("event %s stored twice", e.ID)
		}
		ids[e.ID] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 20000 {
		t.Errorf("the log holds %d distinct events, want 20000", len(ids))
	}
}

func TestModelsAndRollback(t *testing.T) {
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix = redisURL(), testPrefix(t)
	base := startServe(t, cfg)
	ingestUsers(t, base, "", 300)
	postEvents(t, base, "", simulatedEvents(300, 0))
	var list modelList
	if code, body := call(t, "POST", base+"/v1/models/rollback", "", struct{}{}, nil); code != 409 || !strings.Contains(body, "no previous model") {
		t.Fatalf("rollback with no model: %d %s", code, body)
	}
	for _, bad := range []struct {
		body any
		want string
	}{
		{map[string]string{"ranker": "nope"}, `unknown ranker \"nope\"`},
		{map[string]int{"bogus": 1}, "bogus"},
	} {
		if code, body := call(t, "POST", base+"/v1/train", "", bad.body, nil); code != 400 || !strings.Contains(body, bad.want) {
			t.Fatalf("train with %v: %d %s", bad.body, code, body)
		}
	}
	var first, second recommend.TrainResult
	// The body of a training request is optional.
	call(t, "POST", base+"/v1/train", "", nil, &first)
	call(t, "POST", base+"/v1/train", "", struct{}{}, &second)
	if first.ModelID == second.ModelID || second.Previous != first.ModelID || second.Propensity != "logged" {
		t.Fatalf("two trainings: %+v then %+v", first, second)
	}
	if code, body := call(t, "GET", base+"/v1/models", "", nil, &list); code != 200 || list.Serving != second.ModelID.String() || len(list.Models) != 2 {
		t.Fatalf("models: %d %s", code, body)
	}
	if code, body := call(t, "POST", base+"/v1/models/rollback", "", struct{}{}, &list); code != 200 || list.Serving != first.ModelID.String() || list.Previous != second.ModelID.String() {
		t.Fatalf("rollback: %d %s", code, body)
	}
	var rec recommend.Response
	call(t, "POST", base+"/v1/recommend", "", recommend.Request{User: "u1", IncludeConsumed: true}, &rec)
	if rec.ModelID != first.ModelID.String() {
		t.Fatalf("after rollback the list came from model %s, want %s", rec.ModelID, first.ModelID)
	}
}

// TestServePprof checks the opt-in profile listener of serve --pprof: it
// answers the pprof index and the profile routes, refuses a taken address,
// and stops.
func TestServePprof(t *testing.T) {
	addr, stop, err := servePprof("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1"} {
		resp, err := http.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s: %s, %d bytes", path, resp.Status, len(body))
		}
	}
	if _, _, err := servePprof(addr.String(), slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "--pprof") {
		t.Errorf("second listener on %s: err = %v, want a --pprof error", addr, err)
	}
	stop()
	if _, err := http.Get("http://" + addr.String() + "/debug/pprof/"); err == nil {
		t.Error("the listener still answers after stop")
	}
}

// TestServeRetrainsOnSchedule runs serve with retrain_every and waits for
// the schedule to train twice: the second model serves and the first is
// kept as the previous one for rollback.
func TestServeRetrainsOnSchedule(t *testing.T) {
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix = redisURL(), testPrefix(t)
	cfg.RetrainEvery = config.Duration(300 * time.Millisecond)
	base := startServe(t, cfg)
	ingestUsers(t, base, "", 100)
	postEvents(t, base, "", simulatedEvents(100, 0))
	var list modelList
	deadline := time.Now().Add(60 * time.Second)
	// A training stores its model before it makes it serve: the second
	// model is listed a moment before it replaces the first.
	for len(list.Models) < 2 || list.Previous == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no second scheduled training serving within 60s: %+v", list)
		}
		time.Sleep(100 * time.Millisecond)
		if code, body := call(t, "GET", base+"/v1/models", "", nil, &list); code != 200 {
			t.Fatalf("models: %d %s", code, body)
		}
	}
	if list.Serving == "" || list.Previous == "" || list.Serving == list.Previous {
		t.Fatalf("after two scheduled trainings: serving %q, previous %q", list.Serving, list.Previous)
	}
}

// TestTrainReportsEstimatedPropensity trains on exposures logged without
// propensities: the training succeeds and says the propensities were
// estimated.
func TestTrainReportsEstimatedPropensity(t *testing.T) {
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix = redisURL(), testPrefix(t)
	base := startServe(t, cfg)
	ingestUsers(t, base, "", 300)
	events := simulatedEvents(300, 0)
	for i := range events {
		events[i].Propensity = 0
	}
	postEvents(t, base, "", events)
	var res recommend.TrainResult
	if code, body := call(t, "POST", base+"/v1/train", "", nil, &res); code != 200 || res.Propensity != "estimated" {
		t.Fatalf("train without logged propensities: %d %s", code, body)
	}
}

// TestTrainOnTooLittleData: a log the estimator cannot fit (one row per
// arm) is a 409 as docs/api.md promises, not a 500, and the service keeps
// serving.
func TestTrainOnTooLittleData(t *testing.T) {
	base := startServe(t, textlessConfig(t))
	if code, body := call(t, "POST", base+"/v1/items", "", map[string]any{"items": []store.Item{{ID: "a"}}}, nil); code != 200 {
		t.Fatalf("items: %d %s", code, body)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	postEvents(t, base, "", []store.Event{
		{Kind: store.Exposure, User: "u1", Item: "a", Time: t0, Propensity: 0.5},
		{Kind: store.Outcome, User: "u1", Item: "a", Time: t0.Add(time.Hour)},
		{Kind: store.Exposure, User: "u2", Item: "a", Time: t0, Arm: recommend.ControlArm, Propensity: 0.5},
	})
	for _, ranker := range []string{"uplift", "outcome-ips"} {
		code, body := call(t, "POST", base+"/v1/train", "", map[string]string{"ranker": ranker}, nil)
		if code != http.StatusConflict || !strings.Contains(body, "not enough logged data") {
			t.Errorf("train %s on 2 rows: %d %s, want 409 saying there is not enough data", ranker, code, body)
		}
	}
	var rec recommend.Response
	if code, body := call(t, "POST", base+"/v1/recommend", "", recommend.Request{User: "u1", Candidates: []string{"a"}}, &rec); code != 200 || rec.Ranker != "popularity" {
		t.Fatalf("recommend after the failed training: %d %s", code, body)
	}
}

// TestEventsWithoutTime ingests a simulated experiment whose true effect
// of showing an item is 2/7 for every user (simulatedEvents) through the
// API without event times, in batches of 100 events as a client streaming
// a log would, trains and asks every user's uplifts. Ingestion stamps such
// events with the time of their batch, which orders a user's outcome on
// one item before the user's exposure to the other whenever a batch ends
// between them; training on that order let rows see outcomes that were as
// old as themselves and served uplifts far from the truth. The served
// uplifts must stay near 2/7, as with the events' own times.
func TestEventsWithoutTime(t *testing.T) {
	base := startServe(t, textlessConfig(t))
	const n = 600
	ingestUsers(t, base, "", n)
	events := simulatedEvents(n, 0)
	for i := range events {
		events[i].Time = time.Time{}
	}
	for lo := 0; lo < len(events); lo += 100 {
		postEvents(t, base, "", events[lo:min(lo+100, len(events))])
		time.Sleep(time.Millisecond) // batches a tick apart, as separate requests are
	}
	var tr recommend.TrainResult
	if code, body := call(t, "POST", base+"/v1/train", "", struct{}{}, &tr); code != 200 || tr.Rows != 2*n {
		t.Fatalf("train: %d %s", code, body)
	}
	const truth = 2.0 / 7
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range 40 {
		var rec recommend.Response
		u := fmt.Sprintf("u%d", i)
		if code, body := call(t, "POST", base+"/v1/recommend", "", recommend.Request{User: u, K: 2, IncludeConsumed: true}, &rec); code != 200 || len(rec.Items) != 2 {
			t.Fatalf("recommend %s: %d %s", u, code, body)
		}
		for _, it := range rec.Items {
			lo, hi = min(lo, *it.Uplift), max(hi, *it.Uplift)
		}
	}
	if lo < truth-0.08 || hi > truth+0.08 {
		t.Errorf("served uplifts in [%.3f, %.3f]; the true effect is %.3f for every user and item", lo, hi, truth)
	}
}

// TestUnknownUserScoredFromDefaults trains on users whose feature age lies
// in [20, 60] and an effect of showing that falls with age, then asks for
// a user the store does not know: it must be scored as a typical user,
// its uplift among the known users', not as one of age 0, which the linear
// model extrapolates above every known user.
func TestUnknownUserScoredFromDefaults(t *testing.T) {
	base := startServe(t, textlessConfig(t))
	const n = 800
	rng := rand.New(rand.NewPCG(4, 2))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var users []store.User
	var events []store.Event
	for i := range n {
		u := fmt.Sprintf("u%d", i)
		age := 20 + 40*rng.Float64()
		users = append(users, store.User{ID: u, Features: map[string]float64{"age": age}})
		arm, p := "treated", 0.1+0.5-age/120 // the effect: 0.33 at 20, 0 at 60
		if rng.IntN(2) == 0 {
			arm, p = recommend.ControlArm, 0.1
		}
		events = append(events, store.Event{Kind: store.Exposure, User: u, Item: "a", Time: t0, Arm: arm, Propensity: 0.5})
		if rng.Float64() < p {
			events = append(events, store.Event{Kind: store.Outcome, User: u, Item: "a", Time: t0.Add(time.Hour)})
		}
	}
	if code, body := call(t, "POST", base+"/v1/users", "", map[string]any{"users": users}, nil); code != 200 {
		t.Fatalf("users: %d %s", code, body)
	}
	if code, body := call(t, "POST", base+"/v1/items", "", map[string]any{"items": []store.Item{{ID: "a"}}}, nil); code != 200 {
		t.Fatalf("items: %d %s", code, body)
	}
	postEvents(t, base, "", events)
	if code, body := call(t, "POST", base+"/v1/train", "", struct{}{}, nil); code != 200 {
		t.Fatalf("train: %d %s", code, body)
	}
	uplift := func(user string) float64 {
		t.Helper()
		var rec recommend.Response
		if code, body := call(t, "POST", base+"/v1/recommend", "", recommend.Request{User: user, Candidates: []string{"a"}, IncludeConsumed: true}, &rec); code != 200 || len(rec.Items) != 1 {
			t.Fatalf("recommend %s: %d %s", user, code, body)
		}
		return *rec.Items[0].Uplift
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range 50 {
		u := uplift(fmt.Sprintf("u%d", i))
		lo, hi = min(lo, u), max(hi, u)
	}
	if got := uplift("somebody-new"); got < lo || got > hi {
		t.Errorf("unknown user's uplift %.3f, outside the known users' [%.3f, %.3f]", got, lo, hi)
	}
}
