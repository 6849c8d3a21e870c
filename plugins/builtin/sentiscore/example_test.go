package sentiscore_test

import (
	"context"
	"fmt"

	"github.com/causalrec/causalrec/plugins"
	"github.com/causalrec/causalrec/plugins/builtin/sentiscore"
)

func Example() {
	p := sentiscore.New("0.1.0", 0)
	resp, err := p.Score(context.Background(), plugins.ScoreRequest{Items: []plugins.TextItem{
		{ID: "happy", Text: "Great battery, I love this phone!"},
		{ID: "angry", Text: "It broke in a day. Awful."},
		{ID: "broken", Text: "\xff"},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range resp.Scores {
		if s.Err != "" {
			fmt.Printf("%s: error: %s\n", s.ID, s.Err)
			continue
		}
		fmt.Printf("%s: sentiment %.4f pos %.3f neg %.3f neu %.3f\n", s.ID,
			s.Features[sentiscore.FeatureCompound], s.Features[sentiscore.FeaturePos], s.Features[sentiscore.FeatureNeg], s.Features[sentiscore.FeatureNeu])
	}
	// Output:
	// happy: sentiment 0.8622 pos 0.682 neg 0.000 neu 0.318
	// angry: sentiment -0.7003 pos 0.000 neg 0.592 neu 0.408
	// broken: error: text is not valid UTF-8
}
