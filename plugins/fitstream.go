package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/causalrec/causalrec/proto/causalrec/plugin/v1"
)

// errNoFitStream: the plugin answered FitStream with UNIMPLEMENTED, before
// any row was sent; the client calls Fit instead.
var errNoFitStream = errors.New("plugin has no FitStream")

// FitStream serves Fit with progress reports (see the rpc's comment in
// plugin.proto): the header is answered at once with progress 0, the
// implementation's reports are sent while it fits, and the result last.
func (s *estimatorServer) FitStream(stream grpc.BidiStreamingServer[pb.FitRequest, pb.FitEvent]) error {
	req, err := recvFitRequest(stream.Recv, func() error {
		return stream.Send(progressEvent(0, 0))
	})
	if err != nil {
		return err
	}
	ps := newProgressSender()
	req.Progress = ps.report
	sent := make(chan error, 1)
	go func() { sent <- ps.run(stream.Send) }()
	resp, err := s.fit(stream.Context(), req)
	if err == nil {
		ps.finish()
	}
	ps.close()
	if serr := <-sent; serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	return stream.Send(&pb.FitEvent{Event: &pb.FitEvent_Result{Result: fitResponseToProto(resp)}})
}

func progressEvent(done, total int) *pb.FitEvent {
	return &pb.FitEvent{Event: &pb.FitEvent_Progress{Progress: &pb.FitProgress{Done: int64(done), Total: int64(total)}}}
}

// progressSender sends a fit's progress reports from a goroutine of its
// own, so that a fit never waits for the network: report keeps the latest
// state and wakes the sender, which sends it unless it was sent already.
// Reports that would move done backwards at the same total are dropped,
// so the events go out in order.
type progressSender struct {
	mu          sync.Mutex
	done, total int
	sent        bool // the current state was sent
	closed      bool
	wake        chan struct{}
}

func newProgressSender() *progressSender {
	return &progressSender{sent: true, wake: make(chan struct{}, 1)}
}

// report records done of total; it is FitRequest.Progress of a FitStream
// call.
func (p *progressSender) report(done, total int) {
	p.mu.Lock()
	if p.closed || (total == p.total && done <= p.done) {
		p.mu.Unlock()
		return
	}
	p.done, p.total, p.sent = done, total, false
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// finish reports the fit complete: done is raised to the total when one
// is known.
func (p *progressSender) finish() {
	p.mu.Lock()
	done, total := p.done, p.total
	p.mu.Unlock()
	if total > 0 && done < total {
		p.report(total, total)
	}
}

// close stops the reports; run sends the last state not yet sent and
// returns.
func (p *progressSender) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run sends each new state with send until close, and then the last one.
// After a failed send it only waits for close.
func (p *progressSender) run(send func(*pb.FitEvent) error) error {
	var err error
	for range p.wake {
		p.mu.Lock()
		done, total, fresh, closed := p.done, p.total, !p.sent, p.closed
		p.sent = true
		p.mu.Unlock()
		if fresh && err == nil {
			err = send(progressEvent(done, total))
		}
		if closed {
			return err
		}
	}
	return err
}

// fitStream fits through the plugin's FitStream, passing its progress
// reports to req.Progress. It returns errNoFitStream when the plugin
// answers the header with UNIMPLEMENTED.
func (c *EstimatorClient) fitStream(ctx context.Context, req FitRequest) (FitResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the call on every early return
	stream, err := c.client.FitStream(ctx, grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes))
	if err != nil {
		return FitResponse{}, fromStatus(err)
	}
	// The header alone first: its answer tells whether the plugin has
	// FitStream before any row is sent.
	if err := stream.Send(&pb.FitRequest{Header: fitHeaderToProto(req)}); err != nil && !errors.Is(err, io.EOF) {
		return FitResponse{}, fromStatus(err)
	}
	first, err := stream.Recv()
	switch {
	case status.Code(err) == codes.Unimplemented:
		return FitResponse{}, errNoFitStream
	case err != nil:
		return FitResponse{}, fromStatus(err)
	case first.GetProgress() == nil:
		return FitResponse{}, fmt.Errorf("%w: FitStream answered the header with %T, want progress", ErrPlugin, first.GetEvent())
	}
	n, per := req.Rows(), rowsPerChunk(len(req.Features))
	for start := 0; start < n || start == 0; start += per {
		end := min(start+per, n)
		if err := stream.Send(&pb.FitRequest{Rows: rowChunkToProto(req, start, end)}); err != nil {
			if errors.Is(err, io.EOF) {
				break // the plugin ended the call; Recv has its status
			}
			return FitResponse{}, fromStatus(err)
		}
		if n == 0 {
			break
		}
	}
	if err := stream.CloseSend(); err != nil {
		return FitResponse{}, fromStatus(err)
	}
	var result *pb.FitResponse
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return FitResponse{}, fromStatus(err)
		}
		switch e := ev.GetEvent().(type) {
		case *pb.FitEvent_Progress:
			if result == nil {
				req.Progress(int(e.Progress.GetDone()), int(e.Progress.GetTotal()))
			}
		case *pb.FitEvent_Result:
			result = e.Result
		}
	}
	if result == nil {
		return FitResponse{}, fmt.Errorf("%w: FitStream ended without a result", ErrPlugin)
	}
	return fitResponseFromProto(result), nil
}
