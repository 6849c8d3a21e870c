package plugins

import (
	"context"
	"errors"
	"strconv"
	"testing"
)

func TestScoreEach(t *testing.T) {
	for _, n := range []int{0, 1, 7, 64, 1000} {
		items := make([]TextItem, n)
		for i := range items {
			items[i] = TextItem{ID: strconv.Itoa(i), Text: "x"}
		}
		out, err := ScoreEach(context.Background(), items, 16, 4, func(it TextItem) TextScore {
			v, _ := strconv.Atoi(it.ID)
			return TextScore{ID: it.ID, Features: map[string]float64{"v": float64(v)}}
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != n {
			t.Fatalf("n=%d: %d scores", n, len(out))
		}
		for i, s := range out {
			if s.ID != items[i].ID || s.Features["v"] != float64(i) {
				t.Fatalf("n=%d: score %d is %+v", n, i, s)
			}
		}
	}
}

func TestScoreEachCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	items := make([]TextItem, 500)
	for _, per := range []int{1000, 10} { // serial and parallel paths
		if _, err := ScoreEach(ctx, items, per, 8, func(TextItem) TextScore { return TextScore{} }); !errors.Is(err, context.Canceled) {
			t.Fatalf("perWorker=%d: err %v, want context.Canceled", per, err)
		}
	}
}
