// Command train measures training from a large event log: it writes about
// a million simulated events (exposures with arm and logged propensity,
// hold-outs with arm "control", outcomes) with their items (with texts)
// and users into the Redis at REDIS_URL under a fresh key prefix, then
//
//  1. runs the host's phases one by one in this process, with the real
//     built-in estimator plugin as a child process: reading the event log
//     (with store.Events, and with the earlier reader as the baseline:
//     one page at a time, encoding/json), building the training table (recommend.BuildTable, which reads the
//     log again), fitting through the plugin, saving the model;
//  2. runs "causalrec train" end to end as a child process and reports its
//     wall time and peak resident memory;
//
// and deletes its keys at the end.
//
//	make build && go run ./bench/train -causalrec bin/causalrec
//
// The log is causal/receval's simulation (Sato et al.'s protocol) with
// every user–item pair one exposure: treated with the logging propensity P,
// or a hold-out (arm "control", propensity 1 − P), plus an outcome event
// when the outcome is 1.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/causalrec/causalrec/bench/internal/loadavg"
	"github.com/causalrec/causalrec/causal/receval"
	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/redistest"
	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/plugins"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/train:", err)
		os.Exit(1)
	}
}

type options struct {
	bin       string
	redisURL  string
	events    int
	items     int
	estimator string
	text      string
	batch     int
	workers   int
	keep      bool
	skipChild bool
	onlyChild bool
	baseline  string
	reuse     string
	ranker    string
	profile   string
}

func run() error {
	var o options
	flag.StringVar(&o.bin, "causalrec", "bin/causalrec", "the causalrec binary (make build); runs the plugins and the end-to-end training")
	flag.StringVar(&o.redisURL, "redis", os.Getenv("REDIS_URL"), "Redis URL (default $REDIS_URL, else redis://127.0.0.1:6379)")
	flag.IntVar(&o.events, "events", 1_000_000, "events to log (rounded up to a whole user)")
	flag.IntVar(&o.items, "items", 100, "simulated items; users follow from -events")
	flag.StringVar(&o.estimator, "estimator", "t", "estimator of the uplift ranker")
	flag.StringVar(&o.text, "text-features", "auto", "text features of the training: auto, on or off")
	flag.IntVar(&o.batch, "batch", 500, "events per ingestion script call (store BatchSize)")
	flag.IntVar(&o.workers, "workers", 4, "concurrent ingestion calls")
	flag.BoolVar(&o.keep, "keep", false, "keep the keys (print the prefix) instead of deleting them")
	flag.BoolVar(&o.skipChild, "skip-child", false, "skip the end-to-end run of causalrec train")
	flag.StringVar(&o.baseline, "baseline", "", "another causalrec binary (an earlier build) to run end to end on the same log after -causalrec, for a same-run comparison")
	flag.StringVar(&o.ranker, "ranker", "", "ranker of the end-to-end training (default causalrec's, uplift); popularity builds the same table without a fit, to measure the training process without the estimator plugin's memory")
	flag.StringVar(&o.reuse, "reuse", "", "a key prefix kept by an earlier run with -keep: run only causalrec train end to end on its log (no simulation, no import)")
	flag.BoolVar(&o.onlyChild, "only-child", false, "after the import, skip the phases in this process and run only causalrec train end to end (for large logs: one fit instead of two)")
	flag.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the build-table phase to this file")
	flag.Parse()
	if o.redisURL == "" {
		o.redisURL = "redis://127.0.0.1:6379"
	}
	ctx := context.Background()
	rdb, err := store.Connect(ctx, o.redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	prefix := fmt.Sprintf("causalrec-bench-train:%d:", time.Now().UnixNano())
	if o.reuse != "" {
		fmt.Printf("machine: %d CPUs, GOMAXPROCS %d, %s, load average %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), loadavg.All())
		for _, bin := range []string{o.bin, o.baseline} {
			if bin == "" {
				continue
			}
			b := o
			b.bin = bin
			if err := endToEnd(ctx, b, o.reuse); err != nil {
				return err
			}
		}
		fmt.Println("load average after the run:", loadavg.All())
		return nil
	}
	sopts := store.DefaultOptions()
	sopts.Prefix, sopts.BatchSize = prefix, o.batch
	st, err := store.New(rdb, sopts)
	if err != nil {
		return err
	}
	if err := st.Ping(ctx); err != nil {
		return err
	}
	if err := st.CheckLayout(ctx); err != nil {
		return err
	}
	if o.keep {
		fmt.Println("prefix:", prefix)
	} else {
		defer cleanup(rdb, prefix)
	}

	fmt.Printf("machine: %d CPUs, GOMAXPROCS %d, %s, load average %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), loadavg.All())
	gen := time.Now()
	users, items, events, err := simulate(o)
	if err != nil {
		return err
	}
	fmt.Printf("simulated %d events (%d users, %d items) in %.1fs\n\n", len(events), len(users), len(items), time.Since(gen).Seconds())

	var rows []row
	phase := func(name string, fn func() (string, error)) error {
		rows = append(rows, measure(name, fn))
		r := rows[len(rows)-1]
		fmt.Printf("  %-34s %8.2fs  heap peak %6.0f MB  %s\n", r.name, r.sec, r.heapMB, r.note)
		return r.err
	}
	fmt.Println("phases in this process (heap peak: Go heap objects of this process, sampled every 10ms):")
	if err := phase("import (users, items, events)", func() (string, error) {
		return importAll(ctx, st, users, items, events, o.workers)
	}); err != nil {
		return err
	}
	events = nil
	debug.FreeOSMemory()
	if o.onlyChild {
		if err := endToEnd(ctx, o, prefix); err != nil {
			return err
		}
		if o.baseline != "" {
			b := o
			b.bin = o.baseline
			if err := endToEnd(ctx, b, prefix); err != nil {
				return err
			}
		}
		fmt.Println("load average after the run:", loadavg.All())
		return nil
	}
	var readBase, readNew float64
	if err := phase("read events, baseline reader", func() (string, error) {
		n, err := readEventsBaseline(ctx, rdb, st.EventLogKeys(), o.batch)
		return fmt.Sprintf("%d events", n), err
	}); err != nil {
		return err
	}
	readBase = rows[len(rows)-1].sec
	if err := phase("read events (store.Events)", func() (string, error) {
		n := 0
		err := st.Events(ctx, func(store.Event) error { n++; return nil })
		return fmt.Sprintf("%d events", n), err
	}); err != nil {
		return err
	}
	readNew = rows[len(rows)-1].sec
	fmt.Printf("  %-34s %7.2fx\n", "read events speed-up", readBase/readNew)

	mgr, err := pluginhost.New([]pluginhost.Spec{
		{Name: "causal", Kind: plugins.KindEstimator, Path: o.bin, Args: []string{"plugins", "serve", "causal"}, Builtin: true},
		{Name: "lm", Kind: plugins.KindTextScorer, Path: o.bin, Args: []string{"plugins", "serve", "lm"}, Builtin: true},
		{Name: "sentiment", Kind: plugins.KindTextScorer, Path: o.bin, Args: []string{"plugins", "serve", "sentiment"}, Builtin: true},
	}, pluginhost.Options{StartTimeout: time.Minute})
	if err != nil {
		return err
	}
	defer mgr.Close()
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("start the built-in plugins of %s: %w", o.bin, err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var table *recommend.Table
	if err := phase("build table (reads the log again)", func() (string, error) {
		if o.profile != "" {
			f, err := os.Create(o.profile)
			if err != nil {
				return "", err
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return "", err
			}
			defer pprof.StopCPUProfile()
		}
		var err error
		table, err = recommend.BuildTable(ctx, st, recommend.TableOptions{
			Text: recommend.TextOptions{Mode: o.text, Source: mgr},
		}, logger)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d rows × %d features, text %v", len(table.Request.Arm), len(table.Features), table.Text.Used), nil
	}); err != nil {
		return err
	}
	est, err := mgr.Estimator("causal")
	if err != nil {
		return err
	}
	var fit plugins.FitResponse
	if err := phase("fit (estimator plugin "+o.estimator+")", func() (string, error) {
		req := table.Request
		req.Estimator, req.Seed = o.estimator, 1
		var err error
		fit, err = est.Fit(ctx, req)
		return fmt.Sprintf("model %d bytes", len(fit.Model)), err
	}); err != nil {
		return err
	}
	if err := phase("save (neighbours, model, serving)", func() (string, error) {
		if err := st.PutNeighbors(ctx, table.Neighbors); err != nil {
			return "", err
		}
		id, err := st.SaveModel(ctx, store.ModelRecord{Name: "bench", Estimator: o.estimator, Plugin: "causal", CreatedAt: time.Now().UTC(), Bytes: fit.Model})
		if err != nil {
			return "", err
		}
		return "", st.SetServing(ctx, "bench", id)
	}); err != nil {
		return err
	}
	table = nil
	mgr.Close()
	var self, kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	fmt.Printf("  peak RSS: this process %.0f MB, largest plugin process %.0f MB\n\n", float64(self.Maxrss)/1024, float64(kids.Maxrss)/1024)

	if o.skipChild {
		return nil
	}
	if err := endToEnd(ctx, o, prefix); err != nil {
		return err
	}
	if o.baseline != "" {
		b := o
		b.bin = o.baseline
		if err := endToEnd(ctx, b, prefix); err != nil {
			return err
		}
	}
	fmt.Println("load average after the run:", loadavg.All())
	return nil
}

// endToEnd runs "causalrec train" as a child process and reports its wall
// time and peak RSS.
func endToEnd(ctx context.Context, o options, prefix string) error {
	bin := o.bin
	args := []string{"train", "--redis", o.redisURL, "--prefix", prefix, "--estimator", o.estimator, "--text-features", o.text}
	if o.ranker != "" {
		args = append(args, "--ranker", o.ranker)
	}
	fmt.Printf("end to end: %s %s (child process):\n", bin, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	var stdout strings.Builder
	cmd.Stdout = &stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("causalrec train: %w", err)
	}
	// The training process's own peak (VmHWM), read while it runs: the
	// rusage of wait4 also counts the plugin processes it waited for.
	hwm := make(chan [2]float64, 1)
	stop := make(chan struct{})
	go func() {
		var peak, plugin float64
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			pid := cmd.Process.Pid
			if v, ok := vmHWM(pid); ok {
				peak = max(peak, v)
			}
			// The plugins are children of any of its threads.
			tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
			for _, task := range tasks {
				b, err := os.ReadFile(task)
				if err != nil {
					continue
				}
				for _, f := range strings.Fields(string(b)) {
					if c, err := strconv.Atoi(f); err == nil {
						if v, ok := vmHWM(c); ok {
							plugin = max(plugin, v)
						}
					}
				}
			}
			select {
			case <-stop:
				hwm <- [2]float64{peak, plugin}
				return
			case <-t.C:
			}
		}
	}()
	err := cmd.Wait()
	wall := time.Since(start)
	close(stop)
	peaks := <-hwm
	ownPeak := peaks[0]
	out := []byte(stdout.String())
	if err != nil {
		return fmt.Errorf("causalrec train: %w: %s", err, tail(stderr.String(), 2000))
	}
	var res recommend.TrainResult
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("causalrec train output: %w", err)
	}
	peak := 0.0
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		peak = float64(ru.Maxrss) / 1024
	}
	var kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	fmt.Printf("  wall %.2fs (train's own %.2fs), %d events, %d rows (%d treated, %d control), %d features, propensity %s, text %v\n",
		wall.Seconds(), res.Seconds, res.Events, res.Rows, res.Treated, res.Control, len(res.Features), res.Propensity, res.Text.Used)
	fmt.Printf("  peak RSS of the training process alone (VmHWM, sampled every 50ms): %.0f MB, %.0f bytes per event\n",
		ownPeak, ownPeak*(1<<20)/float64(max(1, res.Events)))
	fmt.Printf("  peak RSS of its largest plugin process (VmHWM, sampled every 50ms): %.0f MB, %.0f bytes per event\n",
		peaks[1], peaks[1]*(1<<20)/float64(max(1, res.Events)))
	fmt.Printf("  peak RSS from wait4 (the training process or a plugin it waited for) %.0f MB; largest child process of this run so far %.0f MB\n",
		peak, float64(kids.Maxrss)/1024)
	fmt.Printf("  time per event: %.2f µs (wall), %.2f µs (train's own)\n", wall.Seconds()*1e6/float64(max(1, res.Events)), res.Seconds*1e6/float64(max(1, res.Events)))
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, "reading events") || strings.Contains(l, "table built") || strings.Contains(l, "texts scored") {
			fmt.Println("  log:", l)
		}
	}
	return nil
}

// readEventsBaseline reads the log as store.Events did before: XRANGE
// one page at a time, each event decoded with encoding/json, shard after
// shard (keys are the shards' streams).
func readEventsBaseline(ctx context.Context, rdb redis.UniversalClient, keys []string, page int) (int, error) {
	total := 0
	for _, key := range keys {
		n, err := readStreamBaseline(ctx, rdb, key, page)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// readStreamBaseline reads one stream of the log as readEventsBaseline.
func readStreamBaseline(ctx context.Context, rdb redis.UniversalClient, key string, page int) (int, error) {
	start, n := "-", 0
	for {
		msgs, err := rdb.XRangeN(ctx, key, start, "+", int64(page)).Result()
		if err != nil {
			return n, err
		}
		for _, m := range msgs {
			var e store.Event
			raw, _ := m.Values["e"].(string)
			if err := json.Unmarshal([]byte(raw), &e); err != nil {
				return n, fmt.Errorf("entry %s: %w", m.ID, err)
			}
			n++
		}
		if len(msgs) < page {
			return n, nil
		}
		last := msgs[len(msgs)-1].ID
		ms, seq, _ := strings.Cut(last, "-")
		k, err := strconv.ParseUint(seq, 10, 64)
		if err != nil {
			return n, fmt.Errorf("stream id %q: %w", last, err)
		}
		start = ms + "-" + strconv.FormatUint(k+1, 10)
	}
}

// row is one measured phase.
type row struct {
	name   string
	sec    float64
	heapMB float64
	note   string
	err    error
}

// measure runs fn and samples the Go heap while it runs.
func measure(name string, fn func() (string, error)) row {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	var mu sync.Mutex
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			mu.Lock()
			peak = max(peak, sample[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	start := time.Now()
	note, err := fn()
	sec := time.Since(start).Seconds()
	close(done)
	wg.Wait()
	return row{name: name, sec: sec, heapMB: float64(peak) / (1 << 20), note: note, err: err}
}

var words = []string{"quiet", "lake", "storm", "garden", "city", "music", "river", "night", "bright", "story", "market", "winter",
	"journey", "kitchen", "mountain", "festival", "ocean", "letter", "forest", "morning", "great", "terrible", "lovely", "sad"}

// simulate draws the log: receval's default simulation with enough users
// for o.events events.
func simulate(o options) ([]store.User, []store.Item, []store.Event, error) {
	cfg := receval.DefaultSimConfig()
	cfg.Items = o.items
	cfg.Users = max(1, o.events/o.items)
	sim, err := receval.Simulate(cfg, rand.NewPCG(1, 2))
	if err != nil {
		return nil, nil, nil, err
	}
	l := sim.Train
	nu := receval.SimUserFeatures
	rng := rand.New(rand.NewPCG(3, 4))
	items := make([]store.Item, len(l.Items))
	for i, id := range l.Items {
		var b strings.Builder
		for w := 0; w < 12; w++ {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		items[i] = store.Item{ID: id, Text: strings.TrimSpace(b.String()), Category: "c" + strconv.Itoa(i%10), Features: map[string]float64{}}
	}
	users := make([]store.User, len(l.Users))
	for u, id := range l.Users {
		users[u] = store.User{ID: id, Features: map[string]float64{}}
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	events := make([]store.Event, 0, o.events+o.items)
	for r := range l.Len() {
		u, i := l.User[r], l.Item[r]
		x := l.X.RawRowView(r)
		if i == 0 {
			if len(events) >= o.events {
				users = users[:u]
				break
			}
			for j := range nu {
				users[u].Features[l.FeatureNames[j]] = x[j]
			}
		}
		if u == 0 {
			for j := nu; j < len(x); j++ {
				items[i].Features[l.FeatureNames[j]] = x[j]
			}
		}
		at := t0.Add(time.Duration(r) * time.Second)
		e := store.Event{Kind: store.Exposure, User: l.Users[u], Item: l.Items[i], Time: at, Propensity: l.Propensity[r], PolicyID: "sim", Position: 1 + i%10}
		if l.Treated[r] == 0 {
			e.Arm, e.Propensity = recommend.ControlArm, 1-l.Propensity[r]
		}
		events = append(events, e)
		if l.Outcome[r] == 1 {
			events = append(events, store.Event{Kind: store.Outcome, User: e.User, Item: e.Item, Time: at.Add(time.Minute)})
		}
	}
	return users, items, events, nil
}

// importAll writes users, items and events; events go in chunks of
// 20 script calls, workers chunks at a time.
func importAll(ctx context.Context, st *store.Store, users []store.User, items []store.Item, events []store.Event, workers int) (string, error) {
	if _, err := st.PutUsers(ctx, users); err != nil {
		return "", err
	}
	if _, err := st.PutItems(ctx, items); err != nil {
		return "", err
	}
	const chunk = 10_000
	work := make(chan []store.Event)
	var added int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				// The events have random IDs, so a duplicate is a script
				// call the client retried after it had run (a timeout
				// under load): stored once, as the marks ensure.
				res, err := st.AddEventBatch(ctx, b, "")
				mu.Lock()
				added += int64(res.Written + res.Duplicates)
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	for lo := 0; lo < len(events); lo += chunk {
		work <- events[lo:min(lo+chunk, len(events))]
	}
	close(work)
	wg.Wait()
	if first != nil {
		return "", first
	}
	if added != int64(len(events)) {
		return "", fmt.Errorf("%d of %d events added", added, len(events))
	}
	return fmt.Sprintf("%d events, %.0f events/s, %d workers", added, float64(added)/time.Since(start).Seconds(), workers), nil
}

// cleanup deletes every key under prefix.
func cleanup(rdb redis.UniversalClient, prefix string) {
	_, _ = redistest.Delete(context.Background(), rdb, prefix)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// vmHWM reads the peak resident set size (MB) of process pid from
// /proc/<pid>/status.
func vmHWM(pid int) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024, err == nil
		}
	}
	return 0, false
}
