package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/causalrec/causalrec/host/limits"
	"github.com/causalrec/causalrec/host/recommend"
	apiv1 "github.com/causalrec/causalrec/proto/causalrec/api/v1"
)

func featureNames(prefix string, n int) map[string]float64 {
	f := make(map[string]float64, n)
	for i := range n {
		f[fmt.Sprintf("%s%04d", prefix, i)] = float64(i)
	}
	return f
}

// TestLimitsHTTP sends records and requests that break the default limits
// to the API on the real Redis: each is a 400 that says what is wrong, and
// nothing of the batch is stored.
func TestLimitsHTTP(t *testing.T) {
	st, _ := testStore(t)
	srv := testServer(t, st, Deps{Features: st})
	now := time.Now().UTC().Format(time.RFC3339)
	for _, c := range []struct {
		name, path string
		body       any
		want       string
	}{
		{"2000 feature names", "/v1/users", map[string]any{"users": []any{map[string]any{"id": "u1", "features": featureNames("f", 2000)}}}, "users[0]: user \"u1\": 2000 features, over the limit of 256"},
		{"huge value", "/v1/items", `{"items":[{"id":"a"},{"id":"b","features":{"x":1.7e308}}]}`, `items[1]: item "b": feature "x" is 1.7e+308`},
		{"invalid UTF-8", "/v1/users", "{\"users\":[{\"id\":\"u\xff\"}]}", "request body is not valid UTF-8 (at byte 18)"},
		{"control character", "/v1/users", `{"users":[{"id":"u\u0007"}]}`, "control character U+0007"},
		{"long id", "/v1/items", `{"items":[{"id":"` + strings.Repeat("i", 300) + `"}]}`, "over the limit of 256"},
		{"year 1", "/v1/events", `{"events":[{"kind":"exposure","user":"u","item":"a","time":"0001-01-02T00:00:00Z"}]}`, "events[0]: event time 0001-01-02T00:00:00Z outside the accepted window"},
		{"year 9999", "/v1/events", `{"events":[{"kind":"exposure","user":"u","item":"a","time":"9999-01-01T00:00:00Z"}]}`, "outside the accepted window"},
		{"outcome -5", "/v1/events", `{"events":[{"kind":"outcome","user":"u","item":"a","value":-5,"time":"` + now + `"}]}`, "outcome value -5 outside [0, 1e+06]"},
		{"outcome 1e308", "/v1/events", `{"events":[{"kind":"outcome","user":"u","item":"a","value":1e308}]}`, "outcome value 1e+308"},
		{"banana", "/v1/events", `{"events":[{"kind":"exposure","user":"u","item":"a","arm":"banana"}]}`, `arm "banana" is not one of "treated", "control"`},
		{"propensity 5e-324", "/v1/events", `{"events":[{"kind":"exposure","user":"u","item":"a","propensity":5e-324}]}`, "propensity 5e-324 under the floor of 1e-06"},
		{"duplicate candidates", "/v1/recommend", `{"user":"u","candidates":["a","b","a"]}`, `candidates[2] repeats candidates[0] "a"`},
		{"bad user", "/v1/recommend", `{"user":"u\u0000"}`, "control character U+0000"},
	} {
		code, msg := do(t, srv, "POST", c.path, "", c.body)
		if code != http.StatusBadRequest || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %s; want 400 containing %q", c.name, code, msg, c.want)
		}
	}
	n, err := st.EventCount(context.Background())
	if err != nil || n != 0 {
		t.Errorf("%d events stored after refused batches (%v)", n, err)
	}
	if _, missing, _ := st.Items(context.Background(), []string{"a"}); len(missing) != 1 {
		t.Error("the valid item of a refused batch was stored")
	}
}

// TestCatalogFeatureLimit fills the catalogue's feature names up to the
// limit across batches: the batch that would go over is refused naming
// the limit, and names already stored may be used again.
func TestCatalogFeatureLimit(t *testing.T) {
	st, _ := testStore(t)
	l := limits.Default()
	l.MaxFeatures, l.MaxCatalogFeatures = 10, 25
	srv := testServer(t, st, Deps{Features: st, Limits: l})
	post := func(id string, f map[string]float64) (int, string) {
		return do(t, srv, "POST", "/v1/items", "", map[string]any{"items": []any{map[string]any{"id": id, "features": f}}})
	}
	for i, p := range []string{"a", "b"} {
		if code, msg := post(fmt.Sprint(i), featureNames(p, 10)); code != 200 {
			t.Fatalf("batch %d: %d %s", i, code, msg)
		}
	}
	code, msg := post("2", featureNames("c", 10))
	if want := "items: the batch brings 10 new feature names (\"c0000\", \"c0001\", \"c0002\", \"c0003\", \"c0004\" and 5 more) to the 20 stored, over the limit of 25"; code != 400 || !strings.Contains(msg, want) {
		t.Errorf("over the catalogue limit: %d %s; want 400 with %q", code, msg, want)
	}
	if code, msg := post("3", featureNames("a", 10)); code != 200 {
		t.Errorf("stored names again: %d %s", code, msg)
	}
	// Users have a catalogue of their own.
	if code, msg := do(t, srv, "POST", "/v1/users", "", map[string]any{"users": []any{map[string]any{"id": "u", "features": featureNames("c", 10)}}}); code != 200 {
		t.Errorf("users: %d %s", code, msg)
	}
}

// TestLimitsGRPC sends the same bodies over gRPC: InvalidArgument with
// the message, nothing stored.
func TestLimitsGRPC(t *testing.T) {
	st, _ := testStore(t)
	_, gaddr := startRunGRPC(t, Deps{Ingest: st, Models: st, Health: st, Features: st, Recommender: recommend.NewRanker(st, nil, nil), Plugins: plugins{}}, true)
	conn, err := grpc.NewClient(gaddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := apiv1.NewRecommenderClient(conn)
	ctx := context.Background()
	ms := time.Now().UnixMilli()
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"2000 features", func() error {
			_, err := c.IngestUsers(ctx, &apiv1.IngestUsersRequest{Users: []*apiv1.User{{Id: "u", Features: featureNames("f", 2000)}}})
			return err
		}, "2000 features"},
		{"banana", func() error {
			_, err := c.IngestEvents(ctx, &apiv1.IngestEventsRequest{Events: []*apiv1.Event{{Kind: "exposure", User: "u", Item: "a", TimeUnixMs: ms, Arm: "banana"}}})
			return err
		}, `arm "banana"`},
		{"year 1", func() error {
			_, err := c.IngestEvents(ctx, &apiv1.IngestEventsRequest{Events: []*apiv1.Event{{Kind: "exposure", User: "u", Item: "a", TimeUnixMs: -62135596800000 + 86400000}}})
			return err
		}, "outside the accepted window"},
		{"invalid UTF-8 item", func() error {
			_, err := c.IngestItems(ctx, &apiv1.IngestItemsRequest{Items: []*apiv1.Item{{Id: "ok"}, {Id: "bad", Features: map[string]float64{"x": 1e300}}}})
			return err
		}, `feature "x" is 1e+300`},
		{"duplicate candidates", func() error {
			_, err := c.Recommend(ctx, &apiv1.RecommendRequest{User: "u", Candidates: []string{"a", "a"}})
			return err
		}, "repeats"},
	} {
		err := tc.call()
		if s := status.Convert(err); s.Code() != codes.InvalidArgument || !strings.Contains(s.Message(), tc.want) {
			t.Errorf("%s: %v; want InvalidArgument containing %q", tc.name, err, tc.want)
		}
	}
	if n, _ := st.EventCount(ctx); n != 0 {
		t.Errorf("%d events stored", n)
	}
}
