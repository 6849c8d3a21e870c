package recommend

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/causalrec/causalrec/plugins"
)

func TestSampleTable(t *testing.T) {
	tab := &Table{Features: featureSet{"a", "b"}}
	for i := range 10 {
		tab.Request.X = append(tab.Request.X, float64(i), float64(10*i))
		tab.Request.Arm = append(tab.Request.Arm, i%2)
		tab.Request.Outcome = append(tab.Request.Outcome, float64(i%3))
		tab.Request.Propensity = append(tab.Request.Propensity, 0.5)
		tab.Items = append(tab.Items, "i"+string(rune('0'+i)))
	}
	tab.Request.Features = []plugins.Feature{{Name: "a"}, {Name: "b"}}
	for _, tc := range []struct{ n, want int }{{4, 4}, {10, 10}, {20, 10}} {
		s := sampleTable(tab, tc.n, 7)
		if s.Rows() != tc.want || s.TableRows != 10 {
			t.Fatalf("n %d: %d rows of %d, want %d of 10", tc.n, s.Rows(), s.TableRows, tc.want)
		}
		last := -1.0
		for r := range s.Rows() {
			i := s.X[2*r]
			if i <= last || s.X[2*r+1] != 10*i || s.Arm[r] != int(i)%2 || s.Outcome[r] != float64(int(i)%3) || s.Items[r] != "i"+string(rune('0'+int(i))) {
				t.Errorf("n %d: row %d is not table row %v in order: %+v", tc.n, r, i, s)
			}
			last = i
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeTrainingSample(b)
		if err != nil || back.Rows() != s.Rows() || len(back.Propensity) != s.Rows() {
			t.Errorf("n %d: decoded %+v, %v", tc.n, back, err)
		}
	}
	for _, bad := range []struct{ json, msg string }{
		{`{`, "training sample"},
		{`{"features":[],"x":[],"arm":[],"outcome":[]}`, "no features"},
		{`{"features":["a"],"x":[1,2],"arm":[0],"outcome":[1]}`, "2 values"},
		{`{"features":["a"],"x":[1],"arm":[0],"outcome":[1],"items":["x","y"]}`, "2 items"},
		{`{"features":["a"],"x":[1],"arm":[2],"outcome":[1]}`, "arm 2"},
	} {
		if _, err := DecodeTrainingSample([]byte(bad.json)); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("%s: %v, want %q", bad.json, err, bad.msg)
		}
	}
}

// FuzzDecodeTrainingSample: a stored sample that decodes has parts that
// agree, whatever the bytes.
func FuzzDecodeTrainingSample(f *testing.F) {
	f.Add([]byte(`{"features":["a","b"],"table_rows":9,"x":[1,2,3,4],"arm":[0,1],"outcome":[0,1],"propensity":[0.5,0.5],"items":["i","j"]}`))
	f.Add([]byte(`{"features":["a"],"x":[1],"arm":[0],"outcome":[1]}`))
	f.Add([]byte(`{"features":["a"],"x":[1,2],"arm":[0],"outcome":[1]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeTrainingSample(b)
		if err != nil {
			return
		}
		n := s.Rows()
		if len(s.Features) == 0 || len(s.X) != n*len(s.Features) || len(s.Outcome) != n ||
			(s.Propensity != nil && len(s.Propensity) != n) || (s.Items != nil && len(s.Items) != n) || slices.ContainsFunc(s.Arm, func(a int) bool { return a != 0 && a != 1 }) {
			t.Fatalf("decoded an inconsistent sample: %+v", s)
		}
	})
}
