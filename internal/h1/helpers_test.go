package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// countingServer is an httptest server that counts the connections it
// accepts and the most it had open at once.
type countingServer struct {
	*httptest.Server

	mu       sync.Mutex
	newConns int
	open     int
	maxOpen  int
}

func newCountingServer(tb testing.TB, h http.Handler) *countingServer {
	return newCountingServerWith(tb, h, nil)
}

// newCountingServerWith lets configure change the server before it starts.
func newCountingServerWith(tb testing.TB, h http.Handler, configure func(*http.Server)) *countingServer {
	tb.Helper()
	cs := &countingServer{}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		switch s {
		case http.StateNew:
			cs.newConns++
			cs.open++
			cs.maxOpen = max(cs.maxOpen, cs.open)
		case http.StateClosed, http.StateHijacked:
			cs.open--
		}
	}
	if configure != nil {
		configure(srv.Config)
	}
	srv.Start()
	cs.Server = srv
	tb.Cleanup(srv.Close)
	return cs
}

func (cs *countingServer) conns() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.newConns
}

func (cs *countingServer) openNow() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.open
}

func (cs *countingServer) maxOpenConns() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.maxOpen
}

// newTestTransport returns New(fb) (a bare http.Transport when fb is nil)
// whose idle connections are closed when the test ends.
func newTestTransport(tb testing.TB, fb *http.Transport) *Transport {
	tb.Helper()
	if fb == nil {
		fb = &http.Transport{}
	}
	tr := New(fb)
	tb.Cleanup(tr.CloseIdleConnections)
	return tr
}

// rawServer is a TCP server on loopback whose handler speaks HTTP by hand,
// for the answers net/http's server would not give.
type rawServer struct {
	ln       net.Listener
	addr     string
	accepted atomic.Int32

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// newRawServer serves each accepted connection with handle, on its own
// goroutine; the connection is closed when handle returns. The server and
// all its connections are closed when the test ends.
func newRawServer(tb testing.TB, handle func(nc net.Conn, br *bufio.Reader)) *rawServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	s := &rawServer{ln: ln, addr: ln.Addr().String()}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, nc)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer nc.Close()
				handle(nc, bufio.NewReader(nc))
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, nc := range s.conns {
			nc.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) url(path string) string { return "http://" + s.addr + path }

// readRequest reads one request and its body from br.
func readRequest(br *bufio.Reader) (*http.Request, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, req.Body)
	return req, err
}

// serveRaw answers every request on the connection with resp, until the
// client closes it or a request fails to parse.
func serveRaw(resp string) func(net.Conn, *bufio.Reader) {
	return func(nc net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			if _, err := io.WriteString(nc, resp); err != nil {
				return
			}
		}
	}
}

func get(tb testing.TB, tr http.RoundTripper, url string) *http.Response {
	tb.Helper()
	return do(tb, tr, context.Background(), http.MethodGet, url, "")
}

func do(tb testing.TB, tr http.RoundTripper, ctx context.Context, method, url, body string) *http.Response {
	tb.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	require.NoError(tb, err)
	resp, err := tr.RoundTrip(req)
	require.NoError(tb, err)
	require.NotNil(tb, resp.Body)
	return resp
}

// readAll reads and closes resp's body.
func readAll(tb testing.TB, resp *http.Response) string {
	tb.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	require.NoError(tb, resp.Body.Close())
	return string(b)
}

// idleConns returns the number of idle connections h1 holds for addr, and
// the total it counts for it (idle, in use and dialling).
func idleConns(tr *Transport, addr string) (idle, total int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	p := tr.pools[addr]
	if p == nil {
		return 0, 0
	}
	return len(p.idle), p.total
}

// waiters returns the number of requests waiting for a connection to addr.
func waiters(tr *Transport, addr string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if p := tr.pools[addr]; p != nil {
		return len(p.waiters)
	}
	return 0
}

func hostOf(rawURL string) string {
	return strings.TrimPrefix(rawURL, "http://")
}

// connCounter dials like a net.Dialer and counts the connections the client
// has open, and the most it had open at once.
type connCounter struct {
	d       net.Dialer
	mu      sync.Mutex
	dials   int
	open    int
	maxOpen int
}

func (cc *connCounter) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nc, err := cc.d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cc.mu.Lock()
	cc.dials++
	cc.open++
	cc.maxOpen = max(cc.maxOpen, cc.open)
	cc.mu.Unlock()
	return &countedConn{Conn: nc, cc: cc}, nil
}

func (cc *connCounter) stats() (dials, open, maxOpen int) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.dials, cc.open, cc.maxOpen
}

type countedConn struct {
	net.Conn
	cc   *connCounter
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.cc.mu.Lock()
		c.cc.open--
		c.cc.mu.Unlock()
	})
	return c.Conn.Close()
}
