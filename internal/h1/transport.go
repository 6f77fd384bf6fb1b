package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"syscall"
	"time"
)

const (
	// maxIdleAge caps how long a connection may stay idle and still be
	// reused: below the shortest keep-alive timeout of common servers
	// (gunicorn: 2 s), so that h1 rarely writes to a connection the server
	// is closing.
	maxIdleAge = time.Second

	// defaultMaxHeaderBytes bounds a response head (all 1xx heads included)
	// when the fallback's MaxResponseHeaderBytes is zero, as net/http does.
	defaultMaxHeaderBytes = 10 << 20

	// defaultBufferSize is the size of a connection's read and write buffers
	// when the fallback sets none, as in net/http.
	defaultBufferSize = 4 << 10

	// max1xx bounds the informational responses skipped before the final one.
	max1xx = 10
)

var errTooMany1xx = errors.New("h1: too many 1xx informational responses")

// Transport is an http.RoundTripper that serves plain-HTTP/1.1 requests
// itself, on the calling goroutine, and passes every other request to a
// net/http fallback (see the package documentation for which requests).
//
// Create a Transport with New; the zero value is not usable. A Transport is
// safe for concurrent use by multiple goroutines and shares no state with any
// other Transport.
type Transport struct {
	fallback       *http.Transport
	dial           func(ctx context.Context, network, addr string) (net.Conn, error)
	proxy          func(*http.Request) (*url.URL, error)
	maxConns       int           // per host:port; 0 means unlimited
	maxIdleAge     time.Duration // an idle connection older than this is closed, not reused
	maxHeaderBytes int64
	readBufSize    int
	writeBufSize   int
	disabled       bool // the fallback disables keep-alives: h1 would gain nothing

	routeMu sync.RWMutex
	routes  map[string]bool // host:port → true when no proxy is used for it

	mu        sync.Mutex
	pools     map[string]*hostPool // by host:port; an empty pool is removed
	closeIdle bool                 // close connections that become idle, until the next request
}

// New returns a Transport that passes the requests it does not serve itself
// to fallback, and takes its settings from fallback once, at this call:
// DialContext (nil means a zero net.Dialer), MaxConnsPerHost (0 means
// unlimited; h1 counts its own connections, apart from the fallback's),
// IdleConnTimeout (capped at 1 s, see the package documentation), Proxy,
// MaxResponseHeaderBytes (0 means 10 MiB), ReadBufferSize and
// WriteBufferSize (0 means 4 KiB) and DisableKeepAlives (true sends every
// request to the fallback). A nil fallback means a clone of
// http.DefaultTransport. Later changes to fallback's fields do not affect h1.
func New(fallback *http.Transport) *Transport {
	if fallback == nil {
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			fallback = dt.Clone()
		} else {
			fallback = &http.Transport{}
		}
	}
	t := &Transport{
		fallback:       fallback,
		dial:           fallback.DialContext,
		proxy:          fallback.Proxy,
		maxConns:       max(fallback.MaxConnsPerHost, 0),
		maxIdleAge:     maxIdleAge,
		maxHeaderBytes: fallback.MaxResponseHeaderBytes,
		readBufSize:    fallback.ReadBufferSize,
		writeBufSize:   fallback.WriteBufferSize,
		disabled:       fallback.DisableKeepAlives,
		routes:         make(map[string]bool),
		pools:          make(map[string]*hostPool),
	}
	if t.dial == nil {
		var d net.Dialer
		t.dial = d.DialContext
	}
	if it := fallback.IdleConnTimeout; it > 0 && it < t.maxIdleAge {
		t.maxIdleAge = it
	}
	if t.maxHeaderBytes <= 0 {
		t.maxHeaderBytes = defaultMaxHeaderBytes
	}
	if t.readBufSize <= 0 {
		t.readBufSize = defaultBufferSize
	}
	if t.writeBufSize <= 0 {
		t.writeBufSize = defaultBufferSize
	}
	return t
}

// RoundTrip implements http.RoundTripper. It sends req to its upstream and
// returns the response, whose Request field is req and whose Body is never
// nil. Requests h1 does not serve go to the fallback's RoundTrip unchanged.
// It always closes req.Body, as the http.RoundTripper contract asks.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	addr, ok := t.route(req)
	if !ok {
		return t.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	c, err := t.getConn(ctx, addr)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	out := req
	for retried := false; ; retried = true {
		resp, noResponse, err := t.exchange(ctx, c, req, out)
		if err == nil {
			return resp, nil
		}
		// The exchange failed: c's network connection is unusable but c
		// still holds its slot in the pool. Retry once, on a new
		// connection in the same slot, when the failure looks like a
		// server that closed a reused connection before reading it.
		if retried || !c.reused || !noResponse || ctx.Err() != nil || !replayable(req) || !isConnLoss(err) {
			t.closeConn(c)
			return nil, err
		}
		c.nc.Close()
		if err := t.redial(ctx, c); err != nil {
			t.closeConn(c)
			return nil, err
		}
		if out, err = rewind(req); err != nil {
			t.closeConn(c)
			return nil, err
		}
	}
}

// CloseIdleConnections closes the idle connections of h1 and of the
// fallback. It does not interrupt connections in use; those that become idle
// before the next request starts are closed too, as in net/http. It is safe
// to call concurrently with RoundTrip.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	t.closeIdle = true
	var idle []*conn
	for _, p := range t.pools {
		idle = append(idle, p.idle...)
		p.total -= len(p.idle)
		p.idle = nil
		t.dropIfEmptyLocked(p)
	}
	t.mu.Unlock()
	closeAll(idle)
	t.fallback.CloseIdleConnections()
}

// exchange writes out (req, or its rewound copy) on c and reads the response
// head. On success the response's body owns c and returns it to the pool or
// closes it. On failure c's network connection is unusable but c still holds
// its slot; noResponse reports that no byte of a response had arrived.
func (t *Transport) exchange(ctx context.Context, c *conn, req, out *http.Request) (resp *http.Response, noResponse bool, err error) {
	var stop func() bool
	if ctx.Done() != nil {
		// Cancellation unblocks any I/O on c by setting a past deadline.
		stop = context.AfterFunc(ctx, c.abort)
	}
	c.readLimit = t.maxHeaderBytes
	start := c.nread
	if err = out.Write(c.bw); err == nil {
		err = c.bw.Flush()
	}
	if err == nil {
		resp, err = readResponse(c.br, out)
	}
	if err != nil {
		if stop != nil {
			stop()
		}
		return nil, c.nread == start, ctxErr(ctx, err)
	}
	c.readLimit = math.MaxInt64
	resp.Request = req
	// A 101 switches the connection to another protocol; h1 never asks for
	// one, so the connection is closed.
	reuse := !resp.Close && !req.Close && resp.StatusCode != http.StatusSwitchingProtocols
	if resp.Body == http.NoBody {
		t.finish(c, stop, reuse)
		return resp, false, nil
	}
	resp.Body = newBody(ctx, t, c, stop, resp, reuse)
	return resp, false, nil
}

// readResponse reads the final response to req from br, skipping up to
// max1xx informational responses other than 101 Switching Protocols.
func readResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	for i := 0; ; i++ {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode < 100 || resp.StatusCode > 199 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
		if i == max1xx {
			return nil, errTooMany1xx
		}
	}
}

// finish ends an exchange on c: it stops the cancellation hook and puts c
// back in the pool if reuse holds and the context did not end, else closes
// it.
func (t *Transport) finish(c *conn, stop func() bool, reuse bool) {
	if stop != nil && !stop() {
		reuse = false // the context ended: c may carry a past deadline
	}
	if reuse {
		t.put(c)
	} else {
		t.closeConn(c)
	}
}

// ctxErr returns err, made to satisfy errors.Is(err, ctx.Err()) when ctx has
// ended. A deadline error is the one h1 set itself to interrupt the I/O, so
// it gives way to the context's error.
func ctxErr(ctx context.Context, err error) error {
	cerr := ctx.Err()
	switch {
	case cerr == nil || errors.Is(err, cerr):
		return err
	case errors.Is(err, os.ErrDeadlineExceeded):
		return cerr
	default:
		return fmt.Errorf("%w: %w", cerr, err)
	}
}

// isConnLoss reports whether err is how a connection closed by the server
// shows up on the client.
func isConnLoss(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// replayable reports whether req's body can be sent again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// rewind returns req with a fresh body from GetBody, for a second attempt.
func rewind(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	out := *req
	out.Body = body
	return &out, nil
}

// closeBody closes req's body, for the paths that fail before writing it.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
