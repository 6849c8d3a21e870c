package recommend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/plugins"
)

// ControlArm is the exposure arm that records a deliberate non-exposure (a
// hold-out): such a pair is a control row in training.
const ControlArm = "control"

// Table is the training table built from logged events: one row per
// (user, item) pair with an exposure. A pair is treated when it has an
// exposure in a treated arm, control when its only exposures are in the
// control arm; its outcome is 1 when any outcome event was logged for it.
type Table struct {
	// Request holds the rows; its Propensity is set only when every
	// treated row had a logged propensity.
	Request  plugins.FitRequest
	Features featureSet
	// Items, when set, holds the item of each row. BuildTable leaves it
	// nil and keeps each row's item as an index (see Item).
	Items []string
	// itemAt returns the item of row i of a table BuildTable built.
	itemAt  func(i int) string
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
//
// The log is streamed: each event is kept as a 32-byte tableEvent (user
// and item interned as indexes), never as a store.Event, and each row as a
// tableRow of the counts its features are made of. The float64 feature
// rows are not held: Request.FillX writes them chunk by chunk as the
// estimator plugin's client sends them (call Request.WithX for the whole
// matrix). Memory is about 32 bytes per event plus 72 per row, and the
// users and items.
func BuildTable(ctx context.Context, st *store.Store, opts TableOptions, logger *slog.Logger) (*Table, error) {
	if err := opts.Text.checkMode(); err != nil {
		return nil, err
	}
	var total int64
	if opts.Progress != nil {
		total, _ = st.EventCount(ctx) // only for the display: 0 (unknown) on error
	}
	opts.Progress.report("reading events", 0, total)
	log, err := readTableEvents(ctx, st, total, opts.Progress, logger)
	if err != nil {
		return nil, err
	}
	users, items := make(map[string]store.User, len(log.users)), make(map[string]store.Item, len(log.items))
	for _, u := range log.users {
		users[u] = store.User{ID: u}
	}
	for _, it := range log.items {
		items[it] = store.Item{ID: it}
	}
	if err := fillUsers(ctx, st, users); err != nil {
		return nil, err
	}
	if err := fillItems(ctx, st, items); err != nil {
		return nil, err
	}
	log.sortByUser()
	period := int64(opts.Period)
	nRows, treated, control := log.countRows(period)
	if treated == 0 || control == 0 {
		return nil, fmt.Errorf("%w: %d treated and %d control (user, item) pairs; training needs both (log hold-outs as exposures with arm %q)", ErrNoData, treated, control, ControlArm)
	}
	var rep TextReport
	var text map[string]map[string]map[string]float64
	var textNames []string
	var rel *relevanceScorer
	if opts.Text.Mode != TextOff {
		opts.Progress.report("scoring item texts", 0, 0)
		text, textNames, err = scoreItemTexts(ctx, st, opts.Text, items, &rep, logger)
		if err != nil {
			return nil, err
		}
		if opts.Text.Relevance {
			rel, err = newRelevanceScorer(opts.Text, nRows)
			if err != nil {
				if opts.Text.Mode == TextOn {
					return nil, fmt.Errorf("text features: %w", err)
				}
				logger.Warn("relevance unavailable; training without it", "error", err)
				skip(&rep, "relevance", err.Error())
			}
		}
	}
	opts.Progress.report("building rows", 0, int64(nRows))
	rows, engaged, err := log.buildRows(ctx, period, nRows, items, rel)
	if err != nil {
		return nil, err
	}
	if rel != nil {
		switch {
		case rel.err != nil && opts.Text.Mode == TextOn:
			return nil, fmt.Errorf("text features: %w", rel.err)
		case rel.err != nil:
			logger.Warn("relevance unavailable; training without it", "error", rel.err)
			skip(&rep, "relevance", rel.err.Error())
			rel = nil
		default:
			rep.Relevance = true
		}
	}
	if opts.Text.Mode != TextOff {
		logger.Info("item texts scored", "used", rep.Used, "cache_hits", rep.Hits, "scored", rep.Scored)
	}
	log.countPopularity(rows)
	nEvents := len(log.events)
	userNames, itemNames := log.users, log.items
	log = nil // the events are no longer needed

	fs := newFeatureSet(users, items, textNames, rep.Relevance, opts.IDs)
	t := &Table{Features: fs, Neighbors: cooccurrence(engaged, maxNeighbors), Events: nEvents, LoggedPropensity: true, Text: rep}
	req := &t.Request
	req.Arms = []string{ControlArm, "recommended"}
	for _, name := range fs {
		req.Features = append(req.Features, plugins.Feature{Name: name, Kind: plugins.Numeric})
	}
	req.Arm, req.Outcome, req.Propensity = make([]int, len(rows)), make([]float64, len(rows)), make([]float64, len(rows))
	for i, r := range rows {
		if r.flags&rowTreated != 0 {
			req.Arm[i] = 1
			t.Treated++
		} else {
			t.Control++
		}
		if r.flags&rowOutcome != 0 {
			req.Outcome[i] = 1
		}
		// The logged probability of the arm the row got: of the showing
		// for a treated row, of the hold-out for a control row.
		req.Propensity[i] = r.prop
		if r.prop == 0 {
			t.LoggedPropensity = false
		}
	}
	if !t.LoggedPropensity {
		// Some row lacks a logged propensity: the estimator estimates
		// them from the features, and the result says so.
		req.Propensity = nil
	}
	t.Defaults = fs.featureDefaults(users, items)
	plan := fs.plan(t.Defaults)
	// The user and item records by index, and the text features by item
	// index, so that a row's features need no map lookup by name.
	userRecs := make([]store.User, len(userNames))
	for i, u := range userNames {
		userRecs[i] = users[u]
	}
	itemRecs := make([]store.Item, len(itemNames))
	itemText := make([][]map[string]float64, len(itemNames))
	for i, it := range itemNames {
		itemRecs[i] = items[it]
		itemText[i] = make([]map[string]float64, len(plan.text))
		for j, name := range plan.text {
			itemText[i][j] = text[name][it]
		}
	}
	var relevance []float64
	if rel != nil {
		relevance = rel.values
	}
	t.itemAt = func(i int) string { return itemNames[rows[i].item] }
	d := len(fs)
	req.FillX = func(dst []float64, start, end int) {
		in := &pairInputs{}
		for i := start; i < end; i++ {
			r := &rows[i]
			in.user, in.item = userRecs[r.user], itemRecs[r.item]
			in.pop = store.ItemCount{Item: in.item.ID, Exposures: float64(r.popExposures), Outcomes: float64(r.popOutcomes)}
			in.hist = userHist{exposures: float64(r.histExposures), outcomes: float64(r.histOutcomes)}
			in.text = itemText[r.item]
			in.relevance = 0
			if relevance != nil {
				in.relevance = relevance[i]
			}
			plan.row(dst[(i-start)*d:(i-start+1)*d], in)
		}
	}
	return t, nil
}

// tableEvent is one logged event as the table builder keeps it.
type tableEvent struct {
	// t is the event's time (Unix ns).
	t int64
	// prop is the logged propensity of an exposure (0: none).
	prop float64
	// user and item index the log's users and items; once sorted
	// (sortByUser) the indexes follow the names' order.
	user, item uint32
	// seq is the event's place in the log: ties in time keep it.
	seq   uint32
	flags uint8
}

// The flags of a tableEvent.
const (
	evOutcome     uint8 = 1 << iota // an outcome (else an exposure)
	evControl                       // an exposure in the control arm
	evTimeUnknown                   // logged without its time
)

// tableLog is the event log in compact form with its users and items.
type tableLog struct {
	events       []tableEvent
	users, items []string
}

// readTableEvents streams the store's log into a tableLog.
func readTableEvents(ctx context.Context, st *store.Store, total int64, progress Progress, logger *slog.Logger) (*tableLog, error) {
	l := &tableLog{events: make([]tableEvent, 0, max(0, min(total+total/64+1024, math.MaxUint32)))}
	userIdx, itemIdx := map[string]uint32{}, map[string]uint32{}
	intern := func(idx map[string]uint32, names *[]string, s string) uint32 {
		i, ok := idx[s]
		if !ok {
			i = uint32(len(*names))
			idx[s] = i
			*names = append(*names, s)
		}
		return i
	}
	err := st.Events(ctx, func(e store.Event) error {
		n := len(l.events) + 1
		if n%1_000_000 == 0 {
			logger.Info("reading events", "events", n)
		}
		if n%10_000 == 0 {
			progress.report("reading events", int64(n), total)
		}
		if n > math.MaxUint32 {
			return fmt.Errorf("training reads at most %d events", uint32(math.MaxUint32))
		}
		ev := tableEvent{t: e.Time.UnixNano(), user: intern(userIdx, &l.users, e.User), item: intern(itemIdx, &l.items, e.Item), seq: uint32(n - 1)}
		switch e.Kind {
		case store.Exposure:
			ev.prop = e.Propensity
			if e.Arm == ControlArm {
				ev.flags |= evControl
			}
		case store.Outcome:
			ev.flags |= evOutcome
		}
		if e.TimeUnknown {
			ev.flags |= evTimeUnknown
		}
		l.events = append(l.events, ev)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// renumber makes indexes follow the names' order: it sorts names and
// returns, for each old index, the new one.
func renumber(names []string) []uint32 {
	order := make([]uint32, len(names))
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortFunc(order, func(a, b uint32) int { return strings.Compare(names[a], names[b]) })
	sorted := make([]string, len(names))
	newIdx := make([]uint32, len(names))
	for newI, oldI := range order {
		sorted[newI] = names[oldI]
		newIdx[oldI] = uint32(newI)
	}
	copy(names, sorted)
	return newIdx
}

// sortByUser renumbers the users and items in the order of their names
// and sorts the events by user, item, time and place in the log: the
// events of a row are then adjacent, and the rows come in the order of
// (user, item, period).
func (l *tableLog) sortByUser() {
	nu, ni := renumber(l.users), renumber(l.items)
	for i := range l.events {
		e := &l.events[i]
		e.user, e.item = nu[e.user], ni[e.item]
	}
	slices.SortFunc(l.events, func(a, b tableEvent) int {
		if c := cmp.Compare(a.user, b.user); c != 0 {
			return c
		}
		if c := cmp.Compare(a.item, b.item); c != 0 {
			return c
		}
		if c := cmp.Compare(a.t, b.t); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
}

// periodOf is the period of time t (Unix ns) for a period length p (0:
// one period).
func periodOf(t, p int64) int64 {
	if p <= 0 {
		return 0
	}
	return t / p
}

// groups calls fn with each run of events of one (user, item, period), in
// order; the log must be sorted by user.
func (l *tableLog) groups(period int64, fn func(g []tableEvent) error) error {
	ev := l.events
	for lo := 0; lo < len(ev); {
		hi := lo + 1
		p := periodOf(ev[lo].t, period)
		for hi < len(ev) && ev[hi].user == ev[lo].user && ev[hi].item == ev[lo].item && periodOf(ev[hi].t, period) == p {
			hi++
		}
		if err := fn(ev[lo:hi]); err != nil {
			return err
		}
		lo = hi
	}
	return nil
}

// armsOf says whether a row's events include a treated and a control
// exposure.
func armsOf(g []tableEvent) (treated, control bool) {
	for _, e := range g {
		if e.flags&evOutcome == 0 {
			if e.flags&evControl != 0 {
				control = true
			} else {
				treated = true
			}
		}
	}
	return treated, control
}

// countRows counts the rows (the (user, item, period) groups with an
// exposure), and among them the treated and the control ones.
func (l *tableLog) countRows(period int64) (rows, treated, control int) {
	_ = l.groups(period, func(g []tableEvent) error {
		t, c := armsOf(g)
		switch {
		case t:
			treated++
		case c:
			control++
		default:
			return nil
		}
		rows++
		return nil
	})
	return rows, treated, control
}

// tableRow is one training row in compact form: what its features are
// made of, not the features.
type tableRow struct {
	// at is when the row starts (Unix ns): its first event, exposure or
	// outcome. Its history and popularity features count only events
	// strictly before at, so that neither the row's own events nor those
	// as old as the row become its features.
	at int64
	// prop is the logged probability of the arm the row got: of the
	// showing for a treated row, of the hold-out for a control row (0:
	// none logged).
	prop       float64
	user, item uint32
	// The user's exposures and outcomes among its latest historyRead
	// events before at, and the item's before at.
	histExposures, histOutcomes uint32
	popExposures, popOutcomes   uint32
	flags                       uint8
}

// The flags of a tableRow.
const (
	rowTreated uint8 = 1 << iota
	rowOutcome
	// rowBlind is set when an event of the row came without its time
	// (store.Event.TimeUnknown): the row's start cannot be placed, and it
	// sees no events at all.
	rowBlind
)

// tableStamp is one event of a user or an item: its time (Unix ns) and whether
// it is an outcome (else an exposure).
type tableStamp struct {
	t       int64
	outcome bool
	// seq orders events of the same time as the log does.
	seq uint32
}

// tableCounts are one user's or item's events in time order with running
// outcome counts, so that the counts before any time are a binary search
// away.
type tableCounts struct {
	t []int64
	// outcomes[i] is the number of outcomes among the first i events.
	outcomes []uint32
}

// reset fills c (reusing its arrays) from the stamps, which it sorts by
// time and log order.
func (c *tableCounts) reset(h []tableStamp) {
	slices.SortFunc(h, func(a, b tableStamp) int {
		if x := cmp.Compare(a.t, b.t); x != 0 {
			return x
		}
		return cmp.Compare(a.seq, b.seq)
	})
	c.t, c.outcomes = c.t[:0], append(c.outcomes[:0], 0)
	for _, s := range h {
		c.t = append(c.t, s.t)
		o := c.outcomes[len(c.outcomes)-1]
		if s.outcome {
			o++
		}
		c.outcomes = append(c.outcomes, o)
	}
}

// before returns the numbers of exposures and outcomes among the latest
// limit events strictly before time at (all of them when limit is 0), and
// the range [start, end) of those events.
func (c *tableCounts) before(at int64, limit int) (exposures, outcomes uint32, start, end int) {
	if len(c.outcomes) == 0 {
		return 0, 0, 0, 0
	}
	end, _ = slices.BinarySearch(c.t, at)
	if limit > 0 {
		start = max(0, end-limit)
	}
	outcomes = c.outcomes[end] - c.outcomes[start]
	return uint32(end-start) - outcomes, outcomes, start, end
}

// buildRows makes the rows, in the order of (user, item, period), with
// their history features, and the engaged items of each user (in log
// order) for the neighbours; rel, when set, scores each row's relevance.
// The log must be sorted by user.
func (l *tableLog) buildRows(ctx context.Context, period int64, nRows int, items map[string]store.Item, rel *relevanceScorer) ([]tableRow, map[string][]string, error) {
	rows := make([]tableRow, 0, nRows)
	engaged := map[string][]string{}
	var (
		hist    []tableStamp
		counts  tableCounts
		userLog []userEvent
		outs    []tableEvent
	)
	ev := l.events
	for lo := 0; lo < len(ev); {
		hi := lo + 1
		for hi < len(ev) && ev[hi].user == ev[lo].user {
			hi++
		}
		block := ev[lo:hi]
		lo = hi
		// The user's history: the events with a known time, in time and
		// log order.
		hist, userLog, outs = hist[:0], userLog[:0], outs[:0]
		for _, e := range block {
			if e.flags&evOutcome != 0 {
				outs = append(outs, e)
			}
			if e.flags&evTimeUnknown != 0 {
				continue
			}
			hist = append(hist, tableStamp{t: e.t, outcome: e.flags&evOutcome != 0, seq: e.seq})
			if rel != nil {
				userLog = append(userLog, userEvent{t: e.t, seq: e.seq, outcome: e.flags&evOutcome != 0, item: e.item})
			}
		}
		counts.reset(hist)
		if rel != nil {
			slices.SortFunc(userLog, func(a, b userEvent) int {
				if x := cmp.Compare(a.t, b.t); x != 0 {
					return x
				}
				return cmp.Compare(a.seq, b.seq)
			})
		}
		if len(outs) > 0 {
			slices.SortFunc(outs, func(a, b tableEvent) int { return cmp.Compare(a.seq, b.seq) })
			list := make([]string, len(outs))
			for i, e := range outs {
				list[i] = l.items[e.item]
			}
			engaged[l.users[block[0].user]] = list
		}
		first := len(rows)
		err := (&tableLog{events: block}).groups(period, func(g []tableEvent) error {
			treated, control := armsOf(g)
			if !treated && !control {
				return nil
			}
			r := tableRow{at: g[0].t, user: g[0].user, item: g[0].item}
			// The propensity the log gave last (by place in the log) to
			// an exposure of the row's arm.
			var propSeq uint32
			for _, e := range g {
				if e.flags&evTimeUnknown != 0 {
					r.flags |= rowBlind
				}
				if e.flags&evOutcome != 0 {
					r.flags |= rowOutcome
					continue
				}
				if (e.flags&evControl == 0) == treated && e.prop > 0 && (r.prop == 0 || e.seq > propSeq) {
					r.prop, propSeq = e.prop, e.seq
				}
			}
			if treated {
				r.flags |= rowTreated
			}
			if r.flags&rowBlind == 0 {
				r.histExposures, r.histOutcomes, _, _ = counts.before(r.at, historyRead)
			}
			rows = append(rows, r)
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		if rel != nil && rel.err == nil {
			rel.scoreUser(ctx, rows[first:], first, userLog, &counts, l.items, items)
		}
	}
	return rows, engaged, nil
}

// countPopularity sets each row's item exposures and outcomes before the
// row starts. It sorts the log by item.
func (l *tableLog) countPopularity(rows []tableRow) {
	slices.SortFunc(l.events, func(a, b tableEvent) int {
		if c := cmp.Compare(a.item, b.item); c != 0 {
			return c
		}
		if c := cmp.Compare(a.t, b.t); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	// The rows of each item: a counting sort of their indexes.
	start := make([]uint32, len(l.items)+1)
	for _, r := range rows {
		start[r.item+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	next := slices.Clone(start[:len(l.items)])
	byItem := make([]uint32, len(rows))
	for i, r := range rows {
		byItem[next[r.item]] = uint32(i)
		next[r.item]++
	}
	var (
		hist   []tableStamp
		counts tableCounts
	)
	ev := l.events
	for lo := 0; lo < len(ev); {
		hi := lo + 1
		for hi < len(ev) && ev[hi].item == ev[lo].item {
			hi++
		}
		item := ev[lo].item
		hist = hist[:0]
		for _, e := range ev[lo:hi] {
			if e.flags&evTimeUnknown == 0 {
				hist = append(hist, tableStamp{t: e.t, outcome: e.flags&evOutcome != 0, seq: e.seq})
			}
		}
		lo = hi
		counts.reset(hist)
		for _, ri := range byItem[start[item]:start[item+1]] {
			if r := &rows[ri]; r.flags&rowBlind == 0 {
				r.popExposures, r.popOutcomes, _, _ = counts.before(r.at, 0)
			}
		}
	}
}

// userEvent is one event of a user's log, for the relevance feature.
type userEvent struct {
	t       int64
	seq     uint32
	item    uint32
	outcome bool
}

// relevanceScorer scores, with the "lm" scorer, the relevance of every
// row's item to the texts of the items its user engaged with among the
// user's latest historyRead events before the row starts: what serving
// compares with, the engaged items of the history it reads, at the time of
// the request. Rows of a user that saw the same window share one plugin
// call; a row without engaged items before it gets none (its relevance is
// 0). The first error stops the scoring and is kept in err.
type relevanceScorer struct {
	ts     plugins.TextScorer
	values []float64
	err    error
}

func newRelevanceScorer(opts TextOptions, rows int) (*relevanceScorer, error) {
	if opts.Source == nil {
		return nil, errors.New("no text scorer plugins")
	}
	ts, err := opts.Source.TextScorer("lm")
	if err != nil {
		return nil, err
	}
	return &relevanceScorer{ts: ts, values: make([]float64, rows)}, nil
}

// scoreUser scores the rows of one user (rows[i] is row first+i); log is
// the user's events with a known time in time order.
func (s *relevanceScorer) scoreUser(ctx context.Context, rows []tableRow, first int, log []userEvent, counts *tableCounts, itemNames []string, items map[string]store.Item) {
	type window struct{ start, end int }
	groups := map[window][]int{}
	var order []window
	for i, r := range rows {
		if items[itemNames[r.item]].Text == "" || r.flags&rowBlind != 0 {
			continue
		}
		_, _, start, end := counts.before(r.at, historyRead)
		w := window{start, end}
		if groups[w] == nil {
			order = append(order, w)
		}
		groups[w] = append(groups[w], i)
	}
	for _, w := range order {
		var context []string
		seen := map[uint32]bool{}
		for _, e := range log[w.start:w.end] {
			if e.outcome && !seen[e.item] && items[itemNames[e.item]].Text != "" {
				seen[e.item] = true
				context = append(context, items[itemNames[e.item]].Text)
			}
		}
		if len(context) == 0 {
			continue
		}
		idx := groups[w]
		for lo := 0; lo < len(idx); lo += textBatch {
			batch := idx[lo:min(lo+textBatch, len(idx))]
			req := plugins.ScoreRequest{Context: context, Items: make([]plugins.TextItem, len(batch))}
			for j, i := range batch {
				it := items[itemNames[rows[i].item]]
				req.Items[j] = plugins.TextItem{ID: it.ID, Text: it.Text}
			}
			resp, err := s.ts.Score(ctx, req)
			if err != nil {
				s.err = fmt.Errorf("relevance: plugin lm: %w", err)
				return
			}
			for j, sc := range resp.Scores {
				if j < len(batch) && sc.Err == "" {
					if v := sc.Features["relevance"]; !math.IsNaN(v) && !math.IsInf(v, 0) {
						s.values[first+batch[j]] = v
					}
				}
			}
		}
	}
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

// Item returns the item of row i: Items[i] when Items is set, else the
// row's item as BuildTable keeps it; "" when the table has neither.
func (t *Table) Item(i int) string {
	switch {
	case t.Items != nil:
		return t.Items[i]
	case t.itemAt != nil:
		return t.itemAt(i)
	}
	return ""
}
