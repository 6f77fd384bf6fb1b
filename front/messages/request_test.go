package messages

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

func TestReadRequest(t *testing.T) {
	ok := `{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`
	r, err := ReadRequest([]byte(ok))
	require.NoError(t, err)
	assert.Equal(t, "claude-sonnet-4-5", r.Model)
	assert.False(t, r.Stream)
	assert.Equal(t, ok, string(r.Body))

	r, err = ReadRequest([]byte(`{"stream":true,"model":"m","max_tokens":1,"messages":[{}]}`))
	require.NoError(t, err)
	assert.True(t, r.Stream)

	for body, want := range map[string]string{
		`{"model":`:                        "not valid JSON",
		`[1]`:                              "must be a JSON object",
		`{"max_tokens":1,"messages":[{}]}`: "model: Field required",
		`{"model":"","max_tokens":1,"messages":[{}]}`:                           "model: must be a non-empty string",
		`{"model":7,"max_tokens":1,"messages":[{}]}`:                            "model: must be a non-empty string",
		`{"model":"m","max_tokens":1}`:                                          "messages: Field required",
		`{"model":"m","max_tokens":1,"messages":{}}`:                            "messages: must be an array",
		`{"model":"m","max_tokens":1,"messages":[]}`:                            "messages: at least one message",
		`{"model":"m","messages":[{}]}`:                                         "max_tokens: Field required",
		`{"model":"m","max_tokens":0,"messages":[{}]}`:                          "max_tokens: must be an integer of at least 1",
		`{"model":"m","max_tokens":1.5,"messages":[{}]}`:                        "max_tokens: must be an integer",
		`{"model":"m","max_tokens":"8","messages":[{}]}`:                        "max_tokens: must be an integer",
		`{"model":"m","max_tokens":1,"messages":[{}],"stream":"yes"}`:           "stream: must be a boolean",
		`{"model":"m","model":"n","max_tokens":1,"messages":[{}]}`:              "model: given more than once",
		"{\"model\":\"m\xff\",\"max_tokens\":1,\"messages\":[{}]}":              "not valid JSON",
		`{"model":"m","max_tokens":1,"messages":[{}],"stream":true,"stream":1}`: "stream: given more than once",
	} {
		_, err := ReadRequest([]byte(body))
		require.Error(t, err, body)
		e, isErr := errors.AsType[*llmproxy.Error](err)
		require.True(t, isErr)
		assert.Equal(t, llmproxy.KindInvalidRequest, e.Kind, body)
		assert.Contains(t, e.Message, want, body)
		assert.Equal(t, "invalid_request_error", ErrorType(e))
	}

	// count_tokens has neither max_tokens nor stream.
	r, err = ReadCountTokensRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	assert.Equal(t, "m", r.Model)
	_, err = ReadCountTokensRequest([]byte(`{"model":"m"}`))
	assert.ErrorContains(t, err, "messages: Field required")
}

func TestForwardedHeaders(t *testing.T) {
	h := http.Header{}
	assert.Nil(t, ForwardedHeaders(h))
	h.Set("Anthropic-Version", "2023-06-01")
	h.Add("Anthropic-Beta", "a-1")
	h.Add("Anthropic-Beta", "b-2")
	h.Set("X-Api-Key", "sk-client")
	h.Set("Authorization", "Bearer sk-client")
	h.Set("Cookie", "c=1")
	got := ForwardedHeaders(h)
	assert.Equal(t, http.Header{"Anthropic-Version": {"2023-06-01"}, "Anthropic-Beta": {"a-1", "b-2"}}, got)
}
