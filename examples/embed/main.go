// Command embed is a Go backend that runs causalrec in-process with
// package host/causalrec: it ingests a small logged experiment, trains an
// uplift model and asks for recommendations, with no causalrec server and
// no HTTP in between.
//
//	go run ./examples/embed --redis redis://127.0.0.1:6379
//
// The experiment: a shop shows one of three items to each user or holds
// the user out (the control arm). Item "umbrella" makes users with the
// feature rainy = 1 buy much more often and does nothing for the others;
// "sunglasses" helps everyone a little; "socks" helps no one. An uplift
// model should recommend the umbrella to rainy users and the sunglasses
// to the others.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/causalrec/causalrec/host/api"
	"github.com/causalrec/causalrec/host/causalrec"
	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

func main() {
	// The built-in plugins run as processes of this executable: such a
	// process serves its plugin and does nothing else.
	if causalrec.ServePlugin() {
		return
	}
	redisURL := flag.String("redis", os.Getenv("REDIS_URL"), "Redis URL (default $REDIS_URL; empty: an in-memory Redis that does not persist)")
	prefix := flag.String("prefix", "causalrec-embed:", "prefix of every Redis key")
	flag.Parse()
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix = *redisURL, *prefix
	cfg.EstimatorParams = map[string]string{"base": "gbt"}
	if err := run(context.Background(), cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

// run opens causalrec with cfg, ingests the experiment, trains and prints
// the recommendations of two users.
func run(ctx context.Context, cfg config.Config, out io.Writer) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := causalrec.Open(ctx, causalrec.Config{Config: cfg, Logger: logger})
	if err != nil {
		return err
	}
	defer h.Close()

	n, err := h.Ingest(ctx, experiment(3000, 1))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ingested %d items, %d users, %d events\n", n.Items.Written, n.Users.Written, n.Events.Written)

	// The effect depends on the user and the item together, which a
	// linear model cannot express: the t-learner fits boosted trees.
	res, err := h.Train(ctx, api.TrainRequest{Ranker: recommend.RankUplift})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "trained %s on %d rows (%d treated, %d control)\n", res.Ranker, res.Rows, res.Treated, res.Control)

	// Two new users, one rainy and one not.
	if _, err := h.Ingest(ctx, causalrec.Batch{Users: []store.User{
		{ID: "new-rainy", Features: map[string]float64{"rainy": 1}},
		{ID: "new-sunny", Features: map[string]float64{"rainy": 0}},
	}}); err != nil {
		return err
	}
	for _, user := range []string{"new-rainy", "new-sunny"} {
		resp, err := h.Recommend(ctx, recommend.Request{User: user, K: 3})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s (%s):", user, resp.Ranker)
		for _, it := range resp.Items {
			fmt.Fprintf(out, " %s %+.2f", it.Item, *it.Uplift)
		}
		fmt.Fprintln(out)
	}
	return nil
}

// items and their effect on the purchase probability: effect[item][rainy].
var (
	items = []store.Item{
		{ID: "umbrella", Text: "A sturdy umbrella for the rainy season.", Category: "rain", Features: map[string]float64{"for_rain": 1}},
		{ID: "sunglasses", Text: "Light sunglasses with a case.", Category: "sun", Features: map[string]float64{"for_sun": 1}},
		{ID: "socks", Text: "Plain grey socks, three pairs.", Category: "basics"},
	}
	effect = map[string][2]float64{"umbrella": {0, 0.30}, "sunglasses": {0.10, 0.10}, "socks": {0, 0}}
)

// experiment logs n users: each is shown one item at random with
// propensity 1/4, or held out (arm "control", propensity 1/4), and buys
// with probability 0.1 plus the effect of what was shown.
func experiment(n int, seed uint64) causalrec.Batch {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := causalrec.Batch{Items: items}
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for u := range n {
		id := fmt.Sprintf("u%d", u)
		rainy := rng.IntN(2)
		b.Users = append(b.Users, store.User{ID: id, Features: map[string]float64{"rainy": float64(rainy)}})
		at := t0 // one campaign: every exposure at its start
		arm := rng.IntN(len(items) + 1)
		if arm == len(items) {
			// Held out from every item: a control row for each.
			for _, it := range items {
				b.Events = append(b.Events, store.Event{Kind: store.Exposure, User: id, Item: it.ID, Time: at, Arm: recommend.ControlArm, Propensity: 0.25})
				if rng.Float64() < 0.1 {
					b.Events = append(b.Events, store.Event{Kind: store.Outcome, User: id, Item: it.ID, Time: at.Add(time.Hour)})
				}
			}
			continue
		}
		it := items[arm].ID
		b.Events = append(b.Events, store.Event{Kind: store.Exposure, User: id, Item: it, Time: at, Propensity: 0.25})
		if rng.Float64() < 0.1+effect[it][rainy] {
			b.Events = append(b.Events, store.Event{Kind: store.Outcome, User: id, Item: it, Time: at.Add(time.Hour)})
		}
	}
	return b
}
