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
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// stdio is what every subcommand reads from and writes to.
type stdio struct {
	in     io.Reader
	out    io.Writer
	err    io.Writer
	logger *slog.Logger
	// progressEvery, when positive, shows every progress task at once and
	// redraws it at this interval (tests; see startTask).
	progressEvery time.Duration
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
		{"check", "report stored items, users and events that break the configured limits", runCheck},
		{"import", "bulk-import items, events or users from CSV or JSONL into Redis", runImport},
		{"migrate", "move a store of an earlier release into the sharded event layout", runMigrate},
		{"uplift", "check balance, fit, predict, evaluate and compare uplift models on CSV files", runUplift},
		{"split", "split a CSV file at random into training and test files (stratified on request)", runSplit},
		{"plugins", "list the plugins (built-in and configured) and their health", runPlugins},
		{"lm", "train, score and query n-gram language models", runLM},
		{"sentiment", "score or train sentiment models", runSentiment},
		{"rec", "simulate recommendation logs and evaluate recommenders by causal effect", runRec},
		{"ope", "estimate a policy's value from logged bandit feedback (off-policy evaluation)", runOPE},
		{"experiment", "create, list, stop and report online experiments of a running serve", runExperiment},
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
		name := c.name
		if se := (*subcommandError)(nil); errors.As(err, &se) {
			name = se.name
		}
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(s.err, "causalrec %s: %v\n", name, err)
			return 2
		default:
			fmt.Fprintf(s.err, "causalrec %s: %v\n", name, err)
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

// subcommand is one subcommand of a command group such as uplift.
type subcommand struct {
	name    string
	summary string
	run     func(ctx context.Context, s stdio, args []string) error
}

// runGroup runs the subcommand of group named by args[0]. Help (-h,
// --help, help) lists the subcommands on standard output.
func runGroup(ctx context.Context, s stdio, group, about string, subs []subcommand, args []string) error {
	names := make([]string, len(subs))
	for i, c := range subs {
		names[i] = c.name
	}
	want := strings.Join(names, ", ")
	if len(args) == 0 {
		groupUsage(s.err, group, about, subs)
		return usageErr("want a subcommand: %s", want)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		groupUsage(s.out, group, about, subs)
		return nil
	}
	for _, c := range subs {
		if c.name == args[0] {
			if err := c.run(ctx, s, args[1:]); err != nil {
				return &subcommandError{name: group + " " + c.name, err: err}
			}
			return nil
		}
	}
	return usageErr("unknown subcommand %q (want %s; causalrec %s --help lists them)", args[0], want, group)
}

// subcommandError names the subcommand that failed, for the message.
type subcommandError struct {
	name string
	err  error
}

func (e *subcommandError) Error() string { return e.err.Error() }
func (e *subcommandError) Unwrap() error { return e.err }

func groupUsage(w io.Writer, group, about string, subs []subcommand) {
	fmt.Fprintf(w, "Usage: causalrec %s <subcommand> [flags]\n\n%s\n\nSubcommands:\n", group, about)
	for _, c := range subs {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun causalrec %s <subcommand> --help for its flags.\n", group)
}

// usageErr wraps a message as a usage error.
func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}
