package pluginhost

import (
	"context"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// slogAdapter is an hclog.Logger that writes into a *slog.Logger, so that
// what go-plugin logs, and every line a plugin writes to its stderr, ends up
// in the host's structured log.
type slogAdapter struct {
	l     *slog.Logger
	name  string
	level hclog.Level
	args  []any
}

var _ hclog.Logger = (*slogAdapter)(nil)

func newSlogAdapter(l *slog.Logger, name string) *slogAdapter {
	return &slogAdapter{l: l, name: name, level: hclog.Debug}
}

func toSlogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace, hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (a *slogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level < a.level || level == hclog.Off {
		return
	}
	all := make([]any, 0, len(a.args)+len(args)+2)
	all = append(all, "plugin", a.name)
	all = append(all, a.args...)
	all = append(all, args...)
	// go-plugin names the executable "plugin"; the line's plugin is the
	// configured name, so the path goes under its own key.
	for i := 2; i+1 < len(all); i += 2 {
		if k, ok := all[i].(string); ok && k == "plugin" {
			all[i] = "executable"
		}
	}
	a.l.Log(context.Background(), toSlogLevel(level), msg, all...)
}

func (a *slogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *slogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *slogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *slogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *slogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }
func (a *slogAdapter) IsTrace() bool                 { return a.level <= hclog.Trace }
func (a *slogAdapter) IsDebug() bool                 { return a.level <= hclog.Debug }
func (a *slogAdapter) IsInfo() bool                  { return a.level <= hclog.Info }
func (a *slogAdapter) IsWarn() bool                  { return a.level <= hclog.Warn }
func (a *slogAdapter) IsError() bool                 { return a.level <= hclog.Error }
func (a *slogAdapter) ImpliedArgs() []any            { return a.args }
func (a *slogAdapter) Name() string                  { return a.name }
func (a *slogAdapter) SetLevel(level hclog.Level)    { a.level = level }
func (a *slogAdapter) GetLevel() hclog.Level         { return a.level }

func (a *slogAdapter) With(args ...any) hclog.Logger {
	b := *a
	b.args = append(append([]any{}, a.args...), args...)
	return &b
}

func (a *slogAdapter) Named(name string) hclog.Logger {
	b := *a
	b.name = a.name + "." + name
	return &b
}

func (a *slogAdapter) ResetNamed(name string) hclog.Logger {
	b := *a
	b.name = name
	return &b
}

func (a *slogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *slogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		a.Info(string(p))
		return len(p), nil
	})
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
