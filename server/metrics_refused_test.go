package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy/server"
)

// Requests refused before routing (an unreadable or unparsable body, a
// wrong Content-Type, a body over the limit, a missing key) count in
// llmproxy_requests_total with their outcome and status, as routed ones
// do; a routed request is counted once.
func TestRequestsTotalCountsRefusedRequests(t *testing.T) {
	ts := startServer(t, mockConfig(), server.Options{MaxBodyBytes: 1024})
	srv := ts.Server
	chat := "/v1/chat/completions"

	for _, tc := range []struct {
		name   string
		r      func() reply
		status int
	}{
		{"invalid JSON", func() reply { return postJSON(t, srv, chat, `{"model":`) }, 400},
		{"invalid JSON again", func() reply { return postJSON(t, srv, chat, `[1,2]`) }, 400},
		{"empty body", func() reply { return postJSON(t, srv, chat, "") }, 400},
		{"wrong Content-Type", func() reply {
			return do(t, srv, http.MethodPost, chat, chatBody("mock-1", "hi"), "Content-Type", "text/html", "X-API-Key", clientKey)
		}, 415},
		{"too large", func() reply { return postJSON(t, srv, chat, chatBody("mock-1", strings.Repeat("x", 2048))) }, 413},
		{"no key", func() reply {
			return do(t, srv, http.MethodPost, "/v1/embeddings", `{"model":"mock-embed","input":"x"}`, "Content-Type", "application/json")
		}, 401},
		{"invalid embeddings", func() reply { return postJSON(t, srv, "/v1/embeddings", `{"model":"mock-embed"}`) }, 400},
		{"routed, unknown model", func() reply { return postJSON(t, srv, chat, chatBody("nope", "hi")) }, 404},
		{"routed, ok", func() reply { return postJSON(t, srv, chat, chatBody("mock-1", "hi")) }, 200},
	} {
		r := tc.r()
		require.Equal(t, tc.status, r.status, "%s: %s", tc.name, r.body)
	}

	m := mtMetrics(t, ts)
	total := func(labels ...string) float64 {
		return mtValue(t, m, "llmproxy_requests_total", labels...)
	}
	refused := func(endpoint, outcome, status string) float64 {
		return total("endpoint", endpoint, "provider", "none", "model", "none", "outcome", outcome, "status", status)
	}
	assert.Equal(t, 3.0, refused("chat", "invalid_request", "400"), "invalid JSON twice, an empty body")
	assert.Equal(t, 1.0, refused("chat", "invalid_request", "415"))
	assert.Equal(t, 1.0, refused("chat", "invalid_request", "413"))
	assert.Equal(t, 1.0, refused("embeddings", "unauthorized", "401"))
	assert.Equal(t, 1.0, refused("embeddings", "invalid_request", "400"))
	assert.Equal(t, 1.0, total("endpoint", "chat", "provider", "none", "model", "nope", "outcome", "not_found", "status", "404"),
		"counted once, by the router")
	assert.Equal(t, 1.0, total("endpoint", "chat", "provider", "mock-a", "model", "mock-1", "outcome", "ok", "status", "200"))
	var sum float64
	for _, s := range mtFind(m, "llmproxy_requests_total") {
		sum += s.value
	}
	assert.Equal(t, 9.0, sum, "every request once")
}
