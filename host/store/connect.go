package store

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// DefaultURL is the Redis URL used when none is configured.
const DefaultURL = "redis://127.0.0.1:6379"

// ParseURL turns a Redis URL into client options. The accepted forms are:
//
//	redis://[user:password@]host[:port][/db][?option=value...]
//	rediss://...                                   the same over TLS
//	redis+sentinel://[user:password@]host:port[,host:port...]/mastername[/db][?sentinel_username=u&sentinel_password=p]
//	redis+cluster://[user:password@]host:port[,host:port...][?...]
//
// and rediss+sentinel:// and rediss+cluster:// for TLS. The single-node form
// takes every option that go-redis's ParseURL takes (dial_timeout,
// pool_size, ...). In the Sentinel form the user and password are those of
// the primary; the Sentinels' own credentials go in the query. The port
// defaults to 6379 (26379 for a Sentinel).
func ParseURL(rawURL string) (*redis.UniversalOptions, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fmt.Errorf("redis url %q: missing scheme (want redis://, rediss://, redis+sentinel:// or redis+cluster://)", redact(rawURL))
	}
	switch scheme {
	case "redis", "rediss":
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis url %q: %w", redact(rawURL), err)
		}
		return &redis.UniversalOptions{
			Addrs: []string{o.Addr}, ClientName: o.ClientName, DB: o.DB, Protocol: o.Protocol,
			Username: o.Username, Password: o.Password,
			MaxRetries: o.MaxRetries, MinRetryBackoff: o.MinRetryBackoff, MaxRetryBackoff: o.MaxRetryBackoff,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
			PoolFIFO: o.PoolFIFO, PoolSize: o.PoolSize, PoolTimeout: o.PoolTimeout,
			MinIdleConns: o.MinIdleConns, MaxIdleConns: o.MaxIdleConns, MaxActiveConns: o.MaxActiveConns,
			ConnMaxIdleTime: o.ConnMaxIdleTime, ConnMaxLifetime: o.ConnMaxLifetime,
			TLSConfig: o.TLSConfig,
		}, nil
	case "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster":
	default:
		return nil, fmt.Errorf("redis url %q: unknown scheme %q (want redis, rediss, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster)", redact(rawURL), scheme)
	}
	sentinel := strings.HasSuffix(scheme, "+sentinel")
	useTLS := strings.HasPrefix(scheme, "rediss")

	rest, rawQuery, _ := strings.Cut(rest, "?")
	hostPart, path, _ := strings.Cut(rest, "/")
	o := &redis.UniversalOptions{}
	if at := strings.LastIndex(hostPart, "@"); at >= 0 {
		ui := hostPart[:at]
		hostPart = hostPart[at+1:]
		user, pass, hasPass := strings.Cut(ui, ":")
		var err error
		if o.Username, err = url.PathUnescape(user); err != nil {
			return nil, fmt.Errorf("redis url %q: user: %w", redact(rawURL), err)
		}
		if hasPass {
			if o.Password, err = url.PathUnescape(pass); err != nil {
				return nil, fmt.Errorf("redis url %q: password: %w", redact(rawURL), err)
			}
		}
	}
	defPort := "6379"
	if sentinel {
		defPort = "26379"
	}
	for _, h := range strings.Split(hostPart, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, fmt.Errorf("redis url %q: empty host in the host list", redact(rawURL))
		}
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			// No port: use the default.
			host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), defPort
		}
		if host == "" {
			return nil, fmt.Errorf("redis url %q: empty host in %q", redact(rawURL), h)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("redis url %q: bad port %q", redact(rawURL), port)
		}
		o.Addrs = append(o.Addrs, net.JoinHostPort(host, port))
	}
	segs := strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
	if sentinel {
		if len(segs) == 0 {
			return nil, fmt.Errorf("redis url %q: the sentinel form needs the master name as the path (redis+sentinel://host:port/mastername)", redact(rawURL))
		}
		o.MasterName = segs[0]
		segs = segs[1:]
	} else {
		o.IsClusterMode = true
	}
	switch len(segs) {
	case 0:
	case 1:
		db, err := strconv.Atoi(segs[0])
		if err != nil || db < 0 {
			return nil, fmt.Errorf("redis url %q: bad database number %q", redact(rawURL), segs[0])
		}
		if !sentinel && db != 0 {
			return nil, fmt.Errorf("redis url %q: a cluster has only database 0", redact(rawURL))
		}
		o.DB = db
	default:
		return nil, fmt.Errorf("redis url %q: too many path segments", redact(rawURL))
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("redis url %q: query: %w", redact(rawURL), err)
	}
	for k, v := range q {
		switch k {
		case "sentinel_username":
			o.SentinelUsername = v[len(v)-1]
		case "sentinel_password":
			o.SentinelPassword = v[len(v)-1]
		case "client_name":
			o.ClientName = v[len(v)-1]
		default:
			return nil, fmt.Errorf("redis url %q: unknown option %q", redact(rawURL), k)
		}
		if (k == "sentinel_username" || k == "sentinel_password") && !sentinel {
			return nil, fmt.Errorf("redis url %q: option %q is only for the sentinel form", redact(rawURL), k)
		}
	}
	if useTLS {
		host, _, _ := net.SplitHostPort(o.Addrs[0])
		o.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	return o, nil
}

// Connect parses rawURL (see ParseURL) and returns a client for it: a plain
// client, a Sentinel failover client or a Cluster client. It does not
// contact the server; call Store.Ping or the client's Ping for that.
func Connect(ctx context.Context, rawURL string) (redis.UniversalClient, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return redis.NewUniversalClient(o), nil
}

// StartEmbedded starts an in-process Redis-compatible server (miniredis) and
// returns a client to it and a function that closes both. Its data lives in
// memory only and is lost when the process exits; it logs a warning saying
// so. It is meant for demos and the CLI default, not for production.
func StartEmbedded(logger *slog.Logger) (redis.UniversalClient, func(), error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv := miniredis.NewMiniRedis()
	if err := srv.Start(); err != nil {
		return nil, nil, fmt.Errorf("start embedded redis: %w", err)
	}
	logger.Warn("using the embedded in-memory Redis: data is NOT persisted and is lost when the process exits; set REDIS_URL or --redis to keep it",
		"addr", srv.Addr())
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	return c, func() { _ = c.Close(); srv.Close() }, nil
}

// redact hides the password of a URL for error messages.
func redact(rawURL string) string {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return rawURL
	}
	hostPart, tail, hasTail := strings.Cut(rest, "/")
	at := strings.LastIndex(hostPart, "@")
	if at < 0 {
		return rawURL
	}
	user, _, hasPass := strings.Cut(hostPart[:at], ":")
	if hasPass {
		user += ":xxxxx"
	}
	out := scheme + "://" + user + "@" + hostPart[at+1:]
	if hasTail {
		out += "/" + tail
	}
	return out
}

// clientAddr names the server(s) a client talks to, for error messages.
func clientAddr(c redis.UniversalClient) string {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().Addr
	case *redis.ClusterClient:
		return strings.Join(c.Options().Addrs, ",")
	}
	return "unknown address"
}
