package api

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
	apiv1 "github.com/causalrec/causalrec/proto/causalrec/api/v1"
)

func TestTrainToProto(t *testing.T) {
	id, prev := uuid.New(), uuid.New()
	in := recommend.TrainResult{ModelID: id, Previous: prev, Rows: 10, Treated: 6, Control: 4, Features: []string{"a", "b"},
		Estimator: "t", Propensity: "logged", Events: 30, Seconds: 1.5, Metadata: map[string]string{"k": "v"}, Ranker: "uplift:t",
		Text: recommend.TextReport{Used: []string{"lm"}, Versions: map[string]string{"lm": "1"}, Relevance: true,
			Skipped: map[string]string{"sentiment": "down"}, Hits: 3, Scored: 2}}
	want := &apiv1.TrainResponse{ModelId: id.String(), PreviousModelId: prev.String(), Rows: 10, Treated: 6, Control: 4,
		Features: []string{"a", "b"}, Estimator: "t", Propensity: "logged", Events: 30, Seconds: 1.5,
		Metadata: map[string]string{"k": "v"}, Ranker: "uplift:t",
		Text: &apiv1.TextReport{Used: []string{"lm"}, Versions: map[string]string{"lm": "1"}, Relevance: true,
			Skipped: map[string]string{"sentiment": "down"}, CacheHits: 3, Scored: 2}}
	if got := trainToProto(in); !proto.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestModelListToProto(t *testing.T) {
	id := uuid.New()
	at := time.UnixMilli(1_767_225_600_123).UTC()
	tests := []struct {
		name string
		in   ModelList
		want *apiv1.ModelList
	}{
		{"empty", ModelList{Models: []store.ModelRecord{}}, &apiv1.ModelList{}},
		{"one", ModelList{Serving: id.String(), Models: []store.ModelRecord{{ID: id, Name: "default", Estimator: "t", Plugin: "causal",
			PluginVersion: "0.1", CreatedAt: at, Metadata: map[string]string{"ranker": "uplift"}}}},
			&apiv1.ModelList{Serving: id.String(), Models: []*apiv1.Model{{Id: id.String(), Name: "default", Estimator: "t", Plugin: "causal",
				PluginVersion: "0.1", CreatedAtUnixMs: 1_767_225_600_123, Metadata: map[string]string{"ranker": "uplift"}}}}},
		{"no time", ModelList{Models: []store.ModelRecord{{ID: id}}}, &apiv1.ModelList{Models: []*apiv1.Model{{Id: id.String()}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := modelListToProto(tt.in); !proto.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPluginsToProto(t *testing.T) {
	in := []pluginhost.Status{{Name: "lm", Kind: "text_scorer", Version: "1", Protocol: 1, PID: 42, Healthy: true, Builtin: true,
		Path: "/bin/x", Restarts: 2, Ejections: 1, Error: "e"}}
	want := &apiv1.ListPluginsResponse{Plugins: []*apiv1.PluginStatus{{Name: "lm", Kind: "text_scorer", Version: "1", Protocol: 1,
		Pid: 42, Healthy: true, Builtin: true, Path: "/bin/x", Restarts: 2, Ejections: 1, Error: "e"}}}
	if got := pluginsToProto(in); !proto.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestOPEFromProto(t *testing.T) {
	zero, seven := int32(0), uint64(7)
	tests := []struct {
		name string
		in   *apiv1.OPERequest
		want OPERequest
	}{
		{"defaults stay absent", &apiv1.OPERequest{Model: "m"}, OPERequest{Model: "m"}},
		{"bootstrap 0 and a seed are kept", &apiv1.OPERequest{Model: "m", Bootstrap: &zero, Seed: &seven},
			OPERequest{Model: "m", Bootstrap: new(int), Seed: &seven}},
		{"all fields", &apiv1.OPERequest{Model: "m", Policy: "plackett-luce", Epsilon: 0.1, Temperature: 0.2, Candidates: []string{"a"},
			IncludeConsumed: true, PolicyId: "p", Samples: 5, Estimators: []string{"dr"}, RewardModel: "gbt", Folds: 4, Level: 0.9},
			OPERequest{Model: "m", Policy: "plackett-luce", Epsilon: 0.1, Temperature: 0.2, Candidates: []string{"a"}, IncludeConsumed: true,
				PolicyID: "p", Samples: 5, Estimators: []string{"dr"}, RewardModel: "gbt", Folds: 4, Level: 0.9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := opeFromProto(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestOPEToProto(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	in := OPEResult{Rounds: 10, Positions: 2, Actions: 3, LoggedValue: 0.5, Level: 0.95, Bootstrap: 100, MeanWeight: 1,
		ModelID: "m", Ranker: "uplift:t", Policy: "greedy", Lists: 5, Warnings: []string{"w"},
		Skipped: recommend.ReplaySkipped{Control: 1, NoPosition: 2, OtherPolicy: 3, Unplaced: 4},
		Estimates: []OPEEstimate{
			{Estimator: "ipw", Value: f(0.4), CI: [2]*float64{f(0.3), f(0.5)}, SE: f(0.05), ESS: f(9), MaxWeight: f(2), P99Weight: f(1.9),
				ZeroWeightShare: f(0.1), NormalCI: [2]*float64{f(0.31), f(0.49)}, Interval: "percentile", Warnings: []string{"x"}},
			{Estimator: "switch-dr", Value: nil, Lambda: "inf"},
			{Estimator: "dros", Value: f(0.2), Lambda: 100.0},
		}}
	got := opeToProto(in)
	if got.GetRounds() != 10 || got.GetPositions() != 2 || got.GetActions() != 3 || got.GetLoggedValue() != 0.5 || got.GetLevel() != 0.95 ||
		got.GetBootstrap() != 100 || got.GetMeanWeight() != 1 || got.GetModelId() != "m" || got.GetRanker() != "uplift:t" ||
		got.GetPolicy() != "greedy" || got.GetLists() != 5 || !reflect.DeepEqual(got.GetWarnings(), []string{"w"}) ||
		!proto.Equal(got.GetSkipped(), &apiv1.OPESkipped{Control: 1, NoPosition: 2, OtherPolicy: 3, Unplaced: 4}) {
		t.Fatalf("top level: %v", got)
	}
	ipw, sw, dros := got.GetEstimates()[0], got.GetEstimates()[1], got.GetEstimates()[2]
	if !proto.Equal(ipw, &apiv1.PolicyEstimate{Estimator: "ipw", Value: 0.4, CiLower: 0.3, CiUpper: 0.5, Se: 0.05, Ess: 9, MaxWeight: 2,
		P99Weight: 1.9, ZeroWeightShare: 0.1, CiNormalLower: 0.31, CiNormalUpper: 0.49, Interval: "percentile", Warnings: []string{"x"}}) {
		t.Errorf("ipw: %v", ipw)
	}
	if !math.IsNaN(sw.GetValue()) || !math.IsNaN(sw.GetCiLower()) || !sw.GetHasLambda() || !math.IsInf(sw.GetLambda(), 1) {
		t.Errorf("switch-dr (null value, lambda inf): %v", sw)
	}
	if dros.GetValue() != 0.2 || !dros.GetHasLambda() || dros.GetLambda() != 100 {
		t.Errorf("dros (lambda 100): %v", dros)
	}
	if got.GetEstimates()[0].GetHasLambda() {
		t.Error("ipw has a lambda")
	}
}

// TestExplainToProto reads explanations' JSON (as the explainer of
// causalrec serve writes it: nulls for numbers that do not exist, a tree
// with a numeric and a categorical split) and converts them: every field
// arrives, a null is NaN, fields the reader does not know are ignored.
func TestExplainToProto(t *testing.T) {
	nan := math.NaN()
	th, lv := 0.25, "paris"
	tests := []struct {
		name string
		in   string
		want *apiv1.ExplainResponse
	}{
		{"empty", `{"blp": [], "importance": [], "tree": null, "terms": [], "n": 0, "level": 0.95}`,
			&apiv1.ExplainResponse{Level: 0.95, ModelId: "m"}},
		{"full", `{"blp": [{"feature": "x1", "coef": 0.9, "ci": [0.8, 1], "p_value": 1e-9, "se": 0.05},
				{"feature": "c", "coef": null, "ci": [null, null], "p_value": null, "se": null}],
			"blp_intercept": {"feature": "(intercept)", "coef": 0.5, "ci": [0.4, 0.6], "p_value": 0.01, "se": 0.02},
			"importance": [{"feature": "x1", "value": 0.7, "ci": [0.6, 0.8]}],
			"tree": {"feature": "x1", "threshold": 0.25, "n": 100, "effect": 0.5, "ci": [0.4, 0.6], "tau": 0.45,
				"left": {"n": 60, "effect": null, "ci": [null, null], "tau": 0.1},
				"right": {"feature": "city", "level": "paris", "n": 40, "effect": 1, "ci": [0.9, 1.1], "tau": 0.9,
					"left": {"n": 20, "effect": 1.2, "ci": [1, 1.4], "tau": 1.1}, "right": {"n": 20, "effect": 0.8, "ci": [0.6, 1], "tau": 0.7}}},
			"terms": [{"term": "gold", "effect": 1, "ci": [0.85, 1.15], "n": 38}],
			"n": 100, "arm": "recommended", "level": 0.9, "notes": ["a note"], "later": {"x": 1}}`,
			&apiv1.ExplainResponse{
				Blp: []*apiv1.ExplainCoef{{Feature: "x1", Coef: 0.9, CiLower: 0.8, CiUpper: 1, PValue: 1e-9, Se: 0.05},
					{Feature: "c", Coef: nan, CiLower: nan, CiUpper: nan, PValue: nan, Se: nan}},
				BlpIntercept: &apiv1.ExplainCoef{Feature: "(intercept)", Coef: 0.5, CiLower: 0.4, CiUpper: 0.6, PValue: 0.01, Se: 0.02},
				Importance:   []*apiv1.ExplainImportance{{Feature: "x1", Value: 0.7, CiLower: 0.6, CiUpper: 0.8}},
				Tree: &apiv1.ExplainNode{Feature: "x1", Threshold: &th, N: 100, Effect: 0.5, CiLower: 0.4, CiUpper: 0.6, Tau: 0.45,
					Left: &apiv1.ExplainNode{N: 60, Effect: nan, CiLower: nan, CiUpper: nan, Tau: 0.1},
					Right: &apiv1.ExplainNode{Feature: "city", Level: &lv, N: 40, Effect: 1, CiLower: 0.9, CiUpper: 1.1, Tau: 0.9,
						Left:  &apiv1.ExplainNode{N: 20, Effect: 1.2, CiLower: 1, CiUpper: 1.4, Tau: 1.1},
						Right: &apiv1.ExplainNode{N: 20, Effect: 0.8, CiLower: 0.6, CiUpper: 1, Tau: 0.7}}},
				Terms: []*apiv1.ExplainTerm{{Term: "gold", Effect: 1, CiLower: 0.85, CiUpper: 1.15, N: 38}},
				N:     100, Arm: "recommended", Level: 0.9, Notes: []string{"a note"}, ModelId: "m"}},
		{"absent numbers are NaN", `{"importance": [{"feature": "x"}], "terms": [{"term": "t", "n": 3}]}`,
			&apiv1.ExplainResponse{Importance: []*apiv1.ExplainImportance{{Feature: "x", Value: nan, CiLower: nan, CiUpper: nan}},
				Terms: []*apiv1.ExplainTerm{{Term: "t", Effect: nan, CiLower: nan, CiUpper: nan, N: 3}}, ModelId: "m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := DecodeExplainReport([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := explainToProto("m", rep); !proto.Equal(got, tt.want) {
				t.Errorf("got %v\nwant %v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{``, `[]`, `{"n": "many"}`, `{"blp": [{"coef": "x"}]}`, `{"tree": {"left": {"n": -0.5}}}`} {
		if _, err := DecodeExplainReport([]byte(bad)); err == nil {
			t.Errorf("decode %q: no error", bad)
		}
	}
}

// TestExplainToProtoCopies checks that the answer shares no memory with
// the report it was made of.
func TestExplainToProtoCopies(t *testing.T) {
	th, lv := Num(1), "a"
	rep := ExplainReport{Tree: &ExplainNode{Feature: "x", Threshold: &th, Level: &lv, Left: &ExplainNode{}, Right: &ExplainNode{}}}
	got := explainToProto("m", rep)
	th, lv = 2, "b"
	if got.GetTree().GetThreshold() != 1 || got.GetTree().GetLevel() != "a" {
		t.Errorf("the answer changed with the report: %v", got.GetTree())
	}
}
