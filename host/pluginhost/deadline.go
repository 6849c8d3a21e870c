package pluginhost

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/causalrec/causalrec/proto/causalrec/plugin/v1"
)

// Deadlines and outlier ejection, after Envoy's outlier detection: every
// call to a plugin has a deadline by its kind, set on the gRPC connection
// to the plugin (so each chunk of a large call has its own), and the health
// ping has one too. A plugin that misses Options.EjectAfter deadlines in a
// row (calls other than Fit, and pings) is ejected: marked down at once, so
// calls fail fast and callers fall back as for a crash, killed (SIGKILL: a
// hung process would not shut down) and restarted with backoff. Pings
// missed while a fit runs in the process do not count: a process busy
// fitting (receiving millions of rows, collecting a heap of gigabytes) may
// answer them late, and the fit has a deadline of its own.

// Timeouts are the deadlines of the calls to a plugin, by kind.
type Timeouts struct {
	// Info bounds Info calls.
	Info time.Duration
	// Predict bounds each Predict call (each chunk of rows); keep it well
	// below the API's request timeout, so that a hung estimator leaves
	// time to fall back.
	Predict time.Duration
	// Load bounds a Predict call that carries the model's bytes, which
	// the plugin decodes first: the first calls with a model after the
	// plugin started.
	Load time.Duration
	// Score bounds each Score call (each chunk of up to 512 texts).
	Score time.Duration
	// Fit bounds a Fit (or FitStream); a fit cut by its deadline is
	// cancelled in the plugin.
	Fit time.Duration
	// Ping bounds the health ping.
	Ping time.Duration
}

// DefaultTimeouts returns the default deadlines: Info 5 s, Predict 300 ms,
// Load 10 s, Score 2 s, Fit 30 min, Ping 500 ms.
func DefaultTimeouts() Timeouts {
	return Timeouts{Info: 5 * time.Second, Predict: 300 * time.Millisecond, Load: 10 * time.Second, Score: 2 * time.Second,
		Fit: 30 * time.Minute, Ping: 500 * time.Millisecond}
}

func (t Timeouts) withDefaults() Timeouts {
	def := DefaultTimeouts()
	for _, f := range []struct{ v, d *time.Duration }{{&t.Info, &def.Info}, {&t.Predict, &def.Predict}, {&t.Load, &def.Load}, {&t.Score, &def.Score}, {&t.Fit, &def.Fit}, {&t.Ping, &def.Ping}} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	return t
}

// healthCheck is the method of the health ping.
const healthCheck = "/grpc.health.v1.Health/Check"

// shutdownTimeout bounds go-plugin's request that a plugin shut down; a
// plugin that does not answer is killed.
const shutdownTimeout = time.Second

// deadline returns the deadline of a unary call of the plugin connection
// and whether a missed one counts towards ejection. Methods of go-plugin's
// own services but Shutdown (the stdio and broker streams) get none.
func (t Timeouts) deadline(method string, req any) (time.Duration, bool) {
	switch {
	case method == healthCheck:
		return t.Ping, true
	case method == "/plugin.GRPCController/Shutdown":
		return shutdownTimeout, false
	case !strings.HasPrefix(method, "/causalrec.plugin."):
		return 0, false
	case strings.HasSuffix(method, "/Predict"):
		if pr, ok := req.(*pb.PredictRequest); ok && len(pr.GetModelBytes()) > 0 {
			return t.Load, true
		}
		return t.Predict, true
	case strings.HasSuffix(method, "/Score"):
		return t.Score, true
	case strings.HasSuffix(method, "/Info"):
		return t.Info, true
	}
	return 0, false
}

// unaryDeadline bounds the unary calls to the process of launch gen and
// tells the plugin of missed deadlines and successes.
func (p *managed) unaryDeadline(gen uint64) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		d, counts := p.opts.Timeouts.deadline(method, req)
		if d <= 0 {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		cctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		err := invoker(cctx, method, req, reply, cc, opts...)
		// The deadline is missed when it fired, not the caller's.
		missed := err != nil && ctx.Err() == nil && cctx.Err() == context.DeadlineExceeded
		if counts {
			p.observe(gen, err == nil, missed, method == healthCheck)
		}
		if missed {
			return status.Errorf(codes.DeadlineExceeded, "plugin %q: %s did not answer within %v", p.spec.Name, method[strings.LastIndex(method, "/")+1:], d)
		}
		return err
	}
}

// streamDeadline bounds the Fit and FitStream streams to the process of
// launch gen by the Fit deadline. A missed one does not count towards
// ejection: a long fit is busy, not hung. The fit counts as in flight
// until its deadline is released (its answer came, or it ended).
func (p *managed) streamDeadline(gen uint64) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		fit := strings.HasSuffix(method, "/Fit") || strings.HasSuffix(method, "/FitStream")
		if !strings.HasPrefix(method, "/causalrec.plugin.") || !fit {
			return streamer(ctx, desc, cc, method, opts...)
		}
		cctx, cancel := context.WithTimeout(ctx, p.opts.Timeouts.Fit)
		p.fitting(gen, 1)
		go func() {
			<-cctx.Done()
			p.fitting(gen, -1)
		}()
		cs, err := streamer(cctx, desc, cc, method, opts...)
		if err != nil {
			cancel()
			return nil, err
		}
		return &boundStream{ClientStream: cs, cancel: cancel, many: desc.ServerStreams}, nil
	}
}

// boundStream releases a fit call's deadline once its answer was
// received: the one message of a client-streaming call (Fit), or the end
// of a stream of answers (FitStream: io.EOF or an error).
type boundStream struct {
	grpc.ClientStream
	cancel context.CancelFunc
	many   bool
}

func (s *boundStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if !s.many || err != nil {
		s.cancel()
	}
	return err
}

// fitting adds d to the count of fits in flight on the process of launch
// gen.
func (p *managed) fitting(gen uint64, d int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if gen == p.gen {
		p.fits += d
	}
}

// observe counts a call's outcome for the process of launch gen: a
// success clears the count of missed deadlines; the EjectAfter-th miss in
// a row ejects the plugin. A ping missed while a fit is in flight does not
// count.
func (p *managed) observe(gen uint64, ok, missed, ping bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if gen != p.gen || p.impl == nil {
		return
	}
	switch {
	case ok:
		p.missed = 0
	case missed && ping && p.fits > 0:
	case missed:
		p.missed++
		if p.missed >= p.opts.EjectAfter {
			p.ejections++
			p.markDownLocked(fmt.Errorf("ejected: missed %d deadlines in a row", p.missed))
		}
	}
}

// process is one plugin process: its command, its go-plugin client and
// the directory of its socket.
type process struct {
	cmd    *exec.Cmd
	client *goplugin.Client
	dir    string
	once   sync.Once
}

// pid returns the process ID (0 when there is no process).
func (pr *process) pid() int {
	if pr == nil || pr.cmd == nil || pr.cmd.Process == nil {
		return 0
	}
	return pr.cmd.Process.Pid
}

// kill ends the process, at once (SIGKILL) when hard, else by go-plugin's
// shutdown request (the process is killed when it does not exit within
// seconds), waits for it and removes its socket directory. Only the first
// call does anything.
func (pr *process) kill(hard bool) {
	pr.once.Do(func() {
		if hard && pr.cmd != nil && pr.cmd.Process != nil {
			_ = pr.cmd.Process.Kill()
		}
		if pr.client != nil {
			pr.client.Kill()
		}
		pr.remove()
	})
}

// remove deletes the socket directory.
func (pr *process) remove() { _ = os.RemoveAll(pr.dir) }
