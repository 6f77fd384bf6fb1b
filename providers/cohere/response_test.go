package cohere

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// referenceAnswer is the answer of the reference's section 3.2 with its
// elisions filled in.
const referenceAnswer = `{"id":"c14c80c3-18eb-4519-9460-6c92edd8cfb4","finish_reason":"TOOL_CALL",
 "message":{"role":"assistant","content":[{"type":"text","text":"Hello"}],
            "tool_plan":"I will look up the weather.","tool_calls":[{"id":"get_weather_abc","type":"function",
            "function":{"name":"get_weather","arguments":"{\"location\":\"SF\"}"}}],"citations":[]},
 "usage":{"billed_units":{"input_tokens":5,"output_tokens":2},
          "tokens":{"input_tokens":500,"output_tokens":5},"cached_tokens":448},
 "logprobs":[]}`

func TestToChatResponse(t *testing.T) {
	tests := []struct {
		name   string
		cohere string
		openai string
	}{{
		name:   "spec text example",
		cohere: fixture(t, "chat_text.json"),
		openai: `{"id":"c14c80c3-18eb-4519-9460-6c92edd8cfb4","object":"chat.completion","created":1700000000,"model":"command-a-03-2025",
			"choices":[{"index":0,"logprobs":null,"message":{"role":"assistant","refusal":null,"content":` + jsonString(t, textOf(t, fixture(t, "chat_text.json"))) + `},"finish_reason":"stop","native_finish_reason":"COMPLETE"}],
			"usage":{"prompt_tokens":71,"completion_tokens":418,"total_tokens":489,"billed_units":{"input_tokens":5,"output_tokens":418}}}`,
	}, {
		name:   "spec tools example with thinking content",
		cohere: fixture(t, "chat_tools.json"),
		openai: `{"id":"9e5f00aa-bf1e-481a-abe3-0eceac18c3ec","object":"chat.completion","created":1700000000,"model":"command-a-03-2025",
			"choices":[{"index":0,"logprobs":null,"message":{"role":"assistant","refusal":null,"content":null,
				"reasoning_content":"I will first find the sales summary for 29th September 2023. Then, I will find the details of the products in the 'Electronics' category.",
				"tool_calls":[{"id":"query_daily_sales_report_hgxxmkby3wta","type":"function","function":{"name":"query_daily_sales_report","arguments":"{\"day\": \"2023-09-29\"}"}},
				              {"id":"query_product_catalog_rpg0z5h8yyz2","type":"function","function":{"name":"query_product_catalog","arguments":"{\"category\": \"Electronics\"}"}}]},
				"finish_reason":"tool_calls","native_finish_reason":"TOOL_CALL"}],
			"usage":{"prompt_tokens":1032,"completion_tokens":124,"total_tokens":1156,"billed_units":{"input_tokens":127,"output_tokens":69}}}`,
	}, {
		name:   "reference example with tool_plan and cached tokens",
		cohere: referenceAnswer,
		openai: `{"id":"c14c80c3-18eb-4519-9460-6c92edd8cfb4","object":"chat.completion","created":1700000000,"model":"command-a-03-2025",
			"choices":[{"index":0,"logprobs":null,"message":{"role":"assistant","refusal":null,"content":"Hello","reasoning_content":"I will look up the weather.",
				"tool_calls":[{"id":"get_weather_abc","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"SF\"}"}}]},
				"finish_reason":"tool_calls","native_finish_reason":"TOOL_CALL"}],
			"usage":{"prompt_tokens":500,"completion_tokens":5,"total_tokens":505,"prompt_tokens_details":{"cached_tokens":448},"billed_units":{"input_tokens":5,"output_tokens":2}}}`,
	}, {
		name:   "max tokens, float counts, billed units only",
		cohere: `{"id":"a","finish_reason":"MAX_TOKENS","message":{"role":"assistant","content":[{"type":"text","text":"The Back"},{"type":"text","text":"street"}]},"usage":{"billed_units":{"input_tokens":18.0,"output_tokens":6.0}}}`,
		openai: `{"id":"a","object":"chat.completion","created":1700000000,"model":"command-a-03-2025",
			"choices":[{"index":0,"logprobs":null,"message":{"role":"assistant","refusal":null,"content":"The Backstreet"},"finish_reason":"length","native_finish_reason":"MAX_TOKENS"}],
			"usage":{"prompt_tokens":18,"completion_tokens":6,"total_tokens":24,"billed_units":{"input_tokens":18.0,"output_tokens":6.0}}}`,
	}, {
		name:   "stop sequence, no usage, citations kept",
		cohere: `{"id":"b","finish_reason":"STOP_SEQUENCE","message":{"role":"assistant","content":[{"type":"text","text":"Emperor penguins"}],"citations":[{"start":0,"end":16,"text":"Emperor penguins","sources":[{"type":"document","id":"doc-0","document":{"id":"doc-0","snippet":"Emperor penguins are the tallest."}}],"type":"TEXT_CONTENT"}]}}`,
		openai: `{"id":"b","object":"chat.completion","created":1700000000,"model":"command-a-03-2025",
			"choices":[{"index":0,"logprobs":null,"message":{"role":"assistant","refusal":null,"content":"Emperor penguins","citations":[{"start":0,"end":16,"text":"Emperor penguins","sources":[{"type":"document","id":"doc-0","document":{"id":"doc-0","snippet":"Emperor penguins are the tallest."}}],"type":"TEXT_CONTENT"}]},
				"finish_reason":"stop","native_finish_reason":"STOP_SEQUENCE"}]}`,
	}, {
		name:   "no-argument tool call gives {}",
		cohere: `{"id":"c","finish_reason":"TOOL_CALL","message":{"role":"assistant","tool_plan":"","tool_calls":[{"id":"now_1","type":"function","function":{"name":"now","arguments":"null"}}]}}`,
		openai: `{"id":"c","object":"chat.completion","created":1700000000,"model":"command-a-03-2025",
			"choices":[{"index":0,"logprobs":null,"message":{"role":"assistant","refusal":null,"content":null,"tool_calls":[{"id":"now_1","type":"function","function":{"name":"now","arguments":"{}"}}]},"finish_reason":"tool_calls","native_finish_reason":"TOOL_CALL"}]}`,
	}, {
		name:   "string content tolerated, empty answer",
		cohere: `{"id":"d","finish_reason":"COMPLETE","message":{"role":"assistant","content":""}}`,
		openai: `{"id":"d","object":"chat.completion","created":1700000000,"model":"command-a-03-2025",
			"choices":[{"index":0,"logprobs":null,"message":{"role":"assistant","refusal":null,"content":""},"finish_reason":"stop","native_finish_reason":"COMPLETE"}]}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r chatResponse
			require.NoError(t, json.Unmarshal([]byte(tt.cohere), &r))
			got, err := toChatResponse(&r, "command-a-03-2025", 1700000000)
			require.NoError(t, err)
			b, err := json.Marshal(got)
			require.NoError(t, err)
			assert.JSONEq(t, tt.openai, string(b))
		})
	}
}

func TestToChatResponseFailedGeneration(t *testing.T) {
	tests := []struct {
		cohere string
		kind   llmproxy.ErrorKind
	}{
		{`{"id":"e","finish_reason":"ERROR","message":{"role":"assistant","content":[{"type":"text","text":"The"}]}}`, llmproxy.KindUnavailable},
		{`{"id":"e","finish_reason":"TIMEOUT","message":{"role":"assistant","content":[]}}`, llmproxy.KindTimeout},
	}
	for _, tt := range tests {
		var r chatResponse
		require.NoError(t, json.Unmarshal([]byte(tt.cohere), &r))
		_, err := toChatResponse(&r, "m", 1)
		e := asError(t, err)
		assert.Equal(t, tt.kind, e.Kind)
		assert.Contains(t, e.Message, r.FinishReason)
	}
}

// TestChatCompletionToolRoundTrip runs a whole tool conversation through
// the adapter and the fake upstream: the user asks, the model calls a
// tool, the client answers with the tool's result, the model answers.
func TestChatCompletionToolRoundTrip(t *testing.T) {
	f := newFakeCohere(t)
	f.set(func(c *fakeConfig) {
		c.chat = func(req *specChatRequest) reply {
			last := req.Messages[len(req.Messages)-1]
			if last.Role == "user" {
				return reply{status: 200, body: referenceAnswer}
			}
			return reply{status: 200, body: `{"id":"f2","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"It is 18°C in San Francisco."}]},"usage":{"billed_units":{"input_tokens":30,"output_tokens":9},"tokens":{"input_tokens":620,"output_tokens":9}}}`}
		}
	})
	p := newTestProvider(t, f.URL)
	tools := `"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather by city","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}]`

	// 1. The user asks; the model calls the tool.
	first, err := p.ChatCompletion(t.Context(), parseChat(t, `{"model":"command-a-03-2025","messages":[{"role":"user","content":"What's the weather in SF?"}],`+tools+`}`))
	require.NoError(t, err)
	assert.InDelta(t, time.Now().Unix(), first.Created, 5)
	ch := first.Choices[0]
	assert.Equal(t, "tool_calls", ch.FinishReason)
	require.Len(t, ch.Message.ToolCalls, 1)
	call := ch.Message.ToolCalls[0]
	assert.Equal(t, llmproxy.ToolCall{ID: "get_weather_abc", Type: "function",
		Function: llmproxy.FunctionCall{Name: "get_weather", Arguments: `{"location":"SF"}`}}, call)

	// 2. The client sends the assistant turn back with the tool's result.
	assistant, err := json.Marshal(&ch.Message)
	require.NoError(t, err)
	second, err := p.ChatCompletion(t.Context(), parseChat(t, `{"model":"command-a-03-2025","messages":[
		{"role":"user","content":"What's the weather in SF?"},`+string(assistant)+`,
		{"role":"tool","tool_call_id":"get_weather_abc","content":"{\"temperature\":18,\"unit\":\"C\"}"}],`+tools+`}`))
	require.NoError(t, err)
	assert.Equal(t, "It is 18°C in San Francisco.", second.Choices[0].Message.Content.String())
	assert.Equal(t, "stop", second.Choices[0].FinishReason)
	assert.Equal(t, 620, second.Usage.PromptTokens)

	// What Cohere received for the second turn.
	var sent struct {
		Messages []json.RawMessage `json:"messages"`
	}
	require.NoError(t, json.Unmarshal(f.last(t).body, &sent))
	require.Len(t, sent.Messages, 3)
	assert.JSONEq(t, `{"role":"user","content":"What's the weather in SF?"}`, string(sent.Messages[0]))
	assert.JSONEq(t, `{"role":"assistant","content":"Hello","tool_plan":"I will look up the weather.",
		"tool_calls":[{"id":"get_weather_abc","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"SF\"}"}}]}`, string(sent.Messages[1]))
	assert.JSONEq(t, `{"role":"tool","tool_call_id":"get_weather_abc","content":"{\"temperature\":18,\"unit\":\"C\"}"}`, string(sent.Messages[2]))
}

func textOf(t *testing.T, answer string) string {
	t.Helper()
	var r chatResponse
	require.NoError(t, json.Unmarshal([]byte(answer), &r))
	text, _, err := answerText(r.Message.Content)
	require.NoError(t, err)
	return text
}

func jsonString(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	return string(b)
}
