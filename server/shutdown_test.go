package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/server"
)

// shutdownUpstream is an OpenAI-format upstream whose answers wait on
// release (or the end of their request): a stream sends its first chunk,
// waits, then the rest and [DONE]; a plain answer waits before answering.
// entered receives one value per request once it is waiting.
type shutdownUpstream struct {
	*httptest.Server
	entered chan string
	release chan struct{}
}

func newShutdownUpstream(t *testing.T) *shutdownUpstream {
	t.Helper()
	u := &shutdownUpstream{entered: make(chan string, 16), release: make(chan struct{})}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Stream bool `json:"stream"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		chunk := func(content, finish string) string {
			fr := "null"
			if finish != "" {
				fr = `"` + finish + `"`
			}
			return fmt.Sprintf(`data: {"id":"chatcmpl-sd","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":%q},"finish_reason":%s}]}`+"\n\n", content, fr)
		}
		if !req.Stream {
			u.entered <- "plain"
			select {
			case <-u.release:
			case <-r.Context().Done():
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id":"chatcmpl-sd","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, chunk("Hel", ""))
		w.(http.Flusher).Flush()
		u.entered <- "stream"
		select {
		case <-u.release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, chunk("lo", "")+chunk("", "stop")+"data: [DONE]\n\n")
	}))
	t.Cleanup(u.Close)
	return u
}

// shutdownProxy serves a proxy in front of up with server.NewServer on a
// loopback listener. It returns the server, its handler and the proxy.
func shutdownProxy(t *testing.T, up *shutdownUpstream) (*server.Server, string, http.Handler, *llmproxy.Proxy) {
	t.Helper()
	p, err := llmproxy.New(llmproxy.Config{
		CircuitBreakerThreshold: 1,
		Providers: []llmproxy.ProviderConfig{{
			Name: "up", Type: "openai", BaseURL: up.URL + "/v1", APIKey: "sk-up", Models: []string{"gpt-4o-mini"},
		}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	h := server.Handler(p, server.Options{})
	t.Cleanup(func() { _ = h.(io.Closer).Close() })
	srv := server.NewServer("127.0.0.1:0", h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		assert.ErrorIs(t, <-served, http.ErrServerClosed)
	})
	return srv, "http://" + ln.Addr().String(), h, p
}

// sseFrames reads the data: payloads of an SSE body until it ends.
type sseFrames struct{ sc *bufio.Scanner }

func (f sseFrames) next() (string, bool) {
	for f.sc.Scan() {
		if d, ok := strings.CutPrefix(f.sc.Text(), "data: "); ok {
			return d, true
		}
	}
	return "", false
}

const shutdownChat = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]`

// openShutdownStream starts a streamed chat and reads its first frame.
func openShutdownStream(t *testing.T, base string, up *shutdownUpstream) (*http.Response, sseFrames) {
	t.Helper()
	resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(shutdownChat+`,"stream":true}`))
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	frames := sseFrames{bufio.NewScanner(resp.Body)}
	first, ok := frames.next()
	require.True(t, ok, "no first frame")
	assert.Contains(t, first, `"Hel"`)
	require.Equal(t, "stream", <-up.entered)
	return resp, frames
}

// waitRefused waits until a connection to base's address is refused.
func waitRefused(t *testing.T, base string) {
	t.Helper()
	addr := strings.TrimPrefix(base, "http://")
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return true
		}
		_ = c.Close()
		return false
	}, time.Minute, 5*time.Millisecond, "the listener still accepts after Shutdown began")
}

// TestShutdownLetsStreamsFinish: once Shutdown has begun, /health fails
// with "shutting_down" and new connections are refused, while a stream
// open before it runs to its clean end; Shutdown then returns nil.
func TestShutdownLetsStreamsFinish(t *testing.T) {
	up := newShutdownUpstream(t)
	srv, base, h, _ := shutdownProxy(t, up)
	_, frames := openShutdownStream(t, base, up)

	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background(), time.Hour) }()
	waitRefused(t, base)

	// The same handler, reached another way (the listener is closed),
	// reports the shutdown.
	probe := httptest.NewServer(h)
	defer probe.Close()
	resp, err := http.Get(probe.URL + "/health")
	require.NoError(t, err)
	var health struct {
		Status string `json:"status"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&health))
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "shutting_down", health.Status)

	close(up.release)
	var rest []string
	for f, ok := frames.next(); ok; f, ok = frames.next() {
		rest = append(rest, f)
	}
	require.NotEmpty(t, rest)
	assert.Equal(t, "[DONE]", rest[len(rest)-1], "the stream must end cleanly: %q", rest)
	for _, f := range rest {
		assert.NotContains(t, f, `"error"`)
	}
	assert.Contains(t, strings.Join(rest, "\n"), `"lo"`)
	require.NoError(t, <-done)
}

// TestShutdownEndsStreamsLeftWithError: what is still running when the
// shutdown timeout is over ends with code server_shutting_down: a stream
// with an error frame and no [DONE], a plain request with a 503. Neither
// counts against the provider.
func TestShutdownEndsStreamsLeftWithError(t *testing.T) {
	up := newShutdownUpstream(t)
	defer close(up.release)
	srv, base, _, p := shutdownProxy(t, up)
	_, frames := openShutdownStream(t, base, up)

	type plainReply struct {
		status     int
		retryAfter string
		body       []byte
		err        error
	}
	plain := make(chan plainReply, 1)
	go func() {
		resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(shutdownChat+`}`))
		if err != nil {
			plain <- plainReply{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		plain <- plainReply{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: b, err: err}
	}()
	require.Equal(t, "plain", <-up.entered)

	// The upstream answers neither before the timeout, however long it is.
	err := srv.Shutdown(context.Background(), 50*time.Millisecond)
	require.Error(t, err)

	var rest []string
	for f, ok := frames.next(); ok; f, ok = frames.next() {
		rest = append(rest, f)
	}
	require.NotEmpty(t, rest)
	last := rest[len(rest)-1]
	assert.NotContains(t, rest, "[DONE]", "a stream cut by the shutdown must not end with [DONE]")
	var env struct {
		Error struct {
			Type string `json:"type"`
			Code string `json:"code"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(last), &env), "last frame %q", last)
	assert.Equal(t, "server_shutting_down", env.Error.Code)
	assert.Equal(t, "server_error", env.Error.Type)

	r := <-plain
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r.body)
	assert.Equal(t, "1", r.retryAfter)
	assert.Contains(t, string(r.body), `"code":"server_shutting_down"`)

	for _, hs := range p.Health() {
		assert.Equal(t, llmproxy.HealthHealthy, hs.Status, "%s: a shutdown is no failure of the provider", hs.Name)
		assert.Equal(t, llmproxy.BreakerClosed, hs.Breaker, hs.Name)
	}
}

// TestDrainHealth: Drain turns GET /health into a 503 "shutting_down";
// the other endpoints go on serving.
func TestDrainHealth(t *testing.T) {
	p, err := llmproxy.New(mockConfig())
	require.NoError(t, err)
	defer p.Close()
	h := server.Handler(p, server.Options{})
	defer h.(io.Closer).Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	require.Equal(t, http.StatusOK, get(t, srv, "/health").status)
	server.Drain(h)
	r := get(t, srv, "/health")
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.Equal(t, "shutting_down", r.object(t)["status"])
	live := get(t, srv, "/livez")
	assert.Equal(t, http.StatusOK, live.status, "liveness does not fail while draining")
	assert.Equal(t, "ok", live.object(t)["status"])
	assert.Equal(t, http.StatusOK, postJSON(t, srv, "/v1/chat/completions", chatBody("mock-1", "hi"), "Authorization", "Bearer "+clientKey).status)
}
