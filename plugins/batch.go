package plugins

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// ScoreEach scores every item of a batch with score, on up to GOMAXPROCS
// goroutines once the batch holds at least perWorker items per goroutine,
// and returns the scores in item order. Workers take chunk items at a
// time; score must be safe for concurrent use. It stops early and returns
// ctx's error when ctx is done.
//
// It is the loop a TextScorer's Score needs when the items are scored
// independently:
//
//	func (p *Plugin) Score(ctx context.Context, req plugins.ScoreRequest) (plugins.ScoreResponse, error) {
//		out, err := plugins.ScoreEach(ctx, req.Items, 128, 32, p.scoreOne)
//		return plugins.ScoreResponse{Scores: out}, err
//	}
func ScoreEach(ctx context.Context, items []TextItem, perWorker, chunk int, score func(TextItem) TextScore) ([]TextScore, error) {
	perWorker, chunk = max(perWorker, 1), max(chunk, 1)
	out := make([]TextScore, len(items))
	workers := min(runtime.GOMAXPROCS(0), (len(items)+perWorker-1)/perWorker)
	if workers <= 1 {
		for i, it := range items {
			if i%perWorker == 0 && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			out[i] = score(it)
		}
		return out, nil
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				start := int(next.Add(int64(chunk))) - chunk
				if start >= len(items) {
					return
				}
				for i := start; i < min(start+chunk, len(items)); i++ {
					out[i] = score(items[i])
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
