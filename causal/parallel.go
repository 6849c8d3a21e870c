package causal

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallelFor calls f(k) for every k in [0, n) on up to workers goroutines
// (GOMAXPROCS when workers ≤ 0) and returns when every call has returned.
// The k are handed out in increasing order, one at a time, so uneven calls
// balance; with one worker (or n ≤ 1) the calls run in order on the
// caller's goroutine.
func parallelFor(n, workers int, f func(k int)) {
	parallelWork(n, workers, func() func(k int) { return f })
}

// parallelWork is parallelFor for calls that need buffers of their own:
// every goroutine calls newWorker once and then calls the function it
// returns for its share of the k in [0, n).
func parallelWork(n, workers int, newWorker func() func(k int)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, n)
	if workers <= 1 {
		if n > 0 {
			f := newWorker()
			for k := range n {
				f(k)
			}
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := newWorker()
			for {
				k := int(next.Add(1) - 1)
				if k >= n {
					return
				}
				f(k)
			}
		}()
	}
	wg.Wait()
}

// parallelRanges splits [0, n) into k contiguous ranges of nearly equal
// length and calls f(c, lo, hi) for range c = [lo, hi) on a goroutine of
// its own (on the caller's when k is 1).
func parallelRanges(n, k int, f func(c, lo, hi int)) {
	parallelFor(k, k, func(c int) { f(c, c*n/k, (c+1)*n/k) })
}
