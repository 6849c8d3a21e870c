package records

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/causalrec/causalrec/host/redistest"
	"github.com/causalrec/causalrec/host/store"
)

// newTestStore returns a store on the real Redis under a prefix of this
// test's own (deleted at its end), and the prefix.
func newTestStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	prefix := redistest.Prefix(t)
	s, err := store.New(redistest.Client(t), store.Options{Prefix: prefix, BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	return s, prefix
}

func TestImportRejectWritesNothing(t *testing.T) {
	ctx := context.Background()
	s, prefix := newTestStore(t)
	f := openTestdata(t, "events.csv")
	sum, err := Import(ctx, s, f, ImportOptions{Kind: KindEvents, Format: FormatAuto, OnError: Reject})
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("Import(reject) error %v, want ErrRejected", err)
	}
	if got := badLines(sum.Bad); !slices.Equal(got, []int{5, 7, 8}) {
		t.Errorf("bad lines %v, want [5 7 8]", got)
	}
	if sum.Written != 0 || sum.Read != 8 || sum.Skipped != 3 {
		t.Errorf("summary %+v, want read 8, written 0, skipped 3", sum)
	}
	keys, err := redistest.Keys(ctx, redistest.Client(t), prefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("a rejected import wrote keys: %v", keys)
	}
}

func TestImportSkip(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t)
	sum, err := Import(ctx, s, openTestdata(t, "events.csv"), ImportOptions{BatchSize: 2, Kind: KindEvents, OnError: Skip})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Read != 8 || sum.Written != 5 || sum.Skipped != 3 || sum.Duplicates != 0 {
		t.Errorf("summary %+v, want read 8, written 5, skipped 3, duplicates 0", sum)
	}
	if got := badLines(sum.Bad); !slices.Equal(got, []int{5, 7, 8}) {
		t.Errorf("bad lines %v, want [5 7 8]", got)
	}
	for _, b := range sum.Bad {
		if b.Err == nil || b.Error() == "" {
			t.Errorf("bad line %d without a reason", b.Line)
		}
	}
	// Importing the same file again writes nothing new, even the event
	// without an id.
	sum, err = Import(ctx, s, openTestdata(t, "events.csv"), ImportOptions{BatchSize: 2, Kind: KindEvents, OnError: Skip})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Written != 0 || sum.Duplicates != 5 {
		t.Errorf("second import %+v, want written 0, duplicates 5", sum)
	}
	var log []store.Event
	if err := s.Events(ctx, func(e store.Event) error { log = append(log, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(log) != 5 {
		t.Fatalf("log has %d events, want 5", len(log))
	}
	if log[1].Value != 2.5 || log[2].Time.Unix() != 1714557600 || log[3].Time.UnixMilli() != 1714558200500 || log[4].Arm != "control" || log[0].Propensity != 0.5 || log[0].Position != 1 || log[0].PolicyID != "pol-a" {
		t.Errorf("imported fields wrong: %+v", log)
	}

	// Items from JSONL, skipping the bad line.
	sum, err = Import(ctx, s, openTestdata(t, "items.jsonl"), ImportOptions{BatchSize: 2, Kind: KindItems, OnError: Skip})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Written != 3 || sum.Skipped != 1 || sum.Bad[0].Line != 4 || !strings.Contains(sum.Bad[0].Error(), "colour") {
		t.Errorf("items.jsonl summary %+v", sum)
	}
	// Items from CSV replace i1 and i2.
	sum, err = Import(ctx, s, openTestdata(t, "items.csv"), ImportOptions{BatchSize: 2, Kind: KindItems, OnError: Skip})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Written != 2 || sum.Duplicates != 2 || sum.Skipped != 1 || sum.Bad[0].Line != 4 {
		t.Errorf("items.csv summary %+v", sum)
	}
	it, err := s.Item(ctx, "i1")
	if err != nil || it.Features["price"] != 12.5 || it.Meta["lang"] != "en" || it.Text != "A quiet thriller, set in Lisbon." {
		t.Errorf("i1 = %+v, %v", it, err)
	}

	// Users from JSONL with Reject and no bad line.
	users := "{\"id\":\"u1\",\"features\":{\"age\":30}}\n{\"id\":\"u2\"}\n"
	sum, err = Import(ctx, s, strings.NewReader(users), ImportOptions{BatchSize: 2, Kind: KindUsers, OnError: Reject})
	if err != nil || sum.Written != 2 {
		t.Errorf("users import %+v, %v", sum, err)
	}
}

func openTestdata(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func badLines(bad []LineError) []int {
	out := make([]int, len(bad))
	for i, b := range bad {
		out[i] = b.Line
	}
	return out
}
