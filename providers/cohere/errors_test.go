package cohere

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/secrettest"
)

func TestStatusErrors(t *testing.T) {
	tests := []struct {
		name       string
		rep        reply
		kind       llmproxy.ErrorKind
		status     int // the status the client is answered with
		message    string
		retryAfter time.Duration
	}{
		{"400 keeps the message", reply{status: 400, body: `{"id":"a1","message":"invalid request: message must be at least 1 token long or tool results must be specified."}`},
			llmproxy.KindInvalidRequest, 400, "invalid request: message must be at least 1 token long or tool results must be specified.", 0},
		{"422", reply{status: 422, body: `{"id":"a2","message":"invalid request: temperature must be between 0 and 1"}`},
			llmproxy.KindInvalidRequest, 422, "invalid request: temperature must be between 0 and 1", 0},
		{"401", reply{status: 401, body: `{"id":"a3","message":"invalid api token"}`}, llmproxy.KindAuth, 502, "invalid api token", 0},
		{"403", reply{status: 403, body: `{"message":"forbidden"}`}, llmproxy.KindAuth, 502, "forbidden", 0},
		{"402", reply{status: 402, body: `{"id":"a4","message":"Please add a payment method"}`}, llmproxy.KindQuotaExceeded, 402, "Please add a payment method", 0},
		{"404", reply{status: 404, body: `{"id":"a5","message":"model 'command-x' not found, make sure the correct model ID was used and that you have access to the model."}`},
			llmproxy.KindNotFound, 404, "model 'command-x' not found, make sure the correct model ID was used and that you have access to the model.", 0},
		{"429 with retry-after", reply{status: 429, header: map[string]string{"Retry-After": "7"}, body: `{"id":"a6","message":"You are using a Trial key, which is limited to 20 API calls / minute."}`},
			llmproxy.KindRateLimited, 429, "You are using a Trial key, which is limited to 20 API calls / minute.", 7 * time.Second},
		{"429 monthly trial allowance", reply{status: 429, body: `{"id":"a7","message":"You are using a Trial key, which is limited to 1000 API calls / month."}`},
			llmproxy.KindQuotaExceeded, 429, "You are using a Trial key, which is limited to 1000 API calls / month.", 0},
		{"498 deny-listed token", reply{status: 498, body: `{"id":"a8","message":"blocked input: please adjust your prompt and try again"}`},
			llmproxy.KindInvalidRequest, 400, "blocked input: please adjust your prompt and try again", 0},
		{"499 cancelled upstream", reply{status: 499, body: `{"id":"a9","message":"request cancelled"}`},
			llmproxy.KindUnavailable, 502, "request cancelled", 0},
		{"500", reply{status: 500, body: `{"id":"b1","message":"internal server error, this has been reported to our developers"}`},
			llmproxy.KindUnavailable, 500, "internal server error, this has been reported to our developers", 0},
		{"503 with HTML", reply{status: 503, header: map[string]string{"Content-Type": "text/html"}, body: `<html><body>Service Unavailable</body></html>`},
			llmproxy.KindUnavailable, 503, "upstream answered 503 with a non-JSON body", 0},
		{"504 empty", reply{status: 504}, llmproxy.KindUnavailable, 504, "upstream answered 504 with an empty body", 0},
		{"message-less body", reply{status: 500, body: `{"id":"b2"}`}, llmproxy.KindUnavailable, 500, "upstream answered 500 Internal Server Error", 0},
		{"gateway envelope", reply{status: 502, body: `{"error":{"message":"bad gateway"}}`}, llmproxy.KindUnavailable, 502, "bad gateway", 0},
		{"key echoed", reply{status: 401, body: `{"id":"b3","message":"invalid api token ` + testKey + `"}`}, llmproxy.KindAuth, 502, "invalid api token [redacted]", 0},
		{"key echoed in the id", reply{status: 401, body: `{"id":"` + testKey + `","message":"invalid api token"}`}, llmproxy.KindAuth, 502, "invalid api token", 0},
		{"key escaped in an object message", reply{status: 401, body: `{"id":"b4","message":{"detail":"token ` + secrettest.Forms(testKey)[1] + `"}}`},
			llmproxy.KindAuth, 502, `{"detail":"token [redacted]"}`, 0},
		{"key escaped in a gateway envelope", reply{status: 502, body: `{"error":{"message":["bad gateway","` + secrettest.Forms(testKey)[1] + `"]}}`},
			llmproxy.KindUnavailable, 502, "bad gateway; [redacted]", 0},
		{"key escaped in a gateway error object", reply{status: 502, body: `{"error":{"message":{"code":"` + secrettest.Forms(testKey)[1] + `"}}}`},
			llmproxy.KindUnavailable, 502, `{"code":"[redacted]"}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeCohere(t)
			f.set(func(c *fakeConfig) {
				c.force = map[string]reply{"POST /v2/chat": tt.rep, "POST /v2/embed": tt.rep, "GET /v1/models": tt.rep, "POST /v1/check-api-key": tt.rep}
			})
			p := newTestProvider(t, f.URL)
			calls := map[string]func() error{
				"chat": func() error {
					_, err := p.ChatCompletion(t.Context(), parseChat(t, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
					return err
				},
				"stream": func() error {
					_, err := p.ChatCompletionStream(t.Context(), parseChat(t, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
					return err
				},
				"embed": func() error {
					_, err := p.Embeddings(t.Context(), parseEmbed(t, `{"model":"e","input":"hi"}`))
					return err
				},
				"models": func() error { _, err := p.ListModels(t.Context()); return err },
				"health": func() error { return p.HealthCheck(t.Context()) },
			}
			for name, call := range calls {
				e := asError(t, call())
				assert.Equal(t, tt.kind, e.Kind, name)
				assert.Equal(t, tt.status, e.HTTPStatus(), name)
				assert.Equal(t, tt.message, e.Message, name)
				assert.Equal(t, tt.retryAfter, e.RetryAfter, name)
				assert.Equal(t, "co", e.Provider, name)
				assertNoKey(t, e)
			}
		})
	}
}

func TestAnswerProblems(t *testing.T) {
	t.Run("invalid JSON answer", func(t *testing.T) {
		f := newFakeCohere(t)
		f.set(func(c *fakeConfig) {
			c.force = map[string]reply{"POST /v2/chat": {status: 200, body: `{"id":"x","message":`}}
		})
		p := newTestProvider(t, f.URL)
		_, err := p.ChatCompletion(t.Context(), parseChat(t, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
		assert.Equal(t, "the upstream sent an invalid answer", e.Message)
	})
	t.Run("empty object", func(t *testing.T) {
		f := newFakeCohere(t)
		f.set(func(c *fakeConfig) { c.force = map[string]reply{"POST /v2/chat": {status: 200, body: `{}`}} })
		p := newTestProvider(t, f.URL)
		_, err := p.ChatCompletion(t.Context(), parseChat(t, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		assert.Equal(t, llmproxy.KindUnavailable, asError(t, err).Kind)
	})
	t.Run("HTML with 200", func(t *testing.T) {
		f := newFakeCohere(t)
		f.set(func(c *fakeConfig) {
			c.force = map[string]reply{"POST /v2/chat": {status: 200, header: map[string]string{"Content-Type": "text/html"}, body: `<html>hi</html>`}}
		})
		p := newTestProvider(t, f.URL)
		_, err := p.ChatCompletion(t.Context(), parseChat(t, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		assert.Equal(t, llmproxy.KindUnavailable, asError(t, err).Kind)
	})
	t.Run("answer over the size cap", func(t *testing.T) {
		old := maxAnswerBytes
		maxAnswerBytes = 1024
		t.Cleanup(func() { maxAnswerBytes = old })
		f := newFakeCohere(t) // the spec example answer is 2.4 KB
		p := newTestProvider(t, f.URL)
		_, err := p.ChatCompletion(t.Context(), parseChat(t, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
		assert.Equal(t, "upstream answer too large", e.Message)
	})
	t.Run("refused connection", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		p := newTestProvider(t, "http://"+addr)
		_, err = p.ChatCompletion(t.Context(), parseChat(t, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
		assert.True(t, llmproxy.IsConnectError(e.Err))
	})
	t.Run("canceled", func(t *testing.T) {
		f := newFakeCohere(t)
		p := newTestProvider(t, f.URL)
		ctx, cancel := contextWithCancel(t)
		cancel()
		_, err := p.ChatCompletion(ctx, parseChat(t, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		assert.Equal(t, llmproxy.KindCanceled, asError(t, err).Kind)
	})
}

// TestRequestHeaders checks what goes out with every request: the bearer
// key, the custom headers, and nothing of the client's.
func TestRequestHeaders(t *testing.T) {
	f := newFakeCohere(t)
	p := newTestProvider(t, f.URL+"/", func(c *llmproxy.ProviderConfig) {
		c.CustomHeaders = map[string]string{"X-Client-Name": "llmproxy-test"}
	})
	assert.Equal(t, f.URL, p.BaseURL())
	ctx := t.Context()
	_, err := p.ChatCompletion(ctx, parseChat(t, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	_, err = p.Embeddings(ctx, parseEmbed(t, `{"model":"e","input":"hi"}`))
	require.NoError(t, err)
	require.NoError(t, p.HealthCheck(ctx))
	_, err = p.ListModels(ctx)
	require.NoError(t, err)
	for _, r := range f.requests() {
		assert.Equal(t, "Bearer "+testKey, r.header.Get("Authorization"), r.path)
		assert.Equal(t, "llmproxy-test", r.header.Get("X-Client-Name"), r.path)
		assert.Empty(t, r.header.Get("Cookie"), r.path)
	}

	// A wrong key is Cohere's 401.
	bad := newTestProvider(t, f.URL, func(c *llmproxy.ProviderConfig) { c.APIKey = "co-wrong" })
	err = bad.HealthCheck(ctx)
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindAuth, e.Kind)
	assert.Equal(t, http.StatusUnauthorized, e.Status)
}

func TestNewAndRegistration(t *testing.T) {
	p, err := New(llmproxy.ProviderConfig{})
	require.NoError(t, err)
	assert.Equal(t, DefaultBaseURL, p.BaseURL())
	assert.Equal(t, "cohere", p.Name())
	assert.Equal(t, defaultInputType, p.inputType)
	require.NoError(t, p.Close())
	require.NoError(t, p.Close())

	for _, base := range []string{"ftp://x", "api.cohere.com", "http://"} {
		_, err := New(llmproxy.ProviderConfig{BaseURL: base})
		assert.Error(t, err, base)
	}

	assert.Contains(t, llmproxy.ProviderTypes(), "cohere")
	proxy, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{{Name: "c", Type: "cohere", APIKey: "k"}}})
	require.NoError(t, err)
	require.NoError(t, proxy.Close())
	assert.True(t, strings.HasPrefix(DefaultBaseURL, "https://"))
}

// assertNoKey checks that the key, plain or JSON-escaped, appears nowhere
// in e however shown (see secrettest.AssertNoKey), its envelope included.
func assertNoKey(t *testing.T, e *llmproxy.Error) {
	t.Helper()
	b, err := json.Marshal(e.Envelope())
	require.NoError(t, err)
	secrettest.AssertNoKey(t, testKey, e, string(b))
}
