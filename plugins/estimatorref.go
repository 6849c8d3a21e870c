package plugins

import (
	"fmt"
	"strings"
)

// EstimatorRef is an estimator as commands, the API and configs name it:
//
//	[plugin:]estimator[/base][:name=value...]
//
// The first part names a plugin when a second part follows that is not a
// name=value parameter: "t", "t:base=gbt" and "x/gbt:depth=2" are
// estimators of the default plugin (the built-in "causal" unless the
// caller says otherwise), "py-sklearn:t" and "py-sklearn:t:max_iter=50"
// the estimator t of the plugin py-sklearn. "/base" is short for the
// parameter base=base.
type EstimatorRef struct {
	// Spec is the name as written, without surrounding space.
	Spec string
	// Plugin is the named plugin, or the default one when the name is
	// not qualified.
	Plugin string
	// Qualified says the name carried its plugin.
	Qualified bool
	Estimator string
	// Params holds the name's parameters (never nil).
	Params map[string]string
}

// ParseEstimatorRef reads spec, with defaultPlugin for unqualified names.
func ParseEstimatorRef(spec, defaultPlugin string) (EstimatorRef, error) {
	spec = strings.TrimSpace(spec)
	ref := EstimatorRef{Spec: spec, Plugin: defaultPlugin, Params: map[string]string{}}
	parts := strings.Split(spec, ":")
	if len(parts) >= 2 && !strings.Contains(parts[1], "=") {
		ref.Plugin, ref.Qualified, parts = strings.TrimSpace(parts[0]), true, parts[1:]
		if ref.Plugin == "" {
			return EstimatorRef{}, fmt.Errorf("estimator %q: empty plugin name before the colon", spec)
		}
	}
	est, base, hasBase := strings.Cut(parts[0], "/")
	est, base = strings.TrimSpace(est), strings.TrimSpace(base)
	if est == "" || (hasBase && base == "") || strings.Contains(est, "=") {
		return EstimatorRef{}, fmt.Errorf("estimator %q: want [plugin:]estimator[/base][:name=value...]", spec)
	}
	ref.Estimator = est
	if hasBase {
		ref.Params["base"] = base
	}
	for i, kv := range parts[1:] {
		name, value, ok := strings.Cut(kv, "=")
		name = strings.TrimSpace(name)
		switch {
		case !ok:
			return EstimatorRef{}, fmt.Errorf("estimator %q: parameter %d %q is not name=value", spec, i+1, kv)
		case name == "":
			return EstimatorRef{}, fmt.Errorf("estimator %q: parameter %d %q has an empty name", spec, i+1, kv)
		}
		if _, dup := ref.Params[name]; dup {
			if name == "base" && hasBase {
				return EstimatorRef{}, fmt.Errorf("estimator %q sets base twice", spec)
			}
			return EstimatorRef{}, fmt.Errorf("estimator %q: parameter %q given twice", spec, name)
		}
		ref.Params[name] = strings.TrimSpace(value)
	}
	return ref, nil
}
