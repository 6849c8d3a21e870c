package api

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
	apiv1 "github.com/causalrec/causalrec/proto/causalrec/api/v1"
)

func TestEventFromProto(t *testing.T) {
	tests := []struct {
		name string
		in   *apiv1.Event
		want store.Event
	}{
		{"zero time stays zero", &apiv1.Event{Kind: "outcome", User: "u", Item: "i"}, store.Event{Kind: store.Outcome, User: "u", Item: "i"}},
		{"all fields", &apiv1.Event{Id: "e", Kind: "exposure", User: "u", Item: "i", TimeUnixMs: 1700000000123, Arm: "control", Propensity: 0.5, Position: 3, PolicyId: "p", Value: 2},
			store.Event{ID: "e", Kind: store.Exposure, User: "u", Item: "i", Time: time.UnixMilli(1700000000123).UTC(), Arm: "control", Propensity: 0.5, Position: 3, PolicyID: "p", Value: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := eventFromProto(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestItemFromProto(t *testing.T) {
	in := &apiv1.Item{Id: "i", Text: "t", Category: "c", Features: map[string]float64{"f": 1}, Meta: map[string]string{"m": "v"}}
	want := store.Item{ID: "i", Text: "t", Category: "c", Features: map[string]float64{"f": 1}, Meta: map[string]string{"m": "v"}}
	if got := itemFromProto(in); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestRecommendToProto(t *testing.T) {
	u := 0.25
	in := recommend.Response{RequestID: "r", Ranker: "uplift:t", ModelID: "m", Items: []recommend.Ranked{
		{Item: "a", Score: 0.25, Uplift: &u, Propensity: 1, Position: 1},
		{Item: "b", Score: 7, Propensity: 0.5, Position: 2},
	}}
	got := recommendToProto(in)
	if got.GetRequestId() != "r" || got.GetRanker() != "uplift:t" || got.GetModelId() != "m" || len(got.GetItems()) != 2 {
		t.Fatalf("got %v", got)
	}
	a, b := got.GetItems()[0], got.GetItems()[1]
	if a.GetItem() != "a" || a.GetUplift() != 0.25 || !a.GetHasUplift() || a.GetPosition() != 1 || b.GetUplift() != 0 || b.GetHasUplift() || b.GetScore() != 7 || b.GetPropensity() != 0.5 {
		t.Errorf("items %v %v", a, b)
	}
	req := recommendFromProto(&apiv1.RecommendRequest{User: "u", Candidates: []string{"a"}, K: 3, IncludeConsumed: true, MaxPerCategory: 2,
		RelevanceWeight: 0.5, Policy: "plackett-luce", Epsilon: 0.1, Temperature: 0.2, IntervalLevel: 0.9})
	if !reflect.DeepEqual(req, recommend.Request{User: "u", Candidates: []string{"a"}, K: 3, IncludeConsumed: true, MaxPerCategory: 2,
		RelevanceWeight: 0.5, Policy: "plackett-luce", Epsilon: 0.1, Temperature: 0.2, IntervalLevel: 0.9}) {
		t.Errorf("request %+v", req)
	}
}

func TestGRPCStatus(t *testing.T) {
	tests := []struct {
		err  error
		code codes.Code
	}{
		{badRequest("x"), codes.InvalidArgument},
		{&httpError{http.StatusRequestEntityTooLarge, "big"}, codes.InvalidArgument},
		{fmt.Errorf("wrap: %w", recommend.ErrBadRequest), codes.InvalidArgument},
		{fmt.Errorf("wrap: %w", recommend.ErrNoData), codes.FailedPrecondition},
		{fmt.Errorf("wrap: %w", store.ErrUnavailable), codes.Unavailable},
		{errors.New("boom"), codes.Internal},
	}
	for _, tt := range tests {
		if got := status.Code(grpcStatus(tt.err)); got != tt.code {
			t.Errorf("%v: got %v, want %v", tt.err, got, tt.code)
		}
	}
}
