package plugins

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"sync"
	"sync/atomic"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/causalrec/causalrec/proto/causalrec/plugin/v1"
)

// Estimator fits uplift models and applies them.
type Estimator interface {
	Info(ctx context.Context, req InfoRequest) (EstimatorInfo, error)
	Fit(ctx context.Context, req FitRequest) (FitResponse, error)
	Predict(ctx context.Context, req PredictRequest) (PredictResponse, error)
}

// EstimatorInfo describes an estimator plugin.
type EstimatorInfo struct {
	Name    string
	Version string
	// Estimators lists the estimator names Fit accepts.
	Estimators []string
	// Capabilities: "multi_arm", "categorical", "weights", "propensity",
	// "intervals".
	Capabilities []string
	Params       []ParamSpec
}

// ParamSpec documents one parameter an estimator accepts.
type ParamSpec struct {
	Name        string
	Type        string // "int", "float", "string", "bool" or "enum"
	Default     string
	Description string
	Allowed     []string
}

// FeatureKind says how a feature column is encoded.
type FeatureKind int

// Feature kinds.
const (
	Numeric FeatureKind = iota + 1
	// Categorical values are level indexes 0, 1, 2, ... into Levels.
	Categorical
)

// Feature describes one feature column.
type Feature struct {
	Name   string
	Kind   FeatureKind
	Levels []string
}

// FitRequest is the training data and settings of one fit.
type FitRequest struct {
	Estimator string
	Params    map[string]string
	Features  []Feature
	// Arms names the arms; Arms[0] is control.
	Arms []string
	Seed uint64
	// X holds len(Arm) rows of len(Features) values, row-major.
	X []float64
	// FillX, when set and X is nil, stands for X: it writes rows [start,
	// end) into dst, which holds (end-start)·len(Features) values. The
	// client (EstimatorClient.Fit) calls it for each chunk of rows as it
	// sends them, so that a caller with a large table need not hold its
	// float64 values whole; a plugin always receives X. See WithX.
	FillX func(dst []float64, start, end int) `json:"-"`
	// Arm is each row's index into Arms.
	Arm     []int
	Outcome []float64
	// Weight and Propensity are optional (nil or one per row).
	Weight     []float64
	Propensity []float64
	// Progress, when set, is told how far the fit has got: done of total
	// steps, total 0 when unknown. On the host side EstimatorClient.Fit
	// then calls the plugin's FitStream and passes on its reports, in
	// order, from the calling goroutine; a plugin built without FitStream
	// reports nothing and the fit goes on as without Progress. On the
	// plugin side the SDK sets it for a FitStream call and leaves it nil
	// for a Fit call: an implementation may call it from any goroutine, as
	// often as it likes (the SDK sends the latest report and drops the
	// ones the host has not taken yet), or never. See docs/plugins.md.
	Progress func(done, total int) `json:"-"`
	// ModelOnly says the caller uses only FitResponse.Model (a
	// cross-fitting fold's fit, say): the plugin may leave out what it
	// computes only to report (the ATE, diagnostics in Metadata). A plugin
	// may ignore it.
	ModelOnly bool
}

// Rows returns the number of training rows.
func (r FitRequest) Rows() int { return len(r.Arm) }

// WithX returns r with X filled in from FillX when X is nil (and r as it
// is otherwise), for the callers that need the whole matrix.
func (r FitRequest) WithX() FitRequest {
	if r.X != nil || r.FillX == nil {
		return r
	}
	r.X = make([]float64, r.Rows()*len(r.Features))
	r.FillX(r.X, 0, r.Rows())
	r.FillX = nil
	return r
}

// Validate checks that the lengths agree and the arms are in range.
func (r FitRequest) Validate() error {
	n, d := len(r.Arm), len(r.Features)
	switch {
	case len(r.Arms) < 2:
		return fmt.Errorf("%w: need a control arm and at least one treated arm, got %d arms", ErrInvalid, len(r.Arms))
	case d == 0:
		return fmt.Errorf("%w: no features", ErrInvalid)
	case (r.X != nil || r.FillX == nil) && len(r.X) != n*d:
		return fmt.Errorf("%w: %d feature values for %d rows of %d features", ErrInvalid, len(r.X), n, d)
	case len(r.Outcome) != n:
		return fmt.Errorf("%w: %d outcomes for %d rows", ErrInvalid, len(r.Outcome), n)
	case r.Weight != nil && len(r.Weight) != n:
		return fmt.Errorf("%w: %d weights for %d rows", ErrInvalid, len(r.Weight), n)
	case r.Propensity != nil && len(r.Propensity) != n:
		return fmt.Errorf("%w: %d propensities for %d rows", ErrInvalid, len(r.Propensity), n)
	}
	for i, a := range r.Arm {
		if a < 0 || a >= len(r.Arms) {
			return fmt.Errorf("%w: row %d: arm index %d out of range [0,%d)", ErrInvalid, i, a, len(r.Arms))
		}
	}
	return nil
}

// FitResponse is a fitted model.
type FitResponse struct {
	Model    []byte
	Metadata map[string]string
	// ATE and ATESE give, per treated arm, the average effect and its
	// standard error when the estimator reports them.
	ATE   []float64
	ATESE []float64
}

// PredictRequest applies a model to rows.
type PredictRequest struct {
	Model []byte
	// ModelDigest is the sha256 of Model. The SDK fills it on both sides;
	// implementations may use it as the key of a cache of decoded models.
	ModelDigest [32]byte
	// X holds rows of NFeatures values, row-major.
	X         []float64
	NFeatures int
	// IntervalLevel, when positive, asks for confidence intervals.
	IntervalLevel float64
}

// Rows returns the number of rows to predict.
func (r PredictRequest) Rows() int {
	if r.NFeatures <= 0 {
		return 0
	}
	return len(r.X) / r.NFeatures
}

// PredictResponse holds rows × len(Arms) effects, row-major, for the
// treated arms; Lower and Upper are set when intervals were asked for and
// the estimator gives them.
type PredictResponse struct {
	Effects []float64
	Arms    []string
	Lower   []float64
	Upper   []float64
}

// Chunk limits of rows on the wire.
const rowChunkBytes = 2 << 20

func rowsPerChunk(d int) int {
	r := rowChunkBytes / (8 * (d + 4))
	if r < 1 {
		r = 1
	}
	return r
}

// EstimatorPlugin is the go-plugin glue for Estimator. Impl is set on the
// plugin side and nil on the host side.
type EstimatorPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	Impl Estimator
}

var _ goplugin.GRPCPlugin = (*EstimatorPlugin)(nil)

// GRPCServer registers the server adapter.
func (p *EstimatorPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterUpliftEstimatorServer(s, &estimatorServer{impl: p.Impl, models: newModelStore(8)})
	return nil
}

// GRPCClient returns the client adapter, an Estimator.
func (p *EstimatorPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &EstimatorClient{client: pb.NewUpliftEstimatorClient(c), digests: newDigestMemo()}, nil
}

// estimatorServer adapts an Estimator to the gRPC service. It keeps the
// model bytes of recent Predict calls by digest so the host need not send
// them every time.
type estimatorServer struct {
	pb.UnimplementedUpliftEstimatorServer
	impl   Estimator
	models *modelStore
}

func (s *estimatorServer) Info(ctx context.Context, _ *pb.EstimatorInfoRequest) (*pb.EstimatorInfoResponse, error) {
	info, err := s.impl.Info(ctx, InfoRequest{})
	if err != nil {
		return nil, toStatus(err)
	}
	return estimatorInfoToProto(info), nil
}

func (s *estimatorServer) Fit(stream grpc.ClientStreamingServer[pb.FitRequest, pb.FitResponse]) error {
	req, err := recvFitRequest(stream.Recv, nil)
	if err != nil {
		return err
	}
	resp, err := s.fit(stream.Context(), req)
	if err != nil {
		return err
	}
	return stream.SendAndClose(fitResponseToProto(resp))
}

// recvFitRequest reads a Fit stream (a header, then chunks of rows) into
// a validated request; onHeader, when set, is called once the header has
// arrived. Its errors are gRPC statuses.
func recvFitRequest(recv func() (*pb.FitRequest, error), onHeader func() error) (FitRequest, error) {
	var req FitRequest
	first := true
	for {
		msg, err := recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return FitRequest{}, err
		}
		if first {
			if msg.GetHeader() == nil {
				return FitRequest{}, toStatus(fmt.Errorf("%w: the first Fit message must carry the header", ErrInvalid))
			}
			req = fitHeaderFromProto(msg.GetHeader())
			first = false
			if onHeader != nil {
				if err := onHeader(); err != nil {
					return FitRequest{}, err
				}
			}
		}
		if err := appendRowChunk(&req, msg.GetRows()); err != nil {
			return FitRequest{}, toStatus(err)
		}
	}
	if first {
		return FitRequest{}, toStatus(fmt.Errorf("%w: empty Fit stream", ErrInvalid))
	}
	if err := req.Validate(); err != nil {
		return FitRequest{}, toStatus(err)
	}
	return req, nil
}

// fit runs the implementation's Fit and keeps the new model. Its errors
// are gRPC statuses.
func (s *estimatorServer) fit(ctx context.Context, req FitRequest) (FitResponse, error) {
	resp, err := s.impl.Fit(ctx, req)
	if err != nil {
		return FitResponse{}, toStatus(err)
	}
	// Keep the new model: the Predict calls that follow a fit then carry
	// its digest only, instead of being refused and sent again, rows and
	// all, with the model's bytes.
	if len(resp.Model) > 0 {
		s.models.put(sha256.Sum256(resp.Model), resp.Model)
	}
	return resp, nil
}

func (s *estimatorServer) Predict(ctx context.Context, in *pb.PredictRequest) (*pb.PredictResponse, error) {
	req, err := predictRequestFromProto(in)
	if err != nil {
		return nil, toStatus(err)
	}
	if req.Model == nil {
		m, ok := s.models.get(req.ModelDigest)
		if !ok {
			return nil, toStatus(fmt.Errorf("%w: digest %x", errModelMissing, req.ModelDigest[:8]))
		}
		req.Model = m
	} else {
		s.models.put(req.ModelDigest, req.Model)
	}
	resp, err := s.impl.Predict(ctx, req)
	if err != nil {
		return nil, toStatus(err)
	}
	return predictResponseToProto(resp), nil
}

// EstimatorClient is the host-side Estimator that talks to a plugin. It
// streams training rows in chunks and sends a model's bytes only when the
// plugin does not hold them yet. It remembers the sha256 digests of the
// models it predicted with recently, so a call with the same model bytes
// (one row a call, say) does not hash them again.
type EstimatorClient struct {
	client  pb.UpliftEstimatorClient
	digests *digestMemo
	// noFitStream is set once the plugin answered FitStream with
	// UNIMPLEMENTED.
	noFitStream atomic.Bool
}

var _ Estimator = (*EstimatorClient)(nil)

// Info implements Estimator.
func (c *EstimatorClient) Info(ctx context.Context, _ InfoRequest) (EstimatorInfo, error) {
	resp, err := c.client.Info(ctx, &pb.EstimatorInfoRequest{})
	if err != nil {
		return EstimatorInfo{}, fromStatus(err)
	}
	return estimatorInfoFromProto(resp), nil
}

// Fit implements Estimator. With req.Progress set it calls the plugin's
// FitStream, and Fit when the plugin answers that it has none (a plugin
// built before FitStream; the client remembers and calls Fit from then
// on).
func (c *EstimatorClient) Fit(ctx context.Context, req FitRequest) (FitResponse, error) {
	if err := req.Validate(); err != nil {
		return FitResponse{}, err
	}
	if req.Progress != nil && !c.noFitStream.Load() {
		resp, err := c.fitStream(ctx, req)
		if !errors.Is(err, errNoFitStream) {
			return resp, err
		}
		c.noFitStream.Store(true)
	}
	stream, err := c.client.Fit(ctx, grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes))
	if err != nil {
		return FitResponse{}, fromStatus(err)
	}
	n, per := req.Rows(), rowsPerChunk(len(req.Features))
	header := fitHeaderToProto(req)
	for start := 0; start < n || start == 0; start += per {
		end := min(start+per, n)
		msg := &pb.FitRequest{Rows: rowChunkToProto(req, start, end)}
		if start == 0 {
			msg.Header = header
		}
		if err := stream.Send(msg); err != nil {
			if errors.Is(err, io.EOF) {
				break // the server closed the stream; CloseAndRecv has its status
			}
			return FitResponse{}, fromStatus(err)
		}
		if n == 0 {
			break
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return FitResponse{}, fromStatus(err)
	}
	return fitResponseFromProto(resp), nil
}

// Predict implements Estimator. Large batches are split into chunks that
// are sent concurrently.
func (c *EstimatorClient) Predict(ctx context.Context, req PredictRequest) (PredictResponse, error) {
	if req.NFeatures <= 0 || len(req.X)%req.NFeatures != 0 {
		return PredictResponse{}, fmt.Errorf("%w: %d values are not rows of %d features", ErrInvalid, len(req.X), req.NFeatures)
	}
	req.ModelDigest = c.digests.sum(req.Model)
	n, per := req.Rows(), rowsPerChunk(req.NFeatures)
	if n <= per {
		return c.predictChunk(ctx, req)
	}
	type part struct {
		resp PredictResponse
		err  error
	}
	parts := make([]part, (n+per-1)/per)
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := range parts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			sub := req
			start, end := i*per, min((i+1)*per, n)
			sub.X = req.X[start*req.NFeatures : end*req.NFeatures]
			parts[i].resp, parts[i].err = c.predictChunk(ctx, sub)
		}()
	}
	wg.Wait()
	var out PredictResponse
	for _, p := range parts {
		if p.err != nil {
			return PredictResponse{}, p.err
		}
		out.Arms = p.resp.Arms
		out.Effects = append(out.Effects, p.resp.Effects...)
		out.Lower = append(out.Lower, p.resp.Lower...)
		out.Upper = append(out.Upper, p.resp.Upper...)
	}
	return out, nil
}

func (c *EstimatorClient) predictChunk(ctx context.Context, req PredictRequest) (PredictResponse, error) {
	opts := []grpc.CallOption{grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)}
	in := predictRequestToProto(req, false)
	resp, err := c.client.Predict(ctx, in, opts...)
	if err != nil && errors.Is(fromStatus(err), errModelMissing) {
		resp, err = c.client.Predict(ctx, predictRequestToProto(req, true), opts...)
	}
	if err != nil {
		return PredictResponse{}, fromStatus(err)
	}
	out := predictResponseFromProto(resp)
	if rows := req.Rows(); len(out.Effects) != rows*len(out.Arms) {
		return PredictResponse{}, fmt.Errorf("%w: plugin returned %d effects for %d rows of %d arms", ErrPlugin, len(out.Effects), rows, len(out.Arms))
	}
	return out, nil
}

// modelStore keeps the bytes of the most recently used models by digest.
type modelStore struct {
	mu    sync.Mutex
	max   int
	order [][32]byte
	data  map[[32]byte][]byte
}

func newModelStore(max int) *modelStore {
	return &modelStore{max: max, data: make(map[[32]byte][]byte)}
}

func (m *modelStore) get(d [32]byte) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.data[d]
	return b, ok
}

func (m *modelStore) put(d [32]byte, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.data[d]; ok {
		return
	}
	if len(m.order) >= m.max {
		delete(m.data, m.order[0])
		m.order = m.order[1:]
	}
	m.order = append(m.order, d)
	m.data[d] = b
}

// digestMemoSize is the number of model digests a digestMemo keeps.
const digestMemoSize = 16

// digestMemo remembers the sha256 of recently predicted models, keyed by a
// fast keyed hash of the bytes (hash/maphash with a random per-process
// seed) and their length, so a Predict call hashes the model at memory
// speed instead of computing its sha256 again. It is keyed by content, so
// a model changed in place gets a new digest.
type digestMemo struct {
	seed maphash.Seed
	mu   sync.Mutex
	m    map[digestKey][32]byte
}

type digestKey struct {
	h uint64
	n int
}

func newDigestMemo() *digestMemo {
	return &digestMemo{seed: maphash.MakeSeed(), m: make(map[digestKey][32]byte, digestMemoSize)}
}

// sum returns the sha256 of b.
func (d *digestMemo) sum(b []byte) [32]byte {
	if d == nil {
		return sha256.Sum256(b)
	}
	k := digestKey{h: maphash.Bytes(d.seed, b), n: len(b)}
	d.mu.Lock()
	s, ok := d.m[k]
	d.mu.Unlock()
	if ok {
		return s
	}
	s = sha256.Sum256(b)
	d.mu.Lock()
	if len(d.m) >= digestMemoSize {
		clear(d.m)
	}
	d.m[k] = s
	d.mu.Unlock()
	return s
}
