package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/progress"
	"github.com/causalrec/causalrec/host/records"
	"github.com/causalrec/causalrec/host/store"
)

// runImport loads items, events or users from CSV or JSONL files into the
// Redis store.
func runImport(ctx context.Context, s stdio, args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(s.err)
	redisURL := fs.String("redis", "", "Redis URL to import into (redis://, rediss://, redis+sentinel://, redis+cluster://); default REDIS_URL; one of them is required unless --embedded")
	embedded := fs.Bool("embedded", false, "import into an embedded in-memory Redis that is discarded when the command ends (to check a file's format)")
	prefix := fs.String("prefix", store.DefaultOptions().Prefix, "key prefix")
	shards := fs.Int("event-shards", store.DefaultEventShards, "number of event shards of the store (fixed when a store is created; must match the store's, as serve's event_shards)")
	kindFlag := fs.String("kind", "", "what the files hold: items, events or users (required)")
	formatFlag := fs.String("format", "auto", "file format: csv, jsonl or auto (by extension, else by content)")
	onErr := fs.String("on-error", "reject", "on a malformed line or one that breaks the limits: reject (write nothing, exit 1) or skip (write the good lines, list the bad ones on stderr)")
	configFile := fs.String("config", "", "JSON config file whose \"limits\" every record is checked against, as the API checks them (docs/config.md); default: the default limits")
	fs.Usage = func() {
		fmt.Fprintln(s.err, "Usage: causalrec import --kind items|events|users --redis URL|--embedded [--prefix P] [--event-shards N] [--format csv|jsonl|auto] [--on-error skip|reject] [--config FILE] FILE... ('-' reads stdin)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErr("%v", err)
	}
	if *kindFlag == "" {
		return usageErr("--kind is required (items, events or users)")
	}
	kind, err := records.ParseRecordKind(*kindFlag)
	if err != nil {
		return usageErr("%v", err)
	}
	format, err := records.ParseFormat(*formatFlag)
	if err != nil {
		return usageErr("%v", err)
	}
	var mode records.OnError
	switch strings.ToLower(*onErr) {
	case "reject":
		mode = records.Reject
	case "skip":
		mode = records.Skip
	default:
		return usageErr("--on-error %q: want skip or reject", *onErr)
	}
	files := fs.Args()
	if len(files) == 0 {
		return usageErr("no input files (use - for stdin)")
	}
	cfg, err := config.Load(*configFile)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return usageErr("--config: %v", err)
	}
	check := cfg.Limits.Host()

	url := *redisURL
	switch {
	case url != "" && *embedded:
		return usageErr("--redis and --embedded exclude each other")
	case url == "" && !*embedded && os.Getenv("REDIS_URL") != "":
		// As every command that opens the store: --redis, then REDIS_URL.
		url = os.Getenv("REDIS_URL")
	case url == "" && !*embedded:
		return usageErr("name the Redis to import into with --redis URL (or REDIS_URL), or give --embedded to import into a throw-away in-memory store that is discarded when the command ends")
	}
	var st *store.Store
	if *embedded {
		rdb, stop, err := store.StartEmbedded(s.logger)
		if err != nil {
			return err
		}
		defer stop()
		fmt.Fprintln(s.err, "--embedded: importing into an in-memory Redis; nothing is kept after this command exits.")
		if st, err = store.New(rdb, store.Options{Prefix: *prefix, EventShards: *shards}); err != nil {
			return usageErr("%v", err)
		}
	} else {
		rdb, err := store.Connect(ctx, url)
		if err != nil {
			return usageErr("--redis: %v", err)
		}
		defer rdb.Close()
		if st, err = store.New(rdb, store.Options{Prefix: *prefix, EventShards: *shards}); err != nil {
			return usageErr("%v", err)
		}
		if err := st.Ping(ctx); err != nil {
			return err
		}
		if err := st.CheckLayout(ctx); err != nil {
			return err
		}
	}

	var size int64 // bytes to read, 0 when unknown (stdin)
	for _, name := range files {
		fi, err := os.Stat(name)
		if name == "-" || err != nil || !fi.Mode().IsRegular() {
			size = 0
			break
		}
		size += fi.Size()
	}
	task := startTask(s, "import "+string(kind), size, progress.Options{Unit: "B", Delay: time.Second})
	var total records.ImportSummary
	if mode == records.Reject {
		err = importReject(ctx, s, st, files, kind, format, check, &total, task)
	} else {
		err = importSkip(ctx, s, st, files, kind, format, check, &total, task)
	}
	task.Done()
	fmt.Fprintf(s.out, "import %s: read %d, written %d, skipped %d, duplicates %d\n",
		kind, total.Read, total.Written, total.Skipped, total.Duplicates)
	return err
}

// importReject parses every file before writing anything; one bad line in
// any file means nothing is written.
func importReject(ctx context.Context, s stdio, st *store.Store, files []string, kind records.RecordKind, format records.Format, check records.Checker, total *records.ImportSummary, task *progress.Task) error {
	all := records.Records{Kind: kind}
	bad := 0
	for _, name := range files {
		var recs records.Records
		var lineErrs []records.LineError
		task.Describe("reading " + displayName(name))
		err := withInput(s, name, func(r io.Reader) error {
			var err error
			recs, lineErrs, err = records.ParseChecked(task.Reader(r), kind, fileFormat(name, format), check)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w; nothing written", displayName(name), err)
		}
		for _, le := range lineErrs {
			fmt.Fprintf(s.err, "%s:%d: %v\n", displayName(name), le.Line, le.Err)
		}
		bad += len(lineErrs)
		total.Read += recs.Len() + len(lineErrs)
		total.Skipped += len(lineErrs)
		all.Append(recs)
	}
	if bad > 0 {
		return fmt.Errorf("%w: %d bad line(s); nothing written (use --on-error skip to write the good lines)", records.ErrRejected, bad)
	}
	task.Describe(fmt.Sprintf("writing %d records", all.Len()))
	sum, err := records.Write(ctx, st, all)
	total.Written, total.Duplicates = sum.Written, sum.Duplicates
	return err
}

// importSkip streams each file into the store, listing bad lines on stderr.
func importSkip(ctx context.Context, s stdio, st *store.Store, files []string, kind records.RecordKind, format records.Format, check records.Checker, total *records.ImportSummary, task *progress.Task) error {
	for _, name := range files {
		task.Describe(displayName(name))
		err := withInput(s, name, func(r io.Reader) error {
			sum, err := records.Import(ctx, st, task.Reader(r), records.ImportOptions{Kind: kind, Format: fileFormat(name, format), OnError: records.Skip, Check: check})
			total.Add(sum)
			for _, le := range sum.Bad {
				fmt.Fprintf(s.err, "%s:%d: %v (skipped)\n", displayName(name), le.Line, le.Err)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", displayName(name), err)
		}
	}
	return nil
}

// withInput calls fn with the named file, or stdin for "-".
func withInput(s stdio, name string, fn func(io.Reader) error) error {
	if name == "-" {
		return fn(s.in)
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return fn(f)
}

// fileFormat picks the format of a file under --format auto from its
// extension; unknown extensions and stdin are sniffed by content.
func fileFormat(name string, f records.Format) records.Format {
	if f != records.FormatAuto {
		return f
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return records.FormatCSV
	case ".jsonl", ".ndjson", ".json":
		return records.FormatJSONL
	}
	return records.FormatAuto
}

func displayName(name string) string {
	if name == "-" {
		return "<stdin>"
	}
	return name
}
