package plugins

import (
	"crypto/sha256"
	"fmt"
	"maps"

	pb "github.com/causalrec/causalrec/proto/causalrec/plugin/v1"
)

// The functions in this file are the only place where proto types meet the
// SDK's Go types.

func textScorerInfoToProto(in TextScorerInfo) *pb.TextScorerInfoResponse {
	out := &pb.TextScorerInfoResponse{Name: in.Name, Version: in.Version, Features: in.Features, MaxTextBytes: in.MaxTextBytes}
	for _, u := range in.FeatureUses {
		out.FeatureUses = append(out.FeatureUses, &pb.FeatureUse{Name: u.Name, UsesContext: u.UsesContext, LogScale: u.LogScale})
	}
	return out
}

func textScorerInfoFromProto(in *pb.TextScorerInfoResponse) TextScorerInfo {
	out := TextScorerInfo{Name: in.GetName(), Version: in.GetVersion(), Features: in.GetFeatures(), MaxTextBytes: in.GetMaxTextBytes()}
	for _, u := range in.GetFeatureUses() {
		out.FeatureUses = append(out.FeatureUses, FeatureUse{Name: u.GetName(), UsesContext: u.GetUsesContext(), LogScale: u.GetLogScale()})
	}
	return out
}

func scoreRequestToProto(in ScoreRequest) *pb.ScoreRequest {
	out := &pb.ScoreRequest{Items: make([]*pb.TextItem, len(in.Items)), Context: in.Context}
	for i, it := range in.Items {
		out.Items[i] = &pb.TextItem{Id: it.ID, Text: it.Text}
	}
	return out
}

func scoreRequestFromProto(in *pb.ScoreRequest) ScoreRequest {
	out := ScoreRequest{Items: make([]TextItem, len(in.GetItems())), Context: in.GetContext()}
	for i, it := range in.GetItems() {
		out.Items[i] = TextItem{ID: it.GetId(), Text: it.GetText()}
	}
	return out
}

func scoreResponseToProto(in ScoreResponse) *pb.ScoreResponse {
	out := &pb.ScoreResponse{Scores: make([]*pb.TextScore, len(in.Scores))}
	for i, s := range in.Scores {
		out.Scores[i] = &pb.TextScore{Id: s.ID, Features: s.Features, Error: s.Err}
	}
	return out
}

func scoreResponseFromProto(in *pb.ScoreResponse) ScoreResponse {
	out := ScoreResponse{Scores: make([]TextScore, len(in.GetScores()))}
	for i, s := range in.GetScores() {
		out.Scores[i] = TextScore{ID: s.GetId(), Features: s.GetFeatures(), Err: s.GetError()}
	}
	return out
}

func estimatorInfoToProto(in EstimatorInfo) *pb.EstimatorInfoResponse {
	out := &pb.EstimatorInfoResponse{Name: in.Name, Version: in.Version, Estimators: in.Estimators, Capabilities: in.Capabilities}
	for _, p := range in.Params {
		out.Params = append(out.Params, &pb.ParamSpec{Name: p.Name, Type: p.Type, DefaultValue: p.Default, Description: p.Description, Allowed: p.Allowed})
	}
	return out
}

func estimatorInfoFromProto(in *pb.EstimatorInfoResponse) EstimatorInfo {
	out := EstimatorInfo{Name: in.GetName(), Version: in.GetVersion(), Estimators: in.GetEstimators(), Capabilities: in.GetCapabilities()}
	for _, p := range in.GetParams() {
		out.Params = append(out.Params, ParamSpec{Name: p.GetName(), Type: p.GetType(), Default: p.GetDefaultValue(), Description: p.GetDescription(), Allowed: p.GetAllowed()})
	}
	return out
}

func featureKindToProto(k FeatureKind) pb.FeatureKind {
	switch k {
	case Numeric:
		return pb.FeatureKind_FEATURE_KIND_NUMERIC
	case Categorical:
		return pb.FeatureKind_FEATURE_KIND_CATEGORICAL
	}
	return pb.FeatureKind_FEATURE_KIND_UNSPECIFIED
}

func featureKindFromProto(k pb.FeatureKind) FeatureKind {
	if k == pb.FeatureKind_FEATURE_KIND_CATEGORICAL {
		return Categorical
	}
	return Numeric // unspecified is read as numeric
}

func fitHeaderToProto(in FitRequest) *pb.FitHeader {
	out := &pb.FitHeader{
		Estimator: in.Estimator, Params: in.Params, Arms: in.Arms, Seed: in.Seed,
		HasWeights: in.Weight != nil, HasPropensity: in.Propensity != nil, ModelOnly: in.ModelOnly,
	}
	for _, f := range in.Features {
		out.Features = append(out.Features, &pb.Feature{Name: f.Name, Kind: featureKindToProto(f.Kind), Levels: f.Levels})
	}
	return out
}

func fitHeaderFromProto(in *pb.FitHeader) FitRequest {
	out := FitRequest{Estimator: in.GetEstimator(), Params: maps.Clone(in.GetParams()), Arms: in.GetArms(), Seed: in.GetSeed(),
		ModelOnly: in.GetModelOnly()}
	if out.Params == nil {
		out.Params = map[string]string{}
	}
	for _, f := range in.GetFeatures() {
		out.Features = append(out.Features, Feature{Name: f.GetName(), Kind: featureKindFromProto(f.GetKind()), Levels: f.GetLevels()})
	}
	if in.GetHasWeights() {
		out.Weight = []float64{}
	}
	if in.GetHasPropensity() {
		out.Propensity = []float64{}
	}
	return out
}

// rowChunkToProto copies rows [start, end) of req into a chunk; without
// X, FillX writes the chunk's features.
func rowChunkToProto(req FitRequest, start, end int) *pb.RowChunk {
	d := len(req.Features)
	var x []float64
	if req.X == nil && req.FillX != nil {
		x = make([]float64, (end-start)*d)
		req.FillX(x, start, end)
	} else {
		x = req.X[start*d : end*d]
	}
	out := &pb.RowChunk{
		Features: x,
		Arm:      make([]int32, end-start),
		Outcome:  req.Outcome[start:end],
	}
	for i := start; i < end; i++ {
		out.Arm[i-start] = int32(req.Arm[i])
	}
	if req.Weight != nil {
		out.Weight = req.Weight[start:end]
	}
	if req.Propensity != nil {
		out.Propensity = req.Propensity[start:end]
	}
	return out
}

// appendRowChunk appends a chunk's rows to req, checking that its columns
// agree with the header.
func appendRowChunk(req *FitRequest, c *pb.RowChunk) error {
	if c == nil {
		return nil
	}
	n, d := len(c.GetArm()), len(req.Features)
	switch {
	case len(c.GetFeatures()) != n*d:
		return fmt.Errorf("%w: chunk has %d feature values for %d rows of %d features", ErrInvalid, len(c.GetFeatures()), n, d)
	case len(c.GetOutcome()) != n:
		return fmt.Errorf("%w: chunk has %d outcomes for %d rows", ErrInvalid, len(c.GetOutcome()), n)
	case req.Weight != nil && len(c.GetWeight()) != n:
		return fmt.Errorf("%w: chunk has %d weights for %d rows", ErrInvalid, len(c.GetWeight()), n)
	case req.Propensity != nil && len(c.GetPropensity()) != n:
		return fmt.Errorf("%w: chunk has %d propensities for %d rows", ErrInvalid, len(c.GetPropensity()), n)
	}
	req.X = append(req.X, c.GetFeatures()...)
	for _, a := range c.GetArm() {
		req.Arm = append(req.Arm, int(a))
	}
	req.Outcome = append(req.Outcome, c.GetOutcome()...)
	if req.Weight != nil {
		req.Weight = append(req.Weight, c.GetWeight()...)
	}
	if req.Propensity != nil {
		req.Propensity = append(req.Propensity, c.GetPropensity()...)
	}
	return nil
}

func fitResponseToProto(in FitResponse) *pb.FitResponse {
	return &pb.FitResponse{Model: in.Model, Metadata: in.Metadata, Ate: in.ATE, AteSe: in.ATESE}
}

func fitResponseFromProto(in *pb.FitResponse) FitResponse {
	return FitResponse{Model: in.GetModel(), Metadata: in.GetMetadata(), ATE: in.GetAte(), ATESE: in.GetAteSe()}
}

// predictRequestToProto converts req, sending the model bytes only when
// withModel is set (the digest is always sent).
func predictRequestToProto(in PredictRequest, withModel bool) *pb.PredictRequest {
	out := &pb.PredictRequest{ModelDigest: in.ModelDigest[:], Features: in.X, NFeatures: int32(in.NFeatures), IntervalLevel: in.IntervalLevel}
	if withModel {
		out.ModelBytes = in.Model
	}
	return out
}

// predictRequestFromProto converts in, checking that the digest matches
// the bytes when both are present. Model is nil when only a digest came.
func predictRequestFromProto(in *pb.PredictRequest) (PredictRequest, error) {
	out := PredictRequest{Model: in.GetModelBytes(), X: in.GetFeatures(), NFeatures: int(in.GetNFeatures()), IntervalLevel: in.GetIntervalLevel()}
	if out.NFeatures <= 0 || len(out.X)%out.NFeatures != 0 {
		return PredictRequest{}, fmt.Errorf("%w: %d values are not rows of %d features", ErrInvalid, len(out.X), out.NFeatures)
	}
	switch d := in.GetModelDigest(); {
	case out.Model != nil:
		out.ModelDigest = sha256.Sum256(out.Model)
		if len(d) != 0 && string(d) != string(out.ModelDigest[:]) {
			return PredictRequest{}, fmt.Errorf("%w: model digest does not match the model bytes", ErrInvalid)
		}
	case len(d) == sha256.Size:
		copy(out.ModelDigest[:], d)
	default:
		return PredictRequest{}, fmt.Errorf("%w: neither model bytes nor a %d-byte model digest", ErrInvalid, sha256.Size)
	}
	return out, nil
}

func predictResponseToProto(in PredictResponse) *pb.PredictResponse {
	return &pb.PredictResponse{Effects: in.Effects, Arms: in.Arms, Lower: in.Lower, Upper: in.Upper}
}

func predictResponseFromProto(in *pb.PredictResponse) PredictResponse {
	return PredictResponse{Effects: in.GetEffects(), Arms: in.GetArms(), Lower: in.GetLower(), Upper: in.GetUpper()}
}
