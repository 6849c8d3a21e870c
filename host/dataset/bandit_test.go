package dataset

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/causalrec/causalrec/causal/ope"
)

const banditLog = `,timestamp,item_id,position,click,propensity_score,user_feature_0,aff
0,2019-11-24 00:03,2,1,0,0.5,a1,0.0
1,2019-11-24 00:04,10,2,1,0.25,b2,1.5
2,2019-11-24 00:05,2,2,0,0.5,a1,0.0
3,2019-11-24 00:06,10,1,1,0.5,c3,2.0
`

func mustFrame(t *testing.T, s string) *Frame {
	t.Helper()
	f, err := ReadCSV(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestBuildBanditLog(t *testing.T) {
	b, err := BuildBanditLog(mustFrame(t, banditLog), DefaultBanditSpec)
	if err != nil {
		t.Fatal(err)
	}
	l := b.Log
	if l.Actions != 2 || l.Positions != 2 || strings.Join(b.Actions, ",") != "2,10" || strings.Join(b.Positions, ",") != "1,2" {
		t.Fatalf("actions %v positions %v", b.Actions, b.Positions)
	}
	if got := strings.Join(b.Features, ","); got != "user_feature_0,aff" {
		t.Errorf("features %q, want user_feature_0,aff (no index, timestamp or roles)", got)
	}
	if l.Action[1] != 1 || l.Position[1] != 1 || l.Reward[1] != 1 || l.PScore[1] != 0.25 {
		t.Errorf("row 1: action %d position %d reward %v pscore %v", l.Action[1], l.Position[1], l.Reward[1], l.PScore[1])
	}
	if !l.Categorical[0] || l.Categorical[1] || l.Context.At(3, 0) != 2 || l.Context.At(1, 1) != 1.5 {
		t.Errorf("context %v categorical %v", l.Context, l.Categorical)
	}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestBuildBanditLogErrors(t *testing.T) {
	tests := []struct{ name, log, want string }{
		{"zero propensity", strings.Replace(banditLog, ",0.25,", ",0,", 1), "line 3: propensity 0 is outside (0, 1]"},
		{"propensity above 1", strings.Replace(banditLog, ",0.25,", ",1.5,", 1), "line 3: propensity 1.5"},
		{"propensity text", strings.Replace(banditLog, ",0.25,", ",abc,", 1), `line 3: propensity "abc" is not a number`},
		{"one action", strings.ReplaceAll(banditLog, ",10,", ",2,"), "holds one action"},
		{"no action column", strings.Replace(banditLog, "item_id", "item", 1), `action column "item_id" not found`},
		{"reward text", strings.Replace(banditLog, "2,1,0,0.5", "2,1,x,0.5", 1), `reward "x" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ReadCSV(strings.NewReader(tt.log))
			if err == nil {
				_, err = BuildBanditLog(f, DefaultBanditSpec)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestBanditPolicy(t *testing.T) {
	b, err := BuildBanditLog(mustFrame(t, banditLog), DefaultBanditSpec)
	if err != nil {
		t.Fatal(err)
	}
	pol, kind, err := b.Policy(mustFrame(t, "item_id,position,prob\n2,1,0.25\n10,1,0.75\n2,2,1\n10,2,0\n"), DefaultBanditSpec)
	if err != nil || kind != ContextFree {
		t.Fatalf("context-free: %v %v", kind, err)
	}
	// Row 1 is item 10 at position 2: probability 0; row 3 item 10 at 1: 0.75.
	if a, p := pol.Dist(3); len(a) != 2 || p[1] != 0.75 {
		t.Errorf("row 3: %v %v", a, p)
	}
	pol, kind, err = b.Policy(mustFrame(t, "round,item_id,position,prob\n0,2,1,1\n1,10,2,0.5\n1,2,2,0.5\n2,2,2,1\n3,10,1,1\n3,2,2,1\n"), DefaultBanditSpec)
	if err != nil || kind != PerRound {
		t.Fatalf("per round: %v %v", kind, err)
	}
	if a, p := pol.Dist(1); len(a) != 2 || a[0] != 0 || p[0] != 0.5 {
		t.Errorf("round 1: %v %v", a, p)
	}
	if a, _ := pol.Dist(3); len(a) != 1 || a[0] != 1 {
		t.Errorf("round 3 keeps only its logged position: %v", a)
	}
	res, err := ope.Evaluate(b.Log, pol, ope.Config{Estimators: []ope.Spec{{Name: ope.IPW}}}, rand.NewPCG(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	// w·r: row 1 (item 10 at 2, r=1, p=0.25): 0.5/0.25 = 2; row 3: 1/0.5 = 2.
	if v := res.Estimates[0].Value; math.Abs(v-1) > 1e-12 {
		t.Errorf("ipw %v, want (2 + 2)/4 = 1", v)
	}
}

func TestBanditPolicyErrors(t *testing.T) {
	b, err := BuildBanditLog(mustFrame(t, banditLog), DefaultBanditSpec)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, policy, want string }{
		{"sum", "item_id,position,prob\n2,1,0.25\n10,1,0.7\n2,2,1\n10,2,0\n", "position 1: probabilities sum to 0.95"},
		{"unknown item", "item_id,position,prob\n2,1,0.25\n10,1,0.75\n2,2,1\n99,2,0\n", `line 5: item "99" does not appear in the log`},
		{"unknown position", "item_id,position,prob\n2,1,0.25\n10,1,0.75\n2,3,1\n10,2,1\n", `line 4: position "3" does not appear in the log`},
		{"missing item", "item_id,position,prob\n2,1,1\n2,2,1\n", "item 10 of the log (line 3) is not in the policy"},
		{"twice", "item_id,position,prob\n2,1,0.25\n2,1,0.75\n10,1,0\n2,2,1\n10,2,0\n", "listed twice"},
		{"prob range", "item_id,position,prob\n2,1,1.25\n10,1,-0.25\n2,2,1\n10,2,0\n", "prob 1.25 is outside [0, 1]"},
		{"prob text", "item_id,position,prob\n2,1,x\n10,1,1\n2,2,1\n10,2,0\n", `prob "x" is not a number`},
		{"columns", "item,pos,p\n2,1,1\n", "want columns item_id,position,prob"},
		{"round beyond", "round,item_id,position,prob\n0,2,1,1\n1,2,2,1\n2,2,2,1\n3,2,1,1\n4,2,1,1\n", "round 4 exceeds the log's 4 rows"},
		{"round sum", "round,item_id,position,prob\n0,2,1,0.5\n1,2,2,1\n2,2,2,1\n3,2,1,1\n", "round 0, position 1: probabilities sum to 0.5"},
		{"round missing", "round,item_id,position,prob\n0,2,1,1\n1,2,2,1\n3,2,1,1\n", "round 2, position 2: no probabilities"},
		{"round other position sum", "round,item_id,position,prob\n0,2,1,1\n0,2,2,0.5\n1,2,2,1\n2,2,2,1\n3,2,1,1\n", "round 0, position 2: probabilities sum to 0.5"},
		{"round negative", "round,item_id,position,prob\n-1,2,1,1\n", "round -1 is not a row number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := b.Policy(mustFrame(t, tt.policy), DefaultBanditSpec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// FuzzBanditLog feeds arbitrary logs through the log reader: an error or
// a log that ope accepts.
func FuzzBanditLog(f *testing.F) {
	f.Add(banditLog)
	f.Add("item_id,position,click,propensity_score\n1,1,0,1\n2,1,1,0.5\n")
	f.Add("item_id,position,click,propensity_score,x\na,1,0,0.1,u\nb,2,1e-3,0.9,v\n")
	f.Fuzz(func(t *testing.T, in string) {
		fr, err := ReadCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		b, err := BuildBanditLog(fr, DefaultBanditSpec)
		if err != nil {
			return
		}
		if err := b.Log.Validate(); err != nil {
			t.Fatalf("BuildBanditLog accepted a log that ope rejects: %v", err)
		}
	})
}

// FuzzBanditPolicy feeds arbitrary policy files for a fixed log: an error
// or a policy that ope.Evaluate accepts.
func FuzzBanditPolicy(f *testing.F) {
	f.Add("item_id,position,prob\n2,1,0.25\n10,1,0.75\n2,2,1\n10,2,0\n")
	f.Add("round,item_id,position,prob\n0,2,1,1\n1,10,2,0.5\n1,2,2,0.5\n2,2,2,1\n3,10,1,1\n")
	f.Add("round,item_id,position,prob\n0,2,1,1\n1,2,2,1\n2,2,2,1\n3,2,1,1\n9,2,1,1\n")
	fr, err := ReadCSV(strings.NewReader(banditLog))
	if err != nil {
		f.Fatal(err)
	}
	b, err := BuildBanditLog(fr, DefaultBanditSpec)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		pf, err := ReadCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		pol, _, err := b.Policy(pf, DefaultBanditSpec)
		if err != nil {
			return
		}
		if _, err := ope.Evaluate(b.Log, pol, ope.Config{Estimators: []ope.Spec{{Name: ope.IPW}, {Name: ope.SNIPW}}}, rand.NewPCG(1, 1)); err != nil {
			t.Fatalf("Policy accepted a policy that ope rejects: %v", err)
		}
	})
}
