package anthropic

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

func TestUpstreamErrors(t *testing.T) {
	cases := []struct {
		name   string
		status int
		header map[string]string
		body   string

		kind       llmproxy.ErrorKind
		wantStatus int // the status the client would see
		typ        string
		code       string
		message    string // exact, or a prefix when it ends in "…"
		retryAfter time.Duration
	}{
		{name: "rate limited", status: 429, header: map[string]string{"Retry-After": "20", "Anthropic-Ratelimit-Input-Tokens-Remaining": "0"}, body: errRateLimit,
			kind: llmproxy.KindRateLimited, wantStatus: 429, typ: "rate_limit_error", retryAfter: 20 * time.Second,
			message: "This request would exceed the rate limit for your organization…"},
		{name: "overloaded", status: 529, body: errOverloaded,
			kind: llmproxy.KindUnavailable, wantStatus: 503, typ: "overloaded_error", message: "Overloaded"},
		{name: "spend limit", status: 429, body: errSpendLimit,
			kind: llmproxy.KindQuotaExceeded, wantStatus: 429, typ: "rate_limit_error", code: "enforced_spend_limit_reached",
			message: "You have reached your API usage limits…"},
		{name: "credit balance", status: 400, body: errCreditBalance,
			kind: llmproxy.KindQuotaExceeded, wantStatus: 402, typ: "invalid_request_error",
			message: "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."},
		{name: "usage limits", status: 400, body: errUsageLimits,
			kind: llmproxy.KindQuotaExceeded, wantStatus: 402, typ: "invalid_request_error", message: "You have reached your specified API usage limits…"},
		{name: "billing", status: 402, body: errBilling,
			kind: llmproxy.KindQuotaExceeded, wantStatus: 402, typ: "billing_error", message: "This organization's billing is not set up."},
		{name: "prompt too long", status: 400, body: errPromptTooLong,
			kind: llmproxy.KindInvalidRequest, wantStatus: 400, typ: "invalid_request_error", message: "prompt is too long: 205351 tokens > 200000 maximum"},
		{name: "authentication", status: 401, body: errAuthentication,
			kind: llmproxy.KindAuth, wantStatus: 502, typ: "authentication_error", message: "invalid x-api-key"},
		{name: "permission", status: 403, body: errPermission,
			kind: llmproxy.KindAuth, wantStatus: 502, typ: "permission_error", message: "Your API key does not have permission to use the specified resource."},
		{name: "not found", status: 404, body: errNotFound,
			kind: llmproxy.KindNotFound, wantStatus: 404, typ: "not_found_error", message: "model: claude-9-ultra"},
		{name: "request too large", status: 413, body: errRequestTooLarge,
			kind: llmproxy.KindInvalidRequest, wantStatus: 413, typ: "request_too_large", message: "Request exceeds the maximum allowed number of bytes."},
		{name: "api error", status: 500, body: errAPI,
			kind: llmproxy.KindUnavailable, wantStatus: 500, typ: "api_error", message: "Internal server error"},
		{name: "timeout", status: 504, body: errTimeout,
			kind: llmproxy.KindUnavailable, wantStatus: 504, typ: "timeout_error", message: "Request timed out"},
		{name: "html page", status: 502, body: cloudflare502,
			kind: llmproxy.KindUnavailable, wantStatus: 502, message: "upstream answered 502 with a non-JSON body"},
		{name: "empty body", status: 503,
			kind: llmproxy.KindUnavailable, wantStatus: 503, message: "upstream answered 503 with an empty body"},
		{name: "echoed key", status: 400, body: `{"type":"error","error":{"type":"invalid_request_error","message":"bad key ` + testKey + `"}}`,
			kind: llmproxy.KindInvalidRequest, wantStatus: 400, typ: "invalid_request_error", message: "bad key [redacted]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up := newFakeAnthropic(t)
			header := map[string]string{"Content-Type": "application/json"}
			for k, v := range tc.header {
				header[k] = v
			}
			rep := reply{status: tc.status, header: header, body: tc.body}
			up.set(func(f *fakeAnthropic) { f.messages, f.events = rep, rep })
			p := newTestProvider(t, up.URL)

			for _, stream := range []bool{false, true} {
				var err error
				if stream {
					_, err = p.ChatCompletionStream(context.Background(), chatRequest(t, streamClient))
				} else {
					_, err = p.ChatCompletion(context.Background(), chatRequest(t, streamClient))
				}
				e := asError(t, err)
				assert.Equal(t, tc.kind, e.Kind, "kind")
				assert.Equal(t, tc.wantStatus, e.HTTPStatus(), "status")
				assert.Equal(t, tc.typ, e.Type, "type")
				assert.Equal(t, tc.code, e.Code, "code")
				assert.Equal(t, "claude", e.Provider)
				assert.Equal(t, tc.retryAfter, e.RetryAfter)
				if prefix, ok := strings.CutSuffix(tc.message, "…"); ok {
					assert.True(t, strings.HasPrefix(e.Message, prefix), "message %q", e.Message)
				} else {
					assert.Equal(t, tc.message, e.Message)
				}
				if strings.Contains(tc.body, "request_id") {
					require.Error(t, e.Err)
					assert.Contains(t, e.Err.Error(), "anthropic request id req_")
				}
				assertNoKey(t, e)
			}
		})
	}
}

func TestErrorEvents(t *testing.T) {
	p := &Provider{up: llmproxy.HTTPUpstream{Name: "claude"}, key: testKey}
	cases := []struct {
		data string
		kind llmproxy.ErrorKind
		typ  string
	}{
		{`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, llmproxy.KindUnavailable, "overloaded_error"},
		{`{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`, llmproxy.KindUnavailable, "api_error"},
		{`{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`, llmproxy.KindRateLimited, "rate_limit_error"},
		{`{"type":"error","error":{"type":"invalid_request_error","message":"Output blocked by content filtering policy"}}`, llmproxy.KindInvalidRequest, "invalid_request_error"},
		{`{"type":"error","error":{"type":"brand_new_error","message":"?"}}`, llmproxy.KindUnavailable, "brand_new_error"},
		{`{"type":"error","error":{"type":"","message":""}}`, llmproxy.KindUnavailable, ""},
		{`Overloaded`, llmproxy.KindUnavailable, ""},
	}
	for _, tc := range cases {
		e := p.eventError([]byte(tc.data))
		assert.Equal(t, tc.kind, e.Kind, tc.data)
		assert.Equal(t, tc.typ, e.Type, tc.data)
		assert.NotEmpty(t, e.Message, tc.data)
	}
}

func TestInvalidAnswers(t *testing.T) {
	cases := map[string]string{
		"empty":          "",
		"html":           "<!DOCTYPE html><html><body>Maintenance</body></html>",
		"null":           "null",
		"truncated":      answerText[:60],
		"wrong types":    `{"id":1,"type":"message","content":"x"}`,
		"not a message":  `{"type":"completion","completion":"hi"}`,
		"two values":     answerText + answerText,
		"an OpenAI body": `{"id":"chatcmpl-1","object":"chat.completion","choices":[]}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			up := newFakeAnthropic(t)
			up.set(func(f *fakeAnthropic) { f.messages = reply{body: body} })
			p := newTestProvider(t, up.URL)
			_, err := p.ChatCompletion(context.Background(), chatRequest(t, streamClient))
			e := asError(t, err)
			assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
			assert.Equal(t, "the upstream sent an invalid answer", e.Message)
		})
	}
}

func TestAnswerTooLarge(t *testing.T) {
	defer func(old int64) { maxAnswerBytes = old }(maxAnswerBytes)
	maxAnswerBytes = 1024
	big := strings.Replace(answerText, "Hello!", strings.Repeat("a", 2000), 1)

	up := newFakeAnthropic(t)
	up.set(func(f *fakeAnthropic) { f.messages = reply{body: big} })
	p := newTestProvider(t, up.URL)
	_, err := p.ChatCompletion(context.Background(), chatRequest(t, streamClient))
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
	assert.Equal(t, "upstream answer too large", e.Message)

	// Without a Content-Length the cap holds too.
	chunked := newFakeAnthropic(t)
	chunked.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, big[:len(big)/2])
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, big[len(big)/2:])
	})
	p = newTestProvider(t, chunked.URL)
	_, err = p.ChatCompletion(context.Background(), chatRequest(t, streamClient))
	assert.Equal(t, "upstream answer too large", asError(t, err).Message)

	maxAnswerBytes = int64(len(answerText))
	p = newTestProvider(t, up.URL)
	up.set(func(f *fakeAnthropic) { f.messages = reply{body: answerText} })
	_, err = p.ChatCompletion(context.Background(), chatRequest(t, streamClient))
	assert.NoError(t, err, "an answer of exactly the cap is fine")
}

func TestLongErrorMessagesAreTruncated(t *testing.T) {
	p := &Provider{up: llmproxy.HTTPUpstream{Name: "x"}}
	e := p.statusError(400, nil, []byte(`{"type":"error","error":{"type":"invalid_request_error","message":"`+strings.Repeat("é", maxMessageBytes)+`"}}`))
	assert.LessOrEqual(t, len(e.Message), maxMessageBytes+len("…"))
	assert.True(t, strings.HasSuffix(e.Message, "é…"), "cut on a character boundary")
}
