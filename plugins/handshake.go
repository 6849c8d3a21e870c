package plugins

import (
	"os/exec"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// ProtocolVersion is the plugin protocol this SDK speaks. It equals the
// version suffix of the proto package causalrec.plugin.v1.
const ProtocolVersion = 1

// Plugin kinds, as named in configuration files and in the go-plugin plugin
// map.
const (
	KindTextScorer = "text_scorer"
	KindEstimator  = "uplift_estimator"
)

// Handshake is the go-plugin handshake shared by the host and every plugin.
// The magic cookie only keeps a plugin binary from being run by hand; it is
// not a security measure.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "CAUSALREC_PLUGIN",
	MagicCookieValue: "b4c9e1f2-causalrec-plugin",
}

// MaxMessageBytes is the gRPC message limit both sides set. Rows and texts
// are sent in chunks far below it; it bounds saved models.
const MaxMessageBytes = 512 << 20

// VersionedPlugins returns the go-plugin plugin sets by protocol version for
// the given implementations (nil ones are left out). The host passes a Set
// with zero values to get the client side.
func VersionedPlugins(s Set) map[int]goplugin.PluginSet {
	ps := goplugin.PluginSet{}
	if s.TextScorer != nil || s.clientSide {
		ps[KindTextScorer] = &TextScorerPlugin{Impl: s.TextScorer}
	}
	if s.Estimator != nil || s.clientSide {
		ps[KindEstimator] = &EstimatorPlugin{Impl: s.Estimator}
	}
	return map[int]goplugin.PluginSet{ProtocolVersion: ps}
}

// ClientPlugins is the plugin map a host uses to dispense any kind.
func ClientPlugins() map[int]goplugin.PluginSet {
	return VersionedPlugins(Set{clientSide: true})
}

// ClientConfig returns how a host runs the plugin program cmd: the
// handshake, the plugin map of ClientPlugins, gRPC only, mutual TLS and the
// message limit, with the plugin's log lines going to logger.
func ClientConfig(cmd *exec.Cmd, logger hclog.Logger) *goplugin.ClientConfig {
	return &goplugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: ClientPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           logger,
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes))},
	}
}

// Set names the implementations one plugin program serves.
type Set struct {
	TextScorer TextScorer
	Estimator  Estimator

	clientSide bool
}
