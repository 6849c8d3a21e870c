package main

import (
	"context"
	"fmt"
	"time"

	"github.com/causalrec/causalrec/host/store"
)

// runCheck reads every item, user and event stored in Redis and reports
// those that break the configured limits (config "limits"), such as data
// written before the limits were set or tightened.
func runCheck(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "check", "[flags]",
		"Reads every item, user and event stored in Redis and reports those that break the schema and\n"+
			"value limits of the config (\"limits\", docs/config.md): too many features, overlong or invalid\n"+
			"IDs and names, values out of range, event times outside the window around now, unknown arms,\n"+
			"propensities under the floor, catalogues with too many feature names. Exits 1 when any does, and\n"+
			"when the store is in another layout than the config's (event_shards, or an unmigrated store).")
	hf := addHostFlags(fs, "refused")
	show := fs.Int("show", 20, "list at most this many problems of each kind (items, users, events)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := hf.load()
	if err != nil {
		return usageErr("%v", err)
	}
	if cfg.RedisURL == "" {
		return usageErr("check needs the Redis to check: set --redis or REDIS_URL")
	}
	rdb, err := store.Connect(ctx, cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	opts := store.DefaultOptions()
	opts.Prefix, opts.EventShards = cfg.Prefix, cfg.EventShards
	st, err := store.New(rdb, opts)
	if err != nil {
		return err
	}
	// A store in another layout (another shard count, or events of an
	// earlier release not yet migrated) would read as empty: say so.
	if err := st.CheckLayout(ctx); err != nil {
		return err
	}
	l := cfg.Limits.Host()
	r, err := l.Scan(ctx, st, time.Now(), *show)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "checked %d items (%d distinct feature names), %d users (%d distinct feature names) and %d events under the prefix %q\n",
		r.Items, r.ItemFeatures, r.Users, r.UserFeatures, r.Events, cfg.Prefix)
	fmt.Fprintf(s.out, "breaking the limits: %d items, %d users, %d events\n", r.BadItems, r.BadUsers, r.BadEvents)
	for _, p := range r.Problems {
		fmt.Fprintf(s.out, "  %s\n", p)
	}
	if n := r.Bad(l); n > 0 {
		return fmt.Errorf("%d problems with the stored data (see above)", n)
	}
	fmt.Fprintln(s.out, "all stored data is within the limits")
	return nil
}
