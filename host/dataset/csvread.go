package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// ReadCSVFile reads the CSV table in the file at path (see ReadCSV).
func ReadCSVFile(path string) (*Frame, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseCSV(data)
}

// ReadCSV reads a CSV table with a header row (RFC 4180 as encoding/csv
// reads it: quoted fields may hold commas, doubled quotes and newlines; a
// \r before a newline is dropped; blank lines are skipped).
//
// The header's names are trimmed of spaces (and a leading byte order
// mark); they must be distinct and not empty, except that the first
// column may be unnamed: the index column pandas writes, read as a column
// named "". Every row must have the header's number of fields.
//
// A column is numeric when every cell, trimmed of spaces, parses as a
// number (strconv.ParseFloat's syntax); such a column must then hold a
// finite number in every row, and an empty cell, NaN or an infinity is an
// error naming its line. Any other column is categorical: its levels are
// the cells' texts, as they are, in order of first appearance.
//
// The input is read whole. Without quotes it is parsed in chunks on
// GOMAXPROCS goroutines; the result does not depend on their number.
func ReadCSV(r io.Reader) (*Frame, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return parseCSV(data)
}

// csvError is a parse error at a line.
type csvError struct {
	line int
	msg  string
}

func (e *csvError) err() error {
	return fmt.Errorf("%w: line %d: %s", ErrMalformed, e.line, e.msg)
}

// csvScanner splits records out of data.
type csvScanner struct {
	data []byte
	pos  int
	line int // line of data[pos], 1-based
	// fields holds the current record's fields; quoted fields that needed
	// unescaping live in buf.
	fields [][]byte
	buf    []byte
}

// next reads the next non-blank record into s.fields and returns the
// line it starts on, or 0 at the end of the data.
func (s *csvScanner) next() (int, *csvError) {
	for {
		if s.pos >= len(s.data) {
			return 0, nil
		}
		// Skip blank lines ("\n" or "\r\n").
		if c := s.data[s.pos]; c == '\n' {
			s.pos++
			s.line++
			continue
		} else if c == '\r' && s.pos+1 < len(s.data) && s.data[s.pos+1] == '\n' {
			s.pos += 2
			s.line++
			continue
		}
		start := s.line
		if err := s.record(); err != nil {
			return 0, err
		}
		// A record of one empty field is a blank line too.
		if len(s.fields) == 1 && len(s.fields[0]) == 0 {
			continue
		}
		return start, nil
	}
}

// record reads one record starting at s.pos.
func (s *csvScanner) record() *csvError {
	s.fields = s.fields[:0]
	s.buf = s.buf[:0]
	d := s.data
	for {
		if s.pos < len(d) && d[s.pos] == '"' {
			// Quoted field.
			s.pos++
			startLine := s.line
			bufStart := len(s.buf)
			for {
				i := bytes.IndexByte(d[s.pos:], '"')
				if i < 0 {
					return &csvError{startLine, `extraneous or missing " in quoted-field`}
				}
				seg := d[s.pos : s.pos+i]
				s.line += bytes.Count(seg, []byte{'\n'})
				s.buf = appendCRLF(s.buf, seg)
				s.pos += i + 1
				if s.pos < len(d) && d[s.pos] == '"' {
					s.buf = append(s.buf, '"')
					s.pos++
					continue
				}
				break
			}
			s.fields = append(s.fields, s.buf[bufStart:len(s.buf):len(s.buf)])
			switch {
			case s.pos >= len(d):
				return nil
			case d[s.pos] == ',':
				s.pos++
				continue
			case d[s.pos] == '\n':
				s.pos++
				s.line++
				return nil
			case d[s.pos] == '\r' && s.pos+1 < len(d) && d[s.pos+1] == '\n':
				s.pos += 2
				s.line++
				return nil
			case d[s.pos] == '\r' && s.pos+1 == len(d):
				s.pos++
				return nil
			}
			return &csvError{s.line, `extraneous or missing " in quoted-field`}
		}
		// Unquoted field: up to the next comma or newline.
		end := s.pos
		for end < len(d) && d[end] != ',' && d[end] != '\n' {
			end++
		}
		f := d[s.pos:end]
		last := end >= len(d) || d[end] == '\n'
		if last && len(f) > 0 && f[len(f)-1] == '\r' {
			f = f[:len(f)-1] // \r\n, or a final \r, ends the line
		}
		if bytes.IndexByte(f, '"') >= 0 {
			// (encoding/csv's message)
			return &csvError{s.line, `bare " in non-quoted-field`}
		}
		s.fields = append(s.fields, f)
		s.pos = min(end+1, len(d))
		if last {
			if end < len(d) {
				s.line++
			}
			return nil
		}
	}
}

// appendCRLF appends seg with every \r\n turned into \n, as encoding/csv
// does inside quoted fields.
func appendCRLF(dst, seg []byte) []byte {
	for {
		i := bytes.Index(seg, []byte("\r\n"))
		if i < 0 {
			return append(dst, seg...)
		}
		dst = append(dst, seg[:i]...)
		dst = append(dst, '\n')
		seg = seg[i+2:]
	}
}

// csvColumn is one column of one chunk while it is parsed.
type csvColumn struct {
	numeric bool
	// text mode: codes into the chunk's own levels.
	codes  []int32
	levels []string
	index  map[string]int32
	// bad is the first bad cell while numeric: the first non-finite
	// number, else the first empty cell.
	bad *csvBad
}

func (c *csvColumn) code(b []byte) int32 {
	if k, ok := c.index[string(b)]; ok {
		return k
	}
	k := int32(len(c.levels))
	s := string(b)
	c.index[s] = k
	c.levels = append(c.levels, s)
	return k
}

// csvChunk is a range of the body parsed by one goroutine.
type csvChunk struct {
	data      []byte
	firstLine int
	newlines  int
	off       int // index of the chunk's first row in the frame
	rows      int
	cols      []csvColumn
	err       *csvError
}

// parseCSV parses data (see ReadCSV).
func parseCSV(data []byte) (*Frame, error) {
	sc := &csvScanner{data: data, line: 1}
	line, perr := sc.next()
	if perr != nil {
		return nil, perr.err()
	}
	if line == 0 {
		return nil, fmt.Errorf("%w: empty input: no header row", ErrMalformed)
	}
	f := &Frame{}
	seen := map[string]bool{}
	for i, b := range sc.fields {
		h := strings.TrimSpace(string(b))
		if i == 0 {
			h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		}
		if h == "" && i > 0 {
			return nil, fmt.Errorf("%w: line %d: column %d has no name", ErrMalformed, line, i+1)
		}
		if seen[h] {
			return nil, fmt.Errorf("%w: line %d: duplicate column %q", ErrMalformed, line, h)
		}
		seen[h] = true
		f.Columns = append(f.Columns, &Column{Name: h, Numeric: true})
	}
	body := data[sc.pos:]
	chunks := splitChunks(body, sc.line)
	// Allocate every column as numeric, each chunk writing its rows at
	// its offset; rows are at most the lines of the chunk.
	total := 0
	for _, c := range chunks {
		c.off = total
		total += c.newlines + 1
	}
	p := len(f.Columns)
	vals := make([][]float64, p)
	for j := range vals {
		vals[j] = make([]float64, total)
	}
	lines := make([]int, total)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for _, c := range chunks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c.parse(p, vals, lines)
		}()
	}
	wg.Wait()
	for _, c := range chunks {
		if c.err != nil {
			return nil, c.err.err()
		}
	}
	// Close the gaps left by blank lines.
	rows := 0
	for _, c := range chunks {
		if c.off != rows {
			for j := range vals {
				copy(vals[j][rows:], vals[j][c.off:c.off+c.rows])
			}
			copy(lines[rows:], lines[c.off:c.off+c.rows])
		}
		c.off = rows
		rows += c.rows
	}
	if rows == 0 {
		return nil, fmt.Errorf("%w: no data rows after the header", ErrMalformed)
	}
	f.Rows, f.Lines = rows, lines[:rows:rows]
	for j, col := range f.Columns {
		numeric := true
		for _, c := range chunks {
			numeric = numeric && c.cols[j].numeric
		}
		if numeric {
			col.Values = vals[j][:rows:rows]
			continue
		}
		vals[j] = nil
		col.Numeric = false
		col.index = map[string]int32{}
		col.Codes = make([]int32, 0, rows)
		for _, c := range chunks {
			cc := &c.cols[j]
			if cc.numeric {
				cc.textMode(c.data, c.firstLine, j, c.rows)
			}
			remap := make([]int32, len(cc.levels))
			for k, l := range cc.levels {
				remap[k] = col.code(l)
			}
			for _, k := range cc.codes {
				col.Codes = append(col.Codes, remap[k])
			}
		}
	}
	// Errors of numeric columns: the first non-finite number, else the
	// first empty cell.
	var bad *csvBad
	for j, col := range f.Columns {
		if !col.Numeric {
			continue
		}
		for _, c := range chunks {
			b := c.cols[j].bad
			if b != nil && (bad == nil || b.nonFinite() && !bad.nonFinite() || b.nonFinite() == bad.nonFinite() && b.line < bad.line) {
				cp := *b
				cp.col = col.Name
				bad = &cp
			}
		}
	}
	if bad != nil {
		if bad.nonFinite() {
			return nil, fmt.Errorf("%w: line %d: column %q: %q is not a finite number", ErrMalformed, bad.line, bad.col, bad.text)
		}
		return nil, fmt.Errorf("%w: line %d: column %q is empty (numeric columns need a number in every row)", ErrMalformed, bad.line, bad.col)
	}
	return f, nil
}

// csvBad is the first bad cell of a numeric column in a chunk: an empty
// cell (text "") or NaN or an infinity.
type csvBad struct {
	line      int
	text, col string
}

func (b *csvBad) nonFinite() bool { return b.text != "" }

// csvMinChunk is the smallest chunk worth a goroutine (a variable for
// the tests).
var csvMinChunk = 1 << 20

// splitChunks cuts the body into chunks at line ends: one chunk when it
// is small or holds a quote (a quoted field may span lines), else four
// per goroutine.
func splitChunks(body []byte, firstLine int) []*csvChunk {
	minChunk := csvMinChunk
	k := 4 * runtime.GOMAXPROCS(0)
	if len(body) < 2*minChunk || bytes.IndexByte(body, '"') >= 0 {
		k = 1
	}
	k = min(k, max(len(body)/minChunk, 1))
	var out []*csvChunk
	start, line := 0, firstLine
	for c := 1; c <= k; c++ {
		end := len(body)
		if c < k {
			end = c * len(body) / k
			if end <= start {
				continue
			}
			nl := bytes.IndexByte(body[end:], '\n')
			if nl < 0 {
				end = len(body)
			} else {
				end += nl + 1
			}
		}
		if end <= start {
			continue
		}
		nl := bytes.Count(body[start:end], []byte{'\n'})
		out = append(out, &csvChunk{data: body[start:end], firstLine: line, newlines: nl})
		line += nl
		start = end
	}
	if len(out) == 0 {
		out = append(out, &csvChunk{data: body, firstLine: firstLine, newlines: bytes.Count(body, []byte{'\n'})})
	}
	return out
}

// parse reads the chunk's records: numbers into vals at the chunk's
// offset while a column stays numeric, texts into the chunk's own levels
// once it does not.
func (c *csvChunk) parse(p int, vals [][]float64, lines []int) {
	c.cols = make([]csvColumn, p)
	for j := range c.cols {
		c.cols[j].numeric = true
	}
	sc := &csvScanner{data: c.data, line: c.firstLine}
	for {
		line, err := sc.next()
		if err != nil {
			c.err = err
			return
		}
		if line == 0 {
			return
		}
		if len(sc.fields) != p {
			c.err = &csvError{line, fmt.Sprintf("%d fields, the header has %d", len(sc.fields), p)}
			return
		}
		r := c.off + c.rows
		lines[r] = line
		for j, cell := range sc.fields {
			col := &c.cols[j]
			if col.numeric {
				v, ok := parseNumber(cell)
				if ok {
					if (math.IsNaN(v) || math.IsInf(v, 0)) && (col.bad == nil || !col.bad.nonFinite()) {
						col.bad = &csvBad{line: line, text: string(cell)}
					}
					vals[j][r] = v
					continue
				}
				if isBlank(cell) {
					if col.bad == nil {
						col.bad = &csvBad{line: line}
					}
					vals[j][r] = math.NaN()
					continue
				}
				col.textMode(c.data, c.firstLine, j, c.rows)
			}
			col.codes = append(col.codes, col.code(cell))
		}
		c.rows++
	}
}

// textMode switches a column of the chunk from numbers to texts: it reads
// the column's cells of the chunk's first rows again as texts.
func (col *csvColumn) textMode(data []byte, firstLine, j, rows int) {
	col.numeric = false
	col.index = map[string]int32{}
	col.codes = make([]int32, 0, rows+1)
	sc := &csvScanner{data: data, line: firstLine}
	for range rows {
		if line, err := sc.next(); err != nil || line == 0 {
			panic("dataset: a chunk parsed once no longer parses")
		}
		col.codes = append(col.codes, col.code(sc.fields[j]))
	}
}

// isBlank reports whether b holds only spaces.
func isBlank(b []byte) bool { return len(bytes.TrimSpace(b)) == 0 }

// pow10 holds the powers of ten exactly representable as float64.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseNumber parses a cell trimmed of spaces as strconv.ParseFloat does,
// with a fast path for plain decimals: a mantissa of at most 2⁵³ and a
// power of ten of at most 22 in size give the correctly rounded result
// with one multiplication or division (Clinger 1990); other mantissas of
// up to 19 digits go to eiselLemire. Anything else goes to
// strconv.ParseFloat.
func parseNumber(b []byte) (float64, bool) {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return 0, false
	}
	i, neg := 0, false
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		i++
	}
	var mant uint64
	digits, exp := 0, 0
	sawDigit, sawDot := false, false
	for ; i < len(b); i++ {
		ch := b[i]
		if ch >= '0' && ch <= '9' {
			sawDigit = true
			if mant == 0 && ch == '0' {
				if sawDot {
					exp--
				}
				continue
			}
			if digits >= 19 {
				return slowNumber(b)
			}
			mant = mant*10 + uint64(ch-'0')
			digits++
			if sawDot {
				exp--
			}
			continue
		}
		if ch == '.' && !sawDot {
			sawDot = true
			continue
		}
		break
	}
	if !sawDigit {
		return slowNumber(b)
	}
	if i < len(b) {
		if b[i] != 'e' && b[i] != 'E' {
			return slowNumber(b)
		}
		i++
		eneg := false
		if i < len(b) && (b[i] == '-' || b[i] == '+') {
			eneg = b[i] == '-'
			i++
		}
		if i == len(b) {
			return slowNumber(b)
		}
		e := 0
		for ; i < len(b); i++ {
			ch := b[i]
			if ch < '0' || ch > '9' || e > 10000 {
				return slowNumber(b)
			}
			e = e*10 + int(ch-'0')
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	v := float64(mant)
	switch {
	case mant == 0:
	case mant > 1<<53:
		var ok bool
		if v, ok = eiselLemire(mant, exp); !ok {
			return slowNumber(b)
		}
	case exp == 0:
	case exp > 0 && exp <= 22:
		v *= pow10[exp]
	case exp < 0 && exp >= -22:
		v /= pow10[-exp]
	default:
		var ok bool
		if v, ok = eiselLemire(mant, exp); !ok {
			return slowNumber(b)
		}
	}
	if neg {
		v = -v
	}
	return v, true
}

// slowNumber is strconv.ParseFloat of b trimmed of spaces, without
// copying b. Out of range numbers give ±Inf (and are then not finite).
func slowNumber(b []byte) (float64, bool) {
	s := strings.TrimSpace(unsafe.String(unsafe.SliceData(b), len(b)))
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return v, true // ±Inf or 0, as ParseFloat returns them
		}
		return 0, false
	}
	return v, true
}
