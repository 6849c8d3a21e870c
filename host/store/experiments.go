package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The states of an experiment.
const (
	ExperimentRunning = "running"
	ExperimentStopped = "stopped"
)

// Experiment is a stored online experiment: users of a share of the hash
// space are split between arms, each served by its own model and policy.
// host/experiment validates and assigns; the store keeps them.
type Experiment struct {
	ID   string          `json:"id"`
	Arms []ExperimentArm `json:"arms"`
	// Salt seeds the users' positions within the experiment.
	Salt string `json:"salt"`
	// Coverage is the share of the namespace's users in the experiment.
	Coverage float64 `json:"coverage"`
	// Namespace is the [lo, hi) of the global hash space the experiment
	// draws its users from; running experiments' namespaces are disjoint.
	Namespace  [2]float64 `json:"namespace"`
	Metric     string     `json:"metric"`
	Guardrails []string   `json:"guardrails,omitempty"`
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	StoppedAt  *time.Time `json:"stopped_at,omitempty"`
}

// ExperimentArm is one arm: a model (as given and resolved to a stored
// model id), its share of the users, and the placement policy.
type ExperimentArm struct {
	Name        string  `json:"name"`
	Model       string  `json:"model"`
	ModelID     string  `json:"model_id"`
	Weight      float64 `json:"weight"`
	Policy      string  `json:"policy,omitempty"`
	Epsilon     float64 `json:"epsilon,omitempty"`
	Temperature float64 `json:"temperature,omitempty"`
}

// Overlaps reports whether the namespaces [lo, hi) of e and o intersect.
func (e Experiment) Overlaps(o Experiment) bool {
	return e.Namespace[0] < o.Namespace[1] && o.Namespace[0] < e.Namespace[1]
}

// Assignment is a user's arm in an experiment and when it was first served.
type Assignment struct {
	User string    `json:"user"`
	Arm  string    `json:"arm"`
	Time time.Time `json:"time"`
}

// Decision is one list served to a user of an experiment, kept for
// off-policy evaluation: the arm, the candidates the policy chose from (in
// the order given to it, empty when there were more than MaxLoggedCandidates),
// the items placed with their positions and propensities, and, for a list
// with candidates, every arm's ranking of them taken when the list was
// served (by arm name; empty when it could not be taken).
type Decision struct {
	Request    string               `json:"r"`
	User       string               `json:"u"`
	Arm        string               `json:"a"`
	Time       time.Time            `json:"t"`
	Candidates []string             `json:"c,omitempty"`
	NCand      int                  `json:"n"`
	Items      []string             `json:"i"`
	Propensity []float64            `json:"p"`
	Arms       map[string]ArmScores `json:"x,omitempty"`
	// Relevance is the request's relevance weight
	// (recommend.Request.RelevanceWeight): the arms rank the candidates
	// with the same blend of uplift and text relevance the list was
	// served with.
	Relevance float64 `json:"w,omitempty"`
}

// ArmScores are one arm's ranking of a logged list's candidates: its
// ranker, the index (in the list's Candidates) of the candidate its model
// ranks first (-1 for none), each candidate's score (float32, saturated at
// ±math.MaxFloat32; 0 for a candidate the ranking left out), the indexes of
// the candidates it left out (unknown to the model), and whether it fell
// back to popularity.
type ArmScores struct {
	Ranker   string    `json:"k"`
	Top      int       `json:"g"`
	Score    []float32 `json:"s"`
	Missing  []int     `json:"m,omitempty"`
	Fallback bool      `json:"f,omitempty"`
}

// Float32 returns v as a float32, saturated at ±math.MaxFloat32 (NaN gives
// 0), so that it always encodes as JSON.
func Float32(v float64) float32 {
	switch {
	case math.IsNaN(v):
		return 0
	case v > math.MaxFloat32:
		return math.MaxFloat32
	case v < -math.MaxFloat32:
		return -math.MaxFloat32
	}
	return float32(v)
}

// MaxLoggedCandidates bounds the candidates a Decision keeps.
const MaxLoggedCandidates = 200

// DecisionLogLen caps an experiment's decision log (approximately): the
// report replays at most the latest lists of each arm.
const DecisionLogLen = 20_000

// maxWatchRetries bounds the optimistic transactions on the experiments
// hash.
const maxWatchRetries = 20

// CreateExperiment stores e. It is a conflict (ErrConflict) when an
// experiment with e's ID exists or e is running and its namespace overlaps a
// running experiment's; the check and the write are one transaction.
func (s *Store) CreateExperiment(ctx context.Context, e Experiment) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("create experiment %q: encode: %w", e.ID, err)
	}
	key := s.k.experiments()
	return s.watch(ctx, "create experiment "+strconv.Quote(e.ID), key, func(tx *redis.Tx) error {
		all, err := s.experimentsIn(ctx, tx)
		if err != nil {
			return err
		}
		for _, o := range all {
			if o.ID == e.ID {
				return fmt.Errorf("experiment %q exists (%s): %w", e.ID, o.Status, ErrConflict)
			}
			if o.Status == ExperimentRunning && e.Status == ExperimentRunning && e.Overlaps(o) {
				return fmt.Errorf("namespace [%g, %g) overlaps running experiment %q's [%g, %g): %w",
					e.Namespace[0], e.Namespace[1], o.ID, o.Namespace[0], o.Namespace[1], ErrConflict)
			}
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, key, e.ID, raw)
			return nil
		})
		return err
	})
}

// StopExperiment marks a running experiment stopped at time at and returns
// it; its assignments and logs stay. Stopping a stopped experiment returns
// it unchanged.
func (s *Store) StopExperiment(ctx context.Context, id string, at time.Time) (Experiment, error) {
	key := s.k.experiments()
	var out Experiment
	err := s.watch(ctx, "stop experiment "+strconv.Quote(id), key, func(tx *redis.Tx) error {
		e, err := s.experimentIn(ctx, tx, id)
		if err != nil {
			return err
		}
		out = e
		if e.Status == ExperimentStopped {
			return nil
		}
		at := at.UTC()
		e.Status, e.StoppedAt = ExperimentStopped, &at
		raw, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, key, id, raw)
			return nil
		})
		out = e
		return err
	})
	return out, err
}

// watch runs fn in an optimistic transaction on key, retrying when another
// client changed key in between.
func (s *Store) watch(ctx context.Context, op, key string, fn func(*redis.Tx) error) error {
	for range maxWatchRetries {
		err := s.rdb.Watch(ctx, fn, key)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil && (errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound)) {
			return fmt.Errorf("%s: %w", op, err)
		}
		return s.wrap(op, err)
	}
	return fmt.Errorf("%s: %w: too many concurrent changes", op, ErrConflict)
}

// Experiment returns the experiment with id, or an error wrapping
// ErrNotFound.
func (s *Store) Experiment(ctx context.Context, id string) (Experiment, error) {
	e, err := s.experimentIn(ctx, s.rdb, id)
	if err != nil {
		return Experiment{}, s.wrap("experiment "+strconv.Quote(id), err)
	}
	return e, nil
}

// Experiments returns every experiment, oldest first.
func (s *Store) Experiments(ctx context.Context) ([]Experiment, error) {
	out, err := s.experimentsIn(ctx, s.rdb)
	return out, s.wrap("list experiments", err)
}

func (s *Store) experimentIn(ctx context.Context, c redis.Cmdable, id string) (Experiment, error) {
	raw, err := c.HGet(ctx, s.k.experiments(), id).Result()
	if errors.Is(err, redis.Nil) {
		return Experiment{}, fmt.Errorf("experiment %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Experiment{}, err
	}
	var e Experiment
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		return Experiment{}, fmt.Errorf("experiment %q: decode: %w", id, err)
	}
	return e, nil
}

func (s *Store) experimentsIn(ctx context.Context, c redis.Cmdable) ([]Experiment, error) {
	all, err := c.HGetAll(ctx, s.k.experiments()).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Experiment, 0, len(all))
	for id, raw := range all {
		var e Experiment
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			return nil, fmt.Errorf("experiment %q: decode: %w", id, err)
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Experiment) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Assign records that user is in arm of experiment exp since at, unless
// the user has an arm there already, and returns the user's recorded
// assignment: the first one stands. It also enters the user in the
// experiment's roster (read by ExperimentUsers); all goes in one round
// trip, and no command touches two keys, so the keys may lie on any slots
// of a Cluster.
func (s *Store) Assign(ctx context.Context, exp, user, arm string, at time.Time) (Assignment, error) {
	ms := at.UnixMilli()
	key := s.k.assignments(user)
	// HSETNX never overwrites and nothing deletes a field, so the HGET
	// after it on the same connection reads the first assignment.
	pipe := s.rdb.Pipeline()
	pipe.HSetNX(ctx, key, exp, arm+" "+strconv.FormatInt(ms, 10))
	got := pipe.HGet(ctx, key, exp)
	pipe.ZAddNX(ctx, s.k.roster(exp), redis.Z{Score: float64(ms), Member: user})
	if _, err := pipe.Exec(ctx); err != nil {
		return Assignment{}, s.wrap("assign "+strconv.Quote(user), err)
	}
	raw, err := got.Result()
	if err != nil {
		return Assignment{}, s.wrap("assign "+strconv.Quote(user), err)
	}
	a, err := parseAssignment(user, raw)
	if err != nil {
		return Assignment{}, fmt.Errorf("assign %q: %w", user, err)
	}
	return a, nil
}

func parseAssignment(user, raw string) (Assignment, error) {
	// Arm names may hold spaces: the time is after the last one.
	i := strings.LastIndexByte(raw, ' ')
	if i < 0 {
		return Assignment{}, fmt.Errorf("bad stored assignment %q", raw)
	}
	arm, ms := raw[:i], raw[i+1:]
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return Assignment{}, fmt.Errorf("bad stored assignment %q: %w", raw, err)
	}
	return Assignment{User: user, Arm: arm, Time: time.UnixMilli(n).UTC()}, nil
}

// ExperimentUsers returns the assignments of every user in experiment
// exp's roster, in order of assignment.
func (s *Store) ExperimentUsers(ctx context.Context, exp string) ([]Assignment, error) {
	op := "experiment " + strconv.Quote(exp) + " users"
	zs, err := s.rdb.ZRangeWithScores(ctx, s.k.roster(exp), 0, -1).Result()
	if err != nil {
		return nil, s.wrap(op, err)
	}
	out := make([]Assignment, 0, len(zs))
	for start := 0; start < len(zs); start += s.opts.BatchSize {
		part := zs[start:min(start+s.opts.BatchSize, len(zs))]
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(part))
		for i, z := range part {
			cmds[i] = pipe.HGet(ctx, s.k.assignments(z.Member.(string)), exp)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, s.wrap(op, err)
		}
		for i, c := range cmds {
			user := part[i].Member.(string)
			raw, err := c.Result()
			if errors.Is(err, redis.Nil) {
				continue // entered in the roster, the assignment lost: not counted
			}
			a, err := parseAssignment(user, raw)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", op, user, err)
			}
			out = append(out, a)
		}
	}
	return out, nil
}

// LogDecision appends d to experiment exp's decision log, which keeps
// about the latest DecisionLogLen.
func (s *Store) LogDecision(ctx context.Context, exp string, d Decision) error {
	return s.LogDecisions(ctx, []string{exp}, []Decision{d})
}

// LogDecisions appends ds[i] to the decision log of experiment exps[i],
// all in one pipeline (each command touches one key).
func (s *Store) LogDecisions(ctx context.Context, exps []string, ds []Decision) error {
	pipe := s.rdb.Pipeline()
	for i, d := range ds {
		if len(d.Candidates) > MaxLoggedCandidates {
			d.Candidates, d.Arms = nil, nil
		}
		raw, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("log decision: encode: %w", err)
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: s.k.decisions(exps[i]), MaxLen: DecisionLogLen, Approx: true,
			Values: []string{"d", string(raw)}})
	}
	_, err := pipe.Exec(ctx)
	return s.wrap(fmt.Sprintf("log %d experiment lists", len(ds)), err)
}

// Decisions calls fn with every logged decision of experiment exp, oldest
// first, and stops at fn's first error.
func (s *Store) Decisions(ctx context.Context, exp string, fn func(Decision) error) error {
	op := "read decisions of experiment " + strconv.Quote(exp)
	start := "-"
	for {
		msgs, err := s.rdb.XRangeN(ctx, s.k.decisions(exp), start, "+", int64(s.opts.BatchSize)).Result()
		if err != nil {
			return s.wrap(op, err)
		}
		for _, m := range msgs {
			raw, _ := m.Values["d"].(string)
			var d Decision
			if err := json.Unmarshal([]byte(raw), &d); err != nil {
				return fmt.Errorf("%s: entry %s: %w", op, m.ID, err)
			}
			if err := fn(d); err != nil {
				return err
			}
		}
		if len(msgs) < s.opts.BatchSize {
			return nil
		}
		if start, err = nextStreamID(msgs[len(msgs)-1].ID); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
}
