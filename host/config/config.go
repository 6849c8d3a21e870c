// Package config holds the host's configuration: one struct with defaults
// and validation, loaded once from a JSON file and the environment.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"time"

	"github.com/causalrec/causalrec/host/api"
	"github.com/causalrec/causalrec/host/experiment"
	"github.com/causalrec/causalrec/host/limits"
	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

// Config is the host's configuration. The JSON keys are the file format.
type Config struct {
	// RedisURL locates Redis (redis://, rediss://, redis+sentinel://,
	// redis+cluster://). Empty means an embedded in-process Redis whose
	// data is lost when the process ends.
	RedisURL string `json:"redis_url"`
	// Prefix is put before every Redis key.
	Prefix string `json:"prefix"`
	// EventShards is the number of shards of the event keys in Redis
	// (1 to 1024). It is fixed when a store is created and recorded in
	// Redis; a serve with another number is refused at start.
	EventShards int `json:"event_shards"`
	// HTTPAddr and GRPCAddr are the API's listen addresses; an empty
	// GRPCAddr turns the gRPC API off.
	HTTPAddr string `json:"http_addr"`
	GRPCAddr string `json:"grpc_addr"`
	// APIToken, when set, is required as "Authorization: Bearer <token>"
	// on every API request but /v1/health, /v1/ready and /metrics.
	APIToken string `json:"api_token"`
	// MaxBodyBytes bounds API request bodies.
	MaxBodyBytes int64 `json:"max_body_bytes"`
	// Estimator and EstimatorPlugin choose the uplift estimator that
	// serving models are trained with; EstimatorParams are its parameters.
	Estimator       string            `json:"estimator"`
	EstimatorPlugin string            `json:"estimator_plugin"`
	EstimatorParams map[string]string `json:"estimator_params,omitempty"`
	// Ranker is what `train` and POST /v1/train fit by default: "uplift"
	// (the estimator above), "dlce", "outcome", "outcome-ips" or
	// "popularity".
	Ranker string `json:"ranker"`
	// TextFeatures is "auto" (use each of TextScorers when items have
	// text and the plugin answers; else train without it and say so),
	// "on" (training fails when a scorer cannot score) or "off".
	TextFeatures string `json:"text_features"`
	// TextScorers are the text-scorer plugins whose per-item features
	// (cached in Redis) the models use.
	TextScorers []string `json:"text_scorers"`
	// TextRelevance adds the lm relevance of each item to the user's
	// engaged items as a feature (a plugin call per user at training and
	// per request at serving).
	TextRelevance bool `json:"text_relevance"`
	// Plugins declares external plugins; one named like a built-in
	// replaces it.
	Plugins []pluginhost.Spec `json:"plugins,omitempty"`
	// PluginDevMode lets external plugins go without a sha256: the host
	// hashes each executable when it starts it and logs a warning with
	// the checksum (pluginhost.Options.DevMode). For a developer's
	// machine; refused together with an API token.
	PluginDevMode bool `json:"plugin_dev_mode,omitempty"`
	// PluginStartTimeout and PluginPingInterval tune the plugin host.
	PluginStartTimeout Duration `json:"plugin_start_timeout"`
	PluginPingInterval Duration `json:"plugin_ping_interval"`
	// PluginTimeouts are the deadlines of the calls to the plugins, by
	// kind; PluginEjectAfter is how many in a row (or missed pings) eject
	// a plugin: it is marked down, killed and restarted.
	PluginTimeouts   PluginTimeouts `json:"plugin_timeouts"`
	PluginEjectAfter int            `json:"plugin_eject_after"`
	// RequestTimeout bounds one API request.
	RequestTimeout Duration `json:"request_timeout"`
	// TrainPeriod, when set, makes training rows (user, item, period)
	// triples over windows of this length.
	TrainPeriod Duration `json:"train_period"`
	// RetrainEvery, when set, makes serve retrain the serving model on
	// this schedule.
	RetrainEvery Duration `json:"retrain_every"`
	// TrainLease is how long the leases of a training last in Redis
	// without renewal (the holder renews them every third of it): the
	// one-training-at-a-time lease of every training, and the lease on the
	// serving name a scheduled retraining takes, with which only its
	// holder moves the serving model. When the holder dies, another serve
	// process takes over once the lease expires.
	TrainLease Duration `json:"train_lease"`
	// CountsTTL is how long serve may reuse the popularity counts of an
	// item read for an earlier request instead of reading them again
	// (counts up to twice as old while one request reads them again;
	// events ingested through the same serve process show at once; 0
	// reads them for every request).
	CountsTTL Duration `json:"counts_ttl"`
	// ExperimentCandidatesPerSecond bounds how many experiment lists a
	// second, per serve process, are logged with their candidates and
	// every arm's ranking of them (what the report's off-policy
	// evaluation and calibration use); the other lists are logged without.
	ExperimentCandidatesPerSecond int `json:"experiment_candidates_per_second"`
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout bound
	// the HTTP server's reading of a request's headers, of a whole
	// request, the writing of an answer (from the end of the headers) and
	// idle keep-alive connections (also gRPC's).
	ReadHeaderTimeout Duration `json:"read_header_timeout"`
	ReadTimeout       Duration `json:"read_timeout"`
	WriteTimeout      Duration `json:"write_timeout"`
	IdleTimeout       Duration `json:"idle_timeout"`
	// MaxConcurrentRequests caps the API requests and RPCs in flight (over
	// it: 503 with Retry-After); MaxConnections the open connections of
	// each listener.
	MaxConcurrentRequests int `json:"max_concurrent_requests"`
	MaxConnections        int `json:"max_connections"`
	// RateLimit is the requests per second each client may make (0: no
	// limit; over it: 429 with Retry-After), RateBurst how many at once
	// (0: twice the rate), RateLimitBy what a client is: "address" (its
	// IP) or "token" (the bearer token it sends).
	RateLimit   float64 `json:"rate_limit"`
	RateBurst   int     `json:"rate_burst"`
	RateLimitBy string  `json:"rate_limit_by"`
	// IdempotencyWindow is how long an ingested event ID, and the
	// Idempotency-Key of an event batch, are remembered: a retry within it
	// stores nothing twice.
	IdempotencyWindow Duration `json:"idempotency_window"`
	// Limits are the schema and value limits of ingested records and
	// recommend requests (a 400 over HTTP, InvalidArgument over gRPC);
	// `causalrec check` reports stored data that breaks them.
	Limits Limits `json:"limits"`
}

// Limits are the schema and value limits (limits.Limits) as the config
// file writes them.
type Limits struct {
	MaxFeatures        int      `json:"max_features"`
	MaxCatalogFeatures int      `json:"max_catalog_features"`
	MaxIDBytes         int      `json:"max_id_bytes"`
	MaxNameBytes       int      `json:"max_name_bytes"`
	MaxAbsValue        float64  `json:"max_abs_value"`
	MaxEventAge        Duration `json:"max_event_age"`
	MaxEventAhead      Duration `json:"max_event_ahead"`
	MinOutcomeValue    float64  `json:"min_outcome_value"`
	MaxOutcomeValue    float64  `json:"max_outcome_value"`
	Arms               []string `json:"arms"`
	MinPropensity      float64  `json:"min_propensity"`
}

// Host returns the limits as the API takes them.
func (l Limits) Host() limits.Limits {
	return limits.Limits{MaxFeatures: l.MaxFeatures, MaxCatalogFeatures: l.MaxCatalogFeatures, MaxIDBytes: l.MaxIDBytes, MaxNameBytes: l.MaxNameBytes,
		MaxAbsValue: l.MaxAbsValue, MaxEventAge: time.Duration(l.MaxEventAge), MaxEventAhead: time.Duration(l.MaxEventAhead),
		MinOutcomeValue: l.MinOutcomeValue, MaxOutcomeValue: l.MaxOutcomeValue, Arms: slices.Clone(l.Arms), MinPropensity: l.MinPropensity}
}

func limitsConfig(l limits.Limits) Limits {
	return Limits{MaxFeatures: l.MaxFeatures, MaxCatalogFeatures: l.MaxCatalogFeatures, MaxIDBytes: l.MaxIDBytes, MaxNameBytes: l.MaxNameBytes,
		MaxAbsValue: l.MaxAbsValue, MaxEventAge: Duration(l.MaxEventAge), MaxEventAhead: Duration(l.MaxEventAhead),
		MinOutcomeValue: l.MinOutcomeValue, MaxOutcomeValue: l.MaxOutcomeValue, Arms: slices.Clone(l.Arms), MinPropensity: l.MinPropensity}
}

// PluginTimeouts are the deadlines of plugin calls (pluginhost.Timeouts).
type PluginTimeouts struct {
	Info    Duration `json:"info"`
	Predict Duration `json:"predict"`
	Load    Duration `json:"load"`
	Score   Duration `json:"score"`
	Fit     Duration `json:"fit"`
	Ping    Duration `json:"ping"`
}

// Host returns the timeouts as the plugin host takes them.
func (t PluginTimeouts) Host() pluginhost.Timeouts {
	return pluginhost.Timeouts{Info: time.Duration(t.Info), Predict: time.Duration(t.Predict), Load: time.Duration(t.Load), Score: time.Duration(t.Score),
		Fit: time.Duration(t.Fit), Ping: time.Duration(t.Ping)}
}

// Duration is a time.Duration written as a string such as "1.5s" in JSON.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"2s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// DefaultTrainLease is the default of TrainLease: how long a crashed
// trainer blocks training at most.
const DefaultTrainLease = 30 * time.Second

// Default returns the configuration used when nothing is set: the
// defaults of the packages the settings go to (store, api, pluginhost,
// recommend), and serve's own listen addresses and counts TTL.
func Default() Config {
	plugins := pluginhost.DefaultOptions()
	server := api.DefaultServerOptions()
	return Config{
		Prefix:             store.DefaultOptions().Prefix,
		EventShards:        store.DefaultEventShards,
		HTTPAddr:           "127.0.0.1:8080",
		GRPCAddr:           "127.0.0.1:9090",
		MaxBodyBytes:       api.DefaultMaxBodyBytes,
		Estimator:          recommend.DefaultEstimator,
		EstimatorPlugin:    recommend.DefaultEstimatorPlugin,
		Ranker:             recommend.RankUplift,
		TextFeatures:       recommend.TextAuto,
		TextScorers:        slices.Clone(recommend.DefaultTextScorers),
		PluginStartTimeout: Duration(plugins.StartTimeout),
		PluginPingInterval: Duration(plugins.PingInterval),
		PluginTimeouts: PluginTimeouts{Info: Duration(plugins.Timeouts.Info), Predict: Duration(plugins.Timeouts.Predict), Load: Duration(plugins.Timeouts.Load),
			Score: Duration(plugins.Timeouts.Score), Fit: Duration(plugins.Timeouts.Fit), Ping: Duration(plugins.Timeouts.Ping)},
		PluginEjectAfter:              plugins.EjectAfter,
		CountsTTL:                     Duration(time.Second),
		ExperimentCandidatesPerSecond: experiment.DefaultCandidatesPerSecond,
		TrainLease:                    Duration(DefaultTrainLease),
		RequestTimeout:                Duration(api.DefaultRequestTimeout),
		IdempotencyWindow:             Duration(store.DefaultDedupTTL),
		ReadHeaderTimeout:             Duration(server.ReadHeaderTimeout),
		ReadTimeout:                   Duration(server.ReadTimeout),
		WriteTimeout:                  Duration(server.WriteTimeout),
		IdleTimeout:                   Duration(server.IdleTimeout),
		MaxConcurrentRequests:         server.MaxConcurrent,
		MaxConnections:                server.MaxConnections,
		RateLimitBy:                   server.RateLimitBy,
		Limits:                        limitsConfig(limits.Default()),
	}
}

// ServerOptions returns the API server's hardening.
func (c Config) ServerOptions() api.ServerOptions {
	return api.ServerOptions{
		ReadHeaderTimeout: time.Duration(c.ReadHeaderTimeout), ReadTimeout: time.Duration(c.ReadTimeout),
		WriteTimeout: time.Duration(c.WriteTimeout), IdleTimeout: time.Duration(c.IdleTimeout),
		MaxConcurrent: c.MaxConcurrentRequests, MaxConnections: c.MaxConnections,
		RateLimit: c.RateLimit, RateBurst: c.RateBurst, RateLimitBy: c.RateLimitBy,
	}
}

// Load reads the JSON file at path (none when path is empty) over the
// defaults, then applies the environment (REDIS_URL, CAUSALREC_API_TOKEN)
// where the file left a value empty, and validates the result.
func Load(path string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if c.RedisURL == "" {
		c.RedisURL = os.Getenv("REDIS_URL")
	}
	if c.APIToken == "" {
		c.APIToken = os.Getenv("CAUSALREC_API_TOKEN")
	}
	if err := c.Validate(); err != nil {
		if path != "" {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Prefix == "" {
		errs = append(errs, errors.New("prefix must not be empty"))
	}
	for _, a := range []struct{ name, addr string }{{"http_addr", c.HTTPAddr}, {"grpc_addr", c.GRPCAddr}} {
		if a.addr == "" && a.name == "grpc_addr" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", a.name, a.addr, err))
		}
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_body_bytes must be positive, got %d", c.MaxBodyBytes))
	}
	if c.Estimator == "" || c.EstimatorPlugin == "" {
		errs = append(errs, errors.New("estimator and estimator_plugin must be set"))
	}
	if !slices.Contains(recommend.Rankers, c.Ranker) {
		errs = append(errs, fmt.Errorf("ranker %q: want uplift, dlce, outcome, outcome-ips or popularity", c.Ranker))
	}
	switch c.TextFeatures {
	case recommend.TextAuto, recommend.TextOn, recommend.TextOff:
	default:
		errs = append(errs, fmt.Errorf("text_features %q: want auto, on or off", c.TextFeatures))
	}
	for _, n := range c.TextScorers {
		if n == "" {
			errs = append(errs, errors.New("text_scorers holds an empty name"))
		}
	}
	if c.PluginDevMode && c.APIToken != "" {
		errs = append(errs, errors.New("plugin_dev_mode runs plugins without checksums and is for a developer's machine: it cannot be used with an API token (api_token or CAUSALREC_API_TOKEN)"))
	}
	names := map[string]bool{}
	for _, p := range c.Plugins {
		check := p.Validate
		if c.PluginDevMode {
			check = p.ValidateDevMode
		}
		if err := check(); err != nil {
			errs = append(errs, err)
		}
		if names[p.Name] {
			errs = append(errs, fmt.Errorf("plugin %q declared twice", p.Name))
		}
		names[p.Name] = true
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"plugin_start_timeout", c.PluginStartTimeout}, {"plugin_ping_interval", c.PluginPingInterval}, {"request_timeout", c.RequestTimeout},
		{"idempotency_window", c.IdempotencyWindow}, {"read_header_timeout", c.ReadHeaderTimeout}, {"read_timeout", c.ReadTimeout},
		{"write_timeout", c.WriteTimeout}, {"idle_timeout", c.IdleTimeout}, {"plugin_timeouts.info", c.PluginTimeouts.Info}, {"plugin_timeouts.predict", c.PluginTimeouts.Predict}, {"plugin_timeouts.load", c.PluginTimeouts.Load},
		{"plugin_timeouts.score", c.PluginTimeouts.Score}, {"plugin_timeouts.fit", c.PluginTimeouts.Fit}, {"plugin_timeouts.ping", c.PluginTimeouts.Ping}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", d.name))
		}
	}
	if c.PluginTimeouts.Predict > 0 && c.RequestTimeout > 0 && c.PluginTimeouts.Predict > c.RequestTimeout/2 {
		errs = append(errs, fmt.Errorf("plugin_timeouts.predict %v must be at most half of request_timeout %v, to leave a request time to fall back",
			time.Duration(c.PluginTimeouts.Predict), time.Duration(c.RequestTimeout)))
	}
	if c.WriteTimeout > 0 && c.WriteTimeout <= c.RequestTimeout {
		errs = append(errs, fmt.Errorf("write_timeout %v must exceed request_timeout %v, or answers are cut off",
			time.Duration(c.WriteTimeout), time.Duration(c.RequestTimeout)))
	}
	if c.MaxConcurrentRequests < 1 || c.MaxConnections < 1 {
		errs = append(errs, fmt.Errorf("max_concurrent_requests and max_connections must be at least 1, got %d and %d", c.MaxConcurrentRequests, c.MaxConnections))
	}
	if c.RateLimit < 0 || c.RateBurst < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) {
		errs = append(errs, fmt.Errorf("rate_limit %v and rate_burst %d must be finite and not negative", c.RateLimit, c.RateBurst))
	}
	if c.RateLimitBy != api.RateByAddress && c.RateLimitBy != api.RateByToken {
		errs = append(errs, fmt.Errorf("rate_limit_by %q: want %q or %q", c.RateLimitBy, api.RateByAddress, api.RateByToken))
	}
	if c.EventShards < 1 || c.EventShards > store.MaxEventShards {
		errs = append(errs, fmt.Errorf("event_shards %d: want 1 to %d", c.EventShards, store.MaxEventShards))
	}
	if c.PluginEjectAfter < 1 {
		errs = append(errs, fmt.Errorf("plugin_eject_after must be at least 1, got %d", c.PluginEjectAfter))
	}
	if err := c.Limits.Host().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("limits: %w", err))
	}
	if c.TrainPeriod < 0 || c.RetrainEvery < 0 || c.CountsTTL < 0 {
		errs = append(errs, errors.New("train_period, retrain_every and counts_ttl must not be negative"))
	}
	if c.ExperimentCandidatesPerSecond < 1 {
		errs = append(errs, fmt.Errorf("experiment_candidates_per_second must be at least 1, got %d", c.ExperimentCandidatesPerSecond))
	}
	if c.TrainLease < Duration(10*time.Millisecond) {
		errs = append(errs, fmt.Errorf("train_lease %v must be at least 10ms", time.Duration(c.TrainLease)))
	}
	return errors.Join(errs...)
}
