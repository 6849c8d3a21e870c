package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/causalrec/causalrec/host/config"
	apiv1 "github.com/causalrec/causalrec/proto/causalrec/api/v1"
)

func TestGRPCAPI(t *testing.T) {
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix, cfg.APIToken = redisURL(), testPrefix(t), "tok"
	_, addr := startServeGRPC(t, cfg)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := apiv1.NewRecommenderClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := c.Recommend(ctx, &apiv1.RecommendRequest{User: "u"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: got %v, want Unauthenticated", err)
	}
	// Health (readiness) answers without the token, but its details only
	// with it; the scheme name may be in any case.
	h, err := c.Health(ctx, &apiv1.HealthRequest{})
	if err != nil || !h.GetOk() || h.GetRedis() || len(h.GetPlugins()) != 0 {
		t.Fatalf("health without token: %v %v", h, err)
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "bearer tok")
	h, err = c.Health(ctx, &apiv1.HealthRequest{})
	if err != nil || !h.GetOk() || !h.GetRedis() || len(h.GetPlugins()) == 0 {
		t.Fatalf("health with the token: %v %v", h, err)
	}
	if _, err := c.IngestItems(ctx, &apiv1.IngestItemsRequest{Items: []*apiv1.Item{{Id: "a", Text: "x"}, {Id: "b"}}}); err != nil {
		t.Fatal(err)
	}
	res, err := c.IngestEvents(ctx, &apiv1.IngestEventsRequest{Events: []*apiv1.Event{
		{Id: "e1", Kind: "outcome", User: "u", Item: "b"}, {Id: "e1", Kind: "outcome", User: "u", Item: "b"},
	}})
	if err != nil || res.GetReceived() != 2 || res.GetWritten() != 1 || res.GetDuplicates() != 1 {
		t.Fatalf("ingest events: %v %v", res, err)
	}
	if _, err := c.IngestEvents(ctx, &apiv1.IngestEventsRequest{Events: []*apiv1.Event{{Kind: "click", User: "u", Item: "b"}}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad event: got %v, want InvalidArgument", err)
	}
	// The whole batch is validated before anything is written: event 550
	// of 600 with a time no JSON can hold refuses all 600.
	st := storeOf(t, cfg)
	before, err := st.EventCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var batch []*apiv1.Event
	for i := range 600 {
		batch = append(batch, &apiv1.Event{Id: fmt.Sprint("g", i), Kind: "exposure", User: "u", Item: "a", TimeUnixMs: 1_767_225_600_000})
	}
	batch[550].TimeUnixMs = math.MaxInt64
	if _, err := c.IngestEvents(ctx, &apiv1.IngestEventsRequest{Events: batch}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "events[550]") {
		t.Fatalf("a batch with a bad time at 550: got %v, want InvalidArgument naming events[550]", err)
	}
	if after, _ := st.EventCount(ctx); after != before {
		t.Fatalf("the refused batch wrote %d events", after-before)
	}
	// An idempotency key in the metadata makes a retry store nothing
	// twice; an id reused with other content is AlreadyExists.
	batch[550].TimeUnixMs = 1_767_225_600_000
	for attempt := range 2 {
		kctx := metadata.AppendToOutgoingContext(ctx, "idempotency-key", "grpc-batch-1")
		res, err := c.IngestEvents(kctx, &apiv1.IngestEventsRequest{Events: batch})
		if err != nil || res.GetWritten() != 600 || res.GetDuplicates() != 0 {
			t.Fatalf("keyed batch, attempt %d: %v %v", attempt+1, res, err)
		}
	}
	if after, _ := st.EventCount(ctx); after != before+600 {
		t.Fatalf("two attempts of a keyed batch wrote %d events, want 600", after-before)
	}
	batch[3].Value = 4
	if _, err := c.IngestEvents(ctx, &apiv1.IngestEventsRequest{Events: batch[:5]}); status.Code(err) != codes.AlreadyExists || !strings.Contains(err.Error(), `"g3"`) {
		t.Fatalf("id reused with other content: got %v, want AlreadyExists naming g3", err)
	}
	// "u" engaged with b, so by default b is left out of u's list.
	rec, err := c.Recommend(ctx, &apiv1.RecommendRequest{User: "u", Candidates: []string{"a", "b"}, K: 2})
	if err != nil || len(rec.GetItems()) != 1 || rec.GetItems()[0].GetItem() != "a" {
		t.Fatalf("recommend to u: %v %v", rec, err)
	}
	rec, err = c.Recommend(ctx, &apiv1.RecommendRequest{User: "v", Candidates: []string{"a", "b"}, K: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rec.GetRanker() != "popularity" || rec.GetFallbackReason() == "" || len(rec.GetItems()) != 2 || rec.GetItems()[0].GetItem() != "b" || rec.GetRequestId() == "" {
		t.Fatalf("recommend: %v", rec)
	}
	if _, err := c.Recommend(ctx, &apiv1.RecommendRequest{User: "u", Candidates: []string{"zz"}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("unknown candidate: got %v, want InvalidArgument", err)
	}
}
