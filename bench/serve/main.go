// Command serve is the load test of POST /v1/recommend: 200 candidates
// per request ranked by the uplift model with the text features of the lm
// and sentiment plugins (their scores cached in Redis), against a real
// Redis. It measures
//
//   - an open loop at a fixed offered rate (default 500 requests/s over
//     64 keep-alive connections; latency counted from each request's
//     scheduled start, so a stall is not hidden): p50, p99, and Redis
//     round trips per request as the response reports them, the requests
//     over 10 ms by second of the run, and the CPU time the hypervisor
//     took from the machine meanwhile (steal, from /proc/stat);
//   - a closed loop of N clients (default 16): saturation throughput and
//     p99;
//
// each for GET /v1/health (one Redis PING: the floor of the HTTP stack),
// POST /v1/recommend, POST /v1/recommend with relevance_weight (the
// user–item text relevance from the lm plugin, computed per request and
// so never cached), and POST /v1/recommend while an experiment splits every
// user between two arms (started for its row only; its open-loop p99 is set
// beside the plain recommend row's), in the same run.
//
// It starts "causalrec serve" itself against the Redis at REDIS_URL under a
// fresh key prefix (deleted at the end), loads a simulated catalogue (items
// with texts) and log, trains the serving model (which scores the item
// texts and fills the text-score cache) and warms up with each kind of
// request before its open-loop row. Requests go out on connections that
// one goroutine each drives (conn.go), so the generator's own scheduling
// adds as little as it can to the latencies:
//
//	make build && go run ./bench/serve -causalrec bin/causalrec
//
// With -baseline it measures a second binary in the same run, alternating
// the two, and compares them:
//
//	git -C ../main worktree add /tmp/main-src main   # or any checkout of main
//	(cd /tmp/main-src && go build -o /tmp/causalrec-main ./host/cmd/causalrec)
//	make build && go run ./bench/serve -causalrec bin/causalrec -baseline /tmp/causalrec-main -rounds 3
//
// -config and -baseline-config give each side's serve a config file, so
// one binary can be measured against itself with another setting:
//
//	go run ./bench/serve -causalrec bin/causalrec -config one-shard.json -baseline bin/causalrec -rounds 3
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/causalrec/causalrec/bench/internal/loadavg"
	"github.com/causalrec/causalrec/host/redistest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/serve:", err)
		os.Exit(1)
	}
}

type options struct {
	bin        string
	redisURL   string
	users      int
	items      int
	candidates int
	rate       float64
	duration   time.Duration
	clients    int
	conns      int
	gogc       int
	relevance  float64
	experiment bool
	warmup     time.Duration
	serverLog  string
	cpuProfile string
	memProfile string
	// config is serve's --config for -causalrec, baseConfig for
	// -baseline (empty: none).
	config, baseConfig string
}

func run() error {
	var o options
	flag.StringVar(&o.bin, "causalrec", "bin/causalrec", "the causalrec binary (make build)")
	flag.StringVar(&o.redisURL, "redis", os.Getenv("REDIS_URL"), "Redis URL (default $REDIS_URL, else redis://127.0.0.1:6379)")
	flag.IntVar(&o.users, "users", 2000, "simulated users")
	flag.IntVar(&o.items, "items", 500, "simulated items")
	flag.IntVar(&o.candidates, "candidates", 200, "candidates per request")
	flag.StringVar(&o.serverLog, "server-log", "", "write the server's log (stderr) to this file (default: discard it)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the server taken during the open-loop recommend run to this file (go tool pprof)")
	flag.StringVar(&o.memProfile, "memprofile", "", "write the server's allocations during the open-loop recommend run to this file (go tool pprof -sample_index=alloc_space)")
	flag.Float64Var(&o.rate, "rate", 500, "offered load of the open loop, requests per second")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measurement")
	flag.IntVar(&o.clients, "clients", 16, "clients of the closed loop")
	flag.IntVar(&o.gogc, "gogc", 0, "serve --gogc (0: serve's default)")
	flag.IntVar(&o.conns, "conns", 64, "connections of the open loop (request i goes out on connection i mod conns)")
	flag.Float64Var(&o.relevance, "relevance-weight", 0.5, "relevance_weight of the requests of the relevance rows (0 skips them)")
	flag.BoolVar(&o.experiment, "experiment", true, "measure the recommend row again while an experiment runs (false for a binary older than /v1/experiments)")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "closed-loop warm-up before measuring")
	baseline := flag.String("baseline", "", "a second causalrec binary (say, built from main into /tmp) measured in the same run, alternating with -causalrec; the run ends with a comparison")
	rounds := flag.Int("rounds", 1, "with -baseline: how many times each binary is measured (baseline first, then alternating)")
	flag.StringVar(&o.config, "config", "", "a config file for -causalrec's serve (--config; docs/config.md), e.g. to measure one setting against another with the same binary as -baseline")
	flag.StringVar(&o.baseConfig, "baseline-config", "", "a config file for -baseline's serve (--config)")
	flag.Parse()
	if o.redisURL == "" {
		o.redisURL = "redis://127.0.0.1:6379"
	}
	if *baseline == "" {
		_, err := measure(o, o.bin, o.config)
		return err
	}
	var base, cur []summary
	for r := range *rounds {
		for _, b := range []struct {
			bin, config string
			out         *[]summary
		}{{*baseline, o.baseConfig, &base}, {o.bin, o.config, &cur}} {
			label := b.bin
			if b.config != "" {
				label += " --config " + b.config
			}
			fmt.Printf("=== round %d of %d: %s\n", r+1, *rounds, label)
			s, err := measure(o, b.bin, b.config)
			if err != nil {
				return fmt.Errorf("%s: %w", b.bin, err)
			}
			*b.out = append(*b.out, s)
		}
	}
	compare(*baseline, o.bin, base, cur)
	return nil
}

// compare prints the POST /v1/recommend rows of both binaries, round by
// round, and the ratios of their medians.
func compare(baseBin, curBin string, base, cur []summary) {
	fmt.Printf("\nPOST /v1/recommend, %s (baseline) against %s, %d round(s), alternating:\n", baseBin, curBin, len(base))
	fmt.Println("| binary | round | open-loop p50 | open-loop p99 | steal | closed-loop throughput | closed-loop p99 |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	for i := range base {
		for _, row := range []struct {
			name string
			s    summary
		}{{"baseline", base[i]}, {"current", cur[i]}} {
			fmt.Printf("| %s | %d | %v | %v | %s | %.0f/s | %v |\n", row.name, i+1, row.s.open.p(0.5).Round(time.Microsecond),
				row.s.open.p(0.99).Round(time.Microsecond), row.s.open.steal, row.s.closed.rate(), row.s.closed.p(0.99).Round(time.Microsecond))
		}
	}
	med := func(ss []summary, f func(summary) float64) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	p99 := func(s summary) float64 { return s.open.p(0.99).Seconds() * 1000 }
	tput := func(s summary) float64 { return s.closed.rate() }
	fmt.Printf("median open-loop p99: baseline %.2f ms, current %.2f ms, current/baseline %.2f\n", med(base, p99), med(cur, p99), med(cur, p99)/med(base, p99))
	fmt.Printf("median closed-loop throughput: baseline %.0f/s, current %.0f/s, current/baseline %.2f\n", med(base, tput), med(cur, tput), med(cur, tput)/med(base, tput))
}

// summary holds the recommend measurements of one binary.
type summary struct{ open, closed result }

// measure starts bin serve under a fresh prefix, loads it and runs the
// measurements.
func measure(o options, bin, config string) (summary, error) {
	var sum summary
	prefix := fmt.Sprintf("causalrec-bench:%d:", time.Now().UnixNano())
	defer cleanup(o.redisURL, prefix)

	port, err := freePort()
	if err != nil {
		return sum, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	args := []string{"serve", "--redis", o.redisURL, "--prefix", prefix, "--http", fmt.Sprintf("127.0.0.1:%d", port), "--grpc", "off"}
	if o.gogc > 0 {
		args = append(args, "--gogc", strconv.Itoa(o.gogc))
	}
	if config != "" {
		args = append(args, "--config", config)
	}
	pprofBase := ""
	if o.cpuProfile != "" || o.memProfile != "" {
		pport, err := freePort()
		if err != nil {
			return sum, err
		}
		args = append(args, "--pprof", fmt.Sprintf("127.0.0.1:%d", pport))
		pprofBase = fmt.Sprintf("http://127.0.0.1:%d", pport)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = io.Discard
	if o.serverLog != "" {
		f, err := os.Create(o.serverLog)
		if err != nil {
			return sum, err
		}
		defer f.Close()
		cmd.Stderr = f
	}
	if err := cmd.Start(); err != nil {
		return sum, fmt.Errorf("start %s: %w (run make build first)", bin, err)
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	if err := waitHealthy(base, 30*time.Second); err != nil {
		return sum, err
	}
	items, trained, err := load(base, o)
	if err != nil {
		return sum, err
	}
	fmt.Printf("setup: %d users, %d items with texts, %d events; model %s: %d rows, %d features, text features %v%s\n",
		o.users, o.items, trained.Events, trained.Ranker, trained.Rows, len(trained.Features), trained.Text.Used, skipped(trained.Text.Skipped))
	fmt.Printf("requests: %d candidates, k 10; load generator and server share the machine's %d CPUs; load average %s\n\n", o.candidates, runtime.NumCPU(), loadavg.All())

	rng := rand.New(rand.NewPCG(7, 7))
	makeBodies := func(extra map[string]any) [][]byte {
		bodies := make([][]byte, 4096)
		for i := range bodies {
			c := make([]string, o.candidates)
			for k, j := range rng.Perm(len(items))[:o.candidates] {
				c[k] = items[j]
			}
			req := map[string]any{"user": fmt.Sprintf("u%d", rng.IntN(o.users)), "candidates": c, "k": 10}
			maps.Copy(req, extra)
			bodies[i], _ = json.Marshal(req)
		}
		return bodies
	}
	client := &http.Client{}
	addr := strings.TrimPrefix(base, "http://")
	cases := []target{{name: "GET /v1/health (floor)", method: "GET", url: "/v1/health"},
		{name: "POST /v1/recommend", method: "POST", url: "/v1/recommend", bodies: makeBodies(nil)}}
	if o.relevance > 0 {
		cases = append(cases, target{name: fmt.Sprintf("  + relevance_weight %g", o.relevance), method: "POST", url: "/v1/recommend",
			bodies: makeBodies(map[string]any{"relevance_weight": o.relevance})})
	}
	// The experiment row: the recommend requests while an experiment splits
	// every user between two arms (the serving model greedy, and with
	// epsilon-greedy exploration), each list routed, recorded and logged.
	// The experiment runs only while its row is measured.
	expN := 0
	startExperiment := func() error {
		expN++
		return post(base, "/v1/experiments", map[string]any{"id": fmt.Sprint("bench", expN), "arms": []map[string]any{
			{"name": "control", "model": "default", "weight": 0.5},
			{"name": "explore", "model": "default", "weight": 0.5, "policy": "epsilon-greedy", "epsilon": 0.1}}}, nil)
	}
	stopExperiment := func() error { return post(base, fmt.Sprintf("/v1/experiments/bench%d/stop", expN), nil, nil) }
	expRow := -1
	if o.experiment {
		cases = append(cases, target{name: "  + experiment running", method: "POST", url: "/v1/recommend", bodies: cases[1].bodies,
			start: startExperiment, stop: stopExperiment})
		expRow = len(cases) - 1
	}
	for i := range cases {
		cases[i].reqs = rawRequests(cases[i].method, addr, cases[i].url, cases[i].bodies)
	}
	// Check one response of each kind.
	for _, c := range cases[1:] {
		if err := c.begin(); err != nil {
			return sum, fmt.Errorf("%s: %w", c.name, err)
		}
		s, err := sample(client, base+c.url, c.bodies[0])
		if err == nil && c.start != nil && s.Experiment == nil {
			err = errors.New("the list names no experiment")
		}
		if err == nil {
			err = c.end()
		}
		if err != nil {
			return sum, fmt.Errorf("%s: %w", c.name, err)
		}
		fmt.Printf("%s: ranker %s, %d items, %d Redis round trips, warnings %q\n", c.name, s.Ranker, len(s.Items), s.RedisRoundTrips, s.Warnings)
	}

	fmt.Printf("\nopen loop at %.0f requests/s for %v over %d connections (latency from the scheduled start; each row after a %v closed-loop warm-up of its own):\n",
		o.rate, o.duration, o.conns, o.warmup)
	var open []result
	for _, c := range cases {
		if err := c.begin(); err != nil {
			return sum, fmt.Errorf("%s: %w", c.name, err)
		}
		// Warm up connections, the model cache, the plugins and the
		// decoded-entry caches with this kind of request only, so that a
		// heavier kind measured before does not load this row.
		closedLoop(addr, c.reqs, o.clients, o.warmup)
		before := serverLatency(client, base)
		var profs []chan error
		if pprofBase != "" && c.name == cases[1].name {
			for _, p := range []struct{ kind, path string }{{"profile", o.cpuProfile}, {"allocs", o.memProfile}} {
				if p.path != "" {
					ch := make(chan error, 1)
					go func() { ch <- fetchProfile(pprofBase, p.kind, o.duration, p.path) }()
					profs = append(profs, ch)
				}
			}
		}
		stopSampling := sampleSteal(time.Second)
		r := openLoop(addr, c.reqs, o.rate, o.duration, o.conns)
		var stealBySecond string
		r.steal, stealBySecond = stopSampling()
		inServer := serverLatency(client, base).sub(before)
		for _, ch := range profs {
			if err := <-ch; err != nil {
				return sum, fmt.Errorf("profile: %w", err)
			}
		}
		if err := c.end(); err != nil {
			return sum, fmt.Errorf("%s: %w", c.name, err)
		}
		open = append(open, r)
		fmt.Printf("  %-30s %s\n", c.name, r)
		fmt.Printf("  %-30s in the server (causalrec_http_request_duration_seconds): %s\n", "", inServer)
		fmt.Printf("  %-30s over 10ms: %s; CPU time the hypervisor took (steal): %s%s\n", "", r.lateBySecond(o.rate, 10*time.Millisecond), r.steal, stealBySecond)
	}
	if expRow >= 0 {
		fmt.Printf("  p99 ratio experiment/recommend: %.2f; target within 10%%: %s\n", open[expRow].p(0.99).Seconds()/open[1].p(0.99).Seconds(),
			met(open[expRow].p(0.99) <= open[1].p(0.99)*11/10 && open[expRow].errors == 0))
	}
	p99met := open[1].p(0.99) < 10*time.Millisecond && open[1].errors == 0
	fmt.Printf("  p99 ratio recommend/floor: %.2f; target p99 < 10ms: %s%s\n\n", open[1].p(0.99).Seconds()/open[0].p(0.99).Seconds(),
		met(p99met), open[1].steal.warning(p99met))

	fmt.Printf("closed loop, %d clients, %v:\n", o.clients, o.duration)
	var closed []result
	var costs []string
	for _, c := range cases {
		if err := c.begin(); err != nil {
			return sum, fmt.Errorf("%s: %w", c.name, err)
		}
		if c.start != nil {
			// A row that starts something (a new experiment, whose users'
			// first lists record their assignments) warms up again.
			closedLoop(addr, c.reqs, o.clients, o.warmup)
		}
		before := cpuTimes(cmd.Process.Pid)
		r := closedLoop(addr, c.reqs, o.clients, o.duration)
		after := cpuTimes(cmd.Process.Pid)
		if err := c.end(); err != nil {
			return sum, fmt.Errorf("%s: %w", c.name, err)
		}
		closed = append(closed, r)
		fmt.Printf("  %-30s %s\n", c.name, r)
		costs = append(costs, fmt.Sprintf("  %-30s %s", c.name, after.sub(before).perRequest(len(r.lat))))
	}
	fmt.Printf("  recommend throughput / 350 (Gorse's published 16-client rate on this machine class): %.2fx; target >= 3x (1050/s): %s\n",
		closed[1].rate()/350, met(closed[1].rate() >= 1050 && closed[1].errors == 0))
	fmt.Printf("\nCPU time per request in the closed loop (from /proc; redis-server is shared with any other client of it):\n%s\n",
		strings.Join(costs, "\n"))
	fmt.Printf("load average after the run: %s\n", loadavg.All())
	return summary{open: open[1], closed: closed[1]}, nil
}

// fetchProfile writes the server's profile of kind ("profile" for CPU,
// "allocs") over the next d to path.
func fetchProfile(base, kind string, d time.Duration, path string) error {
	resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/%s?seconds=%d", base, kind, int(d.Seconds())))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// latencyCounts are the server's cumulative request-duration histogram
// counts of all routes, by upper bound in seconds.
type latencyCounts map[string]float64

// serverLatency reads the request-duration histogram from /metrics; nil
// when it cannot be read.
func serverLatency(client *http.Client, base string) latencyCounts {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil
	}
	out := latencyCounts{}
	const name = "causalrec_http_request_duration_seconds_bucket{"
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		_, after, ok := strings.Cut(line, `le="`)
		if !ok {
			continue
		}
		le, rest, ok := strings.Cut(after, `"}`)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err == nil {
			out[le] += v
		}
	}
	return out
}

func (a latencyCounts) sub(b latencyCounts) latencyCounts {
	if a == nil || b == nil {
		return nil
	}
	out := latencyCounts{}
	for k, v := range a {
		out[k] = v - b[k]
	}
	return out
}

// String gives the shares of requests the server answered within 5 and
// 10 ms.
func (a latencyCounts) String() string {
	n := a["+Inf"]
	if n <= 0 {
		return "not available"
	}
	return fmt.Sprintf("%.2f%% within 5ms, %.2f%% within 10ms (of %.0f)", 100*a["0.005"]/n, 100*a["0.01"]/n, n)
}

// target is one measured endpoint.
type target struct {
	name, method, url string
	bodies            [][]byte
	// reqs are the bodies as raw HTTP requests.
	reqs [][]byte
	// start and stop, when set, run before and after each measurement of
	// the row (the experiment row starts and stops its experiment).
	start, stop func() error
}

func (t target) begin() error {
	if t.start == nil {
		return nil
	}
	return t.start()
}

func (t target) end() error {
	if t.stop == nil {
		return nil
	}
	return t.stop()
}

// cpu holds CPU times, in seconds, of the processes a request runs in.
type cpu struct{ server, plugins, redis, generator float64 }

func (a cpu) sub(b cpu) cpu {
	return cpu{a.server - b.server, a.plugins - b.plugins, a.redis - b.redis, a.generator - b.generator}
}

// perRequest reports the CPU time per request, and the rate the total
// would allow on every CPU of the machine with nothing else running.
func (a cpu) perRequest(n int) string {
	if n == 0 {
		return "no requests"
	}
	ms := func(v float64) float64 { return 1000 * v / float64(n) }
	total := ms(a.server + a.plugins + a.redis + a.generator)
	return fmt.Sprintf("server %.3fms + plugins %.3fms + redis %.3fms + load generator %.3fms = %.3fms (%d CPUs / total = %.0f requests/s)",
		ms(a.server), ms(a.plugins), ms(a.redis), ms(a.generator), total, runtime.NumCPU(), float64(runtime.NumCPU())*1000/total)
}

// steal holds the machine's CPU time, in clock ticks, from /proc/stat: all
// of it, and the part a hypervisor gave to other guests while this one
// had work to run.
type steal struct{ total, stolen float64 }

func (a steal) sub(b steal) steal { return steal{a.total - b.total, a.stolen - b.stolen} }

func (a steal) String() string {
	if a.total <= 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f%% of the CPUs (%.0fms)", 100*a.stolen/a.total, 1000*a.stolen/clockTicks)
}

// stealWarning is the share of stolen CPU time above which a row's
// latencies say more about the machine's neighbours than about the server:
// in the runs of docs/performance.md, 16 of the 17 open-loop recommend rows
// with under 4% stolen met the p99 target, and 9 of the 11 with 5% or more
// missed it.
const stealWarning = 0.05

// warning returns a note for a verdict measured while the hypervisor took
// more than stealWarning of the CPUs, or "".
func (a steal) warning(met bool) string {
	if a.total <= 0 || a.stolen/a.total <= stealWarning {
		return ""
	}
	w := fmt.Sprintf(" (measured while the hypervisor took %.0f%% of the CPUs", 100*a.stolen/a.total)
	if !met {
		w += ": rerun on a quieter machine"
	}
	return w + ")"
}

// sampleSteal reads the machine's steal every period until the returned
// function is called, which returns the steal since the start and the
// periods of the run (from 0) in which the hypervisor took more than 2% of
// the CPUs, with their shares, for matching against the seconds with slow
// requests.
func sampleSteal(period time.Duration) func() (steal, string) {
	done := make(chan struct{})
	type sampled struct {
		all     steal
		periods string
	}
	out := make(chan sampled, 1)
	first := machineSteal()
	go func() {
		var b strings.Builder
		tick := time.NewTicker(period)
		defer tick.Stop()
		prev := first
		for i := 0; ; i++ {
			select {
			case <-done:
				r := sampled{all: machineSteal().sub(first)}
				if b.Len() > 0 {
					r.periods = ", by second:" + b.String()
				}
				out <- r
				return
			case <-tick.C:
				cur := machineSteal()
				if d := cur.sub(prev); d.total > 0 && d.stolen/d.total > 0.02 {
					fmt.Fprintf(&b, " %d:%.0f%%", i, 100*d.stolen/d.total)
				}
				prev = cur
			}
		}
	}()
	return func() (steal, string) {
		close(done)
		r := <-out
		return r.all, r.periods
	}
}

// machineSteal reads the first line of /proc/stat: "cpu user nice system
// idle iowait irq softirq steal ...".
func machineSteal() steal {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return steal{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return steal{}
	}
	var s steal
	for i, v := range f[1:] {
		x, _ := strconv.ParseFloat(v, 64)
		if i < 8 { // user..steal; guest time is counted in user already
			s.total += x
		}
		if i == 7 {
			s.stolen = x
		}
	}
	return s
}

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat
// (100 on Linux).
const clockTicks = 100

// cpuTimes reads the CPU times of the server, of its child processes (the
// plugins), of every redis-server process and of this process.
func cpuTimes(server int) cpu {
	var c cpu
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, ppid, secs, ok := procStat(pid)
		if !ok {
			continue
		}
		switch {
		case pid == server:
			c.server += secs
		case ppid == server:
			c.plugins += secs
		case comm == "redis-server":
			c.redis += secs
		case pid == os.Getpid():
			c.generator += secs
		}
	}
	return c
}

// procStat returns the command name, parent pid and user+system CPU
// seconds of a process.
func procStat(pid int) (comm string, ppid int, secs float64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, 0, false
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return "", 0, 0, false
	}
	comm = s[open+1 : end]
	f := strings.Fields(s[end+1:])
	// After the name: state ppid ... utime (14th field of the line) stime (15th).
	if len(f) < 13 {
		return "", 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return comm, ppid, (ut + st) / clockTicks, true
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func skipped(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	return fmt.Sprintf(" (skipped: %v)", m)
}

// result holds the latencies of one measurement.
type result struct {
	lat []time.Duration
	// sendDelay, of an open loop, is how long after its scheduled time
	// each request went out: the generator's own lateness.
	sendDelay []time.Duration
	trips     []int // redis_round_trips per response, -1 for none
	errors    int64
	elapsed   time.Duration
	// steal, of an open loop, is the CPU time the hypervisor took while
	// it ran.
	steal steal
}

// meanTrips returns the mean of the reported round trips, or -1.
func (r result) meanTrips() float64 {
	sum, n := 0, 0
	for _, t := range r.trips {
		if t >= 0 {
			sum, n = sum+t, n+1
		}
	}
	if n == 0 {
		return -1
	}
	return float64(sum) / float64(n)
}

func (r result) p(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// lateBySecond counts the open-loop requests slower than limit, in all and
// per second of the run (request i was scheduled at i/rate): a burst in a
// few seconds is a stall of the machine, a spread is the server's own tail.
func (r result) lateBySecond(rate float64, limit time.Duration) string {
	perSecond := map[int]int{}
	n, late := 0, 0
	for i, l := range r.lat {
		if l <= limit {
			continue
		}
		perSecond[int(float64(i)/rate)]++
		n++
		if i < len(r.sendDelay) && r.sendDelay[i] > limit/2 {
			late++
		}
	}
	if n == 0 {
		return "none"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d (%.2f%%; %d of them sent over %v late by the generator), by second of the run:", n, 100*float64(n)/float64(len(r.lat)), late, limit/2)
	for _, s := range slices.Sorted(maps.Keys(perSecond)) {
		fmt.Fprintf(&b, " %d:%d", s, perSecond[s])
	}
	return b.String()
}

func (r result) rate() float64 { return float64(len(r.lat)) / r.elapsed.Seconds() }

func (r result) String() string {
	s := fmt.Sprintf("n=%d errors=%d rate=%.0f/s p50=%v p99=%v max=%v", len(r.lat), r.errors, r.rate(),
		r.p(0.5).Round(time.Microsecond), r.p(0.99).Round(time.Microsecond), r.p(1).Round(time.Microsecond))
	if t := r.meanTrips(); t >= 0 {
		s += fmt.Sprintf(" redis_round_trips=%.2f", t)
	}
	return s
}

var roundTripsKey = []byte(`"redis_round_trips":`)

// roundTrips reads the redis_round_trips field of a response without
// decoding the rest of it.
func roundTrips(body []byte) int {
	i := bytes.Index(body, roundTripsKey)
	if i < 0 {
		return -1
	}
	n, ok := 0, false
	for _, c := range body[i+len(roundTripsKey):] {
		if c < '0' || c > '9' {
			break
		}
		n, ok = 10*n+int(c-'0'), true
	}
	if !ok {
		return -1
	}
	return n
}

// openLoop sends requests at the given rate for d (rate·d requests in
// all) over conns connections. Request i is scheduled at start + i/rate
// and sent by worker i mod conns on its own connection; its latency counts
// from its scheduled time, so a worker held up by a slow answer delays its
// next request without hiding the wait.
func openLoop(addr string, reqs [][]byte, rate float64, d time.Duration, conns int) result {
	n := int(rate * d.Seconds())
	lat := make([]time.Duration, n)
	sendDelay := make([]time.Duration, n)
	trips := make([]int, n)
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &conn{addr: addr}
			defer c.close()
			for i := w; i < n; i += conns {
				at := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
				time.Sleep(time.Until(at))
				sendDelay[i] = time.Since(at)
				t, err := c.do(reqs[i%len(reqs)])
				if err != nil {
					errs.Add(1)
				}
				lat[i], trips[i] = time.Since(at), t
			}
		}()
	}
	wg.Wait()
	return result{lat: lat, sendDelay: sendDelay, trips: trips, errors: errs.Load(), elapsed: time.Since(start)}
}

// closedLoop runs clients, each on its own connection, that send back to
// back for d.
func closedLoop(addr string, reqs [][]byte, clients int, d time.Duration) result {
	var mu sync.Mutex
	var all []time.Duration
	var allTrips []int
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cn := &conn{addr: addr}
			defer cn.close()
			var mine []time.Duration
			var myTrips []int
			for i := c; time.Now().Before(deadline); i += clients {
				t := time.Now()
				rt, err := cn.do(reqs[i%len(reqs)])
				if err != nil {
					errs.Add(1)
				}
				mine, myTrips = append(mine, time.Since(t)), append(myTrips, rt)
			}
			mu.Lock()
			all, allTrips = append(all, mine...), append(allTrips, myTrips...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return result{lat: all, trips: allTrips, errors: errs.Load(), elapsed: time.Since(start)}
}

// response is the part of a recommend response the bench reads.
type response struct {
	Ranker          string            `json:"ranker"`
	FallbackReason  string            `json:"fallback_reason"`
	Warnings        []string          `json:"warnings"`
	RedisRoundTrips int               `json:"redis_round_trips"`
	Items           []json.RawMessage `json:"items"`
	Experiment      *struct {
		ID  string `json:"id"`
		Arm string `json:"arm"`
	} `json:"experiment"`
}

// sample sends one request and checks that the model ranked it.
func sample(client *http.Client, url string, body []byte) (response, error) {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	if resp.StatusCode != 200 {
		return response{}, fmt.Errorf("%s: %s", resp.Status, raw)
	}
	var out response
	if err := json.Unmarshal(raw, &out); err != nil {
		return response{}, err
	}
	if out.FallbackReason != "" {
		return out, fmt.Errorf("the list fell back to %s: %s", out.Ranker, out.FallbackReason)
	}
	return out, nil
}

func post(base, path string, in any, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	resp, err := http.Post(base+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 && resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, body)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

var words = []string{"quiet", "lake", "storm", "garden", "city", "music", "river", "night", "bright", "story", "market", "winter",
	"journey", "kitchen", "mountain", "festival", "ocean", "letter", "forest", "morning", "great", "terrible", "lovely", "sad"}

// trainResult is the part of the train response the bench reports.
type trainResult struct {
	Ranker   string   `json:"ranker"`
	Rows     int      `json:"rows"`
	Events   int      `json:"events"`
	Features []string `json:"features"`
	Text     struct {
		Used    []string          `json:"used"`
		Skipped map[string]string `json:"skipped"`
	} `json:"text"`
}

// world is the benchmark's simulated data: items with texts, users and a
// log with hold-outs (logged propensities included), in the API's JSON
// form.
type world struct {
	ids                  []string
	items, users, events []map[string]any
}

// newWorld builds the world of o.items items and o.users users, always
// the same for the same sizes.
func newWorld(o options) world {
	var w world
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < o.items; i++ {
		text := ""
		for range 12 {
			text += words[rng.IntN(len(words))] + " "
		}
		id := fmt.Sprintf("i%d", i)
		w.ids = append(w.ids, id)
		w.items = append(w.items, map[string]any{"id": id, "text": text, "category": fmt.Sprintf("c%d", i%10),
			"features": map[string]float64{"quality": rng.Float64(), "length": float64(len(text))}})
	}
	for u := 0; u < o.users; u++ {
		w.users = append(w.users, map[string]any{"id": fmt.Sprintf("u%d", u), "features": map[string]float64{"age": float64(18 + rng.IntN(50)), "activity": rng.Float64()}})
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for u := 0; u < o.users; u++ {
		for range 10 {
			it := w.ids[rng.IntN(len(w.ids))]
			arm, prop := "treated", 0.7
			if rng.Float64() < 0.3 {
				arm, prop = "control", 0.3
			}
			w.events = append(w.events, map[string]any{"kind": "exposure", "user": fmt.Sprintf("u%d", u), "item": it, "arm": arm, "propensity": prop, "time": t0})
			p := 0.05
			if arm == "treated" {
				p += 0.1
			}
			if rng.Float64() < p {
				w.events = append(w.events, map[string]any{"kind": "outcome", "user": fmt.Sprintf("u%d", u), "item": it, "time": t0.Add(time.Hour)})
			}
		}
	}
	return w
}

// load ingests the world, trains the serving model and returns the item
// ids and the training result.
func load(base string, o options) ([]string, trainResult, error) {
	var trained trainResult
	w := newWorld(o)
	if err := post(base, "/v1/items", map[string]any{"items": w.items}, nil); err != nil {
		return nil, trained, err
	}
	for lo := 0; lo < len(w.users); lo += 1000 {
		if err := post(base, "/v1/users", map[string]any{"users": w.users[lo:min(lo+1000, len(w.users))]}, nil); err != nil {
			return nil, trained, err
		}
	}
	for lo := 0; lo < len(w.events); lo += 2000 {
		if err := post(base, "/v1/events", map[string]any{"events": w.events[lo:min(lo+2000, len(w.events))]}, nil); err != nil {
			return nil, trained, err
		}
	}
	if err := post(base, "/v1/train", struct{}{}, &trained); err != nil {
		return nil, trained, err
	}
	return w.ids, trained, nil
}

// waitHealthy waits for the server's readiness check. A binary older than
// /v1/ready answers it with 404; its /v1/health then stands in, so an older
// baseline can be measured beside the current one.
func waitHealthy(base string, d time.Duration) error {
	deadline := time.Now().Add(d)
	path := "/v1/ready"
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + path); err == nil {
			resp.Body.Close()
			switch {
			case resp.StatusCode == 200:
				return nil
			case resp.StatusCode == http.StatusNotFound && path == "/v1/ready":
				path = "/v1/health"
				continue
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("causalrec serve did not become healthy")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func cleanup(url, prefix string) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return
	}
	c := redis.NewClient(opts)
	defer c.Close()
	_, _ = redistest.Delete(context.Background(), c, prefix)
}
