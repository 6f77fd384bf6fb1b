package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/mock"
	"github.com/llmproxy/llmproxy/server"
)

// clientKey is the key test clients present to the proxy.
const clientKey = "sk-client-test-123"

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// panicProviderType is a provider type whose ChatCompletion panics, to test
// the server's recovery.
const panicProviderType = "test-panic"

func init() {
	llmproxy.RegisterProviderType(panicProviderType, func(cfg llmproxy.ProviderConfig) (llmproxy.Provider, error) {
		return panicProvider{name: cfg.Name}, nil
	})
}

type panicProvider struct{ name string }

func (p panicProvider) Name() string { return p.name }

func (p panicProvider) ChatCompletion(context.Context, *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error) {
	panic("test provider exploded")
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger
// and reads of a test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the log records written so far, decoded.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var rec map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec), "log line is not JSON: %s", sc.Text())
		out = append(out, rec)
	}
	return out
}

// records returns the log records with message msg and request_id id.
func (b *syncBuffer) records(t *testing.T, msg, id string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, rec := range b.lines(t) {
		if rec["msg"] == msg && rec["request_id"] == id {
			out = append(out, rec)
		}
	}
	return out
}

// waitRecord waits until a record with msg and request id is logged (the
// access log line may be written just after the client has its answer) and
// returns all such records.
func (b *syncBuffer) waitRecord(t *testing.T, msg, id string) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // far above what a busy machine needs
	for {
		recs := b.records(t, msg, id)
		if len(recs) > 0 || time.Now().After(deadline) {
			return recs
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testServer is a proxy served by an httptest server, with its log.
type testServer struct {
	*httptest.Server
	proxy *llmproxy.Proxy
	logs  *syncBuffer
}

// startServer builds a proxy from cfg and serves it with opts; the server's
// and the proxy's logs go, as JSON, to the returned server's logs. Both are
// closed when the test ends.
func startServer(t *testing.T, cfg llmproxy.Config, opts server.Options) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := llmproxy.New(cfg, llmproxy.WithLogger(logger))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	if opts.Logger == nil {
		opts.Logger = logger
	}
	srv := httptest.NewServer(server.Handler(p, opts))
	t.Cleanup(srv.Close) // runs before p.Close
	return &testServer{Server: srv, proxy: p, logs: logs}
}

// newProxyServer serves a proxy built from cfg with default options.
func newProxyServer(t *testing.T, cfg llmproxy.Config) *httptest.Server {
	t.Helper()
	return startServer(t, cfg, server.Options{}).Server
}

// mockConfig is a proxy with client auth and one mock provider serving
// mock-1 and mock-embed.
func mockConfig() llmproxy.Config {
	return llmproxy.Config{
		APIKeys: []string{clientKey},
		Providers: []llmproxy.ProviderConfig{
			{Name: "mock-a", Type: "mock", Models: []string{"mock-1", "mock-embed"}},
		},
	}
}

// reply is a response read in full.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// object decodes the body as a JSON object.
func (r reply) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body is not a JSON object: %s", r.body)
	return m
}

// do sends a request with the given header pairs ("Name", "value", ...)
// and reads the whole answer.
func do(t *testing.T, srv *httptest.Server, method, path, body string, header ...string) reply {
	t.Helper()
	require.Zero(t, len(header)%2, "header pairs")
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, rd)
	require.NoError(t, err)
	for i := 0; i < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// postJSON posts a JSON body with the client key, plus any header pairs
// (which may override the key header).
func postJSON(t *testing.T, srv *httptest.Server, path, body string, header ...string) reply {
	t.Helper()
	h := append([]string{"Content-Type", "application/json", "X-API-Key", clientKey}, header...)
	return do(t, srv, http.MethodPost, path, body, h...)
}

// get sends a GET with the client key.
func get(t *testing.T, srv *httptest.Server, path string, header ...string) reply {
	t.Helper()
	return do(t, srv, http.MethodGet, path, "", append([]string{"X-API-Key", clientKey}, header...)...)
}

// chatBody is a chat request for model with one user message.
func chatBody(model, content string) string {
	b, _ := json.Marshal(map[string]any{
		"model":    model,
		"messages": []map[string]any{{"role": "user", "content": content}},
	})
	return string(b)
}

// proxyInfo is _proxy_info as the server writes it.
type proxyInfo struct {
	Provider      string   `json:"provider"`
	Model         string   `json:"model"`
	AttemptNumber int      `json:"attempt_number"`
	ResponseTime  *float64 `json:"response_time"`
	RequestID     string   `json:"request_id"`
}

// getProxyInfo decodes the _proxy_info member of a JSON answer.
func getProxyInfo(t *testing.T, body []byte) proxyInfo {
	t.Helper()
	var v struct {
		ProxyInfo *proxyInfo `json:"_proxy_info"`
	}
	require.NoError(t, json.Unmarshal(body, &v), "body: %s", body)
	require.NotNil(t, v.ProxyInfo, "no _proxy_info in %s", body)
	require.NotNil(t, v.ProxyInfo.ResponseTime, "no _proxy_info.response_time in %s", body)
	return *v.ProxyInfo
}

// chatText returns choices[0].message.content of a chat answer.
func chatText(t *testing.T, body []byte) string {
	t.Helper()
	var v struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	require.NoError(t, json.Unmarshal(body, &v), "body: %s", body)
	require.NotEmpty(t, v.Choices, "no choices in %s", body)
	return v.Choices[0].Message.Content
}

// envelope is the OpenAI error envelope.
type envelope struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// errorEnvelope checks that r is a JSON error in the OpenAI envelope, with
// all four members present, and returns it.
func errorEnvelope(t *testing.T, r reply) envelope {
	t.Helper()
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	var raw struct {
		Error map[string]json.RawMessage `json:"error"`
	}
	require.NoError(t, json.Unmarshal(r.body, &raw), "error body is not JSON: %s", r.body)
	require.NotNil(t, raw.Error, "no error member in %s", r.body)
	for _, k := range []string{"message", "type", "param", "code"} {
		assert.Contains(t, raw.Error, k, "error envelope lacks %q: %s", k, r.body)
	}
	var env struct {
		Error envelope `json:"error"`
	}
	require.NoError(t, json.Unmarshal(r.body, &env))
	assert.NotEmpty(t, env.Error.Message, "error.message: %s", r.body)
	assert.NotEmpty(t, env.Error.Type, "error.type: %s", r.body)
	return env.Error
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func TestChatCompletionAuthHeaders(t *testing.T) {
	srv := newProxyServer(t, mockConfig())
	tests := []struct {
		name   string
		header []string
	}{
		{"X-API-Key", []string{"X-API-Key", clientKey}},
		{"Authorization Bearer", []string{"X-API-Key", "", "Authorization", "Bearer " + clientKey}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := postJSON(t, srv, "/v1/chat/completions", chatBody("mock-1", "hello "+tc.name), tc.header...)
			require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			assert.Equal(t, "Mock response to: hello "+tc.name, chatText(t, r.body))

			pi := getProxyInfo(t, r.body)
			assert.Equal(t, "mock-a", pi.Provider)
			assert.Equal(t, 1, pi.AttemptNumber)
			assert.GreaterOrEqual(t, *pi.ResponseTime, 0.0)
			assert.True(t, strings.HasPrefix(pi.RequestID, "req_"), "generated request id %q", pi.RequestID)

			assert.Equal(t, pi.RequestID, r.header.Get("X-Request-ID"))
			assert.Equal(t, "mock-a", r.header.Get("X-LLMProxy-Provider"))
			assert.Equal(t, "1", r.header.Get("X-LLMProxy-Attempt"))
		})
	}
}

func TestRequestIDHonoured(t *testing.T) {
	srv := newProxyServer(t, mockConfig())

	const id = "client-trace-0042"
	r := postJSON(t, srv, "/v1/chat/completions", chatBody("mock-1", "hi"), "X-Request-ID", id)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	assert.Equal(t, id, r.header.Get("X-Request-ID"))
	assert.Equal(t, id, getProxyInfo(t, r.body).RequestID)

	// An id that is not sane (spaces, or far too long) is replaced.
	for _, bad := range []string{"has spaces in it", strings.Repeat("x", 500)} {
		r := postJSON(t, srv, "/v1/chat/completions", chatBody("mock-1", "hi"), "X-Request-ID", bad)
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		got := r.header.Get("X-Request-ID")
		assert.NotEqual(t, bad, got)
		assert.True(t, strings.HasPrefix(got, "req_"), "replacement id %q", got)
		assert.Equal(t, got, getProxyInfo(t, r.body).RequestID)
	}

	// Errors carry the id too.
	r = postJSON(t, srv, "/v1/chat/completions", "{", "X-Request-ID", id)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, id, r.header.Get("X-Request-ID"))
}

func TestHealth(t *testing.T) {
	srv := newProxyServer(t, mockConfig())
	r := do(t, srv, http.MethodGet, "/health", "") // no key
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	body := r.object(t)
	assert.Equal(t, "healthy", body["status"])
	assert.Equal(t, 1.0, body["providers_active"])
}

func TestHealthWithoutActiveProvider(t *testing.T) {
	const env = "LLMPROXY_SERVER_TEST_UNSET_KEY"
	t.Setenv(env, "") // empty: the provider is disabled
	cfg := mockConfig()
	cfg.Providers = []llmproxy.ProviderConfig{{Name: "keyless", Type: "mock", APIKeyEnv: llmproxy.EnvNames{env}}}
	srv := newProxyServer(t, cfg)

	r := do(t, srv, http.MethodGet, "/health", "")
	require.Equal(t, http.StatusServiceUnavailable, r.status, "body: %s", r.body)
	body := r.object(t)
	assert.Equal(t, "unhealthy", body["status"])
	assert.Equal(t, 0.0, body["providers_active"])

	// The disabled provider serves nothing.
	r = postJSON(t, srv, "/v1/chat/completions", chatBody("mock-1", "hi"))
	assert.Equal(t, http.StatusNotFound, r.status, "body: %s", r.body)
	assert.Equal(t, "model_not_found", deref(errorEnvelope(t, r).Code))
}

func TestProvidersEndpoint(t *testing.T) {
	const secret = "sk-upstream-secret-7f3a9c"
	const env = "LLMPROXY_SERVER_TEST_UNSET_KEY2"
	t.Setenv(env, "")
	cfg := mockConfig()
	cfg.Providers = []llmproxy.ProviderConfig{
		{Name: "with-key", Type: "mock", APIKey: llmproxy.Secret(secret), Models: []string{"mock-1"}},
		{Name: "no-key", Type: "mock", Models: []string{"mock-2"}, Priority: 2},
		{Name: "env-unset", Type: "mock", APIKeyEnv: llmproxy.EnvNames{env}},
	}
	ts := startServer(t, cfg, server.Options{})

	r := do(t, ts.Server, http.MethodGet, "/providers", "")
	assert.Equal(t, http.StatusUnauthorized, r.status, "GET /providers without a key")

	r = get(t, ts.Server, "/providers")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	assert.NotContains(t, string(r.body), secret)
	var body struct {
		Providers []struct {
			Name      string `json:"name"`
			Type      string `json:"type"`
			Active    bool   `json:"active"`
			APIKeySet *bool  `json:"api_key_set"`
			Priority  int    `json:"priority"`
		} `json:"providers"`
	}
	require.NoError(t, json.Unmarshal(r.body, &body))
	require.Len(t, body.Providers, 3, "body: %s", r.body)
	byName := map[string]int{}
	for i, p := range body.Providers {
		byName[p.Name] = i
		require.NotNil(t, p.APIKeySet, "api_key_set missing for %s: %s", p.Name, r.body)
	}
	withKey, noKey, envUnset := body.Providers[byName["with-key"]], body.Providers[byName["no-key"]], body.Providers[byName["env-unset"]]
	assert.True(t, *withKey.APIKeySet)
	assert.True(t, withKey.Active)
	assert.Equal(t, "mock", withKey.Type)
	assert.False(t, *noKey.APIKeySet)
	assert.True(t, noKey.Active)
	assert.Equal(t, 2, noKey.Priority)
	assert.False(t, *envUnset.APIKeySet)
	assert.False(t, envUnset.Active)

	// Nor does the key show up anywhere else.
	r = postJSON(t, ts.Server, "/v1/chat/completions", chatBody("mock-1", "hi"))
	require.Equal(t, http.StatusOK, r.status)
	assert.NotContains(t, string(r.body), secret)
	assert.NotContains(t, ts.logs.String(), secret)
}

func TestModelsUnion(t *testing.T) {
	cfg := mockConfig()
	cfg.Providers = []llmproxy.ProviderConfig{
		{Name: "a", Type: "mock", Models: []string{"mock-1", "shared"}},
		{Name: "b", Type: "mock", Models: []string{"shared", "mock-2", "glob-*"}},
	}
	srv := newProxyServer(t, cfg)

	r := do(t, srv, http.MethodGet, "/v1/models", "")
	assert.Equal(t, http.StatusUnauthorized, r.status)

	r = get(t, srv, "/v1/models")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID     string `json:"id"`
			Object string `json:"object"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(r.body, &list))
	assert.Equal(t, "list", list.Object)
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
		assert.Equal(t, "model", m.Object)
	}
	assert.ElementsMatch(t, []string{"mock-1", "shared", "mock-2"}, ids)
}

func TestMetrics(t *testing.T) {
	srv := newProxyServer(t, mockConfig())
	r := do(t, srv, http.MethodGet, "/metrics", "")
	assert.Equal(t, http.StatusUnauthorized, r.status)

	require.Equal(t, http.StatusOK, postJSON(t, srv, "/v1/chat/completions", chatBody("mock-1", "hi")).status)
	r = get(t, srv, "/metrics")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	assert.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "text/plain"), "Content-Type %q", r.header.Get("Content-Type"))
	assert.False(t, json.Valid(r.body) && len(bytes.TrimSpace(r.body)) > 0 && r.body[0] == '{', "metrics are not JSON")
}

func TestCORS(t *testing.T) {
	const allowed = "https://app.example.com"
	cfg := mockConfig()
	cfg.CORSOrigins = []string{allowed}
	srv := newProxyServer(t, cfg)

	preflight := func(origin string) reply {
		return do(t, srv, http.MethodOptions, "/v1/chat/completions", "",
			"Origin", origin,
			"Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "authorization, content-type")
	}

	t.Run("allowed origin", func(t *testing.T) {
		r := preflight(allowed) // no key: preflights carry none
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		assert.Equal(t, allowed, r.header.Get("Access-Control-Allow-Origin"))
		assert.Contains(t, r.header.Get("Access-Control-Allow-Methods"), "POST")
		allowHeaders := strings.ToLower(r.header.Get("Access-Control-Allow-Headers"))
		for _, h := range []string{"authorization", "content-type", "x-api-key"} {
			assert.Contains(t, allowHeaders, h)
		}
		assert.NotEmpty(t, r.header.Get("Access-Control-Max-Age"))
		assert.Contains(t, r.header.Values("Vary"), "Origin")
		assert.Empty(t, r.body)

		// The real request gets the headers too, and may read ours.
		r = postJSON(t, srv, "/v1/chat/completions", chatBody("mock-1", "hi"), "Origin", allowed)
		require.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, allowed, r.header.Get("Access-Control-Allow-Origin"))
		assert.Contains(t, r.header.Get("Access-Control-Expose-Headers"), "X-Request-ID")
	})

	t.Run("disallowed origin", func(t *testing.T) {
		r := preflight("https://evil.example.org")
		assert.NotEqual(t, http.StatusNoContent, r.status)
		assert.Empty(t, r.header.Get("Access-Control-Allow-Origin"))
		assert.Empty(t, r.header.Get("Access-Control-Allow-Methods"))

		r = postJSON(t, srv, "/v1/chat/completions", chatBody("mock-1", "hi"), "Origin", "https://evil.example.org")
		require.Equal(t, http.StatusOK, r.status) // CORS is the browser's business
		assert.Empty(t, r.header.Get("Access-Control-Allow-Origin"))
	})
}

func TestPanicRecovered(t *testing.T) {
	cfg := mockConfig()
	cfg.Providers = append(cfg.Providers, llmproxy.ProviderConfig{Name: "boom", Type: panicProviderType, Models: []string{"panic-model"}})
	ts := startServer(t, cfg, server.Options{})

	const id = "panic-request-0001"
	r := postJSON(t, ts.Server, "/v1/chat/completions", chatBody("panic-model", "hi"), "X-Request-ID", id)
	require.Equal(t, http.StatusInternalServerError, r.status, "body: %s", r.body)
	env := errorEnvelope(t, r)
	assert.Equal(t, "server_error", env.Type)
	assert.NotContains(t, string(r.body), "exploded", "the panic value must not reach the client")
	assert.Equal(t, id, r.header.Get("X-Request-ID"))

	// A provider adapter's panic is caught by the router, which counts it
	// as a failure of that provider.
	recs := ts.logs.waitRecord(t, "provider adapter panicked", id)
	require.Len(t, recs, 1, "log:\n%s", ts.logs)
	assert.Equal(t, "ERROR", recs[0]["level"])
	assert.Contains(t, recs[0]["panic"], "test provider exploded")

	// The panicked request has its access log line too, with status 500.
	access := ts.logs.waitRecord(t, "request", id)
	require.Len(t, access, 1, "access log lines for the panicked request; log:\n%s", ts.logs)
	assert.Equal(t, 500.0, access[0]["status"])
	assert.Equal(t, "unavailable", access[0]["error_kind"])
	assert.Equal(t, "panic-model", access[0]["model"])
	for _, h := range ts.proxy.Health() {
		if h.Name == "boom" {
			assert.Positive(t, h.ConsecutiveFailures, "the panic counts against the provider")
		}
	}

	// The server keeps serving.
	r = postJSON(t, ts.Server, "/v1/chat/completions", chatBody("mock-1", "still alive?"))
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	assert.Equal(t, "Mock response to: still alive?", chatText(t, r.body))
}

func TestAccessLog(t *testing.T) {
	ts := startServer(t, mockConfig(), server.Options{})
	const marker = "zebra-quasar-7781 secret message contents"

	type sent struct {
		id         string
		status     int
		model      string
		provider   string
		attempts   float64
		wantKeyID  bool
		wantErrKnd string
	}
	var all []sent

	// A good chat with the key in X-API-Key, and one with Bearer.
	r := postJSON(t, ts.Server, "/v1/chat/completions", chatBody("mock-1", marker), "X-Request-ID", "log-ok-1")
	require.Equal(t, http.StatusOK, r.status)
	all = append(all, sent{id: "log-ok-1", status: 200, model: "mock-1", provider: "mock-a", attempts: 1, wantKeyID: true})
	r = postJSON(t, ts.Server, "/v1/chat/completions", chatBody("mock-1", marker),
		"X-Request-ID", "log-ok-2", "X-API-Key", "", "Authorization", "Bearer "+clientKey)
	require.Equal(t, http.StatusOK, r.status)
	all = append(all, sent{id: "log-ok-2", status: 200, model: "mock-1", provider: "mock-a", attempts: 1, wantKeyID: true})

	// An unknown model, a wrong key, an embedding, a health check.
	r = postJSON(t, ts.Server, "/v1/chat/completions", chatBody("nope", marker), "X-Request-ID", "log-404")
	require.Equal(t, http.StatusNotFound, r.status)
	all = append(all, sent{id: "log-404", status: 404, model: "nope", wantKeyID: true, wantErrKnd: "not_found"})
	r = postJSON(t, ts.Server, "/v1/chat/completions", chatBody("mock-1", marker), "X-Request-ID", "log-401", "X-API-Key", clientKey+"x")
	require.Equal(t, http.StatusUnauthorized, r.status)
	all = append(all, sent{id: "log-401", status: 401})
	r = postJSON(t, ts.Server, "/v1/embeddings", `{"model":"mock-embed","input":"`+marker+`"}`, "X-Request-ID", "log-emb")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	all = append(all, sent{id: "log-emb", status: 200, model: "mock-embed", provider: "mock-a", attempts: 1, wantKeyID: true})
	r = do(t, ts.Server, http.MethodGet, "/health", "", "X-Request-ID", "log-health")
	require.Equal(t, http.StatusOK, r.status)
	all = append(all, sent{id: "log-health", status: 200})

	for _, s := range all {
		recs := ts.logs.waitRecord(t, "request", s.id)
		require.Len(t, recs, 1, "access log lines for %s; log:\n%s", s.id, ts.logs)
		rec := recs[0]
		assert.Equal(t, float64(s.status), rec["status"], s.id)
		assert.NotEmpty(t, rec["method"], s.id)
		assert.NotEmpty(t, rec["path"], s.id)
		assert.Contains(t, rec, "latency_ms", s.id)
		if s.model != "" {
			assert.Equal(t, s.model, rec["model"], s.id)
		}
		if s.provider != "" {
			assert.Equal(t, s.provider, rec["provider"], s.id)
			assert.Equal(t, s.attempts, rec["attempts"], s.id)
		}
		if s.wantKeyID {
			assert.NotEmpty(t, rec["key_id"], s.id)
		} else {
			assert.NotContains(t, rec, "key_id", s.id)
		}
		if s.wantErrKnd != "" {
			assert.Equal(t, s.wantErrKnd, rec["error_kind"], s.id)
		}
	}

	// One access line per request in all.
	var n int
	for _, rec := range ts.logs.lines(t) {
		if rec["msg"] == "request" {
			n++
		}
	}
	assert.Equal(t, len(all), n, "access log lines; log:\n%s", ts.logs)

	// Never the key, never the contents.
	log := ts.logs.String()
	assert.NotContains(t, log, clientKey)
	assert.NotContains(t, log, "zebra-quasar-7781")
}
