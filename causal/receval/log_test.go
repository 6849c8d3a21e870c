package receval

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"
)

func TestCSVRoundTrip(t *testing.T) {
	cfg := DefaultSimConfig()
	cfg.Users, cfg.Items = 7, 5
	sim, err := Simulate(cfg, rand.NewPCG(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, sim.Train); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCSV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := sim.Train
	if !slices.Equal(got.Users, want.Users) || !slices.Equal(got.Items, want.Items) ||
		!slices.Equal(got.User, want.User) || !slices.Equal(got.Item, want.Item) ||
		!slices.Equal(got.Treated, want.Treated) || !slices.Equal(got.Outcome, want.Outcome) ||
		!slices.Equal(got.FeatureNames, want.FeatureNames) {
		t.Fatal("ids, treatments, outcomes or feature names differ after a round trip")
	}
	for r := range want.Len() {
		if !scalar.EqualWithinRel(got.Propensity[r], want.Propensity[r], 1e-5) ||
			!scalar.EqualWithinAbsOrRel(got.Tau[r], want.Tau[r], 1e-9, 1e-5) {
			t.Fatalf("row %d: propensity or tau differ", r)
		}
		for j := range want.FeatureNames {
			if !scalar.EqualWithinAbsOrRel(got.X.At(r, j), want.X.At(r, j), 1e-9, 1e-5) {
				t.Fatalf("row %d feature %d: %v, want %v", r, j, got.X.At(r, j), want.X.At(r, j))
			}
		}
	}
}

func TestReadCSVColumns(t *testing.T) {
	in := "f2,outcome,item,user,propensity,treated,f1\n" +
		"1.5,1,i1,u1,0.2,1,-1\n" +
		"2.5,0,i2,u1,0.3,false,3\n"
	l, err := ReadCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if l.Tau != nil || !slices.Equal(l.FeatureNames, []string{"f2", "f1"}) || l.X.At(1, 1) != 3 || l.Treated[1] != 0 {
		t.Errorf("parsed %+v", l)
	}
	other, err := ReadCSV(strings.NewReader("user,item,treated,propensity,outcome,f1,f2\nu,i,0,0.5,0,7,8\n"))
	if err != nil {
		t.Fatal(err)
	}
	x, err := AlignFeatures(l, other)
	if err != nil {
		t.Fatal(err)
	}
	if x.At(0, 0) != 8 || x.At(0, 1) != 7 {
		t.Errorf("aligned features %v, want [8 7]", x.RawRowView(0))
	}
	missing, _ := ReadCSV(strings.NewReader("user,item,treated,propensity,outcome,f1\nu,i,0,0.5,0,7\n"))
	if _, err := AlignFeatures(l, missing); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), `"f2"`) {
		t.Errorf("missing feature: err = %v", err)
	}
}

func TestReadCSVErrors(t *testing.T) {
	const head = "user,item,treated,propensity,outcome,tau,f\n"
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "empty file"},
		{"missing column", "user,item,treated,outcome\nu,i,1,0\n", `missing column "propensity"`},
		{"duplicate column", "user,item,treated,propensity,outcome,f,f\n", `column "f" appears twice`},
		{"no rows", head, "no data rows"},
		{"field count", head + "u,i,1,0.5,1,0,1\nu,i,1,0.5\n", "line 3"},
		{"treated", head + "u,i,2,0.5,1,0,1\n", `line 2: treated "2"`},
		{"propensity nan", head + "u,i,1,0.5,1,0,1\nu,j,1,NaN,1,0,1\n", "line 3: propensity"},
		{"propensity range", head + "u,i,1,1.5,1,0,1\n", "line 2: invalid input: propensity 1.5"},
		{"impossible arm", head + "u,i,1,0,1,0,1\n", "line 2: invalid input: treated row with propensity 0"},
		{"feature", head + "u,i,1,0.5,1,0,x\n", `line 2: feature "f" "x"`},
		{"tau", head + "u,i,1,0.5,1,inf,1\n", "line 2: tau"},
		{"empty id", head + ",i,1,0.5,1,0,1\n", "line 2: empty user or item id"},
		{"quote", head + "u,\"i,1,0.5,1,0,1\n", "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tc.in))
			if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrInput containing %q", err, tc.want)
			}
		})
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add("user,item,treated,propensity,outcome,tau,f\nu,i,1,0.5,1,0.1,2\nv,i,0,0.5,0,0,3\n")
	f.Add("user,item,treated,propensity,outcome\nu,i,true,1,1\n")
	f.Add("outcome,user,item,treated,propensity\n\"1\",\"u\",i,0,0\n")
	f.Fuzz(func(t *testing.T, in string) {
		l, err := ReadCSV(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrInput) {
				t.Fatalf("error %v does not wrap ErrInput", err)
			}
			return
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("parsed log is invalid: %v", err)
		}
		var buf bytes.Buffer
		if err := WriteCSV(&buf, l); err != nil {
			t.Fatal(err)
		}
		back, err := ReadCSV(&buf)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if back.Len() != l.Len() || !slices.Equal(back.Treated, l.Treated) {
			t.Fatal("round trip changed the log")
		}
	})
}
