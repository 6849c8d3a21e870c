package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/causalrec/causalrec/host/config"
	apiv1 "github.com/causalrec/causalrec/proto/causalrec/api/v1"
)

// FuzzGRPCBodies sends arbitrary request messages (the fuzzer's bytes
// decoded as the RPC's request; bytes that do not decode are skipped) to
// the gRPC API of a running serve on the real Redis: every answer must be
// OK or a client error (InvalidArgument, AlreadyExists, FailedPrecondition)
// with a message, never Internal or Unknown, and a valid request must still
// be answered afterwards. The seeds break each schema and value limit.
//
//	go test ./host/cmd/causalrec -run '^$' -fuzz FuzzGRPCBodies -fuzztime 60s
func FuzzGRPCBodies(f *testing.F) {
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix = redisURL(), testPrefixB(f)
	_, addr := startServeB(f, cfg)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { conn.Close() })
	c := apiv1.NewRecommenderClient(conn)
	ms := time.Now().UnixMilli()
	wide := map[string]float64{}
	for i := range 300 {
		wide[strings.Repeat("f", i%40+1)+string(rune('a'+i%26))+string(rune('a'+i/26))] = 1
	}
	seeds := []struct {
		route uint8
		msg   proto.Message
	}{
		{0, &apiv1.RecommendRequest{User: "u1", K: 2}},
		{0, &apiv1.RecommendRequest{User: "u1", Candidates: []string{"a", "a", "b"}}},
		{0, &apiv1.RecommendRequest{User: "u\x00", Candidates: []string{strings.Repeat("x", 300)}}},
		{0, &apiv1.RecommendRequest{User: "u1", K: -5, Policy: "plackett-luce", RelevanceWeight: 1e308}},
		{1, &apiv1.IngestEventsRequest{Events: []*apiv1.Event{{Kind: "exposure", User: "u1", Item: "a", TimeUnixMs: ms, Arm: "control", Propensity: 0.5}}}},
		{1, &apiv1.IngestEventsRequest{Events: []*apiv1.Event{{Kind: "exposure", User: "u1", Item: "a", Arm: "banana", Propensity: 5e-324}}}},
		{1, &apiv1.IngestEventsRequest{Events: []*apiv1.Event{{Kind: "outcome", User: "u1", Item: "a", TimeUnixMs: 1 << 62, Value: -5}}}},
		{1, &apiv1.IngestEventsRequest{Events: []*apiv1.Event{{Kind: "outcome", User: "u1", Item: "a", TimeUnixMs: -1 << 62, Value: 1e308}}}},
		{2, &apiv1.IngestItemsRequest{Items: []*apiv1.Item{{Id: "c", Features: map[string]float64{"x": 1.7e308}}}}},
		{2, &apiv1.IngestItemsRequest{Items: []*apiv1.Item{{Id: "c", Features: map[string]float64{"\u0085": 1}}}}},
		{3, &apiv1.IngestUsersRequest{Users: []*apiv1.User{{Id: "u9", Features: wide}}}},
		{3, &apiv1.IngestUsersRequest{Users: []*apiv1.User{{Id: strings.Repeat("u", 600)}}}},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s.msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s.route, b)
	}
	valid := &apiv1.RecommendRequest{User: "u1", K: 2}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var err error
		switch route % 4 {
		case 0:
			var m apiv1.RecommendRequest
			if proto.Unmarshal(body, &m) != nil {
				return
			}
			_, err = c.Recommend(ctx, &m)
		case 1:
			var m apiv1.IngestEventsRequest
			if proto.Unmarshal(body, &m) != nil {
				return
			}
			_, err = c.IngestEvents(ctx, &m)
		case 2:
			var m apiv1.IngestItemsRequest
			if proto.Unmarshal(body, &m) != nil {
				return
			}
			_, err = c.IngestItems(ctx, &m)
		case 3:
			var m apiv1.IngestUsersRequest
			if proto.Unmarshal(body, &m) != nil {
				return
			}
			_, err = c.IngestUsers(ctx, &m)
		}
		switch st := status.Convert(err); st.Code() {
		case codes.OK:
		case codes.InvalidArgument, codes.AlreadyExists, codes.FailedPrecondition:
			if st.Message() == "" {
				t.Fatalf("route %d: %v without a message", route%4, st.Code())
			}
		default:
			t.Fatalf("route %d %x: %v", route%4, body, err)
		}
		if _, err := c.Recommend(ctx, valid); err != nil {
			t.Fatalf("after route %d %x, a valid request: %v", route%4, body, err)
		}
	})
}
