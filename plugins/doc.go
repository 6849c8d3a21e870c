// Package plugins is causalrec's plugin SDK: the plain Go interfaces a plugin
// implements (TextScorer, Estimator), the go-plugin glue that carries them
// over gRPC, and Serve, which turns one Go value into a plugin program:
//
//	func main() {
//		plugins.Serve(plugins.Set{Estimator: myEstimator{}})
//	}
//
// The interfaces use only Go types; the gRPC contract in
// proto/causalrec/plugin/v1 is converted at the edges by the adapters in this
// package. Every method takes the caller's context, and the adapters carry
// its deadline and cancellation across the process boundary.
package plugins
