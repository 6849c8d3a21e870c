// Command serve measures POST /v1/recommend of a running causalrec under
// load: an open loop at a fixed offered rate (latency counted from each
// request's scheduled start, so a stall is not hidden) and a closed loop of
// N clients (saturation throughput). In the same run it measures
// GET /v1/health (one Redis PING) as the floor, and reports ratios.
//
// It starts "causalrec serve" itself against the Redis at REDIS_URL under a
// fresh key prefix (deleted at the end), loads a simulated catalogue and
// log, trains the serving model and warms the text-score cache:
//
//	make build && go run ./bench/serve -causalrec bin/causalrec
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
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
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
}

func run() error {
	var o options
	flag.StringVar(&o.bin, "causalrec", "bin/causalrec", "the causalrec binary (make build)")
	flag.StringVar(&o.redisURL, "redis", os.Getenv("REDIS_URL"), "Redis URL (default $REDIS_URL, else redis://127.0.0.1:6379)")
	flag.IntVar(&o.users, "users", 2000, "simulated users")
	flag.IntVar(&o.items, "items", 500, "simulated items")
	flag.IntVar(&o.candidates, "candidates", 200, "candidates per request")
	flag.Float64Var(&o.rate, "rate", 500, "offered load of the open loop, requests per second")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measurement")
	flag.IntVar(&o.clients, "clients", 16, "clients of the closed loop")
	flag.Parse()
	if o.redisURL == "" {
		o.redisURL = "redis://127.0.0.1:6379"
	}
	prefix := fmt.Sprintf("causalrec-bench:%d:", time.Now().UnixNano())
	defer cleanup(o.redisURL, prefix)

	port, err := freePort()
	if err != nil {
		return err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(o.bin, "serve", "--redis", o.redisURL, "--prefix", prefix, "--http", fmt.Sprintf("127.0.0.1:%d", port), "--grpc", "off")
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w (run make build first)", o.bin, err)
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	if err := waitHealthy(base, 30*time.Second); err != nil {
		return err
	}
	items, err := load(base, o)
	if err != nil {
		return err
	}
	fmt.Printf("setup: %d users, %d items, trained; %d candidates per request; GOMAXPROCS of the server: its default\n\n", o.users, o.items, o.candidates)

	rng := rand.New(rand.NewPCG(7, 7))
	recommendBody := func() []byte {
		c := make([]string, o.candidates)
		for i, j := range rng.Perm(len(items))[:o.candidates] {
			c[i] = items[j]
		}
		b, _ := json.Marshal(map[string]any{"user": fmt.Sprintf("u%d", rng.IntN(o.users)), "candidates": c, "k": 10})
		return b
	}
	bodies := make([][]byte, 4096)
	for i := range bodies {
		bodies[i] = recommendBody()
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}

	// Warm up connections, the model cache and the plugins.
	closedLoop(client, base+"/v1/recommend", bodies, o.clients, 2*time.Second)

	fmt.Printf("open loop at %.0f requests/s for %v (latency from the scheduled start):\n", o.rate, o.duration)
	health := openLoop(client, "GET", base+"/v1/health", nil, o.rate, o.duration)
	rec := openLoop(client, "POST", base+"/v1/recommend", bodies, o.rate, o.duration)
	fmt.Printf("  %-28s %s\n  %-28s %s\n", "GET /v1/health (floor)", health, "POST /v1/recommend", rec)
	fmt.Printf("  p99 ratio recommend/floor: %.2f\n\n", rec.p(0.99).Seconds()/health.p(0.99).Seconds())

	fmt.Printf("closed loop, %d clients, %v:\n", o.clients, o.duration)
	hc := closedLoop(client, base+"/v1/health", nil, o.clients, o.duration)
	rc := closedLoop(client, base+"/v1/recommend", bodies, o.clients, o.duration)
	fmt.Printf("  %-28s %s\n  %-28s %s\n", "GET /v1/health (floor)", hc, "POST /v1/recommend", rc)
	fmt.Printf("  recommend throughput / 350 (Gorse, published, same machine class): %.1fx\n", rc.rate()/350)
	rt, err := roundTrips(client, base, bodies[0])
	if err == nil {
		fmt.Printf("\nRedis round trips per recommend request: %d\n", rt)
	}
	return nil
}

// result holds the latencies of one measurement.
type result struct {
	lat     []time.Duration
	errors  int64
	elapsed time.Duration
}

func (r result) p(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func (r result) rate() float64 { return float64(len(r.lat)) / r.elapsed.Seconds() }

func (r result) String() string {
	return fmt.Sprintf("n=%d errors=%d rate=%.0f/s p50=%v p99=%v max=%v", len(r.lat), r.errors, r.rate(),
		r.p(0.5).Round(time.Microsecond), r.p(0.99).Round(time.Microsecond), r.p(1).Round(time.Microsecond))
}

func do(client *http.Client, method, url string, body []byte) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	return nil
}

// openLoop sends requests at the given rate for d, each from its own
// goroutine at its scheduled time, bounded in count by rate·d.
func openLoop(client *http.Client, method, url string, bodies [][]byte, rate float64, d time.Duration) result {
	n := int(rate * d.Seconds())
	lat := make([]time.Duration, n)
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		time.Sleep(time.Until(at))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b []byte
			if bodies != nil {
				b = bodies[i%len(bodies)]
			}
			if err := do(client, method, url, b); err != nil {
				errs.Add(1)
			}
			lat[i] = time.Since(at)
		}()
	}
	wg.Wait()
	return result{lat: lat, errors: errs.Load(), elapsed: time.Since(start)}
}

// closedLoop runs clients that send back to back for d.
func closedLoop(client *http.Client, url string, bodies [][]byte, clients int, d time.Duration) result {
	var mu sync.Mutex
	var all []time.Duration
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := c; time.Now().Before(deadline); i += clients {
				t := time.Now()
				var err error
				if bodies == nil {
					err = do(client, "GET", url, nil)
				} else {
					err = do(client, "POST", url, bodies[i%len(bodies)])
				}
				if err != nil {
					errs.Add(1)
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return result{lat: all, errors: errs.Load(), elapsed: time.Since(start)}
}

func roundTrips(client *http.Client, base string, body []byte) (int, error) {
	resp, err := client.Post(base+"/v1/recommend", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		RedisRoundTrips int    `json:"redis_round_trips"`
		Ranker          string `json:"ranker"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, err
	}
	if out.Ranker == "popularity" {
		return 0, errors.New("the list fell back to popularity")
	}
	return out.RedisRoundTrips, nil
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
	if resp.StatusCode != 200 {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, body)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

var words = []string{"quiet", "lake", "storm", "garden", "city", "music", "river", "night", "bright", "story", "market", "winter",
	"journey", "kitchen", "mountain", "festival", "ocean", "letter", "forest", "morning", "great", "terrible", "lovely", "sad"}

// load ingests users, items with texts, a simulated log with hold-outs,
// trains the serving model and returns the item ids.
func load(base string, o options) ([]string, error) {
	rng := rand.New(rand.NewPCG(1, 1))
	var items []map[string]any
	var ids []string
	for i := 0; i < o.items; i++ {
		text := ""
		for w := 0; w < 12; w++ {
			text += words[rng.IntN(len(words))] + " "
		}
		id := fmt.Sprintf("i%d", i)
		ids = append(ids, id)
		items = append(items, map[string]any{"id": id, "text": text, "category": fmt.Sprintf("c%d", i%10),
			"features": map[string]float64{"quality": rng.Float64(), "length": float64(len(text))}})
	}
	if err := post(base, "/v1/items", map[string]any{"items": items}, nil); err != nil {
		return nil, err
	}
	var users []map[string]any
	for u := 0; u < o.users; u++ {
		users = append(users, map[string]any{"id": fmt.Sprintf("u%d", u), "features": map[string]float64{"age": float64(18 + rng.IntN(50)), "activity": rng.Float64()}})
		if len(users) == 1000 || u == o.users-1 {
			if err := post(base, "/v1/users", map[string]any{"users": users}, nil); err != nil {
				return nil, err
			}
			users = users[:0]
		}
	}
	var events []map[string]any
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	flush := func() error {
		if len(events) == 0 {
			return nil
		}
		err := post(base, "/v1/events", map[string]any{"events": events}, nil)
		events = events[:0]
		return err
	}
	for u := 0; u < o.users; u++ {
		for k := 0; k < 10; k++ {
			it := ids[rng.IntN(len(ids))]
			arm := "treated"
			if rng.Float64() < 0.3 {
				arm = "control"
			}
			events = append(events, map[string]any{"kind": "exposure", "user": fmt.Sprintf("u%d", u), "item": it, "arm": arm, "time": t0})
			p := 0.05
			if arm == "treated" {
				p += 0.1
			}
			if rng.Float64() < p {
				events = append(events, map[string]any{"kind": "outcome", "user": fmt.Sprintf("u%d", u), "item": it, "time": t0.Add(time.Hour)})
			}
		}
		if len(events) >= 2000 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if err := post(base, "/v1/train", struct{}{}, nil); err != nil {
		return nil, err
	}
	return ids, nil
}

func waitHealthy(base string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/v1/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
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
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		c.Unlink(ctx, iter.Val())
	}
}
