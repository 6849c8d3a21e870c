// Package python holds causalrec's plugin SDK for Python and two plugins
// written with it, a text scorer and an uplift estimator over scikit-learn,
// proof that the plugin contract (proto/causalrec/plugin/v1) is
// language-neutral: the host loads a Python plugin exactly like a Go one,
// through hashicorp/go-plugin's handshake and gRPC with automatic mutual
// TLS.
//
// The package has no Go API. Its tests start the Python plugins under a
// pluginhost.Manager and check their answers (the estimator's against
// scikit-learn called directly); see README.md in this directory and the
// sections "An uplift estimator in Python" and "Writing a plugin in another
// language" of docs/plugins.md.
package python
