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
