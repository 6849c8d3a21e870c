// Command causalrec ranks recommendations by their causal effect. It is the
// host process: it serves the API, drives estimator and text-scorer plugins,
// and offers the offline tools (uplift, lm, sentiment, import, demo).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// stdio is what every subcommand reads from and writes to.
type stdio struct {
	in     io.Reader
	out    io.Writer
	err    io.Writer
	logger *slog.Logger
}

// command is one subcommand of the CLI.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, io stdio, args []string) error
}

func commands() []command {
	return []command{
		{"demo", "run causalrec end to end on the bundled Hillstrom experiment", runDemo},
		{"serve", "serve the HTTP and gRPC API over Redis with the plugins", runServe},
		{"train", "train the serving uplift model from the events in Redis", runTrain},
		{"import", "bulk-import items, events or users from CSV or JSONL into Redis", runImport},
		{"uplift", "fit, predict and evaluate uplift models on CSV files", runUplift},
		{"plugins", "list the plugins (built-in and configured) and their health", runPlugins},
		{"lm", "train, score and query n-gram language models", runLM},
		{"sentiment", "score or train sentiment models", runSentiment},
		{"rec", "simulate recommendation logs and evaluate recommenders by causal effect", runRec},
		{"ope", "estimate a policy's value from logged bandit feedback (off-policy evaluation)", runOPE},
	}
}

// redisLogger routes go-redis's internal log lines into slog.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// errUsage marks a usage error: the message is printed with the help text
// and the exit code is 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	s := stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}
	s.logger = slog.New(slog.NewTextHandler(s.err, &slog.HandlerOptions{Level: logLevel(os.Args[1:])}))
	// go-redis logs connection retries through a process-wide logger; send
	// them to ours at debug level, since the store reports outages itself.
	redis.SetLogger(redisLogger{s.logger})
	code := run(ctx, os.Args[1:], s)
	stop()
	os.Exit(code)
}

// run executes the CLI with args and returns the process exit code.
func run(ctx context.Context, args []string, s stdio) int {
	if s.logger == nil {
		s.logger = slog.New(slog.NewTextHandler(s.err, &slog.HandlerOptions{Level: logLevel(args)}))
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(s.out)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, s, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(s.err, "causalrec %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(s.err, "causalrec %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(s.err, "causalrec: unknown command %q (run causalrec --help)\n", args[0])
	return 2
}

// logLevel is CAUSALREC_LOG_LEVEL (debug, info, warn or error) when set;
// otherwise info for serve and train (which report progress) and warn for
// the other commands.
func logLevel(args []string) slog.Level {
	var l slog.Level
	if v := os.Getenv("CAUSALREC_LOG_LEVEL"); v != "" && l.UnmarshalText([]byte(v)) == nil {
		return l
	}
	if len(args) > 0 && (args[0] == "serve" || args[0] == "train") {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "causalrec ranks recommendations by their causal effect (uplift).")
	fmt.Fprintln(w, "\nUsage: causalrec <command> [flags]\n\nCommands:")
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun causalrec <command> --help for the flags of a command.")
}

// usageErr wraps a message as a usage error.
func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}
