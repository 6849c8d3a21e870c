package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

// TestExplainRoute serves GET /v1/models/{id}/explain over the real Redis
// with an explainer that waits to be released: a request whose deadline
// comes first is answered 202 with Retry-After while the one computation
// goes on; then the answer is 200 and comes from Redis. Errors map to 404,
// 409 and 400; without an explainer the route is 501.
func TestExplainRoute(t *testing.T) {
	st, _ := testStore(t)
	release := make(chan struct{})
	var calls atomic.Int32
	known, stale := uuid.New(), uuid.New()
	explain := func(ctx context.Context, id uuid.UUID) (json.RawMessage, error) {
		calls.Add(1)
		switch id {
		case known:
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return json.RawMessage(fmt.Sprintf(`{"blp": [], "model": %q}`, id)), nil
		case stale:
			return nil, fmt.Errorf("%w: no stored training sample", recommend.ErrNoData)
		}
		return nil, fmt.Errorf("load model %s: %w", id, store.ErrNotFound)
	}
	srv := testServer(t, st, Deps{Explain: explain, ExplainCache: st, RequestTimeout: 200 * time.Millisecond})
	get := func(id string) (int, http.Header, string) {
		resp, err := srv.Client().Get(srv.URL + "/v1/models/" + id + "/explain")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	for range 2 {
		code, h, body := get(known.String())
		if code != http.StatusAccepted || h.Get("Retry-After") != "5" {
			t.Fatalf("explain while computing: %d %v %s", code, h, body)
		}
		var p ExplainPending
		if err := json.Unmarshal([]byte(body), &p); err != nil || p.Status != "computing" || p.ModelID != known.String() {
			t.Fatalf("pending answer %s: %v", body, err)
		}
	}
	close(release)
	var code int
	var body string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if code, _, body = get(known.String()); code != http.StatusAccepted || time.Now().After(deadline) {
			break
		}
	}
	if code != 200 || body != fmt.Sprintf(`{"blp":[],"model":%q}`+"\n", known) {
		t.Fatalf("explain: %d %s", code, body)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the explainer ran %d times for one model, want once", n)
	}
	if b, err := st.Explanation(context.Background(), known); err != nil || len(b) == 0 {
		t.Errorf("not cached in Redis: %v", err)
	}
	if code, _, _ = get(known.String()); code != 200 || calls.Load() != 1 {
		t.Errorf("cached explain: %d after %d calls", code, calls.Load())
	}
	for _, tc := range []struct {
		id   string
		code int
		msg  string
	}{
		{uuid.NewString(), 404, "not found"},
		{stale.String(), 409, "no stored training sample"},
		{"x1", 400, `model id "x1"`},
	} {
		if code, msg := do(t, srv, "GET", "/v1/models/"+tc.id+"/explain", "", nil); code != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %d %q, want %d with %q", tc.id, code, msg, tc.code, tc.msg)
		}
	}
	none := testServer(t, st, Deps{})
	if code, msg := do(t, none, "GET", "/v1/models/"+known.String()+"/explain", "", nil); code != 501 {
		t.Errorf("without an explainer: %d %q", code, msg)
	}
}
