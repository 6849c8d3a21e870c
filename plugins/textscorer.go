package plugins

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/causalrec/causalrec/proto/causalrec/plugin/v1"
)

// TextScorer turns texts into named numeric features.
type TextScorer interface {
	Info(ctx context.Context, req InfoRequest) (TextScorerInfo, error)
	Score(ctx context.Context, req ScoreRequest) (ScoreResponse, error)
}

// InfoRequest asks a plugin to describe itself.
type InfoRequest struct{}

// TextScorerInfo describes a text scorer.
type TextScorerInfo struct {
	Name    string
	Version string
	// Features lists the feature names every successful score carries.
	Features []string
	// MaxTextBytes is the largest text the scorer accepts (0: no limit).
	MaxTextBytes int64
	// FeatureUses declares how the host may use each feature. A plugin
	// that leaves it empty (one built before it existed) gets the host's
	// rules for the built-in plugins by name.
	FeatureUses []FeatureUse
}

// FeatureUse says how the host may use one text feature.
type FeatureUse struct {
	Name string
	// UsesContext: the feature depends on the request's context texts
	// (such as a relevance to a user's history), so scores of requests
	// with context are not cached and the feature is no per-item feature.
	UsesContext bool
	// LogScale: the feature is on a multiplicative scale (such as a
	// perplexity), so models use its log10, named "log10_<name>".
	LogScale bool
}

// TextItem is one text to score.
type TextItem struct {
	ID   string
	Text string
}

// ScoreRequest is a batch of texts with optional shared context texts
// (such as a user's history).
type ScoreRequest struct {
	Items   []TextItem
	Context []string
}

// TextScore is the result for one item: its features, or a non-empty Err
// saying why it could not be scored.
type TextScore struct {
	ID       string
	Features map[string]float64
	Err      string
}

// ScoreResponse holds one TextScore per request item, in request order.
type ScoreResponse struct {
	Scores []TextScore
}

// CheckText returns a per-item error message for a text that cannot be
// scored (empty, not UTF-8, over maxBytes when maxBytes > 0), or "".
func CheckText(text string, maxBytes int64) string {
	switch {
	case text == "":
		return "empty text"
	case !utf8.ValidString(text):
		return "text is not valid UTF-8"
	case maxBytes > 0 && int64(len(text)) > maxBytes:
		return fmt.Sprintf("text is %d bytes, over the limit of %d", len(text), maxBytes)
	}
	return ""
}

// Chunk limits of Score batches on the wire.
const (
	scoreChunkItems = 512
	scoreChunkBytes = 1 << 20
)

// TextScorerPlugin is the go-plugin glue for TextScorer. Impl is set on the
// plugin side and nil on the host side.
type TextScorerPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	Impl TextScorer
}

var _ goplugin.GRPCPlugin = (*TextScorerPlugin)(nil)

// GRPCServer registers the server adapter.
func (p *TextScorerPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterTextScorerServer(s, &textScorerServer{impl: p.Impl})
	return nil
}

// GRPCClient returns the client adapter, a TextScorer.
func (p *TextScorerPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &TextScorerClient{client: pb.NewTextScorerClient(c)}, nil
}

// textScorerServer adapts a TextScorer to the gRPC service.
type textScorerServer struct {
	pb.UnimplementedTextScorerServer
	impl TextScorer
}

func (s *textScorerServer) Info(ctx context.Context, _ *pb.TextScorerInfoRequest) (*pb.TextScorerInfoResponse, error) {
	info, err := s.impl.Info(ctx, InfoRequest{})
	if err != nil {
		return nil, toStatus(err)
	}
	return textScorerInfoToProto(info), nil
}

func (s *textScorerServer) Score(ctx context.Context, req *pb.ScoreRequest) (*pb.ScoreResponse, error) {
	resp, err := s.impl.Score(ctx, scoreRequestFromProto(req))
	if err != nil {
		return nil, toStatus(err)
	}
	if len(resp.Scores) != len(req.GetItems()) {
		return nil, toStatus(fmt.Errorf("%w: scorer returned %d scores for %d items", ErrPlugin, len(resp.Scores), len(req.GetItems())))
	}
	return scoreResponseToProto(resp), nil
}

// TextScorerClient is the host-side TextScorer that talks to a plugin. It
// splits large batches into chunks below the transport's message limit.
type TextScorerClient struct {
	client pb.TextScorerClient
}

var _ TextScorer = (*TextScorerClient)(nil)

// Info implements TextScorer.
func (c *TextScorerClient) Info(ctx context.Context, _ InfoRequest) (TextScorerInfo, error) {
	resp, err := c.client.Info(ctx, &pb.TextScorerInfoRequest{})
	if err != nil {
		return TextScorerInfo{}, fromStatus(err)
	}
	return textScorerInfoFromProto(resp), nil
}

// Score implements TextScorer. Items whose id or text is not valid UTF-8
// cannot travel in a proto string; they get a per-item error here and are
// not sent. Invalid bytes in context texts are replaced with U+FFFD.
func (c *TextScorerClient) Score(ctx context.Context, req ScoreRequest) (ScoreResponse, error) {
	out := ScoreResponse{Scores: make([]TextScore, len(req.Items))}
	send := make([]TextItem, 0, len(req.Items))
	at := make([]int, 0, len(req.Items)) // at[k] is the request index of send[k]
	for i, it := range req.Items {
		if !utf8.ValidString(it.ID) || !utf8.ValidString(it.Text) {
			out.Scores[i] = TextScore{ID: strings.ToValidUTF8(it.ID, "\uFFFD"), Err: "text is not valid UTF-8"}
			continue
		}
		send = append(send, it)
		at = append(at, i)
	}
	context := make([]string, len(req.Context))
	ctxBytes := 0
	for i, t := range req.Context {
		context[i] = strings.ToValidUTF8(t, "\uFFFD")
		ctxBytes += len(context[i])
	}
	for start := 0; start < len(send); {
		end, size := start, ctxBytes
		for end < len(send) && end-start < scoreChunkItems && (end == start || size+len(send[end].Text) <= scoreChunkBytes) {
			size += len(send[end].Text)
			end++
		}
		chunk := ScoreRequest{Items: send[start:end], Context: context}
		resp, err := c.client.Score(ctx, scoreRequestToProto(chunk), grpc.MaxCallSendMsgSize(MaxMessageBytes), grpc.MaxCallRecvMsgSize(MaxMessageBytes))
		if err != nil {
			return ScoreResponse{}, fromStatus(err)
		}
		got := scoreResponseFromProto(resp)
		if len(got.Scores) != end-start {
			return ScoreResponse{}, fmt.Errorf("%w: plugin returned %d scores for %d items", ErrPlugin, len(got.Scores), end-start)
		}
		for k, s := range got.Scores {
			out.Scores[at[start+k]] = s
		}
		start = end
	}
	return out, nil
}
