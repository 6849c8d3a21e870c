package dataset

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestReadCSV(t *testing.T) {
	f, err := ReadCSV(strings.NewReader("x,seg,y\n1,a,0\n2.5,b,1\n\n3,a,1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Rows != 3 || !reflect.DeepEqual(f.Lines, []int{2, 3, 5}) {
		t.Fatalf("rows %d lines %v", f.Rows, f.Lines)
	}
	x, _ := f.Column("x")
	seg, _ := f.Column("seg")
	if !x.Numeric || !reflect.DeepEqual(x.Values, []float64{1, 2.5, 3}) {
		t.Errorf("x = %+v", x)
	}
	if seg.Numeric || !reflect.DeepEqual(seg.Levels, []string{"a", "b"}) || !reflect.DeepEqual(seg.Codes, []int32{0, 1, 0}) {
		t.Errorf("seg = %+v", seg)
	}
}

func TestReadCSVTurnsMixedColumnCategorical(t *testing.T) {
	f, err := ReadCSV(strings.NewReader("c\n1\n\nx\n2\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := f.Column("c")
	if c.Numeric || !reflect.DeepEqual(c.Levels, []string{"1", "x", "2"}) {
		t.Errorf("c = %+v", c)
	}
}

func TestReadCSVErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", "no header"},
		{"header only", "a,b\n", "no data rows"},
		{"ragged", "a,b\n1,2\n3\n", "line 3: 1 fields"},
		{"nan", "a,b\n1,2\nNaN,3\n", `line 3: column "a": "NaN" is not a finite number`},
		{"inf", "a\n+Inf\n", `line 2: column "a"`},
		{"empty numeric", "a,b\n1,2\n,3\n", `line 3: column "a" is empty`},
		{"duplicate", "a,a\n1,2\n", `duplicate column "a"`},
		{"unnamed", "a,\n1,2\n", "column 2 has no name"},
		{"bad quote", "a\n\"x\n", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tt.in))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrMalformed containing %q", err, tt.want)
			}
		})
	}
}

const threeArms = `recency,zip,segment,visit
1,Urban,No E-Mail,0
2,Rural,Womens E-Mail,1
3,Urban,Mens E-Mail,1
4,Rural,No E-Mail,1
5,Urban,Womens E-Mail,0
6,Rural,Mens E-Mail,0
`

func TestBuildFit(t *testing.T) {
	f, err := ReadCSV(strings.NewReader(threeArms))
	if err != nil {
		t.Fatal(err)
	}
	req, schema, sum, err := BuildFit(f, Spec{Treatment: "segment", Outcome: "visit", Control: "No E-Mail", Treated: []string{"Womens E-Mail"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(schema.Arms, []string{"No E-Mail", "Womens E-Mail"}) {
		t.Errorf("arms %v", schema.Arms)
	}
	if sum.Used != 4 || sum.Dropped != 2 || !reflect.DeepEqual(sum.ArmRows, []int{2, 2}) {
		t.Errorf("summary %+v", sum)
	}
	if !reflect.DeepEqual(req.Arm, []int{0, 1, 0, 1}) || !reflect.DeepEqual(req.Outcome, []float64{0, 1, 1, 0}) {
		t.Errorf("arm %v outcome %v", req.Arm, req.Outcome)
	}
	// recency numeric, zip categorical (Urban=0, Rural=1).
	if want := []float64{1, 0, 2, 1, 4, 1, 5, 0}; !reflect.DeepEqual(req.X, want) {
		t.Errorf("X = %v, want %v", req.X, want)
	}
	if err := req.Validate(); err != nil {
		t.Fatal(err)
	}
	x, unknown, err := schema.Matrix(f)
	if err != nil || unknown != 0 || len(x) != 12 {
		t.Fatalf("matrix: %v %d %v", x, unknown, err)
	}
	// All three arms when no --treated is given.
	_, schema3, _, err := BuildFit(f, Spec{Treatment: "segment", Outcome: "visit", Control: "No E-Mail"})
	if err != nil || len(schema3.Arms) != 3 {
		t.Fatalf("three arms: %v %v", schema3.Arms, err)
	}
}

func TestBuildFitErrors(t *testing.T) {
	f, err := ReadCSV(strings.NewReader(threeArms))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"no treatment", Spec{Treatment: "t", Outcome: "visit", Control: "0"}, `treatment column "t" not found`},
		{"categorical outcome", Spec{Treatment: "segment", Outcome: "zip", Control: "No E-Mail"}, "is not numeric"},
		{"no control", Spec{Treatment: "segment", Outcome: "visit", Control: "0"}, `control value "0" not found`},
		{"bad treated", Spec{Treatment: "segment", Outcome: "visit", Control: "No E-Mail", Treated: []string{"Kids"}}, `treated value "Kids" not found`},
		{"missing feature", Spec{Treatment: "segment", Outcome: "visit", Control: "No E-Mail", Features: []string{"age"}}, `feature column "age" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := BuildFit(f, tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestBinary(t *testing.T) {
	f, err := ReadCSV(strings.NewReader(threeArms))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Binary(f, "segment", "No E-Mail", ""); err == nil || !strings.Contains(err.Error(), "--treated") {
		t.Fatalf("three arms without --treated: got %v", err)
	}
	got, err := Binary(f, "segment", "No E-Mail", "Mens E-Mail")
	if err != nil || !reflect.DeepEqual(got, []int{0, -1, 1, 0, -1, 1}) {
		t.Fatalf("got %v, %v", got, err)
	}
	g, _ := ReadCSV(strings.NewReader("t,y\n0,1\n1.0,0\n"))
	if got, err := Binary(g, "t", "0", ""); err != nil || !reflect.DeepEqual(got, []int{0, 1}) {
		t.Fatalf("numeric treatment: %v %v", got, err)
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add(threeArms)
	f.Add("a,b\n1,2\n\"x,y\",3\n")
	f.Add("a\nNaN\n")
	f.Fuzz(func(t *testing.T, in string) {
		fr, err := ReadCSV(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		for _, c := range fr.Columns {
			n := len(c.Values)
			if !c.Numeric {
				n = len(c.Codes)
			}
			if n != fr.Rows {
				t.Fatalf("column %q has %d values for %d rows", c.Name, n, fr.Rows)
			}
			for i := 0; i < fr.Rows; i++ {
				_ = c.String(i)
			}
		}
	})
}
