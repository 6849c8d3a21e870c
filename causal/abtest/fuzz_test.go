package abtest

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"testing"
)

// FuzzAnalyze builds arms from arbitrary bytes and checks that Analyze
// either refuses them with ErrInput or ErrEmptyArm, or returns a report
// whose probabilities are probabilities and which encodes to JSON: bad
// input must never panic the service nor break its report.
func FuzzAnalyze(f *testing.F) {
	f.Add([]byte{3, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47})
	f.Add([]byte{2, 2, 1, 0xff, 0xf0, 0, 0, 0, 0, 0, 0, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{2, 4, 3, 0x7f, 0xe0, 0, 0, 0, 0, 0, 0, 0x7f, 0xe0, 0, 0, 0, 0, 0, 1, 0xc0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		nArms := int(data[0]%4) + 1
		nUsers := int(data[1] % 8)
		flags := data[2]
		data = data[3:]
		next := func() float64 {
			if len(data) >= 8 {
				v := math.Float64frombits(binary.BigEndian.Uint64(data))
				data = data[8:]
				return v
			}
			if len(data) > 0 {
				v := float64(int8(data[0]))
				data = data[1:]
				return v
			}
			return 0
		}
		arms := make([]Arm, nArms)
		for j := range arms {
			arms[j] = Arm{Name: string(rune('a' + j)), Weight: 1 + float64(j), Exposures: j}
			n := nUsers + j%2
			for range n {
				arms[j].Y = append(arms[j].Y, next())
				if flags&1 != 0 {
					arms[j].Pre = append(arms[j].Pre, next())
				}
				if flags&2 != 0 {
					arms[j].Pred = append(arms[j].Pred, next())
				}
			}
		}
		rep, err := Analyze(arms, Config{})
		if err != nil {
			if !errors.Is(err, ErrInput) && !errors.Is(err, ErrEmptyArm) {
				t.Fatalf("error %v wraps neither ErrInput nor ErrEmptyArm", err)
			}
			return
		}
		prob := func(what string, p float64) {
			if !(p >= 0 && p <= 1) {
				t.Fatalf("%s = %v, not a probability", what, p)
			}
		}
		prob("srm p", rep.SRM.PValue)
		for _, c := range rep.Comparisons {
			prob("p", c.PValue)
			prob("holm p", c.PValueHolm)
			prob("sequential p", c.SequentialPValue)
			if !(c.CI[0] <= c.Lift && c.Lift <= c.CI[1]) || !(c.SequentialCI[0] <= c.CI[0] && c.CI[1] <= c.SequentialCI[1]) {
				t.Fatalf("intervals out of order: lift %v ci %v sequential %v", c.Lift, c.CI, c.SequentialCI)
			}
			for _, a := range []*Adjusted{c.CUPED, c.CUPAC} {
				if a != nil {
					prob("adjusted p", a.PValue)
				}
			}
		}
		if _, err := json.Marshal(rep); err != nil {
			t.Fatalf("report does not encode: %v", err)
		}
	})
}
