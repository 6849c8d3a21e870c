package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/host/recommend"
)

// TestServeTrainsThroughPythonPlugin trains serving models through the
// Python estimator plugin by name, serves them, and keeps serving while
// that plugin is killed: recommendations fall back to popularity naming
// the plugin, and the model serves again once the plugin is back.
func TestServeTrainsThroughPythonPlugin(t *testing.T) {
	cfg, err := config.Load(sklearnConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RedisURL, cfg.Prefix = redisURL(), testPrefix(t)
	cfg.PluginPingInterval = config.Duration(200 * time.Millisecond)
	// The configured default is the Python plugin's t; a request that
	// names a built-in estimator unqualified still gets the built-in one.
	cfg.EstimatorPlugin, cfg.Estimator = "py-sklearn", "t"
	cfg.EstimatorParams = map[string]string{"max_iter": "30"}
	cfg.TextFeatures = recommend.TextOff
	base := startServe(t, cfg)

	ingestUsers(t, base, "", 600)
	postEvents(t, base, "", simulatedEvents(600, 0))

	for _, tc := range []struct {
		body          map[string]string
		code          int
		ranker, inErr string
	}{
		{map[string]string{"estimator": "x"}, 200, "uplift:x", ""},
		{map[string]string{"estimator": "causal:t:base=linear"}, 200, "uplift:t", ""},
		{map[string]string{"estimator": "nope:t"}, 400, "", `nope\" is not configured`},
		{map[string]string{"estimator": "py-sklearn:s"}, 400, "", "it fits: t"},
		{map[string]string{"estimator": "py-sklearn:t:max_iter=-1"}, 400, "", "max_iter"},
		{map[string]string{"estimator": "p:t:depth"}, 400, "", "not name=value"},
		{map[string]string{}, 200, "uplift:t", ""},
	} {
		var tr recommend.TrainResult
		code, body := call(t, "POST", base+"/v1/train", "", tc.body, &tr)
		if code != tc.code || (tc.ranker != "" && tr.Ranker != tc.ranker) || !strings.Contains(body, tc.inErr) {
			t.Fatalf("train %v: %d %s; want %d %s %q", tc.body, code, body, tc.code, tc.ranker, tc.inErr)
		}
	}
	var list modelList
	call(t, "GET", base+"/v1/models", "", nil, &list)
	if len(list.Models) != 3 {
		t.Fatalf("models: %+v", list)
	}
	plugin := map[string]string{}
	for _, m := range list.Models {
		plugin[m.ID.String()] = m.Plugin
	}
	if plugin[list.Serving] != "py-sklearn" || plugin[list.Previous] != "causal" {
		t.Fatalf("serving %s by %q, previous by %q; want py-sklearn and causal", list.Serving, plugin[list.Serving], plugin[list.Previous])
	}

	recommendOK := func(user string) recommend.Response {
		t.Helper()
		var rec recommend.Response
		if code, body := call(t, "POST", base+"/v1/recommend", "", recommend.Request{User: user, K: 2, IncludeConsumed: true}, &rec); code != 200 {
			t.Fatalf("recommend: %d %s", code, body)
		}
		return rec
	}
	if rec := recommendOK("u1"); rec.Ranker != "uplift:t" || rec.ModelID != list.Serving || rec.FallbackReason != "" {
		t.Fatalf("recommend before the kill: %+v", rec)
	}

	// The Python plugin's model as an experiment arm against the built-in
	// plugin's: each assigned user is served by its arm's model, through
	// the plugin that fitted it.
	spec := map[string]any{"id": "py-arm", "arms": []map[string]any{
		{"name": "builtin", "model": list.Previous, "weight": 0.5},
		{"name": "python", "model": list.Serving, "weight": 0.5}}}
	if code, body := call(t, "POST", base+"/v1/experiments", "", spec, nil); code != 201 {
		t.Fatalf("create the experiment: %d %s", code, body)
	}
	want := map[string]string{"builtin": list.Previous, "python": list.Serving}
	seen := map[string]int{}
	for u := range 40 {
		rec := recommendOK(fmt.Sprint("x", u))
		if rec.Experiment == nil || rec.Experiment.ID != "py-arm" || rec.ModelID != want[rec.Experiment.Arm] || rec.Ranker != "uplift:t" || rec.FallbackReason != "" {
			t.Fatalf("recommend in the experiment: %+v (experiment %+v)", rec, rec.Experiment)
		}
		seen[rec.Experiment.Arm]++
	}
	if seen["python"] == 0 || seen["builtin"] == 0 {
		t.Fatalf("arms served: %v; want both", seen)
	}
	if code, body := call(t, "POST", base+"/v1/experiments/py-arm/stop", "", nil, nil); code != 200 {
		t.Fatalf("stop the experiment: %d %s", code, body)
	}

	var ps []pluginhost.Status
	call(t, "GET", base+"/v1/plugins", "", nil, &ps)
	pid := 0
	for _, p := range ps {
		if p.Name == "py-sklearn" {
			pid = p.PID
		}
	}
	if pid <= 0 {
		t.Fatalf("no py-sklearn pid in %+v", ps)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	sawFallback := false
	deadline := time.Now().Add(20 * time.Second)
	for {
		rec := recommendOK("u2")
		if rec.Ranker == "popularity" {
			if !strings.Contains(rec.FallbackReason, "py-sklearn") {
				t.Fatalf("fallback reason does not name the plugin: %q", rec.FallbackReason)
			}
			sawFallback = true
		}
		if rec.Ranker == "uplift:t" && sawFallback {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the model did not serve again within 20s (fallback seen: %v); last %+v", sawFallback, rec)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
