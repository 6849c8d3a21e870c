package api

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// contain turns a panic of the operation named what into *err (a 500 that
// says the server logged it) and logs it with its stack at level ERROR, so
// that a bug in one request, training or explanation fails that one and
// leaves the service up. It must be deferred directly.
func (s *Server) contain(what string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	s.d.Logger.Error("panic contained", "in", what, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	*err = &httpError{http.StatusInternalServerError, fmt.Sprintf("%s failed: internal error (%v); the server's log has the details", what, r)}
}

// handle calls h, containing a panic of it as a 500.
func (s *Server) handle(h handlerFunc, w http.ResponseWriter, r *http.Request) (out any, err error) {
	defer s.contain(r.Method+" "+r.URL.Path, &err)
	return h(w, r)
}

// grpcContain calls the unary handler h, containing a panic of it as
// INTERNAL.
func (s *Server) grpcContain(ctx context.Context, req any, method string, h grpc.UnaryHandler) (out any, err error) {
	defer func() {
		if err != nil {
			if he, ok := err.(*httpError); ok && he.status == http.StatusInternalServerError && out == nil {
				err = status.Error(codes.Internal, he.msg)
			}
		}
	}()
	defer s.contain(method, &err)
	return h(ctx, req)
}
