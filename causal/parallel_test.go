package causal

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func TestParallelFor(t *testing.T) {
	for _, n := range []int{0, 1, 7, 1000} {
		for _, workers := range []int{-1, 0, 1, 3, 64} {
			t.Run(fmt.Sprintf("n=%d/workers=%d", n, workers), func(t *testing.T) {
				calls := make([]atomic.Int32, n)
				var made atomic.Int32
				parallelWork(n, workers, func() func(k int) {
					made.Add(1)
					return func(k int) { calls[k].Add(1) }
				})
				for k := range calls {
					if c := calls[k].Load(); c != 1 {
						t.Fatalf("k=%d called %d times", k, c)
					}
				}
				if limit := max(workers, 1); workers > 0 && int(made.Load()) > limit {
					t.Errorf("%d workers made, at most %d allowed", made.Load(), limit)
				}
			})
		}
	}
}

func TestParallelRanges(t *testing.T) {
	for _, tc := range []struct{ n, k int }{{10, 1}, {10, 3}, {3, 3}, {1000, 7}} {
		seen := make([]int, tc.n)
		var mu sync.Mutex
		parallelRanges(tc.n, tc.k, func(c, lo, hi int) {
			mu.Lock()
			defer mu.Unlock()
			if lo != c*tc.n/tc.k || hi != (c+1)*tc.n/tc.k {
				t.Errorf("n=%d k=%d: range %d is [%d, %d)", tc.n, tc.k, c, lo, hi)
			}
			for i := lo; i < hi; i++ {
				seen[i]++
			}
		})
		for i, s := range seen {
			if s != 1 {
				t.Fatalf("n=%d k=%d: row %d covered %d times", tc.n, tc.k, i, s)
			}
		}
	}
}
