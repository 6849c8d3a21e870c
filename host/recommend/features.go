// Package recommend turns logged exposures and outcomes into uplift models
// and ranks candidate items for a user by the estimated causal effect of
// recommending them, falling back to popularity when no model can answer.
package recommend

import (
	"hash/fnv"
	"math"
	"sort"
	"strings"

	"github.com/causalrec/causalrec/host/store"
)

// Feature names of a (user, item) pair. User and item features keep their
// own names behind these prefixes; text features are
// "text:<plugin>:<feature>".
const (
	userPrefix        = "u:"
	itemPrefix        = "i:"
	textPrefix        = "text:"
	featItemExposures = "item_exposures_log"
	featItemOutcomes  = "item_outcomes_log"
	featUserExposures = "user_exposures_log"
	featUserOutcomes  = "user_outcomes_log"
	// featTextMissing is 1 when the item has no text or a text scorer
	// could not score it (its text features are then 0).
	featTextMissing = "text:missing"
	// featRelevance is the lm scorer's relevance of the item's text to the
	// texts of the items the user engaged with.
	featRelevance = "text:lm:relevance"
	// featUserID and featItemID carry id codes (see idCode) for DLCE.
	featUserID = "id:user"
	featItemID = "id:item"
)

// featureSet is the ordered list of features a model was trained on.
type featureSet []string

// newFeatureSet collects the feature names of the given users and items,
// then adds the popularity and user-history aggregates, the text features
// (each "text:<plugin>:<feature>" of text, sorted), and the id columns when
// ids is set.
func newFeatureSet(users map[string]store.User, items map[string]store.Item, text []string, relevance, ids bool) featureSet {
	seen := map[string]bool{}
	for _, u := range users {
		for k := range u.Features {
			seen[userPrefix+k] = true
		}
	}
	for _, it := range items {
		for k := range it.Features {
			seen[itemPrefix+k] = true
		}
	}
	out := make([]string, 0, len(seen)+8+len(text))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	out = append(out, featItemExposures, featItemOutcomes, featUserExposures, featUserOutcomes)
	if len(text) > 0 || relevance {
		t := append([]string(nil), text...)
		sort.Strings(t)
		out = append(append(out, t...), featTextMissing)
	}
	if relevance {
		out = append(out, featRelevance)
	}
	if ids {
		out = append(out, featUserID, featItemID)
	}
	return out
}

// textPlugins returns the text scorers whose cached features the set uses
// (not counting relevance), sorted.
func (fs featureSet) textPlugins() []string {
	seen := map[string]bool{}
	var out []string
	for _, name := range fs {
		rest, ok := strings.CutPrefix(name, textPrefix)
		if !ok || name == featRelevance {
			continue
		}
		if p, _, ok := strings.Cut(rest, ":"); ok && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// has reports whether the set holds the feature name.
func (fs featureSet) has(name string) bool {
	for _, n := range fs {
		if n == name {
			return true
		}
	}
	return false
}

// textFeatureNames returns the feature names that the features f of a
// text scorer give: "text:<plugin>:<name>", with "perplexity" replaced by
// its log10 ("log10_perplexity") and the context-dependent "relevance"
// left out.
func textFeatureNames(plugin string, f map[string]float64) []string {
	out := make([]string, 0, len(f))
	for k := range f {
		switch k {
		case "relevance":
			continue
		case "perplexity":
			k = "log10_perplexity"
		}
		out = append(out, textPrefix+plugin+":"+k)
	}
	return out
}

// textValue returns feature (as named by textFeatureNames, without the
// prefix and plugin) from a text scorer's features f; 0 when absent or
// not finite.
func textValue(feature string, f map[string]float64) float64 {
	var v float64
	if feature == "log10_perplexity" {
		if p, ok := f["perplexity"]; ok && p > 0 {
			v = math.Log10(p)
		}
	} else {
		v = f[feature]
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// idCode maps an id to an exact float64 code: the 64-bit FNV-1a hash cut
// to 52 bits.
func idCode(id string) float64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return float64(h.Sum64() >> 12)
}

// userHist are a user's history aggregates: numbers of exposures and
// outcomes among the latest historyRead events.
type userHist struct{ exposures, outcomes float64 }

// histOf counts the exposures and outcomes of events.
func histOf(events []store.Event) userHist {
	var h userHist
	for _, e := range events {
		switch e.Kind {
		case store.Exposure:
			h.exposures++
		case store.Outcome:
			h.outcomes++
		}
	}
	return h
}

// pairInputs is what the features of one (user, item) pair are made of.
type pairInputs struct {
	user store.User
	item store.Item
	pop  store.ItemCount
	hist userHist
	// text maps a text scorer to its features of the item; a scorer
	// missing from the map, or an item without text, makes the text
	// features 0 and featTextMissing 1.
	text      map[string]map[string]float64
	relevance float64
	// textPlugins are the scorers of the feature set (textPlugins()),
	// computed once by the caller.
	textPlugins []string
}

// row writes the features of the pair into dst, in set order. Features
// the user or item lacks are 0.
func (fs featureSet) row(dst []float64, in *pairInputs) {
	for j, name := range fs {
		var v float64
		switch {
		case name == featItemExposures:
			v = math.Log1p(in.pop.Exposures)
		case name == featItemOutcomes:
			v = math.Log1p(in.pop.Outcomes)
		case name == featUserExposures:
			v = math.Log1p(in.hist.exposures)
		case name == featUserOutcomes:
			v = math.Log1p(in.hist.outcomes)
		case name == featRelevance:
			v = in.relevance
		case name == featTextMissing:
			v = fs.textMissing(in)
		case name == featUserID:
			v = idCode(in.user.ID)
		case name == featItemID:
			v = idCode(in.item.ID)
		case strings.HasPrefix(name, userPrefix):
			v = in.user.Features[name[len(userPrefix):]]
		case strings.HasPrefix(name, itemPrefix):
			v = in.item.Features[name[len(itemPrefix):]]
		case strings.HasPrefix(name, textPrefix):
			p, feat, _ := strings.Cut(name[len(textPrefix):], ":")
			if f, ok := in.text[p]; ok && in.item.Text != "" {
				v = textValue(feat, f)
			}
		}
		dst[j] = v
	}
}

// textMissing is 1 when the item has no text or some scorer the set uses
// gave it no features.
func (featureSet) textMissing(in *pairInputs) float64 {
	if in.item.Text == "" {
		return 1
	}
	for _, p := range in.textPlugins {
		if _, ok := in.text[p]; !ok {
			return 1
		}
	}
	return 0
}
