package main

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/causalrec/causalrec/causal/ope"
	"github.com/causalrec/causalrec/host/dataset"
)

const fuzzBanditLog = `,timestamp,item_id,position,click,propensity_score,user_feature_0,aff
0,2019-11-24 00:03,2,1,0,0.5,a1,0.0
1,2019-11-24 00:04,10,2,1,0.25,b2,1.5
2,2019-11-24 00:05,2,2,0,0.5,a1,0.0
3,2019-11-24 00:06,10,1,1,0.5,c3,2.0
`

// FuzzOPELog feeds arbitrary logs through the log reader: an error, or a
// log that causal/ope accepts.
func FuzzOPELog(f *testing.F) {
	f.Add(fuzzBanditLog)
	f.Add("item_id,position,click,propensity_score\n1,1,0,1\n2,1,1,0.5\n")
	f.Add("item_id,position,click,propensity_score,x\na,1,0,0.1,u\nb,2,1e-3,0.9,v\n")
	f.Fuzz(func(t *testing.T, in string) {
		fr, err := dataset.ReadCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		bl, err := dataset.BuildBanditLog(fr, dataset.DefaultBanditSpec)
		if err != nil {
			return
		}
		l, _, err := opeInput(bl, &dataset.BanditPolicy{Kind: dataset.ContextFree, Prob: uniform(len(bl.Positions), len(bl.Actions))})
		if err != nil {
			t.Fatalf("a uniform policy for an accepted log: %v", err)
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("BuildBanditLog accepted a log that ope rejects: %v", err)
		}
	})
}

// uniform is the uniform distribution over a actions at p positions.
func uniform(p, a int) [][]float64 {
	out := make([][]float64, p)
	for k := range out {
		out[k] = make([]float64, a)
		for j := range out[k] {
			out[k][j] = 1 / float64(a)
		}
	}
	return out
}

// FuzzOPEPolicy feeds arbitrary policy files for a fixed log: an error,
// or a policy that ope.Evaluate accepts.
func FuzzOPEPolicy(f *testing.F) {
	f.Add("item_id,position,prob\n2,1,0.25\n10,1,0.75\n2,2,1\n10,2,0\n")
	f.Add("round,item_id,position,prob\n0,2,1,1\n1,10,2,0.5\n1,2,2,0.5\n2,2,2,1\n3,10,1,1\n")
	f.Add("round,item_id,position,prob\n0,2,1,1\n1,2,2,1\n2,2,2,1\n3,2,1,1\n9,2,1,1\n")
	fr, err := dataset.ReadCSV(strings.NewReader(fuzzBanditLog))
	if err != nil {
		f.Fatal(err)
	}
	bl, err := dataset.BuildBanditLog(fr, dataset.DefaultBanditSpec)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		pf, err := dataset.ReadCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		bp, err := bl.Policy(pf, dataset.DefaultBanditSpec)
		if err != nil {
			return
		}
		l, pol, err := opeInput(bl, bp)
		if err != nil {
			t.Fatalf("Policy accepted a policy that ope rejects: %v", err)
		}
		if _, err := ope.Evaluate(l, pol, ope.Config{Estimators: []ope.Spec{{Name: ope.IPW}, {Name: ope.SNIPW}}}, rand.NewPCG(1, 1)); err != nil {
			t.Fatalf("Policy accepted a policy that ope rejects: %v", err)
		}
	})
}
