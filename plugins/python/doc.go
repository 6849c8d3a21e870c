// Package python holds causalrec's plugin SDK for Python and an example
// text scorer written with it, proof that the plugin contract
// (proto/causalrec/plugin/v1) is language-neutral: the host loads a Python
// plugin exactly like a Go one, through hashicorp/go-plugin's handshake and
// gRPC with automatic mutual TLS.
//
// The package has no Go API. Its tests start the Python plugin under a
// pluginhost.Manager and check its scores; see README.md in this directory
// and the section "Writing a plugin in another language" of docs/plugins.md.
package python
