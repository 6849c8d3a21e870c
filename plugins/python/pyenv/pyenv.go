// Package pyenv gets the tests of Python plugins what they need: Debian's
// interpreter /usr/bin/python3 with the modules a plugin imports. When a
// module is missing and the tests run as root, it installs the Debian
// packages that provide them (apt-get); otherwise the test is skipped,
// saying why.
package pyenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Python is the interpreter the plugins' wrapper scripts run.
const Python = "/usr/bin/python3"

// Module is a Python module and the Debian package that provides it.
type Module struct {
	Name    string
	Package string
}

var (
	// GRPC is what every plugin written with the SDK imports.
	GRPC = []Module{{"grpc", "python3-grpcio"}, {"google.protobuf", "python3-protobuf"}}
	// Sklearn is what the py-sklearn estimator plugin imports besides.
	Sklearn = []Module{{"numpy", "python3-numpy"}, {"scipy", "python3-scipy"}, {"sklearn", "python3-sklearn"}}
)

var (
	mu      sync.Mutex
	results = map[string]string{} // the skip reason by module list, "" when ready
)

// Require skips tb unless Python can import every module of each list.
// As root it first installs the missing modules' packages, once per
// process.
func Require(tb testing.TB, lists ...[]Module) {
	tb.Helper()
	var mods []Module
	for _, l := range lists {
		mods = append(mods, l...)
	}
	var names []string
	for _, m := range mods {
		names = append(names, m.Name)
	}
	key := strings.Join(names, ",")
	mu.Lock()
	reason, done := results[key]
	if !done {
		reason = ensure(mods)
		results[key] = reason
	}
	mu.Unlock()
	if reason != "" {
		tb.Skip(reason)
	}
}

func ready(mods []Module) error {
	var names []string
	for _, m := range mods {
		names = append(names, m.Name)
	}
	out, err := exec.Command(Python, "-c", "import "+strings.Join(names, ", ")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s cannot import %s: %v: %s", Python, strings.Join(names, ", "), err, bytes.TrimSpace(out))
	}
	return nil
}

func ensure(mods []Module) string {
	err := ready(mods)
	if err == nil {
		return ""
	}
	var pkgs []string
	for _, m := range mods {
		pkgs = append(pkgs, m.Package)
	}
	if os.Geteuid() != 0 {
		return fmt.Sprintf("%v, and only root can run apt-get install -y %s", err, strings.Join(pkgs, " "))
	}
	if _, lerr := exec.LookPath("apt-get"); lerr != nil {
		return fmt.Sprintf("%v, and there is no apt-get", err)
	}
	args := append([]string{"install", "-y"}, pkgs...)
	if ierr := aptGet(args...); ierr != nil {
		// The package lists may be missing (a fresh container).
		if uerr := aptGet("update"); uerr != nil {
			return fmt.Sprintf("%s cannot be installed: %v", strings.Join(pkgs, " "), uerr)
		}
		if ierr := aptGet(args...); ierr != nil {
			return fmt.Sprintf("%s cannot be installed: %v", strings.Join(pkgs, " "), ierr)
		}
	}
	if err := ready(mods); err != nil {
		return fmt.Sprintf("after apt-get install: %v", err)
	}
	return ""
}

func aptGet(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("apt-get %s: %v: %s", strings.Join(args, " "), err, lastLines(out, 5))
	}
	return nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
