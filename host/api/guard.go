package api

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"time"
)

// The server's guards against resource abuse: a cap on requests in flight
// (over it a request is refused at once with 503 and Retry-After), per-client
// rate limits (token buckets; 429 and Retry-After), and a cap on open
// connections (the listener stops accepting at the cap). They apply to every
// route and RPC but the health checks and the metrics, so routes added later
// get them too.

// ServerOptions harden the server. Zero fields take the values of
// DefaultServerOptions, but RateLimit, whose zero turns rate limits off.
type ServerOptions struct {
	// ReadHeaderTimeout bounds reading a request's headers, ReadTimeout
	// its headers and body: a client that sends slower is cut off.
	ReadHeaderTimeout, ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end
	// of the answer; it must exceed the request timeout.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle for longer.
	IdleTimeout time.Duration
	// MaxConcurrent caps the requests (and RPCs) in flight.
	MaxConcurrent int
	// MaxConnections caps the open connections of each listener.
	MaxConnections int
	// RateLimit is the requests per second each client may make on
	// average (0: no rate limit), RateBurst how many at once.
	RateLimit float64
	RateBurst int
	// RateLimitBy names the client of the rate limit: "address" (the
	// remote IP, the default) or "token" (the bearer token sent, else the
	// address).
	RateLimitBy string
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes int
}

// DefaultServerOptions returns the defaults: headers within 5 s, whole
// requests within 30 s, answers within 30 s, idle connections closed after
// 60 s, 256 requests in flight, 1024 connections, headers of at most 64 KiB,
// no rate limit (bursts of twice the rate when one is set).
func DefaultServerOptions() ServerOptions {
	return ServerOptions{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: 60 * time.Second, MaxConcurrent: 256, MaxConnections: 1024, RateLimitBy: RateByAddress, MaxHeaderBytes: 64 << 10}
}

// The clients of a rate limit.
const (
	RateByAddress = "address"
	RateByToken   = "token"
)

func (o ServerOptions) withDefaults() ServerOptions {
	def := DefaultServerOptions()
	for _, f := range []struct{ v, d *time.Duration }{{&o.ReadHeaderTimeout, &def.ReadHeaderTimeout}, {&o.ReadTimeout, &def.ReadTimeout},
		{&o.WriteTimeout, &def.WriteTimeout}, {&o.IdleTimeout, &def.IdleTimeout}} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = def.MaxConcurrent
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = def.MaxConnections
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = def.MaxHeaderBytes
	}
	if o.RateLimitBy == "" {
		o.RateLimitBy = def.RateLimitBy
	}
	if o.RateLimit > 0 && o.RateBurst <= 0 {
		o.RateBurst = max(1, int(math.Ceil(2*o.RateLimit)))
	}
	return o
}

// refusal is a request turned away by a guard: its status, message and
// the seconds after which to retry.
type refusal struct {
	status     int
	msg        string
	retryAfter int
}

func (r *refusal) Error() string { return r.msg }

// guard holds the requests-in-flight cap and the rate limiter.
type guard struct {
	inflight chan struct{}
	rate     *rateLimiter
	by       string
}

func newGuard(o ServerOptions) *guard {
	g := &guard{inflight: make(chan struct{}, o.MaxConcurrent), by: o.RateLimitBy}
	if o.RateLimit > 0 {
		g.rate = newRateLimiter(o.RateLimit, o.RateBurst, time.Now)
	}
	return g
}

// admit lets a request of client in, or says why not; release must be
// called when an admitted request ends.
func (g *guard) admit(client string) (release func(), r *refusal) {
	if g.rate != nil {
		if wait, ok := g.rate.take(client); !ok {
			return nil, &refusal{status: 429, retryAfter: retrySeconds(wait),
				msg: fmt.Sprintf("rate limit of %g requests/s exceeded; retry after %d s", g.rate.rate, retrySeconds(wait))}
		}
	}
	select {
	case g.inflight <- struct{}{}:
		return func() { <-g.inflight }, nil
	default:
		return nil, &refusal{status: 503, retryAfter: 1, msg: fmt.Sprintf("server busy: %d requests in flight; retry after 1 s", cap(g.inflight))}
	}
}

// clientKey names the client of a request for the rate limit: its IP, or
// with RateByToken a digest of the bearer token it sent.
func (g *guard) clientKey(remoteAddr, authorization string) string {
	if g.by == RateByToken {
		if tok, ok := bearerToken(authorization); ok && tok != "" {
			sum := sha256.Sum256([]byte(tok))
			return "token:" + hex.EncodeToString(sum[:8])
		}
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	return "addr:" + host
}

// bearerToken returns the token of an Authorization header of the Bearer
// scheme, whose name is case-insensitive (RFC 7235).
func bearerToken(header string) (string, bool) {
	const scheme = "bearer "
	if len(header) < len(scheme) || !strings.EqualFold(header[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimLeft(header[len(scheme):], " "), true
}

func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// rateLimiter keeps a token bucket per client: rate tokens a second up to
// burst, one per request.
type rateLimiter struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the clients remembered; past it, the buckets that
// are full again (their clients idle) are dropped.
const maxBuckets = 100_000

func newRateLimiter(rate float64, burst int, now func() time.Time) *rateLimiter {
	return &rateLimiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// take spends a token of client's bucket, or returns how long until one is
// there.
func (l *rateLimiter) take(client string) (time.Duration, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[client]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[client] = b
	}
	b.tokens = min(l.burst, b.tokens+l.rate*now.Sub(b.last).Seconds())
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
}

// sweep drops the buckets that have refilled; l.mu is held.
func (l *rateLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+l.rate*now.Sub(b.last).Seconds() >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// limitListener accepts at most n connections at a time: Accept waits
// while n are open.
type limitListener struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn frees its listener's slot when closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
