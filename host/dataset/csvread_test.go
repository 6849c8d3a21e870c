package dataset

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// readCSVReference reads a CSV table by ReadCSV's rules, straightforwardly
// on top of encoding/csv: the reference the fast parser is fuzzed against.
func readCSVReference(in string) (*Frame, error) {
	cr := csv.NewReader(strings.NewReader(in))
	cr.FieldsPerRecord = -1
	var recs [][]string
	var lines []int
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(rec) == 1 && rec[0] == "" {
			continue
		}
		line, _ := cr.FieldPos(0)
		recs = append(recs, rec)
		lines = append(lines, line)
	}
	if len(recs) == 0 {
		return nil, errors.New("no header")
	}
	f := &Frame{}
	seen := map[string]bool{}
	for i, h := range recs[0] {
		h = strings.TrimSpace(h)
		if i == 0 {
			h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		}
		if (h == "" && i > 0) || seen[h] {
			return nil, errors.New("bad header")
		}
		seen[h] = true
		f.Columns = append(f.Columns, &Column{Name: h})
	}
	for k, rec := range recs[1:] {
		if len(rec) != len(f.Columns) {
			return nil, fmt.Errorf("line %d: ragged", lines[k+1])
		}
	}
	f.Rows, f.Lines = len(recs)-1, lines[1:]
	if f.Rows == 0 {
		return nil, errors.New("no rows")
	}
	for j, c := range f.Columns {
		c.Numeric = true
		var bad error
		for _, rec := range recs[1:] {
			t := strings.TrimSpace(rec[j])
			v, err := strconv.ParseFloat(t, 64)
			var ne *strconv.NumError
			if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
				err = nil
			}
			switch {
			case t == "":
				bad = errors.New("empty")
			case err != nil:
				c.Numeric = false
			case math.IsNaN(v) || math.IsInf(v, 0):
				bad = errors.New("not finite")
			}
			c.Values = append(c.Values, v)
		}
		if c.Numeric && bad != nil {
			return nil, bad
		}
		if !c.Numeric {
			c.Values = nil
			c.index = map[string]int32{}
			for _, rec := range recs[1:] {
				c.Codes = append(c.Codes, c.code(rec[j]))
			}
		}
	}
	return f, nil
}

// sameFrame compares two frames' contents.
func sameFrame(a, b *Frame) error {
	if a.Rows != b.Rows || !reflect.DeepEqual(a.Lines, b.Lines) || len(a.Columns) != len(b.Columns) {
		return fmt.Errorf("rows %d vs %d, lines %v vs %v, %d vs %d columns", a.Rows, b.Rows, a.Lines, b.Lines, len(a.Columns), len(b.Columns))
	}
	for j, c := range a.Columns {
		d := b.Columns[j]
		if c.Name != d.Name || c.Numeric != d.Numeric {
			return fmt.Errorf("column %d: %q numeric=%v vs %q numeric=%v", j, c.Name, c.Numeric, d.Name, d.Numeric)
		}
		if c.Numeric && !reflect.DeepEqual(c.Values, d.Values) {
			return fmt.Errorf("column %q: values %v vs %v", c.Name, c.Values, d.Values)
		}
		if !c.Numeric && (!reflect.DeepEqual(c.Codes, d.Codes) || !reflect.DeepEqual(c.Levels, d.Levels)) {
			return fmt.Errorf("column %q: codes %v levels %q vs codes %v levels %q", c.Name, c.Codes, c.Levels, d.Codes, d.Levels)
		}
	}
	return nil
}

// checkAgainstReference parses in with the fast parser, in one chunk and
// in chunks of a few bytes, and compares with the reference.
func checkAgainstReference(t *testing.T, in string) {
	t.Helper()
	want, werr := readCSVReference(in)
	for _, chunk := range []int{1 << 20, 7} {
		old := csvMinChunk
		csvMinChunk = chunk
		got, gerr := ReadCSV(strings.NewReader(in))
		csvMinChunk = old
		if (gerr != nil) != (werr != nil) {
			t.Fatalf("chunk %d: %q: error %v, reference error %v", chunk, in, gerr, werr)
		}
		if gerr != nil {
			if !errors.Is(gerr, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", gerr)
			}
			continue
		}
		if err := sameFrame(got, want); err != nil {
			t.Fatalf("chunk %d: %q: %v", chunk, in, err)
		}
	}
}

func TestReadCSVMatchesReference(t *testing.T) {
	for _, in := range []string{
		",timestamp,item_id,click\n0,2019-11-24 00:03,14,0\n1,2019-11-24 00:04,10,1\n",
		"a,b\r\n1,\"x\r\ny\"\r\n2,\"z\"\"\"\r\n",
		"a,b\n1,2\n\n\n3,4\n",
		"a\n1\n1.50\nabc\n1.50\n",
		"a\n1e400\n",
		"a\n1e-400\n",
		"a\n 7 \n\t8\n",
		"a,b\n1,2\r",
		"a\n\"1\"\r",
		"x\n0x1p-2\n1_0\n",
		"a\n.5\n-0\n+3.\n",
		"a\n12345678901234567890123\n0.029411764705882353\n",
	} {
		checkAgainstReference(t, in)
	}
}

func TestReadCSVUnnamedIndex(t *testing.T) {
	f, err := ReadCSV(strings.NewReader(",item_id,x\n0,3,a\n1,4,b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Columns[0].Name != "" || !f.Columns[0].Numeric || f.Columns[1].Name != "item_id" {
		t.Fatalf("columns %q", f.Names())
	}
	if _, err := ReadCSV(strings.NewReader("a,,b\n1,2,3\n")); err == nil || !strings.Contains(err.Error(), "column 2 has no name") {
		t.Fatalf("an unnamed middle column: %v", err)
	}
}

// TestReadCSVChunks parses a larger input in many chunks and compares
// with one chunk, mixed columns (numbers then text) included.
func TestReadCSVChunks(t *testing.T) {
	var b strings.Builder
	b.WriteString("n,mixed,s\n")
	for i := range 5000 {
		m := strconv.Itoa(i % 7)
		if i == 4321 {
			m = "late text"
		}
		if i%500 == 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%d.25,%s,s%d\n", i, m, i%13)
	}
	checkAgainstReference(t, b.String())
	old := csvMinChunk
	csvMinChunk = 1000
	defer func() { csvMinChunk = old }()
	f, err := ReadCSV(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := f.Column("mixed"); c.Numeric || len(c.Levels) != 8 || c.Levels[7] != "late text" {
		t.Fatalf("mixed column: numeric %v levels %q", c.Numeric, c.Levels)
	}
}

func FuzzReadCSVReference(f *testing.F) {
	f.Add(threeArms)
	f.Add(",a,b\n0,1,x\n1,\"2\",y\n")
	f.Add("a,b\r\n1,\"x\r\ny\"\r\n")
	f.Add("a\n1\n\nx\n2\n")
	f.Fuzz(func(t *testing.T, in string) {
		checkAgainstReference(t, in)
	})
}
