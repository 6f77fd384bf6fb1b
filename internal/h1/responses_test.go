package h1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInformationalResponsesAreSkipped(t *testing.T) {
	srv := newRawServer(t, serveRaw("HTTP/1.1 100 Continue\r\n\r\n"+
		"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"+
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Final: yes\r\n\r\nok"))
	tr := newTestTransport(t, nil)
	for range 3 {
		resp := get(t, tr, srv.url("/"))
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "yes", resp.Header.Get("X-Final"))
		assert.Empty(t, resp.Header.Get("Link"))
		assert.Equal(t, "ok", readAll(t, resp))
	}
	assert.EqualValues(t, 1, srv.accepted.Load())
}

func TestTooManyInformationalResponses(t *testing.T) {
	srv := newRawServer(t, serveRaw(strings.Repeat("HTTP/1.1 102 Processing\r\n\r\n", max1xx+1)+
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	tr := newTestTransport(t, nil)
	req, _ := http.NewRequest(http.MethodGet, srv.url("/"), nil)
	_, err := tr.RoundTrip(req)
	require.ErrorIs(t, err, errTooMany1xx)
	_, total := idleConns(tr, srv.addr)
	assert.Zero(t, total)
}

func TestResponsesWithoutBody(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/head":
			w.Header().Set("Content-Length", "600")
			if r.Method != http.MethodHead {
				io.WriteString(w, body600)
			}
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		}
	}))
	tr := newTestTransport(t, nil)
	for range 2 {
		resp := do(t, tr, t.Context(), http.MethodHead, srv.URL+"/head", "")
		assert.EqualValues(t, 600, resp.ContentLength)
		assert.Empty(t, readAll(t, resp))

		for _, code := range []int{http.StatusNoContent, http.StatusNotModified} {
			resp = get(t, tr, srv.URL+"/"+strconv.Itoa(code))
			assert.Equal(t, code, resp.StatusCode)
			assert.Equal(t, http.NoBody, resp.Body)
			assert.Empty(t, readAll(t, resp))
		}
	}
	// The answers without body released the connection at once.
	idle, total := idleConns(tr, hostOf(srv.URL))
	assert.Equal(t, 1, idle)
	assert.Equal(t, 1, total)
	assert.Equal(t, 1, srv.conns())
}

func TestBodyUntilCloseIsReadAndConnectionNotReused(t *testing.T) {
	srv := newRawServer(t, func(nc net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err == nil {
			io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello, until close")
		}
	})
	tr := newTestTransport(t, nil)
	for range 2 {
		resp := get(t, tr, srv.url("/"))
		assert.True(t, resp.Close)
		assert.EqualValues(t, -1, resp.ContentLength)
		assert.Equal(t, "hello, until close", readAll(t, resp))
	}
	assert.EqualValues(t, 2, srv.accepted.Load())
	_, total := idleConns(tr, srv.addr)
	assert.Zero(t, total)
}

func TestHTTP10Responses(t *testing.T) {
	t.Run("without keep-alive", func(t *testing.T) {
		srv := newRawServer(t, serveRaw("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
		tr := newTestTransport(t, nil)
		for range 2 {
			assert.Equal(t, "hello", readAll(t, get(t, tr, srv.url("/"))))
		}
		assert.EqualValues(t, 2, srv.accepted.Load())
	})
	t.Run("with keep-alive", func(t *testing.T) {
		srv := newRawServer(t, serveRaw("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello"))
		tr := newTestTransport(t, nil)
		for range 2 {
			assert.Equal(t, "hello", readAll(t, get(t, tr, srv.url("/"))))
		}
		assert.EqualValues(t, 1, srv.accepted.Load())
	})
}

// malformedServer answers the first request with resp and reports on gone
// when the client has closed the connection.
func malformedServer(t *testing.T, resp string) (*rawServer, chan struct{}) {
	gone := make(chan struct{})
	srv := newRawServer(t, func(nc net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err != nil {
			return
		}
		io.WriteString(nc, resp)
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		// EOF, or a reset when the client closed with bytes unread.
		if _, err := io.Copy(io.Discard, br); !errors.Is(err, os.ErrDeadlineExceeded) {
			close(gone)
		}
	})
	return srv, gone
}

func TestMalformedResponsesCloseTheConnection(t *testing.T) {
	for _, tc := range []struct{ name, resp string }{
		{"status line", "HTPP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{"status code", "HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok"},
		{"header", "HTTP/1.1 200 OK\r\nNot a header\r\nContent-Length: 2\r\n\r\nok"},
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: two\r\n\r\nok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, gone := malformedServer(t, tc.resp)
			tr := newTestTransport(t, nil)
			req, _ := http.NewRequest(http.MethodGet, srv.url("/"), nil)
			_, err := tr.RoundTrip(req)
			require.Error(t, err)
			select {
			case <-gone:
			case <-time.After(3 * time.Second):
				t.Fatal("the connection was not closed")
			}
			_, total := idleConns(tr, srv.addr)
			assert.Zero(t, total)
			assert.EqualValues(t, 1, srv.accepted.Load(), "no retry on a fresh connection")
		})
	}
}

func TestResponseHeadersTooLarge(t *testing.T) {
	srv, gone := malformedServer(t, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("b", 4096)+"\r\nContent-Length: 2\r\n\r\nok")
	tr := newTestTransport(t, &http.Transport{MaxResponseHeaderBytes: 1024})
	req, _ := http.NewRequest(http.MethodGet, srv.url("/"), nil)
	_, err := tr.RoundTrip(req)
	require.ErrorIs(t, err, errHeadersTooLarge)
	select {
	case <-gone:
	case <-time.After(3 * time.Second):
		t.Fatal("the connection was not closed")
	}
}

func TestUnsolicitedBytesCloseTheConnection(t *testing.T) {
	srv := newRawServer(t, serveRaw("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"))
	tr := newTestTransport(t, nil)
	for range 2 {
		assert.Equal(t, "ok", readAll(t, get(t, tr, srv.url("/"))))
	}
	assert.EqualValues(t, 2, srv.accepted.Load())
}

func TestSwitchingProtocolsIsNotReused(t *testing.T) {
	srv := newRawServer(t, serveRaw("HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n"))
	tr := newTestTransport(t, nil)
	for range 2 {
		resp := get(t, tr, srv.url("/"))
		assert.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
		readAll(t, resp)
	}
	assert.EqualValues(t, 2, srv.accepted.Load())
}
