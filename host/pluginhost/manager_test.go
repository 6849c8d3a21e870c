package pluginhost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/causalrec/causalrec/plugins"
)

// The test binary doubles as a plugin program (a real process over gRPC):
// with this variable set it serves a toy estimator instead of running tests.
const serveEnv = "CAUSALREC_PLUGINHOST_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) != "" {
		plugins.Serve(plugins.Set{Estimator: toyEstimator{}})
		return
	}
	os.Exit(m.Run())
}

type toyEstimator struct{}

func (toyEstimator) Info(context.Context, plugins.InfoRequest) (plugins.EstimatorInfo, error) {
	plugins.Logger().Info("toy estimator says hello", "answer", 42)
	return plugins.EstimatorInfo{Name: "toy", Version: "9.9"}, nil
}

// Fit of "steps" reports three steps 50 ms apart; "block" waits for the
// call's context to end.
func (toyEstimator) Fit(ctx context.Context, req plugins.FitRequest) (plugins.FitResponse, error) {
	switch req.Estimator {
	case "steps":
		for k := 1; k <= 3; k++ {
			time.Sleep(50 * time.Millisecond)
			if req.Progress != nil {
				req.Progress(k, 3)
			}
		}
	case "block":
		<-ctx.Done()
		return plugins.FitResponse{}, ctx.Err()
	}
	return plugins.FitResponse{Model: []byte("m")}, nil
}

func (toyEstimator) Predict(_ context.Context, req plugins.PredictRequest) (plugins.PredictResponse, error) {
	return plugins.PredictResponse{Arms: []string{"t"}, Effects: make([]float64, req.Rows())}, nil
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func toySpec(t *testing.T) Spec {
	t.Helper()
	return Spec{Name: "toy", Kind: plugins.KindEstimator, Path: os.Args[0], Env: []string{serveEnv + "=1"}, Builtin: true}
}

func newManager(t *testing.T, logs io.Writer, specs ...Spec) *Manager {
	t.Helper()
	m, err := New(specs, Options{
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		PingInterval: 100 * time.Millisecond,
		MinBackoff:   50 * time.Millisecond,
		StartTimeout: 20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func predictOne(ctx context.Context, est plugins.Estimator) error {
	_, err := est.Predict(ctx, plugins.PredictRequest{Model: []byte("m"), X: []float64{1}, NFeatures: 1})
	return err
}

func TestStartListAndLogs(t *testing.T) {
	logs := &syncBuffer{}
	m := newManager(t, logs, toySpec(t))
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	list := m.List()
	if len(list) != 1 {
		t.Fatalf("list = %+v", list)
	}
	st := list[0]
	if !st.Healthy || st.PID <= 0 || st.Protocol != plugins.ProtocolVersion || st.Version != "9.9" || st.Kind != plugins.KindEstimator {
		t.Fatalf("status = %+v", st)
	}
	// The plugin's own log line reaches the host's slog logger.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "toy estimator says hello") {
		if time.Now().After(deadline) {
			t.Fatalf("plugin log line not routed into slog; got:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "answer=42") {
		t.Errorf("plugin log attributes lost:\n%s", logs.String())
	}
	m.Close()
	if processAlive(st.PID) {
		t.Fatalf("plugin process %d still exists after Close", st.PID)
	}
}

// processAlive reports whether pid exists (a zombie counts as existing).
func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestCrashedPluginRestarts(t *testing.T) {
	m := newManager(t, io.Discard, toySpec(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	go m.Run(ctx)
	est, err := m.Estimator("toy")
	if err != nil {
		t.Fatal(err)
	}
	if err := predictOne(ctx, est); err != nil {
		t.Fatalf("predict before crash: %v", err)
	}
	pid := m.List()[0].PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Calls fail fast with a typed error while the plugin is down...
	sawDown := false
	deadline := time.Now().Add(10 * time.Second)
	for {
		start := time.Now()
		err := predictOne(ctx, est)
		if err != nil {
			if !errors.Is(err, plugins.ErrUnavailable) {
				t.Fatalf("error while down does not match ErrUnavailable: %v", err)
			}
			var down *DownError
			if !errors.As(err, &down) || down.Name != "toy" {
				t.Fatalf("error while down is not a *DownError naming the plugin: %v", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("a call to a down plugin took %v", d)
			}
			sawDown = true
		} else if sawDown || m.List()[0].PID != pid {
			break // ...and it is back.
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin not back within 10s: %+v", m.List())
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := m.List()[0]
	if !st.Healthy || st.PID == pid || st.Restarts < 1 {
		t.Fatalf("after restart: %+v (old pid %d)", st, pid)
	}
	if processAlive(pid) {
		t.Errorf("killed process %d was not reaped", pid)
	}
}

func TestStartErrors(t *testing.T) {
	exe := os.Args[0]
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	good := hex.EncodeToString(sum[:])
	wrong := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"wrong checksum", Spec{Name: "x", Kind: plugins.KindEstimator, Path: exe, SHA256: wrong, Env: []string{serveEnv + "=1"}}, "does not match the configured sha256"},
		{"missing binary", Spec{Name: "x", Kind: plugins.KindEstimator, Path: "/nonexistent/plugin", SHA256: good}, "executable /nonexistent/plugin"},
		{"wrong kind", Spec{Name: "x", Kind: plugins.KindTextScorer, Path: exe, SHA256: good, Env: []string{serveEnv + "=1"}}, "does not serve kind text_scorer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManager(t, io.Discard, tt.spec)
			err := m.Start(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `plugin "x"`) {
				t.Fatalf("got %v, want an error naming the plugin and containing %q", err, tt.want)
			}
			st := m.List()[0]
			if st.Healthy || st.Error == "" {
				t.Fatalf("status after failed start: %+v", st)
			}
		})
	}
	// The right checksum starts.
	m := newManager(t, io.Discard, Spec{Name: "x", Kind: plugins.KindEstimator, Path: exe, SHA256: good, Env: []string{serveEnv + "=1"}})
	if err := m.Start(context.Background()); err != nil {
		t.Fatalf("matching checksum: %v", err)
	}
}

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{Kind: plugins.KindEstimator, Path: "p", Builtin: true}, "without a name"},
		{Spec{Name: "a", Kind: "x", Path: "p", Builtin: true}, "unknown kind"},
		{Spec{Name: "a", Kind: plugins.KindEstimator, Builtin: true}, "no path"},
		{Spec{Name: "a", Kind: plugins.KindEstimator, Path: "p"}, "no sha256"},
		{Spec{Name: "a", Kind: plugins.KindEstimator, Path: "p", SHA256: "xyz"}, "not 64 hex digits"},
	}
	for _, tt := range tests {
		if err := tt.spec.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: got %v, want %q", tt.spec, err, tt.want)
		}
	}
}

func TestUnknownPlugin(t *testing.T) {
	m := newManager(t, io.Discard, toySpec(t))
	if _, err := m.Estimator("nope"); !errors.Is(err, ErrUnknownPlugin) {
		t.Errorf("unknown name: %v", err)
	}
	if _, err := m.TextScorer("toy"); !errors.Is(err, ErrUnknownPlugin) {
		t.Errorf("wrong kind: %v", err)
	}
}

func TestExternalReplacesBuiltin(t *testing.T) {
	b := toySpec(t)
	ext := b
	ext.Builtin, ext.SHA256 = false, strings.Repeat("0", 64)
	m := newManager(t, io.Discard, b, ext)
	if st := m.List()[0]; st.Builtin {
		t.Fatalf("external spec did not replace the built-in: %+v", st)
	}
}

// TestDevMode starts an external plugin configured without a checksum: in
// development mode only, and with a warning naming the executable's
// sha256.
func TestDevMode(t *testing.T) {
	spec := Spec{Name: "x", Kind: plugins.KindEstimator, Path: os.Args[0], Env: []string{serveEnv + "=1"}}
	if _, err := New([]Spec{spec}, Options{}); err == nil || !strings.Contains(err.Error(), "no sha256") {
		t.Fatalf("without development mode: %v, want the missing checksum refused", err)
	}
	logs := &syncBuffer{}
	m, err := New([]Spec{spec}, Options{Logger: slog.New(slog.NewTextHandler(logs, nil)), DevMode: true, StartTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	for _, want := range []string{"PLUGIN DEVELOPMENT MODE", "WITHOUT a checksum check", "sha256=" + hex.EncodeToString(sum[:])} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if st := m.List()[0]; !st.Healthy {
		t.Fatalf("status %+v", st)
	}
	// A configured checksum is still enforced.
	spec.SHA256 = strings.Repeat("0", 64)
	m2, err := New([]Spec{spec}, Options{DevMode: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if err := m2.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "does not match the configured sha256") {
		t.Fatalf("wrong checksum in development mode: %v", err)
	}
}

// TestHungPluginEjected stops a plugin process (SIGSTOP): each call fails
// within the Predict deadline, the third missed deadline in a row ejects
// the plugin (calls then fail at once), and it is killed and restarted.
func TestHungPluginEjected(t *testing.T) {
	// The deadline is long enough that a loaded machine cannot blur the
	// difference between a call that waits for it and one that fails at
	// once.
	const predict = 500 * time.Millisecond
	m, err := New([]Spec{toySpec(t)}, Options{
		PingInterval: 100 * time.Millisecond, MinBackoff: 50 * time.Millisecond, StartTimeout: 20 * time.Second,
		Timeouts: Timeouts{Predict: predict, Ping: 5 * time.Second}, EjectAfter: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	go m.Run(ctx)
	est, err := m.Estimator("toy")
	if err != nil {
		t.Fatal(err)
	}
	if err := predictOne(ctx, est); err != nil {
		t.Fatal(err)
	}
	pid := m.List()[0].PID
	stopProcess(t, pid)
	for i := range 3 {
		start := time.Now()
		err := predictOne(ctx, est)
		// The upper bound leaves room for a loaded machine; a call that
		// the deadline did not bound would wait for the stopped plugin.
		if d := time.Since(start); err == nil || d > 3*predict || d < predict*4/5 {
			t.Fatalf("call %d to the stopped plugin: %v after %v; want a missed deadline after about %v", i+1, err, d, predict)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "within "+predict.String()) {
			t.Fatalf("call %d: %v, want a missed deadline", i+1, err)
		}
	}
	// Ejected: calls fail at once with a *DownError until it is back.
	start := time.Now()
	err = predictOne(ctx, est)
	var down *DownError
	if !errors.As(err, &down) || time.Since(start) > predict/2 || !strings.Contains(err.Error(), "ejected: missed 3 deadlines") {
		t.Fatalf("after 3 missed deadlines: %v after %v; want a *DownError at once saying it was ejected", err, time.Since(start))
	}
	deadline := time.Now().Add(15 * time.Second)
	for predictOne(ctx, est) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("plugin not restarted within 15s: %+v", m.List())
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := m.List()[0]
	if !st.Healthy || st.PID == pid || st.Ejections != 1 || st.Restarts != 1 {
		t.Fatalf("after the restart: %+v (old pid %d)", st, pid)
	}
	waitGone(t, pid)
}

// TestHungPluginEjectedByPings stops a plugin nobody calls: the missed
// health pings eject and restart it.
func TestHungPluginEjectedByPings(t *testing.T) {
	m := startPinged(t)
	pid := m.List()[0].PID
	stopProcess(t, pid)
	waitEjected(t, m, pid)
}

// startPinged starts the toy plugin, pinged every 100 ms within 100 ms
// and ejected after 2 missed pings, with its health loop running until
// the test ends.
func startPinged(t *testing.T) *Manager {
	t.Helper()
	m, err := New([]Spec{toySpec(t)}, Options{
		PingInterval: 100 * time.Millisecond, MinBackoff: 50 * time.Millisecond, StartTimeout: 20 * time.Second,
		Timeouts: Timeouts{Ping: 100 * time.Millisecond}, EjectAfter: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	go m.Run(ctx)
	return m
}

// waitEjected waits until the stopped plugin process pid was ejected
// once and a new process serves, and pid is gone.
func waitEjected(t *testing.T, m *Manager, pid int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := m.List()[0]
		if st.Healthy && st.PID != pid && st.Ejections == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stopped plugin not ejected and restarted by its pings: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitGone(t, pid)
}

// stopProcess stops process pid (SIGSTOP, continued at the test's end)
// and waits until every thread of it is stopped: kill returns before the
// signal has reached threads running on other CPUs, which can still
// answer a call sent right after it.
func stopProcess(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	deadline := time.Now().Add(5 * time.Second)
	for !allThreadsStopped(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d not stopped 5s after SIGSTOP", pid)
		}
		time.Sleep(time.Millisecond)
	}
}

// allThreadsStopped reports whether every thread of process pid is in
// state T (stopped) in /proc.
func allThreadsStopped(pid int) bool {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			return false
		}
		// pid (comm) state ...: the state follows the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
			return false
		}
	}
	return true
}

// waitGone waits until the process pid has exited and was reaped.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still exists", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStartWaitsForStartInProgress starts a plugin while another start of
// it is under way: the second StartOne returns only once the plugin is
// up, so a call right after it succeeds.
func TestStartWaitsForStartInProgress(t *testing.T) {
	m := newManager(t, io.Discard, toySpec(t))
	p := m.plugins["toy"]
	first := make(chan error, 1)
	go func() { first <- m.StartOne(context.Background(), "toy") }()
	for {
		p.mu.Lock()
		starting := p.started != nil
		p.mu.Unlock()
		if starting {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := m.StartOne(context.Background(), "toy"); err != nil {
		t.Fatalf("second start: %v", err)
	}
	est, err := m.Estimator("toy")
	if err != nil {
		t.Fatal(err)
	}
	if err := predictOne(context.Background(), est); err != nil {
		t.Fatalf("call right after the second StartOne: %v", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("first start: %v", err)
	}
	if st := m.List()[0]; st.Restarts != 0 {
		t.Errorf("the plugin was started twice: %+v", st)
	}
	// A start that waits gives up with its context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.mu.Lock()
	p.started = make(chan struct{})
	p.impl = nil
	p.mu.Unlock()
	if err := m.StartOne(ctx, "toy"); !errors.Is(err, context.Canceled) {
		t.Errorf("waiting start with a cancelled context: %v", err)
	}
	p.mu.Lock()
	p.started = nil
	p.mu.Unlock()
}

// TestSocketRemoved kills a plugin (SIGKILL), which cannot remove its
// socket: the host removes the directory it gave the socket.
func TestSocketRemoved(t *testing.T) {
	m := newManager(t, io.Discard, toySpec(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	go m.Run(ctx)
	p := m.plugins["toy"]
	p.mu.Lock()
	dir, pid := p.proc.dir, p.proc.pid()
	p.mu.Unlock()
	if entries, err := os.ReadDir(dir); err != nil || len(entries) == 0 {
		t.Fatalf("socket directory %s: %v %v; want the plugin's socket in it", dir, entries, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(dir); os.IsNotExist(err) && m.List()[0].Healthy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket directory %s of the killed plugin still exists (or no restart): %+v", dir, m.List())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.mu.Lock()
	newDir := p.proc.dir
	p.mu.Unlock()
	m.Close()
	if _, err := os.Stat(newDir); !os.IsNotExist(err) {
		t.Errorf("socket directory %s left after Close: %v", newDir, err)
	}
}

// TestPingsDuringFitDoNotEject stops a plugin while a fit runs in it: the
// pings it misses meanwhile do not eject it (a process busy fitting may
// answer late; the fit has its own deadline). Once the fit has ended,
// missed pings eject it again.
func TestPingsDuringFitDoNotEject(t *testing.T) {
	m := startPinged(t)
	est, err := m.Estimator("toy")
	if err != nil {
		t.Fatal(err)
	}
	fitCtx, endFit := context.WithCancel(context.Background())
	defer endFit()
	fitDone := make(chan error, 1)
	go func() {
		_, err := est.Fit(fitCtx, plugins.FitRequest{Estimator: "block", Arms: []string{"c", "t"},
			Features: []plugins.Feature{{Name: "x", Kind: plugins.Numeric}}, X: []float64{1, 2}, Arm: []int{0, 1}, Outcome: []float64{0, 1}})
		fitDone <- err
	}()
	time.Sleep(300 * time.Millisecond) // the fit reaches the plugin
	pid := m.List()[0].PID
	stopProcess(t, pid)
	time.Sleep(time.Second) // ten pings missed
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if st := m.List()[0]; !st.Healthy || st.PID != pid || st.Ejections != 0 {
		t.Fatalf("a plugin that missed pings while fitting: %+v, want it healthy, not ejected (pid %d)", st, pid)
	}
	endFit()
	if err := <-fitDone; err == nil {
		t.Fatal("the cancelled fit succeeded")
	}
	// No fit in flight: missed pings eject it.
	stopProcess(t, pid)
	waitEjected(t, m, pid)
}
