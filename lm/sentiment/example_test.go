package sentiment_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/causalrec/causalrec/lm/sentiment"
)

func ExampleAnalyzer_PolarityScores() {
	a := sentiment.NewAnalyzer()
	for _, text := range []string{
		"The book was good.",
		"The book was not good.",
		"The book was VERY good!!",
		"The plot was good, but the characters are dull.",
	} {
		s := a.PolarityScores(text).Round()
		fmt.Printf("%-50q compound %+.4f pos %.3f neu %.3f neg %.3f\n", text, s.Compound, s.Pos, s.Neu, s.Neg)
	}
	// Output:
	// "The book was good."                               compound +0.4404 pos 0.492 neu 0.508 neg 0.000
	// "The book was not good."                           compound -0.3412 pos 0.000 neu 0.624 neg 0.376
	// "The book was VERY good!!"                         compound +0.6715 pos 0.530 neu 0.470 neg 0.000
	// "The plot was good, but the characters are dull."  compound -0.3818 pos 0.156 neu 0.560 neg 0.284
}

func ExampleTrain() {
	texts := []string{
		"great phone, works well", "love it", "excellent battery",
		"broke after a day", "terrible sound", "does not work",
	}
	labels := []int{1, 1, 1, 0, 0, 0}
	c, err := sentiment.Train(texts, labels, nil, sentiment.TrainOptions{}, rand.NewPCG(1, 2), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range []string{"the battery is great", "it does not work"} {
		fmt.Printf("%q: %d\n", s, c.Predict(s))
	}
	// Output:
	// "the battery is great": 1
	// "it does not work": 0
}
