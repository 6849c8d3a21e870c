package recommend

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/causalrec/causalrec/host/redistest"
	"github.com/causalrec/causalrec/host/store"
)

// newStore returns a Store on the real Redis at REDIS_URL under a prefix
// this test owns and deletes at the end.
func newStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.New(redistest.Client(t), store.Options{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestBuildTable(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := st.PutUsers(ctx, []store.User{{ID: "u1", Features: map[string]float64{"age": 30}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutItems(ctx, []store.Item{{ID: "a", Features: map[string]float64{"price": 2}}, {ID: "b"}}); err != nil {
		t.Fatal(err)
	}
	events := []store.Event{
		{Kind: store.Exposure, User: "u1", Item: "a", Time: t0},                  // treated, engaged
		{Kind: store.Outcome, User: "u1", Item: "a", Time: t0.Add(time.Minute)},  //
		{Kind: store.Exposure, User: "u1", Item: "b", Time: t0, Arm: ControlArm}, // held out, not engaged
		{Kind: store.Exposure, User: "u2", Item: "b", Time: t0, Arm: ControlArm}, // held out, engaged
		{Kind: store.Outcome, User: "u2", Item: "b", Time: t0.Add(time.Minute)},  //
		{Kind: store.Outcome, User: "u3", Item: "a", Time: t0},                   // organic only: no row
		{Kind: store.Outcome, User: "u2", Item: "a", Time: t0.Add(-time.Hour)},   // organic, before u2's row: its history
	}
	if _, err := st.AddEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	tab, err := BuildTable(ctx, st, TableOptions{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"i:price", "u:age", featItemExposures, featItemOutcomes, featUserExposures, featUserOutcomes}
	if len(tab.Features) != len(want) {
		t.Fatalf("features %v, want %v", tab.Features, want)
	}
	for i := range want {
		if tab.Features[i] != want[i] {
			t.Fatalf("features %v, want %v", tab.Features, want)
		}
	}
	r := tab.Request.WithX()
	// Rows sorted by (user, item): (u1,a) treated y=1; (u1,b) control y=0; (u2,b) control y=1.
	if len(r.Arm) != 3 || tab.Treated != 1 || tab.Control != 2 {
		t.Fatalf("arms %v treated %d control %d", r.Arm, tab.Treated, tab.Control)
	}
	wantArm, wantY := []int{1, 0, 0}, []float64{1, 0, 1}
	for i := range wantArm {
		if r.Arm[i] != wantArm[i] || r.Outcome[i] != wantY[i] {
			t.Fatalf("row %d: arm %d y %v, want %d %v", i, r.Arm[i], r.Outcome[i], wantArm[i], wantY[i])
		}
	}
	// A row's history counts the user's events before the row starts (its
	// exposure at t0), never its own outcome: u1 has none, u2 one organic
	// outcome an hour earlier. No item has text, so there are no text
	// features. Columns per row: price, age, item exposures and outcomes,
	// user exposures and outcomes.
	// Item b has no price and u2 no age: they take the means over the
	// items and users that have them (2 and 30), not 0.
	if r.X[0] != 2 || r.X[1] != 30 || r.X[4] != 0 || r.X[5] != 0 || r.X[10] != 0 || r.X[11] != 0 ||
		r.X[6] != 2 || r.X[7] != 30 || r.X[12] != 2 || r.X[13] != 30 || r.X[16] != 0 || r.X[17] != math.Log1p(1) ||
		// Item popularity counts the item's events before the row starts
		// too: a has u2's earlier outcome, b nothing before t0.
		r.X[2] != 0 || r.X[3] != math.Log1p(1) || r.X[8] != 0 || r.X[9] != 0 || r.X[14] != 0 || r.X[15] != 0 {
		t.Errorf("X = %v", r.X)
	}
	if len(tab.Text.Used) != 0 || tab.Text.Skipped["lm"] != "no item has text" {
		t.Errorf("text report %+v, want lm skipped for lack of text", tab.Text)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(tab.Defaults) != 2 || tab.Defaults["i:price"] != 2 || tab.Defaults["u:age"] != 30 {
		t.Errorf("defaults %v, want i:price 2 and u:age 30", tab.Defaults)
	}
	if tab.LoggedPropensity || r.Propensity != nil || tab.Events != 7 {
		t.Errorf("no propensities were logged, yet LoggedPropensity=%v (events %d)", tab.LoggedPropensity, tab.Events)
	}
	// The stored sample of the table: its rows' items and features as the
	// table writes them.
	s := sampleTable(tab, 2, 1)
	if s.Rows() != 2 || len(s.Items) != 2 || s.TableRows != 3 {
		t.Fatalf("sample of 2 rows: %+v", s)
	}
	d := len(tab.Features)
	// Each sampled row is a row of the table: same item, same features.
	for k := range s.Rows() {
		found := false
		for i := range 3 {
			if tab.Item(i) == s.Items[k] && slices.Equal(s.X[k*d:(k+1)*d], r.X[i*d:(i+1)*d]) {
				found = true
			}
		}
		if !found {
			t.Errorf("sample row %d (%s) %v is none of the table's rows", k, s.Items[k], s.X[k*d:(k+1)*d])
		}
	}
}

func TestBuildTablePeriodsAndPropensities(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	day := 24 * time.Hour
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	events := []store.Event{
		{Kind: store.Exposure, User: "u", Item: "a", Time: t0, Propensity: 0.8},
		{Kind: store.Outcome, User: "u", Item: "a", Time: t0.Add(time.Hour)},
		{Kind: store.Exposure, User: "u", Item: "a", Time: t0.Add(8 * day), Arm: ControlArm, Propensity: 0.2},
	}
	if _, err := st.AddEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	// One period: the pair was treated (and held out later): one treated row.
	one, err := BuildTable(ctx, st, TableOptions{}, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatalf("one period gives only a treated row, want ErrNoData; got %d rows", len(one.Request.Arm))
	}
	// Weekly periods: week 1 treated and engaged, week 2 held out, not engaged.
	tab, err := BuildTable(ctx, st, TableOptions{Period: 7 * day}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	r := tab.Request.WithX()
	if len(r.Arm) != 2 || r.Arm[0] != 1 || r.Outcome[0] != 1 || r.Arm[1] != 0 || r.Outcome[1] != 0 {
		t.Fatalf("rows: arm %v outcome %v", r.Arm, r.Outcome)
	}
	if !tab.LoggedPropensity || len(r.Propensity) != 2 || r.Propensity[0] != 0.8 || r.Propensity[1] != 0.2 {
		t.Fatalf("propensities %v (logged %v)", r.Propensity, tab.LoggedPropensity)
	}
}

func TestBuildTableNeedsBothArms(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	if _, err := st.AddEvents(ctx, []store.Event{{Kind: store.Exposure, User: "u", Item: "a", Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := BuildTable(ctx, st, TableOptions{}, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("want ErrNoData")
	}
}

// TestBuildTableSeesOnlyEarlierEvents checks that no feature of a row
// counts the row's own events, events as old as the row, or events whose
// time is unknown, and that a row with an event of unknown time sees
// nothing. Before, a row started at its first exposure and saw its own
// earlier outcome, and ingestion times counted as event times.
func TestBuildTableSeesOnlyEarlierEvents(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	events := []store.Event{
		// u1 engaged with a before it was shown a: the outcome is the
		// row's own, and the row starts with it.
		{Kind: store.Outcome, User: "u1", Item: "a", Time: at(0)},
		{Kind: store.Exposure, User: "u1", Item: "a", Time: at(5)},
		// u1's hold-out from b, as old as u1's engagement with c: c's
		// outcome is no earlier event of the b row.
		{Kind: store.Exposure, User: "u1", Item: "b", Time: at(10), Arm: ControlArm},
		{Kind: store.Outcome, User: "u1", Item: "c", Time: at(10)},
		// Two of u2's events came without their times: they are in no
		// row's history, and the c row, whose start is unknown, sees
		// nothing.
		{Kind: store.Outcome, User: "u2", Item: "a", Time: at(1), TimeUnknown: true},
		{Kind: store.Exposure, User: "u2", Item: "b", Time: at(20), Arm: ControlArm},
		{Kind: store.Exposure, User: "u2", Item: "c", Time: at(20), TimeUnknown: true},
		// u3 sees a late: the earlier events with known times are its
		// history and a's popularity.
		{Kind: store.Exposure, User: "u3", Item: "a", Time: at(30)},
	}
	if _, err := st.AddEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	tab, err := BuildTable(ctx, st, TableOptions{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tab.Features, featureSet{featItemExposures, featItemOutcomes, featUserExposures, featUserOutcomes}) {
		t.Fatalf("features %v", tab.Features)
	}
	// Rows in (user, item) order, with the counts (item exposures, item
	// outcomes, user exposures, user outcomes) before each.
	want := []struct {
		row              string
		itemExp, itemOut float64
		userExp, userOut float64
	}{
		{"u1 a", 0, 0, 0, 0}, // its own outcome at 0 starts it
		{"u1 b", 0, 0, 1, 1}, // u1's outcome on a (0) and exposure to a (5); not c's outcome at 10
		{"u2 b", 1, 0, 0, 0}, // b's hold-out of u1 (10); u2's outcome has no time
		{"u2 c", 0, 0, 0, 0}, // its own time is unknown
		{"u3 a", 1, 1, 0, 0}, // a's exposure (5) and outcome (0) by u1; u2's outcome has no time
	}
	d := len(tab.Features)
	if n := len(tab.Request.Arm); n != len(want) {
		t.Fatalf("%d rows, want %d", n, len(want))
	}
	for i, w := range want {
		got := tab.Request.WithX().X[i*d : (i+1)*d]
		exp := []float64{math.Log1p(w.itemExp), math.Log1p(w.itemOut), math.Log1p(w.userExp), math.Log1p(w.userOut)}
		if !slices.Equal(got, exp) {
			t.Errorf("row %s: %v, want log1p of %v", w.row, got, []float64{w.itemExp, w.itemOut, w.userExp, w.userOut})
		}
	}
}
