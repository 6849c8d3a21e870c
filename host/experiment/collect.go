package experiment

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

// Ranker ranks candidates with a given model (*recommend.Ranker is one):
// every arm ranks the candidates of a logged list when it is logged, and
// the report ranks again the lists logged without those rankings.
type Ranker interface {
	Recommend(ctx context.Context, req recommend.Request) (recommend.Response, error)
}

// ReportStore is what a report reads (*store.Store is one).
type ReportStore interface {
	ExperimentUsers(ctx context.Context, exp string) ([]store.Assignment, error)
	Decisions(ctx context.Context, exp string, fn func(store.Decision) error) error
	Events(ctx context.Context, fn func(store.Event) error) error
}

// ErrNoAnalyzer reports a Service without an Analyzer: it cannot report.
var ErrNoAnalyzer = fmt.Errorf("experiment reports are not configured: %w", errors.ErrUnsupported)

// userEvents are an assigned user's events.
type userEvents struct {
	arm      int
	assigned time.Time
	outcomes []store.Event
	exposed  []time.Time
	// lists are the times of the user's logged lists, in order.
	lists []time.Time
}

// Report assembles the experiment's data up to now (or its stop) and
// analyses it: the arms' metric per user after assignment, the
// pre-assignment metric (CUPED), the comparisons at SeriesPoints times
// (the confidence-sequence plot), and, from the decision log, every arm's
// policy replayed on every arm's lists (OPE) and the uplift arm's scores
// against the exploring arms' placements (calibration).
func (s *Service) Report(ctx context.Context, id string) (Report, error) {
	if s.opts.Analyzer == nil || s.opts.Reports == nil {
		return Report{}, ErrNoAnalyzer
	}
	e, err := s.st.Experiment(ctx, id)
	if err != nil {
		return Report{}, err
	}
	at := s.opts.Now().UTC()
	if e.StoppedAt != nil {
		at = *e.StoppedAt
	}
	users, evs, err := s.readUsers(ctx, e)
	if err != nil {
		return Report{}, err
	}
	d := armData(e, users, evs, at)
	d.OPE, d.Calibration, err = s.opeData(ctx, e, evs, at, &d.Warnings)
	if err != nil {
		return Report{}, err
	}
	rep, err := s.opts.Analyzer.Analyze(ctx, d)
	if err != nil {
		return Report{}, fmt.Errorf("analyse experiment %q: %w", id, err)
	}
	rep.ID, rep.Status, rep.Metric, rep.StartedAt, rep.StoppedAt, rep.At = e.ID, e.Status, e.Metric, e.StartedAt, e.StoppedAt, at
	rep.Warnings = append(d.Warnings, rep.Warnings...)
	rep.Series = s.series(ctx, e, users, evs, at)
	if rep.Warnings == nil {
		rep.Warnings = []string{}
	}
	if rep.OPE == nil {
		rep.OPE = []OPEResult{}
	}
	return rep, nil
}

// series analyses the data at SeriesPoints times from the start to at.
func (s *Service) series(ctx context.Context, e store.Experiment, users []store.Assignment, evs map[string]*userEvents, at time.Time) []SeriesPoint {
	out := []SeriesPoint{}
	span := at.Sub(e.StartedAt)
	if span <= 0 {
		return out
	}
	for k := 1; k <= s.opts.SeriesPoints; k++ {
		cut := e.StartedAt.Add(span * time.Duration(k) / time.Duration(s.opts.SeriesPoints))
		d := armData(e, users, evs, cut)
		enough := true
		for _, a := range d.Arms {
			enough = enough && len(a.Users) >= 2
		}
		if !enough {
			continue
		}
		r, err := s.opts.Analyzer.Analyze(ctx, d)
		if err != nil {
			continue
		}
		for _, c := range r.Comparisons {
			if c.Metric != "" && c.Metric != e.Metric {
				continue
			}
			n := 0
			for _, a := range d.Arms {
				if a.Name == c.Arm || a.Name == c.Baseline {
					n += len(a.Users)
				}
			}
			out = append(out, SeriesPoint{At: cut, Arm: c.Arm, Users: n, Lift: c.Lift, CI: c.CI, SequentialCI: c.SequentialCI})
		}
	}
	return out
}

// readUsers reads the experiment's assignments and its users' events.
func (s *Service) readUsers(ctx context.Context, e store.Experiment) ([]store.Assignment, map[string]*userEvents, error) {
	users, err := s.opts.Reports.ExperimentUsers(ctx, e.ID)
	if err != nil {
		return nil, nil, err
	}
	arms := map[string]int{}
	for i, a := range e.Arms {
		arms[a.Name] = i
	}
	evs := make(map[string]*userEvents, len(users))
	kept := users[:0]
	for _, u := range users {
		i, ok := arms[u.Arm]
		if !ok {
			continue
		}
		kept = append(kept, u)
		evs[u.User] = &userEvents{arm: i, assigned: u.Time}
	}
	err = s.opts.Reports.Events(ctx, func(ev store.Event) error {
		ue := evs[ev.User]
		if ue == nil {
			return nil
		}
		if ev.Kind == store.Outcome {
			ue.outcomes = append(ue.outcomes, ev)
		} else {
			ue.exposed = append(ue.exposed, ev.Time)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return kept, evs, nil
}

// metricOf returns a user's metric m over events in [from, to).
func metricOf(ue *userEvents, m string, from, to time.Time) float64 {
	var v float64
	in := func(t time.Time) bool { return !t.Before(from) && t.Before(to) }
	switch m {
	case MetricExposures:
		for _, t := range ue.exposed {
			if in(t) {
				v++
			}
		}
	default:
		for _, ev := range ue.outcomes {
			if !in(ev.Time) {
				continue
			}
			if m == MetricValue && ev.Value != 0 {
				v += ev.Value
			} else {
				v++
			}
		}
	}
	return v
}

// armData returns the per-user numbers of the users assigned before at,
// counting events before at.
func armData(e store.Experiment, users []store.Assignment, evs map[string]*userEvents, at time.Time) Data {
	d := Data{Experiment: e, At: at, Arms: make([]ArmData, len(e.Arms))}
	for i, a := range e.Arms {
		d.Arms[i] = ArmData{Name: a.Name, ModelID: a.ModelID, Weight: a.Weight, Guardrails: map[string][]float64{}}
	}
	var past time.Time
	for _, u := range users {
		ue := evs[u.User]
		if ue == nil || !ue.assigned.Before(at) {
			continue
		}
		a := &d.Arms[ue.arm]
		a.Users = append(a.Users, u.User)
		a.Y = append(a.Y, metricOf(ue, e.Metric, ue.assigned, at))
		a.Pre = append(a.Pre, metricOf(ue, e.Metric, past, ue.assigned))
		a.Exposures = append(a.Exposures, metricOf(ue, MetricExposures, ue.assigned, at))
		for _, g := range e.Guardrails {
			a.Guardrails[g] = append(a.Guardrails[g], metricOf(ue, g, ue.assigned, at))
		}
	}
	return d
}

// opeData takes every arm's policy on the latest OPERounds logged lists of
// each arm, from the arms' rankings logged with each list (those of the
// time it was served), or, for a list logged without them, by ranking its
// candidates again now with the arm's model through the Ranker; and builds
// the OPE logs and the calibration units.
func (s *Service) opeData(ctx context.Context, e store.Experiment, evs map[string]*userEvents, at time.Time, warnings *[]string) (*OPEData, *CalibrationData, error) {
	if s.opts.Ranker == nil {
		return nil, nil, nil
	}
	arms := map[string]int{}
	for i, a := range e.Arms {
		arms[a.Name] = i
	}
	byArm := make([][]store.Decision, len(e.Arms))
	err := s.opts.Reports.Decisions(ctx, e.ID, func(dec store.Decision) error {
		i, ok := arms[dec.Arm]
		if !ok || dec.Time.After(at) {
			return nil
		}
		if ue := evs[dec.User]; ue != nil {
			ue.lists = append(ue.lists, dec.Time)
		}
		if len(dec.Items) == 0 || len(dec.Candidates) < 2 {
			return nil
		}
		byArm[i] = append(byArm[i], dec)
		if len(byArm[i]) > 2*s.opts.OPERounds {
			byArm[i] = slices.Clone(byArm[i][len(byArm[i])-s.opts.OPERounds:])
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	// Lists logged without candidates (over the rate or the size kept)
	// only end the reward windows of the lists before them; an arm with
	// few lists with candidates gives OPE little to go on.
	for i, decs := range byArm {
		if n := len(decs); n < minOPELists {
			*warnings = append(*warnings, fmt.Sprintf("ope: arm %s has %d logged lists with candidates (fewer than %d): its OPE rows are few", e.Arms[i].Name, n, minOPELists))
		}
	}
	for i := range byArm {
		if len(byArm[i]) > s.opts.OPERounds {
			byArm[i] = byArm[i][len(byArm[i])-s.opts.OPERounds:]
		}
	}
	// Every arm's ranking of every kept list's candidates: as logged with
	// the list, else (a list logged without them) ranked again now.
	type job struct{ logArm, row, arm int }
	ranks := make([][][]store.ArmScores, len(e.Arms))
	var jobs []job
	for la := range byArm {
		ranks[la] = make([][]store.ArmScores, len(byArm[la]))
		for r, dec := range byArm[la] {
			ranks[la][r] = make([]store.ArmScores, len(e.Arms))
			logged := true
			for a, arm := range e.Arms {
				as, ok := dec.Arms[arm.Name]
				logged = logged && ok && len(as.Score) == len(dec.Candidates)
				ranks[la][r][a] = as
			}
			if logged {
				continue
			}
			for a := range e.Arms {
				jobs = append(jobs, job{la, r, a})
			}
		}
	}
	if n := len(jobs) / max(len(e.Arms), 1); n > 0 {
		*warnings = append(*warnings, fmt.Sprintf("ope: %d logged lists carry no rankings of their time and were ranked again with the models and data of the report's time", n))
	}
	failed := make([][]bool, len(e.Arms))
	for la := range failed {
		failed[la] = make([]bool, len(byArm[la]))
	}
	var mu sync.Mutex
	var firstErr error
	work := make(chan job)
	var wg sync.WaitGroup
	for range replayWorkers {
		wg.Go(func() {
			for j := range work {
				dec := byArm[j.logArm][j.row]
				id, _ := uuid.Parse(e.Arms[j.arm].ModelID)
				resp, err := s.opts.Ranker.Recommend(ctx, rankRequest(dec, id))
				mu.Lock()
				if err != nil {
					failed[j.logArm][j.row] = true
					if firstErr == nil {
						firstErr = err
					}
				} else {
					ranks[j.logArm][j.row][j.arm] = armScores(resp, dec.Candidates)
				}
				mu.Unlock()
			}
		})
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		work <- j
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("replay the logged lists: %w", err)
	}
	nFailed := 0
	for la := range failed {
		for _, f := range failed[la] {
			if f {
				nFailed++
			}
		}
	}
	if nFailed > 0 {
		*warnings = append(*warnings, fmt.Sprintf("ope: %d logged lists could not be replayed (first error: %v)", nFailed, firstErr))
	}
	fallbacks := map[string]bool{}
	uplift := -1
	for la := range ranks {
		for r := range ranks[la] {
			for a, as := range ranks[la][r] {
				if failed[la][r] {
					continue
				}
				if as.Fallback {
					fallbacks[e.Arms[a].Name] = true
				}
				if uplift < 0 && strings.HasPrefix(as.Ranker, recommend.RankUplift) && !as.Fallback {
					uplift = a
				}
			}
		}
	}
	for _, a := range e.Arms {
		if fallbacks[a.Name] {
			*warnings = append(*warnings, fmt.Sprintf("ope: arm %s's model fell back to popularity on some logged lists", a.Name))
		}
	}
	// The action set: every kept candidate.
	index := map[string]int32{}
	od := &OPEData{}
	action := func(item string) int32 {
		i, ok := index[item]
		if !ok {
			i = int32(len(od.Items))
			index[item] = i
			od.Items = append(od.Items, item)
		}
		return i
	}
	var cal *CalibrationData
	if uplift >= 0 {
		cal = &CalibrationData{Arm: e.Arms[uplift].Name}
	}
	for la, decs := range byArm {
		lg := OPELog{Arm: e.Arms[la].Name, Targets: map[string]RowDist{}}
		explores := e.Arms[la].Policy == recommend.PolicyEpsilonGreedy || e.Arms[la].Policy == recommend.PolicyPlackettLuce
		dists := make([]RowDist, len(e.Arms))
		for r, dec := range decs {
			if failed[la][r] {
				continue
			}
			// The list's rewards are the user's outcomes from it to the
			// user's next list (the lists are logged in time order).
			ue := evs[dec.User]
			next := at
			if ue != nil {
				k := sort.Search(len(ue.lists), func(k int) bool { return ue.lists[k].After(dec.Time) })
				if k < len(ue.lists) && ue.lists[k].Before(next) {
					next = ue.lists[k]
				}
			}
			reward := func(item string) float64 {
				if ue == nil {
					return 0
				}
				var v float64
				for _, ev := range ue.outcomes {
					if ev.Item == item && !ev.Time.Before(dec.Time) && ev.Time.Before(next) {
						v++
					}
				}
				return v
			}
			top := dec.Items[0]
			lg.User = append(lg.User, dec.User)
			lg.Action = append(lg.Action, action(top))
			lg.Reward = append(lg.Reward, reward(top))
			lg.PScore = append(lg.PScore, dec.Propensity[0])
			probs := make([][]float64, len(e.Arms))
			for a := range e.Arms {
				as := ranks[la][r][a]
				p := policyDist(e.Arms[a], as)
				probs[a] = p
				rd := &dists[a]
				if rd.Start == nil {
					rd.Start = []int{0}
				}
				for c, item := range dec.Candidates {
					rd.Action = append(rd.Action, action(item))
					rd.Prob = append(rd.Prob, p[c])
					rd.Score = append(rd.Score, float64(as.Score[c]))
				}
				rd.Start = append(rd.Start, len(rd.Action))
			}
			if cal != nil && explores {
				for c, item := range dec.Candidates {
					t := 0
					if item == top {
						t = 1
					}
					cal.T = append(cal.T, t)
					cal.Y = append(cal.Y, reward(item))
					cal.Score = append(cal.Score, float64(ranks[la][r][uplift].Score[c]))
					cal.Propensity = append(cal.Propensity, min(max(probs[la][c], 1e-3), 1-1e-3))
				}
			}
		}
		for a := range e.Arms {
			lg.Targets[e.Arms[a].Name] = dists[a]
		}
		od.Logs = append(od.Logs, lg)
	}
	if cal != nil && len(cal.T) == 0 {
		cal = nil
	}
	return od, cal, nil
}

// minOPELists is the number of an arm's logged lists with candidates
// below which the report warns.
const minOPELists = 100

// replayWorkers is how many replays of logged lists run at once.
const replayWorkers = 4

// policyDist returns arm's probability of placing each candidate on top,
// given the arm model's ranking as of the candidates: greedy puts the
// first ranked candidate there; epsilon-greedy mixes that with a uniform
// draw; plackett-luce draws ∝ exp(score/temperature). A candidate the
// ranking left out (an unknown item) gets 0 before the mixing.
func policyDist(arm store.ExperimentArm, as store.ArmScores) []float64 {
	n := len(as.Score)
	p := make([]float64, n)
	switch arm.Policy {
	case recommend.PolicyPlackettLuce:
		left := make([]bool, n)
		for _, i := range as.Missing {
			left[i] = true
		}
		hi := math.Inf(-1)
		for i, v := range as.Score {
			if !left[i] {
				hi = max(hi, float64(v))
			}
		}
		var sum float64
		for i, v := range as.Score {
			if !left[i] {
				p[i] = math.Exp((float64(v) - hi) / arm.Temperature)
				sum += p[i]
			}
		}
		if sum > 0 {
			for i := range p {
				p[i] /= sum
			}
		}
	default:
		if as.Top >= 0 && as.Top < n {
			p[as.Top] = 1
		}
		if arm.Policy == recommend.PolicyEpsilonGreedy {
			for i := range p {
				p[i] = (1-arm.Epsilon)*p[i] + arm.Epsilon/float64(n)
			}
		}
	}
	return p
}
