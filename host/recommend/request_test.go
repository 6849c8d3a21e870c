package recommend

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestRequestValidate(t *testing.T) {
	for _, tc := range []struct {
		req  Request
		want string // "" for a valid request
	}{
		{Request{User: "u"}, ""},
		{Request{User: "u", K: MaxK, Policy: PolicyEpsilonGreedy, Epsilon: 1}, ""},
		{Request{User: "u", Policy: PolicyPlackettLuce, Temperature: 0.5, IntervalLevel: 0.9}, ""},
		{Request{}, "user is required"},
		{Request{User: "u", K: -1}, "k=-1"},
		{Request{User: "u", K: MaxK + 1}, "k=201"},
		{Request{User: "u", Candidates: make([]string, MaxCandidates+1)}, "at most 1000"},
		{Request{User: "u", Policy: "softmax"}, "unknown policy"},
		{Request{User: "u", Policy: PolicyEpsilonGreedy}, "epsilon in (0, 1]"},
		{Request{User: "u", Policy: PolicyPlackettLuce, Temperature: -1}, "positive temperature"},
		{Request{User: "u", Policy: PolicyPlackettLuce, Temperature: math.Inf(1)}, "positive temperature"},
		{Request{User: "u", RelevanceWeight: math.NaN()}, "relevance_weight"},
		{Request{User: "u", IntervalLevel: 1.5}, "interval_level"},
		{Request{User: "u", MaxPerCategory: -2}, "max_per_category"},
		{Request{User: "u", RequestID: "6b0a1f5e-1111-4222-8333-944445555666"}, ""},
		{Request{User: "u", RequestID: "r-1"}, "request_id \"r-1\" is not a UUID"},
	} {
		before := tc.req
		err := tc.req.validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v, want valid", tc.req, err)
		case tc.want != "" && (!errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want ErrBadRequest saying %q", tc.req, err, tc.want)
		}
		if tc.req.K != before.K || tc.req.Policy != before.Policy {
			t.Errorf("validate changed the request: %+v", tc.req)
		}
	}
}

func TestRequestDefaults(t *testing.T) {
	for _, tc := range []struct {
		req, want Request
	}{
		{Request{User: "u"}, Request{User: "u", K: defaultK, Policy: PolicyGreedy}},
		{Request{User: "u", K: 3, Policy: PolicyPlackettLuce}, Request{User: "u", K: 3, Policy: PolicyPlackettLuce}},
	} {
		if got := tc.req.withDefaults(); got.K != tc.want.K || got.Policy != tc.want.Policy {
			t.Errorf("withDefaults(%+v) = %+v, want %+v", tc.req, got, tc.want)
		}
	}
}

func TestQuoteIDs(t *testing.T) {
	for _, tc := range []struct {
		ids   []string
		limit int
		want  string
	}{
		{[]string{"a"}, 10, `"a"`},
		{[]string{"", "b c"}, 10, `"", "b c"`},
		{[]string{"a", "b", "c", "d"}, 2, `"a", "b" and 2 more`},
	} {
		if got := quoteIDs(tc.ids, tc.limit); got != tc.want {
			t.Errorf("quoteIDs(%q, %d) = %s, want %s", tc.ids, tc.limit, got, tc.want)
		}
	}
}
