package sentiment

import "strings"

// The fixed word lists of VADER. They are switch statements rather than
// package maps so that the package holds no mutable state.

// boosterValue returns the change an intensifier (positive) or dampener
// (negative) makes to the next sentiment word.
func boosterValue(w string) (float64, bool) {
	switch w {
	case "absolutely", "amazingly", "awfully", "completely", "considerable", "considerably",
		"decidedly", "deeply", "effing", "enormous", "enormously", "entirely", "especially",
		"exceptional", "exceptionally", "extreme", "extremely", "fabulously", "flipping",
		"flippin", "frackin", "fracking", "fricking", "frickin", "frigging", "friggin", "fully",
		"fuckin", "fucking", "fuggin", "fugging", "greatly", "hella", "highly", "hugely",
		"incredible", "incredibly", "intensely", "major", "majorly", "more", "most",
		"particularly", "purely", "quite", "really", "remarkably", "so", "substantially",
		"thoroughly", "total", "totally", "tremendous", "tremendously", "uber", "unbelievably",
		"unusually", "utter", "utterly", "very":
		return boosterIncr, true
	case "almost", "barely", "hardly", "kinda", "kindof", "kind-of", "less", "little",
		"marginal", "marginally", "occasional", "occasionally", "partly", "scarce", "scarcely",
		"slight", "slightly", "somewhat", "sorta", "sortof", "sort-of":
		return boosterDecr, true
	}
	return 0, false
}

// boosterPair returns the value of a two-word dampener ("kind of").
func boosterPair(a, b string) (float64, bool) {
	switch {
	case a == "just" && b == "enough", a == "kind" && b == "of", a == "sort" && b == "of":
		return boosterDecr, true
	}
	return 0, false
}

// isNegated reports whether w is a negation word or contains "n't".
func isNegated(w string) bool {
	switch w {
	case "aint", "arent", "cannot", "cant", "couldnt", "darent", "didnt", "doesnt",
		"ain't", "aren't", "can't", "couldn't", "daren't", "didn't", "doesn't",
		"dont", "hadnt", "hasnt", "havent", "isnt", "mightnt", "mustnt", "neither",
		"don't", "hadn't", "hasn't", "haven't", "isn't", "mightn't", "mustn't",
		"neednt", "needn't", "never", "none", "nope", "nor", "not", "nothing", "nowhere",
		"oughtnt", "shant", "shouldnt", "uhuh", "wasnt", "werent",
		"oughtn't", "shan't", "shouldn't", "uh-uh", "wasn't", "weren't",
		"without", "wont", "wouldnt", "won't", "wouldn't", "rarely", "seldom", "despite":
		return true
	}
	return strings.Contains(w, "n't")
}

// specialCase returns the valence of a two-word (c == "") or three-word
// idiom that overrides the valence of its words ("the bomb", "kiss of
// death").
func specialCase(a, b, c string) (float64, bool) {
	if c == "" {
		switch {
		case a == "the" && (b == "shit" || b == "bomb"):
			return 3, true
		case a == "bad" && b == "ass":
			return 1.5, true
		case a == "bus" && b == "stop":
			return 0, true
		case a == "yeah" && b == "right":
			return -2, true
		case a == "beating" && b == "heart":
			return 3.1, true
		case a == "broken" && b == "heart":
			return -2.9, true
		}
		return 0, false
	}
	switch {
	case a == "kiss" && b == "of" && c == "death":
		return -1.5, true
	case a == "to" && b == "die" && c == "for":
		return 3, true
	}
	return 0, false
}
