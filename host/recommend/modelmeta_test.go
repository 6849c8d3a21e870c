package recommend

import (
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestModelMetaRoundTrip(t *testing.T) {
	m := ModelMeta{
		Features: featureSet{"u:age", featItemExposures}, Ranker: RankDLCE, Rows: 10, Treated: 6, Control: 4, Events: 13,
		Propensity: "logged", Period: 168 * time.Hour, Text: TextReport{Used: []string{"lm"}, Versions: map[string]string{"lm": "v1"}, Hits: 2},
		Defaults: map[string]float64{"u:age": 31.5}, Fit: map[string]string{"estimator": "dlce", "rows": "10"},
	}
	raw, err := m.encode()
	if err != nil {
		t.Fatal(err)
	}
	// The stored form: one key per field, the fit report under "fit.".
	want := map[string]string{
		"features": `["u:age","item_exposures_log"]`, "ranker": "dlce", "rows": "10", "treated": "6", "control": "4",
		"events": "13", "propensity": "logged", "period": "168h0m0s",
		"text": `{"used":["lm"],"versions":{"lm":"v1"},"cache_hits":2,"scored":0}`, "defaults": `{"u:age":31.5}`,
		"fit.estimator": "dlce", "fit.rows": "10",
	}
	if !maps.Equal(raw, want) {
		t.Errorf("encode:\n got %v\nwant %v", raw, want)
	}
	back, err := decodeModelMeta(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("decode(encode(m)) = %+v, want %+v", back, m)
	}
}

// TestModelMetaStoredBefore decodes the metadata of models stored by
// earlier releases, and refuses broken metadata.
func TestModelMetaStoredBefore(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  map[string]string
		want ModelMeta
		err  string
	}{
		{"features only (before rankers)", map[string]string{"features": `["a"]`},
			ModelMeta{Features: featureSet{"a"}, Ranker: RankUplift}, ""},
		{"outcome ranker of 0.1.0", map[string]string{"features": `["a"]`, "ranker": "outcome", "rows": "2", "period": "0s", "text": `{"cache_hits":0,"scored":0}`},
			ModelMeta{Features: featureSet{"a"}, Ranker: RankOutcome, Rows: 2}, ""},
		{"no features", map[string]string{"ranker": "dlce"}, ModelMeta{}, "no feature list"},
		{"bad count", map[string]string{"features": `[]`, "rows": "many"}, ModelMeta{}, `rows "many"`},
		{"bad period", map[string]string{"features": `[]`, "period": "weekly"}, ModelMeta{}, `period "weekly"`},
		{"bad text", map[string]string{"features": `[]`, "text": `{`}, ModelMeta{}, "text metadata"},
		{"bad defaults", map[string]string{"features": `[]`, "defaults": `[1]`}, ModelMeta{}, "feature defaults"},
	} {
		got, err := decodeModelMeta(tc.raw)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !reflect.DeepEqual(got, tc.want):
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
