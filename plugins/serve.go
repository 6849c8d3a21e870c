package plugins

import (
	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Serve runs the implementations in s as a plugin program and returns when
// the host ends it. It is meant to be the whole body of a plugin's main.
// Logs written with the returned value of Logger reach the host's log.
func Serve(s Set) {
	goplugin.Serve(ServeConfig(s))
}

// ServeConfig is the go-plugin configuration Serve uses, for tests and for
// programs that need to adjust it.
func ServeConfig(s Set) *goplugin.ServeConfig {
	return &goplugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: VersionedPlugins(s),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes))
			return grpc.NewServer(opts...)
		},
		Logger: Logger(),
	}
}

// Logger returns a logger for plugin code: it writes JSON lines to stderr,
// which the host reads and routes into its own structured log.
func Logger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "plugin", JSONFormat: true, Level: hclog.Info})
}
