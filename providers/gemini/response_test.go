package gemini

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// answerOf decodes a Gemini answer and translates it for one choice.
func answerOf(t *testing.T, body string, n int) (*llmproxy.ChatResponse, error) {
	t.Helper()
	var r generateResponse
	require.NoError(t, llmproxy.DecodeAnswer([]byte(body), &r))
	return toChatResponse(&r, "requested-model", n, 1700000000, "chatcmpl-local")
}

func TestToChatResponse(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		n      int
		openai string
	}{{
		name: "text",
		body: fixture(t, "generate_text.json"),
		openai: `{"id":"mP5caNrNAdKk1dkPhLGh4Qg","object":"chat.completion","created":1700000000,"model":"gemini-2.5-flash",
			"choices":[{"index":0,"message":{"role":"assistant","content":"AI learns patterns from data to make predictions or decisions.","refusal":null},"logprobs":null,"finish_reason":"stop","native_finish_reason":"STOP"}],
			"usage":{"prompt_tokens":8,"completion_tokens":33,"total_tokens":41,"completion_tokens_details":{"reasoning_tokens":21}}}`,
	}, {
		name: "parallel function calls, the first signed",
		body: fixture(t, "generate_tools.json"),
		openai: `{"id":"H2xcaYyKD4mYz7IP-4DP6Aw","object":"chat.completion","created":1700000000,"model":"gemini-3-flash-preview",
			"choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[
				{"id":"call_0__thought__` + sig + `","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\",\"unit\":\"celsius\"}"}},
				{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"London\",\"unit\":\"celsius\"}"}}]},
				"logprobs":null,"finish_reason":"tool_calls","native_finish_reason":"STOP"}],
			"usage":{"prompt_tokens":96,"completion_tokens":91,"total_tokens":187,"completion_tokens_details":{"reasoning_tokens":61}}}`,
	}, {
		name: "thoughts and cached tokens",
		body: fixture(t, "generate_thinking.json"),
		openai: `{"id":"c3RyYXdiZXJyeS1yZXNwb25zZQ","object":"chat.completion","created":1700000000,"model":"gemini-2.5-pro",
			"choices":[{"index":0,"message":{"role":"assistant","content":"There are three r's in \"strawberry\".","reasoning_content":"**Counting the letters**\n\nI spell out strawberry and count each r.\n","refusal":null},"logprobs":null,"finish_reason":"stop","native_finish_reason":"STOP"}],
			"usage":{"prompt_tokens":10,"completion_tokens":1290,"total_tokens":1300,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":1279}}}`,
	}, {
		name: "blocked prompt, two choices asked for",
		body: fixture(t, "generate_blocked.json"),
		n:    2,
		openai: `{"id":"YmxvY2tlZC1wcm9tcHQtaWQ","object":"chat.completion","created":1700000000,"model":"gemini-2.5-flash",
			"choices":[{"index":0,"message":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":"content_filter","native_finish_reason":"PROHIBITED_CONTENT"},
				{"index":1,"message":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":"content_filter","native_finish_reason":"PROHIBITED_CONTENT"}],
			"usage":{"prompt_tokens":9,"completion_tokens":0,"total_tokens":9}}`,
	}, {
		name: "safety stop",
		body: fixture(t, "generate_safety.json"),
		openai: `{"id":"c2FmZXR5LWJsb2NrZWQtaWQ","object":"chat.completion","created":1700000000,"model":"gemini-2.5-flash",
			"choices":[{"index":0,"message":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":"content_filter","native_finish_reason":"SAFETY"}],
			"usage":{"prompt_tokens":14,"completion_tokens":0,"total_tokens":14}}`,
	}, {
		name: "two candidates, Gemini ids, max tokens, no model version",
		body: `{"candidates":[{"content":{"parts":[{"text":"A"}],"role":"model"},"finishReason":"MAX_TOKENS"},
			{"content":{"parts":[{"functionCall":{"id":"fc-1","name":"f"}}],"role":"model"},"finishReason":"STOP","index":1}]}`,
		n: 2,
		openai: `{"id":"chatcmpl-local","object":"chat.completion","created":1700000000,"model":"requested-model",
			"choices":[{"index":0,"message":{"role":"assistant","content":"A","refusal":null},"logprobs":null,"finish_reason":"length","native_finish_reason":"MAX_TOKENS"},
				{"index":1,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[{"id":"fc-1","type":"function","function":{"name":"f","arguments":"{}"}}]},"logprobs":null,"finish_reason":"tool_calls","native_finish_reason":"STOP"}]}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := answerOf(t, tt.body, max(tt.n, 1))
			require.NoError(t, err)
			b, err := json.Marshal(resp)
			require.NoError(t, err)
			assert.JSONEq(t, tt.openai, string(b))
		})
	}
}

func TestFinishReasons(t *testing.T) {
	for native, want := range map[string]string{
		"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter",
		"PROHIBITED_CONTENT": "content_filter", "BLOCKLIST": "content_filter", "SPII": "content_filter",
		"IMAGE_SAFETY": "content_filter", "LANGUAGE": "stop", "OTHER": "stop", "MALFORMED_FUNCTION_CALL": "stop", "": "stop",
	} {
		assert.Equal(t, want, finishReason(native, false), native)
	}
	assert.Equal(t, "tool_calls", finishReason("STOP", true))
	assert.Equal(t, "length", finishReason("MAX_TOKENS", true))
}

func TestToChatResponseRefuses(t *testing.T) {
	for name, body := range map[string]string{
		"no candidates":          `{"usageMetadata":{"promptTokenCount":1}}`,
		"call without a name":    `{"candidates":[{"content":{"parts":[{"functionCall":{"args":{}}}]}}]}`,
		"arguments not object":   `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":[1]}}]}}]}`,
		"candidate out of range": `{"candidates":[{"index":500,"content":{"parts":[{"text":"x"}]}}]}`,
	} {
		_, err := answerOf(t, body, 1)
		assert.Error(t, err, name)
	}
}

func TestChatCompletion(t *testing.T) {
	f := newFakeGemini(t)
	p := newTestProvider(t, f.base())
	resp, err := p.ChatCompletion(t.Context(), parseChat(t, `{"model":"gemini-2.5-flash","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"How does AI work?"}],"max_tokens":64}`))
	require.NoError(t, err)
	require.Len(t, resp.Choices, 1)
	assert.Equal(t, "AI learns patterns from data to make predictions or decisions.", resp.Choices[0].Message.Content.String())
	assert.Equal(t, "stop", resp.Choices[0].FinishReason)
	assert.Equal(t, 41, resp.Usage.TotalTokens)

	r := f.last(t)
	assert.Equal(t, http.MethodPost, r.method)
	assert.Equal(t, "/v1beta/models/gemini-2.5-flash:generateContent", r.path)
	assert.Empty(t, r.query)
	assert.Equal(t, testKey, r.header.Get("X-Goog-Api-Key"))
	assert.Empty(t, r.header.Get("Authorization"))
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	req := f.lastGenerate(t)
	require.NotNil(t, req.SystemInstruction)
	assert.Equal(t, "Be brief.", *req.SystemInstruction.Parts[0].Text)
	require.NotNil(t, req.GenerationConfig)
	assert.Equal(t, 64, *req.GenerationConfig.MaxOutputTokens)

	t.Run("tuned model path", func(t *testing.T) {
		_, err := p.ChatCompletion(t.Context(), parseChat(t, `{"model":"tunedModels/x","messages":[{"role":"user","content":"hi"}]}`))
		assert.Equal(t, llmproxy.KindNotFound, asError(t, err).Kind, "the fake serves no tuned models")
		assert.Equal(t, "/v1beta/tunedModels/x:generateContent", f.last(t).path)
	})
	t.Run("a bad model name is not sent", func(t *testing.T) {
		n := len(f.requests())
		_, err := p.ChatCompletion(t.Context(), parseChat(t, `{"model":"models/../files","messages":[{"role":"user","content":"hi"}]}`))
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindInvalidRequest, e.Kind)
		assert.Equal(t, "gem", e.Provider)
		assert.Len(t, f.requests(), n)
	})
	t.Run("custom headers", func(t *testing.T) {
		p := newTestProvider(t, f.base(), func(c *llmproxy.ProviderConfig) {
			c.CustomHeaders = map[string]string{"X-Goog-User-Project": "proj-1"}
		})
		_, err := p.ChatCompletion(t.Context(), parseChat(t, `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}`))
		require.NoError(t, err)
		assert.Equal(t, "proj-1", f.last(t).header.Get("X-Goog-User-Project"))
	})
}
