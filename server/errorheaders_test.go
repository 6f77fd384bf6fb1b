package server_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/server"
)

// An error answer passed back from a provider names the provider and the
// attempts like a successful one (X-LLMProxy-Provider, X-LLMProxy-Attempt),
// and every answer has its X-Request-ID.
func TestErrorAnswersNameProviderAndAttempt(t *testing.T) {
	tests := []struct {
		name        string
		primary     []step
		backup      []step // nil: no backup
		retries     int
		stream      bool
		status      int
		wantFrom    string
		wantAttempt string
	}{
		{
			name:    "upstream 400 passed back",
			primary: []step{answerError(400, "invalid_request_error", "context_length_exceeded", "messages", contextMsg)},
			retries: 2, status: 400, wantFrom: "primary", wantAttempt: "1",
		},
		{
			name:    "upstream 500 after retries",
			primary: []step{answerError(500, "server_error", "", "", serverErrorMsg)},
			retries: 2, status: 500, wantFrom: "primary", wantAttempt: "3",
		},
		{
			name:    "500 from both after failover",
			primary: []step{answerError(500, "server_error", "", "", serverErrorMsg)},
			backup:  []step{answerError(500, "server_error", "", "", serverErrorMsg)},
			retries: 1, status: 500, wantFrom: "backup", wantAttempt: "3",
		},
		{
			name:    "stream refused before its first byte",
			primary: []step{answerError(400, "invalid_request_error", "context_length_exceeded", "messages", contextMsg)},
			stream:  true, status: 400, wantFrom: "primary", wantAttempt: "1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := upstreamProvider("primary", newUpstream(t, "primary", tc.primary...).URL, 1)
			pc.MaxRetries = tc.retries
			providers := []llmproxy.ProviderConfig{pc}
			if tc.backup != nil {
				providers = append(providers, upstreamProvider("backup", newUpstream(t, "backup", tc.backup...).URL, 2))
			}
			ts := startServer(t, failoverConfig(providers...), server.Options{})
			body := chatBody(failoverModel, "fail me")
			if tc.stream {
				body = `{"model":"` + failoverModel + `","stream":true,"messages":[{"role":"user","content":"fail me"}]}`
			}
			r := postJSON(t, ts.Server, "/v1/chat/completions", body)
			require.Equal(t, tc.status, r.status, "body: %s", r.body)
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			assert.Equal(t, tc.wantFrom, r.header.Get("X-LLMProxy-Provider"))
			assert.Equal(t, tc.wantAttempt, r.header.Get("X-LLMProxy-Attempt"))
			id := r.header.Get("X-Request-ID")
			require.NotEmpty(t, id)

			// The access log names them too.
			recs := ts.logs.waitRecord(t, "request", id)
			require.Len(t, recs, 1, "log:\n%s", ts.logs)
			assert.Equal(t, tc.wantFrom, recs[0]["provider"])
			assert.Equal(t, tc.wantAttempt, strconv.Itoa(int(recs[0]["attempts"].(float64))))
		})
	}
}

// Errors that involve no provider (refused before routing, or no provider
// for the model) carry X-Request-ID and no provider headers.
func TestErrorAnswersBeforeRouting(t *testing.T) {
	cfg := mockConfig()
	cfg.RateLimitEmbeddingsRPM = 1
	ts := startLimited(t, cfg)
	for _, tc := range []struct {
		name   string
		r      func() reply
		status int
	}{
		{"invalid JSON", func() reply { return postJSON(t, ts.Server, "/v1/chat/completions", `{"model":`) }, 400},
		{"no Content-Type", func() reply {
			return do(t, ts.Server, http.MethodPost, "/v1/chat/completions", chatBody("mock-1", "hi"), "X-API-Key", clientKey, "Content-Type", "text/html")
		}, 415},
		{"no key", func() reply {
			return do(t, ts.Server, http.MethodPost, "/v1/chat/completions", chatBody("mock-1", "hi"), "Content-Type", "application/json")
		}, 401},
		{"unknown model", func() reply { return postJSON(t, ts.Server, "/v1/chat/completions", chatBody("nope", "hi")) }, 404},
		{"rate limited", func() reply {
			embed := `{"model":"mock-embed","input":"x"}`
			postJSON(t, ts.Server, "/v1/embeddings", embed)
			return postJSON(t, ts.Server, "/v1/embeddings", embed)
		}, 429},
		{"unknown path", func() reply { return get(t, ts.Server, "/v1/nothing") }, 404},
		{"wrong method", func() reply { return get(t, ts.Server, "/v1/chat/completions") }, 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r()
			require.Equal(t, tc.status, r.status, "body: %s", r.body)
			assert.NotEmpty(t, r.header.Get("X-Request-ID"))
			assert.Empty(t, r.header.Get("X-LLMProxy-Provider"))
			assert.Empty(t, r.header.Get("X-LLMProxy-Attempt"))
		})
	}
}
