package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImportNeedsARedis(t *testing.T) {
	dir := t.TempDir()
	items := filepath.Join(dir, "items.csv")
	if err := os.WriteFile(items, []byte("id,title\ni1,hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REDIS_URL", "")
	code, out, stderr := runCLI(t, "", "import", "--kind", "items", items)
	if code != 2 || !strings.Contains(stderr, "--redis") || !strings.Contains(stderr, "--embedded") || strings.Contains(out, "written") {
		t.Errorf("import without --redis: exit %d, out %q, stderr %q", code, out, stderr)
	}
	// REDIS_URL names the store as it does for every other command.
	t.Setenv("REDIS_URL", redisURL())
	if code, out, stderr := runCLI(t, "", "import", "--kind", "items", "--prefix", testPrefix(t), items); code != 0 || !strings.Contains(out, "written 1") {
		t.Errorf("import with REDIS_URL but no --redis: exit %d, out %q, stderr %q", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "", "import", "--kind", "items", "--embedded", items)
	if code != 0 || !strings.Contains(out, "written 1") || !strings.Contains(stderr, "nothing is kept") {
		t.Errorf("import --embedded: exit %d, out %q, stderr %q", code, out, stderr)
	}
	if code, _, stderr := runCLI(t, "", "import", "--kind", "items", "--embedded", "--redis", redisURL(), items); code != 2 || !strings.Contains(stderr, "exclude") {
		t.Errorf("--embedded with --redis: exit %d: %s", code, stderr)
	}
}

// TestImportAppliesLimits checks every record against the limits the API
// applies: with reject a record over them writes nothing and names its
// line, with skip the others are written, and a config's limits replace
// the defaults.
func TestImportAppliesLimits(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, "events.csv")
	body := "kind,user,item,time,arm,propensity\n" +
		"exposure,u1,i1,2024-05-01T10:00:00Z,treated,0.5\n" +
		"exposure,u2,i1,2024-05-01T10:00:00Z,promo,0.5\n" +
		"exposure,u3,i1,2024-05-01T10:00:00Z,control,0.5\n"
	if err := os.WriteFile(events, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgFile, []byte(`{"limits": {"arms": ["treated", "control", "promo"]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	args := func(prefix string, more ...string) []string {
		return append([]string{"import", "--kind", "events", "--redis", redisURL(), "--prefix", prefix}, append(more, events)...)
	}
	p := testPrefix(t)
	code, out, stderr := runCLI(t, "", args(p)...)
	if code != 1 || !strings.Contains(stderr, "events.csv:3:") || !strings.Contains(stderr, `"promo"`) || !strings.Contains(out, "written 0") {
		t.Errorf("reject: exit %d, out %q, stderr %q", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "", args(p, "--on-error", "skip")...)
	if code != 0 || !strings.Contains(out, "read 3, written 2, skipped 1") || !strings.Contains(stderr, "events.csv:3:") {
		t.Errorf("skip: exit %d, out %q, stderr %q", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "", args(testPrefix(t)+"cfg:", "--config", cfgFile)...)
	if code != 0 || !strings.Contains(out, "written 3") {
		t.Errorf("--config with the arm allowed: exit %d, out %q, stderr %q", code, out, stderr)
	}
	if code, _, stderr := runCLI(t, "", args(p, "--config", filepath.Join(dir, "missing.json"))...); code != 2 || !strings.Contains(stderr, "--config") {
		t.Errorf("missing config: exit %d, stderr %q", code, stderr)
	}
}
