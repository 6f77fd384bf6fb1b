package openai

import (
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// A Responses stream as OpenAI sends it (shortened response objects): a
// reasoning item, then a function call.
const respStreamCall = `event: response.created
data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","output":[]}}

event: response.output_item.added
data: {"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}

event: response.output_item.done
data: {"type":"response.output_item.done","sequence_number":2,"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}

event: response.output_item.added
data: {"type":"response.output_item.added","sequence_number":3,"output_index":1,"item":{"id":"fc_1","type":"function_call","status":"in_progress","arguments":"","call_id":"call_1","name":"f"}}

event: response.function_call_arguments.delta
data: {"type":"response.function_call_arguments.delta","sequence_number":4,"item_id":"fc_1","output_index":1,"delta":"{}"}

event: response.completed
data: {"type":"response.completed","sequence_number":5,"response":{"id":"resp_1","object":"response","status":"completed","output":[],"usage":{"input_tokens":7,"input_tokens_details":{"cached_tokens":0},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":3},"total_tokens":12}}}

`

func responsesProvider(t *testing.T, url string) *Provider {
	t.Helper()
	on := true
	p, err := New(llmproxy.ProviderConfig{Name: "oa", BaseURL: url, APIKey: testKey, ResponsesAPI: &on}, "openai")
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.(llmproxy.Closer).Close() })
	return p.(embeddingProvider).Provider
}

func TestSpeaksResponses(t *testing.T) {
	on, off := true, false
	for _, c := range []struct {
		flavor, base string
		set          *bool
		want         bool
	}{
		{"openai", "", nil, true},
		{"openai", "https://api.openai.com/v1", nil, true},
		{"openai", "http://localhost:8000/v1", nil, false},
		{"openai", "http://localhost:8000/v1", &on, true},
		{"openai", "", &off, false},
		{"grok", "", nil, false},
		{"openrouter", "", &on, true},
	} {
		p, err := New(llmproxy.ProviderConfig{Name: "x", BaseURL: c.base, ResponsesAPI: c.set}, c.flavor)
		require.NoError(t, err)
		n, ok := p.(interface{ SpeaksResponses() bool })
		require.True(t, ok, "every flavor has the method")
		assert.Equal(t, c.want, n.SpeaksResponses(), "%+v", c)
	}
}

func TestResponsesStreamRaw(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"POST /v1/responses": {status: 200, header: map[string]string{"Content-Type": "text/event-stream"}, body: respStreamCall}})
	p := responsesProvider(t, up.URL+"/v1")
	body := []byte(`{"model":"alias","input":"hi","stream":true,"x":[1]}`)
	r, err := p.ResponsesStreamRaw(context.Background(), &llmproxy.NativeRequest{Model: "gpt-5", Stream: true, Body: body})
	require.NoError(t, err)
	defer r.Close()
	type fact struct {
		event          string
		content, final bool
	}
	var got []fact
	var usage *llmproxy.Usage
	for {
		c, err := r.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		got = append(got, fact{c.Event, c.Content, c.Final})
		if c.Usage != nil {
			usage = c.Usage
		}
	}
	assert.Equal(t, []fact{
		{"response.created", false, false},
		{"response.output_item.added", false, false}, // a reasoning item shows nothing yet
		{"response.output_item.done", true, false},
		{"response.output_item.added", true, false},
		{"response.function_call_arguments.delta", true, false},
		{"response.completed", true, true},
	}, got)
	require.NotNil(t, usage)
	assert.Equal(t, llmproxy.Usage{PromptTokens: 7, CompletionTokens: 5, TotalTokens: 12}, *usage)
	sent := up.reqs[0]
	assert.Equal(t, "Bearer "+testKey, sent.header.Get("Authorization"))
	assert.JSONEq(t, `{"model":"gpt-5","input":"hi","stream":true,"x":[1]}`, string(sent.body), "only the model is rewritten")
}

func TestResponsesStreamFailures(t *testing.T) {
	for name, c := range map[string]struct {
		body string
		kind llmproxy.ErrorKind
	}{
		"response.failed": {`event: response.failed
data: {"type":"response.failed","sequence_number":1,"response":{"id":"r","status":"failed","error":{"code":"server_error","message":"boom"}}}

`, llmproxy.KindUnavailable},
		"rate limited": {`event: response.failed
data: {"type":"response.failed","sequence_number":1,"response":{"id":"r","status":"failed","error":{"code":"rate_limit_exceeded","message":"slow down"}}}

`, llmproxy.KindRateLimited},
		"error event": {`event: error
data: {"type":"error","sequence_number":0,"code":"server_error","message":"boom","param":null}

`, llmproxy.KindUnavailable},
		"cut": {`event: response.created
data: {"type":"response.created","sequence_number":0,"response":{"id":"r","status":"in_progress","output":[]}}

`, llmproxy.KindUnavailable},
	} {
		t.Run(name, func(t *testing.T) {
			up := newMockUpstream(t, map[string]reply{"POST /v1/responses": {status: 200, header: map[string]string{"Content-Type": "text/event-stream"}, body: c.body}})
			p := responsesProvider(t, up.URL+"/v1")
			r, err := p.ResponsesStreamRaw(context.Background(), &llmproxy.NativeRequest{Model: "m", Body: []byte(`{"model":"m","input":"x"}`)})
			require.NoError(t, err)
			defer r.Close()
			var last error
			for {
				_, err := r.Next()
				if err != nil {
					last = err
					break
				}
			}
			require.NotEqual(t, io.EOF, last)
			assert.Equal(t, c.kind, llmproxy.AsError(last).Kind, "%v", last)
			var sent map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(up.reqs[0].body, &sent))
			assert.JSONEq(t, `true`, string(sent["stream"]), "a stream is asked for")
		})
	}
}

func TestResponsesRaw(t *testing.T) {
	const answer = `{"id":"resp_2","object":"response","status":"completed","output":[],"usage":{"input_tokens":3,"output_tokens":4,"total_tokens":7}}`
	up := newMockUpstream(t, map[string]reply{"POST /v1/responses": {status: 200, body: answer}})
	p := responsesProvider(t, up.URL+"/v1")
	ans, err := p.ResponsesRaw(context.Background(), &llmproxy.NativeRequest{Model: "m", Stream: true, Body: []byte(`{"model":"m","input":"x","stream":true,"stream_options":{"include_obfuscation":false}}`)})
	require.NoError(t, err)
	assert.Equal(t, answer, string(ans.Body))
	assert.Equal(t, 7, ans.Usage.TotalTokens)
	assert.JSONEq(t, `{"model":"m","input":"x"}`, string(up.reqs[0].body))

	failed := newMockUpstream(t, map[string]reply{"POST /v1/responses": {status: 200, body: `{"id":"r","object":"response","status":"failed","error":{"code":"invalid_prompt","message":"bad prompt"}}`}})
	_, err = responsesProvider(t, failed.URL+"/v1").ResponsesRaw(context.Background(), &llmproxy.NativeRequest{Model: "m", Body: []byte(`{"model":"m","input":"x"}`)})
	require.Error(t, err)
	assert.Equal(t, llmproxy.KindInvalidRequest, llmproxy.AsError(err).Kind)
	assert.Contains(t, err.Error(), "bad prompt")

	notResponse := newMockUpstream(t, map[string]reply{"POST /v1/responses": {status: 200, body: `<html>`}})
	_, err = responsesProvider(t, notResponse.URL+"/v1").ResponsesRaw(context.Background(), &llmproxy.NativeRequest{Model: "m", Body: []byte(`{"model":"m","input":"x"}`)})
	assert.Equal(t, llmproxy.KindUnavailable, llmproxy.AsError(err).Kind)
}
