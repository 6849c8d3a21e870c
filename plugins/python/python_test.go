package python_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/plugins"
	"github.com/causalrec/causalrec/plugins/python/pyenv"
	pb "github.com/causalrec/causalrec/proto/causalrec/plugin/v1"
)

var update = flag.Bool("update", false, "rewrite the manifest of the wrapper script")

const (
	python  = pyenv.Python
	script  = "textscorer/length_scorer.py"
	wrapper = "textscorer/causalrec-length-scorer"
	cookie  = "CAUSALREC_PLUGIN=b4c9e1f2-causalrec-plugin"

	skScript  = "estimator/sklearn_tlearner.py"
	skWrapper = "estimator/causalrec-sklearn-estimator"
)

// needPython skips the test when /usr/bin/python3 cannot import grpc and
// google.protobuf and they cannot be installed; as root it installs the
// Debian packages first.
func needPython(t testing.TB) {
	t.Helper()
	pyenv.Require(t, pyenv.GRPC)
}

func abs(t testing.TB, rel string) string {
	t.Helper()
	p, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
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

// newLogger logs everything, plugin lines at debug level included, to w.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newManager(t *testing.T, spec pluginhost.Spec) (*pluginhost.Manager, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	m, err := pluginhost.New([]pluginhost.Spec{spec}, pluginhost.Options{Logger: newLogger(logs), StartTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		if t.Failed() {
			t.Logf("host log:\n%s", logs.String())
		}
	})
	return m, logs
}

// The pieces random texts are made of: ASCII and non-ASCII words,
// punctuation, White_Space of several kinds, and U+001C, which Python's
// str.split treats as a separator but Unicode (and Go) do not.
var pieces = []string{
	"word", "héllo", "日本語", "🙂", "a!b?", "!", "?", "!!", "¿qué?", "x\u001cy", "\u200b",
	" ", " ", " ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028", "\u2003", "\u0085",
}

func randomText(rng *rand.Rand) string {
	var b strings.Builder
	for range rng.IntN(40) + 1 {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

// wantFeatures is the reference implementation of the scorer's features.
func wantFeatures(text string) map[string]float64 {
	return map[string]float64{
		"chars":        float64(utf8.RuneCountInString(text)),
		"bytes":        float64(len(text)),
		"words":        float64(len(strings.Fields(text))),
		"exclamations": float64(strings.Count(text, "!")),
		"questions":    float64(strings.Count(text, "?")),
	}
}

func TestHostScoresThroughPython(t *testing.T) {
	needPython(t)
	const maxBytes = 4096
	specs := []struct {
		name string
		spec pluginhost.Spec
	}{
		{"interpreter", pluginhost.Spec{
			Name: "length", Kind: plugins.KindTextScorer, Path: python,
			Args: []string{"-B", abs(t, script), "--max-text-bytes", fmt.Sprint(maxBytes)},
			// The checksum is that of the interpreter: it says nothing about
			// the script (see the wrapper).
			SHA256: fileSHA256(t, python),
		}},
		{"wrapper", pluginhost.Spec{
			Name: "length", Kind: plugins.KindTextScorer, Path: abs(t, wrapper),
			Args:   []string{"--max-text-bytes", fmt.Sprint(maxBytes)},
			SHA256: fileSHA256(t, wrapper),
		}},
	}
	for _, tc := range specs {
		t.Run(tc.name, func(t *testing.T) {
			m, logs := newManager(t, tc.spec)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := m.StartOne(ctx, "length"); err != nil {
				t.Fatalf("start: %v", err)
			}
			st := m.List()
			if len(st) != 1 || !st[0].Healthy || st[0].Protocol != plugins.ProtocolVersion || st[0].Version != "1.0.0+length" {
				t.Fatalf("status = %+v, want healthy, protocol %d, version 1.0.0+length", st, plugins.ProtocolVersion)
			}
			s, err := m.TextScorer("length")
			if err != nil {
				t.Fatal(err)
			}
			info, err := s.Info(ctx, plugins.InfoRequest{})
			if err != nil {
				t.Fatalf("info: %v", err)
			}
			wantInfo := plugins.TextScorerInfo{Name: "length", Version: "1.0.0+length",
				Features: []string{"chars", "bytes", "words", "exclamations", "questions"}, MaxTextBytes: maxBytes}
			if info.Name != wantInfo.Name || info.Version != wantInfo.Version || !slices.Equal(info.Features, wantInfo.Features) || info.MaxTextBytes != wantInfo.MaxTextBytes {
				t.Fatalf("info = %+v, want %+v", info, wantInfo)
			}

			// 3000 items travel in 6 chunks of at most 512.
			const n = 3000
			rng := rand.New(rand.NewPCG(1, 2))
			req := plugins.ScoreRequest{Context: []string{"a user's history!"}}
			wantErr := map[int]string{}
			for i := range n {
				text := randomText(rng)
				switch {
				case i%401 == 7:
					text, wantErr[i] = "", "empty text"
				case i%577 == 11:
					text = strings.Repeat("ab! ", maxBytes/4+1)
					wantErr[i] = fmt.Sprintf("text is %d bytes, over the limit of %d", len(text), maxBytes)
				}
				req.Items = append(req.Items, plugins.TextItem{ID: fmt.Sprintf("item-%d", i), Text: text})
			}
			resp, err := s.Score(ctx, req)
			if err != nil {
				t.Fatalf("score: %v", err)
			}
			if len(resp.Scores) != n {
				t.Fatalf("got %d scores, want %d", len(resp.Scores), n)
			}
			var sawSep bool
			for i, sc := range resp.Scores {
				if t.Failed() && i%100 == 0 {
					t.Fatalf("stopping at item %d after the errors above", i)
				}
				it := req.Items[i]
				if sc.ID != it.ID {
					t.Fatalf("score %d: id %q, want %q", i, sc.ID, it.ID)
				}
				if want, ok := wantErr[i]; ok {
					if sc.Err != want || len(sc.Features) != 0 {
						t.Errorf("item %d: err %q features %v, want err %q and no features", i, sc.Err, sc.Features, want)
					}
					continue
				}
				if sc.Err != "" {
					t.Errorf("item %d (%q): unexpected error %q", i, it.Text, sc.Err)
					continue
				}
				sawSep = sawSep || strings.Contains(it.Text, "\u001c")
				// The features are counts, exact in float64: compare exactly.
				want := wantFeatures(it.Text)
				if len(sc.Features) != len(want) {
					t.Errorf("item %d: features %v, want %v", i, sc.Features, want)
					continue
				}
				for k, w := range want {
					if got, ok := sc.Features[k]; !ok || got != w {
						t.Errorf("item %d (%q): %s = %v, want %v", i, it.Text, k, got, w)
					}
				}
			}
			if len(wantErr) < 10 || !sawSep {
				t.Fatalf("the batch lacks the cases it is meant to cover: %d errors, U+001C seen %v", len(wantErr), sawSep)
			}

			// The plugin's stderr reaches the host's log, and the host's
			// Close makes it exit through the controller's Shutdown.
			m.Close()
			if !strings.Contains(logs.String(), "stopping: the host asked the plugin to shut down") {
				t.Errorf("host log does not show a graceful shutdown:\n%s", logs.String())
			}
		})
	}
}

func TestWrongChecksumIsRefused(t *testing.T) {
	needPython(t)
	spec := pluginhost.Spec{Name: "length", Kind: plugins.KindTextScorer, Path: abs(t, wrapper),
		SHA256: strings.Repeat("0", 64)}
	m, _ := newManager(t, spec)
	err := m.StartOne(context.Background(), "length")
	if err == nil || !strings.Contains(err.Error(), "does not match the configured sha256") {
		t.Fatalf("start with a wrong checksum: err = %v, want a checksum mismatch", err)
	}
}

// wrappers lists each wrapper script, the directories whose Python files
// its manifest covers, and the script it runs.
var wrappers = []struct {
	path, script string
	dirs         []string
}{
	{wrapper, script, []string{"causalrec_plugin", "textscorer"}},
	{skWrapper, skScript, []string{"causalrec_plugin", "estimator"}},
}

// TestWrapperManifest checks that each wrapper's manifest lists every
// Python file of its plugin and the SDK with its current sha256; -update
// rewrites the manifests.
func TestWrapperManifest(t *testing.T) {
	for _, w := range wrappers {
		t.Run(filepath.Base(w.path), func(t *testing.T) {
			checkManifest(t, w.path, w.dirs)
		})
	}
}

func checkManifest(t *testing.T, wrapperPath string, dirs []string) {
	var files []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "__pycache__" {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".py") {
				files = append(files, filepath.ToSlash(p))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(files)
	var want strings.Builder
	for _, f := range files {
		fmt.Fprintf(&want, "%s  %s\n", fileSHA256(t, f), f)
	}
	src, err := os.ReadFile(wrapperPath)
	if err != nil {
		t.Fatal(err)
	}
	const open, end = "cat <<'MANIFEST'\n", "MANIFEST\n"
	i := bytes.Index(src, []byte(open))
	if i < 0 {
		t.Fatalf("%s: no manifest after %q", wrapperPath, open)
	}
	j := bytes.Index(src[i+len(open):], []byte(end))
	if j < 0 {
		t.Fatalf("%s: manifest does not end with %q", wrapperPath, end)
	}
	got := string(src[i+len(open) : i+len(open)+j])
	if got == want.String() {
		return
	}
	if *update {
		out := slices.Concat(src[:i+len(open)], []byte(want.String()), src[i+len(open)+j:])
		if err := os.WriteFile(wrapperPath, out, 0o755); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s: manifest is stale (refresh with go test ./plugins/python -run TestWrapperManifest -update)\ngot:\n%swant:\n%s", wrapperPath, got, want.String())
}

// TestWrapperRefusesEditedScript runs each wrapper from a copy of the
// plugin whose script was changed after the manifest was made.
func TestWrapperRefusesEditedScript(t *testing.T) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("the wrapper needs sha256sum (coreutils), which is not installed")
	}
	for _, w := range wrappers {
		t.Run(filepath.Base(w.path), func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(".")); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(filepath.Join(dir, w.script), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString("\nimport os  # an edit\n"); err != nil {
				t.Fatal(err)
			}
			f.Close()
			cmd := exec.Command(filepath.Join(dir, w.path))
			cmd.Env = append(os.Environ(), cookie)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err = cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("wrapper over an edited script: err = %v, want exit status 1\nstderr: %s", err, stderr.String())
			}
			if stdout.Len() != 0 || !strings.Contains(stderr.String(), "do not match this wrapper's manifest") {
				t.Errorf("stdout %q (want empty), stderr %q (want the manifest error)", stdout.String(), stderr.String())
			}
		})
	}
}

// startPlugin starts the Python script of a plugin by hand, without
// go-plugin, and returns its handshake line, its stderr, its stdin and a
// channel that receives the result of Wait.
func startPlugin(t testing.TB, script string, env []string, args ...string) (*exec.Cmd, string, *syncBuffer, io.WriteCloser, chan error) {
	t.Helper()
	cmd := exec.Command(python, append([]string{"-B", abs(t, script)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lineCh := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		r := bufio.NewReader(out)
		line, _ := r.ReadString('\n')
		lineCh <- line
		_, _ = io.Copy(io.Discard, r)
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	select {
	case line := <-lineCh:
		return cmd, strings.TrimSpace(line), stderr, stdin, done
	case <-time.After(15 * time.Second):
		t.Fatalf("no handshake line in 15s; stderr:\n%s", stderr.String())
	}
	return nil, "", nil, nil, nil
}

func waitExit(t *testing.T, done chan error, stderr *syncBuffer) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("the plugin did not exit in 10s; stderr:\n%s", stderr.String())
	}
	return nil
}

func TestHandshakeRefusals(t *testing.T) {
	needPython(t)
	tests := []struct {
		name       string
		env        []string
		args       []string
		wantStatus int
		wantStderr string
	}{
		{"no cookie", nil, nil, 1, "not meant to be run by hand"},
		{"wrong cookie", []string{"CAUSALREC_PLUGIN=nope"}, nil, 1, "not meant to be run by hand"},
		{"other protocol", []string{cookie, "PLUGIN_PROTOCOL_VERSIONS=2,3"}, nil, 1, "speaks plugin protocol versions 2,3; this plugin speaks 1"},
		{"bad protocol list", []string{cookie, "PLUGIN_PROTOCOL_VERSIONS=1,x"}, nil, 1, "'x' is not a version number"},
		{"bad port range", []string{cookie, "PLUGIN_MIN_PORT=20000", "PLUGIN_MAX_PORT=10000"}, nil, 1, "PLUGIN_MIN_PORT 20000 is greater than PLUGIN_MAX_PORT 10000"},
		{"negative max bytes", []string{cookie}, []string{"--max-text-bytes", "-1"}, 2, "max text bytes -1 is negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(python, append([]string{"-B", abs(t, script)}, tc.args...)...)
			cmd.Env = append(slices.DeleteFunc(os.Environ(), func(e string) bool {
				return strings.HasPrefix(e, "CAUSALREC_PLUGIN=") || strings.HasPrefix(e, "PLUGIN_")
			}), tc.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.wantStatus {
				t.Fatalf("err = %v, want exit status %d; stderr:\n%s", err, tc.wantStatus, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing (no handshake line)", stdout.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tc.wantStderr)
			}
		})
	}
}

// TestPlaintextServeAndStop talks to the plugin without go-plugin: without
// PLUGIN_CLIENT_CERT it serves plaintext gRPC, and it exits with status 0 on
// SIGTERM or, when asked, when stdin closes.
func TestPlaintextServeAndStop(t *testing.T) {
	needPython(t)
	tests := []struct {
		name string
		args []string
		stop func(cmd *exec.Cmd, stdin io.WriteCloser) error
		want string
	}{
		{"SIGTERM", nil, func(cmd *exec.Cmd, _ io.WriteCloser) error { return cmd.Process.Signal(syscall.SIGTERM) }, "stopping: SIGTERM"},
		{"stdin closed", []string{"--exit-on-stdin-close"}, func(_ *exec.Cmd, stdin io.WriteCloser) error { return stdin.Close() }, "stopping: stdin closed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{cookie, "PLUGIN_PROTOCOL_VERSIONS=1", "PLUGIN_CLIENT_CERT="}
			cmd, line, stderr, stdin, done := startPlugin(t, script, env, tc.args...)
			f := strings.Split(line, "|")
			if len(f) != 6 || f[0] != "1" || f[1] != "1" || f[2] != "tcp" || !strings.HasPrefix(f[3], "127.0.0.1:") || f[4] != "grpc" || f[5] != "" {
				t.Fatalf("handshake line %q, want 1|1|tcp|127.0.0.1:PORT|grpc| (no certificate)", line)
			}
			conn, err := grpc.NewClient(f[3], grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			h, err := grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "plugin"})
			if err != nil || h.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
				t.Fatalf("health of %q: %v, %v; want SERVING", "plugin", h, err)
			}
			if _, err := grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "nope"}); err == nil {
				t.Errorf("health of an unknown service: no error")
			}
			resp, err := pb.NewTextScorerClient(conn).Score(ctx, &pb.ScoreRequest{Items: []*pb.TextItem{{Id: "a", Text: "Hi there!"}, {Id: "b"}}})
			if err != nil {
				t.Fatal(err)
			}
			if s := resp.GetScores(); len(s) != 2 || s[0].GetFeatures()["words"] != 2 || s[0].GetFeatures()["exclamations"] != 1 || s[1].GetError() != "empty text" {
				t.Fatalf("scores = %v, want 2 words and 1 exclamation for a, empty text for b", s)
			}
			if err := tc.stop(cmd, stdin); err != nil {
				t.Fatal(err)
			}
			if err := waitExit(t, done, stderr); err != nil {
				t.Fatalf("exit: %v, want status 0; stderr:\n%s", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tc.want)
			}
		})
	}
}

// TestCertificateBackends checks both ways the plugin makes its TLS
// certificate: the host must be able to trust it as the root for the name
// localhost, for server and client authentication.
func TestCertificateBackends(t *testing.T) {
	needPython(t)
	for _, backend := range []string{"cryptography", "openssl"} {
		t.Run(backend, func(t *testing.T) {
			code := fmt.Sprintf(`import base64, sys
sys.path.insert(0, %q)
from causalrec_plugin import tlscert
try:
    cert, key, der = tlscert.self_signed_localhost(%q)
except tlscert.CertError as e:
    print("UNAVAILABLE", e)
    sys.exit(0)
print(base64.b64encode(der).decode())`, abs(t, "."), backend)
			out, err := exec.Command(python, "-B", "-c", code).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			s := strings.TrimSpace(string(out))
			if rest, ok := strings.CutPrefix(s, "UNAVAILABLE "); ok {
				t.Skipf("backend %s is not available here: %s", backend, rest)
			}
			der, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				t.Fatalf("not base64: %v: %q", err, s)
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			roots := x509.NewCertPool()
			roots.AddCert(c)
			for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				if _, err := c.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
					t.Errorf("verify for usage %v: %v", usage, err)
				}
			}
			if !c.IsCA || c.NotAfter.Before(time.Now().AddDate(1, 0, 0)) {
				t.Errorf("IsCA %v, NotAfter %v; want a CA valid for at least a year", c.IsCA, c.NotAfter)
			}
		})
	}
}

// FuzzScore sends arbitrary texts to a running plugin and compares its
// features with the Go reference; the seeds run as part of go test.
func FuzzScore(f *testing.F) {
	for _, s := range []string{"Hi there!", "x\u001cy", "¿qué?\u3000!!", "\u0085a\u00a0b\u2028c", "🙂", " ", "\x00!?"} {
		f.Add(s)
	}
	needPython(f)
	env := []string{cookie, "PLUGIN_CLIENT_CERT="}
	cmd, line, stderr, _, done := startPlugin(f, script, env, "--max-text-bytes", "0")
	f.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			f.Errorf("the plugin did not exit on SIGTERM; stderr:\n%s", stderr.String())
		}
	})
	addr := strings.Split(line, "|")[3]
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { conn.Close() })
	client := pb.NewTextScorerClient(conn)
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) {
			t.Skip("the host never sends texts that are not UTF-8")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := client.Score(ctx, &pb.ScoreRequest{Items: []*pb.TextItem{{Id: "x", Text: text}}})
		if err != nil {
			t.Fatalf("score %q: %v", text, err)
		}
		got := resp.GetScores()[0]
		if text == "" {
			if got.GetError() != "empty text" {
				t.Fatalf("empty text: error %q", got.GetError())
			}
			return
		}
		for k, w := range wantFeatures(text) {
			if g := got.GetFeatures()[k]; g != w {
				t.Errorf("%q: %s = %v, want %v", text, k, g, w)
			}
		}
	})
}

// TestHostRequiresTLS pins down a fact the docs rely on: with AutoMTLS the
// host dials TLS even when the plugin's handshake carries no certificate,
// so a plugin that ignores PLUGIN_CLIENT_CERT and serves plaintext cannot
// be loaded.
func TestHostRequiresTLS(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	plain := filepath.Join(dir, "plaintext-length")
	src := fmt.Sprintf("#!/bin/sh\nexec env -u PLUGIN_CLIENT_CERT %s -B %s \"$@\"\n", python, abs(t, script))
	if err := os.WriteFile(plain, []byte(src), 0o755); err != nil {
		t.Fatal(err)
	}
	m, _ := newManager(t, pluginhost.Spec{Name: "length", Kind: plugins.KindTextScorer, Path: plain, SHA256: fileSHA256(t, plain)})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := m.StartOne(ctx, "length")
	if err == nil {
		t.Fatal("the host loaded a plaintext plugin; docs/plugins.md says it cannot")
	}
	t.Logf("plaintext plugin refused as expected: %v", err)
}

// BenchmarkScore scores batches of 1,000 random texts through the host and
// the Python plugin process (mutual TLS), against the same features
// computed in process in Go as the baseline.
func BenchmarkScore(b *testing.B) {
	needPython(b)
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 1000
	req := plugins.ScoreRequest{Items: make([]plugins.TextItem, n)}
	for i := range req.Items {
		req.Items[i] = plugins.TextItem{ID: fmt.Sprint(i), Text: randomText(rng)}
	}
	b.Run(fmt.Sprintf("size=%d/go-in-process", n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out := make([]plugins.TextScore, n)
			for i, it := range req.Items {
				out[i] = plugins.TextScore{ID: it.ID, Features: wantFeatures(it.Text)}
			}
		}
	})
	b.Run(fmt.Sprintf("size=%d/python-process", n), func(b *testing.B) {
		logs := &syncBuffer{}
		m, err := pluginhost.New([]pluginhost.Spec{{Name: "length", Kind: plugins.KindTextScorer,
			Path: abs(b, wrapper), SHA256: fileSHA256(b, wrapper)}},
			pluginhost.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		ctx := context.Background()
		if err := m.StartOne(ctx, "length"); err != nil {
			b.Fatalf("%v\n%s", err, logs.String())
		}
		s, err := m.TextScorer("length")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Score(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
