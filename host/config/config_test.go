package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadGood(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	t.Setenv("CAUSALREC_API_TOKEN", "")
	files, _ := filepath.Glob("testdata/*.good.json")
	if len(files) == 0 {
		t.Fatal("no good configs")
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	c, err := Load("testdata/full.good.json")
	if err != nil {
		t.Fatal(err)
	}
	if c.Prefix != "shop:" || c.GRPCAddr != "" || time.Duration(c.PluginPingInterval) != 500*time.Millisecond || len(c.Plugins) != 1 || c.RequestTimeout != Default().RequestTimeout ||
		time.Duration(c.PluginTimeouts.Predict) != 150*time.Millisecond || time.Duration(c.PluginTimeouts.Fit) != time.Hour ||
		c.PluginTimeouts.Ping != Default().PluginTimeouts.Ping || c.PluginEjectAfter != 5 || time.Duration(c.IdempotencyWindow) != 24*time.Hour ||
		c.Limits.MaxFeatures != 50 || len(c.Limits.Arms) != 3 || c.ExperimentCandidatesPerSecond != 500 || c.Limits.MaxCatalogFeatures != Default().Limits.MaxCatalogFeatures || c.Limits.Host().MaxEventAge != 8760*time.Hour {
		t.Errorf("full config read wrong: %+v", c)
	}
	if d := Default(); d.ExperimentCandidatesPerSecond != 25 || d.Ranker != "uplift" || d.TextFeatures != "auto" || strings.Join(d.TextScorers, ",") != "lm,sentiment" || d.TextRelevance {
		t.Errorf("default ranker and text features: %+v", d)
	}
	c, err = Load("testdata/text.good.json")
	if err != nil || c.Ranker != "dlce" || c.TextFeatures != "on" || len(c.TextScorers) != 1 || !c.TextRelevance {
		t.Errorf("text config read wrong: %+v, %v", c, err)
	}
}

func TestLoadBad(t *testing.T) {
	want := map[string]string{
		"unknown-key.bad.json":    `unknown field "prefx"`,
		"no-sha.bad.json":         "no sha256",
		"bad-kind.bad.json":       `unknown kind "ranker"`,
		"bad-shards.bad.json":     "event_shards 5000: want 1 to 1024",
		"bad-addr.bad.json":       `http_addr "8080"`,
		"bad-duration.bad.json":   "soon",
		"bad-body.bad.json":       "max_body_bytes",
		"bad-ranker.bad.json":     `ranker "best"`,
		"bad-text.bad.json":       `text_features "maybe"`,
		"dev-mode-token.bad.json": "plugin_dev_mode runs plugins without checksums",
		"slow-predict.bad.json":   "plugin_timeouts.predict 800ms must be at most half of request_timeout 1s",
		"bad-lease.bad.json":      "train_lease 1ms must be at least 10ms",
		"bad-limits.bad.json":     "limits: max_abs_value 0 must be positive and finite",
		"bad-candidates.bad.json": "experiment_candidates_per_second must be at least 1, got 0",
	}
	files, _ := filepath.Glob("testdata/*.bad.json")
	if len(files) != len(want) {
		t.Fatalf("%d bad configs, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		_, err := Load(f)
		if err == nil || !strings.Contains(err.Error(), want[filepath.Base(f)]) || !strings.Contains(err.Error(), f) {
			t.Errorf("%s: got %v, want an error naming the file and containing %q", f, err, want[filepath.Base(f)])
		}
	}
}

// TestDevModeRefusedWithToken checks that an API token from the
// environment also turns development mode away.
func TestDevModeRefusedWithToken(t *testing.T) {
	t.Setenv("CAUSALREC_API_TOKEN", "")
	c, err := Load("testdata/dev-mode.good.json")
	if err != nil || !c.PluginDevMode || c.Plugins[0].SHA256 != "" {
		t.Fatalf("dev-mode.good.json: %+v, %v", c, err)
	}
	t.Setenv("CAUSALREC_API_TOKEN", "tok")
	if _, err := Load("testdata/dev-mode.good.json"); err == nil || !strings.Contains(err.Error(), "cannot be used with an API token") {
		t.Fatalf("development mode with a token in the environment: %v", err)
	}
}

func TestEnvironment(t *testing.T) {
	t.Setenv("REDIS_URL", "redis://example:1")
	t.Setenv("CAUSALREC_API_TOKEN", "tok")
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.RedisURL != "redis://example:1" || c.APIToken != "tok" {
		t.Errorf("environment not applied: %+v", c)
	}
}
