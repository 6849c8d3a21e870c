package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func TestLines(t *testing.T) {
	var buf bytes.Buffer
	clk := newClock()
	// A buffer is not a terminal: Auto writes lines. The interval is long
	// enough that the timer never fires during the test.
	task := Start(&buf, "import events", 1000, Options{Unit: "B", Now: clk.Now, Interval: time.Hour})
	task.Describe("events.csv")
	clk.advance(2 * time.Second)
	task.Add(400)
	task.Describe("more.csv")
	clk.advance(2 * time.Second)
	task.Add(600)
	task.Done()
	task.Done() // a second call does nothing
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want one per description and the last:\n%s", len(lines), buf.String())
	}
	for i, w := range []string{
		"import events: events.csv:   0% (0 B of 1.0 kB)",
		"import events: more.csv:  40% (400 B of 1.0 kB), 200 B/s, 3.0s left",
		"import events: done, 1.0 kB in 4.0s",
	} {
		if lines[i] != w {
			t.Errorf("line %d: %q, want %q", i, lines[i], w)
		}
	}
}

func TestBar(t *testing.T) {
	var buf bytes.Buffer
	clk := newClock()
	task := Start(&buf, "rec eval", 4, Options{Mode: Bar, Now: clk.Now, Interval: time.Hour, Width: 80})
	clk.advance(3 * time.Second)
	task.Add(1)
	task.draw(false)
	task.Add(3)
	task.Done()
	out := buf.String()
	if !strings.HasPrefix(out, "\rrec eval:  25% (1 of 4), 0/s, 9.0s left ["+strings.Repeat("█", 7)+strings.Repeat("░", 23)+"]\x1b[K") {
		t.Errorf("bar line: %q", out)
	}
	if !strings.HasSuffix(out, "\rrec eval: done, 4 in 3.0s ["+strings.Repeat("█", 30)+"]\x1b[K\n") {
		t.Errorf("final bar: %q", out)
	}
	// A narrow terminal keeps the status and shortens the bar, then drops it.
	narrow := &Task{label: "uplift compare", opt: Options{Width: 60}}
	narrow.total.Store(15)
	narrow.done.Store(5)
	narrow.what = "fitting causal-forest"
	if got := narrow.barLine(3*time.Second, false); !strings.HasPrefix(got, "uplift compare: fitting causal-forest:  33% (5 of 15)") || len([]rune(got)) > 60 {
		t.Errorf("narrow bar %q (%d wide)", got, len([]rune(got)))
	}
}

func TestDelayAndOff(t *testing.T) {
	var buf bytes.Buffer
	clk := newClock()
	task := Start(&buf, "uplift fit", 0, Options{Mode: Lines, Delay: time.Second, Now: clk.Now, Interval: time.Hour})
	task.Describe("fitting t")
	clk.advance(500 * time.Millisecond)
	task.Done()
	if buf.Len() != 0 {
		t.Errorf("a step quicker than its delay wrote %q", buf.String())
	}
	task = Start(&buf, "uplift fit", 0, Options{Mode: Lines, Delay: time.Second, Now: clk.Now, Interval: time.Hour})
	clk.advance(75 * time.Second)
	task.Done()
	if got, want := buf.String(), "uplift fit: done in 1:15\n"; got != want {
		t.Errorf("slow step: %q, want %q", got, want)
	}
	buf.Reset()
	task = Start(&buf, "x", 10, Options{Mode: Off})
	task.Add(10)
	task.Done()
	if buf.Len() != 0 {
		t.Errorf("Off wrote %q", buf.String())
	}
}

func TestConcurrentAdd(t *testing.T) {
	var buf bytes.Buffer
	task := Start(&buf, "bootstrap", 8000, Options{Mode: Bar, Interval: time.Millisecond})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				task.Add(1)
			}
		}()
	}
	wg.Wait()
	task.Done()
	if got := task.done.Load(); got != 8000 {
		t.Fatalf("counted %d, want 8000", got)
	}
	if !strings.Contains(buf.String(), "done, 8000 in") {
		t.Errorf("final line missing: %q", buf.String()[max(0, buf.Len()-200):])
	}
}

func TestReaderAndFormats(t *testing.T) {
	task := Start(&bytes.Buffer{}, "read", 0, Options{Mode: Off})
	var sink bytes.Buffer
	if _, err := sink.ReadFrom(task.Reader(strings.NewReader(strings.Repeat("x", 12345)))); err != nil {
		t.Fatal(err)
	}
	if got := task.done.Load(); got != 12345 {
		t.Errorf("reader counted %d bytes, want 12345", got)
	}
	for _, c := range []struct {
		n    int64
		unit string
		want string
	}{
		{999, "B", "999 B"}, {12345, "B", "12.3 kB"}, {3_400_000, "B", "3.4 MB"},
		{9999, "rows", "9999 rows"}, {12345, "rows", "12.3k rows"}, {2_500_000, "", "2.50M"},
	} {
		task := &Task{opt: Options{Unit: c.unit}}
		if got := task.count(c.n); got != c.want {
			t.Errorf("count(%d %s) = %q, want %q", c.n, c.unit, got, c.want)
		}
	}
	for d, want := range map[time.Duration]string{1500 * time.Millisecond: "1.5s", 75 * time.Second: "1:15", 3723 * time.Second: "1:02:03"} {
		if got := clock(d); got != want {
			t.Errorf("clock(%v) = %q, want %q", d, got, want)
		}
	}
	if _, err := ParseMode("sometimes"); err == nil {
		t.Error("ParseMode accepted a bad mode")
	}
}

// TestPart moves the share within an item: one fit of four done and half
// of the second is 37.5%, and the time left counts the half.
func TestPart(t *testing.T) {
	task := &Task{label: "uplift compare", opt: Options{Unit: "fits", Width: 200}}
	task.total.Store(4)
	task.done.Store(1)
	for _, tc := range []struct {
		done, total int64
		want        string
	}{
		{50, 100, "uplift compare:  38% (1 of 4 fits), 0 fits/s, 5.0s left"},
		{0, 0, "uplift compare:  25% (1 of 4 fits), 0 fits/s, 9.0s left"},
		{7, 0, "uplift compare:  25% (1 of 4 fits), 0 fits/s, 9.0s left"}, // an unknown total is no share
		{200, 100, "uplift compare:  50% (1 of 4 fits), 0 fits/s, 3.0s left"},
	} {
		task.Part(tc.done, tc.total)
		if got := task.status(3*time.Second, false); got != tc.want {
			t.Errorf("part %d of %d: %q, want %q", tc.done, tc.total, got, tc.want)
		}
	}
	task.Part(1, 2)
	want := "[" + strings.Repeat("█", 11) + strings.Repeat("░", 19) + "]" // 37.5% of 30 cells
	if got := task.barLine(3*time.Second, false); !strings.HasSuffix(got, want) {
		t.Errorf("bar %q, want it to end %q", got, want)
	}
}

// TestAddEndsPart: counting the item done clears its part.
func TestAddEndsPart(t *testing.T) {
	task := &Task{label: "uplift compare", opt: Options{Unit: "fits"}}
	task.total.Store(4)
	task.Part(3, 4)
	task.Add(1)
	if got, want := task.status(time.Second, false), "uplift compare:  25% (1 of 4 fits), 1 fits/s, 3.0s left"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
