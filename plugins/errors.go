package plugins

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Errors that cross the plugin boundary. Check with errors.Is.
var (
	// ErrInvalid: the request was rejected as invalid (bad parameter,
	// unknown estimator, malformed rows). Not worth retrying.
	ErrInvalid = errors.New("invalid request")
	// ErrUnavailable: the plugin process cannot be reached (crashed,
	// restarting, not started).
	ErrUnavailable = errors.New("plugin unavailable")
	// ErrUnimplemented: the plugin does not serve that service or method
	// (for example a text scorer asked to fit a model).
	ErrUnimplemented = errors.New("not implemented by the plugin")
	// ErrInsufficientData: the request was valid but its data are too few
	// or too degenerate to fit a model (for example singular normal
	// equations); more data may fit.
	ErrInsufficientData = errors.New("too little data to fit")
	// ErrPlugin: the plugin failed or broke the contract.
	ErrPlugin = errors.New("plugin error")
	// errModelMissing: the plugin does not hold the model with the digest
	// it was sent; the client resends the model bytes.
	errModelMissing = errors.New("model not loaded")
)

// toStatus turns an implementation's error into a gRPC status, keeping the
// message and mapping the SDK's sentinel errors to codes.
func toStatus(err error) error {
	switch {
	case errors.Is(err, ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, errModelMissing):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, ErrInsufficientData):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// fromStatus turns a gRPC error from a plugin back into an error that
// wraps the matching sentinel (or the context's error).
func fromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%w: %v", ErrPlugin, err)
	}
	msg := st.Message()
	switch st.Code() {
	case codes.InvalidArgument:
		return &remoteError{kind: ErrInvalid, msg: msg}
	case codes.NotFound:
		return &remoteError{kind: errModelMissing, msg: msg}
	case codes.FailedPrecondition:
		return &remoteError{kind: ErrInsufficientData, msg: msg}
	case codes.Unavailable:
		return &remoteError{kind: ErrUnavailable, msg: msg}
	case codes.Unimplemented:
		return &remoteError{kind: ErrUnimplemented, msg: msg}
	case codes.Canceled:
		return &remoteError{kind: context.Canceled, msg: msg}
	case codes.DeadlineExceeded:
		return &remoteError{kind: context.DeadlineExceeded, msg: msg}
	}
	return &remoteError{kind: ErrPlugin, msg: msg}
}

// remoteError carries a plugin's own message; it matches its kind with
// errors.Is.
type remoteError struct {
	kind error
	msg  string
}

func (e *remoteError) Error() string { return e.msg }

func (e *remoteError) Is(target error) bool { return target == e.kind }
