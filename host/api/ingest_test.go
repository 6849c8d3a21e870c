package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/causalrec/causalrec/host/store"
)

// TestIngestIdempotencyKey sends event batches with an Idempotency-Key:
// a retry stores nothing twice and answers for the whole batch, the key
// reused for other events is a 409 naming it, and an event ID stored with
// other content is a 409 naming the ID that writes nothing.
func TestIngestIdempotencyKey(t *testing.T) {
	st, _ := testStore(t)
	srv := testServer(t, st, Deps{})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := map[string]any{"events": []store.Event{
		{Kind: store.Exposure, User: "u1", Item: "a", Time: t0},
		{Kind: store.Outcome, User: "u1", Item: "a", Time: t0.Add(time.Minute)},
		{Kind: store.Exposure, User: "u2", Item: "a"}, // no time: its retry gets another, and still matches
	}}
	key := http.Header{"Idempotency-Key": {"order-42"}}
	count := func() int64 {
		n, err := st.EventCount(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i, want := range []string{
		`{"received":3,"written":3,"duplicates":0}`,
		`{"received":3,"written":3,"duplicates":0,"replayed":true}`,
	} {
		code, out := doHeader(t, srv, "POST", "/v1/events", key, batch)
		if code != 200 || strings.TrimSpace(out) != want {
			t.Errorf("attempt %d: %d %s, want %s", i+1, code, out, want)
		}
	}
	if n := count(); n != 3 {
		t.Fatalf("log holds %d events after a retry, want 3", n)
	}
	other := map[string]any{"events": []store.Event{{Kind: store.Exposure, User: "u3", Item: "a", Time: t0}}}
	if code, out := doHeader(t, srv, "POST", "/v1/events", key, other); code != 409 || !strings.Contains(out, `"order-42"`) {
		t.Errorf("key reused for other events: %d %s, want 409 naming the key", code, out)
	}
	if code, out := doHeader(t, srv, "POST", "/v1/events", http.Header{"Idempotency-Key": {strings.Repeat("k", 300)}}, other); code != 400 || !strings.Contains(out, "idempotency key") {
		t.Errorf("bad key: %d %s, want 400", code, out)
	}

	withID := []store.Event{{ID: "e1", Kind: store.Outcome, User: "u1", Item: "a", Time: t0}}
	if code, out := do(t, srv, "POST", "/v1/events", "", map[string]any{"events": withID}); code != 200 {
		t.Fatalf("event e1: %d %s", code, out)
	}
	changed := []store.Event{
		{ID: "e2", Kind: store.Outcome, User: "u1", Item: "a", Time: t0},
		{ID: "e1", Kind: store.Outcome, User: "u1", Item: "a", Time: t0, Value: 5},
	}
	if code, out := do(t, srv, "POST", "/v1/events", "", map[string]any{"events": changed}); code != 409 || !strings.Contains(out, `events[1]: id "e1"`) {
		t.Errorf("id reused with other content: %d %s, want 409 naming events[1] and e1", code, out)
	}
	twice := []store.Event{withID[0], withID[0], changed[0], changed[0]}
	twice[3].Value = 2
	if code, out := do(t, srv, "POST", "/v1/events", "", map[string]any{"events": twice}); code != 409 || !strings.Contains(out, `events[3]: id "e2"`) {
		t.Errorf("id repeated in a batch with other content: %d %s", code, out)
	}
	if n := count(); n != 4 {
		t.Errorf("the refused batches wrote %d events", n-4)
	}
}

// TestPartialErrorAnswers checks the answers of a batch cut midway: the
// HTTP body and the gRPC status's ErrorInfo say what was written.
func TestPartialErrorAnswers(t *testing.T) {
	cause := fmt.Errorf("add events: %w at 127.0.0.1:1: connection refused", store.ErrUnavailable)
	err := &PartialError{Result: IngestResult{Received: 20000, Written: 4500}, Next: 4500, Err: &store.BatchError{Next: 4500, Err: cause}}
	if code := statusOf(err); code != 503 {
		t.Errorf("status %d, want 503", code)
	}
	b, jerr := json.Marshal(errorBody(err))
	if jerr != nil {
		t.Fatal(jerr)
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatal(err)
	}
	if body["written"] != 4500.0 || body["first_unwritten"] != 4500.0 || body["received"] != 20000.0 || !strings.Contains(body["error"].(string), "redis unavailable") {
		t.Errorf("body %s", b)
	}
	st := status.Convert(grpcStatus(err))
	if st.Code() != codes.Unavailable {
		t.Errorf("gRPC code %v", st.Code())
	}
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	if info == nil || info.GetReason() != "PARTIAL_WRITE" || info.GetMetadata()["written"] != "4500" || info.GetMetadata()["first_unwritten"] != "4500" {
		t.Errorf("gRPC details %v", st.Details())
	}
	if got := status.Code(grpcStatus(fmt.Errorf("x: %w", &store.ConflictError{ID: "e1", Index: 2}))); got != codes.AlreadyExists {
		t.Errorf("conflict: gRPC code %v, want AlreadyExists", got)
	}
	if !errors.Is(err, store.ErrUnavailable) {
		t.Error("PartialError does not wrap its cause")
	}
}
