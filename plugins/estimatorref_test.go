package plugins

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParseEstimatorRef(t *testing.T) {
	tests := []struct {
		spec, plugin string
		want         EstimatorRef
		wantErr      string
	}{
		{spec: "t", plugin: "causal", want: EstimatorRef{Plugin: "causal", Estimator: "t", Params: map[string]string{}}},
		{spec: "t:base=gbt", plugin: "causal", want: EstimatorRef{Plugin: "causal", Estimator: "t", Params: map[string]string{"base": "gbt"}}},
		{spec: "x/gbt:depth=2", plugin: "causal", want: EstimatorRef{Plugin: "causal", Estimator: "x", Params: map[string]string{"base": "gbt", "depth": "2"}}},
		{spec: "py-sklearn:t", plugin: "causal", want: EstimatorRef{Plugin: "py-sklearn", Qualified: true, Estimator: "t", Params: map[string]string{}}},
		{spec: " py-sklearn:t:max_iter=50:task=auto", plugin: "", want: EstimatorRef{Plugin: "py-sklearn", Qualified: true, Estimator: "t", Params: map[string]string{"max_iter": "50", "task": "auto"}}},
		{spec: "causal:x/gbt", plugin: "other", want: EstimatorRef{Plugin: "causal", Qualified: true, Estimator: "x", Params: map[string]string{"base": "gbt"}}},
		{spec: "uplift-forest", plugin: "", want: EstimatorRef{Plugin: "", Estimator: "uplift-forest", Params: map[string]string{}}},
		{spec: ":t", wantErr: "empty plugin name"},
		{spec: "", wantErr: "want [plugin:]estimator"},
		{spec: "p:/gbt", wantErr: "want [plugin:]estimator"},
		{spec: "x/", wantErr: "want [plugin:]estimator"},
		{spec: "t:depth", plugin: "causal", want: EstimatorRef{Plugin: "t", Qualified: true, Estimator: "depth", Params: map[string]string{}}},
		{spec: "p:t:depth", wantErr: `"depth" is not name=value`},
		{spec: "p:t:depth=1:depth=2", wantErr: "given twice"},
		{spec: "x/gbt:base=linear", wantErr: "sets base twice"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseEstimatorRef(tt.spec, tt.plugin)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Spec != strings.TrimSpace(tt.spec) || got.Plugin != tt.want.Plugin || got.Qualified != tt.want.Qualified ||
				got.Estimator != tt.want.Estimator || !maps.Equal(got.Params, tt.want.Params) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzParseEstimatorRef checks that any name either parses into a
// non-empty estimator whose parts survive being written out again, or
// gives an error; it never panics.
func FuzzParseEstimatorRef(f *testing.F) {
	for _, s := range []string{"t", "x/gbt:depth=2", "py-sklearn:t:max_iter=50", ":t", "a:b:c=d:c=e", "p:/x", "t:=1", "::", "a/b/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		ref, err := ParseEstimatorRef(spec, "causal")
		if err != nil {
			return
		}
		if ref.Estimator == "" || ref.Plugin == "" || strings.Contains(ref.Estimator, ":") {
			t.Fatalf("%q parsed into %+v", spec, ref)
		}
		parts := []string{ref.Plugin, ref.Estimator}
		for _, k := range slices.Sorted(maps.Keys(ref.Params)) {
			parts = append(parts, k+"="+ref.Params[k])
		}
		again, err := ParseEstimatorRef(strings.Join(parts, ":"), "")
		if err != nil || again.Plugin != ref.Plugin || again.Estimator != ref.Estimator || !maps.Equal(again.Params, ref.Params) {
			t.Fatalf("%q: %+v written out as %q reads back as %+v, %v", spec, ref, strings.Join(parts, ":"), again, err)
		}
	})
}
