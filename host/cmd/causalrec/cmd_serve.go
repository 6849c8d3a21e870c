package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/causalrec/causalrec/host/api"
	"github.com/causalrec/causalrec/host/causalrec"
	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/progress"
	"github.com/causalrec/causalrec/host/recommend"
)

// hostFlags are the flags shared by the commands that use the store and
// the plugins; set flags override the config file.
type hostFlags struct {
	config, redis, prefix *string
}

// addHostFlags adds the flags; without says what the command does when
// neither --redis nor REDIS_URL names a Redis.
func addHostFlags(fs *flag.FlagSet, without string) hostFlags {
	return hostFlags{
		config: fs.String("config", "", "JSON config file (see docs/config.md)"),
		redis:  fs.String("redis", "", "Redis URL (redis://, rediss://, redis+sentinel://, redis+cluster://); default $REDIS_URL, else "+without),
		prefix: fs.String("prefix", "", "prefix of every Redis key (default causalrec:)"),
	}
}

func (h hostFlags) load() (config.Config, error) {
	cfg, err := config.Load(*h.config)
	if err != nil {
		return cfg, err
	}
	if *h.redis != "" {
		cfg.RedisURL = *h.redis
	}
	if *h.prefix != "" {
		cfg.Prefix = *h.prefix
	}
	return cfg, cfg.Validate()
}

func runServe(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "serve", "[flags]",
		"Serves the HTTP JSON API (and gRPC) over Redis with the plugins running.\n"+
			"It needs a Redis (--redis, REDIS_URL or redis_url) unless --embedded asks for an in-memory one that\n"+
			"does not persist, and an API token (--token, CAUSALREC_API_TOKEN or api_token) to listen on an\n"+
			"address other than loopback unless --insecure-no-auth.")
	hf := addHostFlags(fs, "refused unless --embedded")
	embedded := fs.Bool("embedded", false, "serve from an embedded in-memory Redis whose data is lost when serve stops (to try it out); excludes --redis")
	insecure := fs.Bool("insecure-no-auth", false, "listen on a non-loopback address without an API token: anyone who reaches the port may read, ingest, train and roll back (logged as a warning)")
	httpAddr := fs.String("http", "", "HTTP listen address (default 127.0.0.1:8080)")
	grpcAddr := fs.String("grpc", "", "gRPC listen address (default 127.0.0.1:9090; \"off\" disables it)")
	token := fs.String("token", "", "API token required as Authorization: Bearer <token> (default $CAUSALREC_API_TOKEN)")
	retrain := fs.Duration("retrain-every", 0, "retrain the serving model on this schedule, e.g. 1h (default from the config: off)")
	lease := fs.Duration("train-lease", 0, "how long a training's leases last without renewal: with several serve processes on one store one trains at a time, and another takes over this long after the trainer dies (default from the config, 30s)")
	pprofAddr := fs.String("pprof", "", "serve Go's runtime profiles (net/http/pprof) on this address, e.g. 127.0.0.1:6060 (default off; never expose it publicly)")
	gogc := fs.Int("gogc", defaultServeGOGC, "garbage-collector target of the serve process, as Go's GOGC (a set GOGC environment variable wins); higher trades memory for less GC CPU")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		if *gogc <= 0 {
			return fmt.Errorf("%w: --gogc must be positive", errUsage)
		}
		debug.SetGCPercent(*gogc)
	}
	cfg, err := hf.load()
	if err != nil {
		return err
	}
	if *httpAddr != "" {
		cfg.HTTPAddr = *httpAddr
	}
	switch *grpcAddr {
	case "":
	case "off":
		cfg.GRPCAddr = ""
	default:
		cfg.GRPCAddr = *grpcAddr
	}
	if *token != "" {
		cfg.APIToken = *token
	}
	if *retrain > 0 {
		cfg.RetrainEvery = config.Duration(*retrain)
	}
	if *lease > 0 {
		cfg.TrainLease = config.Duration(*lease)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := safeServe(&cfg, *embedded, *hf.redis != "", *insecure, s.logger); err != nil {
		return err
	}
	if *pprofAddr != "" {
		_, stop, err := servePprof(*pprofAddr, s.logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	return serve(ctx, cfg, s.logger, nil)
}

// safeServe refuses the unsafe settings serve does not take without being
// told: the embedded store without --embedded (data that does not
// persist), and a non-loopback listen address without an API token
// without --insecure-no-auth, which it then logs as a warning.
func safeServe(cfg *config.Config, embedded, redisFlag, insecure bool, logger *slog.Logger) error {
	switch {
	case embedded && redisFlag:
		return usageErr("--embedded and --redis exclude each other")
	case embedded:
		cfg.RedisURL = "" // over REDIS_URL and redis_url: the flag asks for it
	case cfg.RedisURL == "":
		return usageErr("serve needs a Redis to keep its data: give --redis URL, or set REDIS_URL or redis_url in the config; " +
			"--embedded serves from an in-memory Redis that loses everything when serve stops")
	}
	if cfg.APIToken != "" {
		return nil
	}
	var exposed []string
	for _, a := range []string{cfg.HTTPAddr, cfg.GRPCAddr} {
		if a != "" && !loopback(a) {
			exposed = append(exposed, a)
		}
	}
	if len(exposed) == 0 {
		return nil
	}
	if !insecure {
		return usageErr("serve listens on %s, beyond this machine, without an API token: set one (--token, CAUSALREC_API_TOKEN or api_token), "+
			"listen on 127.0.0.1, or give --insecure-no-auth to serve everyone who reaches the port", strings.Join(exposed, " and "))
	}
	logger.Warn("SERVING WITHOUT AUTHENTICATION on a non-loopback address (--insecure-no-auth): anyone who reaches it may read, ingest, train and roll back models; set an API token",
		"addrs", strings.Join(exposed, ","))
	return nil
}

// loopback reports whether the listen address addr (host:port) is on the
// loopback interface only: localhost or a loopback IP. An empty host (all
// interfaces) and other names are not.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// servePprof serves the runtime profiles on addr until stop is called and
// returns the bound address.
func servePprof(addr string, logger *slog.Logger) (bound net.Addr, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("pprof listener stopped", "error", err)
		}
	}()
	logger.Info("serving runtime profiles", "addr", ln.Addr().String())
	return ln.Addr(), func() { _ = srv.Close() }, nil
}

// defaultServeGOGC is serve's garbage-collector target. Serving allocates
// per request but holds a small live heap, so collecting when the heap has
// grown by 4× rather than 2× (Go's default) cuts GC CPU at little memory
// cost (docs/performance.md).
const defaultServeGOGC = 400

// serve runs the API until ctx ends. ready, when set, is called with the
// bound HTTP and gRPC addresses (nil when gRPC is off) once the API listens.
func serve(ctx context.Context, cfg config.Config, logger *slog.Logger, ready func(httpAddr, grpcAddr net.Addr)) error {
	h, err := causalrec.Open(ctx, causalrec.Config{Config: cfg, Logger: logger, Launch: cliLauncher, OPE: serviceOPE(nil), Explain: serveExplainer})
	if err != nil {
		return err
	}
	defer h.Close()
	return h.Serve(ctx, ready)
}

func runTrain(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "train", "[flags]",
		"Builds the training table from the events in Redis (with the text features of the lm and\n"+
			"sentiment plugins, cached in Redis), fits the chosen ranker, stores the model and makes it\n"+
			"the serving model (the previous one is kept for rollback). See docs/recommend.md.")
	hf := addHostFlags(fs, "refused")
	ranker := fs.String("ranker", "", "what to train: "+strings.Join(recommend.Rankers, ", ")+" (default from the config, uplift)")
	estName := fs.String("estimator", "", "estimator of the uplift ranker, [plugin:]estimator[/base][:k=v...]; unqualified names are the built-in plugin's (default from the config, t)")
	text := fs.String("text-features", "", "text features: auto, on or off (default from the config, auto)")
	relevance := fs.Bool("text-relevance", false, "add the lm relevance of each item to the user's engaged items as a feature")
	period := fs.Duration("period", 0, "make training rows (user, item, period) over windows of this length, e.g. 168h (default from the config: one period)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := hf.load()
	if err != nil {
		return err
	}
	if *ranker != "" {
		cfg.Ranker = *ranker
	}
	if *text != "" {
		cfg.TextFeatures = *text
	}
	if *relevance {
		cfg.TextRelevance = true
	}
	if *period > 0 {
		cfg.TrainPeriod = config.Duration(*period)
	}
	if err := cfg.Validate(); err != nil {
		return usageErr("%v", err)
	}
	if cfg.RedisURL == "" {
		return usageErr("train needs a Redis that holds events: set --redis or REDIS_URL")
	}
	task := startTask(s, "train", 0, progress.Options{})
	defer task.Done()
	h, err := causalrec.Open(ctx, causalrec.Config{Config: cfg, Logger: s.logger, Launch: cliLauncher, LazyPlugins: true,
		TrainProgress: func(stage string, done, total int64) {
			task.Describe(stage)
			task.Report(done, total)
		}})
	if err != nil {
		return err
	}
	defer h.Close()
	res, err := h.Train(ctx, api.TrainRequest{Estimator: *estName})
	task.Done()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(s.out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}
