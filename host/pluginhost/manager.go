// Package pluginhost starts, watches and restarts causalrec's plugins.
//
// Every plugin, built-in or external, runs as its own process and is reached
// over gRPC through hashicorp/go-plugin with automatic mutual TLS. A plugin
// that crashes is restarted with exponential backoff; while it is down,
// calls through its handle fail at once with an error that wraps
// plugins.ErrUnavailable, and the rest of the host keeps serving.
package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/causalrec/causalrec/plugins"
)

// Spec declares one plugin.
type Spec struct {
	// Name is how the host refers to the plugin; an external plugin
	// replaces a built-in one of the same name.
	Name string `json:"name"`
	// Kind is plugins.KindTextScorer or plugins.KindEstimator.
	Kind string `json:"kind"`
	// Path is the plugin's executable.
	Path string `json:"path"`
	// SHA256 is the hex sha256 of the executable. It is required for
	// external plugins (but in development mode, Options.DevMode) and
	// checked before the plugin starts.
	SHA256 string `json:"sha256"`
	// Args are passed to the executable.
	Args []string `json:"args,omitempty"`
	// Env holds extra KEY=VALUE environment entries.
	Env []string `json:"env,omitempty"`

	// Builtin marks plugins shipped inside the causalrec binary; they run
	// the host's own executable and need no checksum.
	Builtin bool `json:"-"`
}

// Validate checks the spec.
func (s Spec) Validate() error { return s.validate(true) }

// ValidateDevMode checks the spec as development mode does: an external
// plugin may lack a checksum.
func (s Spec) ValidateDevMode() error { return s.validate(false) }

func (s Spec) validate(requireSHA bool) error {
	switch {
	case s.Name == "":
		return errors.New("plugin without a name")
	case s.Kind != plugins.KindTextScorer && s.Kind != plugins.KindEstimator:
		return fmt.Errorf("plugin %q: unknown kind %q (want %q or %q)", s.Name, s.Kind, plugins.KindTextScorer, plugins.KindEstimator)
	case s.Path == "":
		return fmt.Errorf("plugin %q: no path", s.Name)
	case requireSHA && !s.Builtin && s.SHA256 == "":
		return fmt.Errorf("plugin %q: no sha256 (required for external plugins; compute it with sha256sum %s)", s.Name, s.Path)
	}
	if s.SHA256 != "" {
		if b, err := hex.DecodeString(s.SHA256); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("plugin %q: sha256 %q is not 64 hex digits", s.Name, s.SHA256)
		}
	}
	return nil
}

// Options tune a Manager. A zero field takes its value from
// DefaultOptions.
type Options struct {
	// Logger receives the host's plugin events and every line the plugins
	// log. Nil discards.
	Logger *slog.Logger
	// StartTimeout bounds a plugin's start.
	StartTimeout time.Duration
	// PingInterval is the health-check period.
	PingInterval time.Duration
	// MinBackoff and MaxBackoff bound the restart delay; it doubles after
	// each failed start.
	MinBackoff, MaxBackoff time.Duration
	// DevMode lets external plugins run without a configured sha256, for
	// a developer who rebuilds a plugin often: the host hashes the
	// executable at every start, runs what it hashed, and logs a warning
	// with the checksum. Never for production (host/config refuses it
	// together with an API token).
	DevMode bool
	// Timeouts bound each call to a plugin by its kind; zero fields take
	// the values of DefaultTimeouts.
	Timeouts Timeouts
	// EjectAfter is how many deadlines in a row (of calls other than Fit,
	// and of health pings) a plugin may miss before it is ejected: marked
	// down, so that calls fail at once, killed and restarted.
	EjectAfter int
}

// DefaultOptions returns the defaults of the zero fields of Options: a
// start timeout of 30s, a ping every second, restarts 100ms to 30s apart,
// the call deadlines of DefaultTimeouts and ejection after 3 missed
// deadlines in a row.
func DefaultOptions() Options {
	return Options{StartTimeout: 30 * time.Second, PingInterval: time.Second, MinBackoff: 100 * time.Millisecond, MaxBackoff: 30 * time.Second,
		Timeouts: DefaultTimeouts(), EjectAfter: 3}
}

func (o Options) withDefaults() Options {
	def := DefaultOptions()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = def.StartTimeout
	}
	if o.PingInterval <= 0 {
		o.PingInterval = def.PingInterval
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = def.MinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = def.MaxBackoff
	}
	o.Timeouts = o.Timeouts.withDefaults()
	if o.EjectAfter <= 0 {
		o.EjectAfter = def.EjectAfter
	}
	return o
}

// Errors of the manager. Check with errors.Is.
var (
	// ErrUnknownPlugin: no plugin of that name and kind is configured.
	ErrUnknownPlugin = errors.New("unknown plugin")
)

// DownError is returned by calls to a plugin that is not running. It
// matches plugins.ErrUnavailable with errors.Is.
type DownError struct {
	Name  string
	Cause error
}

func (e *DownError) Error() string {
	if e.Cause == nil {
		return fmt.Sprintf("plugin %q is not running", e.Name)
	}
	return fmt.Sprintf("plugin %q is down (restarting): %v", e.Name, e.Cause)
}

// Is reports whether target is plugins.ErrUnavailable.
func (e *DownError) Is(target error) bool { return target == plugins.ErrUnavailable }

func (e *DownError) Unwrap() error { return e.Cause }

// Manager owns the plugin processes.
type Manager struct {
	opts    Options
	plugins map[string]*managed
}

// New returns a Manager for specs. A later spec replaces an earlier one of
// the same name, so built-ins go first and external plugins after them.
// Nothing starts until Start.
func New(specs []Spec, opts Options) (*Manager, error) {
	m := &Manager{opts: opts.withDefaults(), plugins: make(map[string]*managed)}
	if m.opts.DevMode {
		m.opts.Logger.Warn("PLUGIN DEVELOPMENT MODE: external plugins without a sha256 start unchecked; do not use it in production")
	}
	for _, s := range specs {
		if err := s.validate(!m.opts.DevMode); err != nil {
			return nil, err
		}
		if old, ok := m.plugins[s.Name]; ok && !s.Builtin {
			m.opts.Logger.Info("external plugin replaces built-in", "plugin", s.Name, "path", s.Path, "replaced", old.spec.Path)
		}
		m.plugins[s.Name] = &managed{spec: s, opts: m.opts, wake: make(chan struct{}, 1)}
	}
	return m, nil
}

// Start starts every plugin and returns the errors of those that failed;
// those are retried by Run.
func (m *Manager) Start(ctx context.Context) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, p := range m.plugins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.start(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// StartOne starts only the named plugin, for commands that need just one.
func (m *Manager) StartOne(ctx context.Context, name string) error {
	p, ok := m.plugins[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownPlugin, name)
	}
	return p.start(ctx)
}

// Run watches the plugins until ctx is done: it pings each one every
// PingInterval and restarts those that died, with backoff.
func (m *Manager) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, p := range m.plugins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.watch(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// Close kills every plugin process and waits for it to exit.
func (m *Manager) Close() {
	var wg sync.WaitGroup
	for _, p := range m.plugins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stop()
		}()
	}
	wg.Wait()
}

// Names returns the configured plugin names of kind ("" for all), sorted.
func (m *Manager) Names(kind string) []string {
	var out []string
	for n, p := range m.plugins {
		if kind == "" || p.spec.Kind == kind {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Estimator returns a handle to the named estimator plugin. The handle
// stays valid across restarts.
func (m *Manager) Estimator(name string) (plugins.Estimator, error) {
	p, err := m.lookup(name, plugins.KindEstimator)
	if err != nil {
		return nil, err
	}
	return estimatorHandle{p}, nil
}

// TextScorer returns a handle to the named text-scorer plugin.
func (m *Manager) TextScorer(name string) (plugins.TextScorer, error) {
	p, err := m.lookup(name, plugins.KindTextScorer)
	if err != nil {
		return nil, err
	}
	return textScorerHandle{p}, nil
}

func (m *Manager) lookup(name, kind string) (*managed, error) {
	p, ok := m.plugins[name]
	if !ok || p.spec.Kind != kind {
		return nil, fmt.Errorf("%w %q of kind %s (configured: %v)", ErrUnknownPlugin, name, kind, m.Names(kind))
	}
	return p, nil
}

// Status describes one plugin.
type Status struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Version  string `json:"version"`
	Protocol int    `json:"protocol"`
	PID      int    `json:"pid"`
	Healthy  bool   `json:"healthy"`
	Builtin  bool   `json:"builtin"`
	Path     string `json:"path"`
	Restarts int    `json:"restarts"`
	// Ejections counts the times the plugin was ejected for missing its
	// deadlines or pings.
	Ejections int    `json:"ejections"`
	Error     string `json:"error,omitempty"`
}

// List returns the status of every plugin, sorted by name.
func (m *Manager) List() []Status {
	var out []Status
	for _, n := range m.Names("") {
		out = append(out, m.plugins[n].status())
	}
	return out
}

// managed is one plugin and its process.
type managed struct {
	spec Spec
	opts Options
	wake chan struct{}

	mu      sync.Mutex
	client  *goplugin.Client
	rpc     goplugin.ClientProtocol
	impl    any
	version string
	lastErr error
	starts  int
	backoff time.Duration
	nextTry time.Time
	// started is closed when the start in progress ends (nil when none
	// is): callers of start wait for it rather than start twice.
	started chan struct{}
	// proc is the running process: its command and the directory of its
	// socket, removed when the process is gone.
	proc *process
	// gen counts launches, so that the outcome of a call to an earlier
	// process is not held against the current one.
	gen uint64
	// missed counts deadlines missed in a row; ejections the ejections.
	missed, ejections int
	// fits counts the fits in flight on the process of launch gen.
	fits int
}

func (p *managed) logger() *slog.Logger {
	return p.opts.Logger.With("plugin", p.spec.Name)
}

// start launches the process, unless it is already running. When another
// start is in progress it waits for that one and returns its outcome, so
// that a caller of StartOne never gets back before the plugin is up.
func (p *managed) start(ctx context.Context) error {
	p.mu.Lock()
	if p.impl != nil {
		p.mu.Unlock()
		return nil
	}
	if ch := p.started; ch != nil {
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("plugin %q: wait for its start: %w", p.spec.Name, ctx.Err())
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.impl != nil {
			return nil
		}
		return &DownError{Name: p.spec.Name, Cause: p.lastErr}
	}
	done := make(chan struct{})
	p.started = done
	gen := p.gen + 1
	p.gen, p.fits = gen, 0
	p.mu.Unlock()

	client, rpc, impl, version, proc, err := p.launch(ctx, gen)

	p.mu.Lock()
	defer p.mu.Unlock()
	p.started = nil
	close(done)
	if err != nil {
		p.lastErr = err
		if p.backoff == 0 {
			p.backoff = p.opts.MinBackoff
		} else {
			p.backoff = min(2*p.backoff, p.opts.MaxBackoff)
		}
		p.nextTry = time.Now().Add(p.backoff)
		// The caller reports the error: Start and StartOne return it,
		// the health loop logs it.
		return err
	}
	p.client, p.rpc, p.impl, p.version, p.proc = client, rpc, impl, version, proc
	p.lastErr, p.backoff, p.missed = nil, 0, 0
	p.starts++
	p.logger().Info("plugin started", "kind", p.spec.Kind, "version", version, "pid", proc.pid(), "protocol", client.NegotiatedVersion())
	return nil
}

func (p *managed) launch(ctx context.Context, gen uint64) (*goplugin.Client, goplugin.ClientProtocol, any, string, *process, error) {
	s := p.spec
	fail := func(err error) (*goplugin.Client, goplugin.ClientProtocol, any, string, *process, error) {
		return nil, nil, nil, "", nil, err
	}
	if _, err := os.Stat(s.Path); err != nil {
		return fail(fmt.Errorf("plugin %q: executable %s: %w", s.Name, s.Path, err))
	}
	// The plugin's socket goes in a directory of its own, removed when
	// the process is gone, even when it was killed and could not remove
	// the socket itself.
	dir, err := os.MkdirTemp("", "causalrec-plugin-")
	if err != nil {
		return fail(fmt.Errorf("plugin %q: socket directory: %w", s.Name, err))
	}
	proc := &process{dir: dir}
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Env = append(append(os.Environ(), s.Env...), goplugin.EnvUnixSocketDir+"="+dir)
	proc.cmd = cmd
	cfg := plugins.ClientConfig(cmd, newSlogAdapter(p.opts.Logger, s.Name))
	cfg.StartTimeout = p.opts.StartTimeout
	cfg.GRPCDialOptions = append(cfg.GRPCDialOptions,
		grpc.WithChainUnaryInterceptor(p.unaryDeadline(gen)), grpc.WithChainStreamInterceptor(p.streamDeadline(gen)))
	sha := s.SHA256
	if sha == "" && !s.Builtin {
		// Development mode (New refuses a missing checksum otherwise):
		// pin what is there now, so the process is what was hashed.
		b, err := os.ReadFile(s.Path)
		if err != nil {
			proc.remove()
			return fail(fmt.Errorf("plugin %q: executable %s: %w", s.Name, s.Path, err))
		}
		sum := sha256.Sum256(b)
		sha = hex.EncodeToString(sum[:])
		p.logger().Warn("plugin starts WITHOUT a checksum check (development mode); put its sha256 in the config before production",
			"path", s.Path, "sha256", sha)
	}
	if sha != "" {
		sum, _ := hex.DecodeString(sha)
		cfg.SecureConfig = &goplugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	client := goplugin.NewClient(cfg)
	proc.client = client
	rpc, err := client.Client()
	if err != nil {
		proc.kill(false)
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			return fail(fmt.Errorf("plugin %q: executable %s does not match the configured sha256 %s: its sha256 is %s", s.Name, s.Path, s.SHA256, fileSHA256(s.Path)))
		}
		return fail(fmt.Errorf("plugin %q: start %s: %w", s.Name, s.Path, err))
	}
	raw, err := rpc.Dispense(s.Kind)
	if err != nil {
		proc.kill(false)
		return fail(fmt.Errorf("plugin %q: it does not serve kind %s: %w", s.Name, s.Kind, err))
	}
	ictx, cancel := context.WithTimeout(ctx, p.opts.StartTimeout)
	defer cancel()
	var version string
	switch impl := raw.(type) {
	case plugins.Estimator:
		info, ierr := impl.Info(ictx, plugins.InfoRequest{})
		version, err = info.Version, ierr
	case plugins.TextScorer:
		info, ierr := impl.Info(ictx, plugins.InfoRequest{})
		version, err = info.Version, ierr
	default:
		err = fmt.Errorf("unexpected client type %T", raw)
	}
	if errors.Is(err, plugins.ErrUnimplemented) {
		proc.kill(false)
		return fail(fmt.Errorf("plugin %q: it does not serve kind %s: %w", s.Name, s.Kind, err))
	}
	if err != nil {
		proc.kill(false)
		return fail(fmt.Errorf("plugin %q: info: %w", s.Name, err))
	}
	return client, rpc, raw, version, proc, nil
}

// current returns the running implementation or a *DownError.
func (p *managed) current() (any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.impl != nil && p.client.Exited() {
		p.markDownLocked(errors.New("process exited"))
	}
	if p.impl == nil {
		return nil, &DownError{Name: p.spec.Name, Cause: p.lastErr}
	}
	return p.impl, nil
}

// markDownLocked forgets the running process and kills it (it may be
// alive but hung); p.mu is held.
func (p *managed) markDownLocked(cause error) {
	if p.impl == nil {
		return
	}
	p.logger().Warn("plugin is down", "error", cause)
	p.impl, p.lastErr = nil, cause
	if p.backoff == 0 {
		p.backoff = p.opts.MinBackoff
	}
	p.nextTry = time.Now().Add(p.backoff)
	if proc := p.proc; proc != nil {
		p.proc = nil
		go proc.kill(true)
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// failed inspects a call's error: when it says the process is gone, the
// plugin is marked down, and the error is returned as a *DownError.
func (p *managed) failed(err error) error {
	if err == nil || !errors.Is(err, plugins.ErrUnavailable) {
		return err
	}
	p.mu.Lock()
	p.markDownLocked(err)
	p.mu.Unlock()
	return &DownError{Name: p.spec.Name, Cause: err}
}

func (p *managed) watch(ctx context.Context) {
	t := time.NewTicker(p.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.wake:
		}
		p.check(ctx)
	}
}

// check pings a running plugin (within the ping deadline) and restarts a
// dead one when its backoff has passed.
func (p *managed) check(ctx context.Context) {
	p.mu.Lock()
	rpc, up, due := p.rpc, p.impl != nil, time.Now().After(p.nextTry)
	client := p.client
	p.mu.Unlock()
	if up {
		var err error
		if client.Exited() {
			err = errors.New("process exited")
		} else {
			err = ping(ctx, rpc)
		}
		// A missed deadline counts towards ejection (in the
		// interceptor); any other failure means the plugin is gone.
		if err != nil && status.Code(err) != codes.DeadlineExceeded && ctx.Err() == nil {
			p.mu.Lock()
			p.markDownLocked(err)
			p.mu.Unlock()
		}
		return
	}
	if due {
		if err := p.start(ctx); err != nil {
			p.mu.Lock()
			retry := p.backoff
			p.mu.Unlock()
			p.logger().Error("plugin failed to restart", "error", err, "retry_in", retry)
		}
	}
}

// ping asks the plugin's gRPC health service whether it serves, bounded
// by the ping deadline of the connection's interceptor.
func ping(ctx context.Context, rpc goplugin.ClientProtocol) error {
	c, ok := rpc.(*goplugin.GRPCClient)
	if !ok {
		return rpc.Ping()
	}
	_, err := grpc_health_v1.NewHealthClient(c.Conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: goplugin.GRPCServiceName})
	return err
}

func (p *managed) stop() {
	p.mu.Lock()
	proc := p.proc
	p.impl, p.client, p.proc = nil, nil, nil
	p.lastErr = errors.New("host shut down")
	p.mu.Unlock()
	if proc != nil {
		proc.kill(false)
	}
}

func (p *managed) status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Status{Name: p.spec.Name, Kind: p.spec.Kind, Version: p.version, Builtin: p.spec.Builtin, Path: p.spec.Path,
		Restarts: max(p.starts-1, 0), Ejections: p.ejections}
	if p.impl != nil && !p.client.Exited() {
		st.Healthy = true
		st.PID = p.proc.pid()
		st.Protocol = p.client.NegotiatedVersion()
	}
	if p.lastErr != nil {
		st.Error = p.lastErr.Error()
	}
	return st
}

// estimatorHandle is a plugins.Estimator that survives restarts.
type estimatorHandle struct{ p *managed }

func (h estimatorHandle) impl() (plugins.Estimator, error) {
	v, err := h.p.current()
	if err != nil {
		return nil, err
	}
	return v.(plugins.Estimator), nil
}

func (h estimatorHandle) Info(ctx context.Context, req plugins.InfoRequest) (plugins.EstimatorInfo, error) {
	e, err := h.impl()
	if err != nil {
		return plugins.EstimatorInfo{}, err
	}
	out, err := e.Info(ctx, req)
	return out, h.p.failed(err)
}

func (h estimatorHandle) Fit(ctx context.Context, req plugins.FitRequest) (plugins.FitResponse, error) {
	e, err := h.impl()
	if err != nil {
		return plugins.FitResponse{}, err
	}
	out, err := e.Fit(ctx, req)
	return out, h.p.failed(err)
}

func (h estimatorHandle) Predict(ctx context.Context, req plugins.PredictRequest) (plugins.PredictResponse, error) {
	e, err := h.impl()
	if err != nil {
		return plugins.PredictResponse{}, err
	}
	out, err := e.Predict(ctx, req)
	return out, h.p.failed(err)
}

// textScorerHandle is a plugins.TextScorer that survives restarts.
type textScorerHandle struct{ p *managed }

func (h textScorerHandle) impl() (plugins.TextScorer, error) {
	v, err := h.p.current()
	if err != nil {
		return nil, err
	}
	return v.(plugins.TextScorer), nil
}

func (h textScorerHandle) Info(ctx context.Context, req plugins.InfoRequest) (plugins.TextScorerInfo, error) {
	s, err := h.impl()
	if err != nil {
		return plugins.TextScorerInfo{}, err
	}
	out, err := s.Info(ctx, req)
	return out, h.p.failed(err)
}

func (h textScorerHandle) Score(ctx context.Context, req plugins.ScoreRequest) (plugins.ScoreResponse, error) {
	s, err := h.impl()
	if err != nil {
		return plugins.ScoreResponse{}, err
	}
	out, err := s.Score(ctx, req)
	return out, h.p.failed(err)
}

// fileSHA256 returns the hex sha256 of the file at path, or why it could
// not be computed, for error messages.
func fileSHA256(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return hex.EncodeToString(h.Sum(nil))
}
