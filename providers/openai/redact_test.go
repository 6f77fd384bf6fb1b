package openai

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/internal/secrettest"
)

// escapedKey is testKey as a JSON encoder that escapes every '-' writes it:
// decoding the JSON gives the key back, so it must be redacted too.
var escapedKey = secrettest.Forms(testKey)[1]

// TestKeyEchoedInMetadataIsRedacted has the upstream echo the key in its
// error metadata, where OpenRouter passes on the raw answer of the provider
// behind it (metadata.raw, a JSON document in a string), and checks that
// the key shows nowhere: not in Error(), the envelope, the cause's text,
// any error of the Unwrap chain however printed, nor a log line.
func TestKeyEchoedInMetadataIsRedacted(t *testing.T) {
	rawUpstream := `{"error":{"message":"Incorrect API key provided: ` + testKey + `","type":"invalid_request_error","code":"invalid_api_key"}}`
	quotedRaw, err := json.Marshal(rawUpstream)
	require.NoError(t, err)
	metadata := map[string]string{
		"raw":          `{"provider_name":"OpenAI","raw":` + string(quotedRaw) + `}`,
		"plain member": `{"provider_name":"OpenAI","key":"` + testKey + `","headers":{"authorization":"Bearer ` + testKey + `"}}`,
		"member name":  `{"provider_name":"OpenAI","by_key":{"` + testKey + `":1}}`,
		"escaped":      `{"provider_name":"OpenAI","raw":"Incorrect API key provided: ` + escapedKey + `"}`,
		"escaped raw":  `{"provider_name":"OpenAI","raw":"{\"error\":{\"message\":\"key ` + strings.ReplaceAll(escapedKey, `\`, `\\`) + `\"}}"}`,
	}
	for name, meta := range metadata {
		errBody := `{"code":401,"message":"Provider returned error","metadata":` + meta + `}`
		t.Run(name+"/status", func(t *testing.T) {
			up := newMockUpstream(t, map[string]reply{"POST /api/v1/chat/completions": {status: 401, body: `{"error":` + errBody + `}`}})
			p := newTestProvider(t, "openrouter", up.URL+"/api/v1")
			_, err := p.ChatCompletion(context.Background(), chatRequest(t, clientChat))
			e := asError(t, err)
			assert.Equal(t, llmproxy.KindAuth, e.Kind)
			checkMetadataRedacted(t, e)
		})
		t.Run(name+"/embedded", func(t *testing.T) {
			body := `{"id":"gen-1","object":"chat.completion","created":1,"model":"m","choices":[],"error":` + errBody + `}`
			up := newMockUpstream(t, map[string]reply{"POST /api/v1/chat/completions": {body: body}})
			p := newTestProvider(t, "openrouter", up.URL+"/api/v1")
			_, err := p.ChatCompletion(context.Background(), chatRequest(t, clientChat))
			checkMetadataRedacted(t, asError(t, err))
		})
		t.Run(name+"/stream", func(t *testing.T) {
			chunk := `{"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m","error":` + errBody +
				`,"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}`
			up := newSSEUpstream(t, sseHandler("data: "+chunk+"\n\n", "data: [DONE]\n\n"))
			p := newTestProvider(t, "openrouter", up.URL+"/api/v1")
			_, err := drain(t, openChat(t, p, streamClientChat))
			checkMetadataRedacted(t, asError(t, err))
		})
	}
}

// checkMetadataRedacted asserts that e kept the upstream's metadata in its
// cause, with the key redacted, and that the key, plain or JSON-escaped,
// shows in no way e can be printed, marshalled or logged.
func checkMetadataRedacted(t *testing.T, e *llmproxy.Error) {
	t.Helper()
	require.Error(t, e.Err, "the metadata is kept in the cause")
	assert.Contains(t, e.Err.Error(), `"provider_name":"OpenAI"`, "the metadata is kept in the cause")
	assert.Contains(t, e.Err.Error(), "[redacted]")
	assertNoKey(t, e)
}

// TestKeyEchoedEscapedInMessageIsRedacted has the upstream echo the key
// JSON-escaped in a message that is an object (kept as its JSON text) and
// in the type and code, which are decoded.
func TestKeyEchoedEscapedInMessageIsRedacted(t *testing.T) {
	body := `{"error":{"message":{"detail":"bad key ` + escapedKey + `","key":"` + testKey + `"},"type":"` + escapedKey +
		`","param":null,"code":"` + escapedKey + `"}}`
	up := newMockUpstream(t, map[string]reply{"POST /chat/completions": {status: 401, body: body}})
	p := newTestProvider(t, "openai", up.URL)
	_, err := p.ChatCompletion(context.Background(), chatRequest(t, clientChat))
	e := asError(t, err)
	assert.Equal(t, `{"detail":"bad key [redacted]","key":"[redacted]"}`, e.Message)
	assert.Equal(t, "[redacted]", e.Type)
	assert.Equal(t, "[redacted]", e.Code)
	assertNoKey(t, e)
}
