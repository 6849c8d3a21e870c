package ope

import (
	"math/bits"
	"math/rand/v2"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/stat/distuv"
)

// Resampling constants: rows are visited in blocks of bootBlock (a block
// of per-row values stays in cache while every resample of a group draws
// from it), resamples in groups of bootGroup.
const (
	bootBits  = 10
	bootBlock = 1 << bootBits
	bootGroup = 32
)

// resampleSums draws R bootstrap resamples of the n rows (n draws with
// replacement each) and returns the column sums of vals under each,
//
//	out[b·nc + c] = Σ_i m_{b,i}·vals[i·nc + c],
//
// where m_b are resample b's multiplicities, Multinomial(n; 1/n, …, 1/n).
//
// The multiplicities are drawn block by block without ever being stored:
// the count falling into a block of B rows, given the r draws not yet
// placed in the n' rows from the block on, is Binomial(r, B/n'), and those
// draws pick uniformly among the block's rows. The sequential binomial
// split is exactly the multinomial distribution, and all the random
// access stays inside one block. Resample b uses its own PCG stream seeded
// from src before any work starts, so the result does not depend on
// workers (0 means GOMAXPROCS). progress, when not nil, is called with
// the number of resamples finished (from one goroutine at a time). Once
// stop is closed the groups not yet begun are skipped (their sums stay 0).
func resampleSums(vals []float64, n, nc, R int, src rand.Source, workers int, progress func(done, total int), stop <-chan struct{}) []float64 {
	seeds := make([][2]uint64, R)
	for b := range seeds {
		seeds[b] = [2]uint64{src.Uint64(), src.Uint64()}
	}
	// Pad each row to a multiple of 8 values so the inner loop works on
	// fixed-size arrays.
	stride := (nc + 7) / 8 * 8
	padded := vals
	if stride != nc {
		padded = make([]float64, n*stride)
		for i := range n {
			copy(padded[i*stride:], vals[i*nc:(i+1)*nc])
		}
	}
	out := make([]float64, R*nc)
	groups := (R + bootGroup - 1) / bootGroup
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Each worker's sums, counts of draws left and generators, for a
	// group of resamples at a time.
	type state struct {
		acc  []float64
		rem  []int
		pcgs []*rand.PCG
	}
	states := make([]*state, workers)
	var mu sync.Mutex
	done := 0
	parallelBlocks(groups, 1, workers, func(worker, grp, _ int) {
		st := states[worker]
		if st == nil {
			st = &state{acc: make([]float64, bootGroup*stride), rem: make([]int, bootGroup), pcgs: make([]*rand.PCG, bootGroup)}
			for g := range st.pcgs {
				st.pcgs[g] = rand.NewPCG(0, 0)
			}
			states[worker] = st
		}
		select {
		case <-stop:
			return // the caller discards the sums
		default:
		}
		lo, hi := grp*bootGroup, min((grp+1)*bootGroup, R)
		m := hi - lo
		clear(st.acc)
		for g := range m {
			st.pcgs[g].Seed(seeds[lo+g][0], seeds[lo+g][1])
			st.rem[g] = n
		}
		for start := 0; start < n; start += bootBlock {
			size := min(bootBlock, n-start)
			left := n - start
			block := padded[start*stride : (start+size)*stride]
			for g := range m {
				c := st.rem[g]
				if size < left && c > 0 {
					c = int(distuv.Binomial{N: float64(c), P: float64(size) / float64(left), Src: st.pcgs[g]}.Rand())
				}
				st.rem[g] -= c
				addDraws(st.acc[g*stride:(g+1)*stride], block, stride, size, c, st.pcgs[g])
			}
		}
		for g := range m {
			copy(out[(lo+g)*nc:(lo+g+1)*nc], st.acc[g*stride:g*stride+nc])
		}
		if progress != nil {
			mu.Lock()
			done += m
			progress(done, R)
			mu.Unlock()
		}
	})
	return out
}

// addDraws adds c rows drawn uniformly from the size rows of block (each
// stride values, stride a multiple of 8) to acc. In a full block
// (bootBlock = 2¹⁰ rows) an index is 10 bits of a 64-bit uniform, six
// indices a word; in the last, shorter block it is the high word of a
// 64-bit uniform times size (Lemire's multiply-shift, biased by less than
// size/2⁶⁴). Rows wider than 8 values take the same draws again for each
// further 8 values (the generator's state is replayed).
func addDraws(acc, block []float64, stride, size, c int, pcg *rand.PCG) {
	saved := *pcg
	for off := 0; off < stride; off += 8 {
		*pcg = saved
		addDraws8(acc[off:off+8], block, off, stride, size, c, pcg)
	}
}

// addDraws8 is addDraws for the 8 values at offset off of each row, with
// the sums held in eight variables: each draw then costs eight loads and
// eight independent adds.
func addDraws8(acc, block []float64, off, stride, size, c int, pcg *rand.PCG) {
	acc = acc[:8]
	if size != bootBlock {
		// The last, shorter block: rare, so plainly.
		for range c {
			hi, _ := bits.Mul64(pcg.Uint64(), uint64(size))
			j := int(hi)*stride + off
			for q, v := range block[j : j+8] {
				acc[q] += v
			}
		}
		return
	}
	a0, a1, a2, a3, a4, a5, a6, a7 := acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]
	for c > 0 {
		u := pcg.Uint64()
		m := min(c, 64/bootBits)
		c -= m
		for range m {
			j := int(u&(bootBlock-1))*stride + off
			u >>= bootBits
			r := block[j : j+8 : j+8]
			a0 += r[0]
			a1 += r[1]
			a2 += r[2]
			a3 += r[3]
			a4 += r[4]
			a5 += r[5]
			a6 += r[6]
			a7 += r[7]
		}
	}
	acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7] = a0, a1, a2, a3, a4, a5, a6, a7
}
