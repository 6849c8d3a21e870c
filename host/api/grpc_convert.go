package api

import (
	"math"

	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
	apiv1 "github.com/causalrec/causalrec/proto/causalrec/api/v1"
)

// Converters between the proto messages of the operations of grpc_ops.go
// and the domain types; the domain types know nothing of proto.

func trainToProto(r recommend.TrainResult) *apiv1.TrainResponse {
	return &apiv1.TrainResponse{
		ModelId: r.ModelID.String(), PreviousModelId: r.Previous.String(), Rows: int64(r.Rows), Treated: int64(r.Treated),
		Control: int64(r.Control), Features: r.Features, Estimator: r.Estimator, Propensity: r.Propensity, Events: int64(r.Events),
		Seconds: r.Seconds, Metadata: r.Metadata, Ranker: r.Ranker,
		Text: &apiv1.TextReport{Used: r.Text.Used, Versions: r.Text.Versions, Relevance: r.Text.Relevance, Skipped: r.Text.Skipped,
			CacheHits: int64(r.Text.Hits), Scored: int64(r.Text.Scored)},
	}
}

func modelToProto(m store.ModelRecord) *apiv1.Model {
	out := &apiv1.Model{Id: m.ID.String(), Name: m.Name, Estimator: m.Estimator, Plugin: m.Plugin, PluginVersion: m.PluginVersion,
		Metadata: m.Metadata}
	if !m.CreatedAt.IsZero() {
		out.CreatedAtUnixMs = m.CreatedAt.UnixMilli()
	}
	return out
}

func modelListToProto(l ModelList) *apiv1.ModelList {
	out := &apiv1.ModelList{Serving: l.Serving, Previous: l.Previous}
	for _, m := range l.Models {
		out.Models = append(out.Models, modelToProto(m))
	}
	return out
}

func pluginsToProto(list []pluginhost.Status) *apiv1.ListPluginsResponse {
	out := &apiv1.ListPluginsResponse{}
	for _, p := range list {
		out.Plugins = append(out.Plugins, &apiv1.PluginStatus{
			Name: p.Name, Kind: p.Kind, Version: p.Version, Protocol: int32(p.Protocol), Pid: int64(p.PID), Healthy: p.Healthy,
			Builtin: p.Builtin, Path: p.Path, Restarts: int64(p.Restarts), Ejections: int64(p.Ejections), Error: p.Error,
		})
	}
	return out
}

func opeFromProto(p *apiv1.OPERequest) OPERequest {
	r := OPERequest{
		Model: p.GetModel(), Policy: p.GetPolicy(), Epsilon: p.GetEpsilon(), Temperature: p.GetTemperature(),
		Candidates: p.GetCandidates(), IncludeConsumed: p.GetIncludeConsumed(), PolicyID: p.GetPolicyId(), Samples: int(p.GetSamples()),
		Estimators: p.GetEstimators(), RewardModel: p.GetRewardModel(), Folds: int(p.GetFolds()), Level: p.GetLevel(),
	}
	if p.Bootstrap != nil {
		b := int(p.GetBootstrap())
		r.Bootstrap = &b
	}
	if p.Seed != nil {
		s := p.GetSeed()
		r.Seed = &s
	}
	return r
}

func opeToProto(r OPEResult) *apiv1.OPEResponse {
	out := &apiv1.OPEResponse{
		Rounds: int64(r.Rounds), Positions: int32(r.Positions), Actions: int64(r.Actions), LoggedValue: r.LoggedValue,
		Level: r.Level, Bootstrap: int32(r.Bootstrap), MeanWeight: r.MeanWeight, ModelId: r.ModelID, Ranker: r.Ranker,
		Policy: r.Policy, Lists: int64(r.Lists), Warnings: r.Warnings,
		Skipped: &apiv1.OPESkipped{Control: int64(r.Skipped.Control), NoPosition: int64(r.Skipped.NoPosition),
			OtherPolicy: int64(r.Skipped.OtherPolicy), Unplaced: int64(r.Skipped.Unplaced)},
	}
	for _, e := range r.Estimates {
		p := &apiv1.PolicyEstimate{
			Estimator: e.Estimator, Value: orNaN(e.Value), CiLower: orNaN(e.CI[0]), CiUpper: orNaN(e.CI[1]), Se: orNaN(e.SE),
			Ess: orNaN(e.ESS), MaxWeight: orNaN(e.MaxWeight), Warnings: e.Warnings, P99Weight: orNaN(e.P99Weight),
			ZeroWeightShare: orNaN(e.ZeroWeightShare), CiNormalLower: orNaN(e.NormalCI[0]), CiNormalUpper: orNaN(e.NormalCI[1]),
			Interval: e.Interval,
		}
		if l := e.LambdaValue(); !math.IsNaN(l) {
			p.HasLambda, p.Lambda = true, l
		}
		out.Estimates = append(out.Estimates, p)
	}
	return out
}

// orNaN returns *p, or NaN for nil (a number JSON could not carry).
func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// explainToProto converts the explanation of model id.
func explainToProto(id string, r ExplainReport) *apiv1.ExplainResponse {
	out := &apiv1.ExplainResponse{BlpIntercept: explainCoefToProto(r.BLPIntercept), Tree: explainNodeToProto(r.Tree),
		N: int64(r.N), Arm: r.Arm, Level: r.Level, Notes: r.Notes, ModelId: id}
	for _, c := range r.BLP {
		out.Blp = append(out.Blp, explainCoefToProto(&c))
	}
	for _, f := range r.Importance {
		out.Importance = append(out.Importance, &apiv1.ExplainImportance{Feature: f.Feature, Value: float64(f.Value), CiLower: float64(f.CI[0]), CiUpper: float64(f.CI[1])})
	}
	for _, t := range r.Terms {
		out.Terms = append(out.Terms, &apiv1.ExplainTerm{Term: t.Term, Effect: float64(t.Effect), CiLower: float64(t.CI[0]), CiUpper: float64(t.CI[1]), N: int64(t.N)})
	}
	return out
}

func explainCoefToProto(c *ExplainCoef) *apiv1.ExplainCoef {
	if c == nil {
		return nil
	}
	return &apiv1.ExplainCoef{Feature: c.Feature, Coef: float64(c.Coef), CiLower: float64(c.CI[0]), CiUpper: float64(c.CI[1]),
		PValue: float64(c.PValue), Se: float64(c.SE)}
}

func explainNodeToProto(n *ExplainNode) *apiv1.ExplainNode {
	if n == nil {
		return nil
	}
	var th *float64
	if n.Threshold != nil {
		v := float64(*n.Threshold)
		th = &v
	}
	return &apiv1.ExplainNode{Feature: n.Feature, Threshold: th, Level: copyOf(n.Level),
		Left: explainNodeToProto(n.Left), Right: explainNodeToProto(n.Right),
		N: int64(n.N), Effect: float64(n.Effect), CiLower: float64(n.CI[0]), CiUpper: float64(n.CI[1]), Tau: float64(n.Tau)}
}

// copyOf returns a pointer to a copy of *p, or nil.
func copyOf[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
