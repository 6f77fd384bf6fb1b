package h1

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// servedByH1 reports whether h1 holds a connection to addr, which it does
// after a request it served, once the body is read.
func servedByH1(tr *Transport, addr string) bool {
	_, total := idleConns(tr, addr)
	return total > 0
}

func TestHTTPSGoesToFallback(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure")
	}))
	defer srv.Close()
	fb := &http.Transport{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()}
	tr := New(fb)
	defer tr.CloseIdleConnections()

	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	assert.NotNil(t, resp.TLS, "served by net/http over TLS")
	assert.Equal(t, "secure", readAll(t, resp))
	tr.mu.Lock()
	assert.Empty(t, tr.pools)
	tr.mu.Unlock()
}

func TestProxiedRequestGoesToFallback(t *testing.T) {
	target := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "direct")
	}))
	var proxied atomic.Value
	proxy := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Store(r.URL.String())
		io.WriteString(w, "via proxy")
	}))
	proxyURL, err := url.Parse(proxy.URL)
	require.NoError(t, err)
	tr := newTestTransport(t, &http.Transport{Proxy: http.ProxyURL(proxyURL)})

	for range 2 {
		assert.Equal(t, "via proxy", readAll(t, get(t, tr, target.URL+"/v1/models")))
	}
	assert.Equal(t, target.URL+"/v1/models", proxied.Load())
	assert.Zero(t, target.conns())
	assert.False(t, servedByH1(tr, hostOf(target.URL)))
}

func TestProxyDecisionIsCachedPerHost(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	a := newCountingServer(t, handler)
	b := newCountingServer(t, handler)
	var calls atomic.Int32
	tr := newTestTransport(t, &http.Transport{Proxy: func(*http.Request) (*url.URL, error) {
		calls.Add(1)
		return nil, nil
	}})
	for range 5 {
		readAll(t, get(t, tr, a.URL))
	}
	assert.EqualValues(t, 1, calls.Load())
	for range 5 {
		readAll(t, get(t, tr, b.URL))
	}
	assert.EqualValues(t, 2, calls.Load())
	assert.True(t, servedByH1(tr, hostOf(a.URL)))
	assert.True(t, servedByH1(tr, hostOf(b.URL)))
}

func TestProxyErrorIsNotCached(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	var fail atomic.Bool
	fail.Store(true)
	errProxy := errors.New("proxy configuration broken")
	tr := newTestTransport(t, &http.Transport{Proxy: func(*http.Request) (*url.URL, error) {
		if fail.Load() {
			return nil, errProxy
		}
		return nil, nil
	}})
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	_, err := tr.RoundTrip(req)
	require.ErrorIs(t, err, errProxy, "the fallback reports the error")

	fail.Store(false)
	assert.Equal(t, "ok", readAll(t, get(t, tr, srv.URL)))
	assert.True(t, servedByH1(tr, hostOf(srv.URL)))
}

func TestRequestsH1DoesNotServeGoToFallback(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	for _, tc := range []struct {
		name   string
		fb     *http.Transport
		modify func(*http.Request) *http.Request
	}{
		{"upgrade", nil, func(r *http.Request) *http.Request {
			r.Header.Set("Upgrade", "websocket")
			return r
		}},
		{"expect continue", nil, func(r *http.Request) *http.Request {
			r.Header.Set("Expect", "100-continue")
			return r
		}},
		{"body of unknown length", nil, func(r *http.Request) *http.Request {
			r.Method = http.MethodPost
			r.Body = io.NopCloser(strings.NewReader("stream"))
			r.ContentLength = -1
			return r
		}},
		{"client trace", nil, func(r *http.Request) *http.Request {
			return r.WithContext(httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{}))
		}},
		{"cancel channel", nil, func(r *http.Request) *http.Request {
			r.Cancel = make(chan struct{}) //nolint:staticcheck // testing the deprecated field
			return r
		}},
		{"keep-alives disabled", &http.Transport{DisableKeepAlives: true}, func(r *http.Request) *http.Request { return r }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTestTransport(t, tc.fb)
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			resp, err := tr.RoundTrip(tc.modify(req))
			require.NoError(t, err)
			assert.Equal(t, "ok", readAll(t, resp))
			assert.False(t, servedByH1(tr, hostOf(srv.URL)))
		})
	}
}

func TestInvalidRequestsAreReportedByFallback(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tr := newTestTransport(t, nil)
	for _, modify := range []func(*http.Request){
		func(r *http.Request) { r.Method = "GET /x HTTP/1.1\r\n" },
		func(r *http.Request) { r.Header["Bad Name"] = []string{"v"} },
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		modify(req)
		_, err := tr.RoundTrip(req)
		require.ErrorContains(t, err, "net/http: invalid")
	}
	assert.Zero(t, srv.conns())
}

func TestCloseIdleConnectionsReachesFallback(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	tr := newTestTransport(t, nil)
	// One connection from each transport: h1's, and the fallback's for a
	// request with an Upgrade header.
	readAll(t, get(t, tr, srv.URL))
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
	req.Header.Set("Upgrade", "x")
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	readAll(t, resp)
	require.Equal(t, 2, srv.conns())
	tr.CloseIdleConnections()
	assert.Eventually(t, func() bool { return srv.openNow() == 0 }, 2*time.Second, 5*time.Millisecond)
}
