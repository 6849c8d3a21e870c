package store

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url      string
		addrs    []string
		master   string
		cluster  bool
		db       int
		user     string
		password string
		tls      bool
		sentPass string
	}{
		{url: "redis://127.0.0.1:6379", addrs: []string{"127.0.0.1:6379"}},
		{url: "redis://localhost", addrs: []string{"localhost:6379"}},
		{url: "redis://bob:s3cret@db.example:7000/2", addrs: []string{"db.example:7000"}, db: 2, user: "bob", password: "s3cret"},
		{url: "rediss://db.example:6380", addrs: []string{"db.example:6380"}, tls: true},
		{url: "redis+sentinel://s1:26379,s2:26380,s3/mymaster", addrs: []string{"s1:26379", "s2:26380", "s3:26379"}, master: "mymaster"},
		{url: "redis+sentinel://:pw@s1/mymaster/3?sentinel_password=sp", addrs: []string{"s1:26379"}, master: "mymaster", db: 3, password: "pw", sentPass: "sp"},
		{url: "rediss+sentinel://s1:1/m", addrs: []string{"s1:1"}, master: "m", tls: true},
		{url: "redis+cluster://n1:7000,n2:7001,[::1]:7002", addrs: []string{"n1:7000", "n2:7001", "[::1]:7002"}, cluster: true},
		{url: "rediss+cluster://u:p%40ss@n1", addrs: []string{"n1:6379"}, cluster: true, user: "u", password: "p@ss", tls: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			o, err := ParseURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o.Addrs, tt.addrs) || o.MasterName != tt.master || o.IsClusterMode != tt.cluster || o.DB != tt.db ||
				o.Username != tt.user || o.Password != tt.password || (o.TLSConfig != nil) != tt.tls || o.SentinelPassword != tt.sentPass {
				t.Errorf("got %+v", o)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct{ url, want string }{
		{"127.0.0.1:6379", "missing scheme"},
		{"http://x", "unknown scheme"},
		{"redis+sentinel://s1,s2", "master name"},
		{"redis+cluster://n1,,n2", "empty host"},
		{"redis+cluster://n1:99999", "bad port"},
		{"redis+cluster://n1/1", "only database 0"},
		{"redis+sentinel://s1/m/x", "bad database"},
		{"redis+cluster://n1?sentinel_password=x", "only for the sentinel"},
		{"redis+cluster://n1?colour=red", "unknown option"},
		{"redis+cluster://u:hunter2@n1:bad", "bad port"},
	}
	for _, tt := range tests {
		_, err := ParseURL(tt.url)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseURL(%q) error %v, want one containing %q", tt.url, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

func TestConnectKinds(t *testing.T) {
	ctx := context.Background()
	for url, want := range map[string]string{
		"redis://127.0.0.1:1":                     "*redis.Client",
		"redis+cluster://127.0.0.1:1,127.0.0.1:2": "*redis.ClusterClient",
		"redis+sentinel://127.0.0.1:1/m":          "*redis.Client",
	} {
		c, err := Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		if got := typeName(c); got != want {
			t.Errorf("Connect(%q) is %s, want %s", url, got, want)
		}
		_ = c.Close()
	}
}

// TestStartEmbedded checks only the embedded server's own contract; the
// store conformance suite runs against a real Redis.
func TestStartEmbedded(t *testing.T) {
	var logs bytes.Buffer
	c, stop, err := StartEmbedded(slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "NOT persisted") {
		t.Errorf("no warning about persistence in %q", logs.String())
	}
}
