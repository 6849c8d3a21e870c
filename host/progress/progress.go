// Package progress shows how far a long step of a command has got: on a
// terminal as a bar redrawn in place (count, share, rate, time left), and
// anywhere else (a pipe, a log file) as plain lines, at most one per
// interval and one when the step's description changes, so that logs stay
// short.
//
// A Task is safe for concurrent use: workers call Add as they finish
// items (a bootstrap's resamples, a cross-fitting's fits), and a goroutine
// of the task redraws on a timer, so a step with nothing to count (a fit in
// a plugin process) still shows its elapsed time. Call Done when the step
// ends; it joins that goroutine and writes the last line.
package progress

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// Mode chooses how a task is shown.
type Mode int

// The modes.
const (
	// Auto draws a bar when the writer is a terminal and lines otherwise.
	Auto Mode = iota
	// Bar redraws one line in place with carriage returns.
	Bar
	// Lines writes plain lines.
	Lines
	// Off writes nothing.
	Off
)

// ParseMode reads "auto", "bar", "lines" or "off".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "auto":
		return Auto, nil
	case "bar":
		return Bar, nil
	case "lines":
		return Lines, nil
	case "off":
		return Off, nil
	}
	return Auto, fmt.Errorf("progress mode %q: want auto, bar, lines or off", s)
}

// Options configure a task. The zero value is usable.
type Options struct {
	// Mode chooses bar, lines or nothing (default Auto).
	Mode Mode
	// Unit names what is counted, e.g. "rows"; "B" counts bytes and
	// prints them as kB, MB, GB.
	Unit string
	// Delay shows nothing until the task has run this long, so that quick
	// steps stay quiet (default 0: show at once).
	Delay time.Duration
	// Interval is the time between redraws: default 150ms for a bar and
	// 10s for lines.
	Interval time.Duration
	// Width is the bar's width in characters (default: the terminal's
	// width, else 80).
	Width int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Task is one step whose progress is shown.
type Task struct {
	w     io.Writer
	label string
	opt   Options
	start time.Time

	done  atomic.Int64
	total atomic.Int64
	// part is the share of the current item done (see Part), as the bits
	// of a float64.
	part atomic.Uint64

	mu       sync.Mutex
	what     string // the current sub-step
	shown    string // the last description written in Lines mode
	drawn    bool   // something was written
	lastLine time.Time
	stop     chan struct{}
	joined   chan struct{}
	finished bool
}

// Start shows a task named label of total items (0 or less when unknown)
// on w until Done is called.
func Start(w io.Writer, label string, total int64, opt Options) *Task {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Mode == Auto {
		opt.Mode = Lines
		if IsTerminal(w) {
			opt.Mode = Bar
		}
	}
	if opt.Interval <= 0 {
		opt.Interval = 10 * time.Second
		if opt.Mode == Bar {
			opt.Interval = 150 * time.Millisecond
		}
	}
	if opt.Width <= 0 {
		opt.Width = 80
		if f, ok := w.(*os.File); ok && opt.Mode == Bar {
			if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 20 {
				opt.Width = cols - 1
			}
		}
	}
	t := &Task{w: w, label: label, opt: opt, start: opt.Now(), stop: make(chan struct{}), joined: make(chan struct{})}
	t.total.Store(total)
	t.lastLine = t.start
	if opt.Mode == Off {
		close(t.joined)
		return t
	}
	go t.loop()
	return t
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (t *Task) loop() {
	defer close(t.joined)
	tick := time.NewTicker(t.opt.Interval)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			t.draw(false)
		}
	}
}

// Add counts n more items done; it ends the current item's Part.
func (t *Task) Add(n int64) {
	if t.part.Load() == 0 {
		t.done.Add(n)
		return
	}
	// Under the lock that draw holds, so that no line shows the new
	// count with the old item's part.
	t.mu.Lock()
	t.done.Add(n)
	t.part.Store(0)
	t.mu.Unlock()
}

// Set sets the count of items done.
func (t *Task) Set(n int64) { t.done.Store(n) }

// SetTotal sets the number of items (0 or less when unknown).
func (t *Task) SetTotal(n int64) { t.total.Store(n) }

// Report sets done and total; its signature suits callbacks such as
// func(done, total int64).
func (t *Task) Report(done, total int64) {
	t.total.Store(total)
	t.done.Store(done)
}

// Part tells how far the item being worked on has got: done of total
// steps of its own (a fit of several that reports its trees, say). The
// share, the bar and the time left then move within the item; the count
// of items does not change. Add and Part(0, 0) clear it.
func (t *Task) Part(done, total int64) {
	f := 0.0
	if total > 0 {
		f = math.Min(1, math.Max(0, float64(done)/float64(total)))
	}
	t.part.Store(math.Float64bits(f))
}

// progressed is done plus the share of the current item.
func (t *Task) progressed(done int64) float64 {
	return float64(done) + math.Float64frombits(t.part.Load())
}

// Describe names the current sub-step, e.g. "fitting uplift:x"; in Lines
// mode a new description writes a line at once.
func (t *Task) Describe(what string) {
	t.mu.Lock()
	t.what = what
	t.mu.Unlock()
	if t.opt.Mode == Lines {
		t.draw(false)
	}
}

// Writer returns a writer that counts the bytes written through it.
func (t *Task) Writer(w io.Writer) io.Writer { return countWriter{w, t} }

// Reader returns a reader that counts the bytes read through it.
func (t *Task) Reader(r io.Reader) io.Reader { return countReader{r, t} }

type countReader struct {
	r io.Reader
	t *Task
}

func (c countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.t.Add(int64(n))
	return n, err
}

type countWriter struct {
	w io.Writer
	t *Task
}

func (c countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.t.Add(int64(n))
	return n, err
}

// Done ends the task: it stops the redraws and writes the final state
// (on a terminal, the bar is finished with a newline) when anything was
// shown or the task took longer than its delay. It may be called more
// than once.
func (t *Task) Done() {
	t.mu.Lock()
	if t.finished {
		t.mu.Unlock()
		return
	}
	t.finished = true
	t.mu.Unlock()
	if t.opt.Mode == Off {
		return
	}
	close(t.stop)
	<-t.joined
	t.draw(true)
}

// draw writes the task's state; final marks the last call.
func (t *Task) draw(final bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.opt.Now()
	elapsed := now.Sub(t.start)
	if elapsed < t.opt.Delay && !t.drawn {
		return
	}
	switch t.opt.Mode {
	case Bar:
		line := t.barLine(elapsed, final)
		fmt.Fprint(t.w, "\r"+line+"\x1b[K")
		if final {
			fmt.Fprintln(t.w)
		}
		t.drawn = true
	case Lines:
		changed := t.what != t.shown
		if !final && !changed && now.Sub(t.lastLine) < t.opt.Interval {
			return
		}
		fmt.Fprintln(t.w, t.status(elapsed, final))
		t.shown, t.lastLine, t.drawn = t.what, now, true
	}
}

// status is "what: 45% (12.3k/27k rows), 3.2k rows/s, 0:04 left".
func (t *Task) status(elapsed time.Duration, final bool) string {
	done, total := t.done.Load(), t.total.Load()
	var b strings.Builder
	b.WriteString(t.label)
	if t.what != "" && !final {
		b.WriteString(": " + t.what)
	}
	b.WriteString(": ")
	switch {
	case final && total > 0 && done >= total:
		fmt.Fprintf(&b, "done, %s in %s", t.count(total), clock(elapsed))
		return b.String()
	case final && done > 0:
		fmt.Fprintf(&b, "done, %s in %s", t.count(done), clock(elapsed))
		return b.String()
	case final:
		fmt.Fprintf(&b, "done in %s", clock(elapsed))
		return b.String()
	case total > 0:
		// The unit once: "(5 of 15 fits)", but "(400 B of 1.0 kB)".
		of := human(done)
		if t.opt.Unit == "B" {
			of = t.count(done)
		}
		fmt.Fprintf(&b, "%3.0f%% (%s of %s)", 100*math.Min(1, t.progressed(done)/float64(total)), of, t.count(total))
	case done > 0:
		b.WriteString(t.count(done))
	default:
		fmt.Fprintf(&b, "%s elapsed", clock(elapsed))
		return b.String()
	}
	if secs := elapsed.Seconds(); secs > 0.5 && done > 0 {
		fmt.Fprintf(&b, ", %s/s", t.count(int64(float64(done)/secs)))
	}
	if secs, got := elapsed.Seconds(), t.progressed(done); secs > 0.5 && got > 0 && float64(total) > got {
		left := time.Duration((float64(total) - got) / (got / secs) * float64(time.Second))
		fmt.Fprintf(&b, ", %s left", clock(left))
	}
	return b.String()
}

// barLine is the status followed by a bar (or a spinner when the total
// is unknown) as wide as the room left, cut to the width when even the
// status is too long.
func (t *Task) barLine(elapsed time.Duration, final bool) string {
	status := t.status(elapsed, final)
	done, total := t.done.Load(), t.total.Load()
	room := t.opt.Width - len([]rune(status)) - 3
	line := status
	switch {
	case total > 0 && room >= 8:
		cells := min(room, 30)
		full := int(math.Min(1, t.progressed(done)/float64(total)) * float64(cells))
		line += " [" + strings.Repeat("█", full) + strings.Repeat("░", cells-full) + "]"
	case total <= 0 && !final && room >= 2:
		spin := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
		line += " " + spin[int(elapsed/(150*time.Millisecond))%len(spin)]
	}
	if r := []rune(line); len(r) > t.opt.Width {
		line = string(r[:t.opt.Width-1]) + "…"
	}
	return line
}

// count prints n in the task's unit: 12345 rows → "12.3k rows", bytes as
// kB/MB/GB.
func (t *Task) count(n int64) string {
	if t.opt.Unit == "B" {
		v := float64(n)
		for _, u := range []string{"B", "kB", "MB", "GB", "TB"} {
			if v < 1000 || u == "TB" {
				if u == "B" {
					return fmt.Sprintf("%d B", n)
				}
				return fmt.Sprintf("%.1f %s", v, u)
			}
			v /= 1000
		}
	}
	s := human(n)
	if t.opt.Unit != "" {
		s += " " + t.opt.Unit
	}
	return s
}

// human prints n with k/M/G suffixes above ten thousand.
func human(n int64) string {
	switch v := float64(n); {
	case v >= 1e9:
		return fmt.Sprintf("%.2fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprint(n)
}

// clock prints d as m:ss or h:mm:ss, or with a tenth of a second under
// ten seconds.
func clock(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
