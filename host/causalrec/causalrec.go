// Package causalrec runs causalrec inside a Go program: Open starts the
// Redis store, the plugin host (with the built-in plugins and those of the
// configuration) and the ranker in-process, and the Host it returns
// ingests, trains and recommends with the types and the rules of the HTTP
// and gRPC API (package api), without a network hop. `causalrec serve` is
// Open followed by Serve.
//
// The plugins still run as processes of their own. The built-in ones are
// processes of the program's own executable: call ServePlugin first in
// main (and in TestMain of tests that Open a Host), so that such a process
// serves its plugin instead of running the program.
//
//	func main() {
//		if causalrec.ServePlugin() {
//			return
//		}
//		cfg := config.Default()
//		cfg.RedisURL = "redis://127.0.0.1:6379"
//		h, err := causalrec.Open(ctx, causalrec.Config{Config: cfg})
//		...
//		defer h.Close()
//		h.Ingest(ctx, causalrec.Batch{Items: items, Users: users, Events: events})
//		h.Train(ctx, api.TrainRequest{})
//		resp, err := h.Recommend(ctx, recommend.Request{User: "u1", K: 10})
//	}
package causalrec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/causalrec/causalrec/host/api"
	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/experiment"
	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/plugins"
	"github.com/causalrec/causalrec/plugins/builtin"
)

// Config configures Open.
type Config struct {
	// Config is the host's configuration, as `causalrec serve` reads it
	// (start from config.Default()). An empty RedisURL starts an embedded
	// in-memory Redis whose data is lost at Close. HTTPAddr, GRPCAddr,
	// APIToken and RetrainEvery matter only to Serve.
	config.Config
	// Logger receives the host's log and the plugins' (nil discards).
	Logger *slog.Logger
	// TrainProgress, when set, is told the stages of every training and
	// their counts (recommend.TrainOptions.Progress), e.g. for a progress
	// bar.
	TrainProgress recommend.Progress
	// Launch says how a built-in plugin is started; nil runs this
	// program's own executable with EnvBuiltinPlugin set to the plugin's
	// name, which ServePlugin answers.
	Launch Launcher
	// Analyzer computes the statistics of experiment reports (GET
	// /v1/experiments/{id}/report); nil answers reports with 501. The
	// causalrec command gives one over causal/abtest and causal/ope.
	Analyzer experiment.Analyzer
	// Explain, when set, makes the explainer of GET
	// /v1/models/{id}/explain from the host's store and plugin host; the
	// explanations are cached in the store. `causalrec serve` sets it
	// (the numeric work lives with the commands); without it the route
	// answers 501.
	Explain func(st *store.Store, plugins *pluginhost.Manager) api.Explainer
	// OPE, when set, estimates policy values for POST /v1/ope and
	// Host.OPE from the replayed log; the host's packages hold no
	// estimator, so `causalrec serve` passes the one built on causal/ope.
	// Nil answers POST /v1/ope with 501.
	OPE api.OPEFunc
	// LazyPlugins starts each plugin when an operation first needs it
	// rather than all of them at Open, for short-lived programs that use
	// only some (`causalrec train`).
	LazyPlugins bool
}

// Launcher returns the executable, its arguments and extra environment
// (KEY=VALUE) that serve the built-in plugin name.
type Launcher func(name string) (path string, args, env []string, err error)

// EnvBuiltinPlugin names the environment variable that tells a process
// started by the default Launcher which built-in plugin to serve.
const EnvBuiltinPlugin = "CAUSALREC_BUILTIN_PLUGIN"

// ServePlugin serves a built-in plugin and reports true when this process
// was started as one by a Host (EnvBuiltinPlugin is set); the caller must
// then return without doing anything else. It reports false in every other
// process.
func ServePlugin() bool {
	name := os.Getenv(EnvBuiltinPlugin)
	if name == "" {
		return false
	}
	if err := builtin.Serve(name); err != nil {
		// The host sees the plugin fail to start and logs why.
		fmt.Fprintln(os.Stderr, err)
	}
	return true
}

// selfLauncher is the default Launcher: this executable with
// EnvBuiltinPlugin set.
func selfLauncher(name string) (string, []string, []string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, nil, fmt.Errorf("find this program's executable for the built-in plugins: %w", err)
	}
	return exe, nil, []string{EnvBuiltinPlugin + "=" + name}, nil
}

// NewPluginHost returns a plugin host (not started) for the built-in
// plugins, started as cfg.Launch says, and the external plugins of
// cfg.Plugins, which replace built-ins of the same name.
func NewPluginHost(cfg Config) (*pluginhost.Manager, error) {
	launch := cfg.Launch
	if launch == nil {
		launch = selfLauncher
	}
	var specs []pluginhost.Spec
	all := builtin.Plugins()
	for _, name := range builtin.Names() {
		path, args, env, err := launch(name)
		if err != nil {
			return nil, err
		}
		specs = append(specs, pluginhost.Spec{Name: name, Kind: all[name].Kind, Path: path, Args: args, Env: env, Builtin: true})
	}
	return pluginhost.New(append(specs, cfg.Plugins...), pluginhost.Options{
		Logger:       cfg.Logger,
		StartTimeout: time.Duration(cfg.PluginStartTimeout),
		PingInterval: time.Duration(cfg.PluginPingInterval),
		DevMode:      cfg.PluginDevMode,
		Timeouts:     cfg.PluginTimeouts.Host(),
		EjectAfter:   cfg.PluginEjectAfter,
	})
}

// Host is causalrec running in-process: the store, the plugin host and the
// ranker, with the API's operations over them. It is safe for concurrent
// use.
type Host struct {
	cfg        Config
	store      *store.Store
	closeRedis func()
	plugins    *pluginhost.Manager
	api        *api.Server

	stop      context.CancelFunc
	watching  chan struct{}
	closeOnce sync.Once
}

// Open connects to Redis (or starts the embedded one) and checks that it
// answers, starts the plugin host (every plugin, unless LazyPlugins; a
// plugin that does not start is logged and retried) and returns the Host.
// ctx bounds the opening only; Close stops what Open started.
func Open(ctx context.Context, cfg Config) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	st, closeRedis, err := openStore(ctx, cfg.Config, cfg.Logger)
	if err != nil {
		return nil, err
	}
	m, err := NewPluginHost(cfg)
	if err != nil {
		closeRedis()
		return nil, err
	}
	if !cfg.LazyPlugins {
		if err := m.Start(ctx); err != nil {
			cfg.Logger.Error("some plugins did not start; they will be retried", "error", err)
		}
	}
	watch, stop := context.WithCancel(context.Background())
	h := &Host{cfg: cfg, store: st, closeRedis: closeRedis, plugins: m, stop: stop, watching: make(chan struct{})}
	ranker := recommend.NewRanker(st, m, cfg.Logger)
	exps := experiment.NewService(st, experiment.Options{Logger: cfg.Logger, Reports: st,
		Analyzer: cfg.Analyzer, Ranker: ranker, LogBuffer: experimentLogBuffer,
		CandidatesPerSecond: cfg.ExperimentCandidatesPerSecond})
	go func() {
		defer close(h.watching)
		logged := make(chan struct{})
		go func() {
			defer close(logged)
			_ = exps.Run(watch)
		}()
		_ = m.Run(watch)
		<-logged
	}()
	var explain api.Explainer
	if cfg.Explain != nil {
		explain = cfg.Explain(st, m)
	}
	h.api = api.New(api.Deps{
		Explain: explain, ExplainCache: st,
		Ingest: st, Models: st, Health: st, Plugins: m, Logger: cfg.Logger, Token: cfg.APIToken,
		Recommender:    ranker,
		Train:          h.train,
		Experiments:    exps,
		Replayer:       ranker,
		OPE:            cfg.OPE,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		RequestTimeout: time.Duration(cfg.RequestTimeout),
		Server:         cfg.ServerOptions(),
		Required:       requiredPlugins(cfg.Config),
		Limits:         cfg.Limits.Host(),
		Features:       st,
		Jobs:           st,
		TrainLease:     time.Duration(cfg.TrainLease),
	})
	return h, nil
}

// experimentLogBuffer is how many experiment lists may wait to be logged.
const experimentLogBuffer = 8192

// requiredPlugins are the plugins without which the service is not ready:
// the estimator plugin (unless the configured ranker is popularity) and,
// with text features on, the text scorers.
func requiredPlugins(cfg config.Config) []string {
	var out []string
	if cfg.Ranker != recommend.RankPopularity {
		out = append(out, cfg.EstimatorPlugin)
	}
	if cfg.TextFeatures == recommend.TextOn {
		out = append(out, cfg.TextScorers...)
	}
	return out
}

// openStore connects to the configured Redis, or starts the embedded one,
// and checks that it answers.
func openStore(ctx context.Context, cfg config.Config, logger *slog.Logger) (*store.Store, func(), error) {
	var (
		rdb   redis.UniversalClient
		close func()
		err   error
	)
	if cfg.RedisURL == "" {
		rdb, close, err = store.StartEmbedded(logger)
	} else {
		rdb, err = store.Connect(ctx, cfg.RedisURL)
		close = func() { _ = rdb.Close() }
	}
	if err != nil {
		return nil, nil, err
	}
	opts := store.DefaultOptions()
	opts.Prefix = cfg.Prefix
	opts.CountsTTL = time.Duration(cfg.CountsTTL)
	opts.DedupTTL = time.Duration(cfg.IdempotencyWindow)
	opts.EventShards = cfg.EventShards
	st, err := store.New(rdb, opts)
	if err != nil {
		close()
		return nil, nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := st.Ping(pctx); err != nil {
		close()
		return nil, nil, err
	}
	if err := st.CheckLayout(pctx); err != nil {
		close()
		return nil, nil, err
	}
	return st, close, nil
}

// Batch is what Ingest stores: items, users and events, each list
// optional.
type Batch struct {
	Items  []store.Item
	Users  []store.User
	Events []store.Event
	// IdempotencyKey, when set, names the events of the batch as the
	// Idempotency-Key header of POST /v1/events does: sending the batch
	// again with the same key stores each event once.
	IdempotencyKey string
}

// IngestResult counts what Ingest stored, per kind, as the API's ingest
// calls answer.
type IngestResult struct {
	Items, Users, Events api.IngestResult
}

// Ingest validates and stores the batch's items, then users, then events,
// as POST /v1/items, /v1/users and /v1/events do (an event without a time
// gets the time of ingestion; an event whose ID was ingested before is a
// duplicate; b.IdempotencyKey names the events as a batch). An invalid
// record is an error wrapping recommend.ErrBadRequest, and nothing of its
// kind is written; an event ID reused with other content is an error
// wrapping store.ErrConflict; events cut midway are an *api.PartialError.
func (h *Host) Ingest(ctx context.Context, b Batch) (IngestResult, error) {
	var res IngestResult
	var err error
	if len(b.Items) > 0 {
		if res.Items, err = h.api.IngestItems(ctx, b.Items); err != nil {
			return res, err
		}
	}
	if len(b.Users) > 0 {
		if res.Users, err = h.api.IngestUsers(ctx, b.Users); err != nil {
			return res, err
		}
	}
	if len(b.Events) > 0 {
		if res.Events, err = h.api.IngestEvents(ctx, b.Events, b.IdempotencyKey); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Recommend ranks items for a user as POST /v1/recommend does.
func (h *Host) Recommend(ctx context.Context, req recommend.Request) (recommend.Response, error) {
	return h.api.Recommend(ctx, req)
}

// Train trains a serving model from the stored events as POST /v1/train
// does: empty fields of req take the configured ranker and estimator. Too
// little data is an error wrapping recommend.ErrNoData.
func (h *Host) Train(ctx context.Context, req api.TrainRequest) (recommend.TrainResult, error) {
	return h.api.Train(ctx, req)
}

// OPE estimates what a stored model would have earned on the logged
// exposures, as POST /v1/ope does (docs/ope.md); it needs Config.OPE.
// Bad input is an error wrapping recommend.ErrBadRequest.
func (h *Host) OPE(ctx context.Context, req api.OPERequest) (api.OPEResult, error) {
	return h.api.OPE(ctx, req)
}

// train is the API's Trainer: it fits the ranker through the configured
// estimator plugin.
func (h *Host) train(ctx context.Context, req api.TrainRequest) (recommend.TrainResult, error) {
	lease, _ := ctx.Value(servingLeaseKey{}).(*store.Lease)
	return h.trainLeased(ctx, req, lease)
}

// servingLeaseKey is the context key of the lease on the serving name a
// scheduled retraining holds while it trains through the API's Train (one
// training at a time), so that the pointer moves only with the lease.
type servingLeaseKey struct{}

// trainLeased is train that, with a lease, moves the serving pointer only
// while the lease is current (recommend.TrainOptions.Lease).
func (h *Host) trainLeased(ctx context.Context, req api.TrainRequest, lease *store.Lease) (recommend.TrainResult, error) {
	cfg := h.cfg
	opts := recommend.TrainOptions{
		Plugin: cfg.EstimatorPlugin, Estimator: cfg.Estimator, Params: cfg.EstimatorParams, Period: time.Duration(cfg.TrainPeriod),
		Ranker:   cfg.Ranker,
		Text:     recommend.TextOptions{Mode: cfg.TextFeatures, Scorers: cfg.TextScorers, Relevance: cfg.TextRelevance, Source: h.plugins},
		Progress: cfg.TrainProgress,
		Lease:    lease,
	}
	if req.Ranker != "" {
		opts.Ranker = req.Ranker
	}
	if req.Estimator != "" {
		// A named estimator is [plugin:]estimator[/base][:k=v...]; an
		// unqualified name is one of the built-in estimator plugin's, as
		// the offline commands read it.
		ref, err := plugins.ParseEstimatorRef(req.Estimator, recommend.DefaultEstimatorPlugin)
		if err != nil {
			return recommend.TrainResult{}, fmt.Errorf("%w: %v", recommend.ErrBadRequest, err)
		}
		opts.Plugin, opts.Estimator, opts.Params = ref.Plugin, ref.Estimator, ref.Params
	}
	var est plugins.Estimator
	if opts.Ranker != recommend.RankPopularity {
		var err error
		if est, err = h.plugins.Estimator(opts.Plugin); err != nil {
			if errors.Is(err, pluginhost.ErrUnknownPlugin) {
				return recommend.TrainResult{}, fmt.Errorf("%w: estimator plugin %q is not configured", recommend.ErrBadRequest, opts.Plugin)
			}
			return recommend.TrainResult{}, err
		}
	}
	if cfg.LazyPlugins {
		if err := h.startFor(ctx, opts); err != nil {
			return recommend.TrainResult{}, err
		}
	}
	if req.Estimator != "" && (opts.Ranker == recommend.RankUplift || opts.Ranker == "") {
		if err := checkEstimator(ctx, est, opts.Plugin, opts.Estimator); err != nil {
			return recommend.TrainResult{}, err
		}
	}
	return recommend.Train(ctx, h.store, est, opts, h.cfg.Logger)
}

// checkEstimator refuses, as a bad request naming what the plugin fits, an
// estimator its plugin does not list.
func checkEstimator(ctx context.Context, est plugins.Estimator, plugin, name string) error {
	info, err := est.Info(ctx, plugins.InfoRequest{})
	if err != nil {
		return fmt.Errorf("estimator plugin %s: info: %w", plugin, err)
	}
	if !slices.Contains(info.Estimators, name) {
		return fmt.Errorf("%w: unknown estimator %q of plugin %s (it fits: %s)", recommend.ErrBadRequest, name, plugin, strings.Join(info.Estimators, ", "))
	}
	return nil
}

// startFor starts the plugins a training needs: the estimator plugin (an
// error when it does not start) and the text scorers (a scorer that does
// not start is reported by the training: skipped in auto mode, an error in
// on mode).
func (h *Host) startFor(ctx context.Context, opts recommend.TrainOptions) error {
	if opts.Ranker != recommend.RankPopularity {
		if err := h.plugins.StartOne(ctx, opts.Plugin); err != nil {
			return err
		}
	}
	if opts.Text.Mode == recommend.TextOff || opts.Ranker == recommend.RankPopularity {
		return nil
	}
	scorers := opts.Text.Scorers
	if scorers == nil {
		scorers = recommend.DefaultTextScorers
	}
	if opts.Text.Relevance && !slices.Contains(scorers, "lm") {
		scorers = append(slices.Clone(scorers), "lm")
	}
	for _, name := range scorers {
		if err := h.plugins.StartOne(ctx, name); err != nil {
			h.cfg.Logger.Warn("text scorer did not start", "plugin", name, "error", err)
		}
	}
	return nil
}

// Serve serves the HTTP API on the configured HTTPAddr and, unless
// GRPCAddr is empty, gRPC, until ctx ends, and retrains on RetrainEvery
// when it is set (see Retrain). ready, when not nil, receives the bound
// addresses (the gRPC one nil when gRPC is off) once both listen. It
// returns once the API and the retraining have stopped.
func (h *Host) Serve(ctx context.Context, ready func(httpAddr, grpcAddr net.Addr)) error {
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: the retraining stops before Close
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if every := time.Duration(h.cfg.RetrainEvery); every > 0 {
		wg.Go(func() { h.Retrain(ctx, every) })
	}
	err := h.api.Run(ctx, h.cfg.HTTPAddr, h.cfg.GRPCAddr, ready)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Retrain keeps the serving model no older than every until ctx ends,
// with any number of processes doing the same on one store: one period
// after the start, and then whenever the serving model is every old (or
// there is none), it takes the lease on the serving name
// (store.AcquireLease, for the configured TrainLease, renewed every
// third of it while it trains), trains, moves the serving pointer with the
// lease's fencing token (a write whose lease has expired and been taken
// again is refused) and releases the lease. A process that finds the
// lease held waits until it expires or is released and looks again, so
// exactly one trains at a time, and when the holder dies another takes
// over once its lease expires. A failed training is logged, the serving
// model stays, and the process tries again a period later.
func (h *Host) Retrain(ctx context.Context, every time.Duration) {
	ttl := time.Duration(h.cfg.TrainLease)
	if ttl <= 0 {
		ttl = config.DefaultTrainLease
	}
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(h.retrainOnce(ctx, every, ttl))
	}
}

// retrainOnce trains when the serving model is due and the lease is free,
// and returns how long to wait before looking again.
func (h *Host) retrainOnce(ctx context.Context, every, ttl time.Duration) time.Duration {
	log := h.cfg.Logger
	if age, err := h.servingAge(ctx); err != nil {
		log.Error("scheduled retraining: cannot read the serving model", "error", err)
		return every
	} else if age < every {
		return every - age
	}
	lease, err := h.store.AcquireLease(ctx, recommend.ModelName, ttl)
	var held *store.LeaseHeldError
	if errors.As(err, &held) {
		log.Info("scheduled retraining: another process holds the lease", "holder", held.Holder, "token", held.Token, "remaining", held.Remaining)
		return held.Remaining + 10*time.Millisecond
	}
	if err != nil {
		log.Error("scheduled retraining: cannot take the lease", "error", err)
		return every
	}
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := h.store.ReleaseLease(rctx, lease); err != nil {
			log.Warn("scheduled retraining: releasing the lease", "error", err)
		}
	}
	// Another process may have trained between the look and the lease.
	if age, err := h.servingAge(ctx); err == nil && age < every {
		log.Info("scheduled retraining: another process trained meanwhile; giving the lease back", "token", lease.Token)
		release()
		return every - age
	}
	log.Info("scheduled retraining: took the lease", "token", lease.Token, "holder", lease.Holder)
	tctx, cancel := context.WithCancel(ctx)
	renewing := make(chan struct{})
	go func() {
		defer close(renewing)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-tctx.Done():
				return
			case <-t.C:
			}
			if err := h.store.RenewLease(tctx, lease); errors.Is(err, store.ErrFenced) {
				log.Error("scheduled retraining: lost the lease; stopping the training", "token", lease.Token)
				cancel()
				return
			} else if err != nil && tctx.Err() == nil {
				log.Warn("scheduled retraining: renewing the lease", "error", err)
			}
		}
	}()
	// Through the API's Train, as a job, one training at a time.
	res, err := h.api.Train(context.WithValue(tctx, servingLeaseKey{}, &lease), api.TrainRequest{})
	cancel()
	<-renewing
	release()
	var running *api.TrainingRunningError
	if errors.As(err, &running) {
		log.Info("scheduled retraining: another training is running; looking again later", "job", running.Job)
		return ttl
	}
	if err != nil {
		if ctx.Err() == nil {
			log.Error("scheduled retraining failed; the serving model stays", "token", lease.Token, "error", err)
		}
		return every
	}
	log.Info("scheduled retraining done", "model", res.ModelID, "rows", res.Rows, "seconds", res.Seconds, "token", lease.Token)
	return every
}

// servingAge is the age of the serving model; with none it is longer
// than any period.
func (h *Host) servingAge(ctx context.Context) (time.Duration, error) {
	m, err := h.store.ServingModel(ctx, recommend.ModelName)
	if errors.Is(err, store.ErrNotFound) {
		return time.Duration(math.MaxInt64), nil
	}
	if err != nil {
		return 0, err
	}
	return time.Since(m.CreatedAt), nil
}

// Plugins returns the state of every plugin, as GET /v1/plugins.
func (h *Host) Plugins() []pluginhost.Status { return h.plugins.List() }

// Close stops the plugin processes and closes the connection to Redis
// (and the embedded Redis with its data). It waits for the plugin watcher
// to stop; calling it again does nothing.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		h.api.Close()
		h.stop()
		<-h.watching
		h.plugins.Close()
		h.store.Wait()
		h.closeRedis()
	})
	return nil
}
