package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/llmproxy/llmproxy"
)

// errShuttingDown ends the requests and streams still running when a
// Server's shutdown timeout is over: a plain request is answered 503 with
// Retry-After, a stream that has started ends with an error frame carrying
// it (never a clean [DONE]). Its kind is KindCanceled, so that it counts
// against no provider's breaker or health.
var errShuttingDown = &llmproxy.Error{
	Kind: llmproxy.KindCanceled, Status: http.StatusServiceUnavailable, Type: "server_error",
	Code: "server_shutting_down", Message: "the proxy is shutting down; retry the request",
	RetryAfter: time.Second,
}

// FinalWriteTimeout is how long Server.Shutdown waits, once it has ended
// the requests left at the end of its timeout, for their handlers to write
// the error out before it closes their connections.
const FinalWriteTimeout = 5 * time.Second

// Server is the http.Server of a handler made by Handler (see
// NewHTTPServer), with a graceful Shutdown for streams: every request's
// context derives from a context of the Server's own, which Shutdown
// cancels when its timeout is over.
type Server struct {
	*http.Server
	handler http.Handler
	stop    context.CancelCauseFunc
}

// NewServer returns a Server at addr serving h, built by NewHTTPServer.
func NewServer(addr string, h http.Handler) *Server {
	base, stop := context.WithCancelCause(context.Background())
	srv := NewHTTPServer(addr, h)
	srv.BaseContext = func(net.Listener) context.Context { return base }
	return &Server{Server: srv, handler: h, stop: stop}
}

// Shutdown stops the server gracefully, in three steps:
//
//  1. At once, GET /health answers 503 with status "shutting_down" (see
//     Drain), the listeners close (new connections are refused) and idle
//     connections are closed.
//  2. The requests in flight and the open streams run on for up to
//     timeout (or until ctx ends, e.g. on a second signal); Shutdown
//     returns nil as soon as they have all ended.
//  3. Those still running are then ended: a stream with a
//     data: {"error":{...,"code":"server_shutting_down"}} frame and no
//     [DONE], a plain request with a 503 carrying that code. Their handlers
//     get FinalWriteTimeout to write it; connections still open after that
//     are closed.
//
// It returns nil when every request ended by itself, and an error saying
// how the shutdown ended otherwise.
func (s *Server) Shutdown(ctx context.Context, timeout time.Duration) error {
	Drain(s.handler)
	wctx, cancel := context.WithTimeout(ctx, timeout)
	err := s.Server.Shutdown(wctx)
	cancel()
	if err == nil {
		s.stop(nil)
		return nil
	}
	s.stop(errShuttingDown)
	fctx, cancel := context.WithTimeout(context.Background(), FinalWriteTimeout)
	defer cancel()
	if ferr := s.Server.Shutdown(fctx); ferr != nil {
		return errors.Join(errors.New("requests still running after the shutdown timeout were ended and their connections closed"), s.Server.Close())
	}
	return errors.New("requests still running after the shutdown timeout were ended with an error")
}

// Drain puts h, a handler made by Handler, into its shutting-down state:
// GET /health answers 503 with status "shutting_down" from now on, so that
// load balancers and readiness probes take the instance out of rotation.
// Other requests are served as before. Drain on any other handler does
// nothing; it cannot be undone.
func Drain(h http.Handler) {
	if hh, ok := h.(*handler); ok {
		hh.draining.Store(true)
	}
}

// live answers GET /livez, the liveness check: 200 {"status":"ok"} as long
// as the process serves HTTP, draining included. Unlike GET /health it does
// not fail when the providers do, so that an orchestrator restarts a wedged
// process, never one whose upstreams are down.
func live(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
}
