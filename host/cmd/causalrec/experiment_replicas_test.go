package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/causalrec/causalrec/host/experiment"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

// startServeProcess runs "serve" in a process of its own (the test binary
// standing in for causalrec, see TestMain) on the Redis and prefix of the
// test and returns its base URL.
func startServeProcess(t *testing.T, prefix, token string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "serve", "--redis", redisURL(), "--prefix", prefix, "--http", addr, "--grpc", "off", "--token", token)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve process at %s did not start: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeProcessesAssignAlike runs two serve processes on one Redis: an
// experiment created through one is served by both, and every user gets
// the same arm from either, the one the hash gives, whichever process
// served the user first.
func TestServeProcessesAssignAlike(t *testing.T) {
	const token = "tok"
	cfg := textlessConfig(t)
	st := storeOf(t, cfg)
	ctx := context.Background()
	var ids []string
	for range 2 {
		id, err := st.SaveModel(ctx, store.ModelRecord{Name: recommend.ModelName, Estimator: "popularity",
			Metadata: map[string]string{"features": "[]", "ranker": "popularity"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id.String())
	}
	if _, err := st.PutItems(ctx, []store.Item{{ID: "a"}, {ID: "b"}, {ID: "c"}}); err != nil {
		t.Fatal(err)
	}
	bases := []string{startServeProcess(t, cfg.Prefix, token), startServeProcess(t, cfg.Prefix, token)}
	spec := map[string]any{"id": "aa", "coverage": 0.7, "salt": "replicas", "arms": []map[string]any{
		{"name": "a", "model": ids[0], "weight": 0.3}, {"name": "b", "model": ids[1], "weight": 0.7}}}
	if code, body := call(t, "POST", bases[0]+"/v1/experiments", token, spec, nil); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	var e store.Experiment
	if code, body := call(t, "GET", bases[1]+"/v1/experiments/aa", token, nil, &e); code != 200 {
		t.Fatalf("get through the other process: %d %s", code, body)
	}
	// The second process reads the running experiments at most a second
	// late.
	time.Sleep(experiment.DefaultRefresh + 100*time.Millisecond)
	counts := map[string]int{}
	for i := range 400 {
		user := fmt.Sprintf("user-%d-é", i)
		var arms [2]string
		for k := range 2 {
			base := bases[(i+k)%2] // even users start on the first process, odd on the second
			var resp struct {
				Experiment *recommend.ExperimentRef `json:"experiment"`
				ModelID    string                   `json:"model_id"`
			}
			if code, body := call(t, "POST", base+"/v1/recommend", token, map[string]any{"user": user, "candidates": []string{"a", "b", "c"}}, &resp); code != 200 {
				t.Fatalf("recommend: %d %s", code, body)
			}
			if resp.Experiment != nil {
				arms[k] = resp.Experiment.Arm
			}
		}
		want := ""
		if a := experiment.ArmOf(e, experiment.Position(e.Salt, user)); a >= 0 {
			want = e.Arms[a].Name
		}
		if arms[0] != want || arms[1] != want {
			t.Fatalf("user %q: arms %q from the two processes, want %q", user, arms, want)
		}
		counts[want]++
	}
	t.Logf("arms over 400 users: %v", counts)
	if counts["a"] == 0 || counts["b"] == 0 || counts[""] == 0 {
		t.Errorf("arms %v: want both arms and users outside the coverage", counts)
	}
}
