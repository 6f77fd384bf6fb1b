package server_test

import (
	"errors"
	"net/http"
	"testing"

	openai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/server"
)

// When the proxy already retried or failed over a request, or tried every
// provider serving its model, its error answer tells the client not to
// retry (x-should-retry: false), unless client_retry_after_failover is on
// or the answer says when to come back (Retry-After).
func TestErrorAfterProxyRetriesSaysDoNotRetry(t *testing.T) {
	fail500 := answerError(500, "server_error", "", "", serverErrorMsg)
	tests := []struct {
		name          string
		primary       step
		backup        step // nil: no backup
		retries       int
		clientRetries bool // client_retry_after_failover
		status        int
		shouldRetry   string // the X-Should-Retry header, "" for none
	}{
		{name: "500 after the proxy's retries", primary: fail500, retries: 2, status: 500, shouldRetry: "false"},
		{name: "500 from both after failover", primary: fail500, backup: fail500, status: 500, shouldRetry: "false"},
		{name: "500 from the only provider", primary: fail500, status: 500, shouldRetry: "false"},
		{name: "configured to let clients retry", primary: fail500, retries: 2, clientRetries: true, status: 500},
		{
			name:    "429 with Retry-After from the only provider",
			primary: answerError(429, "requests", "rate_limit_exceeded", "", rateLimitMsg, "Retry-After", "20"),
			status:  429,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := upstreamProvider("primary", newUpstream(t, "primary", tc.primary).URL, 1)
			pc.MaxRetries = tc.retries
			providers := []llmproxy.ProviderConfig{pc}
			if tc.backup != nil {
				providers = append(providers, upstreamProvider("backup", newUpstream(t, "backup", tc.backup).URL, 2))
			}
			cfg := failoverConfig(providers...)
			cfg.ClientRetryAfterFailover = tc.clientRetries
			ts := startServer(t, cfg, server.Options{})
			r := postJSON(t, ts.Server, "/v1/chat/completions", chatBody(failoverModel, "fail me"))
			require.Equal(t, tc.status, r.status, "body: %s", r.body)
			assert.Equal(t, tc.shouldRetry, r.header.Get("X-Should-Retry"))
		})
	}
}

// The official SDK, set to retry, sends a request once when the proxy
// already retried it: the upstream sees the proxy's attempts only.
func TestOpenAISDKDoesNotRetryAfterProxyRetries(t *testing.T) {
	up := newUpstream(t, "primary", answerError(500, "server_error", "", "", serverErrorMsg))
	pc := upstreamProvider("primary", up.URL, 1)
	pc.MaxRetries = 1
	ts := startServer(t, failoverConfig(pc), server.Options{})
	client := openai.NewClient(
		option.WithBaseURL(ts.URL+"/v1/"), option.WithAPIKey(clientKey),
		option.WithMaxRetries(2), option.WithHTTPClient(ts.Client()),
	)
	_, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model:    failoverModel,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("fail me")},
	})
	var apiErr *openai.Error
	require.True(t, errors.As(err, &apiErr), "error: %v", err)
	assert.Equal(t, http.StatusInternalServerError, apiErr.StatusCode)
	assert.EqualValues(t, 2, up.hits.Load(), "the proxy's two attempts, and no retry of the SDK's")
}
