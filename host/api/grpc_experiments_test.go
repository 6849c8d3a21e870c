package api

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/causalrec/causalrec/host/experiment"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
	apiv1 "github.com/causalrec/causalrec/proto/causalrec/api/v1"
)

func TestCreateExperimentFromProto(t *testing.T) {
	lo, hi, cov := 0.25, 0.5, 0.4
	tests := []struct {
		name string
		in   *apiv1.CreateExperimentRequest
		want experiment.CreateRequest
		bad  bool
	}{
		{"defaults", &apiv1.CreateExperimentRequest{Id: "x", Arms: []*apiv1.ExperimentArm{{Name: "a", Model: "default", Weight: 1}}},
			experiment.CreateRequest{ID: "x", Arms: []experiment.ArmRequest{{Name: "a", Model: "default", Weight: 1}}}, false},
		{"all", &apiv1.CreateExperimentRequest{Id: "x", Salt: "s", Coverage: &cov, NamespaceLo: &lo, NamespaceHi: &hi, Metric: "value",
			Guardrails: []string{"exposures"}, Arms: []*apiv1.ExperimentArm{{Name: "a", Model: "m", Weight: 1, Policy: "epsilon-greedy", Epsilon: 0.1, Temperature: 2}}},
			experiment.CreateRequest{ID: "x", Salt: "s", Coverage: &cov, Namespace: &[2]float64{lo, hi}, Metric: "value", Guardrails: []string{"exposures"},
				Arms: []experiment.ArmRequest{{Name: "a", Model: "m", Weight: 1, Policy: "epsilon-greedy", Epsilon: 0.1, Temperature: 2}}}, false},
		{"half a namespace", &apiv1.CreateExperimentRequest{Id: "x", NamespaceLo: &lo}, experiment.CreateRequest{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := createExperimentFromProto(tt.in)
			if tt.bad {
				if statusOf(err) != 400 {
					t.Errorf("error %v, want a bad request", err)
				}
				return
			}
			if err != nil || fmt.Sprint(got.Arms) != fmt.Sprint(tt.want.Arms) || got.ID != tt.want.ID || got.Salt != tt.want.Salt ||
				fmt.Sprint(got.Coverage == nil, got.Namespace) != fmt.Sprint(tt.want.Coverage == nil, tt.want.Namespace) ||
				got.Metric != tt.want.Metric || fmt.Sprint(got.Guardrails) != fmt.Sprint(tt.want.Guardrails) {
				t.Errorf("got %+v (%v), want %+v", got, err, tt.want)
			}
		})
	}
}

func TestReportToProto(t *testing.T) {
	rel := 0.5
	in := experiment.Report{ID: "ab1", Status: "running", Metric: "outcomes", Warnings: []string{"w"},
		Arms:        []experiment.ArmReport{{Name: "c", ModelID: "m", Weight: 0.5, Users: 10, Outcomes: 4, Mean: 0.4, Variance: 0.3, Exposures: 12}},
		Comparisons: []experiment.Comparison{{Arm: "t", Baseline: "c", Metric: "outcomes", Lift: 0.2, CI: [2]float64{0.1, 0.3}, PValue: 0.01, PValueHolm: 0.02, RelativeLift: &rel, SequentialCI: [2]float64{0, 0.4}, CUPED: &experiment.Adjusted{Lift: 0.21, CI: [2]float64{0.15, 0.27}, VarianceReduction: 0.3}}},
		SRM:         experiment.SRM{Chi2: 1, PValue: 0.3},
		OPE: []experiment.OPEResult{{Target: "t", Logged: "c", Rounds: 5, Estimator: "snipw", Estimate: 0.3, CI: [2]float64{0.2, 0.4}, Measured: 0.35, MeasuredCI: [2]float64{0.3, 0.4}, RelativeError: -0.14, Within: true,
			SE: 0.05, MeasuredSE: 0.02, DiffCI: [2]float64{-0.16, 0.06}, Agrees: true}}}
	got, err := reportToProto(in)
	if err != nil {
		t.Fatal(err)
	}
	cl := 0.21
	want := &apiv1.ExperimentReportResponse{Id: "ab1", Status: "running", Metric: "outcomes", Warnings: []string{"w"}, Json: got.GetJson(),
		Arms: []*apiv1.ArmReport{{Name: "c", ModelId: "m", Weight: 0.5, Users: 10, Outcomes: 4, Mean: 0.4, Variance: 0.3, Exposures: 12}},
		Comparisons: []*apiv1.ExperimentComparison{{Arm: "t", Baseline: "c", Metric: "outcomes", Lift: 0.2, Ci: &apiv1.Interval{Lo: 0.1, Hi: 0.3},
			PValue: 0.01, PValueHolm: 0.02, RelativeLift: &rel, SequentialCi: &apiv1.Interval{Lo: 0, Hi: 0.4}, CupedLift: &cl,
			CupedCi: &apiv1.Interval{Lo: 0.15, Hi: 0.27}, CupedVarianceReduction: 0.3}},
		Srm: &apiv1.SRMCheck{Chi2: 1, PValue: 0.3},
		Ope: []*apiv1.OPEAgainstReality{{Target: "t", Logged: "c", Rounds: 5, Estimator: "snipw", Estimate: 0.3, Ci: &apiv1.Interval{Lo: 0.2, Hi: 0.4},
			Measured: 0.35, MeasuredCi: &apiv1.Interval{Lo: 0.3, Hi: 0.4}, RelativeError: -0.14, Within: true,
			Se: 0.05, MeasuredSe: 0.02, DiffCi: &apiv1.Interval{Lo: -0.16, Hi: 0.06}, Agrees: true}}}
	if !proto.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if len(got.GetJson()) < 100 {
		t.Errorf("json %q", got.GetJson())
	}
	// A NaN cannot be encoded: an error, not a broken answer.
	in.Arms[0].Mean = math.NaN()
	if _, err := reportToProto(in); err == nil {
		t.Error("a NaN encoded")
	}
}

// The experiments over gRPC: create (with the validation's codes), list,
// get, a recommendation naming the arm, stop; the report without an
// analysis is Unimplemented.
func TestGRPCExperiments(t *testing.T) {
	ctx := context.Background()
	st, _ := testStore(t)
	ids := popularityModels(t, st, 2)
	if _, err := st.PutItems(ctx, []store.Item{{ID: "a"}, {ID: "b"}}); err != nil {
		t.Fatal(err)
	}
	_, gaddr := startRunGRPC(t, Deps{Ingest: st, Models: st, Health: st, Recommender: recommend.NewRanker(st, nil, nil),
		Plugins: plugins{}, Token: "tok", Experiments: experiment.NewService(st, experiment.Options{})}, true)
	conn, err := grpc.NewClient(gaddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := apiv1.NewRecommenderClient(conn)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	actx := metadata.AppendToOutgoingContext(cctx, "authorization", "Bearer tok")
	if _, err := c.ListExperiments(cctx, &apiv1.ListExperimentsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("without the token: %v", err)
	}
	arms := []*apiv1.ExperimentArm{{Name: "control", Model: "default", Weight: 0.5}, {Name: "uplift", Model: ids[1].String(), Weight: 0.5}}
	if _, err := c.CreateExperiment(actx, &apiv1.CreateExperimentRequest{Id: "ab1", Arms: arms[:1]}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("one arm: %v, want InvalidArgument", err)
	}
	e, err := c.CreateExperiment(actx, &apiv1.CreateExperimentRequest{Id: "ab1", Arms: arms})
	if err != nil || e.GetStatus() != "running" || e.GetArms()[0].GetModelId() != ids[0].String() || e.GetNamespaceHi() != 1 || e.GetStartedAtUnixMs() == 0 {
		t.Fatalf("create: %v %v", e, err)
	}
	if _, err := c.CreateExperiment(actx, &apiv1.CreateExperimentRequest{Id: "ab2", Arms: arms}); status.Code(err) != codes.AlreadyExists {
		t.Errorf("overlapping: %v, want AlreadyExists", err)
	}
	if l, err := c.ListExperiments(actx, &apiv1.ListExperimentsRequest{}); err != nil || len(l.GetExperiments()) != 1 {
		t.Errorf("list: %v %v", l, err)
	}
	if _, err := c.GetExperiment(actx, &apiv1.GetExperimentRequest{Id: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("get missing: %v, want NotFound", err)
	}
	resp, err := c.Recommend(actx, &apiv1.RecommendRequest{User: "u1", Candidates: []string{"a", "b"}})
	if err != nil || resp.GetExperiment().GetId() != "ab1" || resp.GetExperiment().GetArm() == "" {
		t.Errorf("recommend: %v %v", resp, err)
	}
	if _, err := c.ExperimentReport(actx, &apiv1.ExperimentReportRequest{Id: "ab1"}); status.Code(err) != codes.Unimplemented {
		t.Errorf("report without an analysis: %v, want Unimplemented", err)
	}
	if s, err := c.StopExperiment(actx, &apiv1.StopExperimentRequest{Id: "ab1"}); err != nil || s.GetStatus() != "stopped" || s.GetStoppedAtUnixMs() == 0 {
		t.Errorf("stop: %v %v", s, err)
	}
}
