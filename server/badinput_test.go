package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy/server"
)

// TestBadInput sends malformed and unauthorised requests at the server and
// checks that each gets the right status and an OpenAI error envelope, and
// never a 500; afterwards the proxy still serves a good request.
func TestBadInput(t *testing.T) {
	ts := startServer(t, mockConfig(), server.Options{MaxBodyBytes: 1 << 10})

	const chat = "/v1/chat/completions"
	json := []string{"Content-Type", "application/json"}
	withKey := func(h ...string) []string { return append([]string{"X-API-Key", clientKey}, h...) }
	tooBig := chatBody("mock-1", strings.Repeat("a", 2<<10))

	tests := []struct {
		name      string
		method    string
		path      string
		header    []string
		body      string
		status    int
		errType   string
		param     string // "" means not checked
		code      string // "" means not checked
		msgHas    string // a substring the message must contain
		wantAllow string
	}{
		{
			name: "invalid JSON", method: "POST", path: chat, header: withKey(json...),
			body:   `{"model": "mock-1", "messages": [}`,
			status: 400, errType: "invalid_request_error", code: "invalid_json", msgHas: "JSON",
		},
		{
			name: "body not an object", method: "POST", path: chat, header: withKey(json...),
			body:   `["mock-1"]`,
			status: 400, errType: "invalid_request_error", code: "invalid_json",
		},
		{
			name: "messages not a list", method: "POST", path: chat, header: withKey(json...),
			body:   `{"model":"mock-1","messages":"hello"}`,
			status: 400, errType: "invalid_request_error", param: "messages", msgHas: "messages",
		},
		{
			name: "content of the wrong type", method: "POST", path: chat, header: withKey(json...),
			// The root package reports no param here (Content's decoder
			// returns a plain error); the message names the field.
			body:   `{"model":"mock-1","messages":[{"role":"user","content":42}]}`,
			status: 400, errType: "invalid_request_error", code: "invalid_json", msgHas: "content",
		},
		{
			name: "model of the wrong type", method: "POST", path: chat, header: withKey(json...),
			body:   `{"model":5,"messages":[{"role":"user","content":"hi"}]}`,
			status: 400, errType: "invalid_request_error", param: "model", code: "invalid_json",
		},
		{
			name: "missing model", method: "POST", path: chat, header: withKey(json...),
			body:   `{"messages":[{"role":"user","content":"hi"}]}`,
			status: 400, errType: "invalid_request_error", param: "model",
		},
		{
			name: "missing messages", method: "POST", path: chat, header: withKey(json...),
			body:   `{"model":"mock-1"}`,
			status: 400, errType: "invalid_request_error", param: "messages",
		},
		{
			name: "empty messages", method: "POST", path: chat, header: withKey(json...),
			body:   `{"model":"mock-1","messages":[]}`,
			status: 400, errType: "invalid_request_error", param: "messages",
		},
		{
			name: "message without role", method: "POST", path: chat, header: withKey(json...),
			body:   `{"model":"mock-1","messages":[{"content":"hi"}]}`,
			status: 400, errType: "invalid_request_error", param: "messages[0].role",
		},
		{
			name: "unknown model", method: "POST", path: chat, header: withKey(json...),
			body:   chatBody("no-such-model", "hi"),
			status: 404, errType: "invalid_request_error", param: "model", code: "model_not_found", msgHas: "no-such-model",
		},
		{
			name: "max_tokens -1", method: "POST", path: chat, header: withKey(json...),
			body:   `{"model":"mock-1","messages":[{"role":"user","content":"hi"}],"max_tokens":-1}`,
			status: 400, errType: "invalid_request_error", param: "max_tokens",
		},
		{
			name: "n 10000", method: "POST", path: chat, header: withKey(json...),
			body:   `{"model":"mock-1","messages":[{"role":"user","content":"hi"}],"n":10000}`,
			status: 400, errType: "invalid_request_error", param: "n",
		},
		{
			name: "temperature 5", method: "POST", path: chat, header: withKey(json...),
			body:   `{"model":"mock-1","messages":[{"role":"user","content":"hi"}],"temperature":5}`,
			status: 400, errType: "invalid_request_error", param: "temperature",
		},
		{
			name: "body over the limit", method: "POST", path: chat, header: withKey(json...),
			body:   tooBig,
			status: 413, errType: "invalid_request_error", code: "request_too_large", msgHas: "1 KiB",
		},
		{
			name: "wrong Content-Type", method: "POST", path: chat, header: withKey("Content-Type", "text/xml"),
			body:   chatBody("mock-1", "hi"),
			status: 415, errType: "invalid_request_error", code: "unsupported_media_type", msgHas: "text/xml",
		},
		{
			name: "empty body", method: "POST", path: chat, header: withKey(json...),
			body:   "",
			status: 400, errType: "invalid_request_error", code: "invalid_json",
		},
		{
			name: "embeddings without input", method: "POST", path: "/v1/embeddings", header: withKey(json...),
			body:   `{"model":"mock-embed"}`,
			status: 400, errType: "invalid_request_error", param: "input",
		},
		{
			name: "completions without prompt", method: "POST", path: "/v1/completions", header: withKey(json...),
			body:   `{"model":"mock-1"}`,
			status: 400, errType: "invalid_request_error", param: "prompt",
		},
		{
			name: "unknown endpoint", method: "POST", path: "/v1/chat/complete", header: withKey(json...),
			body:   chatBody("mock-1", "hi"),
			status: 404, errType: "invalid_request_error", code: "unknown_url", msgHas: "/v1/chat/complete",
		},
		{
			name: "wrong method", method: "GET", path: chat, header: withKey(),
			status: 405, errType: "invalid_request_error", code: "method_not_allowed", wantAllow: "POST",
		},
		{
			name: "wrong method on a GET endpoint", method: "DELETE", path: "/v1/models", header: withKey(),
			status: 405, errType: "invalid_request_error", code: "method_not_allowed", wantAllow: "GET",
		},
		{
			name: "missing key", method: "POST", path: chat, header: json,
			body:   chatBody("mock-1", "hi"),
			status: 401, errType: "authentication_error", code: "missing_api_key",
		},
		{
			name: "wrong key", method: "POST", path: chat, header: append([]string{"X-API-Key", "sk-wrong-key"}, json...),
			body:   chatBody("mock-1", "hi"),
			status: 401, errType: "authentication_error", code: "invalid_api_key",
		},
		{
			name: "wrong Bearer key", method: "POST", path: chat, header: append([]string{"Authorization", "Bearer sk-wrong-key"}, json...),
			body:   chatBody("mock-1", "hi"),
			status: 401, errType: "authentication_error", code: "invalid_api_key",
		},
		{
			name: "key in the wrong scheme", method: "POST", path: chat, header: append([]string{"Authorization", "Basic " + clientKey}, json...),
			body:   chatBody("mock-1", "hi"),
			status: 401, errType: "authentication_error", code: "missing_api_key",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, ts.Server, tc.method, tc.path, tc.body, tc.header...)
			require.Equal(t, tc.status, r.status, "body: %s", r.body)
			require.Less(t, r.status, 500)
			env := errorEnvelope(t, r)
			assert.Equal(t, tc.errType, env.Type)
			if tc.param != "" {
				assert.Equal(t, tc.param, deref(env.Param), "error.param")
			}
			if tc.code != "" {
				assert.Equal(t, tc.code, deref(env.Code), "error.code")
			}
			if tc.msgHas != "" {
				assert.Contains(t, env.Message, tc.msgHas)
			}
			if tc.wantAllow != "" {
				assert.Equal(t, tc.wantAllow, r.header.Get("Allow"))
			}
			assert.NotEmpty(t, r.header.Get("X-Request-ID"))
			assert.Equal(t, "false", r.header.Get("X-Should-Retry"), "a client error is not worth retrying")
		})
	}

	// The proxy keeps serving.
	r := postJSON(t, ts.Server, chat, chatBody("mock-1", "after the storm"))
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	assert.Equal(t, "Mock response to: after the storm", chatText(t, r.body))

	// And logged no 500s along the way.
	for _, rec := range ts.logs.lines(t) {
		if rec["msg"] == "request" {
			assert.Less(t, rec["status"], 500.0, "access line %v", rec)
		}
		assert.NotEqual(t, "panic in handler", rec["msg"])
	}
}
