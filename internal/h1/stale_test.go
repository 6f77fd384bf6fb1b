package h1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newIdleClosingServer returns a server that closes connections idle for
// 50 ms, and counts the requests it serves.
func newIdleClosingServer(t *testing.T) (*countingServer, *atomic.Int32) {
	var requests atomic.Int32
	srv := newCountingServerWith(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	}), func(s *http.Server) { s.IdleTimeout = 50 * time.Millisecond })
	return srv, &requests
}

// waitServerClosedIdle waits until the server has closed every connection.
func waitServerClosedIdle(t *testing.T, srv *countingServer) {
	t.Helper()
	require.Eventually(t, func() bool { return srv.openNow() == 0 }, 5*time.Second, 5*time.Millisecond)
}

// nonReplayablePost returns a POST whose body cannot be replayed.
func nonReplayablePost(t *testing.T, ctx context.Context, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, io.NopCloser(strings.NewReader(body)))
	require.NoError(t, err)
	req.ContentLength = int64(len(body))
	require.Nil(t, req.GetBody)
	return req
}

func TestIdleAgeCap(t *testing.T) {
	for _, tc := range []struct{ idle, want time.Duration }{
		{0, time.Second},
		{5 * time.Second, time.Second},
		{20 * time.Millisecond, 20 * time.Millisecond},
	} {
		tr := New(&http.Transport{IdleConnTimeout: tc.idle})
		assert.Equal(t, tc.want, tr.maxIdleAge, "IdleConnTimeout %v", tc.idle)
	}
}

func TestStaleIdleConnectionIsNotReusedAfterMaxAge(t *testing.T) {
	srv, requests := newIdleClosingServer(t)
	tr := newTestTransport(t, &http.Transport{IdleConnTimeout: 20 * time.Millisecond})

	for i := range 3 {
		if i > 0 {
			waitServerClosedIdle(t, srv)
		}
		// A body that cannot be replayed: only the age rule can save
		// this request, not the retry.
		resp, err := tr.RoundTrip(nonReplayablePost(t, context.Background(), srv.URL, "x"))
		require.NoError(t, err)
		assert.Equal(t, "POST x", readAll(t, resp))
	}
	assert.Equal(t, 3, srv.conns())
	assert.EqualValues(t, 3, requests.Load())
}

func TestIdleConnectionsOlderThanMaxAgeArePruned(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tr := newTestTransport(t, &http.Transport{IdleConnTimeout: 20 * time.Millisecond})
	readAll(t, get(t, tr, srv.URL))
	idle, _ := idleConns(tr, hostOf(srv.URL))
	require.Equal(t, 1, idle)
	time.Sleep(40 * time.Millisecond)
	// The next request closes the stale connection and dials.
	readAll(t, get(t, tr, srv.URL))
	idle, total := idleConns(tr, hostOf(srv.URL))
	assert.Equal(t, 1, idle)
	assert.Equal(t, 1, total)
	assert.Equal(t, 2, srv.conns())
	require.Eventually(t, func() bool { return srv.openNow() == 1 }, 2*time.Second, 5*time.Millisecond)
}

func TestReusedConnectionClosedByServerIsRetriedOnce(t *testing.T) {
	srv, requests := newIdleClosingServer(t)
	tr := newTestTransport(t, nil)
	tr.maxIdleAge = time.Hour // only the retry can save the requests

	readAll(t, get(t, tr, srv.URL))
	waitServerClosedIdle(t, srv)
	assert.Equal(t, "GET ", readAll(t, get(t, tr, srv.URL)))

	// A POST whose body GetBody can replay is retried too.
	waitServerClosedIdle(t, srv)
	req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"a":1}`))
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	assert.Same(t, req, resp.Request)
	assert.Equal(t, `POST {"a":1}`, readAll(t, resp))

	assert.Equal(t, 3, srv.conns())
	assert.EqualValues(t, 3, requests.Load())
}

func TestNoRetryWhenBodyCannotBeReplayed(t *testing.T) {
	srv, requests := newIdleClosingServer(t)
	tr := newTestTransport(t, nil)
	tr.maxIdleAge = time.Hour

	readAll(t, get(t, tr, srv.URL))
	waitServerClosedIdle(t, srv)
	_, err := tr.RoundTrip(nonReplayablePost(t, context.Background(), srv.URL, "x"))
	require.Error(t, err)
	assert.True(t, isConnLoss(err), "%v", err)
	assert.Equal(t, 1, srv.conns())
	assert.EqualValues(t, 1, requests.Load())
	_, total := idleConns(tr, hostOf(srv.URL))
	assert.Zero(t, total)
}

// closeAfter returns a raw handler that answers the first served requests
// of the first connection, then closes; later connections are closed as
// soon as their request has been read. It counts the requests read.
func closeAfter(served int, requests *atomic.Int32, first *atomic.Bool) func(net.Conn, *bufio.Reader) {
	return func(nc net.Conn, br *bufio.Reader) {
		n := 0
		if first.CompareAndSwap(true, false) {
			n = served
		}
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			requests.Add(1)
			if n == 0 {
				return
			}
			n--
			io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	}
}

func TestNoRetryOnFreshConnection(t *testing.T) {
	var requests atomic.Int32
	var first atomic.Bool
	first.Store(true)
	srv := newRawServer(t, closeAfter(0, &requests, &first))
	tr := newTestTransport(t, nil)
	req, _ := http.NewRequest(http.MethodGet, srv.url("/"), nil)
	_, err := tr.RoundTrip(req)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.EqualValues(t, 1, srv.accepted.Load())
	assert.EqualValues(t, 1, requests.Load())
}

func TestRetryHappensOnlyOnce(t *testing.T) {
	var requests atomic.Int32
	var first atomic.Bool
	first.Store(true)
	srv := newRawServer(t, closeAfter(1, &requests, &first))
	tr := newTestTransport(t, nil)
	tr.maxIdleAge = time.Hour

	assert.Equal(t, "ok", readAll(t, get(t, tr, srv.url("/"))))
	req, _ := http.NewRequest(http.MethodGet, srv.url("/"), nil)
	_, err := tr.RoundTrip(req)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	// One request served, one lost on the reused connection, one lost on
	// the fresh connection of the retry; no third attempt.
	assert.EqualValues(t, 2, srv.accepted.Load())
	assert.EqualValues(t, 3, requests.Load())
	_, total := idleConns(tr, srv.addr)
	assert.Zero(t, total)
}

func TestNoRetryAfterAResponseByte(t *testing.T) {
	var requests atomic.Int32
	srv := newRawServer(t, func(nc net.Conn, br *bufio.Reader) {
		for i := 0; ; i++ {
			if _, err := readRequest(br); err != nil {
				return
			}
			requests.Add(1)
			if i == 1 {
				// A complete status line, then the connection ends: an
				// io.ErrUnexpectedEOF like a lost connection's, but after
				// a response byte.
				io.WriteString(nc, "HTTP/1.1 200 OK\r\n")
				return
			}
			io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	tr := newTestTransport(t, nil)
	assert.Equal(t, "ok", readAll(t, get(t, tr, srv.url("/"))))
	req, _ := http.NewRequest(http.MethodGet, srv.url("/"), nil)
	_, err := tr.RoundTrip(req)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.EqualValues(t, 1, srv.accepted.Load())
	assert.EqualValues(t, 2, requests.Load())
}

func TestNoRetryOnceContextIsDone(t *testing.T) {
	var requests atomic.Int32
	srv := newRawServer(t, func(nc net.Conn, br *bufio.Reader) {
		for i := 0; ; i++ {
			if _, err := readRequest(br); err != nil {
				return
			}
			requests.Add(1)
			if i == 1 {
				time.Sleep(100 * time.Millisecond)
				return // close without an answer, after the deadline
			}
			io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	tr := newTestTransport(t, nil)
	assert.Equal(t, "ok", readAll(t, get(t, tr, srv.url("/"))))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.url("/"), nil)
	_, err := tr.RoundTrip(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	time.Sleep(150 * time.Millisecond) // a retry would have reached the server by now
	assert.EqualValues(t, 1, srv.accepted.Load())
	assert.EqualValues(t, 2, requests.Load())
}
