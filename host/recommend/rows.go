package recommend

import (
	"context"
	"fmt"
	"slices"

	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/host/textscore"
)

// rows returns the feature rows of the items for the request's user, row
// after row, with the warnings of the text scorers and the extra Redis
// round trips made. The item columns of a row come from the ranker's cache
// when the snapshot's catalog token, the model and the text-scorer
// versions are those they were computed under; the rest are computed.
func (r *Ranker) rows(ctx context.Context, m *servingModel, req Request, snap store.Snapshot, items []store.Item, counts []store.ItemCount, rel []float64) ([]float64, []string, int) {
	d := len(m.meta.Features)
	x := rowBuffer(len(items) * d)
	cache := r.itemRowCache(m, snap.CatalogToken)
	var missing []int
	if cache != nil {
		missing = cache.get(items, x, d)
	} else {
		missing = make([]int, len(items))
		for i := range missing {
			missing[i] = i
		}
	}
	var warnings []string
	rounds := 0
	in := &pairInputs{user: snap.User, hist: histOf(snap.History), text: make([]map[string]float64, len(m.plan.text))}
	if in.user.ID == "" {
		in.user.ID = req.User
	}
	if len(missing) > 0 {
		missItems := make([]store.Item, len(missing))
		for k, i := range missing {
			missItems[k] = items[i]
		}
		var text itemText
		text, warnings, rounds = r.itemTexts(ctx, m, snap, missItems, len(items))
		var fresh map[string][]float64
		if cache != nil {
			fresh = make(map[string][]float64, len(missing))
		}
		for _, i := range missing {
			it := items[i]
			in.item = it
			for j, feats := range text.features {
				in.text[j] = feats[it.ID]
			}
			row := x[i*d : (i+1)*d]
			m.plan.fill(row, in, m.plan.itemCols)
			if fresh != nil && !text.uncached[it.ID] {
				fresh[it.ID] = slices.Clone(row)
			}
		}
		if len(fresh) > 0 {
			cache.put(fresh)
		}
	}
	// The user columns are the same for every candidate.
	user := make([]float64, d)
	m.plan.fill(user, in, m.plan.userCols)
	for i, it := range items {
		row := x[i*d : (i+1)*d]
		for _, j := range m.plan.userCols {
			row[j] = user[j]
		}
		in.item, in.pop = it, counts[i]
		in.relevance = 0
		if rel != nil {
			in.relevance = rel[i]
		}
		m.plan.fill(row, in, m.plan.pairCols)
	}
	return x, warnings, rounds
}

// itemText are the text features of some items: per text scorer of the
// model (in plan.text order) the features by item id, and the items whose
// features did not come from the snapshot's cached entries (scored now,
// read separately, or left without features).
type itemText struct {
	features []map[string]map[string]float64
	uncached map[string]bool
}

// itemTexts returns the text features of the items (some of the request's
// candidates, of which there are total): cached ones from the snapshot,
// the rest through host/textscore. When a scorer cannot be reached, the
// items it has no cached scores for get none (their text features are 0)
// and a warning says so.
func (r *Ranker) itemTexts(ctx context.Context, m *servingModel, snap store.Snapshot, items []store.Item, total int) (itemText, []string, int) {
	out := itemText{features: make([]map[string]map[string]float64, len(m.plan.text)), uncached: map[string]bool{}}
	var warnings []string
	rounds := 0
	for j, p := range m.plan.text {
		r.mu.Lock()
		version, ok := r.textVersions[p]
		r.mu.Unlock()
		if !ok {
			version = m.meta.Text.Versions[p]
		}
		feats := make(map[string]map[string]float64, len(items))
		var misses []store.Item
		for _, it := range items {
			if it.Text == "" {
				continue
			}
			if f, ok := snap.TextScoreHit(p, version, it); ok {
				feats[it.ID] = f
			} else {
				misses = append(misses, it)
			}
		}
		out.features[j] = feats
		for _, it := range misses {
			out.uncached[it.ID] = true
		}
		if !snap.ReadTextScores(p) && len(misses) > 0 {
			// The snapshot did not read this scorer's cache (the serving
			// model just changed): read it now.
			hits, rest, err := r.store.TextScores(ctx, p, version, misses)
			rounds++
			if err == nil {
				for id, f := range hits {
					feats[id] = f
				}
				misses = rest
			}
		}
		if len(misses) == 0 {
			continue
		}
		ts, err := r.plugins.TextScorer(p)
		var res textscore.Result
		if err == nil {
			res, err = textscore.Score(ctx, r.store, p, ts, misses, nil, textscore.Options{})
			rounds++
			if res.Stored > 0 {
				rounds++
			}
		}
		if err != nil {
			r.logger.Warn("text scorer unavailable; its features are 0 for uncached items", "plugin", p, "items", len(misses), "error", err)
			warnings = append(warnings, fmt.Sprintf("text scorer %s unavailable: %d of %d items without its features (0): it %s", p, len(misses), total, pluginFailure(err)))
			continue
		}
		if res.Version != version {
			r.mu.Lock()
			if r.textVersions == nil {
				r.textVersions = map[string]string{}
			}
			r.textVersions[p] = res.Version
			r.textGen++
			r.mu.Unlock()
		}
		for _, s := range res.Scores {
			if s.Err == "" && s.Features != nil {
				feats[s.ID] = s.Features
			}
		}
	}
	return out, warnings, rounds
}
