package records

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/causalrec/causalrec/host/limits"
	"github.com/causalrec/causalrec/host/store"
)

func TestParseHeaderErrors(t *testing.T) {
	tests := []struct {
		name  string
		kind  RecordKind
		input string
		want  string
	}{
		{"empty", KindEvents, "", "empty input"},
		{"unknown event column", KindEvents, "kind,user,item,time,colour\n", `unknown column "colour"`},
		{"missing time", KindEvents, "kind,user,item\n", `missing required column "time"`},
		{"duplicate column", KindItems, "id,text,text\n", `column "text" appears twice`},
		{"nameless column", KindUsers, "id,,age\n", "column 2 has no name"},
		{"item without id", KindItems, "text,category\n", `missing required column "id"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse(strings.NewReader(tt.input), tt.kind, FormatCSV)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, _, err := Parse(strings.NewReader("id\n"), "things", FormatCSV); err == nil {
		t.Error("Parse accepted an unknown kind")
	}
}

func TestParseEventsCSV(t *testing.T) {
	input := "User,ITEM,kind,time,value\n" +
		"u1,i1,outcome,2024-01-02T03:04:05.5+01:00,2\n" +
		"u1,i1,exposure,1700000000,\n" +
		"u1,,exposure,1700000000,\n" +
		"u1,i1,exposure,1700000000,abc\n" +
		"u1,i1,exposure\n" +
		"\"u2\nstill u2\",i2,exposure,1700000001,\n" +
		"u3,i3,outcome,1700000002,NaN\n"
	recs, bad, err := Parse(strings.NewReader(input), KindEvents, FormatCSV)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := badLines(bad), []int{4, 5, 6, 9}; !slices.Equal(got, want) {
		t.Errorf("bad lines %v, want %v (%v)", got, want, bad)
	}
	for i, want := range []string{"empty event item", `"abc" is not a number`, "wrong number of fields", "value is NaN"} {
		if i < len(bad) && !strings.Contains(bad[i].Error(), want) {
			t.Errorf("bad[%d] = %v, want it to contain %q", i, bad[i], want)
		}
	}
	if len(recs.Events) != 3 {
		t.Fatalf("got %d events, want 3", len(recs.Events))
	}
	e := recs.Events[0]
	wantTime := time.Date(2024, 1, 2, 2, 4, 5, 5e8, time.UTC)
	if e.User != "u1" || e.Item != "i1" || e.Kind != store.Outcome || e.Value != 2 || !e.Time.Equal(wantTime) || e.ID == "" {
		t.Errorf("event 0 = %+v", e)
	}
	if recs.Events[1].Time.Unix() != 1700000000 || recs.Events[1].Arm != store.DefaultArm {
		t.Errorf("event 1 = %+v", recs.Events[1])
	}
	if recs.Events[2].User != "u2\nstill u2" {
		t.Errorf("quoted multi-line user = %q", recs.Events[2].User)
	}
	// Content-derived IDs are stable and differ between different events.
	again, _, _ := Parse(strings.NewReader(input), KindEvents, FormatCSV)
	for i := range again.Events {
		if again.Events[i].ID != recs.Events[i].ID {
			t.Errorf("event %d id changed between parses", i)
		}
	}
	if recs.Events[0].ID == recs.Events[1].ID {
		t.Error("different events got the same derived id")
	}
}

func TestParseItemsAndUsersCSV(t *testing.T) {
	recs, bad, err := Parse(strings.NewReader("\xEF\xBB\xBFid,Text,price,colour\na,hello,1.5,red\nb,,2,\n"), KindItems, FormatAuto)
	if err != nil || len(bad) != 0 {
		t.Fatal(err, bad)
	}
	a := recs.Items[0]
	if a.ID != "a" || a.Text != "hello" || a.Features["price"] != 1.5 || a.Meta["colour"] != "red" {
		t.Errorf("item a = %+v", a)
	}
	if b := recs.Items[1]; b.Meta != nil || b.Features["price"] != 2 {
		t.Errorf("item b = %+v", b)
	}
	recs, bad, err = Parse(strings.NewReader("id,age,score\nu1,30,0.5\nu2,old,1\n"), KindUsers, FormatCSV)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs.Users) != 1 || recs.Users[0].Features["score"] != 0.5 || len(bad) != 1 || bad[0].Line != 3 || !strings.Contains(bad[0].Error(), "column age") {
		t.Errorf("users %+v bad %v", recs.Users, bad)
	}
}

func TestParseJSONL(t *testing.T) {
	input := `{"kind":"exposure","user":"u","item":"i","time":"2024-01-01T00:00:00Z","propensity":0.2}
  
{"kind":"exposure","user":"u","item":"i","time":"2024-01-01T00:00:00Z","propensity":2}
{"kind":"outcome","user":"u","item":"i","time":"2024-01-01T00:00:00Z"} {"again":1}
not json
{"kind":"outcome","user":"u","item":"i","time":"2024-01-01T00:00:00Z","extra":1}
{"id":"fixed","kind":"outcome","user":"u","item":"i","time":"2024-01-01T00:01:00Z"}`
	recs, bad, err := Parse(strings.NewReader(input), KindEvents, FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := badLines(bad), []int{3, 4, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("bad lines %v, want %v: %v", got, want, bad)
	}
	for i, want := range []string{"outside (0, 1]", "more than one value", "json", `unknown field "extra"`} {
		if i < len(bad) && !strings.Contains(bad[i].Error(), want) {
			t.Errorf("bad[%d] = %v, want it to contain %q", i, bad[i], want)
		}
	}
	if len(recs.Events) != 2 || recs.Events[0].Propensity != 0.2 || recs.Events[1].ID != "fixed" {
		t.Errorf("events %+v", recs.Events)
	}
}

func TestParseJSONLLongLine(t *testing.T) {
	long := `{"id":"x","text":"` + strings.Repeat("a", MaxLineBytes) + `"}`
	input := `{"id":"a"}` + "\n" + long + "\n" + `{"id":"b"}`
	recs, bad, err := Parse(strings.NewReader(input), KindItems, FormatJSONL)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs.Items) != 2 || len(bad) != 1 || bad[0].Line != 2 || !strings.Contains(bad[0].Error(), "longer than") {
		t.Errorf("items %d, bad %v", len(recs.Items), bad)
	}
}

func TestParseTextTooLong(t *testing.T) {
	input := `{"id":"x","text":"` + strings.Repeat("a", store.MaxTextBytes+1) + `"}`
	_, bad, err := Parse(strings.NewReader(input), KindItems, FormatJSONL)
	if err != nil || len(bad) != 1 || !strings.Contains(bad[0].Error(), "over the limit") {
		t.Errorf("bad %v, err %v", bad, err)
	}
}

func TestParseReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("{\"id\":\"a\"}\n"), errReader{boom})
	_, _, err := Parse(r, KindItems, FormatJSONL)
	if !errors.Is(err, boom) {
		t.Errorf("error %v, want the reader's error", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// checkParsed asserts the invariants of any parse: good records validate,
// bad lines are numbered within the input, in increasing order.
func checkParsed(t *testing.T, data []byte, recs Records, bad []LineError) {
	t.Helper()
	lines := strings.Count(string(data), "\n") + 1
	prev := 0
	for _, b := range bad {
		if b.Line < 1 || b.Line > lines || b.Line < prev || b.Err == nil {
			t.Fatalf("bad line %d (prev %d, %d lines): %v", b.Line, prev, lines, b.Err)
		}
		prev = b.Line
	}
	for _, e := range recs.Events {
		if err := e.Validate(); err != nil || e.ID == "" {
			t.Fatalf("parsed event %+v does not validate: %v", e, err)
		}
	}
	for _, it := range recs.Items {
		if err := it.Validate(); err != nil {
			t.Fatalf("parsed item %+v does not validate: %v", it, err)
		}
	}
	for _, u := range recs.Users {
		if err := u.Validate(); err != nil {
			t.Fatalf("parsed user %+v does not validate: %v", u, err)
		}
	}
}

var fuzzKinds = []RecordKind{KindEvents, KindItems, KindUsers}

func FuzzParseCSV(f *testing.F) {
	f.Add(uint8(0), []byte("kind,user,item,time\nexposure,u,i,1700000000\noutcome,u,i,2024-01-01T00:00:00Z\n"))
	f.Add(uint8(0), []byte("kind,user,item,time,propensity,position,value,id,arm,policy_id\nexposure,u,i,1,0.5,2,,x,a,p\n"))
	f.Add(uint8(1), []byte("id,text,category,price,lang\na,\"hi, there\",c,1.5,en\n,b,,x,\n"))
	f.Add(uint8(2), []byte("id,age\nu,3\nv,x\n"))
	f.Add(uint8(1), []byte("id,text\n\"a\"b,c\n"))
	f.Fuzz(func(t *testing.T, k uint8, data []byte) {
		kind := fuzzKinds[int(k)%len(fuzzKinds)]
		recs, bad, err := Parse(strings.NewReader(string(data)), kind, FormatCSV)
		if err != nil {
			return
		}
		checkParsed(t, data, recs, bad)
	})
}

func FuzzParseJSONL(f *testing.F) {
	f.Add(uint8(0), []byte(`{"kind":"exposure","user":"u","item":"i","time":"2024-01-01T00:00:00Z","propensity":0.5}`+"\n"))
	f.Add(uint8(1), []byte(`{"id":"a","text":"t","features":{"x":1},"meta":{"k":"v"}}`+"\n\n"+`{"id":""}`))
	f.Add(uint8(2), []byte(`{"id":"u","features":{"age":1e400}}`))
	f.Add(uint8(0), []byte("{} {}\n[1]\n\"x\"\n"))
	f.Fuzz(func(t *testing.T, k uint8, data []byte) {
		kind := fuzzKinds[int(k)%len(fuzzKinds)]
		recs, bad, err := Parse(strings.NewReader(string(data)), kind, FormatJSONL)
		if err != nil {
			t.Fatalf("JSONL parse of an in-memory input failed as a whole: %v", err)
		}
		checkParsed(t, data, recs, bad)
	})
}

// TestParseChecked passes every well-formed record to the checker: a
// record it refuses is a bad line with its number and is left out, and
// the records around it are kept.
func TestParseChecked(t *testing.T) {
	l := limits.Default()
	tests := []struct {
		name   string
		kind   RecordKind
		format Format
		in     string
		want   int // records kept
		bad    []int
		reason string
	}{
		{"items csv", KindItems, FormatCSV, "id,x\ni1,1\ni2,1e12\ni3,2\n", 2, []int{3}, "1e+12"},
		{"users jsonl", KindUsers, FormatJSONL, `{"id":"u1","features":{"x":1}}` + "\n\n" + `{"id":"u2","features":{"x":-5e9}}` + "\n", 1, []int{3}, "-5e+09"},
		{"events csv arm", KindEvents, FormatCSV, "kind,user,item,time,arm\nexposure,u1,i1,2024-05-01T10:00:00Z,treated\nexposure,u1,i2,2024-05-01T10:00:00Z,bogus\n", 1, []int{3}, `"bogus"`},
		{"events jsonl future", KindEvents, FormatJSONL, `{"kind":"outcome","user":"u1","item":"i1","time":"2999-01-01T00:00:00Z"}` + "\n", 0, []int{1}, "outside the accepted window"},
		{"all good", KindItems, FormatJSONL, `{"id":"i1","features":{"x":1}}` + "\n", 1, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs, bad, err := ParseChecked(strings.NewReader(tc.in), tc.kind, tc.format, l)
			if err != nil {
				t.Fatal(err)
			}
			if recs.Len() != tc.want || !slices.Equal(badLines(bad), tc.bad) {
				t.Fatalf("kept %d, bad lines %v (%v); want %d, %v", recs.Len(), badLines(bad), bad, tc.want, tc.bad)
			}
			if len(bad) > 0 && !strings.Contains(bad[0].Error(), tc.reason) {
				t.Errorf("reason %q, want it to name %s", bad[0].Error(), tc.reason)
			}
			// Without a checker every line is kept.
			recs, bad, err = Parse(strings.NewReader(tc.in), tc.kind, tc.format)
			if err != nil || len(bad) != 0 || recs.Len() != tc.want+len(tc.bad) {
				t.Errorf("unchecked: kept %d, bad %v, err %v", recs.Len(), bad, err)
			}
		})
	}
}
