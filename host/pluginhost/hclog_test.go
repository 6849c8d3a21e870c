package pluginhost

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestSlogAdapterKeys checks that a line names the plugin once: go-plugin's
// own "plugin" argument (the executable's path) gets another key.
func TestSlogAdapterKeys(t *testing.T) {
	var buf bytes.Buffer
	a := newSlogAdapter(slog.New(slog.NewTextHandler(&buf, nil)), "causal")
	a.With("plugin", "/usr/bin/causalrec").Info("plugin process exited", "plugin", "/usr/bin/causalrec", "id", 7)
	line := buf.String()
	if n := strings.Count(line, "plugin="); n != 1 || !strings.Contains(line, "plugin=causal") {
		t.Errorf("line names the plugin %d times: %s", n, line)
	}
	if n := strings.Count(line, "executable=/usr/bin/causalrec"); n != 2 || !strings.Contains(line, "id=7") {
		t.Errorf("the path or the other arguments are lost: %s", line)
	}
}
