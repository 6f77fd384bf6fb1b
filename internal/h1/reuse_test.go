package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var body600 = strings.Repeat("x", 600)

func TestSequentialRequestsReuseOneConnection(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.URL.Query().Get("i"))
	}))
	tr := newTestTransport(t, nil)
	for i := range 50 {
		resp := get(t, tr, fmt.Sprintf("%s/?i=%d", srv.URL, i))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, fmt.Sprintf("hello %d", i), readAll(t, resp))
	}
	assert.Equal(t, 1, srv.conns())
	idle, total := idleConns(tr, hostOf(srv.URL))
	assert.Equal(t, 1, idle)
	assert.Equal(t, 1, total)
}

func TestContentLengthBodyReadExactlyThenClosedIsReused(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body600)))
		io.WriteString(w, body600)
	}))
	tr := newTestTransport(t, nil)
	for range 20 {
		resp := get(t, tr, srv.URL)
		require.EqualValues(t, len(body600), resp.ContentLength)
		buf := make([]byte, resp.ContentLength)
		_, err := io.ReadFull(resp.Body, buf)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
	}
	assert.Equal(t, 1, srv.conns())
}

// noEarlyEOF hides the io.EOF that net/http's body returns together with
// the last bytes, so that only h1's own byte count can tell the body is
// complete.
type noEarlyEOF struct{ io.ReadCloser }

func (r noEarlyEOF) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if n > 0 && err == io.EOF {
		err = nil
	}
	return n, err
}

func TestContentLengthCountedWithoutEOF(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body600)))
		io.WriteString(w, body600)
	}))
	tr := newTestTransport(t, nil)
	for range 5 {
		resp := get(t, tr, srv.URL)
		b := resp.Body.(*body)
		b.rc = noEarlyEOF{b.rc}
		buf := make([]byte, len(body600))
		n, err := io.ReadFull(resp.Body, buf)
		require.NoError(t, err)
		require.Equal(t, len(body600), n)
		// The byte count alone released the connection.
		idle, _ := idleConns(tr, hostOf(srv.URL))
		require.Equal(t, 1, idle)
		require.NoError(t, resp.Body.Close())
	}
	assert.Equal(t, 1, srv.conns())
}

func TestChunkedBodyReadToEOFIsReused(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 5 {
			fmt.Fprintf(w, "part %d;", i)
			w.(http.Flusher).Flush()
		}
	}))
	tr := newTestTransport(t, nil)
	for range 10 {
		resp := get(t, tr, srv.URL)
		require.Equal(t, []string{"chunked"}, resp.TransferEncoding)
		require.Equal(t, "part 0;part 1;part 2;part 3;part 4;", readAll(t, resp))
	}
	assert.Equal(t, 1, srv.conns())
}

func TestChunkedTrailersAreRead(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		io.WriteString(w, "data")
		w.(http.Flusher).Flush()
		w.Header().Set("X-Sum", "42")
	}))
	tr := newTestTransport(t, nil)
	for range 3 {
		resp := get(t, tr, srv.URL)
		require.Equal(t, "data", readAll(t, resp))
		assert.Equal(t, "42", resp.Trailer.Get("X-Sum"))
	}
	assert.Equal(t, 1, srv.conns())
}

func TestConnectionCloseIsNotReused(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	}))
	tr := newTestTransport(t, nil)
	for range 5 {
		resp := get(t, tr, srv.URL)
		require.True(t, resp.Close)
		require.Equal(t, "bye", readAll(t, resp))
	}
	assert.Equal(t, 5, srv.conns())
	idle, total := idleConns(tr, hostOf(srv.URL))
	assert.Zero(t, idle)
	assert.Zero(t, total)
}

func TestRequestCloseIsNotReused(t *testing.T) {
	// A server that keeps the connection open regardless: only the
	// request's own Close keeps h1 from reusing it.
	srv := newRawServer(t, serveRaw("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	tr := newTestTransport(t, nil)
	for range 3 {
		req, err := http.NewRequest(http.MethodGet, srv.url("/"), nil)
		require.NoError(t, err)
		req.Close = true
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		require.False(t, resp.Close)
		require.Equal(t, "ok", readAll(t, resp))
	}
	assert.EqualValues(t, 3, srv.accepted.Load())
}

func TestPostBodiesAreSent(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %d %v %s", r.Method, r.ContentLength, r.TransferEncoding, b)
	}))
	tr := newTestTransport(t, nil)

	// Known length with GetBody (strings.Reader).
	resp := do(t, tr, t.Context(), http.MethodPost, srv.URL, `{"a":1}`)
	assert.Equal(t, `POST 7 [] {"a":1}`, readAll(t, resp))

	// Known length without GetBody.
	req, err := http.NewRequest(http.MethodPut, srv.URL, io.NopCloser(strings.NewReader("abc")))
	require.NoError(t, err)
	req.ContentLength = 3
	resp, err = tr.RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, "PUT 3 [] abc", readAll(t, resp))

	// Unknown length with GetBody: chunked.
	req, err = http.NewRequest(http.MethodPost, srv.URL, io.NopCloser(strings.NewReader("chunky")))
	require.NoError(t, err)
	req.ContentLength = -1
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("chunky")), nil }
	resp, err = tr.RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, "POST -1 [chunked] chunky", readAll(t, resp))

	assert.Equal(t, 1, srv.conns())
}

func TestResponseFields(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "Go-http-client/1.1", r.UserAgent())
		assert.Equal(t, "example.test", r.Host)
		w.WriteHeader(http.StatusNoContent)
	}))
	tr := newTestTransport(t, nil)
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.Host = "example.test"
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	assert.Same(t, req, resp.Request)
	require.NotNil(t, resp.Body)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Empty(t, readAll(t, resp))
}

func TestCloseBeforeEndWithRestBufferedIsReused(t *testing.T) {
	for _, tc := range []struct{ name, resp string }{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"},
		{"chunked-trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The whole answer goes out in one write, so it is in the
			// client's read buffer once the head has been parsed.
			srv := newRawServer(t, serveRaw(tc.resp))
			tr := newTestTransport(t, nil)
			for range 5 {
				resp := get(t, tr, srv.url("/"))
				require.NoError(t, resp.Body.Close())
			}
			assert.EqualValues(t, 1, srv.accepted.Load())
		})
	}
}

func TestCloseBeforeEndWithRestPendingClosesConnection(t *testing.T) {
	for _, tc := range []struct{ name, head, part string }{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", "hello"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "5\r\nhello\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gone := make(chan struct{})
			srv := newRawServer(t, func(nc net.Conn, br *bufio.Reader) {
				if _, err := readRequest(br); err != nil {
					return
				}
				io.WriteString(nc, tc.head+tc.part)
				// Wait, without sending the rest, for the client to
				// close the connection.
				nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := br.ReadByte(); err == io.EOF {
					close(gone)
				}
			})
			tr := newTestTransport(t, nil)
			resp := get(t, tr, srv.url("/"))
			buf := make([]byte, 3)
			_, err := io.ReadFull(resp.Body, buf)
			require.NoError(t, err)
			start := time.Now()
			require.NoError(t, resp.Body.Close())
			assert.Less(t, time.Since(start), 500*time.Millisecond, "Close must not wait for the network")
			select {
			case <-gone:
			case <-time.After(3 * time.Second):
				t.Fatal("the connection was not closed")
			}
			idle, total := idleConns(tr, srv.addr)
			assert.Zero(t, idle)
			assert.Zero(t, total)
		})
	}
}

func TestBodyCloseIsIdempotentAndReadAfterCloseFails(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "abc")
	}))
	tr := newTestTransport(t, nil)
	resp := get(t, tr, srv.URL)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, resp.Body.Close())
	_, err := resp.Body.Read(make([]byte, 1))
	require.ErrorIs(t, err, errBodyClosed)

	// Read to EOF, then Close, then Read.
	resp = get(t, tr, srv.URL)
	assert.Equal(t, "abc", readAll(t, resp))
	_, err = resp.Body.Read(make([]byte, 1))
	require.Error(t, err)
	assert.Equal(t, 1, srv.conns())
}

func TestReadAfterEOFKeepsReturningEOF(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "abc")
	}))
	tr := newTestTransport(t, nil)
	resp := get(t, tr, srv.URL)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "abc", string(b))
	// The connection is back in the pool: another exchange may use it
	// while this body is still open.
	resp2 := get(t, tr, srv.URL)
	for range 3 {
		n, err := resp.Body.Read(make([]byte, 8))
		require.Zero(t, n)
		require.Equal(t, io.EOF, err)
	}
	assert.Equal(t, "abc", readAll(t, resp2))
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, 1, srv.conns())
}

func TestCloseDuringReadEndsTheRead(t *testing.T) {
	release := make(chan struct{})
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer close(release)
	tr := newTestTransport(t, nil)
	resp := get(t, tr, srv.URL)
	buf := make([]byte, 5)
	_, err := io.ReadFull(resp.Body, buf)
	require.NoError(t, err)

	errc := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(buf)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the Read block
	require.NoError(t, resp.Body.Close())
	select {
	case err := <-errc:
		require.Error(t, err)
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end the blocked Read")
	}
	idle, total := idleConns(tr, hostOf(srv.URL))
	assert.Zero(t, idle)
	assert.Zero(t, total)
}

func TestCloseIdleConnections(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	tr := newTestTransport(t, nil)
	readAll(t, get(t, tr, srv.URL))
	require.Equal(t, 1, srv.openNow())

	// A request in flight when CloseIdleConnections runs is not
	// interrupted, and its connection is closed when it comes back.
	resp := get(t, tr, srv.URL)
	tr.CloseIdleConnections()
	assert.Equal(t, "ok", readAll(t, resp))
	require.Eventually(t, func() bool { return srv.openNow() == 0 }, 2*time.Second, 5*time.Millisecond)
	idle, total := idleConns(tr, hostOf(srv.URL))
	assert.Zero(t, idle)
	assert.Zero(t, total)

	// The next request dials and its connection is pooled again.
	readAll(t, get(t, tr, srv.URL))
	idle, _ = idleConns(tr, hostOf(srv.URL))
	assert.Equal(t, 1, idle)
	assert.Equal(t, 2, srv.conns())
}

func TestMissingPortIsPort80(t *testing.T) {
	var dialled []string
	fb := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialled = append(dialled, addr)
		return nil, errors.New("no dial in this test")
	}}
	tr := newTestTransport(t, fb)
	for _, u := range []string{"http://example.test/", "http://example.test:80/", "http://[::1]/"} {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		require.NoError(t, err)
		_, err = tr.RoundTrip(req)
		require.Error(t, err)
	}
	assert.Equal(t, []string{"example.test:80", "example.test:80", "[::1]:80"}, dialled)
}
