package estimator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/causalrec/causalrec/plugins"
)

// startProcessPID is startProcess that also returns the plugin's process
// ID.
func startProcessPID(tb testing.TB) (plugins.Estimator, int) {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), servePluginEnv+"=1")
	client := goplugin.NewClient(plugins.ClientConfig(cmd, hclog.New(&hclog.LoggerOptions{Output: io.Discard})))
	tb.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := rpc.Dispense(plugins.KindEstimator)
	if err != nil {
		tb.Fatal(err)
	}
	return raw.(plugins.Estimator), cmd.Process.Pid
}

// cpuTime is the CPU time (user and system) process pid has used, read
// from /proc/<pid>/stat in clock ticks of 10 ms (Linux's USER_HZ).
func cpuTime(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14 and stime 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		tb.Fatalf("parse /proc/%d/stat: %v %v", pid, err1, err2)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// TestCancelledFitFreesCPU starts a fit that would run for minutes (a
// TARNet of 100,000 epochs) in a real plugin process, cancels it once the
// process is busy, and measures the process's CPU time: the call returns
// at once, and from a second after the cancellation the process uses
// (almost) no CPU, because the estimator's epochs check the call's
// context. The plugin then fits again.
func TestCancelledFitFreesCPU(t *testing.T) {
	est, pid := startProcessPID(t)
	req, _ := referenceRequest(20_000)
	req.Estimator = "tarnet"
	req.Params = map[string]string{"epochs": "100000", "patience": "100000", "val_fraction": "0", "nets": "1"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := est.Fit(ctx, req)
		errc <- err
	}()
	// Wait until the fit keeps the process busy.
	start, base := time.Now(), cpuTime(t, pid)
	for cpuTime(t, pid)-base < 500*time.Millisecond {
		if time.Since(start) > 30*time.Second {
			t.Fatal("the fit did not start within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	b0 := cpuTime(t, pid)
	time.Sleep(time.Second)
	busy := cpuTime(t, pid) - b0
	// On a loaded machine the process gets a share of a core; an idle
	// one uses none.
	if busy < 50*time.Millisecond {
		t.Fatalf("the fit used %v of CPU in the second before the cancellation; it is not running", busy)
	}
	cancel()
	cancelled := time.Now()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) && !strings.Contains(fmt.Sprint(err), "cancel") {
			t.Errorf("cancelled fit: %v, want a cancellation", err)
		}
		if d := time.Since(cancelled); d > time.Second {
			t.Errorf("the cancelled call returned after %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the cancelled call did not return within 5 s")
	}
	time.Sleep(time.Second - time.Since(cancelled))
	c1 := cpuTime(t, pid)
	time.Sleep(time.Second)
	after := cpuTime(t, pid) - c1
	t.Logf("plugin CPU: %v in the second before the cancellation; %v in the second from 1 s after it", busy, after)
	if after > 30*time.Millisecond {
		t.Errorf("the plugin process used %v of CPU in the second from 1 s after the cancellation; the fit goes on", after)
	}
	small, _ := referenceRequest(500)
	if _, err := est.Fit(context.Background(), small); err != nil {
		t.Errorf("a fit after the cancelled one: %v", err)
	}
}

// TestFitProgressInProcess fits in a real plugin process with a progress
// callback: the reports of the causal forest (a tree a step, the
// nuisance forests' too) and of the T-learner (an outcome model a step)
// arrive in order and end at the fit's total.
func TestFitProgressInProcess(t *testing.T) {
	est, _ := startProcessPID(t)
	for _, tc := range []struct {
		estimator string
		params    map[string]string
		total     int
	}{
		{"causal-forest", map[string]string{"trees": "40"}, 40 + 2*50},
		{"t", map[string]string{"base": "gbt"}, 2},
	} {
		req, _ := referenceRequest(3000)
		req.Estimator, req.Params = tc.estimator, tc.params
		var got [][2]int
		req.Progress = func(done, total int) { got = append(got, [2]int{done, total}) }
		if _, err := est.Fit(context.Background(), req); err != nil {
			t.Fatalf("%s: %v", tc.estimator, err)
		}
		if len(got) == 0 {
			t.Fatalf("%s: no progress", tc.estimator)
		}
		for i, r := range got {
			if r[1] != tc.total || r[0] < 1 || (i > 0 && r[0] <= got[i-1][0]) {
				t.Fatalf("%s: report %d = %v after %v, want rising counts of %d", tc.estimator, i, r, got[max(0, i-1)], tc.total)
			}
		}
		if last := got[len(got)-1]; last[0] != tc.total {
			t.Fatalf("%s: last report %v, want %d of %d", tc.estimator, last, tc.total, tc.total)
		}
		t.Logf("%s: %d reports, last %v", tc.estimator, len(got), got[len(got)-1])
	}
}
