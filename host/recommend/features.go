// Package recommend turns logged exposures and outcomes into uplift models
// and ranks candidate items for a user by the estimated causal effect of
// recommending them, falling back to popularity when no model can answer.
package recommend

import (
	"math"
	"sort"
	"strings"

	"github.com/causalrec/causalrec/host/store"
)

// Feature names of a (user, item) pair. User and item features keep their
// own names behind these prefixes.
const (
	userPrefix        = "u:"
	itemPrefix        = "i:"
	featItemExposures = "item_exposures_log"
	featItemOutcomes  = "item_outcomes_log"
)

// featureSet is the ordered list of features a model was trained on.
type featureSet []string

// newFeatureSet collects the feature names of the given users and items.
func newFeatureSet(users map[string]store.User, items map[string]store.Item) featureSet {
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
	out := make([]string, 0, len(seen)+2)
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return append(out, featItemExposures, featItemOutcomes)
}

// row writes the features of the pair (u, it) into dst, in set order.
// Features the user or item lacks are 0.
func (fs featureSet) row(dst []float64, u store.User, it store.Item, pop store.ItemCount) {
	for j, name := range fs {
		var v float64
		switch {
		case name == featItemExposures:
			v = math.Log1p(pop.Exposures)
		case name == featItemOutcomes:
			v = math.Log1p(pop.Outcomes)
		case strings.HasPrefix(name, userPrefix):
			v = u.Features[name[len(userPrefix):]]
		case strings.HasPrefix(name, itemPrefix):
			v = it.Features[name[len(itemPrefix):]]
		}
		dst[j] = v
	}
}
