package main

import (
	"bytes"
	"fmt"
	"math"
	"runtime"
	"time"

	"github.com/causalrec/causalrec/lm"
)

func evaluate(train, test [][]string, passes int) error {
	for _, order := range []int{3, 5} {
		c := lm.NewCorpus()
		for _, s := range train {
			if err := c.Add(s); err != nil {
				return err
			}
		}
		start := time.Now()
		a, err := lm.Estimate(c, lm.EstimateOptions{Order: order})
		if err != nil {
			return err
		}
		est := time.Since(start)
		start = time.Now()
		m, err := lm.NewModel(a)
		if err != nil {
			return err
		}
		build := time.Since(start)
		total := 0
		for k := range a.Orders {
			total += a.Orders[k].Len()
		}
		fmt.Printf("\norder %d: %d n-grams %v, vocabulary %d; estimate %v, build %v\n",
			order, total, counts(a), len(a.Vocab), est.Round(time.Millisecond), build.Round(time.Millisecond))
		for k, d := range a.Discounts {
			fmt.Printf("  %d-gram discounts D1 %.4f D2 %.4f D3+ %.4f\n", k+1, d[0], d[1], d[2])
		}
		var f lm.Fluency
		for _, s := range test {
			f.Add(m.Fluency(s))
		}
		fmt.Printf("  test: %d events (with </s>), %d OOV; perplexity %.1f with OOVs, %.1f without\n",
			f.Events, f.OOV, f.Perplexity(), f.PerplexityWithoutOOV())
		if order == 5 {
			if err := speed(a, m, test, passes); err != nil {
				return err
			}
		}
	}
	return nil
}

func counts(a *lm.ARPA) []int {
	var c []int
	for k := range a.Orders {
		c = append(c, a.Orders[k].Len())
	}
	return c
}

// mapModel is the baseline: Go maps keyed by word-id arrays, standard
// backoff recursion.
type mapModel struct {
	order  int
	tables []map[[lm.MaxOrder]lm.WordID][2]float32
}

func newMapModel(a *lm.ARPA) *mapModel {
	mm := &mapModel{order: a.Order()}
	for k := 1; k <= a.Order(); k++ {
		t := &a.Orders[k-1]
		tab := make(map[[lm.MaxOrder]lm.WordID][2]float32, t.Len())
		for i := 0; i < t.Len(); i++ {
			var key [lm.MaxOrder]lm.WordID
			copy(key[:], a.NGrams(k, i))
			var bo float32
			if t.Backoff != nil {
				bo = float32(t.Backoff[i])
			}
			tab[key] = [2]float32{float32(t.Prob[i]), bo}
		}
		mm.tables = append(mm.tables, tab)
	}
	return mm
}

// score returns log10 p(ws[len-1] | ws[:len-1]).
func (mm *mapModel) score(ws []lm.WordID) float32 {
	var bo float32
	for len(ws) > 0 {
		var key [lm.MaxOrder]lm.WordID
		copy(key[:], ws)
		if e, ok := mm.tables[len(ws)-1][key]; ok {
			return bo + e[0]
		}
		if len(ws) > 1 {
			var ctx [lm.MaxOrder]lm.WordID
			copy(ctx[:], ws[:len(ws)-1])
			if e, ok := mm.tables[len(ws)-2][ctx]; ok {
				bo += e[1]
			}
		}
		ws = ws[1:]
	}
	return bo
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func speed(a *lm.ARPA, m *lm.Model, test [][]string, passes int) error {
	// Queries are word ids, converted beforehand as in KenLM's benchmark.
	var sents [][]lm.WordID
	events := 0
	for _, s := range test {
		ids := []lm.WordID{m.BeginID()}
		for _, w := range s {
			ids = append(ids, m.Index(w))
		}
		ids = append(ids, m.EndID())
		sents = append(sents, ids)
		events += len(ids) - 1
	}
	total := 0
	for k := range a.Orders {
		total += a.Orders[k].Len()
	}

	start := time.Now()
	var sum float64
	for range passes {
		for _, ids := range sents {
			st := m.BeginSentence()
			for _, w := range ids[1:] {
				p, _ := m.Score(&st, w, &st)
				sum += float64(p)
			}
		}
	}
	hashed := time.Since(start)
	nq := float64(events * passes)

	before := heapInUse()
	mm := newMapModel(a)
	mapBytes := heapInUse() - before
	start = time.Now()
	var sumMap float64
	for range passes {
		for _, ids := range sents {
			for i := 1; i < len(ids); i++ {
				from := max(0, i-mm.order+1)
				sumMap += float64(mm.score(ids[from : i+1]))
			}
		}
	}
	mapped := time.Since(start)
	runtime.KeepAlive(mm)
	if math.Abs(sum-sumMap) > 1e-3*math.Abs(sum) {
		return fmt.Errorf("hashed and map scorers disagree: %v vs %v", sum, sumMap)
	}

	var bin bytes.Buffer
	if err := m.WriteBinary(&bin); err != nil {
		return err
	}
	var arpa bytes.Buffer
	if err := lm.WriteARPA(&arpa, a); err != nil {
		return err
	}
	start = time.Now()
	if _, err := lm.LoadModel(bytes.NewReader(bin.Bytes())); err != nil {
		return err
	}
	loadBin := time.Since(start)
	start = time.Now()
	if _, err := lm.LoadModel(bytes.NewReader(arpa.Bytes())); err != nil {
		return err
	}
	loadARPA := time.Since(start)

	fmt.Printf("\n5-gram queries (%d per pass, %d passes, word ids converted beforehand):\n", events, passes)
	fmt.Printf("  hashed Model:   %6.2f M queries/s, %5.1f bytes/n-gram (%d bytes)\n",
		nq/hashed.Seconds()/1e6, float64(m.SizeBytes())/float64(total), m.SizeBytes())
	fmt.Printf("  map baseline:   %6.2f M queries/s, %5.1f bytes/n-gram (%d bytes of heap)\n",
		nq/mapped.Seconds()/1e6, float64(mapBytes)/float64(total), mapBytes)
	fmt.Printf("  speed-up %.1fx, memory %.2fx of the baseline\n",
		mapped.Seconds()/hashed.Seconds(), float64(m.SizeBytes())/float64(mapBytes))
	fmt.Printf("  load: binary %d bytes in %v; ARPA %d bytes in %v (%.0fx)\n",
		bin.Len(), loadBin.Round(time.Microsecond), arpa.Len(), loadARPA.Round(time.Millisecond),
		loadARPA.Seconds()/loadBin.Seconds())
	return nil
}
