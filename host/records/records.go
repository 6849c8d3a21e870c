// Package records reads items, users and events from CSV and JSON Lines
// files and writes them to the store in batches: the formats of
// `causalrec import` (docs/store.md). Parsing needs no Redis; writing goes
// through a Writer, which *store.Store is.
package records

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/store"
)

// RecordKind names what an import holds.
type RecordKind string

// The kinds of record an import can hold.
const (
	KindItems  RecordKind = "items"
	KindEvents RecordKind = "events"
	KindUsers  RecordKind = "users"
)

// Format is an import's file format.
type Format string

// The import formats. FormatAuto reads JSONL when the first non-blank byte
// is '{' and CSV otherwise.
const (
	FormatAuto  Format = "auto"
	FormatCSV   Format = "csv"
	FormatJSONL Format = "jsonl"
)

// OnError says what an import does with a malformed line.
type OnError int

const (
	// Reject validates the whole input first and writes nothing if any
	// line is bad.
	Reject OnError = iota
	// Skip writes the good lines and reports the bad ones.
	Skip
)

// ErrRejected: an import with OnError Reject found bad lines and wrote
// nothing.
var ErrRejected = errors.New("import rejected")

// MaxLineBytes is the longest JSONL line an import accepts.
const MaxLineBytes = 4 << 20

// ImportOptions configure Import.
type ImportOptions struct {
	Kind    RecordKind
	Format  Format // "" means FormatAuto
	OnError OnError
	// BatchSize is how many records one write carries with Skip (0 means
	// the store's default).
	BatchSize int
	// Check, when set, validates every record beyond its format (the
	// limits the API applies, host/limits); a record it refuses is a bad
	// line, as a malformed one is.
	Check Checker
}

// Checker validates one record beyond its format; host/limits.Limits is
// one. now is the time event times are judged against.
type Checker interface {
	CheckItem(it store.Item) error
	CheckUser(u store.User) error
	CheckEvent(e store.Event, now time.Time) error
}

// LineError is a malformed input line.
type LineError struct {
	Line int // 1-based line number in the input
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e LineError) Unwrap() error { return e.Err }

// ImportSummary counts what an import did.
type ImportSummary struct {
	// Read is the number of records (data lines) read, good and bad.
	Read int `json:"read"`
	// Written is the number of records written: for events, the events
	// that were new; for items and users, every record stored, new or
	// replacing an existing one.
	Written int `json:"written"`
	// Skipped is the number of bad lines (listed in Bad). With Reject,
	// nothing at all is written when it is not 0.
	Skipped int `json:"skipped"`
	// Duplicates: for events, the events not written because their ID was
	// ingested before; for items and users, the written records that
	// replaced one with the same ID.
	Duplicates int         `json:"duplicates"`
	Bad        []LineError `json:"-"`
}

// Add adds o's counts and bad lines to s.
func (s *ImportSummary) Add(o ImportSummary) {
	s.Read += o.Read
	s.Written += o.Written
	s.Skipped += o.Skipped
	s.Duplicates += o.Duplicates
	s.Bad = append(s.Bad, o.Bad...)
}

// Records holds parsed records of one kind.
type Records struct {
	Kind   RecordKind
	Items  []store.Item
	Events []store.Event
	Users  []store.User
}

// Len returns the number of records.
func (r *Records) Len() int { return len(r.Items) + len(r.Events) + len(r.Users) }

func (r *Records) reset() { r.Items, r.Events, r.Users = r.Items[:0], r.Events[:0], r.Users[:0] }

// Append adds o's records to r; both must be of the same kind.
func (r *Records) Append(o Records) {
	r.Items = append(r.Items, o.Items...)
	r.Events = append(r.Events, o.Events...)
	r.Users = append(r.Users, o.Users...)
}

// Parse reads all of r into memory and returns the good records and the bad
// lines. The error is for problems that stop parsing altogether: a bad CSV
// header, an unreadable input, an unknown kind or format.
//
// CSV needs a header line. Event columns (any order; kind, user, item and
// time required; an unknown column is an error): kind, user, item, time
// (RFC 3339 or unix seconds), arm, propensity, position, policy_id, value,
// id. Item columns: id (required), text, category, and any other column is
// a numeric feature, or a meta string where the cell is not a number. User
// columns: id (required) and numeric features. Empty cells are unset.
//
// JSONL has one JSON object per line in the JSON form of store.Item,
// store.Event or store.User; unknown fields are an error, blank lines are
// ignored.
//
// An event without an ID gets one derived from its content (kind, user,
// item, time, arm, propensity, position, policy, value), so importing the
// same file twice adds its events once.
func Parse(r io.Reader, kind RecordKind, format Format) (Records, []LineError, error) {
	return ParseChecked(r, kind, format, nil)
}

// ParseChecked is Parse with every well-formed record also passed to check
// (nil checks nothing): a record it refuses is a LineError.
func ParseChecked(r io.Reader, kind RecordKind, format Format, check Checker) (Records, []LineError, error) {
	d, err := newDecoder(r, kind, format)
	if err != nil {
		return Records{}, nil, err
	}
	d.check, d.now = check, time.Now()
	recs := Records{Kind: kind}
	var bad []LineError
	for {
		err := d.next(&recs)
		if err == io.EOF {
			return recs, bad, nil
		}
		var le LineError
		if errors.As(err, &le) {
			bad = append(bad, le)
			continue
		}
		if err != nil {
			return recs, bad, err
		}
	}
}

// Writer stores records: *store.Store is one. PutItems and PutUsers
// return how many records replaced one with the same ID, AddEvents how many
// events were new.
type Writer interface {
	PutItems(ctx context.Context, items []store.Item) (replaced int, err error)
	PutUsers(ctx context.Context, users []store.User) (replaced int, err error)
	AddEvents(ctx context.Context, events []store.Event) (added int, err error)
}

// Write stores parsed records and counts what it did.
func Write(ctx context.Context, w Writer, recs Records) (ImportSummary, error) {
	sum := ImportSummary{Read: recs.Len()}
	var err error
	switch {
	case len(recs.Events) > 0:
		sum.Written, err = w.AddEvents(ctx, recs.Events)
		if err == nil {
			sum.Duplicates = len(recs.Events) - sum.Written
		}
	case len(recs.Items) > 0:
		sum.Duplicates, err = w.PutItems(ctx, recs.Items)
		sum.Written = len(recs.Items)
	case len(recs.Users) > 0:
		sum.Duplicates, err = w.PutUsers(ctx, recs.Users)
		sum.Written = len(recs.Users)
	}
	if err != nil && len(recs.Events) == 0 {
		sum.Written, sum.Duplicates = 0, 0
	}
	return sum, err
}

// Import reads records of opts.Kind from r (see Parse for the formats) and
// stores them with w in batches of opts.BatchSize.
//
// With Reject the whole input is parsed and validated before anything is
// written; if any line is bad nothing is written and the error wraps
// ErrRejected (the summary lists the bad lines). With Skip the good lines
// are written as they are read and the bad ones are listed in the summary.
func Import(ctx context.Context, w Writer, r io.Reader, opts ImportOptions) (ImportSummary, error) {
	if opts.OnError == Reject {
		recs, bad, err := ParseChecked(r, opts.Kind, opts.Format, opts.Check)
		if err != nil {
			return ImportSummary{Read: recs.Len() + len(bad), Skipped: len(bad), Bad: bad}, fmt.Errorf("import %s: %w", opts.Kind, err)
		}
		if len(bad) > 0 {
			return ImportSummary{Read: recs.Len() + len(bad), Skipped: len(bad), Bad: bad},
				fmt.Errorf("import %s: %w: %d bad line(s), first %v", opts.Kind, ErrRejected, len(bad), bad[0])
		}
		sum, err := Write(ctx, w, recs)
		if err != nil {
			return sum, fmt.Errorf("import %s: %w", opts.Kind, err)
		}
		return sum, nil
	}
	if opts.OnError != Skip {
		return ImportSummary{}, fmt.Errorf("import: unknown on-error mode %d", opts.OnError)
	}
	d, err := newDecoder(r, opts.Kind, opts.Format)
	if err != nil {
		return ImportSummary{}, fmt.Errorf("import %s: %w", opts.Kind, err)
	}
	d.check, d.now = opts.Check, time.Now()
	batch := opts.BatchSize
	if batch <= 0 {
		batch = store.DefaultOptions().BatchSize
	}
	var sum ImportSummary
	recs := Records{Kind: opts.Kind}
	flush := func() error {
		part, err := Write(ctx, w, recs)
		sum.Read += part.Read
		sum.Written += part.Written
		sum.Duplicates += part.Duplicates
		recs.reset()
		return err
	}
	for {
		err := d.next(&recs)
		if err == io.EOF {
			break
		}
		var le LineError
		if errors.As(err, &le) {
			sum.Read++
			sum.Skipped++
			sum.Bad = append(sum.Bad, le)
			continue
		}
		if err != nil {
			return sum, fmt.Errorf("import %s: %w", opts.Kind, err)
		}
		if recs.Len() >= batch {
			if err := flush(); err != nil {
				return sum, fmt.Errorf("import %s: %w", opts.Kind, err)
			}
		}
	}
	if err := flush(); err != nil {
		return sum, fmt.Errorf("import %s: %w", opts.Kind, err)
	}
	return sum, nil
}

// ParseRecordKind parses "items", "events" or "users".
func ParseRecordKind(s string) (RecordKind, error) {
	switch k := RecordKind(strings.ToLower(s)); k {
	case KindItems, KindEvents, KindUsers:
		return k, nil
	}
	return "", fmt.Errorf("unknown record kind %q (want items, events or users)", s)
}

// ParseFormat parses "auto", "csv" or "jsonl" ("json" and "ndjson" mean
// jsonl).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return FormatAuto, nil
	case "csv":
		return FormatCSV, nil
	case "jsonl", "json", "ndjson":
		return FormatJSONL, nil
	}
	return "", fmt.Errorf("unknown format %q (want auto, csv or jsonl)", s)
}

// decoder yields one record at a time from CSV or JSONL.
type decoder struct {
	kind RecordKind

	cr   *csv.Reader
	cols []string // CSV header, trimmed; known names lowered

	br   *bufio.Reader
	line int // JSONL: number of the last line read

	check Checker // nil: none
	now   time.Time
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

func newDecoder(r io.Reader, kind RecordKind, format Format) (*decoder, error) {
	if _, err := ParseRecordKind(string(kind)); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, utf8BOM) {
		_, _ = br.Discard(3)
	}
	switch format {
	case FormatAuto, "":
		format = FormatCSV
		for i := 1; ; i++ {
			b, err := br.Peek(i)
			if len(b) < i {
				_ = err
				break
			}
			c := b[i-1]
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
				if i >= 4096 {
					break
				}
				continue
			}
			if c == '{' {
				format = FormatJSONL
			}
			break
		}
	case FormatCSV, FormatJSONL:
	default:
		return nil, fmt.Errorf("unknown format %q (want auto, csv or jsonl)", format)
	}
	d := &decoder{kind: kind}
	if format == FormatJSONL {
		d.br = br
		return d, nil
	}
	d.cr = csv.NewReader(br)
	d.cr.ReuseRecord = true
	header, err := d.cr.Read()
	if err == io.EOF {
		return nil, errors.New("csv: empty input, want a header line")
	}
	if err != nil {
		return nil, fmt.Errorf("csv header: %w", err)
	}
	if err := d.setHeader(header); err != nil {
		return nil, fmt.Errorf("csv header (line 1): %w", err)
	}
	return d, nil
}

var eventColumns = []string{"kind", "user", "item", "time", "arm", "propensity", "position", "policy_id", "value", "id"}

func (d *decoder) setHeader(header []string) error {
	seen := make(map[string]bool, len(header))
	d.cols = make([]string, len(header))
	for i, h := range header {
		h = strings.TrimSpace(h)
		if h == "" {
			return fmt.Errorf("column %d has no name", i+1)
		}
		low := strings.ToLower(h)
		known := low == "id"
		switch d.kind {
		case KindEvents:
			known = false
			for _, c := range eventColumns {
				if low == c {
					known = true
				}
			}
			if !known {
				return fmt.Errorf("unknown column %q for events (want %s)", h, strings.Join(eventColumns, ", "))
			}
		case KindItems:
			known = known || low == "text" || low == "category"
		}
		if known {
			h = low
		}
		if seen[h] {
			return fmt.Errorf("column %q appears twice", h)
		}
		seen[h] = true
		d.cols[i] = h
	}
	need := []string{"id"}
	if d.kind == KindEvents {
		need = eventColumns[:4]
	}
	for _, c := range need {
		if !seen[c] {
			return fmt.Errorf("missing required column %q", c)
		}
	}
	return nil
}

// next appends the next record to dst. It returns io.EOF at the end, a
// LineError for a bad line, or another error that ends the input.
func (d *decoder) next(dst *Records) error {
	var err error
	if d.cr != nil {
		err = d.nextCSV(dst)
	} else {
		err = d.nextJSONL(dst)
	}
	if err != nil || d.check == nil {
		return err
	}
	if err := d.checkLast(dst); err != nil {
		line := d.line
		if d.cr != nil {
			line, _ = d.cr.FieldPos(0)
		}
		return LineError{Line: line, Err: err}
	}
	return nil
}

// checkLast passes the record next appended to d.check and takes it out
// of dst when refused.
func (d *decoder) checkLast(dst *Records) error {
	var err error
	switch d.kind {
	case KindEvents:
		if err = d.check.CheckEvent(dst.Events[len(dst.Events)-1], d.now); err != nil {
			dst.Events = dst.Events[:len(dst.Events)-1]
		}
	case KindItems:
		if err = d.check.CheckItem(dst.Items[len(dst.Items)-1]); err != nil {
			dst.Items = dst.Items[:len(dst.Items)-1]
		}
	case KindUsers:
		if err = d.check.CheckUser(dst.Users[len(dst.Users)-1]); err != nil {
			dst.Users = dst.Users[:len(dst.Users)-1]
		}
	}
	return err
}

func (d *decoder) nextCSV(dst *Records) error {
	rec, err := d.cr.Read()
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return LineError{Line: pe.StartLine, Err: pe.Err}
		}
		return fmt.Errorf("csv: %w", err)
	}
	line, _ := d.cr.FieldPos(0)
	switch d.kind {
	case KindEvents:
		e, err := d.csvEvent(rec)
		if err == nil {
			err = e.Validate()
		}
		if err != nil {
			return LineError{Line: line, Err: err}
		}
		dst.Events = append(dst.Events, withContentID(e))
	case KindItems:
		it, err := d.csvItem(rec)
		if err == nil {
			err = it.Validate()
		}
		if err != nil {
			return LineError{Line: line, Err: err}
		}
		dst.Items = append(dst.Items, it)
	case KindUsers:
		u, err := d.csvUser(rec)
		if err == nil {
			err = u.Validate()
		}
		if err != nil {
			return LineError{Line: line, Err: err}
		}
		dst.Users = append(dst.Users, u)
	}
	return nil
}

func (d *decoder) csvEvent(rec []string) (store.Event, error) {
	var e store.Event
	var err error
	for i, v := range rec {
		c := d.cols[i]
		if v == "" {
			continue
		}
		switch c {
		case "kind":
			e.Kind = store.EventKind(strings.ToLower(strings.TrimSpace(v)))
		case "user":
			e.User = v
		case "item":
			e.Item = v
		case "time":
			e.Time, err = parseTime(v)
		case "arm":
			e.Arm = v
		case "propensity":
			e.Propensity, err = parseFloat(v)
		case "position":
			e.Position, err = strconv.Atoi(strings.TrimSpace(v))
		case "policy_id":
			e.PolicyID = v
		case "value":
			e.Value, err = parseFloat(v)
		case "id":
			e.ID = v
		}
		if err != nil {
			return store.Event{}, fmt.Errorf("column %s: %w", c, err)
		}
	}
	return e, nil
}

func (d *decoder) csvItem(rec []string) (store.Item, error) {
	var it store.Item
	for i, v := range rec {
		c := d.cols[i]
		if v == "" {
			continue
		}
		switch c {
		case "id":
			it.ID = v
		case "text":
			it.Text = v
		case "category":
			it.Category = v
		default:
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				if it.Features == nil {
					it.Features = make(map[string]float64)
				}
				it.Features[c] = f
				continue
			}
			if it.Meta == nil {
				it.Meta = make(map[string]string)
			}
			it.Meta[c] = v
		}
	}
	return it, nil
}

func (d *decoder) csvUser(rec []string) (store.User, error) {
	var u store.User
	for i, v := range rec {
		c := d.cols[i]
		if v == "" {
			continue
		}
		if c == "id" {
			u.ID = v
			continue
		}
		f, err := parseFloat(v)
		if err != nil {
			return store.User{}, fmt.Errorf("column %s: %w", c, err)
		}
		if u.Features == nil {
			u.Features = make(map[string]float64)
		}
		u.Features[c] = f
	}
	return u, nil
}

func (d *decoder) nextJSONL(dst *Records) error {
	for {
		line, err := d.readLine()
		if err != nil {
			return err
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if err := d.decodeJSON(line, dst); err != nil {
			return LineError{Line: d.line, Err: err}
		}
		return nil
	}
}

// readLine returns the next line without its newline; a line longer than
// MaxLineBytes is a LineError and is skipped whole.
func (d *decoder) readLine() ([]byte, error) {
	var buf []byte
	tooLong := false
	for {
		chunk, err := d.br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > MaxLineBytes+1 {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			if len(buf) == 0 && !tooLong {
				return nil, io.EOF
			}
		case err != nil:
			return nil, fmt.Errorf("read line %d: %w", d.line+1, err)
		}
		d.line++
		if tooLong {
			return nil, LineError{Line: d.line, Err: fmt.Errorf("line longer than %d bytes", MaxLineBytes)}
		}
		return bytes.TrimSuffix(buf, []byte("\n")), nil
	}
}

func (d *decoder) decodeJSON(line []byte, dst *Records) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var v interface{ Validate() error }
	var e store.Event
	var it store.Item
	var u store.User
	switch d.kind {
	case KindEvents:
		v = &e
	case KindItems:
		v = &it
	case KindUsers:
		v = &u
	}
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("json: more than one value on the line")
	}
	if err := v.Validate(); err != nil {
		return err
	}
	switch d.kind {
	case KindEvents:
		dst.Events = append(dst.Events, withContentID(e))
	case KindItems:
		dst.Items = append(dst.Items, it)
	case KindUsers:
		dst.Users = append(dst.Users, u)
	}
	return nil
}

// eventNamespace seeds content-derived event IDs.
var eventNamespace = uuid.MustParse("3f0c5e7a-9d41-4b8e-a1c6-7e2b9f4d6a10")

// withContentID gives an event without an ID one derived from its content.
func withContentID(e store.Event) store.Event {
	if e.ID != "" {
		return e
	}
	e = e.WithDefaults()
	canon := fmt.Sprintf("%s\x00%s\x00%s\x00%d\x00%s\x00%v\x00%d\x00%s\x00%v",
		e.Kind, e.User, e.Item, e.Time.UnixNano(), e.Arm, e.Propensity, e.Position, e.PolicyID, e.Value)
	e.ID = uuid.NewSHA1(eventNamespace, []byte(canon)).String()
	return e
}

// parseTime reads unix seconds (possibly fractional) or RFC 3339.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e11 {
			return time.Time{}, fmt.Errorf("unix time %q out of range", s)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is neither RFC 3339 nor unix seconds", s)
	}
	return t, nil
}

func parseFloat(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return f, nil
}
