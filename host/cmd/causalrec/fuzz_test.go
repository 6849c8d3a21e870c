package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/recommend"
)

// fuzzRoutes are the routes FuzzAPIBodies posts to, indexed by the
// fuzzer's route byte. Training is left out: its body is decoded the same
// way, and a fuzzed estimator could run for long.
var fuzzRoutes = []string{"/v1/recommend", "/v1/events", "/v1/items", "/v1/users"}

// FuzzAPIBodies posts arbitrary bodies to the write and recommend routes of
// a running serve (real Redis, real plugins, a trained uplift model): every
// answer must be a success or a client error with a JSON error message,
// never a server error, and the service must keep serving a valid request.
//
//	go test ./host/cmd/causalrec -run '^$' -fuzz FuzzAPIBodies -fuzztime 60s
func FuzzAPIBodies(f *testing.F) {
	fuzzAPIBodies(f, redisURL(), testPrefixB(f))
}

// FuzzAPIBodiesCluster is FuzzAPIBodies with serve on a Redis Cluster
// (REDIS_CLUSTER_URL):
//
//	go test ./host/cmd/causalrec -run '^$' -fuzz FuzzAPIBodiesCluster -fuzztime 20s
func FuzzAPIBodiesCluster(f *testing.F) {
	url, prefix := clusterRedis(f)
	fuzzAPIBodies(f, url, prefix)
}

func fuzzAPIBodies(f *testing.F, url, prefix string) {
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix = url, prefix
	base, _ := startServeB(f, cfg)
	ingestUsers(f, base, "", 60)
	postEvents(f, base, "", simulatedEvents(60, 0))
	var tr recommend.TrainResult
	if code, body := call(f, "POST", base+"/v1/train", "", nil, &tr); code != 200 {
		f.Fatalf("train: %d %s", code, body)
	}
	valid := []byte(`{"user":"u1","candidates":["a","b"],"k":2,"include_consumed":true}`)
	if code, body := call(f, "POST", base+"/v1/recommend", "", valid, nil); code != 200 || !strings.Contains(body, `"ranker":"uplift:`) {
		f.Fatalf("a valid request is not ranked by the uplift model: %d %s", code, body)
	}

	for _, s := range []struct {
		route uint8
		body  string
	}{
		{0, string(valid)},
		{0, `{"user":"u1","k":-3}`},
		{0, `{"user":"nobody","candidates":["a","a","b"],"k":1000000000}`},
		{0, `{"user":"u2","relevance_weight":1e308,"policy":"plackett-luce","temperature":0}`},
		{0, `{"user":"u2","policy":"epsilon-greedy","epsilon":-1,"interval_level":2}`},
		{0, `{"user":"u3","max_per_category":-1,"include_consumed":true}`},
		{0, `{"user":"\ud800","candidates":[""]}`},
		{0, `{"user":"u1"} {"user":"u2"}`},
		{0, `[1,2,3]`},
		{0, `{"user":"u1","candidates":["zz","",1]}`},
		{1, `{"events":[{"kind":"exposure","user":"u1","item":"a","propensity":0.3,"time":"2026-01-01T00:00:00Z"}]}`},
		{1, `{"events":[{"kind":"outcome","user":"u1","item":"a","value":1e400}]}`},
		{1, `{"events":[{"kind":"exposure","user":"","item":"a","propensity":0}]}`},
		{1, `{"events":null}`},
		{2, `{"items":[{"id":"c","text":"a new item","features":{"f":2},"category":"x"}]}`},
		{2, `{"items":[{"id":"","features":{"":1}}]}`},
		{3, `{"users":[{"id":"u9","features":{"x":1e-320}}]}`},
		{3, `{"users":[{"id":"u9","features":{"x":"1"}}]}`},
		{3, ``},
		{1, `{"events":[{"kind":"exposure","user":"u1","item":"a","arm":"banana","propensity":5e-324}]}`},
		{1, `{"events":[{"kind":"outcome","user":"u1","item":"a","value":-5,"time":"9999-01-01T00:00:00Z"}]}`},
		{2, `{"items":[{"id":"c","features":{"x":1.7e308}}]}`},
		{2, "{\"items\":[{\"id\":\"c\xff\",\"features\":{\"\u0085\":1}}]}"},
		{3, `{"users":[{"id":"u\u0000"}]}`},
	} {
		f.Add(s.route, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		code, msg := call(t, "POST", base+path, "", body, nil)
		if code >= 500 {
			t.Fatalf("POST %s %q: %d %s", path, body, code, msg)
		}
		if code != http.StatusOK {
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(msg), &e); err != nil || e.Error == "" {
				t.Fatalf("POST %s %q: %d with no JSON error message: %s", path, body, code, msg)
			}
		}
		if code, msg := call(t, "POST", base+"/v1/recommend", "", valid, nil); code != http.StatusOK {
			t.Fatalf("after POST %s %q, a valid recommend request: %d %s", path, body, code, msg)
		}
	})
}
