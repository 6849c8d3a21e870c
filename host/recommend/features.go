package recommend

import (
	"hash/fnv"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/host/textscore"
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
	// log10Prefix starts the name of a text feature on a log scale: the
	// column holds the log10 of the plugin's feature.
	log10Prefix = "log10_"
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

// featureDefaults returns, for each user and item feature of the set, the
// mean of its values over the users and items that have it: the value the
// model takes for a user or item without it (a new user, say), a typical
// one rather than 0, which may lie far outside the values it was fitted on.
func (fs featureSet) featureDefaults(users map[string]store.User, items map[string]store.Item) map[string]float64 {
	sum, n := map[string]float64{}, map[string]float64{}
	for _, u := range users {
		for k, v := range u.Features {
			sum[userPrefix+k] += v
			n[userPrefix+k]++
		}
	}
	for _, it := range items {
		for k, v := range it.Features {
			sum[itemPrefix+k] += v
			n[itemPrefix+k]++
		}
	}
	out := make(map[string]float64, len(sum))
	for _, name := range fs {
		if n[name] > 0 {
			out[name] = sum[name] / n[name]
		}
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
// text scorer give, as uses says the plugin's features may be used:
// "text:<plugin>:<name>" for each feature of the item alone, with a
// feature on a log scale replaced by its log10 ("log10_<name>", such as
// lm's log10_perplexity); the context-dependent ones (such as lm's
// relevance) are left out.
func textFeatureNames(plugin string, f map[string]float64, uses textscore.Uses) []string {
	out := make([]string, 0, len(f))
	for k := range f {
		if !uses.PerItem(k) {
			continue
		}
		if uses.LogScale(k) {
			k = log10Prefix + k
		}
		out = append(out, textPrefix+plugin+":"+k)
	}
	return out
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
	// text holds, for each text scorer of the plan (featurePlan.text, in
	// that order), its features of the item; a nil entry, or an item
	// without text, makes that scorer's features 0 and featTextMissing 1.
	text      []map[string]float64
	relevance float64
}

// featureKind is how a column of a featurePlan gets its value.
type featureKind uint8

const (
	colZero featureKind = iota
	colItemExposures
	colItemOutcomes
	colUserExposures
	colUserOutcomes
	colRelevance
	colTextMissing
	colUserID
	colItemID
	colUser
	colItem
	colText
	colTextLog10
)

// featureCol is one compiled column: its kind, the user or item feature
// (or text feature) it reads, and the index of its text scorer in
// featurePlan.text.
type featureCol struct {
	kind   featureKind
	key    string
	plugin int
	// def is the value of a user or item feature for a user or item
	// that lacks it.
	def float64
}

// featurePlan is a featureSet compiled once so that writing a row costs no
// name parsing: rows are written for every candidate of every request.
type featurePlan struct {
	cols []featureCol
	// text are the text scorers the columns read, sorted (textPlugins()).
	text []string
	// The columns by what they depend on: itemCols only on the item and
	// its text features (the same for every user, so serving caches
	// them), userCols only on the user and its history (the same for
	// every candidate of a request), pairCols on the request's counts or
	// on the pair.
	itemCols, userCols, pairCols []int
}

// fixedColumns are the kinds of the features named exactly.
var fixedColumns = map[string]featureKind{
	featItemExposures: colItemExposures,
	featItemOutcomes:  colItemOutcomes,
	featUserExposures: colUserExposures,
	featUserOutcomes:  colUserOutcomes,
	featRelevance:     colRelevance,
	featTextMissing:   colTextMissing,
	featUserID:        colUserID,
	featItemID:        colItemID,
}

// plan compiles the set; defaults gives the value of a user or item
// feature (by its name in the set) for a user or item that lacks it, 0 when
// not given.
func (fs featureSet) plan(defaults map[string]float64) featurePlan {
	p := featurePlan{cols: make([]featureCol, len(fs)), text: fs.textPlugins()}
	for j, name := range fs {
		c := &p.cols[j]
		kind, fixed := fixedColumns[name]
		switch {
		case fixed:
			c.kind = kind
		case strings.HasPrefix(name, userPrefix):
			c.kind, c.key, c.def = colUser, name[len(userPrefix):], defaults[name]
		case strings.HasPrefix(name, itemPrefix):
			c.kind, c.key, c.def = colItem, name[len(itemPrefix):], defaults[name]
		case strings.HasPrefix(name, textPrefix):
			plugin, feat, _ := strings.Cut(name[len(textPrefix):], ":")
			c.kind, c.key, c.plugin = colText, feat, slices.Index(p.text, plugin)
			if k, ok := strings.CutPrefix(feat, log10Prefix); ok {
				c.kind, c.key = colTextLog10, k
			}
		}
		switch c.kind {
		case colItem, colItemID, colText, colTextLog10, colTextMissing:
			p.itemCols = append(p.itemCols, j)
		case colUser, colUserID, colUserExposures, colUserOutcomes:
			p.userCols = append(p.userCols, j)
		default:
			p.pairCols = append(p.pairCols, j)
		}
	}
	return p
}

// row writes the features of the pair into dst, in set order. Features
// the user or item lacks are 0.
func (p *featurePlan) row(dst []float64, in *pairInputs) {
	for j := range p.cols {
		dst[j] = p.value(j, in)
	}
}

// fill writes the columns cols (indices into the plan) of the pair's row
// into dst, leaving the others as they are.
func (p *featurePlan) fill(dst []float64, in *pairInputs, cols []int) {
	for _, j := range cols {
		dst[j] = p.value(j, in)
	}
}

// value returns column j of the pair's row.
func (p *featurePlan) value(j int, in *pairInputs) float64 {
	c := &p.cols[j]
	switch c.kind {
	case colItemExposures:
		return math.Log1p(in.pop.Exposures)
	case colItemOutcomes:
		return math.Log1p(in.pop.Outcomes)
	case colUserExposures:
		return math.Log1p(in.hist.exposures)
	case colUserOutcomes:
		return math.Log1p(in.hist.outcomes)
	case colRelevance:
		return in.relevance
	case colTextMissing:
		return p.textMissing(in)
	case colUserID:
		return idCode(in.user.ID)
	case colItemID:
		return idCode(in.item.ID)
	case colUser:
		if v, ok := in.user.Features[c.key]; ok {
			return v
		}
		return c.def
	case colItem:
		if v, ok := in.item.Features[c.key]; ok {
			return v
		}
		return c.def
	case colText:
		if f := in.textOf(c.plugin); f != nil {
			return finite(f[c.key])
		}
	case colTextLog10:
		if f := in.textOf(c.plugin); f != nil && f[c.key] > 0 {
			return finite(math.Log10(f[c.key]))
		}
	}
	return 0
}

// textOf returns the features of the i-th text scorer for the item, nil
// when the item has no text or the scorer gave it none.
func (in *pairInputs) textOf(i int) map[string]float64 {
	if i < 0 || i >= len(in.text) || in.item.Text == "" {
		return nil
	}
	return in.text[i]
}

// finite returns v, or 0 when v is NaN or infinite.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// textMissing is 1 when the item has no text or some scorer the plan uses
// gave it no features.
func (p *featurePlan) textMissing(in *pairInputs) float64 {
	if in.item.Text == "" {
		return 1
	}
	for i := range p.text {
		if i >= len(in.text) || in.text[i] == nil {
			return 1
		}
	}
	return 0
}
