package anthropic

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

func decodeMessage(t *testing.T, body string) *message {
	t.Helper()
	var m message
	require.NoError(t, json.Unmarshal([]byte(body), &m))
	return &m
}

func TestChatResponseTextAndToolUse(t *testing.T) {
	resp := chatResponse(decodeMessage(t, answerTextAndTool), "claude-sonnet-4-5", 1770768220)
	b, err := json.Marshal(resp)
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"id":"msg_01XFDUDYJgAACzvnptvVoYEL","object":"chat.completion","created":1770768220,"model":"claude-sonnet-4-5-20250929",
		"choices":[{"index":0,"finish_reason":"tool_calls","logprobs":null,"message":{"role":"assistant",
			"content":"I'll check the weather in San Francisco.","refusal":null,
			"tool_calls":[{"id":"toolu_01A09q90qw90lq917835lq9","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"SF\",\"unit\":\"celsius\"}"}}]}}],
		"usage":{"prompt_tokens":2112,"completion_tokens":30,"total_tokens":2142,"prompt_tokens_details":{"cached_tokens":2000}}}`, string(b))
	assert.Nil(t, resp.Raw(), "the answer was translated: no upstream bytes to forward")
}

func TestChatResponseShapes(t *testing.T) {
	t.Run("text", func(t *testing.T) {
		resp := chatResponse(decodeMessage(t, answerText), "x", 1)
		msg := resp.Choices[0].Message
		assert.Equal(t, "Hello! How can I help you today?", msg.Content.String())
		assert.Empty(t, msg.ToolCalls)
		assert.Equal(t, "stop", resp.Choices[0].FinishReason)
		assert.Equal(t, &llmproxy.Usage{PromptTokens: 9, CompletionTokens: 12, TotalTokens: 21}, resp.Usage)
	})
	t.Run("tool call only: content null", func(t *testing.T) {
		resp := chatResponse(decodeMessage(t, answerToolOnly), "x", 1)
		msg := resp.Choices[0].Message
		assert.Nil(t, msg.Content)
		require.Len(t, msg.ToolCalls, 1)
		assert.Equal(t, "{}", msg.ToolCalls[0].Function.Arguments)
		b, _ := json.Marshal(&msg)
		assert.Contains(t, string(b), `"content":null`)
	})
	t.Run("thinking becomes reasoning_content", func(t *testing.T) {
		resp := chatResponse(decodeMessage(t, answerThinking), "x", 1)
		msg := resp.Choices[0].Message
		assert.Equal(t, "2 + 2 = 4.", msg.Content.String())
		assert.JSONEq(t, `"The user wants 2+2. That is 4."`, string(msg.Extra["reasoning_content"]))
	})
	t.Run("empty answer", func(t *testing.T) {
		resp := chatResponse(decodeMessage(t, `{"id":"","type":"message","content":[],"stop_reason":null,"usage":{}}`), "claude-x", 1)
		assert.Equal(t, "", resp.Choices[0].Message.Content.String())
		assert.NotNil(t, resp.Choices[0].Message.Content)
		assert.Equal(t, "claude-x", resp.Model, "the requested model when the answer names none")
		assert.Regexp(t, `^chatcmpl-[0-9a-f]{24}$`, resp.ID)
		assert.Equal(t, "stop", resp.Choices[0].FinishReason)
	})
}

func TestFinishReasons(t *testing.T) {
	for stop, want := range map[string]string{
		"end_turn":                      "stop",
		"stop_sequence":                 "stop",
		"pause_turn":                    "stop",
		"max_tokens":                    "length",
		"model_context_window_exceeded": "length",
		"tool_use":                      "tool_calls",
		"refusal":                       "content_filter",
		"something_new":                 "stop",
		"":                              "stop",
	} {
		assert.Equal(t, want, finishReason(stop), stop)
	}
}

func TestUsage(t *testing.T) {
	n := func(v int) *int { return &v }
	cases := []struct {
		name string
		in   usage
		want llmproxy.Usage
	}{
		{"no cache", usage{InputTokens: n(10), OutputTokens: n(5)},
			llmproxy.Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15}},
		{"cache reads and writes count as prompt tokens",
			usage{InputTokens: n(12), OutputTokens: n(30), CacheCreationInputTokens: n(100), CacheReadInputTokens: n(2000)},
			llmproxy.Usage{PromptTokens: 2112, CompletionTokens: 30, TotalTokens: 2142, PromptTokensDetails: &llmproxy.TokenDetails{CachedTokens: 2000, CacheWriteTokens: 100}}},
		{"cache writes only", usage{InputTokens: n(3), OutputTokens: n(1), CacheCreationInputTokens: n(500), CacheReadInputTokens: n(0)},
			llmproxy.Usage{PromptTokens: 503, CompletionTokens: 1, TotalTokens: 504, PromptTokensDetails: &llmproxy.TokenDetails{CacheWriteTokens: 500}}},
		{"nothing", usage{}, llmproxy.Usage{}},
	}
	for _, tc := range cases {
		assert.Equal(t, &tc.want, tc.in.openAI(), tc.name)
	}

	// A stream's message_delta repeats only some counts, cumulatively.
	u := usage{InputTokens: n(25), OutputTokens: n(1), CacheReadInputTokens: n(7)}
	u.update(usage{OutputTokens: n(12)})
	assert.Equal(t, &llmproxy.Usage{PromptTokens: 32, CompletionTokens: 12, TotalTokens: 44,
		PromptTokensDetails: &llmproxy.TokenDetails{CachedTokens: 7}}, u.openAI())
}

func TestCompletionResponse(t *testing.T) {
	resp := completionResponse(decodeMessage(t, answerTextAndTool), "x", 5)
	assert.Equal(t, "msg_01XFDUDYJgAACzvnptvVoYEL", resp.ID)
	assert.Equal(t, "text_completion", resp.Object)
	assert.Equal(t, int64(5), resp.Created)
	require.Len(t, resp.Choices, 1)
	assert.Equal(t, llmproxy.CompletionChoice{Index: 0, Text: "I'll check the weather in San Francisco.", FinishReason: "tool_calls"}, resp.Choices[0])
	assert.Equal(t, 2142, resp.Usage.TotalTokens)
}
