package dataset

import (
	"strings"
	"testing"
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
	l := b
	if strings.Join(b.Actions, ",") != "2,10" || strings.Join(b.Positions, ",") != "1,2" {
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
	pol, err := b.Policy(mustFrame(t, "item_id,position,prob\n2,1,0.25\n10,1,0.75\n2,2,1\n10,2,0\n"), DefaultBanditSpec)
	if err != nil || pol.Kind != ContextFree {
		t.Fatalf("context-free: %+v %v", pol, err)
	}
	// Position 1 (index 0): item 2 (index 0) 0.25, item 10 0.75.
	if p := pol.Prob; len(p) != 2 || p[0][0] != 0.25 || p[0][1] != 0.75 || p[1][0] != 1 || p[1][1] != 0 {
		t.Errorf("context-free probabilities %v", p)
	}
	pol, err = b.Policy(mustFrame(t, "round,item_id,position,prob\n0,2,1,1\n1,10,2,0.5\n1,2,2,0.5\n2,2,2,1\n3,10,1,1\n3,2,2,1\n"), DefaultBanditSpec)
	if err != nil || pol.Kind != PerRound {
		t.Fatalf("per round: %+v %v", pol, err)
	}
	// Round 1 lists both items (sorted by index); round 3 keeps only its
	// logged position 1, item 10.
	if s := pol.Start; len(s) != 5 || s[1] != 1 || s[2] != 3 || s[4] != 5 {
		t.Fatalf("per-round rows %v", s)
	}
	if pol.Action[1] != 0 || pol.RowProb[1] != 0.5 || pol.Action[4] != 1 || pol.RowProb[4] != 1 {
		t.Errorf("per-round entries %v %v", pol.Action, pol.RowProb)
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
			_, err := b.Policy(mustFrame(t, tt.policy), DefaultBanditSpec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
