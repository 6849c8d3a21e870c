package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/redistest"
	"github.com/causalrec/causalrec/host/store"
)

// testStore is a store on the real Redis under a prefix of the test's
// own, which it returns too.
func testStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	prefix := redistest.Prefix(t)
	st, err := store.New(redistest.Client(t), store.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return st, prefix
}

// plugins is a fixed plugin list.
type plugins []pluginhost.Status

func (p plugins) List() []pluginhost.Status { return p }

// failing is a Recommender that fails with err.
type failing struct{ err error }

func (f failing) Recommend(context.Context, recommend.Request) (recommend.Response, error) {
	return recommend.Response{}, f.err
}

// testServer serves the API over st with the real ranker (without
// plugins: it ranks by popularity), the given trainer and a token.
func testServer(t *testing.T, st *store.Store, d Deps) *httptest.Server {
	t.Helper()
	if d.Ingest == nil {
		d.Ingest, d.Models, d.Health = st, st, st
	}
	if d.Recommender == nil {
		d.Recommender = recommend.NewRanker(st, nil, nil)
	}
	if d.Plugins == nil {
		d.Plugins = plugins{{Name: "causal", Kind: "estimator", Healthy: true}}
	}
	srv := httptest.NewServer(New(d).Handler())
	t.Cleanup(srv.Close)
	return srv
}

// do sends body (a string sent as it is, else JSON) and returns the status
// and the body of the answer, or the message of an error answer.
func do(t *testing.T, srv *httptest.Server, method, path, token string, body any) (int, string) {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return doHeader(t, srv, method, path, h, body)
}

// doHeader is do with the request's headers.
func doHeader(t *testing.T, srv *httptest.Server, method, path string, header http.Header, body any) (int, string) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if path == "/metrics" {
		return resp.StatusCode, string(out)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: content type %q", method, path, ct)
	}
	if resp.StatusCode != http.StatusOK {
		// An error answer is {"error": message}: return the message.
		var e struct{ Error string }
		if err := json.Unmarshal(out, &e); err != nil || e.Error == "" {
			t.Fatalf("%s %s: error answer %s is not {\"error\": message}", method, path, out)
		}
		return resp.StatusCode, e.Error
	}
	return resp.StatusCode, string(out)
}

func TestRequestErrors(t *testing.T) {
	st, prefix := testStore(t)
	srv := testServer(t, st, Deps{Token: "secret", MaxBodyBytes: 200})
	long := `{"items": [{"id": "` + strings.Repeat("x", 300) + `"}]}`
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		code                      int
		says                      string
	}{
		{"no token", "POST", "/v1/recommend", "", `{"user": "u"}`, 401, "API token"},
		{"wrong token", "POST", "/v1/recommend", "nope", `{"user": "u"}`, 401, "API token"},
		{"health needs none", "GET", "/v1/health", "", nil, 200, `"ok":true`},
		{"unknown route", "GET", "/v1/nothing", "secret", nil, 404, "no route GET /v1/nothing"},
		{"wrong method", "GET", "/v1/items", "secret", nil, 404, "no route"},
		{"empty body", "POST", "/v1/items", "secret", "", 400, "empty request body"},
		{"malformed", "POST", "/v1/items", "secret", `{"items": [}`, 400, "malformed JSON at byte 12"},
		{"cut short", "POST", "/v1/items", "secret", `{"items": [`, 400, "unexpected EOF"},
		{"not an object", "POST", "/v1/items", "secret", `[1]`, 400, "want a JSON object"},
		{"unknown field", "POST", "/v1/items", "secret", `{"things": []}`, 400, `unknown field "things"`},
		{"wrong type", "POST", "/v1/recommend", "secret", `{"user": 7}`, 400, `field "user"`},
		{"trailing data", "POST", "/v1/users", "secret", `{"users": []} {}`, 400, "trailing data"},
		{"too large", "POST", "/v1/items", "secret", long, 413, "over the limit of 200 bytes"},
		{"empty list", "POST", "/v1/events", "secret", `{"events": []}`, 400, "events: empty list"},
		{"invalid item", "POST", "/v1/items", "secret", `{"items": [{"id": ""}]}`, 400, "items[0]: empty item id"},
		{"invalid request", "POST", "/v1/recommend", "secret", `{"user": "u", "k": 1000}`, 400, "k=1000"},
		{"unknown candidate", "POST", "/v1/recommend", "secret", `{"user": "u", "candidates": ["x"]}`, 400, `unknown items "x"`},
		{"no trainer", "POST", "/v1/train", "secret", nil, 501, "training is not configured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, srv, tc.method, tc.path, tc.token, tc.body)
			if code != tc.code || !strings.Contains(body, tc.says) {
				t.Errorf("%s %s: %d %s, want %d saying %q", tc.method, tc.path, code, body, tc.code, tc.says)
			}
		})
	}
	// Nothing was written but the catalog token a read creates.
	keys, err := redistest.Keys(context.Background(), redistest.Client(t), prefix)
	if err != nil || len(keys) > 1 || (len(keys) == 1 && keys[0] != prefix+"catalog") {
		t.Errorf("rejected requests wrote keys: %v (%v)", keys, err)
	}
}

func TestIngestAndRecommend(t *testing.T) {
	st, _ := testStore(t)
	srv := testServer(t, st, Deps{})
	var res IngestResult
	post := func(path string, body any) {
		t.Helper()
		code, out := do(t, srv, "POST", path, "", body)
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, out)
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
	}
	post("/v1/items", map[string]any{"items": []store.Item{{ID: "a"}, {ID: "b"}, {ID: "c"}}})
	if res != (IngestResult{Received: 3, Written: 3}) {
		t.Errorf("items: %+v", res)
	}
	post("/v1/users", map[string]any{"users": []store.User{{ID: "u1"}}})
	if res != (IngestResult{Received: 1, Written: 1}) {
		t.Errorf("users: %+v", res)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	events := []store.Event{
		{ID: "e1", Kind: store.Outcome, User: "u1", Item: "b", Time: t0},
		{ID: "e2", Kind: store.Outcome, User: "u2", Item: "b", Time: t0},
		{ID: "e3", Kind: store.Outcome, User: "u2", Item: "c"}, // no time: the time of ingestion
	}
	post("/v1/events", map[string]any{"events": events})
	if res != (IngestResult{Received: 3, Written: 3}) {
		t.Errorf("events: %+v", res)
	}
	post("/v1/events", map[string]any{"events": events[:2]})
	if res != (IngestResult{Received: 2, Written: 0, Duplicates: 2}) {
		t.Errorf("events again: %+v", res)
	}
	var log []store.Event
	if err := st.Events(context.Background(), func(e store.Event) error { log = append(log, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(log) != 3 || log[2].Time.IsZero() || time.Since(log[2].Time) > time.Minute {
		t.Errorf("stored events %+v: the last should carry the time of ingestion", log)
	}

	// No serving model: the real ranker ranks by popularity and says why.
	code, out := do(t, srv, "POST", "/v1/recommend", "", recommend.Request{User: "u3", K: 2})
	var rec recommend.Response
	if err := json.Unmarshal([]byte(out), &rec); code != 200 || err != nil {
		t.Fatalf("recommend: %d %s", code, out)
	}
	if rec.Ranker != recommend.RankPopularity || rec.FallbackReason == "" || len(rec.Items) != 2 || rec.Items[0].Item != "b" {
		t.Errorf("recommend: %+v", rec)
	}
	_, metrics := do(t, srv, "GET", "/metrics", "", nil)
	for _, m := range []string{"causalrec_recommend_fallbacks_total 1", "causalrec_events_ingested_total 3", `causalrec_http_requests_total{code="200",route="/v1/recommend"} 1`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %q", m)
		}
	}
}

func TestTrainStatus(t *testing.T) {
	st, _ := testStore(t)
	for _, tc := range []struct {
		name string
		err  error
		code int
	}{
		{"trained", nil, 200},
		{"too little data", fmt.Errorf("fit t: %w", recommend.ErrNoData), 409},
		{"bad request", fmt.Errorf("%w: unknown ranker", recommend.ErrBadRequest), 400},
		{"redis down", fmt.Errorf("read events: %w", store.ErrUnavailable), 503},
		{"timed out", fmt.Errorf("fit: %w", context.DeadlineExceeded), 504},
		{"plugin failed", errors.New("plugin crashed"), 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got TrainRequest
			srv := testServer(t, st, Deps{Train: func(_ context.Context, req TrainRequest) (recommend.TrainResult, error) {
				got = req
				return recommend.TrainResult{Ranker: "dlce", Rows: 4}, tc.err
			}})
			code, out := do(t, srv, "POST", "/v1/train", "", `{"ranker": "dlce"}`)
			if code != tc.code || got.Ranker != "dlce" {
				t.Fatalf("%d %s (trainer got %+v), want %d", code, out, got, tc.code)
			}
			if tc.err != nil && !strings.Contains(out, tc.err.Error()) {
				t.Errorf("answer %s does not carry the error %q", out, tc.err)
			}
		})
	}
	called := false
	srv := testServer(t, st, Deps{Train: func(context.Context, TrainRequest) (recommend.TrainResult, error) {
		called = true
		return recommend.TrainResult{}, nil
	}})
	if code, out := do(t, srv, "POST", "/v1/train", "", `{"ranker": "best"}`); code != 400 || called || !strings.Contains(out, `unknown ranker "best"`) {
		t.Errorf("unknown ranker: %d %s (trainer called: %v)", code, out, called)
	}
	if code, out := do(t, srv, "POST", "/v1/train", "", nil); code != 200 || !called {
		t.Errorf("train without a body: %d %s (trainer called: %v)", code, out, called)
	}
}

func TestRecommendErrorStatus(t *testing.T) {
	st, _ := testStore(t)
	srv := testServer(t, st, Deps{Recommender: failing{fmt.Errorf("read snapshot: %w at 127.0.0.1:1", store.ErrUnavailable)}})
	if code, out := do(t, srv, "POST", "/v1/recommend", "", `{"user": "u"}`); code != 503 || !strings.Contains(out, "127.0.0.1:1") {
		t.Errorf("recommend with Redis down: %d %s, want 503 naming the address", code, out)
	}
}

func TestModelsAndRollback(t *testing.T) {
	st, _ := testStore(t)
	srv := testServer(t, st, Deps{})
	var list ModelList
	code, out := do(t, srv, "GET", "/v1/models", "", nil)
	if err := json.Unmarshal([]byte(out), &list); code != 200 || err != nil || list.Serving != "" || list.Models == nil || len(list.Models) != 0 {
		t.Fatalf("models before any: %d %s", code, out)
	}
	if code, out := do(t, srv, "POST", "/v1/models/rollback", "", nil); code != 409 || !strings.Contains(out, "no previous model") {
		t.Errorf("rollback with none: %d %s", code, out)
	}
	ctx := context.Background()
	var ids []string
	for i := range 2 {
		id, err := st.SaveModel(ctx, store.ModelRecord{Name: recommend.ModelName, Estimator: "t", CreatedAt: time.Unix(int64(1000+i), 0), Bytes: []byte("model")})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetServing(ctx, recommend.ModelName, id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id.String())
	}
	code, out = do(t, srv, "GET", "/v1/models", "", nil)
	if err := json.Unmarshal([]byte(out), &list); code != 200 || err != nil || list.Serving != ids[1] || list.Previous != ids[0] || len(list.Models) != 2 {
		t.Fatalf("models: %d %s", code, out)
	}
	if strings.Contains(out, "bytes") {
		t.Errorf("the model list carries model bytes: %s", out)
	}
	for _, tc := range []struct {
		ref, id string
		code    int
	}{{ids[0], ids[0], 200}, {recommend.ModelName, ids[1], 200}, {"nosuch", "", 404}, {"6f1c1d7e-0000-4000-8000-000000000000", "", 404}} {
		var rec store.ModelRecord
		code, out := do(t, srv, "GET", "/v1/models/"+tc.ref, "", nil)
		if err := json.Unmarshal([]byte(out), &rec); code != tc.code || (tc.code == 200 && (err != nil || rec.ID.String() != tc.id || rec.Bytes != nil || rec.Estimator != "t")) {
			t.Errorf("GET /v1/models/%s: %d %s; want %d with model %s without bytes", tc.ref, code, out, tc.code, tc.id)
		}
	}
	code, out = do(t, srv, "POST", "/v1/models/rollback", "", nil)
	if err := json.Unmarshal([]byte(out), &list); code != 200 || err != nil || list.Serving != ids[0] || list.Previous != ids[1] {
		t.Errorf("rollback: %d %s", code, out)
	}
}

func TestPluginsAndHealth(t *testing.T) {
	st, _ := testStore(t)
	srv := testServer(t, st, Deps{Plugins: plugins{{Name: "lm", Kind: "text_scorer", Error: "restarting"}}})
	code, out := do(t, srv, "GET", "/v1/plugins", "", nil)
	if code != 200 || !strings.Contains(out, `"name":"lm"`) || !strings.Contains(out, `"error":"restarting"`) {
		t.Errorf("plugins: %d %s", code, out)
	}
	down, err := store.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv = testServer(t, st, Deps{Ingest: down, Models: down, Health: down})
	if code, out := do(t, srv, "GET", "/v1/ready", "", nil); code != 503 || !strings.Contains(out, "127.0.0.1:1") {
		t.Errorf("readiness with Redis down: %d %s, want 503 naming the address", code, out)
	}
	if code, out := do(t, srv, "GET", "/v1/health", "", nil); code != 200 || !strings.Contains(out, `"redis":false`) {
		t.Errorf("liveness with Redis down: %d %s, want 200 saying Redis is down", code, out)
	}
	if code, out := do(t, srv, "POST", "/v1/items", "", `{"items": [{"id": "a"}]}`); code != 503 {
		t.Errorf("ingest with Redis down: %d %s, want 503", code, out)
	}
}

// quietRedis drops go-redis's own log lines (the dial failures of the
// Redis-down tests).
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quietRedis{})
	os.Exit(m.Run())
}

// TestOPENotConfigured checks that POST /v1/ope answers 501 when the server
// has no estimator of policy values, after refusing bad bodies.
func TestOPENotConfigured(t *testing.T) {
	st, _ := testStore(t)
	srv := testServer(t, st, Deps{})
	if code, out := do(t, srv, "POST", "/v1/ope", "", `{"model": "default"}`); code != 501 || !strings.Contains(out, "not configured") {
		t.Errorf("ope without an OPEFunc: %d %s, want 501", code, out)
	}
	if code, out := do(t, srv, "POST", "/v1/ope", "", `{"modle": "default"}`); code != 400 || !strings.Contains(out, "modle") {
		t.Errorf("ope with an unknown field: %d %s, want 400 naming it", code, out)
	}
}
