package experiment

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

// Store keeps experiments, assignments and served lists (*store.Store is
// one).
type Store interface {
	ModelSource
	CreateExperiment(ctx context.Context, e store.Experiment) error
	StopExperiment(ctx context.Context, id string, at time.Time) (store.Experiment, error)
	Experiment(ctx context.Context, id string) (store.Experiment, error)
	Experiments(ctx context.Context) ([]store.Experiment, error)
	Assign(ctx context.Context, exp, user, arm string, at time.Time) (store.Assignment, error)
	LogDecision(ctx context.Context, exp string, d store.Decision) error
}

// Options configure a Service.
type Options struct {
	// Refresh is how long the running experiments read from the store
	// are used before they are read again (default DefaultRefresh): a
	// replica sees an experiment created or stopped by another within it.
	Refresh time.Duration
	// Remembered bounds the (experiment, user) assignments a Service
	// remembers to spare the store a write (default DefaultRemembered).
	Remembered int
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// Reports, Analyzer and Ranker make reports (Report): what they read,
	// the statistics, and every arm's ranking of the logged lists' candidates
	// (taken when a list is logged with its candidates; the report ranks
	// again the lists logged without them). Without Reports or Analyzer
	// Report fails with ErrNoAnalyzer; without Ranker the report has no OPE
	// and no calibration.
	Reports  ReportStore
	Analyzer Analyzer
	Ranker   Ranker
	// OPERounds is how many of each arm's latest lists the report replays
	// (default DefaultOPERounds); SeriesPoints how many times the
	// comparisons are read at for the plot (default DefaultSeriesPoints).
	OPERounds    int
	SeriesPoints int
	// CandidatesPerSecond bounds how many lists a second keep their
	// candidates in the decision log (default DefaultCandidatesPerSecond):
	// OPE and calibration need them, but a list of hundreds of candidates
	// is kilobytes, which at full traffic would load Redis. The other
	// lists are logged without them.
	CandidatesPerSecond int
	// LogBuffer, when positive, makes Log hand the lists to Run, which
	// writes them in pipelined batches off the request path; a list that
	// finds the buffer full is dropped (and counted in the log). Zero
	// writes each list in Log.
	LogBuffer int
}

// Defaults of Options.
const (
	DefaultRefresh             = time.Second
	DefaultRemembered          = 1 << 18
	DefaultOPERounds           = 1000
	DefaultCandidatesPerSecond = 25
	DefaultSeriesPoints        = 14
)

func (o Options) withDefaults() Options {
	if o.Refresh <= 0 {
		o.Refresh = DefaultRefresh
	}
	if o.Remembered <= 0 {
		o.Remembered = DefaultRemembered
	}
	if o.OPERounds <= 0 {
		o.OPERounds = DefaultOPERounds
	}
	if o.CandidatesPerSecond <= 0 {
		o.CandidatesPerSecond = DefaultCandidatesPerSecond
	}
	if o.SeriesPoints <= 0 {
		o.SeriesPoints = DefaultSeriesPoints
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Service runs the experiments of one service replica. It is safe for
// concurrent use.
type Service struct {
	st   Store
	opts Options

	mu      sync.Mutex
	running []store.Experiment
	readAt  time.Time
	// known holds assignments recorded in the store, by experiment and
	// user; it is emptied when it reaches opts.Remembered.
	known map[assignKey]int
	// pending carries the lists to Run with LogBuffer set; dropped
	// counts those that found it full.
	pending chan pendingDecision
	dropped int
	// ranking carries the lists whose arms are to rank them first;
	// unranked counts those that found it full.
	ranking  chan pendingDecision
	unranked int
	// candSecond and candLists count the lists of the current second
	// that keep their candidates.
	candSecond int64
	candLists  int
}

// pendingDecision is a list to log; arms, when set, are to rank it
// first.
type pendingDecision struct {
	exp  string
	d    store.Decision
	arms []store.ExperimentArm
}

type assignKey struct{ exp, user string }

// NewService returns a Service over st.
func NewService(st Store, opts Options) *Service {
	s := &Service{st: st, opts: opts.withDefaults(), known: map[assignKey]int{}}
	if s.opts.LogBuffer > 0 {
		s.pending = make(chan pendingDecision, s.opts.LogBuffer)
		s.ranking = make(chan pendingDecision, rankQueue)
	}
	return s
}

// logBatch is the most lists Run writes in one pipeline (small, so that a
// batch never holds Redis up for the requests), logTimeout the time limit
// of one.
const (
	logBatch   = 64
	logTimeout = 5 * time.Second
	// logLinger is how long a batch waits for more lists.
	logLinger = 20 * time.Millisecond
)

// DecisionLogger writes decisions in batches (*store.Store is one).
type DecisionLogger interface {
	LogDecisions(ctx context.Context, exps []string, ds []store.Decision) error
}

// Run writes the lists Log hands over, in pipelined batches, until ctx
// ends; then it writes what is left. Without LogBuffer it returns at once.
func (s *Service) Run(ctx context.Context) error {
	if s.pending == nil {
		return nil
	}
	// The rankers hand the lists they ranked to the writer below; when
	// ctx ends they hand over what is left unranked, before the writer
	// drains the buffer.
	var rankers sync.WaitGroup
	for range rankWorkers {
		rankers.Go(func() {
			for {
				select {
				case p := <-s.ranking:
					s.rankArms(ctx, p.arms, &p.d)
					s.enqueue(p)
				case <-ctx.Done():
					for {
						select {
						case p := <-s.ranking:
							s.enqueue(p)
						default:
							return
						}
					}
				}
			}
		})
	}
	bl, _ := s.st.(DecisionLogger)
	var exps []string
	var ds []store.Decision
	// A batch is written even when ctx has just ended, within its own
	// time limit.
	flush := func(ctx context.Context) {
		if len(ds) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logTimeout)
		defer cancel()
		var err error
		if bl != nil {
			err = bl.LogDecisions(ctx, exps, ds)
		} else {
			for i := range ds {
				if err = s.st.LogDecision(ctx, exps[i], ds[i]); err != nil {
					break
				}
			}
		}
		if err != nil {
			s.opts.Logger.Warn("experiment lists not logged", "lists", len(ds), "error", err)
		}
		s.mu.Lock()
		if s.dropped > 0 {
			s.opts.Logger.Warn("experiment lists dropped: the log buffer was full", "lists", s.dropped)
			s.dropped = 0
		}
		if s.unranked > 0 {
			s.opts.Logger.Warn("experiment lists logged without the arms' rankings: their queue was full", "lists", s.unranked)
			s.unranked = 0
		}
		s.mu.Unlock()
		exps, ds = exps[:0], ds[:0]
	}
	for {
		select {
		case p := <-s.pending:
			exps, ds = append(exps, p.exp), append(ds, p.d)
			// Gather more for up to logLinger, up to a batch: one write a
			// batch, not one a list, keeps the writer's system calls few.
			linger := time.NewTimer(logLinger)
			for more := true; more && len(ds) < logBatch; {
				select {
				case p := <-s.pending:
					exps, ds = append(exps, p.exp), append(ds, p.d)
				case <-linger.C:
					more = false
				case <-ctx.Done():
					more = false
				}
			}
			linger.Stop()
			flush(ctx)
		case <-ctx.Done():
			rankers.Wait()
			for {
				select {
				case p := <-s.pending:
					exps, ds = append(exps, p.exp), append(ds, p.d)
					if len(ds) == logBatch {
						flush(ctx)
					}
				default:
					flush(ctx)
					return nil
				}
			}
		}
	}
}

// Create validates req (errors wrapping ErrBadRequest), stores the
// experiment, running from now, and returns it; an ID in use or a
// namespace overlapping a running experiment's is an error wrapping
// store.ErrConflict.
func (s *Service) Create(ctx context.Context, req CreateRequest) (store.Experiment, error) {
	e, err := Build(ctx, req, s.st, s.opts.Now())
	if err != nil {
		return store.Experiment{}, err
	}
	if err := s.st.CreateExperiment(ctx, e); err != nil {
		return store.Experiment{}, err
	}
	s.invalidate()
	return e, nil
}

// Stop stops the experiment id; its data and report stay.
func (s *Service) Stop(ctx context.Context, id string) (store.Experiment, error) {
	e, err := s.st.StopExperiment(ctx, id, s.opts.Now())
	if err == nil {
		s.invalidate()
	}
	return e, err
}

// Get returns the experiment id (an error wrapping store.ErrNotFound when
// there is none).
func (s *Service) Get(ctx context.Context, id string) (store.Experiment, error) {
	return s.st.Experiment(ctx, id)
}

// List returns every experiment, oldest first.
func (s *Service) List(ctx context.Context) ([]store.Experiment, error) {
	return s.st.Experiments(ctx)
}

func (s *Service) invalidate() {
	s.mu.Lock()
	s.readAt = time.Time{}
	s.mu.Unlock()
}

// runningExperiments returns the running experiments, read from the store
// at most opts.Refresh ago.
func (s *Service) runningExperiments(ctx context.Context) ([]store.Experiment, error) {
	now := s.opts.Now()
	s.mu.Lock()
	if !s.readAt.IsZero() && now.Sub(s.readAt) < s.opts.Refresh {
		r := s.running
		s.mu.Unlock()
		return r, nil
	}
	s.mu.Unlock()
	all, err := s.st.Experiments(ctx)
	if err != nil {
		return nil, err
	}
	var run []store.Experiment
	for _, e := range all {
		if e.Status == store.ExperimentRunning {
			run = append(run, e)
		}
	}
	s.mu.Lock()
	s.running, s.readAt = run, now
	s.mu.Unlock()
	return run, nil
}

// Route is a user's place in a running experiment.
type Route struct {
	Experiment string
	Arm        store.ExperimentArm
	ModelID    uuid.UUID
	// Candidates says the list's candidates are to be logged (within
	// CandidatesPerSecond), and with them the ranking of each of the
	// experiment's Arms.
	Candidates bool
	Arms       []store.ExperimentArm
	// relevance is the request's relevance weight, set by Apply, with
	// which the other arms rank the list's candidates.
	relevance float64
}

// Route returns the running experiment and arm user is in, recording the
// assignment at the user's first call, or nil when the user is in none.
func (s *Service) Route(ctx context.Context, user string) (*Route, error) {
	run, err := s.runningExperiments(ctx)
	if err != nil || len(run) == 0 {
		return nil, err
	}
	g := Position("", user)
	for _, e := range run {
		if !InNamespace(e, g) {
			continue
		}
		i := ArmOf(e, Position(e.Salt, user))
		if i < 0 {
			return nil, nil
		}
		if i, err = s.record(ctx, e, user, i); err != nil {
			return nil, err
		}
		arm := e.Arms[i]
		id, err := uuid.Parse(arm.ModelID)
		if err != nil {
			return nil, fmt.Errorf("experiment %q arm %q: model id %q: %w", e.ID, arm.Name, arm.ModelID, err)
		}
		return &Route{Experiment: e.ID, Arm: arm, ModelID: id, Candidates: s.candidatesBudget(), Arms: e.Arms}, nil
	}
	return nil, nil
}

// candidatesBudget reports whether one more list this second may keep
// its candidates.
func (s *Service) candidatesBudget() bool {
	sec := s.opts.Now().Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec != s.candSecond {
		s.candSecond, s.candLists = sec, 0
	}
	if s.candLists >= s.opts.CandidatesPerSecond {
		return false
	}
	s.candLists++
	return true
}

// record records that user is in arm i of e unless known, and returns
// the arm recorded first.
func (s *Service) record(ctx context.Context, e store.Experiment, user string, i int) (int, error) {
	k := assignKey{e.ID, user}
	s.mu.Lock()
	j, ok := s.known[k]
	s.mu.Unlock()
	if ok {
		return j, nil
	}
	a, err := s.st.Assign(ctx, e.ID, user, e.Arms[i].Name, s.opts.Now())
	if err != nil {
		return 0, err
	}
	j = -1
	for n, arm := range e.Arms {
		if arm.Name == a.Arm {
			j = n
		}
	}
	if j < 0 {
		return 0, fmt.Errorf("experiment %q: user %q is recorded in arm %q, which it does not have", e.ID, user, a.Arm)
	}
	s.mu.Lock()
	if len(s.known) >= s.opts.Remembered {
		clear(s.known)
	}
	s.known[k] = j
	s.mu.Unlock()
	return j, nil
}

// Apply sets req to rank with r's model and, when the arm names one, its
// policy, and asks for the candidates when they are to be logged.
func (r *Route) Apply(req *recommend.Request) {
	req.ModelID = r.ModelID
	req.KeepCandidates = r.Candidates
	r.relevance = req.RelevanceWeight
	if r.Arm.Policy != "" {
		req.Policy, req.Epsilon, req.Temperature = r.Arm.Policy, r.Arm.Epsilon, r.Arm.Temperature
	}
}

// Log records the list resp served in r's arm in the experiment's decision
// log, for the off-policy evaluation of the report, and names the
// experiment in resp. With LogBuffer set it only hands the list to Run.
func (s *Service) Log(ctx context.Context, r *Route, resp *recommend.Response) error {
	resp.Experiment = &recommend.ExperimentRef{ID: r.Experiment, Arm: r.Arm.Name}
	d := store.Decision{Request: resp.RequestID, User: resp.User, Arm: r.Arm.Name, Time: s.opts.Now().UTC(),
		Candidates: resp.Considered, NCand: len(resp.Considered), Relevance: r.relevance}
	d.Items = make([]string, len(resp.Items))
	d.Propensity = make([]float64, len(resp.Items))
	for i, it := range resp.Items {
		d.Items[i], d.Propensity[i] = it.Item, it.Propensity
	}
	p := pendingDecision{r.Experiment, d, nil}
	if len(d.Candidates) >= 2 && len(d.Candidates) <= store.MaxLoggedCandidates && s.opts.Ranker != nil {
		// The served arm's ranking is the one served; the other arms
		// rank the candidates.
		p.arms = r.Arms
		if served, ok := servedScores(resp); ok {
			p.d.Arms = map[string]store.ArmScores{r.Arm.Name: served}
		}
	}
	if s.pending != nil {
		// The arms rank the list off the request path, in Run; a list
		// that finds their queue full is logged without the rankings.
		if p.arms != nil {
			select {
			case s.ranking <- p:
				return nil
			default:
				p.arms, p.d.Arms = nil, nil
				s.mu.Lock()
				s.unranked++
				s.mu.Unlock()
			}
		}
		s.enqueue(p)
		return nil
	}
	if p.arms != nil {
		s.rankArms(ctx, p.arms, &p.d)
	}
	return s.st.LogDecision(ctx, r.Experiment, p.d)
}

// enqueue hands p to Run's writer, or counts it dropped when the buffer
// is full.
func (s *Service) enqueue(p pendingDecision) {
	select {
	case s.pending <- p:
	default:
		s.mu.Lock()
		s.dropped++
		s.mu.Unlock()
	}
}

// rankTimeout bounds the arms' rankings of one logged list, rankWorkers
// is how many lists are ranked at once and rankQueue how many may wait.
const (
	rankTimeout = 2 * time.Second
	rankWorkers = 2
	rankQueue   = 256
)

// rankArms ranks d's candidates with every arm's model, as the report's
// off-policy evaluation and calibration need them: taken now, with the
// user's history and the counts the served list met, not at the time of
// the report. When any arm's ranking fails d keeps none (the report then
// ranks the list again itself).
func (s *Service) rankArms(ctx context.Context, arms []store.ExperimentArm, d *store.Decision) {
	ctx, cancel := context.WithTimeout(ctx, rankTimeout)
	defer cancel()
	out := make(map[string]store.ArmScores, len(arms))
	for _, a := range arms {
		if as, ok := d.Arms[a.Name]; ok {
			out[a.Name] = as
			continue
		}
		id, err := uuid.Parse(a.ModelID)
		if err == nil {
			var resp recommend.Response
			if resp, err = s.opts.Ranker.Recommend(ctx, rankRequest(*d, id)); err == nil {
				out[a.Name] = armScores(resp, d.Candidates)
				continue
			}
		}
		s.opts.Logger.Debug("experiment list logged without the arms' rankings", "arm", a.Name, "error", err)
		d.Arms = nil
		return
	}
	d.Arms = out
}

// servedScores returns the served list's ranking of its candidates, when
// resp carries the scores they were ranked by.
func servedScores(resp *recommend.Response) (store.ArmScores, bool) {
	cands, sc := resp.Considered, resp.ConsideredScores
	if len(sc) != len(cands) || len(cands) == 0 {
		return store.ArmScores{}, false
	}
	a := store.ArmScores{Ranker: resp.Ranker, Top: recommend.GreedyFirst(cands, sc), Score: make([]float32, len(cands)),
		Fallback: resp.FallbackReason != ""}
	for i, v := range sc {
		a.Score[i] = store.Float32(v)
	}
	return a, true
}

// rankRequest asks for model id's greedy ranking of every candidate of
// d, with the relevance blend d was served with. The category cap is left
// out: it changes which candidates a list holds, not their scores, and
// every candidate is to be scored.
func rankRequest(d store.Decision, id uuid.UUID) recommend.Request {
	return recommend.Request{User: d.User, Candidates: d.Candidates, K: min(len(d.Candidates), recommend.MaxK), IncludeConsumed: true,
		RelevanceWeight: d.Relevance, ModelID: id}
}

// armScores returns resp's ranking of cands.
func armScores(resp recommend.Response, cands []string) store.ArmScores {
	pos := make(map[string]int, len(cands))
	for i, c := range cands {
		pos[c] = i
	}
	a := store.ArmScores{Ranker: resp.Ranker, Top: -1, Score: make([]float32, len(cands)), Fallback: resp.FallbackReason != ""}
	seen := make([]bool, len(cands))
	for k, it := range resp.Items {
		i, ok := pos[it.Item]
		if !ok {
			continue
		}
		if k == 0 {
			a.Top = i
		}
		a.Score[i], seen[i] = store.Float32(it.Score), true
	}
	for i, ok := range seen {
		if !ok {
			a.Missing = append(a.Missing, i)
		}
	}
	return a
}
