package recommend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/plugins"
)

// ControlArm is the exposure arm that records a deliberate non-exposure (a
// hold-out): such a pair is a control row in training.
const ControlArm = "control"

// pairKey identifies a (user, item, period) row.
type pairKey struct {
	user, item string
	period     int64
}

type pairState struct {
	treated, control bool
	outcome          float64
	// at is when the row starts (Unix ns): its first event, exposure or
	// outcome. Its history, popularity and relevance features count only
	// events strictly before at, so that neither the row's own events nor
	// those as old as the row become its features.
	at       int64
	atIsSeen bool
	// blind is set when an event of the row came without its time
	// (store.Event.TimeUnknown): the row's start cannot be placed, and it
	// sees no events at all.
	blind bool
	// propensity is the logged probability of the treated exposure;
	// controlProp that of the hold-out (the probability of not showing).
	propensity, controlProp float64
}

// Table is the training table built from logged events: one row per
// (user, item) pair with an exposure. A pair is treated when it has an
// exposure in a treated arm, control when its only exposures are in the
// control arm; its outcome is 1 when any outcome event was logged for it.
type Table struct {
	// Request holds the rows; its Propensity is set only when every
	// treated row had a logged propensity.
	Request  plugins.FitRequest
	Features featureSet
	// Items holds the item of each row.
	Items   []string
	Treated int
	Control int
	// Neighbors holds, per item, the items most often engaged with by the
	// same users (for candidate generation).
	Neighbors map[string][]store.ItemScore
	// Events is the number of events read; LoggedPropensity says whether
	// every treated row had a logged propensity.
	Events           int
	LoggedPropensity bool
	// Text says which text features the table has.
	Text TextReport
	// Defaults holds the values of the user and item features for users
	// and items that lack them (see featureSet.featureDefaults).
	Defaults map[string]float64
}

// TableOptions choose how a training table is built.
type TableOptions struct {
	// Period, when positive, makes rows (user, item, period) triples.
	Period time.Duration
	// Text chooses the text features.
	Text TextOptions
	// IDs adds the user and item id columns DLCE needs.
	IDs bool
	// Progress, when set, is told how many events have been read.
	Progress Progress
}

// BuildTable reads every event and the users and items they name, scores
// the item texts (see TextOptions) and builds the rows. With a positive
// period, rows are (user, item, period) triples; progress is logged every
// million events.
func BuildTable(ctx context.Context, st *store.Store, opts TableOptions, logger *slog.Logger) (*Table, error) {
	if err := opts.Text.checkMode(); err != nil {
		return nil, err
	}
	period := opts.Period
	pairs := map[pairKey]*pairState{}
	nEvents := 0
	users, items := map[string]store.User{}, map[string]store.Item{}
	engaged := map[string][]string{}
	history, itemStamps := map[string][]stamp{}, map[string][]stamp{}
	// relLog keeps each user's events with their items for the relevance
	// feature, when asked for.
	var relLog map[string][]userEvent
	if opts.Text.Mode != TextOff && opts.Text.Relevance {
		relLog = map[string][]userEvent{}
	}
	var total int64
	if opts.Progress != nil {
		total, _ = st.EventCount(ctx) // only for the display: 0 (unknown) on error
	}
	opts.Progress.report("reading events", 0, total)
	err := st.Events(ctx, func(e store.Event) error {
		nEvents++
		if nEvents%1_000_000 == 0 {
			logger.Info("reading events", "events", nEvents, "rows", len(pairs))
		}
		if nEvents%10_000 == 0 {
			opts.Progress.report("reading events", int64(nEvents), total)
		}
		k := pairKey{user: e.User, item: e.Item}
		if period > 0 {
			k.period = e.Time.UnixNano() / int64(period)
		}
		p := pairs[k]
		if p == nil {
			p = &pairState{}
			pairs[k] = p
		}
		p.start(e.Time.UnixNano(), e.TimeUnknown)
		switch e.Kind {
		case store.Exposure:
			if e.Arm == ControlArm {
				p.control = true
				if e.Propensity > 0 {
					p.controlProp = e.Propensity
				}
			} else {
				p.treated = true
				if e.Propensity > 0 {
					p.propensity = e.Propensity
				}
			}
		case store.Outcome:
			p.outcome = 1
			engaged[e.User] = append(engaged[e.User], e.Item)
		}
		users[e.User], items[e.Item] = store.User{ID: e.User}, store.Item{ID: e.Item}
		if e.TimeUnknown {
			// Its ingestion time says nothing of when it happened: it is
			// in no row's history.
			return nil
		}
		history[e.User] = append(history[e.User], stamp{e.Time.UnixNano(), e.Kind == store.Outcome})
		if relLog != nil {
			relLog[e.User] = append(relLog[e.User], userEvent{e.Time.UnixNano(), e.Kind == store.Outcome, e.Item})
		}
		itemStamps[e.Item] = append(itemStamps[e.Item], stamp{e.Time.UnixNano(), e.Kind == store.Outcome})
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The history and popularity features of a row count only events
	// strictly before the row starts, as serving counts those before the
	// request: never the row's own events (the row starts at the first),
	// nor events as old as the row or later. (Counting all but the row's
	// own events would leak its outcome the other way: within an item, the
	// rows with an outcome would have the lower count.)
	userLog, itemLog := countsOf(history), countsOf(itemStamps)
	clear(history)
	clear(itemStamps)
	if err := fillUsers(ctx, st, users); err != nil {
		return nil, err
	}
	if err := fillItems(ctx, st, items); err != nil {
		return nil, err
	}
	keys := make([]pairKey, 0, len(pairs))
	for k, p := range pairs {
		if p.treated || p.control {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].user != keys[j].user {
			return keys[i].user < keys[j].user
		}
		if keys[i].item != keys[j].item {
			return keys[i].item < keys[j].item
		}
		return keys[i].period < keys[j].period
	})
	if t, c := countArms(keys, pairs); t == 0 || c == 0 {
		return nil, fmt.Errorf("%w: %d treated and %d control (user, item) pairs; training needs both (log hold-outs as exposures with arm %q)", ErrNoData, t, c, ControlArm)
	}
	var rep TextReport
	var text map[string]map[string]map[string]float64
	var textNames []string
	var rel map[pairKey]float64
	if opts.Text.Mode != TextOff {
		opts.Progress.report("scoring item texts", 0, 0)
		text, textNames, err = scoreItemTexts(ctx, st, opts.Text, items, &rep, logger)
		if err != nil {
			return nil, err
		}
		if opts.Text.Relevance {
			rel, err = tableRelevance(ctx, opts.Text, keys, pairs, relLog, items)
			switch {
			case err != nil && opts.Text.Mode == TextOn:
				return nil, fmt.Errorf("text features: %w", err)
			case err != nil:
				logger.Warn("relevance unavailable; training without it", "error", err)
				skip(&rep, "relevance", err.Error())
			default:
				rep.Relevance = true
			}
		}
		logger.Info("item texts scored", "used", rep.Used, "cache_hits", rep.Hits, "scored", rep.Scored)
	}
	fs := newFeatureSet(users, items, textNames, rep.Relevance, opts.IDs)
	t := &Table{Features: fs, Neighbors: cooccurrence(engaged, maxNeighbors), Events: nEvents, LoggedPropensity: true, Text: rep}
	req := &t.Request
	req.Arms = []string{ControlArm, "recommended"}
	for _, name := range fs {
		req.Features = append(req.Features, plugins.Feature{Name: name, Kind: plugins.Numeric})
	}
	req.X = make([]float64, len(keys)*len(fs))
	t.Defaults = fs.featureDefaults(users, items)
	plan := fs.plan(t.Defaults)
	textOf := make([]map[string]map[string]float64, len(plan.text))
	for j, name := range plan.text {
		textOf[j] = text[name]
	}
	in := &pairInputs{text: make([]map[string]float64, len(plan.text))}
	for i, k := range keys {
		p := pairs[k]
		in.user, in.item = users[k.user], items[k.item]
		in.pop = store.ItemCount{Item: k.item}
		in.hist = userHist{}
		if !p.blind {
			in.pop.Exposures, in.pop.Outcomes = itemLog[k.item].before(p.at, 0)
			in.hist.exposures, in.hist.outcomes = userLog[k.user].before(p.at, historyRead)
		}
		for j, feats := range textOf {
			in.text[j] = feats[k.item]
		}
		in.relevance = rel[k]
		plan.row(req.X[i*len(fs):(i+1)*len(fs)], in)
		arm := 0
		if p.treated {
			arm = 1
			t.Treated++
		} else {
			t.Control++
		}
		req.Arm = append(req.Arm, arm)
		req.Outcome = append(req.Outcome, p.outcome)
		t.Items = append(t.Items, k.item)
		// The logged probability of the arm the row got: of the showing
		// for a treated row, of the hold-out for a control row.
		prop := p.controlProp
		if p.treated {
			prop = p.propensity
		}
		if prop == 0 {
			t.LoggedPropensity = false
		}
		req.Propensity = append(req.Propensity, prop)
	}
	if !t.LoggedPropensity {
		// Some row lacks a logged propensity: the estimator estimates
		// them from the features, and the result says so.
		req.Propensity = nil
	}
	return t, nil
}

// start records an event of the pair at time t (Unix ns), unknown when
// the event came without its time: the row starts at its first event.
func (p *pairState) start(t int64, unknown bool) {
	if unknown {
		p.blind = true
	}
	if !p.atIsSeen || t < p.at {
		p.at, p.atIsSeen = t, true
	}
}

// stamp is one event of a user or an item: its time (Unix ns) and whether
// it is an outcome (else an exposure).
type stamp struct {
	t       int64
	outcome bool
}

// eventCounts are one user's or item's events in time order with running
// outcome counts, so that the counts before any time are a binary search
// away.
type eventCounts struct {
	t []int64
	// outcomes[i] is the number of outcomes among the first i events.
	outcomes []float64
}

// countsOf sorts each log's events by time and counts them.
func countsOf(logs map[string][]stamp) map[string]eventCounts {
	out := make(map[string]eventCounts, len(logs))
	for id, h := range logs {
		slices.SortStableFunc(h, func(a, b stamp) int { return cmp.Compare(a.t, b.t) })
		c := eventCounts{t: make([]int64, len(h)), outcomes: make([]float64, len(h)+1)}
		for i, s := range h {
			c.t[i] = s.t
			c.outcomes[i+1] = c.outcomes[i]
			if s.outcome {
				c.outcomes[i+1]++
			}
		}
		out[id] = c
	}
	return out
}

// before returns the numbers of exposures and outcomes among the latest
// limit events strictly before time at (all of them when limit is 0).
func (c eventCounts) before(at int64, limit int) (exposures, outcomes float64) {
	if len(c.outcomes) == 0 {
		return 0, 0
	}
	end, _ := slices.BinarySearch(c.t, at)
	start := 0
	if limit > 0 {
		start = max(0, end-limit)
	}
	outcomes = c.outcomes[end] - c.outcomes[start]
	return float64(end-start) - outcomes, outcomes
}

// countArms counts the treated and control rows of keys.
func countArms(keys []pairKey, pairs map[pairKey]*pairState) (treated, control int) {
	for _, k := range keys {
		if pairs[k].treated {
			treated++
		} else {
			control++
		}
	}
	return treated, control
}

// userEvent is one event of a user's log, for the relevance feature.
type userEvent struct {
	t       int64
	outcome bool
	item    string
}

// tableRelevance scores, with the "lm" scorer, the relevance of every row's
// item to the texts of the items its user engaged with among the user's
// latest historyRead events before the row starts: what serving compares
// with, the engaged items of the history it reads, at the time of the
// request. Rows whose users saw the same window share one plugin call;
// a row without engaged items before it gets none (its relevance is 0).
func tableRelevance(ctx context.Context, opts TextOptions, keys []pairKey, pairs map[pairKey]*pairState, logs map[string][]userEvent, items map[string]store.Item) (map[pairKey]float64, error) {
	if opts.Source == nil {
		return nil, errors.New("no text scorer plugins")
	}
	ts, err := opts.Source.TextScorer("lm")
	if err != nil {
		return nil, err
	}
	type window struct {
		user       string
		start, end int
	}
	for _, log := range logs {
		slices.SortStableFunc(log, func(a, b userEvent) int { return cmp.Compare(a.t, b.t) })
	}
	groups := map[window][]pairKey{}
	var order []window
	for _, k := range keys {
		if items[k.item].Text == "" || pairs[k].blind {
			continue
		}
		log := logs[k.user]
		end, _ := slices.BinarySearchFunc(log, pairs[k].at, func(e userEvent, t int64) int { return cmp.Compare(e.t, t) })
		w := window{k.user, max(0, end-historyRead), end}
		if groups[w] == nil {
			order = append(order, w)
		}
		groups[w] = append(groups[w], k)
	}
	out := map[pairKey]float64{}
	for _, w := range order {
		var context []string
		seen := map[string]bool{}
		for _, e := range logs[w.user][w.start:w.end] {
			if e.outcome && !seen[e.item] && items[e.item].Text != "" {
				seen[e.item] = true
				context = append(context, items[e.item].Text)
			}
		}
		if len(context) == 0 {
			continue
		}
		rows := groups[w]
		for lo := 0; lo < len(rows); lo += textBatch {
			if err := scoreRelevance(ctx, ts, rows[lo:min(lo+textBatch, len(rows))], context, items, out); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func fillUsers(ctx context.Context, st *store.Store, users map[string]store.User) error {
	ids := make([]string, 0, len(users))
	for id := range users {
		ids = append(ids, id)
	}
	found, _, err := st.Users(ctx, ids)
	if err != nil {
		return err
	}
	for _, u := range found {
		users[u.ID] = u
	}
	return nil
}

func fillItems(ctx context.Context, st *store.Store, items map[string]store.Item) error {
	ids := make([]string, 0, len(items))
	for id := range items {
		ids = append(ids, id)
	}
	found, _, err := st.Items(ctx, ids)
	if err != nil {
		return err
	}
	for _, it := range found {
		items[it.ID] = it
	}
	return nil
}
