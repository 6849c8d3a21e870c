package plugins

import (
	"crypto/sha256"
	"errors"
	"reflect"
	"testing"

	pb "github.com/causalrec/causalrec/proto/causalrec/plugin/v1"
)

func TestScoreRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		req  ScoreRequest
		resp ScoreResponse
	}{
		{"empty", ScoreRequest{Items: []TextItem{}}, ScoreResponse{Scores: []TextScore{}}},
		{"items and context",
			ScoreRequest{Items: []TextItem{{ID: "a", Text: "hello"}, {ID: "b", Text: "ünïcode"}}, Context: []string{"history"}},
			ScoreResponse{Scores: []TextScore{{ID: "a", Features: map[string]float64{"x": 1.5}}, {ID: "b", Err: "empty text"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scoreRequestFromProto(scoreRequestToProto(tt.req))
			if !reflect.DeepEqual(got.Items, tt.req.Items) || !reflect.DeepEqual(got.Context, tt.req.Context) {
				t.Errorf("request round trip: got %+v, want %+v", got, tt.req)
			}
			gotResp := scoreResponseFromProto(scoreResponseToProto(tt.resp))
			if !reflect.DeepEqual(gotResp, tt.resp) {
				t.Errorf("response round trip: got %+v, want %+v", gotResp, tt.resp)
			}
		})
	}
}

func TestInfoRoundTrip(t *testing.T) {
	ts := TextScorerInfo{Name: "lm", Version: "1.2", Features: []string{"perplexity", "relevance"}, MaxTextBytes: 10,
		FeatureUses: []FeatureUse{{Name: "perplexity", LogScale: true}, {Name: "relevance", UsesContext: true}}}
	if got := textScorerInfoFromProto(textScorerInfoToProto(ts)); !reflect.DeepEqual(got, ts) {
		t.Errorf("round trip: got %+v, want %+v", got, ts)
	}
	// An older plugin's answer has no uses; an empty list stays empty.
	ts = TextScorerInfo{Name: "old", Version: "0.9", Features: []string{"x"}}
	if got := textScorerInfoFromProto(textScorerInfoToProto(ts)); !reflect.DeepEqual(got, ts) {
		t.Errorf("text scorer info: got %+v, want %+v", got, ts)
	}
	ei := EstimatorInfo{Name: "causal", Version: "1", Estimators: []string{"t"}, Capabilities: []string{"multi_arm"},
		Params: []ParamSpec{{Name: "base", Type: "enum", Default: "linear", Description: "base learner", Allowed: []string{"linear", "gbt"}}}}
	if got := estimatorInfoFromProto(estimatorInfoToProto(ei)); !reflect.DeepEqual(got, ei) {
		t.Errorf("estimator info: got %+v, want %+v", got, ei)
	}
}

func TestFitChunksRoundTrip(t *testing.T) {
	req := FitRequest{
		Estimator: "t", Params: map[string]string{"l2": "1"}, Arms: []string{"control", "a", "b"}, Seed: 7,
		Features:  []Feature{{Name: "x", Kind: Numeric}, {Name: "c", Kind: Categorical, Levels: []string{"u", "v"}}},
		X:         []float64{1, 0, 2, 1, 3, 0, 4, 1, 5, 1},
		Arm:       []int{0, 1, 2, 0, 1},
		Outcome:   []float64{0, 1, 1, 0, 1},
		Weight:    []float64{1, 2, 1, 2, 1},
		ModelOnly: true,
	}
	got := fitHeaderFromProto(fitHeaderToProto(req))
	for _, r := range [][2]int{{0, 2}, {2, 3}, {3, 5}} {
		if err := appendRowChunk(&got, rowChunkToProto(req, r[0], r[1])); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(got, req) {
		t.Fatalf("fit round trip:\n got %+v\nwant %+v", got, req)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestFitChunksFromFillX: a request whose rows come from FillX sends the
// same chunks as one with X, asking FillX only for each chunk's rows.
func TestFitChunksFromFillX(t *testing.T) {
	x := []float64{1, 0, 2, 1, 3, 0, 4, 1, 5, 1}
	want := FitRequest{
		Estimator: "t", Params: map[string]string{}, Arms: []string{"control", "a"},
		Features: []Feature{{Name: "x", Kind: Numeric}, {Name: "y", Kind: Numeric}},
		X:        x, Arm: []int{0, 1, 1, 0, 1}, Outcome: []float64{0, 1, 1, 0, 1},
	}
	var asked [][2]int
	lazy := want
	lazy.X = nil
	lazy.FillX = func(dst []float64, start, end int) {
		asked = append(asked, [2]int{start, end})
		if len(dst) != (end-start)*2 {
			t.Fatalf("FillX(%d, %d) got %d values of room", start, end, len(dst))
		}
		copy(dst, x[start*2:end*2])
	}
	if err := lazy.Validate(); err != nil {
		t.Fatalf("a request with FillX and no X: %v", err)
	}
	got := fitHeaderFromProto(fitHeaderToProto(lazy))
	for _, r := range [][2]int{{0, 2}, {2, 5}} {
		if err := appendRowChunk(&got, rowChunkToProto(lazy, r[0], r[1])); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fit from FillX:\n got %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(asked, [][2]int{{0, 2}, {2, 5}}) {
		t.Errorf("FillX was asked for %v", asked)
	}
	if w := lazy.WithX(); !reflect.DeepEqual(w.X, x) || w.FillX != nil {
		t.Errorf("WithX: X %v, FillX set %v", w.X, w.FillX != nil)
	}
	short := want
	short.X = x[:4]
	if err := short.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("a short X: %v, want ErrInvalid", err)
	}
}

func TestAppendRowChunkRejectsMismatch(t *testing.T) {
	req := FitRequest{Features: []Feature{{Name: "x"}, {Name: "y"}}}
	bad := []*pb.RowChunk{
		{Features: []float64{1}, Arm: []int32{0}, Outcome: []float64{1}},
		{Features: []float64{1, 2}, Arm: []int32{0}, Outcome: nil},
	}
	for i, c := range bad {
		if err := appendRowChunk(&req, c); !errors.Is(err, ErrInvalid) {
			t.Errorf("chunk %d: got %v, want ErrInvalid", i, err)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := FitRequest{Arms: []string{"c", "t"}, Features: []Feature{{Name: "x"}}, X: []float64{1, 2}, Arm: []int{0, 1}, Outcome: []float64{0, 1}}
	tests := []struct {
		name   string
		mutate func(*FitRequest)
	}{
		{"one arm", func(r *FitRequest) { r.Arms = r.Arms[:1] }},
		{"no features", func(r *FitRequest) { r.Features = nil }},
		{"short X", func(r *FitRequest) { r.X = r.X[:1] }},
		{"short outcome", func(r *FitRequest) { r.Outcome = r.Outcome[:1] }},
		{"arm out of range", func(r *FitRequest) { r.Arm = []int{0, 2} }},
		{"short weights", func(r *FitRequest) { r.Weight = []float64{1} }},
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid request: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			r.Arms = append([]string(nil), ok.Arms...)
			tt.mutate(&r)
			if err := r.Validate(); !errors.Is(err, ErrInvalid) {
				t.Errorf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestPredictRequestDigest(t *testing.T) {
	model := []byte("model")
	sum := sha256.Sum256(model)
	tests := []struct {
		name    string
		in      *pb.PredictRequest
		wantErr bool
	}{
		{"bytes only", &pb.PredictRequest{ModelBytes: model, Features: []float64{1}, NFeatures: 1}, false},
		{"digest only", &pb.PredictRequest{ModelDigest: sum[:], Features: []float64{1}, NFeatures: 1}, false},
		{"both agree", &pb.PredictRequest{ModelBytes: model, ModelDigest: sum[:], Features: []float64{1}, NFeatures: 1}, false},
		{"digest mismatch", &pb.PredictRequest{ModelBytes: model, ModelDigest: make([]byte, 32), Features: []float64{1}, NFeatures: 1}, true},
		{"neither", &pb.PredictRequest{Features: []float64{1}, NFeatures: 1}, true},
		{"ragged rows", &pb.PredictRequest{ModelBytes: model, Features: []float64{1, 2, 3}, NFeatures: 2}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := predictRequestFromProto(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && got.ModelDigest != sum {
				t.Errorf("digest %x, want %x", got.ModelDigest, sum)
			}
		})
	}
}

func TestStatusMapping(t *testing.T) {
	for _, sentinel := range []error{ErrInvalid, errModelMissing, ErrInsufficientData} {
		if got := fromStatus(toStatus(sentinel)); !errors.Is(got, sentinel) {
			t.Errorf("%v did not survive the round trip: %v", sentinel, got)
		}
	}
	if got := fromStatus(toStatus(errors.New("boom"))); !errors.Is(got, ErrPlugin) || got.Error() != "boom" {
		t.Errorf("plain error: got %v", got)
	}
}
