package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/causalrec/causalrec/host/progress"
	"github.com/causalrec/causalrec/host/store"
)

// runMigrate moves a store of an earlier release (every event key under
// one hash tag) into the sharded layout; see store.Migrate.
func runMigrate(ctx context.Context, s stdio, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(s.err)
	redisURL := fs.String("redis", "", "Redis URL of the store (redis://, rediss://, redis+sentinel://, redis+cluster://); default REDIS_URL; one of them is required")
	prefix := fs.String("prefix", store.DefaultOptions().Prefix, "key prefix")
	shards := fs.Int("event-shards", store.DefaultEventShards, "number of event shards to move the events into (serve's event_shards)")
	dryRun := fs.Bool("dry-run", false, "read the store and say what would be moved, writing nothing")
	fs.Usage = func() {
		fmt.Fprintln(s.err, "Usage: causalrec migrate --redis URL [--prefix P] [--event-shards N] [--dry-run]")
		fmt.Fprintln(s.err, "Moves the events of a store written by a release before the sharded layout into event shards.")
		fmt.Fprintln(s.err, "Stop every process using the store first. It can be run again: it resumes an interrupted run and does nothing on a migrated store.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErr("%v", err)
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected arguments %q", fs.Args())
	}
	url := *redisURL
	if url == "" {
		url = os.Getenv("REDIS_URL")
	}
	if url == "" {
		return usageErr("name the Redis of the store with --redis URL (or REDIS_URL)")
	}
	rdb, err := store.Connect(ctx, url)
	if err != nil {
		return usageErr("--redis: %v", err)
	}
	defer rdb.Close()
	opts := store.DefaultOptions()
	opts.Prefix, opts.EventShards = *prefix, *shards
	st, err := store.New(rdb, opts)
	if err != nil {
		return usageErr("%v", err)
	}
	if err := st.Ping(ctx); err != nil {
		return err
	}
	label := "migrate"
	if *dryRun {
		label = "migrate (dry run)"
	}
	task := startTask(s, label, 0, progress.Options{Unit: "events", Delay: time.Second})
	res, err := st.Migrate(ctx, store.MigrateOptions{DryRun: *dryRun, Progress: task.Report})
	task.Done()
	if err != nil {
		return fmt.Errorf("migrate: %w (run it again to resume)", err)
	}
	switch {
	case res.Nothing:
		fmt.Fprintf(s.out, "migrate: no events of the earlier layout under prefix %q; the store is in the sharded layout (%d event shards)\n", *prefix, st.EventShards())
	case *dryRun:
		fmt.Fprintf(s.out, "migrate (dry run): would move %d events (%d idempotency marks in force), %d user histories and the counts of %d items into %d event shards; nothing written\n",
			res.Events, res.Marks, res.Histories, res.Counts, st.EventShards())
	default:
		fmt.Fprintf(s.out, "migrate: moved %d events (%d copied by this run, %d idempotency marks in force), %d user histories and the counts of %d items into %d event shards; the earlier keys are deleted\n",
			res.Events, res.Copied, res.Marks, res.Histories, res.Counts, st.EventShards())
	}
	return nil
}
