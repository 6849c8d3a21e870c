package receval

import (
	"bytes"
	"encoding/csv"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/causalrec/causalrec/causal"
)

func benchSim(b *testing.B, users, items int) *Simulation {
	b.Helper()
	cfg := DefaultSimConfig()
	cfg.Users, cfg.Items = users, items
	sim, err := Simulate(cfg, rand.NewPCG(1, 2))
	if err != nil {
		b.Fatal(err)
	}
	return sim
}

// BenchmarkReadCSV compares ReadCSV with a bare encoding/csv pass over
// the same bytes, the floor of any CSV reader.
func BenchmarkReadCSV(b *testing.B) {
	sim := benchSim(b, 200, 100)
	var buf bytes.Buffer
	if err := WriteCSV(&buf, sim.Train); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.Run("rows=20000/encoding-csv", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			cr := csv.NewReader(bytes.NewReader(data))
			cr.ReuseRecord = true
			for {
				if _, err := cr.Read(); err == io.EOF {
					break
				}
			}
		}
	})
	b.Run("rows=20000/ReadCSV", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := ReadCSV(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEvaluate(b *testing.B) {
	for _, users := range []int{100, 1000} {
		sim := benchSim(b, users, 100)
		b.Run("users="+strconv.Itoa(users)+"/items=100", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Evaluate(sim.Test, sim.Test.Tau, 10, causal.Bootstrap{}, rand.NewPCG(1, 1)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDLCEFit(b *testing.B) {
	sim := benchSim(b, 300, 100)
	b.Run("users=300/items=100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := (DLCE{}).FitModel(sim.Train, rand.NewPCG(1, 1)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
