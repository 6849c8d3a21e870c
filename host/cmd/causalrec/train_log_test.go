package main

import (
	"bytes"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/recommend"
)

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTrainAndRollbackLog checks that a training logs the new model's id
// (through the API and the train command) and that a rollback logs which
// model serves now.
func TestTrainAndRollbackLog(t *testing.T) {
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix = redisURL(), testPrefix(t)
	var logs lockedBuffer
	base, _ := startServeLogged(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	ingestUsers(t, base, "", 300)
	postEvents(t, base, "", simulatedEvents(300, 0))
	var first, second recommend.TrainResult
	call(t, "POST", base+"/v1/train", "", nil, &first)
	call(t, "POST", base+"/v1/train", "", nil, &second)
	for _, id := range []string{first.ModelID.String(), second.ModelID.String()} {
		if !regexp.MustCompile(`msg="model trained and serving" model=` + id).MatchString(logs.String()) {
			t.Errorf("no log line of the training of %s:\n%s", id, logs.String())
		}
	}
	if code, body := call(t, "POST", base+"/v1/models/rollback", "", struct{}{}, nil); code != 200 {
		t.Fatalf("rollback: %d %s", code, body)
	}
	if want := `msg="serving model rolled back" model=` + first.ModelID.String() + " replaced=" + second.ModelID.String(); !strings.Contains(logs.String(), want) {
		t.Errorf("no log line %q:\n%s", want, logs.String())
	}
	code, out, stderr := runCLI(t, "", "train", "--redis", cfg.RedisURL, "--prefix", cfg.Prefix, "--text-features", "off")
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	m := regexp.MustCompile(`"model_id": "([0-9a-f-]{36})"`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(stderr, `msg="model trained and serving" model=`+m[1]) || !strings.Contains(stderr, "train: done") {
		t.Errorf("train does not log its model id or finish its progress:\n%s\n%s", out, stderr)
	}
}
