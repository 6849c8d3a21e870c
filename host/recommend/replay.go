package recommend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/store"
)

// ReplayRequest asks what a stored model, placing items as Recommend
// does, would have placed at every list logged in the store
// (Ranker.Replay).
type ReplayRequest struct {
	// Model is a stored model's id, or a model name ("default"), which
	// means the model that name serves now.
	Model string
	// Policy, Epsilon and Temperature place the items, as in Request.
	Policy      string
	Epsilon     float64
	Temperature float64
	// Candidates are the items the model chooses from at every logged
	// list; empty means every stored item (at most MaxCandidates).
	Candidates []string
	// IncludeConsumed keeps, as in Request, the items the user engaged
	// with before the list; by default they are left out.
	IncludeConsumed bool
	// PolicyID, when set, keeps only the exposures logged with this
	// policy_id.
	PolicyID string
	// Samples is the number of placements drawn per list to estimate a
	// random policy's probabilities (0 means DefaultReplaySamples); the
	// greedy policy needs one.
	Samples int
	// Seed seeds those draws.
	Seed uint64
}

// DefaultReplaySamples is the number of placements drawn per logged list
// for the epsilon-greedy and Plackett–Luce policies.
const DefaultReplaySamples = 1000

// maxReplaySamples bounds ReplayRequest.Samples.
const maxReplaySamples = 100_000

// Replay is the logged exposures, as rows of bandit feedback, with the
// distribution over the candidates that the evaluated model and policy
// would have given each row's position.
type Replay struct {
	// ModelID and Ranker name the evaluated model and its ranker (as
	// responses name it); Policy is its placement policy.
	ModelID string
	Ranker  string
	Policy  string
	// Actions lists the item of each action index: the candidates and
	// any logged item that is not one, sorted.
	Actions []string
	// Positions is the largest logged position (positions are 1-based).
	Positions int
	// Lists is the number of logged lists the rows belong to.
	Lists int
	// Rows holds one row per exposure evaluated, in the log's order.
	Rows []ReplayRow
	// ContextNames names the columns of ReplayRow.Context: the user
	// features, sorted.
	ContextNames []string
	// Skipped counts the logged exposures left out, by reason.
	Skipped ReplaySkipped
	// Warnings holds what scoring the lists warned of (a text scorer
	// unavailable, ...), each once.
	Warnings []string
}

// ReplaySkipped counts the exposures a Replay leaves out.
type ReplaySkipped struct {
	// Control counts the hold-outs (arm "control"): not placements.
	Control int `json:"control"`
	// NoPosition counts exposures logged without a position.
	NoPosition int `json:"no_position"`
	// OtherPolicy counts exposures of another policy_id than the one asked.
	OtherPolicy int `json:"other_policy"`
	// Unplaced counts exposures at a position the evaluated policy leaves
	// empty (fewer candidates than positions).
	Unplaced int `json:"unplaced"`
}

// ReplayRow is one logged exposure and the evaluated policy's distribution
// at its position.
type ReplayRow struct {
	Event string
	User  string
	// List indexes the logged list (the exposures of one user at one time
	// under one policy_id).
	List int
	// Action indexes Replay.Actions; Position is 1-based.
	Action   int
	Position int
	// Propensity is the logged probability of the placement; Reward is 1
	// when the user had an outcome on the item at or after the exposure
	// and before the pair's next exposure, else 0.
	Propensity float64
	Reward     float64
	// Context holds the user's features (Replay.ContextNames; 0 when the
	// user lacks one).
	Context []float64
	// Eval and EvalProb are the evaluated policy's distribution at the
	// row's position: action indices and their probabilities (summing
	// to 1).
	Eval     []int32
	EvalProb []float64
}

// loggedList is the exposures of one user at one time under one policy.
type loggedList struct {
	user   string
	at     int64
	policy string
	rows   []store.Event
}

// Replay reads every logged exposure with a position (a placement in a
// list: hold-outs and exposures without a position are left out, and,
// when PolicyID is set, those of other policies) and, for each logged list
// (the exposures of one user at one time under one policy_id), places the
// candidates as Recommend would have with the model: the features of the
// user and the items at the list's time (the user's history and the items'
// counts of the events strictly before it; the user and item records and
// the cached text scores as they are now), the same scoring and the same
// placement code. For the greedy policy the distribution at a position is
// the item placed there; for the random policies it is estimated from
// Samples placements.
//
// It fails with an error wrapping ErrBadRequest for an unknown model or
// policy, unknown candidates, no exposure to evaluate, and exposures
// without a logged propensity.
func (r *Ranker) Replay(ctx context.Context, req ReplayRequest) (*Replay, error) {
	if req.Samples < 0 || req.Samples > maxReplaySamples {
		return nil, fmt.Errorf("%w: samples=%d must be in [1, %d]", ErrBadRequest, req.Samples, maxReplaySamples)
	}
	if req.Samples == 0 {
		req.Samples = DefaultReplaySamples
	}
	place0 := Request{User: "-", Policy: req.Policy, Epsilon: req.Epsilon, Temperature: req.Temperature}
	if err := place0.validate(); err != nil {
		return nil, err
	}
	place0 = place0.withDefaults()
	m, err := r.replayModel(ctx, req.Model)
	if err != nil {
		return nil, err
	}
	cands, err := r.replayCandidates(ctx, req.Candidates)
	if err != nil {
		return nil, err
	}
	lg, err := readReplayLog(ctx, r.store, req.PolicyID)
	if err != nil {
		return nil, err
	}
	if len(lg.lists) == 0 {
		what := "logged exposures"
		if req.PolicyID != "" {
			what += fmt.Sprintf(" of policy_id %q", req.PolicyID)
		}
		return nil, fmt.Errorf("%w: no %s with a position to evaluate on (left out: %d hold-outs, %d without a position, %d of other policies)",
			ErrBadRequest, what, lg.skipped.Control, lg.skipped.NoPosition, lg.skipped.OtherPolicy)
	}
	if lg.noProp > 0 {
		return nil, fmt.Errorf("%w: %d of %d exposures to evaluate have no logged propensity (event %q is one): off-policy evaluation needs the logging policy's probability of each placement (log the propensity /v1/recommend returns, or choose exposures with policy_id)",
			ErrBadRequest, lg.noProp, lg.rows, lg.noPropID)
	}
	if lg.positions > MaxK {
		return nil, fmt.Errorf("%w: a logged position is %d, over the longest list of %d", ErrBadRequest, lg.positions, MaxK)
	}
	place0.K = lg.positions
	out := &Replay{ModelID: m.id.String(), Ranker: RankerName(m.meta.Ranker, m.rec.Estimator), Policy: place0.Policy,
		Positions: lg.positions, Lists: len(lg.lists), Skipped: lg.skipped}
	// The action set: the candidates and the logged items.
	actions := map[string]int{}
	for _, it := range cands {
		actions[it.ID] = 0
	}
	for _, l := range lg.lists {
		for _, e := range l.rows {
			actions[e.Item] = 0
		}
	}
	for id := range actions {
		out.Actions = append(out.Actions, id)
	}
	slices.Sort(out.Actions)
	for i, id := range out.Actions {
		actions[id] = i
	}
	users, err := replayUsers(ctx, r.store, lg.lists)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		for name := range u.Features {
			out.ContextNames = append(out.ContextNames, name)
		}
	}
	slices.Sort(out.ContextNames)
	out.ContextNames = slices.Compact(out.ContextNames)
	itemLog := countsOf(lg.itemStamps)
	warned := map[string]bool{}
	draws := req.Samples
	if place0.Policy == PolicyGreedy {
		draws = 1
	}
	for li, l := range lg.lists {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("replay: %w", context.Cause(ctx))
		}
		user, known := users[l.user]
		if !known {
			user = store.User{ID: l.user}
		}
		hist := historyBefore(lg.userEvents[l.user], l.at)
		items := slices.Clone(cands)
		counts := make([]store.ItemCount, len(items))
		for i, it := range items {
			counts[i] = store.ItemCount{Item: it.ID}
			counts[i].Exposures, counts[i].Outcomes = itemLog[it.ID].before(l.at, 0)
		}
		if !req.IncludeConsumed {
			items, counts = unconsumed(hist, items, counts)
		}
		// freq[k][i] counts the draws that placed items[i] at position k+1.
		freq := make([][]int, lg.positions)
		for k := range freq {
			freq[k] = make([]int, len(items))
		}
		if len(items) > 0 {
			snap := store.Snapshot{User: user, KnownUser: known, History: hist, ServingID: m.id, Candidates: items, Counts: counts}
			lreq := place0
			lreq.User = l.user
			sc, reason, _ := r.scoreWith(ctx, m, lreq, snap, items, counts)
			if reason != "" {
				return nil, fmt.Errorf("replay the list of user %q at %s: model %s could not score: %s",
					l.user, time.Unix(0, l.at).UTC().Format(time.RFC3339Nano), m.id, reason)
			}
			for _, w := range sc.warnings {
				if !warned[w] {
					warned[w] = true
					out.Warnings = append(out.Warnings, w)
				}
			}
			index := make(map[string]int, len(items))
			for i, it := range items {
				index[it.ID] = i
			}
			rng := rand.New(rand.NewPCG(req.Seed, uint64(li)))
			for range draws {
				for _, rk := range place(lreq, items, sc, counts, rng.Uint64()) {
					freq[rk.Position-1][index[rk.Item]]++
				}
			}
		}
		for _, e := range l.rows {
			row := ReplayRow{Event: e.ID, User: l.user, List: li, Action: actions[e.Item], Position: e.Position, Propensity: e.Propensity}
			for i, c := range freq[e.Position-1] {
				if c > 0 {
					row.Eval = append(row.Eval, int32(actions[items[i].ID]))
					row.EvalProb = append(row.EvalProb, float64(c)/float64(draws))
				}
			}
			if row.Eval == nil {
				out.Skipped.Unplaced++
				continue
			}
			if lg.rewarded(l.user, e) {
				row.Reward = 1
			}
			row.Context = make([]float64, len(out.ContextNames))
			for j, name := range out.ContextNames {
				row.Context[j] = user.Features[name]
			}
			out.Rows = append(out.Rows, row)
		}
	}
	if len(out.Rows) == 0 {
		return nil, fmt.Errorf("%w: the evaluated policy places no item at any logged position (%d exposures at positions beyond its lists: too few candidates)", ErrBadRequest, out.Skipped.Unplaced)
	}
	return out, nil
}

// replayModel loads the model named by ref: a model id, or a name whose
// serving model is meant.
func (r *Ranker) replayModel(ctx context.Context, ref string) (*servingModel, error) {
	if ref == "" {
		return nil, fmt.Errorf("%w: model is required (a model id, or the name %q for the serving model)", ErrBadRequest, ModelName)
	}
	id, err := uuid.Parse(ref)
	if err != nil {
		cur, _, serr := r.store.Serving(ctx, ref)
		if errors.Is(serr, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: unknown model %q: neither a stored model's id nor the name of a served model (the serving models' name is %q; GET /v1/models lists the ids)", ErrBadRequest, ref, ModelName)
		}
		if serr != nil {
			return nil, serr
		}
		id = cur
	}
	m, err := loadModel(ctx, r.store, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: unknown model %s (GET /v1/models lists the stored ones)", ErrBadRequest, id)
	}
	return m, err
}

// replayCandidates returns the items named, or every stored item.
func (r *Ranker) replayCandidates(ctx context.Context, ids []string) ([]store.Item, error) {
	if len(ids) > MaxCandidates {
		return nil, fmt.Errorf("%w: %d candidates, at most %d", ErrBadRequest, len(ids), MaxCandidates)
	}
	if len(ids) == 0 {
		var n int
		var err error
		ids, n, err = r.store.ItemIDs(ctx, MaxCandidates)
		if err != nil {
			return nil, err
		}
		if ids == nil && n > 0 {
			return nil, fmt.Errorf("%w: %d items are stored, more than %d candidates: name the candidates", ErrBadRequest, n, MaxCandidates)
		}
		if len(ids) == 0 {
			return nil, fmt.Errorf("%w: no items are stored to place", ErrBadRequest)
		}
	}
	found, missing, err := r.store.Items(ctx, ids)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: unknown items %s", ErrBadRequest, quoteIDs(missing, 10))
	}
	seen := make(map[string]bool, len(found))
	for _, it := range found {
		if seen[it.ID] {
			return nil, fmt.Errorf("%w: candidate %q listed twice", ErrBadRequest, it.ID)
		}
		seen[it.ID] = true
	}
	return found, nil
}

// replayLog is what Replay reads of the event log.
type replayLog struct {
	lists     []*loggedList
	rows      int
	positions int
	skipped   ReplaySkipped
	// noProp counts the exposures to evaluate without a propensity;
	// noPropID is one of them.
	noProp   int
	noPropID string
	// userEvents holds every user's events in the log's order;
	// itemStamps every item's.
	userEvents map[string][]store.Event
	itemStamps map[string][]stamp
	// exposures and outcomes hold the times of each pair's exposures and
	// outcomes, sorted.
	exposures, outcomes map[pairKey][]int64
}

// readReplayLog reads the event log once.
func readReplayLog(ctx context.Context, st *store.Store, policyID string) (*replayLog, error) {
	lg := &replayLog{userEvents: map[string][]store.Event{}, itemStamps: map[string][]stamp{},
		exposures: map[pairKey][]int64{}, outcomes: map[pairKey][]int64{}}
	type listKey struct {
		user   string
		at     int64
		policy string
	}
	byKey := map[listKey]*loggedList{}
	err := st.Events(ctx, func(e store.Event) error {
		t := e.Time.UnixNano()
		lg.userEvents[e.User] = append(lg.userEvents[e.User], e)
		lg.itemStamps[e.Item] = append(lg.itemStamps[e.Item], stamp{t, e.Kind == store.Outcome})
		pk := pairKey{user: e.User, item: e.Item}
		if e.Kind == store.Outcome {
			lg.outcomes[pk] = append(lg.outcomes[pk], t)
			return nil
		}
		lg.exposures[pk] = append(lg.exposures[pk], t)
		switch {
		case e.Arm == ControlArm:
			lg.skipped.Control++
			return nil
		case policyID != "" && e.PolicyID != policyID:
			lg.skipped.OtherPolicy++
			return nil
		case e.Position <= 0:
			lg.skipped.NoPosition++
			return nil
		}
		lg.rows++
		if e.Propensity <= 0 {
			if lg.noProp == 0 {
				lg.noPropID = e.ID
			}
			lg.noProp++
		}
		lg.positions = max(lg.positions, e.Position)
		k := listKey{e.User, t, e.PolicyID}
		l := byKey[k]
		if l == nil {
			l = &loggedList{user: e.User, at: t, policy: e.PolicyID}
			byKey[k] = l
			lg.lists = append(lg.lists, l)
		}
		l.rows = append(l.rows, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, m := range []map[pairKey][]int64{lg.exposures, lg.outcomes} {
		for _, ts := range m {
			slices.Sort(ts)
		}
	}
	for _, evs := range lg.userEvents {
		slices.SortStableFunc(evs, func(a, b store.Event) int { return a.Time.Compare(b.Time) })
	}
	return lg, nil
}

// rewarded reports whether the user had an outcome on e's item at or
// after e and before the pair's next exposure.
func (lg *replayLog) rewarded(user string, e store.Event) bool {
	pk := pairKey{user: user, item: e.Item}
	t := e.Time.UnixNano()
	next := int64(1<<63 - 1)
	exp := lg.exposures[pk]
	if i, _ := slices.BinarySearch(exp, t+1); i < len(exp) {
		next = exp[i]
	}
	out := lg.outcomes[pk]
	i, _ := slices.BinarySearch(out, t)
	return i < len(out) && out[i] < next
}

// historyBefore returns the latest historyRead of the events (sorted by
// time) strictly before at, newest first, as a snapshot reads a history.
func historyBefore(events []store.Event, at int64) []store.Event {
	end, _ := slices.BinarySearchFunc(events, at, func(e store.Event, t int64) int { return cmp.Compare(e.Time.UnixNano(), t) })
	start := max(0, end-historyRead)
	h := slices.Clone(events[start:end])
	slices.Reverse(h)
	return h
}

// replayUsers reads the user records of the lists' users.
func replayUsers(ctx context.Context, st *store.Store, lists []*loggedList) (map[string]store.User, error) {
	var ids []string
	seen := map[string]bool{}
	for _, l := range lists {
		if !seen[l.user] {
			seen[l.user] = true
			ids = append(ids, l.user)
		}
	}
	found, _, err := st.Users(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]store.User, len(found))
	for _, u := range found {
		out[u.ID] = u
	}
	return out, nil
}
