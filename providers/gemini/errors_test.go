package gemini

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/secrettest"
)

// Error bodies as the Gemini API sends them.
const (
	errQuotaPerMinute = `{
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            "quotaDimensions": {
              "location": "global",
              "model": "gemini-2.5-flash"
            },
            "quotaValue": "10"
          }
        ]
      },
      {
        "@type": "type.googleapis.com/google.rpc.Help",
        "links": [
          {
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits"
          }
        ]
      },
      {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": "37s"
      }
    ]
  }
}`
	errQuotaPerDay = `{"error": {"code": 429, "message": "You exceeded your current quota, please check your plan and billing details.", "status": "RESOURCE_EXHAUSTED",
  "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "quotaValue": "250"}]},
    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "18.52s"}]}}`
	errKeyInvalid = `{
  "error": {
    "code": 400,
    "message": "API key not valid. Please pass a valid API key.",
    "status": "INVALID_ARGUMENT",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {
          "service": "generativelanguage.googleapis.com"
        }
      },
      {
        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
        "locale": "en-US",
        "message": "API key not valid. Please pass a valid API key."
      }
    ]
  }
}`
)

func TestStatusErrors(t *testing.T) {
	tests := []struct {
		name       string
		rep        reply
		kind       llmproxy.ErrorKind
		status     int // the status the client is answered with
		message    string
		code       string
		retryAfter time.Duration
	}{
		{"400 INVALID_ARGUMENT keeps the message", reply{status: 400, body: `{"error": {"code": 400, "message": "* GenerateContentRequest.generation_config.max_output_tokens: max_output_tokens must be positive.\n", "status": "INVALID_ARGUMENT"}}`},
			llmproxy.KindInvalidRequest, 400, "* GenerateContentRequest.generation_config.max_output_tokens: max_output_tokens must be positive.\n", "INVALID_ARGUMENT", 0},
		{"400 FAILED_PRECONDITION", reply{status: 400, body: `{"error": {"code": 400, "message": "Gemini API free tier is not available in your country. Please enable billing on your project in Google AI Studio.", "status": "FAILED_PRECONDITION"}}`},
			llmproxy.KindInvalidRequest, 400, "Gemini API free tier is not available in your country. Please enable billing on your project in Google AI Studio.", "FAILED_PRECONDITION", 0},
		{"400 unsupported location fails over", reply{status: 400, body: `{"error": {"code": 400, "message": "User location is not supported for the API use.", "status": "FAILED_PRECONDITION"}}`},
			llmproxy.KindAuth, 502, "User location is not supported for the API use.", "FAILED_PRECONDITION", 0},
		{"400 API_KEY_INVALID is the proxy's key", reply{status: 400, body: errKeyInvalid},
			llmproxy.KindAuth, 502, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT", 0},
		{"401", reply{status: 401, body: `{"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}`},
			llmproxy.KindAuth, 502, "Request had invalid authentication credentials.", "UNAUTHENTICATED", 0},
		{"403 PERMISSION_DENIED", reply{status: 403, body: `{"error": {"code": 403, "message": "Your API key was reported as leaked. Please use another API key.", "status": "PERMISSION_DENIED"}}`},
			llmproxy.KindAuth, 502, "Your API key was reported as leaked. Please use another API key.", "PERMISSION_DENIED", 0},
		{"404", reply{status: 404, body: `{"error": {"code": 404, "message": "models/gemini-9-ultra is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.", "status": "NOT_FOUND"}}`},
			llmproxy.KindNotFound, 404, "models/gemini-9-ultra is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.", "NOT_FOUND", 0},
		{"429 with RetryInfo", reply{status: 429, body: errQuotaPerMinute},
			llmproxy.KindRateLimited, 429, "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.", "RESOURCE_EXHAUSTED", 37 * time.Second},
		{"429 Retry-After header wins", reply{status: 429, header: map[string]string{"Retry-After": "3"}, body: errQuotaPerMinute},
			llmproxy.KindRateLimited, 429, "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.", "RESOURCE_EXHAUSTED", 3 * time.Second},
		{"429 per-day quota", reply{status: 429, body: errQuotaPerDay},
			llmproxy.KindQuotaExceeded, 429, "You exceeded your current quota, please check your plan and billing details.", "RESOURCE_EXHAUSTED", 18520 * time.Millisecond},
		{"500", reply{status: 500, body: `{"error": {"code": 500, "message": "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting", "status": "INTERNAL"}}`},
			llmproxy.KindUnavailable, 500, "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting", "INTERNAL", 0},
		{"503", reply{status: 503, body: `{"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}`},
			llmproxy.KindUnavailable, 503, "The model is overloaded. Please try again later.", "UNAVAILABLE", 0},
		{"504", reply{status: 504, body: `{"error": {"code": 504, "message": "The request timed out. Please try again.", "status": "DEADLINE_EXCEEDED"}}`},
			llmproxy.KindTimeout, 504, "The request timed out. Please try again.", "DEADLINE_EXCEEDED", 0},
		{"502 HTML", reply{status: 502, header: map[string]string{"Content-Type": "text/html"}, body: `<html><body>Bad Gateway</body></html>`},
			llmproxy.KindUnavailable, 502, "upstream answered 502 with a non-JSON body", "", 0},
		{"503 empty", reply{status: 503}, llmproxy.KindUnavailable, 503, "upstream answered 503 with an empty body", "", 0},
		{"error in a list", reply{status: 429, body: `[{"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}]`},
			llmproxy.KindRateLimited, 429, "Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED", 0},
		{"JSON without an error member", reply{status: 500, body: `{"oops":1}`}, llmproxy.KindUnavailable, 500, "upstream answered 500 Internal Server Error", "", 0},
		{"key echoed", reply{status: 400, body: `{"error": {"code": 400, "message": "API key ` + testKey + ` not valid.", "status": "INVALID_ARGUMENT", "details": [` + keyInvalid + `]}}`},
			llmproxy.KindAuth, 502, "API key [redacted] not valid.", "INVALID_ARGUMENT", 0},
		{"key escaped in an object message", reply{status: 500, body: `{"error": {"code": 500, "message": {"detail": "key ` + secrettest.Forms(testKey)[1] + `"}, "status": "INTERNAL"}}`},
			llmproxy.KindUnavailable, 500, `{"detail":"key [redacted]"}`, "INTERNAL", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeGemini(t)
			f.set(func(c *fakeConfig) {
				c.force = map[string]reply{"generateContent": tt.rep, "streamGenerateContent": tt.rep, "embedContent": tt.rep, "batchEmbedContents": tt.rep, "models": tt.rep}
			})
			p := newTestProvider(t, f.base())
			chat := `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}`
			calls := map[string]func() error{
				"chat":   func() error { _, err := p.ChatCompletion(t.Context(), parseChat(t, chat)); return err },
				"stream": func() error { _, err := p.ChatCompletionStream(t.Context(), parseChat(t, chat)); return err },
				"embed": func() error {
					_, err := p.Embeddings(t.Context(), parseEmbed(t, `{"model":"gemini-embedding-001","input":"hi"}`))
					return err
				},
				"batch embed": func() error {
					_, err := p.Embeddings(t.Context(), parseEmbed(t, `{"model":"gemini-embedding-001","input":["a","b"]}`))
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
				assert.Equal(t, tt.code, e.Code, name)
				assert.Equal(t, tt.retryAfter, e.RetryAfter, name)
				assert.Equal(t, "gem", e.Provider, name)
				assertNoKey(t, e)
			}
		})
	}
}

// TestWrongKey checks that a wrong key (a 400 API_KEY_INVALID from
// Gemini) and no key (a 403) are both the proxy's credential problem.
func TestWrongKey(t *testing.T) {
	f := newFakeGemini(t)
	for key, kind := range map[string]llmproxy.ErrorKind{"AIzaSy-wrong": llmproxy.KindAuth, "": llmproxy.KindAuth} {
		p := newTestProvider(t, f.base(), func(c *llmproxy.ProviderConfig) { c.APIKey = llmproxy.Secret(key) })
		err := p.HealthCheck(t.Context())
		e := asError(t, err)
		assert.Equal(t, kind, e.Kind, "key %q", key)
		assert.Equal(t, 502, e.HTTPStatus())
	}
}

func TestParseDelay(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"37s": 37 * time.Second, "1.5s": 1500 * time.Millisecond, "0.000000001s": time.Nanosecond,
		"0s": 0, "-3s": 0, "5": 0, "xs": 0, "": 0, "1e300s": maxRetryDelay, "Infs": 0, "NaNs": 0,
	} {
		assert.Equal(t, want, parseDelay(in), in)
	}
}
