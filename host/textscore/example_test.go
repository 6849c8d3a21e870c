package textscore_test

import (
	"context"
	"fmt"

	"github.com/causalrec/causalrec/host/redistest"
	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/host/textscore"
	"github.com/causalrec/causalrec/plugins/builtin/sentiscore"
)

// examplePrefix starts the key prefixes of this package's examples.
const examplePrefix = "causalrec-example:textscore"

func Example() {
	ctx := context.Background()
	rdb, err := store.Connect(ctx, redistest.URL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rdb.Close()
	// The keys live under a prefix of their own, all deleted at the end:
	// the cache entries and the catalog token their write changes.
	prefix := redistest.NewPrefix(examplePrefix)
	defer redistest.Delete(ctx, rdb, prefix)
	st, err := store.New(rdb, store.Options{Prefix: prefix})
	if err != nil {
		fmt.Println(err)
		return
	}

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
