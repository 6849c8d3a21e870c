package textscore_test

import (
	"context"
	"fmt"
	"os"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/host/textscore"
	"github.com/causalrec/causalrec/plugins/builtin/sentiscore"
)

func Example() {
	ctx := context.Background()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = store.DefaultURL
	}
	rdb, err := store.Connect(ctx, url)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rdb.Close()
	prefix := "causalrec-example:" + uuid.NewString() + ":"
	st, err := store.New(rdb, store.Options{Prefix: prefix})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rdb.Del(ctx, prefix+"textscore:sentiment")

	// Any plugins.TextScorer works: a plugin process's handle from
	// pluginhost.Manager.TextScorer, or here the plugin in process.
	ts := sentiscore.New("0.1.0", 0)
	items := []store.Item{
		{ID: "a", Text: "Lovely, comfortable shoes."},
		{ID: "b", Text: "The sole came off after a week. Terrible."},
		{ID: "c", Text: ""},
	}
	for call := 1; call <= 2; call++ {
		res, err := textscore.Score(ctx, st, sentiscore.Name, ts, items, nil, textscore.Options{})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("call %d: %d hits, %d scored, %d stored\n", call, res.Hits, res.Scored, res.Stored)
		for _, s := range res.Scores {
			if s.Err != "" {
				fmt.Printf("  %s: error: %s\n", s.ID, s.Err)
				continue
			}
			fmt.Printf("  %s: sentiment %+.3f cached %v\n", s.ID, s.Features[sentiscore.FeatureCompound], s.Cached)
		}
	}
	// Output:
	// call 1: 0 hits, 3 scored, 2 stored
	//   a: sentiment +0.796 cached false
	//   b: sentiment -0.477 cached false
	//   c: error: empty text
	// call 2: 2 hits, 1 scored, 0 stored
	//   a: sentiment +0.796 cached true
	//   b: sentiment -0.477 cached true
	//   c: error: empty text
}
