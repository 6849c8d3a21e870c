// Command soak runs causalrec serve under steady load while it breaks
// things, and checks that nothing acknowledged is lost.
//
// It starts its own redis-server (AOF on, appendfsync everysec, in a
// temporary directory) and `causalrec serve` on it, loads a simulated
// catalogue and log and trains the serving model. Then, in one invocation:
//
//  1. a fault-free phase (-baseline, default 2m): recommends at -rec-rate
//     (300/s) and event batches at -event-rate (100/s, -batch events each,
//     every event with an ID and every batch with an Idempotency-Key);
//  2. a fault phase (-duration, default 10m) at the same rates, during
//     which the estimator plugin is SIGKILLed every -kill-every (60s) and
//     SIGSTOPped once for -stop-for (20s), Redis is restarted once
//     (SIGTERM, then started again on the same AOF) and the serving model
//     is trained twice (POST /v1/train with "async": true);
//  3. with -after, a second fault-free phase, over the log the first two
//     grew.
//
// Requests are open loop: each is sent at its scheduled time, whatever the
// earlier ones do, and its latency counts from then. A batch answered with
// an error is sent again, the same batch with the same key, until it is
// acknowledged. It prints a row per minute (requests, errors by status,
// fallbacks, p50/p99 of recommends, event batches, RSS of serve, of each
// plugin and of Redis) and at the end checks that the events acknowledged
// are the events stored, each once; that no request answered 5xx outside
// the Redis outage; and compares the p99 of recommends outside the fault
// windows (a fault and the 10 s after it, a training) with the fault-free
// phase's:
//
//	make build && nice go run ./bench/soak -causalrec bin/causalrec
//	nice go run ./bench/soak -baseline 1m -duration 4m   # a shorter run
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/causalrec/causalrec/bench/internal/loadavg"
	"github.com/causalrec/causalrec/host/store"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/soak:", err)
		os.Exit(1)
	}
}

type options struct {
	bin         string
	redisServer string
	baseline    time.Duration
	after       time.Duration
	duration    time.Duration
	recRate     float64
	eventRate   float64
	batch       int
	killEvery   time.Duration
	stopAt      time.Duration
	stopFor     time.Duration
	redisAt     time.Duration
	trainAt     []time.Duration
	users       int
	items       int
	serverLog   string
}

func run() error {
	var o options
	flag.StringVar(&o.bin, "causalrec", "bin/causalrec", "the causalrec binary (make build)")
	flag.StringVar(&o.redisServer, "redis-server", "redis-server", "the redis-server executable")
	flag.DurationVar(&o.baseline, "baseline", 2*time.Minute, "length of the fault-free phase before the faults")
	flag.DurationVar(&o.after, "after", 0, "length of a fault-free phase after the faults (0: none); the p99 is then also compared with it, over the same grown log")
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "length of the fault phase")
	flag.Float64Var(&o.recRate, "rec-rate", 300, "recommend requests per second")
	flag.Float64Var(&o.eventRate, "event-rate", 100, "event batches per second")
	flag.IntVar(&o.batch, "batch", 5, "events per batch")
	flag.DurationVar(&o.killEvery, "kill-every", time.Minute, "SIGKILL the estimator plugin this often in the fault phase (first at half of it)")
	stopAt := flag.Duration("stop-at", 0, "when in the fault phase to SIGSTOP the estimator plugin (default: 30% in)")
	flag.DurationVar(&o.stopFor, "stop-for", 20*time.Second, "how long the plugin stays stopped")
	redisAt := flag.Duration("redis-at", 0, "when in the fault phase to restart Redis (default: 58% in)")
	trainAt := flag.String("train-at", "", "when in the fault phase to train, comma-separated durations (default: 40% and 80% in)")
	flag.IntVar(&o.users, "users", 1000, "simulated users")
	flag.IntVar(&o.items, "items", 200, "simulated items")
	flag.StringVar(&o.serverLog, "server-log", "", "write serve's log to this file (default: discard it)")
	flag.Parse()
	frac := func(f float64) time.Duration { return time.Duration(f * float64(o.duration)).Round(time.Second) }
	o.stopAt, o.redisAt = *stopAt, *redisAt
	if o.stopAt == 0 {
		o.stopAt = frac(0.3)
	}
	if o.redisAt == 0 {
		o.redisAt = frac(0.58)
	}
	if *trainAt == "" {
		o.trainAt = []time.Duration{frac(0.4), frac(0.8)}
	} else {
		for _, s := range strings.Split(*trainAt, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("-train-at: %w", err)
			}
			o.trainAt = append(o.trainAt, d)
		}
	}
	return soak(o)
}

// redisProc is the soak's own redis-server.
type redisProc struct {
	bin, dir string
	port     int
	cmd      *exec.Cmd
}

func (r *redisProc) start() error {
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--protected-mode", "no")
	r.cmd.Stdout, r.cmd.Stderr = io.Discard, io.Discard
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", r.bin, err)
	}
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	for range 100 {
		if c.Ping(context.Background()).Err() == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("redis-server did not answer")
}

// stop shuts Redis down the way a restart does (SIGTERM: it writes the
// AOF and exits).
func (r *redisProc) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	_ = r.cmd.Wait()
}

// sample is one request's outcome.
type sample struct {
	at       time.Duration // scheduled time since the phase began
	lat      time.Duration
	code     int // 0: no answer (transport error)
	fallback bool
}

// recorder collects the samples of a phase.
type recorder struct {
	mu      sync.Mutex
	recs    []sample
	batches []sample
}

func (r *recorder) add(rec bool, s sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec {
		r.recs = append(r.recs, s)
	} else {
		r.batches = append(r.batches, s)
	}
}

// window is a span of the fault phase that a fault (or a training)
// disturbs.
type window struct {
	what     string
	from, to time.Duration
}

func (w window) holds(t time.Duration) bool { return t >= w.from && t < w.to }

// faultLog records the windows as the faults happen.
type faultLog struct {
	mu      sync.Mutex
	windows []window
}

func (f *faultLog) add(w window) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.windows = append(f.windows, w)
}

func (f *faultLog) list() []window {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.windows)
}

// settle is how long after a fault its window lasts.
const settle = 10 * time.Second

// acks tracks the event IDs sent and acknowledged.
type acks struct {
	mu    sync.Mutex
	sent  map[string]bool
	acked map[string]bool
	given int // batches given up at the end without an answer
}

func soak(o options) error {
	dir, err := os.MkdirTemp("", "causalrec-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rport, err := freePort()
	if err != nil {
		return err
	}
	rds := &redisProc{bin: o.redisServer, dir: dir, port: rport}
	if err := rds.start(); err != nil {
		return err
	}
	defer func() { rds.stop() }()
	redisURL := fmt.Sprintf("redis://127.0.0.1:%d", rport)

	hport, err := freePort()
	if err != nil {
		return err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", hport)
	cmd := exec.Command(o.bin, "serve", "--redis", redisURL, "--prefix", "soak:", "--http", fmt.Sprintf("127.0.0.1:%d", hport), "--grpc", "off")
	cmd.Stderr = io.Discard
	if o.serverLog != "" {
		f, err := os.Create(o.serverLog)
		if err != nil {
			return err
		}
		defer f.Close()
		cmd.Stderr = f
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w (run make build first)", o.bin, err)
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	if err := waitReady(base, 60*time.Second); err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 512}, Timeout: 30 * time.Second}
	if err := load(client, base, o); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if _, err := train(client, base); err != nil {
		return fmt.Errorf("first training: %w", err)
	}
	fmt.Printf("soak: redis-server (AOF, appendfsync everysec) and causalrec serve; %d users, %d items; %.0f recommends/s and %.0f batches/s of %d events\n",
		o.users, o.items, o.recRate, o.eventRate, o.batch)
	fmt.Printf("fault phase of %v: estimator plugin SIGKILLed every %v (from %v), SIGSTOPped at %v for %v, Redis restarted at %v, trainings at %v\n",
		o.duration, o.killEvery, o.killEvery/2, o.stopAt, o.stopFor, o.redisAt, o.trainAt)
	fmt.Printf("machine: %d CPUs shared with the rest of the machine; load average %s\n\n", nproc(), loadavg.All())

	ak := &acks{sent: map[string]bool{}, acked: map[string]bool{}}
	var seq atomic.Int64
	procs := func() map[string]int { return processes(client, base, cmd.Process.Pid, rds) }

	fmt.Printf("phase 1: no faults, %v\n", o.baseline)
	quiet := runPhase(client, base, o, o.baseline, ak, &seq, procs, nil)
	printTable(quiet, nil, o.baseline)

	fmt.Printf("\nphase 2: faults, %v\n", o.duration)
	faults := &faultLog{}
	inject := func(ctx context.Context, start time.Time) {
		injectFaults(ctx, start, o, client, base, rds, faults)
	}
	loud := runPhase(client, base, o, o.duration, ak, &seq, procs, inject)
	windows := faults.list()
	printTable(loud, windows, o.duration)
	fmt.Println("\nfault windows (each fault and the 10 s after it; each training):")
	for _, w := range windows {
		fmt.Printf("  %-28s %6.1fs to %6.1fs\n", w.what, w.from.Seconds(), w.to.Seconds())
	}
	var after *phaseResult
	if o.after > 0 {
		fmt.Printf("\nphase 3: no faults, %v\n", o.after)
		a := runPhase(client, base, o, o.after, ak, &seq, procs, nil)
		printTable(a, nil, o.after)
		after = &a
	}
	return verdict(redisURL, quiet, loud, after, windows, ak)
}

// phaseResult is what a phase measured.
type phaseResult struct {
	rec     *recorder
	minutes []map[string]int // RSS in KB by process, sampled at the end of each minute
}

// runPhase sends recommends and event batches for d; inject, when set,
// runs the faults alongside.
func runPhase(client *http.Client, base string, o options, d time.Duration, ak *acks, seq *atomic.Int64, procs func() map[string]int,
	inject func(ctx context.Context, start time.Time)) phaseResult {
	res := phaseResult{rec: &recorder{}}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	if inject != nil {
		wg.Add(1)
		go func() { defer wg.Done(); inject(ctx, start) }()
	}
	wg.Add(3)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), 1))
		var mu sync.Mutex // rng is not safe for concurrent use
		openLoop(ctx, start, o.recRate, func(at time.Duration) {
			mu.Lock()
			body := fmt.Sprintf(`{"user":"u%d","k":10}`, rng.IntN(o.users))
			mu.Unlock()
			code, fb := recommend(client, base, body)
			res.rec.add(true, sample{at: at, lat: time.Since(start.Add(at)), code: code, fallback: fb})
		})
	}()
	go func() {
		defer wg.Done()
		openLoop(ctx, start, o.eventRate, func(at time.Duration) {
			n := seq.Add(1)
			sendBatch(ctx, client, base, o, n, at, start, res.rec, ak)
		})
	}()
	go func() {
		defer wg.Done()
		minute := time.NewTicker(time.Minute)
		defer minute.Stop()
		for {
			select {
			case <-ctx.Done():
				if len(res.minutes) < int((d+time.Minute-1)/time.Minute) {
					res.minutes = append(res.minutes, procs())
				}
				return
			case <-minute.C:
				res.minutes = append(res.minutes, procs())
			}
		}
	}()
	wg.Wait()
	return res
}

// openLoop calls f at rate per second from start until ctx ends, each call
// in a goroutine of its own, with the time it was due.
func openLoop(ctx context.Context, start time.Time, rate float64, f func(at time.Duration)) {
	var wg sync.WaitGroup
	defer wg.Wait()
	interval := time.Duration(float64(time.Second) / rate)
	for i := 0; ; i++ {
		at := time.Duration(i) * interval
		wait := time.Until(start.Add(at))
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		} else if ctx.Err() != nil {
			return
		}
		wg.Add(1)
		go func() { defer wg.Done(); f(at) }()
	}
}

func recommend(client *http.Client, base, body string) (code int, fallback bool) {
	resp, err := client.Post(base+"/v1/recommend", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var r struct {
		FallbackReason string `json:"fallback_reason"`
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &r)
	return resp.StatusCode, r.FallbackReason != ""
}

// sendBatch sends batch n (events with IDs, an Idempotency-Key) until it
// is acknowledged, or until 60 s after the phase ended; every attempt is a
// sample.
func sendBatch(ctx context.Context, client *http.Client, base string, o options, n int64, at time.Duration, start time.Time, rec *recorder, ak *acks) {
	rng := rand.New(rand.NewPCG(uint64(n), 2))
	var events []map[string]any
	ids := make([]string, o.batch)
	now := time.Now().UTC()
	for i := range o.batch {
		ids[i] = fmt.Sprintf("soak-%d-%d", n, i)
		e := map[string]any{"id": ids[i], "kind": "exposure", "user": fmt.Sprintf("u%d", rng.IntN(o.users)), "item": fmt.Sprintf("i%d", rng.IntN(o.items)),
			"time": now, "arm": "treated", "propensity": 0.5}
		if i%2 == 1 {
			e = map[string]any{"id": ids[i], "kind": "outcome", "user": e["user"], "item": e["item"], "time": now}
		}
		events = append(events, e)
	}
	body, _ := json.Marshal(map[string]any{"events": events})
	ak.mu.Lock()
	for _, id := range ids {
		ak.sent[id] = true
	}
	ak.mu.Unlock()
	key := fmt.Sprintf("soak-batch-%d", n)
	giveUp := time.Now().Add(2 * time.Minute)
	if dl, ok := ctx.Deadline(); ok {
		giveUp = dl.Add(time.Minute)
	}
	due := start.Add(at)
	backoff := 250 * time.Millisecond
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequest("POST", base+"/v1/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		code, retryAfter := 0, time.Duration(0)
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			code = resp.StatusCode
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
				retryAfter = time.Duration(s) * time.Second
			}
		}
		sentAt := time.Since(start)
		if attempt > 0 {
			due = time.Now()
		}
		rec.add(false, sample{at: sentAt, lat: time.Since(due), code: code})
		if code == http.StatusOK {
			ak.mu.Lock()
			for _, id := range ids {
				ak.acked[id] = true
			}
			ak.mu.Unlock()
			return
		}
		if time.Now().After(giveUp) {
			ak.mu.Lock()
			ak.given++
			ak.mu.Unlock()
			return
		}
		// Back off exponentially (with jitter), and at least as long as
		// the server asks, so that retries do not pile up on an outage.
		wait := max(retryAfter, backoff/2+time.Duration(rng.Int64N(int64(backoff))))
		backoff = min(2*backoff, 8*time.Second)
		time.Sleep(wait)
	}
}

// injectFaults runs the fault schedule of the fault phase.
func injectFaults(ctx context.Context, start time.Time, o options, client *http.Client, base string, rds *redisProc, faults *faultLog) {
	type event struct {
		at   time.Duration
		what string
	}
	var plan []event
	for t := o.killEvery / 2; t < o.duration; t += o.killEvery {
		plan = append(plan, event{t, "kill"})
	}
	plan = append(plan, event{o.stopAt, "stop"}, event{o.redisAt, "redis"})
	for _, t := range o.trainAt {
		plan = append(plan, event{t, "train"})
	}
	sort.Slice(plan, func(i, j int) bool { return plan[i].at < plan[j].at })
	var wg sync.WaitGroup
	defer wg.Wait()
	// Each fault at its own time, whatever the others take.
	for _, ev := range plan {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(start.Add(ev.at))):
			}
			inject(ev.what, start, o, client, base, rds, faults)
		}()
	}
}

// inject causes one fault (or training) and records its window.
func inject(what string, start time.Time, o options, client *http.Client, base string, rds *redisProc, faults *faultLog) {
	var wg sync.WaitGroup
	defer wg.Wait()
	now := func() time.Duration { return time.Since(start) }
	{
		switch what {
		case "kill":
			if pid := pluginPID(client, base, "causal"); pid > 0 {
				t := now()
				_ = syscall.Kill(pid, syscall.SIGKILL)
				faults.add(window{"estimator plugin SIGKILL", t, t + settle})
			}
		case "stop":
			if pid := pluginPID(client, base, "causal"); pid > 0 {
				t := now()
				_ = syscall.Kill(pid, syscall.SIGSTOP)
				wg.Add(1)
				go func() {
					defer wg.Done()
					time.Sleep(o.stopFor)
					_ = syscall.Kill(pid, syscall.SIGCONT)
					faults.add(window{fmt.Sprintf("estimator plugin SIGSTOP %v", o.stopFor), t, now() + settle})
				}()
			}
		case "redis":
			t := now()
			rds.stop()
			down := now()
			if err := rds.start(); err != nil {
				fmt.Fprintln(os.Stderr, "bench/soak: restart redis:", err)
			}
			faults.add(window{fmt.Sprintf("Redis restart (stop %.1fs, start %.1fs)", (down - t).Seconds(), (now() - down).Seconds()), t, now() + settle})
		case "train":
			wg.Add(1)
			go func() {
				defer wg.Done()
				t := now()
				status, err := train(client, base)
				if err != nil {
					status = err.Error()
				}
				faults.add(window{"training: " + status, t, now() + settle})
			}()
		}
	}
}

// train trains through POST /v1/train {"async": true} and polls the job
// until it ends; it returns the job's final status.
func train(client *http.Client, base string) (string, error) {
	var acc struct {
		Poll  string `json:"poll"`
		Error string `json:"error"`
	}
	// A busy server (503) is asked again for up to a minute.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		resp, err := client.Post(base+"/v1/train", "application/json", strings.NewReader(`{"async": true}`))
		if err != nil {
			return "", err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		_ = json.Unmarshal(b, &acc)
		if resp.StatusCode == http.StatusAccepted {
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return "", fmt.Errorf("train: %d %s", resp.StatusCode, acc.Error)
		}
	}
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		resp, err := client.Get(base + acc.Poll)
		if err != nil {
			continue
		}
		var job struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if json.Unmarshal(b, &job) != nil || job.Status == "running" || job.Status == "" {
			continue
		}
		if job.Status == "failed" {
			return "failed (" + job.Error + ")", nil
		}
		return job.Status, nil
	}
	return "", errors.New("train: the job did not end within 3 minutes")
}

// pluginPID returns the process ID of the named plugin (0 when down, or
// when the server did not answer within 10 s of tries).
func pluginPID(client *http.Client, base, name string) int {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/plugins", nil)
		resp, err := client.Do(req)
		if err != nil {
			cancel()
			continue
		}
		var list []struct {
			Name string `json:"name"`
			PID  int    `json:"pid"`
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		cancel()
		if err != nil || resp.StatusCode != http.StatusOK {
			continue
		}
		for _, p := range list {
			if p.Name == name {
				return p.PID
			}
		}
		return 0
	}
	return 0
}

// processes returns the RSS (KB) of serve, each plugin and Redis.
func processes(client *http.Client, base string, serve int, rds *redisProc) map[string]int {
	out := map[string]int{"serve": rss(serve), "redis": rss(rds.cmd.Process.Pid)}
	for _, name := range []string{"causal", "lm", "sentiment"} {
		if pid := pluginPID(client, base, name); pid > 0 {
			out[name] = rss(pid)
		}
	}
	return out
}

func rss(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.Atoi(f[1])
				return kb
			}
		}
	}
	return 0
}

// printTable prints a row per minute of the phase.
func printTable(p phaseResult, windows []window, d time.Duration) {
	fmt.Println("| minute | recommends | rec errors by status | fallbacks | rec p50 | rec p99 | event batches (attempts) | batch errors by status | RSS MB: serve / causal / lm / sentiment / redis |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	minutes := int((d + time.Minute - 1) / time.Minute)
	for m := range minutes {
		lo, hi := time.Duration(m)*time.Minute, time.Duration(m+1)*time.Minute
		var recs, batches []sample
		for _, s := range p.rec.recs {
			if s.at >= lo && s.at < hi {
				recs = append(recs, s)
			}
		}
		for _, s := range p.rec.batches {
			if s.at >= lo && s.at < hi {
				batches = append(batches, s)
			}
		}
		fb := 0
		for _, s := range recs {
			if s.fallback {
				fb++
			}
		}
		mem := "-"
		if m < len(p.minutes) {
			r := p.minutes[m]
			mem = fmt.Sprintf("%d / %d / %d / %d / %d", r["serve"]/1024, r["causal"]/1024, r["lm"]/1024, r["sentiment"]/1024, r["redis"]/1024)
		}
		fmt.Printf("| %d | %d | %s | %d | %s | %s | %d | %s | %s |\n", m+1, len(recs), byStatus(recs), fb, ms(pct(recs, 0.5)), ms(pct(recs, 0.99)),
			len(batches), byStatus(batches), mem)
	}
}

func byStatus(ss []sample) string {
	c := map[int]int{}
	for _, s := range ss {
		if s.code != http.StatusOK {
			c[s.code]++
		}
	}
	if len(c) == 0 {
		return "none"
	}
	codes := make([]int, 0, len(c))
	for k := range c {
		codes = append(codes, k)
	}
	sort.Ints(codes)
	var parts []string
	for _, k := range codes {
		name := strconv.Itoa(k)
		if k == 0 {
			name = "no answer"
		}
		parts = append(parts, fmt.Sprintf("%s: %d", name, c[k]))
	}
	return strings.Join(parts, ", ")
}

func pct(ss []sample, q float64) time.Duration {
	if len(ss) == 0 {
		return 0
	}
	l := make([]time.Duration, len(ss))
	for i, s := range ss {
		l[i] = s.lat
	}
	slices.Sort(l)
	return l[min(len(l)-1, int(q*float64(len(l))))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", d.Seconds()*1000) }

// verdict checks the end conditions and prints them.
func verdict(redisURL string, quiet, loud phaseResult, after *phaseResult, windows []window, ak *acks) error {
	fmt.Println("\nat the end:")
	// Acknowledged events against the stored ones.
	rdb := redis.NewClient(mustOpts(redisURL))
	defer rdb.Close()
	st, err := store.New(rdb, store.Options{Prefix: "soak:"})
	if err != nil {
		return err
	}
	seen := map[string]int{}
	total := 0
	err = st.Events(context.Background(), func(e store.Event) error {
		total++
		if strings.HasPrefix(e.ID, "soak-") {
			seen[e.ID]++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the stored events: %w", err)
	}
	ak.mu.Lock()
	lost, dups, unacked := 0, 0, 0
	for id := range ak.acked {
		if seen[id] == 0 {
			lost++
		}
	}
	for id, n := range seen {
		if n > 1 {
			dups += n - 1
		}
		if !ak.acked[id] {
			unacked++
		}
	}
	fmt.Printf("  events: %d sent, %d acknowledged, %d of them stored; %d acknowledged events lost, %d stored twice or more (extra copies), %d stored without an acknowledgement (batches given up: %d); %d events in the log in all\n",
		len(ak.sent), len(ak.acked), len(ak.acked)-lost, lost, dups, unacked, ak.given, total)
	ak.mu.Unlock()

	// 5xx outside the Redis outage.
	var outage []window
	for _, w := range windows {
		if strings.HasPrefix(w.what, "Redis") {
			outage = append(outage, w)
		}
	}
	in := func(t time.Duration, ws []window) bool {
		for _, w := range ws {
			if w.holds(t) {
				return true
			}
		}
		return false
	}
	bad := 0
	for _, ss := range [][]sample{loud.rec.recs, loud.rec.batches} {
		for _, s := range ss {
			if (s.code >= 500 || s.code == 0) && !in(s.at, outage) {
				bad++
			}
		}
	}
	calm := [][]sample{quiet.rec.recs, quiet.rec.batches}
	if after != nil {
		calm = append(calm, after.rec.recs, after.rec.batches)
	}
	for _, ss := range calm {
		for _, s := range ss {
			if s.code >= 500 || s.code == 0 {
				bad++
			}
		}
	}
	fmt.Printf("  5xx (or no answer) outside the Redis outage: %d\n", bad)

	var outside []sample
	for _, s := range loud.rec.recs {
		if !in(s.at, windows) {
			outside = append(outside, s)
		}
	}
	q99, f99 := pct(quiet.rec.recs, 0.99), pct(outside, 0.99)
	ratio := f99.Seconds() / q99.Seconds()
	fmt.Printf("  recommend p99: fault-free phase %s (%d requests); fault phase outside the fault windows %s (%d requests): %.2fx (target within 1.20x)\n",
		ms(q99), len(quiet.rec.recs), ms(f99), len(outside), ratio)
	if after != nil {
		a99 := pct(after.rec.recs, 0.99)
		ratio = f99.Seconds() / max(q99, a99).Seconds()
		fmt.Printf("  recommend p99 of the fault-free phase after the faults: %s (%d requests); outside the fault windows against the larger of the two: %.2fx (target within 1.20x)\n",
			ms(a99), len(after.rec.recs), ratio)
	}
	fmt.Printf("  load average at the end: %s\n", loadavg.All())
	var fails []string
	if lost > 0 {
		fails = append(fails, fmt.Sprintf("%d acknowledged events lost", lost))
	}
	if dups > 0 {
		fails = append(fails, fmt.Sprintf("%d duplicate events", dups))
	}
	if bad > 0 {
		fails = append(fails, fmt.Sprintf("%d 5xx outside the Redis outage", bad))
	}
	if ratio > 1.2 {
		fails = append(fails, fmt.Sprintf("p99 outside the fault windows %.2fx the fault-free one", ratio))
	}
	if len(fails) > 0 {
		return errors.New(strings.Join(fails, "; "))
	}
	fmt.Println("  all checks passed")
	return nil
}

func mustOpts(url string) *redis.Options {
	o, err := redis.ParseURL(url)
	if err != nil {
		panic(err)
	}
	return o
}

// load posts the catalogue and a log to train on.
func load(client *http.Client, base string, o options) error {
	rng := rand.New(rand.NewPCG(1, 1))
	var items []map[string]any
	for i := range o.items {
		items = append(items, map[string]any{"id": fmt.Sprintf("i%d", i), "category": fmt.Sprintf("c%d", i%10),
			"features": map[string]float64{"quality": rng.Float64(), "price": float64(1 + rng.IntN(100))}})
	}
	if err := post(client, base, "/v1/items", map[string]any{"items": items}); err != nil {
		return err
	}
	var users []map[string]any
	for u := range o.users {
		users = append(users, map[string]any{"id": fmt.Sprintf("u%d", u), "features": map[string]float64{"age": float64(18 + rng.IntN(50)), "activity": rng.Float64()}})
	}
	if err := post(client, base, "/v1/users", map[string]any{"users": users}); err != nil {
		return err
	}
	var events []map[string]any
	t0 := time.Now().UTC().Add(-7 * 24 * time.Hour)
	for u := range o.users {
		for range 10 {
			it := fmt.Sprintf("i%d", rng.IntN(o.items))
			arm, prop := "treated", 0.7
			if rng.Float64() < 0.3 {
				arm, prop = "control", 0.3
			}
			user := fmt.Sprintf("u%d", u)
			events = append(events, map[string]any{"kind": "exposure", "user": user, "item": it, "arm": arm, "propensity": prop, "time": t0})
			p := 0.05
			if arm == "treated" {
				p += 0.1
			}
			if rng.Float64() < p {
				events = append(events, map[string]any{"kind": "outcome", "user": user, "item": it, "time": t0.Add(time.Hour)})
			}
		}
		if len(events) >= 2000 || u == o.users-1 {
			if err := post(client, base, "/v1/events", map[string]any{"events": events}); err != nil {
				return err
			}
			events = events[:0]
		}
	}
	return nil
}

func post(client *http.Client, base, path string, in any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	resp, err := client.Post(base+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, body)
	}
	return nil
}

func waitReady(base string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/v1/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("causalrec serve did not become ready")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func nproc() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "processor\t:")
}
