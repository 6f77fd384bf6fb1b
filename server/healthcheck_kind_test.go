package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/anthropic"
	_ "github.com/llmproxy/llmproxy/providers/cohere"
	_ "github.com/llmproxy/llmproxy/providers/openai"
	"github.com/llmproxy/llmproxy/server"
)

// checkUpstream is an httptest upstream that answers one health-check
// request, and 404 to anything else, and counts the checks it answered.
type checkUpstream struct {
	*httptest.Server
	checks atomic.Int32
}

func newCheckUpstream(t *testing.T, method, path string, answer func(w http.ResponseWriter, r *http.Request) bool) *checkUpstream {
	t.Helper()
	u := &checkUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method || r.URL.Path != path {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"message":"not found"}`))
			return
		}
		if answer(w, r) {
			u.checks.Add(1)
		}
	}))
	t.Cleanup(u.Close)
	return u
}

// Anthropic and Cohere are checked actively, on their free endpoints
// (GET /v1/models?limit=1 with x-api-key and anthropic-version; POST
// /v1/check-api-key), and GET /providers says which providers have an
// active check and which are watched passively.
func TestProvidersShowHealthCheckKind(t *testing.T) {
	anthropic := newCheckUpstream(t, http.MethodGet, "/v1/models", func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req_011CUhealth")
		if r.Header.Get("X-Api-Key") != "sk-ant-test" || r.Header.Get("Anthropic-Version") == "" || r.URL.Query().Get("limit") != "1" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_011CUhealth"}`))
			return false
		}
		_, _ = w.Write([]byte(`{"data":[{"type":"model","id":"claude-sonnet-4-5-20250929","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"}],"has_more":true,"first_id":"claude-sonnet-4-5-20250929","last_id":"claude-sonnet-4-5-20250929"}`))
		return true
	})
	cohere := newCheckUpstream(t, http.MethodPost, "/v1/check-api-key", func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer co-test" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"id":"b3b2a1c0","message":"invalid api token"}`))
			return false
		}
		_, _ = w.Write([]byte(`{"valid":true,"organization_id":"8c0f6a1e-org","owner_id":"2d4e6f80-owner"}`))
		return true
	})
	cfg := llmproxy.Config{
		APIKeys:             []string{clientKey},
		HealthCheckInterval: 20 * time.Millisecond,
		Providers: []llmproxy.ProviderConfig{
			{Name: "claude", Type: "anthropic", BaseURL: anthropic.URL, APIKey: "sk-ant-test", Models: []string{"claude-*"}, Timeout: 5 * time.Second},
			{Name: "co", Type: "cohere", BaseURL: cohere.URL, APIKey: "co-test", Models: []string{"command-*"}, Timeout: 5 * time.Second},
			{Name: "pplx", Type: "perplexity", BaseURL: "http://127.0.0.1:9", APIKey: "pplx-test", Models: []string{"sonar"}},
			{Name: "off", Type: "openai", APIKeyEnv: llmproxy.EnvNames{"LLMPROXY_TEST_UNSET_KEY"}, Models: []string{"gpt-*"}},
		},
	}
	ts := startServer(t, cfg, server.Options{})

	// The checks run (the first one interval after start).
	deadline := time.Now().Add(10 * time.Second)
	for (anthropic.checks.Load() == 0 || cohere.checks.Load() == 0) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	require.Positive(t, anthropic.checks.Load(), "anthropic's free check ran and passed")
	require.Positive(t, cohere.checks.Load(), "cohere's free check ran and passed")

	r := get(t, ts.Server, "/providers")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var body struct {
		Providers []map[string]any `json:"providers"`
	}
	require.NoError(t, json.Unmarshal(r.body, &body), "%s", r.body)
	kinds := map[string]any{}
	for _, p := range body.Providers {
		kinds[p["name"].(string)] = p["health_check"]
	}
	assert.Equal(t, map[string]any{"claude": "active", "co": "active", "pplx": "passive", "off": nil}, kinds,
		"an inactive provider has no health check")
	for _, p := range body.Providers[:2] {
		assert.Equal(t, "healthy", p["status"], "%s", p["name"])
	}
}
