package api

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/causalrec/causalrec/host/experiment"
	"github.com/causalrec/causalrec/host/store"
	apiv1 "github.com/causalrec/causalrec/proto/causalrec/api/v1"
)

// CreateExperiment is POST /v1/experiments.
func (g *grpcServer) CreateExperiment(ctx context.Context, req *apiv1.CreateExperimentRequest) (*apiv1.Experiment, error) {
	in, err := createExperimentFromProto(req)
	if err != nil {
		return nil, grpcStatus(err)
	}
	e, err := g.s.CreateExperiment(ctx, in)
	if err != nil {
		return nil, grpcStatus(err)
	}
	return experimentToProto(e), nil
}

// ListExperiments is GET /v1/experiments.
func (g *grpcServer) ListExperiments(ctx context.Context, _ *apiv1.ListExperimentsRequest) (*apiv1.ListExperimentsResponse, error) {
	list, err := g.s.ListExperiments(ctx)
	if err != nil {
		return nil, grpcStatus(err)
	}
	out := &apiv1.ListExperimentsResponse{}
	for _, e := range list.Experiments {
		out.Experiments = append(out.Experiments, experimentToProto(e))
	}
	return out, nil
}

// GetExperiment is GET /v1/experiments/{id}.
func (g *grpcServer) GetExperiment(ctx context.Context, req *apiv1.GetExperimentRequest) (*apiv1.Experiment, error) {
	e, err := g.s.Experiment(ctx, req.GetId())
	if err != nil {
		return nil, grpcStatus(err)
	}
	return experimentToProto(e), nil
}

// StopExperiment is POST /v1/experiments/{id}/stop.
func (g *grpcServer) StopExperiment(ctx context.Context, req *apiv1.StopExperimentRequest) (*apiv1.Experiment, error) {
	e, err := g.s.StopExperiment(ctx, req.GetId())
	if err != nil {
		return nil, grpcStatus(err)
	}
	return experimentToProto(e), nil
}

// ExperimentReport is GET /v1/experiments/{id}/report.
func (g *grpcServer) ExperimentReport(ctx context.Context, req *apiv1.ExperimentReportRequest) (*apiv1.ExperimentReportResponse, error) {
	rep, err := g.s.ExperimentReport(ctx, req.GetId())
	if err != nil {
		return nil, grpcStatus(err)
	}
	out, err := reportToProto(rep)
	if err != nil {
		return nil, grpcStatus(err)
	}
	return out, nil
}

// createExperimentFromProto converts a create request; a namespace with one
// bound only is a bad request.
func createExperimentFromProto(p *apiv1.CreateExperimentRequest) (experiment.CreateRequest, error) {
	out := experiment.CreateRequest{ID: p.GetId(), Salt: p.GetSalt(), Metric: p.GetMetric(), Guardrails: p.GetGuardrails()}
	for _, a := range p.GetArms() {
		out.Arms = append(out.Arms, experiment.ArmRequest{Name: a.GetName(), Model: a.GetModel(), Weight: a.GetWeight(),
			Policy: a.GetPolicy(), Epsilon: a.GetEpsilon(), Temperature: a.GetTemperature()})
	}
	if p.Coverage != nil {
		c := p.GetCoverage()
		out.Coverage = &c
	}
	switch {
	case p.NamespaceLo != nil && p.NamespaceHi != nil:
		out.Namespace = &[2]float64{p.GetNamespaceLo(), p.GetNamespaceHi()}
	case p.NamespaceLo != nil || p.NamespaceHi != nil:
		return out, badRequest("namespace: give both namespace_lo and namespace_hi, or neither")
	}
	return out, nil
}

func experimentToProto(e store.Experiment) *apiv1.Experiment {
	out := &apiv1.Experiment{Id: e.ID, Salt: e.Salt, Coverage: e.Coverage, NamespaceLo: e.Namespace[0], NamespaceHi: e.Namespace[1],
		Metric: e.Metric, Guardrails: e.Guardrails, Status: e.Status, StartedAtUnixMs: e.StartedAt.UnixMilli()}
	if e.StoppedAt != nil {
		out.StoppedAtUnixMs = e.StoppedAt.UnixMilli()
	}
	for _, a := range e.Arms {
		out.Arms = append(out.Arms, &apiv1.ExperimentArm{Name: a.Name, Model: a.Model, ModelId: a.ModelID, Weight: a.Weight,
			Policy: a.Policy, Epsilon: a.Epsilon, Temperature: a.Temperature})
	}
	return out
}

func interval(ci [2]float64) *apiv1.Interval { return &apiv1.Interval{Lo: ci[0], Hi: ci[1]} }

// reportToProto converts a report: its main numbers as fields, the whole
// as JSON.
func reportToProto(r experiment.Report) (*apiv1.ExperimentReportResponse, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode the report: %w", err)
	}
	out := &apiv1.ExperimentReportResponse{Id: r.ID, Status: r.Status, Metric: r.Metric, Warnings: r.Warnings, Json: string(raw),
		Srm: &apiv1.SRMCheck{Chi2: r.SRM.Chi2, PValue: r.SRM.PValue, Flag: r.SRM.Flag}}
	for _, a := range r.Arms {
		out.Arms = append(out.Arms, &apiv1.ArmReport{Name: a.Name, ModelId: a.ModelID, Weight: a.Weight, Users: int64(a.Users),
			Outcomes: a.Outcomes, Mean: a.Mean, Variance: a.Variance, Exposures: int64(a.Exposures)})
	}
	for _, c := range r.Comparisons {
		pc := &apiv1.ExperimentComparison{Arm: c.Arm, Baseline: c.Baseline, Metric: c.Metric, Lift: c.Lift, Ci: interval(c.CI),
			PValue: c.PValue, PValueHolm: c.PValueHolm, RelativeLift: c.RelativeLift, SequentialCi: interval(c.SequentialCI)}
		if c.RelativeCI != nil {
			pc.RelativeCi = interval(*c.RelativeCI)
		}
		if c.CUPED != nil {
			l := c.CUPED.Lift
			pc.CupedLift, pc.CupedCi, pc.CupedVarianceReduction = &l, interval(c.CUPED.CI), c.CUPED.VarianceReduction
		}
		out.Comparisons = append(out.Comparisons, pc)
	}
	for _, o := range r.OPE {
		out.Ope = append(out.Ope, &apiv1.OPEAgainstReality{Target: o.Target, Logged: o.Logged, Rounds: int64(o.Rounds), Estimator: o.Estimator,
			Estimate: o.Estimate, Ci: interval(o.CI), Measured: o.Measured, MeasuredCi: interval(o.MeasuredCI),
			RelativeError: o.RelativeError, Within: o.Within,
			Se: o.SE, MeasuredSe: o.MeasuredSE, DiffCi: interval(o.DiffCI), Agrees: o.Agrees})
	}
	return out, nil
}
