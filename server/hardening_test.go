package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/server"
)

// hardModel is the model every upstream of the hardening tests serves
// (upstreamProvider configures it).
const hardModel = failoverModel

// hardSanity bounds how long one request to a proxy with a misbehaving
// upstream may take.
const hardSanity = 15 * time.Second

// hardChunk is an OpenAI chat chunk of the stream "chatcmpl-H1" with the
// given delta (JSON).
func hardChunk(delta string) string {
	return `{"id":"chatcmpl-H1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-hard-1","choices":[{"index":0,"delta":` +
		delta + `,"logprobs":null,"finish_reason":null}]}`
}

// hardBackupHandler answers chat completions and chat streams as a healthy
// OpenAI upstream: "answer from backup", or the stream "Backup answer".
func hardBackupHandler(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Stream bool `json:"stream"`
	}
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &req)
	if req.Stream {
		strmWriteSSE(w, strmGoodChat("Backup", " answer")...)
		return
	}
	answerOK("backup")(w, r)
}

// hardUpstream is an httptest upstream that counts its requests.
type hardUpstream struct {
	*httptest.Server
	hits atomic.Int32
}

func newHardUpstream(t *testing.T, h http.HandlerFunc) *hardUpstream {
	t.Helper()
	u := &hardUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(func() {
		u.CloseClientConnections()
		u.Close()
	})
	return u
}

// hardFailover serves a proxy whose primary (priority 1, no retries) is
// primary's OpenAI-format upstream and whose backup (priority 2) is
// healthy. It returns the proxy and the primary.
func hardFailover(t *testing.T, primary http.HandlerFunc) (*testServer, *hardUpstream) {
	t.Helper()
	p := newHardUpstream(t, primary)
	b := newHardUpstream(t, hardBackupHandler)
	ts := startServer(t, failoverConfig(
		upstreamProvider("primary", p.URL, 1),
		upstreamProvider("backup", b.URL, 2),
	), server.Options{})
	return ts, p
}

// hardChat posts a chat request for hardModel, streamed or not, and reads
// the whole answer within hardSanity.
func hardChat(t *testing.T, srv *httptest.Server, stream bool) reply {
	t.Helper()
	body := `{"model":"` + hardModel + `","messages":[{"role":"user","content":"hi"}]}`
	if stream {
		body = `{"model":"` + hardModel + `","messages":[{"role":"user","content":"hi"}],"stream":true}`
	}
	ctx, cancel := context.WithTimeout(t.Context(), hardSanity)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+clientKey)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// hardCheckBackup checks that the client got the backup's answer, on the
// second attempt, streamed or not, and nothing of the primary's.
func hardCheckBackup(t *testing.T, r reply, stream bool) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "body: %.2000s", r.body)
	assert.Equal(t, "backup", r.header.Get("X-LLMProxy-Provider"))
	if stream {
		payloads := strmCheckClean(t, strmReply(r), "backup", 2)
		text, finish := strmChatContent(t, payloads)
		assert.Equal(t, "Backup answer", text)
		assert.Equal(t, "stop", finish)
		return
	}
	assert.Equal(t, "answer from backup", chatText(t, r.body))
	pi := getProxyInfo(t, r.body)
	assert.Equal(t, "backup", pi.Provider)
	assert.Equal(t, 2, pi.AttemptNumber)
}

// hardCheckLogs checks that the proxy answered no 5xx and panicked nowhere.
func hardCheckLogs(t *testing.T, ts *testServer) {
	t.Helper()
	for _, rec := range ts.logs.lines(t) {
		assert.NotEqual(t, "panic in handler", rec["msg"], "log: %v", rec)
		if rec["msg"] == "request" {
			assert.Less(t, rec["status"], 500.0, "access line %v", rec)
		}
	}
}

// writeBody answers 200 with the content type and body.
func writeBody(contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, body)
	}
}

const nginxPage = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n"

// TestBadUpstreams answers the proxy's first attempt with the garbage
// upstreams send in the wild. Each is a provider error that fails over: the
// client gets the backup's answer and never a 5xx, whether it streams or
// not.
//
// An answer with bytes that are not UTF-8 inside a JSON string fails over
// too: the proxy passes an OpenAI-format answer on as its bytes, and JSON
// must be UTF-8 (Python's json refuses anything else), so it is an invalid
// answer like an HTML page.
func TestBadUpstreams(t *testing.T) {
	invalidUTF8Answer := `{"id":"chatcmpl-bad","object":"chat.completion","created":1741569952,"model":"gpt-hard-1",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"caf` + "\xe9\xff" + `"},"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}`
	tests := []struct {
		name    string
		stream  bool
		primary http.HandlerFunc
	}{
		{"HTML page", false, writeBody("text/html; charset=utf-8", nginxPage)},
		{"HTML page to a stream", true, writeBody("text/html; charset=utf-8", nginxPage)},
		{"empty body", false, writeBody("application/json", "")},
		{"empty stream", true, writeBody("text/event-stream", "")},
		{"null", false, writeBody("application/json", "null")},
		{"an array", false, writeBody("application/json", `[{"choices":[]}]`)},
		{"truncated JSON", false, writeBody("application/json", `{"id":"chatcmpl-x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"half`)},
		{"invalid UTF-8", false, writeBody("application/json", invalidUTF8Answer)},
		{"invalid UTF-8 in the first chunk", true, func(w http.ResponseWriter, r *http.Request) {
			strmWriteSSE(w, strmFrames(hardChunk(strmRoleDelta), hardChunk(`{"content":"caf`+"\xe9"+`"}`))...)
		}},
		{"unexpected types", false, writeBody("application/json", `{"id":1,"object":"chat.completion","created":"x","choices":"x"}`)},
		{"choices of unexpected types", false, writeBody("application/json", `{"id":"c","object":"chat.completion","choices":[{"index":"0","message":"hi","finish_reason":7}]}`)},
		{"a chunk with unexpected types", true, func(w http.ResponseWriter, r *http.Request) {
			strmWriteSSE(w, strmFrames(hardChunk(strmRoleDelta), `{"id":"chatcmpl-H1","object":"chat.completion.chunk","choices":"x"}`)...)
		}},
		{"a chunk whose delta is a string", true, func(w http.ResponseWriter, r *http.Request) {
			strmWriteSSE(w, strmFrames(`{"id":"chatcmpl-H1","object":"chat.completion.chunk","choices":[{"index":0,"delta":"Hello"}]}`)...)
		}},
		{"a stream line over the limit", true, func(w http.ResponseWriter, r *http.Request) {
			// A role chunk, then one 5 MiB line (the reader's limit is
			// 4 MiB): the stream fails before its first token.
			strmWriteSSE(w, strmFrames(hardChunk(strmRoleDelta))...)
			_, _ = io.WriteString(w, "data: "+hardChunk(`{"content":"`+strings.Repeat("A", 5<<20)+`"}`)+"\n\n")
		}},
		{"a body cut short", false, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, `{"id":"chatcmpl-x",`)
		}},
		{"an error frame before content", true, func(w http.ResponseWriter, r *http.Request) {
			strmWriteSSE(w, "event: error\ndata: "+`{"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}`+"\n\n")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts, primary := hardFailover(t, tc.primary)
			start := time.Now()
			r := hardChat(t, ts.Server, tc.stream)
			hardCheckBackup(t, r, tc.stream)
			assert.EqualValues(t, 1, primary.hits.Load(), "the primary was tried once")
			assert.Less(t, time.Since(start), hardSanity)
			assert.NotContains(t, string(r.body), "502 Bad Gateway")
			hardCheckLogs(t, ts)
		})
	}
}

// TestBadUpstreamHugeAnswer has the primary send an answer far larger than
// the adapter's cap (32 MiB): it fails over, quickly, and the proxy stops
// reading at the cap instead of buffering the whole answer. The upstream
// counts what it managed to write: 64 MiB are offered, and the proxy's
// 32 MiB and the sockets' buffers hold far less.
func TestBadUpstreamHugeAnswer(t *testing.T) {
	const offered = 64 << 20
	for _, declared := range []bool{false, true} {
		name := map[bool]string{false: "chunked", true: "declared length"}[declared]
		t.Run(name, func(t *testing.T) {
			var written atomic.Int64
			done := make(chan struct{})
			ts, _ := hardFailover(t, func(w http.ResponseWriter, r *http.Request) {
				defer close(done)
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				if declared {
					w.Header().Set("Content-Length", strconv.Itoa(offered))
				}
				w.WriteHeader(http.StatusOK)
				head := `{"id":"chatcmpl-huge","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"`
				n, err := io.WriteString(w, head)
				written.Add(int64(n))
				block := bytes.Repeat([]byte("a"), 64<<10)
				for err == nil && written.Load() < offered {
					n, err = w.Write(block[:min(len(block), offered-int(written.Load()))])
					written.Add(int64(n))
				}
			})
			start := time.Now()
			r := hardChat(t, ts.Server, false)
			hardCheckBackup(t, r, false)
			select {
			case <-done:
			case <-time.After(hardSanity):
				t.Fatal("the upstream is still writing: the proxy did not let go of the answer")
			}
			t.Logf("%s: the upstream wrote %d MiB of %d in %v", name, written.Load()>>20, offered>>20, time.Since(start))
			assert.Less(t, written.Load(), int64(offered), "the proxy read the whole answer")
			if declared {
				assert.Less(t, written.Load(), int64(32<<20), "an answer declared too large is refused unread")
			}
			hardCheckLogs(t, ts)
		})
	}
}

// TestHeadersNotForwarded sends what a client might smuggle in headers and
// in the body: the upstream sees only its own key, its own Host and the
// configured custom headers, never a client's header (hop-by-hop or not),
// and a base URL in the request goes nowhere. Nor do the upstream's own
// headers reach the client.
func TestHeadersNotForwarded(t *testing.T) {
	const upstreamKey = "sk-smuggle-upstream-key-41f0"
	var (
		mu   sync.Mutex
		seen []*http.Request
	)
	up := newHardUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		cp := r.Clone(context.Background())
		cp.Body = io.NopCloser(bytes.NewReader(b))
		mu.Lock()
		seen = append(seen, cp)
		mu.Unlock()
		h := w.Header()
		h.Set("Set-Cookie", "upstream_session=smuggled-back")
		h.Set("X-Upstream-Internal", "smuggled-back")
		h.Set("OpenAI-Organization", "org-upstream-smuggled-back")
		h.Set("Openai-Processing-Ms", "12")
		switch {
		case strings.HasSuffix(r.URL.Path, "/embeddings"):
			h.Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"`+hardModel+`","usage":{"prompt_tokens":1,"total_tokens":1}}`)
		case bytes.Contains(b, []byte(`"stream":true`)):
			strmWriteSSE(w, strmGoodChat()...)
		default:
			answerOK("upstream")(w, r)
		}
	})
	evil := newHardUpstream(t, http.HandlerFunc(answerOK("evil")))
	pc := upstreamProvider("smuggle", up.URL, 1)
	pc.APIKey = llmproxy.Secret(upstreamKey)
	pc.CustomHeaders = map[string]string{"OpenAI-Organization": "org-config", "X-Config-Header": "from-config"}
	ts := startServer(t, failoverConfig(pc), server.Options{})

	smuggled := [][2]string{
		{"X-Forwarded-For", "203.0.113.7, smuggled"},
		{"X-Forwarded-Host", "smuggled.example"},
		{"X-Forwarded-Proto", "smuggled"},
		{"X-Real-IP", "smuggled"},
		{"Forwarded", "for=smuggled;host=evil.example"},
		{"Connection", "keep-alive, X-Foo"},
		{"X-Foo", "smuggled-1"},
		{"Keep-Alive", "timeout=5, smuggled"},
		{"Proxy-Authorization", "Basic smuggled"},
		{"Proxy-Connection", "keep-alive"},
		{"OpenAI-Organization", "org-smuggled"},
		{"OpenAI-Project", "proj-smuggled"},
		{"X-Stainless-Retry-Count", "7"},
		{"X-Stainless-Lang", "smuggled"},
		{"User-Agent", "smuggled-agent/1.0"},
		{"Cookie", "session=smuggled"},
		{"X-Base-URL", evil.URL},
		{"X-Upstream-URL", evil.URL},
		{"Api-Key", "smuggled"},
	}
	requests := []struct {
		name, path, body string
	}{
		{"chat", "/v1/chat/completions", `{"model":"` + hardModel + `","messages":[{"role":"user","content":"hi"}],"base_url":"` + evil.URL + `/v1","api_base":"` + evil.URL + `"}`},
		{"stream", "/v1/chat/completions", `{"model":"` + hardModel + `","messages":[{"role":"user","content":"hi"}],"stream":true,"base_url":"` + evil.URL + `/v1"}`},
		{"embeddings", "/v1/embeddings", `{"model":"` + hardModel + `","input":"hi","base_url":"` + evil.URL + `/v1"}`},
	}
	for _, rq := range requests {
		t.Run(rq.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.URL+rq.path, strings.NewReader(rq.body))
			require.NoError(t, err)
			req.Host = "evil.example"
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+clientKey)
			for _, h := range smuggled {
				req.Header.Add(h[0], h[1])
			}
			resp, err := ts.Client().Do(req)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
			assert.Equal(t, "smuggle", resp.Header.Get("X-LLMProxy-Provider"))

			// The upstream's own headers stay with the proxy.
			for name, vals := range resp.Header {
				for _, v := range vals {
					assert.NotContains(t, v, "smuggled-back", "the upstream's header %s reached the client", name)
				}
			}
			assert.Empty(t, resp.Header.Get("Set-Cookie"))
			assert.Empty(t, resp.Header.Get("Openai-Processing-Ms"))

			mu.Lock()
			require.NotEmpty(t, seen)
			got := seen[len(seen)-1]
			mu.Unlock()
			assert.Equal(t, "Bearer "+upstreamKey, got.Header.Get("Authorization"), "the upstream gets its own key")
			assert.Equal(t, up.Listener.Addr().String(), got.Host, "the upstream gets its own Host")
			assert.Equal(t, []string{"org-config"}, got.Header.Values("OpenAI-Organization"), "custom_headers arrive and win")
			assert.Equal(t, "from-config", got.Header.Get("X-Config-Header"))
			for _, h := range smuggled {
				if h[0] == "OpenAI-Organization" || h[0] == "User-Agent" || h[0] == "Connection" {
					continue // checked by value below
				}
				assert.Empty(t, got.Header.Values(h[0]), "the client's %s reached the upstream", h[0])
			}
			assert.NotContains(t, got.Header.Get("User-Agent"), "smuggled")
			for name, vals := range got.Header {
				for _, v := range vals {
					assert.NotContains(t, v, "smuggled", "header %s: %q", name, v)
					assert.NotContains(t, v, clientKey, "header %s carries the client key", name)
					assert.NotContains(t, v, "evil", "header %s: %q", name, v)
					assert.NotContains(t, strings.ToLower(v), "x-foo", "header %s: %q", name, v)
				}
			}
			assert.EqualValues(t, 0, evil.hits.Load(), "a base URL in the request was followed")
		})
	}
	hardCheckLogs(t, ts)
}

// serveReal serves h with server.NewHTTPServer on a 127.0.0.1 listener,
// after mod (may be nil) adjusted the server, and closes it when the test
// ends. It returns the server and its base URL.
func serveReal(t *testing.T, h http.Handler, mod func(*http.Server)) (*http.Server, string) {
	t.Helper()
	srv := server.NewHTTPServer("127.0.0.1:0", h)
	if mod != nil {
		mod(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
	})
	return srv, "http://" + ln.Addr().String()
}

// realHandler is a mock proxy's handler, closed when the test ends.
func realHandler(t *testing.T) http.Handler {
	t.Helper()
	p, err := llmproxy.New(mockConfig())
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	h := server.Handler(p, server.Options{})
	t.Cleanup(func() { _ = h.(io.Closer).Close() })
	return h
}

// realChat posts a chat request to the mock proxy at base with client and
// checks the answer.
func realChat(t *testing.T, client *http.Client, base, content string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/v1/chat/completions", strings.NewReader(chatBody("mock-1", content)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+clientKey)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", b)
	assert.Equal(t, "Mock response to: "+content, chatText(t, b))
	return resp
}

// TestHeaderFlood sends more than MaxHeaderBytes (1 MiB) of headers to a
// real server: the answer is 431, and the server goes on serving.
func TestHeaderFlood(t *testing.T) {
	_, base := serveReal(t, realHandler(t), nil)
	addr := strings.TrimPrefix(base, "http://")

	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	var req bytes.Buffer
	req.WriteString("POST /v1/chat/completions HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + clientKey + "\r\n")
	filler := strings.Repeat("f", 1000)
	for i := 0; req.Len() < server.MaxHeaderBytes+(64<<10); i++ {
		fmt.Fprintf(&req, "X-Flood-%05d: %s\r\n", i, filler)
	}
	req.WriteString("Content-Length: 2\r\n\r\n{}")
	// Write while reading: the server answers as soon as it has read its
	// limit and may never read the rest.
	wrote := make(chan error, 1)
	go func() {
		_, err := conn.Write(req.Bytes())
		wrote <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "no answer to the header flood")
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	_ = conn.Close()
	<-wrote

	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	realChat(t, client, base, "after the flood")
}

// TestSlowHeaderClient holds a connection open with a header that never
// ends, and one dribbled a byte at a time: the server, with its
// ReadHeaderTimeout lowered to 200 ms, hangs up on both within a bounded
// time, and goes on serving.
func TestSlowHeaderClient(t *testing.T) {
	const timeout = 200 * time.Millisecond
	_, base := serveReal(t, realHandler(t), func(s *http.Server) { s.ReadHeaderTimeout = timeout })
	addr := strings.TrimPrefix(base, "http://")

	for _, dribble := range []bool{false, true} {
		name := map[bool]string{false: "stalled", true: "dribbling"}[dribble]
		t.Run(name, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			require.NoError(t, err)
			defer conn.Close()
			start := time.Now()
			_, err = io.WriteString(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: "+addr+"\r\nX-Slow: a")
			require.NoError(t, err)
			stop := make(chan struct{})
			dribbled := make(chan struct{})
			go func() {
				defer close(dribbled)
				if !dribble {
					return
				}
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if _, err := conn.Write([]byte("a")); err != nil {
							return
						}
					}
				}
			}()
			// A server that never hung up would run into this deadline,
			// far above ReadHeaderTimeout so that a busy machine does not.
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
			_, err = io.Copy(io.Discard, conn) // until the server hangs up
			close(stop)
			<-dribbled
			elapsed := time.Since(start)
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server kept the connection open for %v", elapsed)
			assert.GreaterOrEqual(t, elapsed, timeout-50*time.Millisecond)
			t.Logf("the server hung up after %v (ReadHeaderTimeout %v)", elapsed, timeout)
		})
	}

	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	realChat(t, client, base, "after the slow clients")
}

// streamPanicType is a provider type whose stream panics: when it is
// opened (provider name "at-open"), in Next before any content
// ("before-content") or after its first content chunk ("mid-stream").
const streamPanicType = "test-stream-panic"

func init() {
	llmproxy.RegisterProviderType(streamPanicType, func(cfg llmproxy.ProviderConfig) (llmproxy.Provider, error) {
		return streamPanicProvider{name: cfg.Name}, nil
	})
}

type streamPanicProvider struct{ name string }

func (p streamPanicProvider) Name() string { return p.name }

func (p streamPanicProvider) ChatCompletion(context.Context, *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error) {
	panic("test provider exploded in ChatCompletion")
}

func (p streamPanicProvider) ChatCompletionStream(context.Context, *llmproxy.ChatRequest) (llmproxy.ChunkReader[*llmproxy.ChatChunk], error) {
	if p.name == "at-open" {
		panic("test provider exploded at open")
	}
	return &streamPanicReader{name: p.name}, nil
}

type streamPanicReader struct {
	name string
	n    int
}

func (r *streamPanicReader) Next() (*llmproxy.ChatChunk, error) {
	r.n++
	c := &llmproxy.ChatChunk{ID: "chatcmpl-panic", Object: "chat.completion.chunk", Created: 1700000000, Model: "panic-1",
		Choices: []llmproxy.ChunkChoice{{Delta: llmproxy.Delta{Role: "assistant"}}}}
	switch {
	case r.n == 1:
		return c, nil // the role: no content yet
	case r.name == "before-content":
		panic("test provider exploded before content")
	case r.n == 2:
		text := "partial"
		c.Choices[0].Delta = llmproxy.Delta{Content: &text}
		return c, nil
	}
	panic("test provider exploded mid-stream")
}

func (r *streamPanicReader) Close() error { return nil }

// TestAdapterPanicRecovered has a provider's adapter panic at each stage:
// in ChatCompletion, when its stream is opened, in its stream's Next before
// any content, and after the stream was committed. The panic is logged
// with the request id, the panic's value never reaches the client, and the
// server keeps serving. Before the commit the router takes the panic for
// the provider's failure and fails over to the backup; after it the client
// gets the data: {"error":...} frame that ends a failed stream, and no
// [DONE], so that no client takes the cut answer for a whole one.
func TestAdapterPanicRecovered(t *testing.T) {
	for _, stage := range []string{"chat", "at-open", "before-content", "mid-stream"} {
		t.Run(stage, func(t *testing.T) {
			cfg := mockConfig()
			cfg.Providers = append(cfg.Providers,
				llmproxy.ProviderConfig{Name: stage, Type: streamPanicType, Models: []string{"panic-model"}, Priority: 1},
				llmproxy.ProviderConfig{Name: "mock-backup", Type: "mock", Models: []string{"panic-model"}, Priority: 2})
			ts := startServer(t, cfg, server.Options{})
			id := "adapter-panic-" + stage
			body := `{"model":"panic-model","messages":[{"role":"user","content":"hi"}],"stream":true}`
			if stage == "chat" {
				body = chatBody("panic-model", "hi")
			}
			r := postJSON(t, ts.Server, "/v1/chat/completions", body, "X-Request-ID", id)
			assert.Equal(t, id, r.header.Get("X-Request-ID"))
			assert.NotContains(t, string(r.body), "exploded", "the panic value must not reach the client")
			switch stage {
			case "chat":
				require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
				assert.Equal(t, "Mock response to: hi", chatText(t, r.body))
				assert.Equal(t, "mock-backup", getProxyInfo(t, r.body).Provider)
			case "mid-stream":
				payloads := strmCheckFailedFrames(t, r)
				text, _ := strmChatContent(t, payloads[:len(payloads)-1])
				assert.Equal(t, "partial", text)
				var env struct {
					Error envelope `json:"error"`
				}
				require.NoError(t, json.Unmarshal([]byte(payloads[len(payloads)-1]), &env))
				assert.Equal(t, "server_error", env.Error.Type)
				assert.NotEmpty(t, env.Error.Message)
			default:
				payloads := strmCheckClean(t, strmReply(r), "mock-backup", 2)
				text, _ := strmChatContent(t, payloads)
				assert.Equal(t, "Mock response to: hi", text)
			}

			// The panic is logged, with the request id and the stack.
			var recs []map[string]any
			deadline := time.Now().Add(time.Minute) // returns as soon as the line shows
			for len(recs) == 0 && time.Now().Before(deadline) {
				recs = append(ts.logs.records(t, "panic in handler", id), ts.logs.records(t, "provider adapter panicked", id)...)
				time.Sleep(5 * time.Millisecond)
			}
			require.Len(t, recs, 1, "log:\n%s", ts.logs)
			assert.Equal(t, "ERROR", recs[0]["level"])
			assert.Contains(t, recs[0]["panic"], "exploded")
			assert.NotEmpty(t, recs[0]["stack"])
			access := ts.logs.waitRecord(t, "request", id)
			require.Len(t, access, 1, "log:\n%s", ts.logs)
			assert.Equal(t, 200.0, access[0]["status"])

			r = postJSON(t, ts.Server, "/v1/chat/completions", chatBody("mock-1", "still alive?"))
			require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
			assert.Equal(t, "Mock response to: still alive?", chatText(t, r.body))
		})
	}
}

// strmCheckFailedFrames checks a committed stream that ended in an error
// frame: 200, nothing but data frames, the last one {"error":...}, no
// [DONE]. It returns the payloads.
func strmCheckFailedFrames(t *testing.T, r reply) []string {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "the stream was committed; body: %s", r.body)
	assert.Equal(t, "text/event-stream", r.header.Get("Content-Type"))
	payloads := strmParseSSE(t, r.body)
	require.NotEmpty(t, payloads)
	assert.NotContains(t, string(r.body), "[DONE]", "a failed stream must not end with [DONE]; body:\n%s", r.body)
	last := payloads[len(payloads)-1]
	require.True(t, strings.HasPrefix(last, `{"error":`), "the last frame must be data: {\"error\":...}; body:\n%s", r.body)
	return payloads
}
