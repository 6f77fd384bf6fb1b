package h1

import (
	"bufio"
	"context"
	"errors"
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

func TestContextEndsWaitForHeaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGate()
			srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("wait") != "" {
					g.ServeHTTP(w, r)
				}
			}))
			defer g.open()
			var cc connCounter
			tr := newTestTransport(t, &http.Transport{DialContext: cc.DialContext})

			readAll(t, get(t, tr, srv.URL)) // the request below reuses this connection
			ctx, cancel := tc.ctx()
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/?wait=1", nil)
			start := time.Now()
			_, err := tr.RoundTrip(req)
			require.ErrorIs(t, err, tc.want)
			// The deadline h1 set to interrupt the read gives way to the
			// context's own error.
			assert.Equal(t, tc.want, err)
			assert.Less(t, time.Since(start), time.Second)

			// The interrupted connection was closed, not pooled.
			_, open, _ := cc.stats()
			assert.Zero(t, open)
			_, total := idleConns(tr, hostOf(srv.URL))
			assert.Zero(t, total)
		})
	}
}

func TestContextEndsBodyRead(t *testing.T) {
	release := make(chan struct{})
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer close(release)
	var cc connCounter
	tr := newTestTransport(t, &http.Transport{DialContext: cc.DialContext})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := do(t, tr, ctx, http.MethodGet, srv.URL, "")
	buf := make([]byte, len("partial"))
	_, err := io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err = resp.Body.Read(buf)
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), time.Second)
	_, err = resp.Body.Read(buf)
	require.ErrorIs(t, err, context.Canceled, "the error sticks")
	require.NoError(t, resp.Body.Close())

	_, open, _ := cc.stats()
	assert.Zero(t, open)
	_, total := idleConns(tr, hostOf(srv.URL))
	assert.Zero(t, total)
}

func TestContextEndsRequestWrite(t *testing.T) {
	// The server reads nothing, so the client's writes block once the
	// socket buffers are full.
	stop := make(chan struct{})
	srv := newRawServer(t, func(nc net.Conn, br *bufio.Reader) { <-stop })
	t.Cleanup(func() { close(stop) }) // runs before the server's cleanup
	tr := newTestTransport(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.url("/"), io.NopCloser(zeros{}))
	require.NoError(t, err)
	req.ContentLength = 1 << 40
	start := time.Now()
	_, err = tr.RoundTrip(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second)
	_, total := idleConns(tr, srv.addr)
	assert.Zero(t, total)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestContextEndsDial(t *testing.T) {
	var block atomic.Bool
	block.Store(true)
	var d net.Dialer
	fb := &http.Transport{MaxConnsPerHost: 1, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if block.Load() {
			<-ctx.Done()
			// A dialer that does not say why it stopped.
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("interrupted")}
		}
		return d.DialContext(ctx, network, addr)
	}}
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	tr := newTestTransport(t, fb)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	start := time.Now()
	_, err := tr.RoundTrip(req)
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "interrupted")
	assert.Less(t, time.Since(start), time.Second)

	block.Store(false)
	assert.Equal(t, "ok", readAll(t, get(t, tr, srv.URL)), "the dial's slot was released")
}

// trackedBody records whether it was closed.
type trackedBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackedBody) Close() error {
	b.closed.Store(true)
	return nil
}

func TestContextDoneBeforeStart(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tr := newTestTransport(t, nil)
	readAll(t, get(t, tr, srv.URL))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	body := &trackedBody{Reader: strings.NewReader("x")}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, body)
	req.ContentLength = 1
	_, err := tr.RoundTrip(req)
	require.ErrorIs(t, err, context.Canceled)
	assert.True(t, body.closed.Load(), "RoundTrip closes the body on every path")
	// The idle connection was not taken, and so not spoilt.
	idle, _ := idleConns(tr, hostOf(srv.URL))
	assert.Equal(t, 1, idle)
	readAll(t, get(t, tr, srv.URL))
	assert.Equal(t, 1, srv.conns())
}

func TestFailedDialClosesRequestBody(t *testing.T) {
	fb := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, errors.New("no dial")
	}}
	tr := newTestTransport(t, fb)
	body := &trackedBody{Reader: strings.NewReader("x")}
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", body)
	req.ContentLength = 1
	_, err := tr.RoundTrip(req)
	require.ErrorContains(t, err, "no dial")
	assert.True(t, body.closed.Load())
}

func TestCancelAfterExchangeLeavesConnectionUsable(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	tr := newTestTransport(t, nil)
	for range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		resp := do(t, tr, ctx, http.MethodGet, srv.URL, "")
		assert.Equal(t, "ok", readAll(t, resp))
		// The exchange is over: cancelling must not touch the pooled
		// connection.
		cancel()
	}
	assert.Equal(t, 1, srv.conns())
}

func TestContextEndedBeforeCloseIsNotReused(t *testing.T) {
	// The whole answer is buffered, so Close could keep the connection,
	// but the cancellation hook has set a past deadline on it.
	srv := newRawServer(t, serveRaw("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"))
	tr := newTestTransport(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	resp := do(t, tr, ctx, http.MethodGet, srv.url("/"), "")
	cancel()
	time.Sleep(20 * time.Millisecond) // let the hook run
	require.NoError(t, resp.Body.Close())
	_, total := idleConns(tr, srv.addr)
	assert.Zero(t, total)
	assert.Equal(t, "hello world", readAll(t, get(t, tr, srv.url("/"))))
	assert.EqualValues(t, 2, srv.accepted.Load())
}
