package openai

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/secrettest"
)

func TestUpstreamErrors(t *testing.T) {
	cases := []struct {
		name   string
		flavor string
		status int
		header map[string]string
		body   string

		kind       llmproxy.ErrorKind
		wantStatus int
		message    string // exact, or a prefix when it ends in "…"
		typ, code  string
		param      string
		retryAfter time.Duration
		cause      string // a part of the wrapped cause
	}{
		{
			name: "openai bad key", flavor: "openai", status: 401, body: openAIBadKey,
			kind: llmproxy.KindAuth, wantStatus: 401,
			message: "Incorrect API key provided: sk-test***-123. You can find your API key at https://platform.openai.com/account/api-keys.",
			typ:     "invalid_request_error", code: "invalid_api_key",
		},
		{
			name: "openai context length", flavor: "openai", status: 400, body: openAIContextLength,
			kind: llmproxy.KindInvalidRequest, wantStatus: 400,
			message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 130213 tokens. Please reduce the length of the messages.",
			typ:     "invalid_request_error", code: "context_length_exceeded", param: "messages",
		},
		{
			name: "openai rate limit", flavor: "openai", status: 429, body: openAIRateLimit,
			header: map[string]string{"Retry-After": "2", "X-Ratelimit-Reset-Tokens": "408ms", "X-Ratelimit-Remaining-Tokens": "0"},
			kind:   llmproxy.KindRateLimited, wantStatus: 429,
			message: "Rate limit reached for gpt-4o-mini in organization org-abc123 on tokens per min (TPM): Limit 200000, Used 199800, Requested 500. Please try again in 408ms. Visit https://platform.openai.com/account/rate-limits to learn more.",
			typ:     "tokens", code: "rate_limit_exceeded", retryAfter: 2 * time.Second,
		},
		{
			name: "openai rate limit in ms", flavor: "openai", status: 429, body: openAIRateLimit,
			header: map[string]string{"Retry-After-Ms": "408", "Retry-After": "1"},
			kind:   llmproxy.KindRateLimited, wantStatus: 429, message: "Rate limit reached…",
			typ: "tokens", code: "rate_limit_exceeded", retryAfter: 408 * time.Millisecond,
		},
		{
			name: "openai insufficient quota", flavor: "openai", status: 429, body: openAIQuota,
			kind: llmproxy.KindQuotaExceeded, wantStatus: 429, message: "You exceeded your current quota…",
			typ: "insufficient_quota", code: "insufficient_quota",
		},
		{
			name: "openai server error", flavor: "openai", status: 500, body: openAIServerError,
			kind: llmproxy.KindUnavailable, wantStatus: 500,
			message: "The server had an error while processing your request. Sorry about that!", typ: "server_error",
		},
		{
			name: "openai model not found", flavor: "openai", status: 404, body: openAIModelNotFound,
			kind: llmproxy.KindNotFound, wantStatus: 404,
			message: "The model `gpt-5-turbo` does not exist or you do not have access to it.",
			typ:     "invalid_request_error", code: "model_not_found",
		},
		{
			name: "vllm not found", flavor: "openai", status: 404, body: vllmNotFound,
			kind: llmproxy.KindNotFound, wantStatus: 404,
			message: "The model `llama-3-70b` does not exist.", typ: "NotFoundError", code: "404",
		},
		{
			name: "vllm bad request", flavor: "openai", status: 400, body: vllmBadRequest,
			kind: llmproxy.KindInvalidRequest, wantStatus: 400,
			message: "This model's maximum context length is 4096 tokens…", typ: "BadRequestError", code: "400",
		},
		{
			name: "perplexity invalid model", flavor: "perplexity", status: 400, body: perplexityBadModel,
			kind: llmproxy.KindInvalidRequest, wantStatus: 400,
			message: "Invalid model 'sonar-ultra'. Permitted models can be found in the documentation at https://docs.perplexity.ai/guides/model-cards.",
			typ:     "invalid_model", code: "400",
		},
		{
			name: "perplexity cloudflare 401", flavor: "perplexity", status: 401,
			header: map[string]string{"Content-Type": "text/html"}, body: "<html><body>401 Authorization Required</body></html>",
			kind: llmproxy.KindAuth, wantStatus: 401, message: "upstream answered 401 with a non-JSON body",
		},
		{
			name: "xai bad key", flavor: "grok", status: 400, body: xaiBadKey,
			kind: llmproxy.KindAuth, wantStatus: 401,
			message: "Incorrect API key provided: xa***ab. You can obtain an API key from https://console.x.ai.",
			code:    "Client specified an invalid argument",
		},
		{
			name: "xai bad key shape elsewhere is the client's", flavor: "openai", status: 400, body: xaiBadKey,
			kind: llmproxy.KindInvalidRequest, wantStatus: 400, message: "Incorrect API key provided: xa***ab…",
			code: "Client specified an invalid argument",
		},
		{
			name: "xai credits", flavor: "grok", status: 429, body: xaiNoCredits,
			kind: llmproxy.KindQuotaExceeded, wantStatus: 429, message: "Your team 7e8f9a0b-0000-4000-8000-000000000002 has either used all…",
			code: "Some resource has been exhausted",
		},
		{
			name: "xai rate limit", flavor: "grok", status: 429, header: map[string]string{"Retry-After": "1"},
			body: `{"code":"Some resource has been exhausted","error":"Too many requests"}`,
			kind: llmproxy.KindRateLimited, wantStatus: 429, message: "Too many requests",
			code: "Some resource has been exhausted", retryAfter: time.Second,
		},
		{
			name: "openrouter moderation", flavor: "openrouter", status: 403, body: openRouterModerated,
			kind: llmproxy.KindAuth, wantStatus: 403,
			message: `openai/gpt-4o requires moderation on OpenAI. Your input was flagged for "violence".`,
			code:    "403", cause: `"provider_name":"OpenAI"`,
		},
		{
			name: "openrouter credits", flavor: "openrouter", status: 402, body: openRouterCredits,
			kind: llmproxy.KindQuotaExceeded, wantStatus: 402, message: "This request requires more credits…", code: "402",
		},
		{
			name: "blackbox credits", flavor: "blackbox", status: 402,
			body: `{"error":{"code":402,"message":"Insufficient credits","metadata":{}}}`,
			kind: llmproxy.KindQuotaExceeded, wantStatus: 402, message: "Insufficient credits", code: "402",
		},
		{
			name: "html 502", flavor: "openai", status: 502, header: map[string]string{"Content-Type": "text/html"}, body: cloudflare502,
			kind: llmproxy.KindUnavailable, wantStatus: 502, message: "upstream answered 502 with a non-JSON body",
		},
		{
			name: "empty 503", flavor: "openai", status: 503, body: "",
			header: map[string]string{"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"},
			kind:   llmproxy.KindUnavailable, wantStatus: 503, message: "upstream answered 503 with an empty body",
		},
		{
			name: "unknown json shape", flavor: "openai", status: 500, body: `{"ok":false}`,
			kind: llmproxy.KindUnavailable, wantStatus: 500, message: "upstream answered 500 Internal Server Error",
		},
		{
			name: "message list", flavor: "openai", status: 422, body: `{"object":"error","message":["messages: field required","model: field required"],"type":"BadRequestError","param":null,"code":422}`,
			kind: llmproxy.KindInvalidRequest, wantStatus: 422, message: "messages: field required; model: field required",
			typ: "BadRequestError", code: "422",
		},
		{
			name: "detail", flavor: "openai", status: 401, body: `{"detail":"Unauthorized"}`,
			kind: llmproxy.KindAuth, wantStatus: 401, message: "Unauthorized",
		},
		{
			name: "key echoed in full", flavor: "openai", status: 401,
			body: `{"error":{"message":"Invalid API key: ` + testKey + `","type":"auth","param":null,"code":"` + testKey + `"}}`,
			kind: llmproxy.KindAuth, wantStatus: 401, message: "Invalid API key: [redacted]", typ: "auth", code: "[redacted]",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := "/chat/completions"
			up := newMockUpstream(t, map[string]reply{"POST " + path: {status: c.status, header: c.header, body: c.body}})
			p := newTestProvider(t, c.flavor, up.URL)
			_, err := p.ChatCompletion(context.Background(), chatRequest(t, clientChat))
			e := asError(t, err)
			assert.Equal(t, c.kind, e.Kind, "kind")
			assert.Equal(t, c.wantStatus, e.Status, "status")
			assert.Equal(t, "up-"+c.flavor, e.Provider)
			if prefix, ok := strings.CutSuffix(c.message, "…"); ok {
				assert.True(t, strings.HasPrefix(e.Message, prefix), "message %q", e.Message)
			} else {
				assert.Equal(t, c.message, e.Message)
			}
			assert.Equal(t, c.typ, e.Type, "type")
			assert.Equal(t, c.code, e.Code, "code")
			assert.Equal(t, c.param, e.Param, "param")
			if c.name == "empty 503" {
				assert.Greater(t, e.RetryAfter, time.Hour, "an HTTP-date Retry-After")
			} else {
				assert.Equal(t, c.retryAfter, e.RetryAfter, "retry after")
			}
			if c.cause != "" {
				require.Error(t, e.Err)
				assert.Contains(t, e.Err.Error(), c.cause)
			}
			assertNoKey(t, e)
		})
	}
}

// assertNoKey checks every way an error can be shown for the test key,
// plain or JSON-escaped (see secrettest.AssertNoKey), its client envelope
// included.
func assertNoKey(t *testing.T, e *llmproxy.Error) {
	t.Helper()
	env, err := json.Marshal(e.Envelope())
	require.NoError(t, err)
	secrettest.AssertNoKey(t, testKey, e, string(env))
}

func TestInvalidAnswers(t *testing.T) {
	cases := map[string]reply{
		"empty 200":        {body: ""},
		"html 200":         {header: map[string]string{"Content-Type": "text/html"}, body: "<!DOCTYPE html><html><body>Maintenance</body></html>"},
		"null":             {body: "null"},
		"truncated json":   {body: openAIChat[:100]},
		"no choices":       {body: `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[]}`},
		"wrong types":      {body: `{"id":1,"choices":"x"}`},
		"two values":       {body: openAIChat + openAIChat},
		"blackbox invalid": {body: `{"system_fingerprint":"None",`},
	}
	for name, rep := range cases {
		t.Run(name, func(t *testing.T) {
			flavor, path := "openai", "/chat/completions"
			if name == "blackbox invalid" {
				flavor = "blackbox"
			}
			up := newMockUpstream(t, map[string]reply{"POST " + path: rep})
			p := newTestProvider(t, flavor, up.URL)
			_, err := p.ChatCompletion(context.Background(), chatRequest(t, clientChat))
			e := asError(t, err)
			assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
			assert.Equal(t, "the upstream sent an invalid answer", e.Message)
			assert.True(t, e.Kind.Failover())
			assertNoKey(t, e)
		})
	}
}

func TestAnswerTooLarge(t *testing.T) {
	defer func(old int64) { maxAnswerBytes = old }(maxAnswerBytes)
	maxAnswerBytes = 1024

	big := `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"` +
		strings.Repeat("a", 2000) + `"},"finish_reason":"stop"}]}`
	up := newMockUpstream(t, map[string]reply{"POST /chat/completions": {body: big}})
	p := newTestProvider(t, "openai", up.URL)
	_, err := p.ChatCompletion(context.Background(), chatRequest(t, clientChat))
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
	assert.Equal(t, "upstream answer too large", e.Message)

	// The same without a Content-Length (chunked): the cap still holds.
	up2 := newMockUpstream(t, nil)
	up2.Config.Handler = chunkedHandler(big)
	p = newTestProvider(t, "openai", up2.URL)
	_, err = p.ChatCompletion(context.Background(), chatRequest(t, clientChat))
	e = asError(t, err)
	assert.Equal(t, "upstream answer too large", e.Message)

	// Just under the cap is fine.
	small := `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}`
	maxAnswerBytes = int64(len(small))
	up3 := newMockUpstream(t, map[string]reply{"POST /chat/completions": {body: small}})
	p = newTestProvider(t, "openai", up3.URL)
	resp, err := p.ChatCompletion(context.Background(), chatRequest(t, clientChat))
	require.NoError(t, err)
	assert.Equal(t, small, string(resp.Raw()))
}

func TestErrorInsideSuccessfulAnswer(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"POST /api/v1/chat/completions": {body: openRouterEmbedded}})
	p := newTestProvider(t, "openrouter", up.URL+"/api/v1")
	_, err := p.ChatCompletion(context.Background(), chatRequest(t, clientChat))
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
	assert.Equal(t, 502, e.Status)
	assert.Equal(t, "Provider returned error", e.Message)
	require.Error(t, e.Err)
	assert.Contains(t, e.Err.Error(), "upstream connect error")
}

func TestFillFromBodyTruncatesLongMessages(t *testing.T) {
	p := &Provider{name: "x", flavor: flavors[0]}
	e2 := p.statusError(400, nil, []byte(`{"error":{"message":"`+strings.Repeat("é", maxMessageBytes)+`"}}`))
	assert.LessOrEqual(t, len(e2.Message), maxMessageBytes+len("…"))
	assert.True(t, strings.HasSuffix(e2.Message, "é…"), "cut on a character boundary")
}

// chunkedHandler answers body in two flushed pieces, so the answer has no
// Content-Length.
func chunkedHandler(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		half := len(body) / 2
		_, _ = io.WriteString(w, body[:half])
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, body[half:])
	}
}
