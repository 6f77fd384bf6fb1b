package cohere

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

func TestToChatRequest(t *testing.T) {
	tests := []struct {
		name   string
		openai string
		stream bool
		cohere string
	}{{
		name:   "plain text with system and developer",
		openai: `{"model":"command-a-03-2025","messages":[{"role":"system","content":"Be brief."},{"role":"developer","content":[{"type":"text","text":"Use "},{"type":"text","text":"English."}]},{"role":"user","content":"Tell me about LLMs"}]}`,
		cohere: `{"model":"command-a-03-2025","messages":[{"role":"system","content":"Be brief."},{"role":"system","content":"Use English."},{"role":"user","content":"Tell me about LLMs"}]}`,
	}, {
		name:   "sampling parameters",
		openai: `{"model":"m","messages":[{"role":"user","content":"hi"}],"top_p":0.5,"stop":"END","max_tokens":100,"temperature":0.3,"seed":42,"frequency_penalty":0.2,"presence_penalty":0.1,"n":1,"user":"u-1","stream_options":{"include_usage":true},"parallel_tool_calls":false,"logprobs":false}`,
		stream: true,
		cohere: `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"p":0.5,"stop_sequences":["END"],"max_tokens":100,"temperature":0.3,"seed":42,"frequency_penalty":0.2,"presence_penalty":0.1}`,
	}, {
		name:   "max_completion_tokens wins, stop list, top_p 1 clamped",
		openai: `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":10,"max_completion_tokens":20,"stop":["a","b"],"top_p":1}`,
		cohere: `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":20,"stop_sequences":["a","b"],"p":0.99}`,
	}, {
		name:   "top_p 0 clamped",
		openai: `{"model":"m","messages":[{"role":"user","content":"hi"}],"top_p":0}`,
		cohere: `{"model":"m","messages":[{"role":"user","content":"hi"}],"p":0.01}`,
	}, {
		name:   "user image parts",
		openai: `{"model":"command-a-vision-07-2025","messages":[{"role":"user","content":[{"type":"text","text":"Describe this image"},{"type":"image_url","image_url":{"url":"https://cohere.com/favicon-32x32.png","detail":"auto"}}]}]}`,
		cohere: `{"model":"command-a-vision-07-2025","messages":[{"role":"user","content":[{"type":"text","text":"Describe this image"},{"type":"image_url","image_url":{"url":"https://cohere.com/favicon-32x32.png","detail":"auto"}}]}]}`,
	}, {
		name: "tools, strict, required",
		openai: `{"model":"m","messages":[{"role":"user","content":"weather?"}],"tool_choice":"required",
			"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather by city","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]},"strict":true}},
			{"type":"function","function":{"name":"now"}}]}`,
		cohere: `{"model":"m","messages":[{"role":"user","content":"weather?"}],"tool_choice":"REQUIRED","strict_tools":true,
			"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather by city","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}},
			{"type":"function","function":{"name":"now","parameters":{"type":"object","properties":{}}}}]}`,
	}, {
		name:   "tool_choice none",
		openai: `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"none","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}`,
		cohere: `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"NONE","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}`,
	}, {
		name:   "tool_choice auto is left out, none without tools too",
		openai: `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"auto"}`,
		cohere: `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
	}, {
		name:   "tool_choice none without tools",
		openai: `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"none"}`,
		cohere: `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
	}, {
		name:   "response_format json_object",
		openai: `{"model":"m","messages":[{"role":"user","content":"Generate a JSON"}],"response_format":{"type":"json_object"}}`,
		cohere: `{"model":"m","messages":[{"role":"user","content":"Generate a JSON"}],"response_format":{"type":"json_object"}}`,
	}, {
		name:   "response_format json_schema becomes json_object with the schema",
		openai: `{"model":"m","messages":[{"role":"user","content":"Generate a JSON"}],"response_format":{"type":"json_schema","json_schema":{"name":"person","strict":true,"schema":{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"]}}}}`,
		cohere: `{"model":"m","messages":[{"role":"user","content":"Generate a JSON"}],"response_format":{"type":"json_object","json_schema":{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"]}}}`,
	}, {
		name:   "response_format text is left out",
		openai: `{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"text"}}`,
		cohere: `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
	}, {
		name:   "Cohere-native members pass through",
		openai: `{"model":"m","messages":[{"role":"user","content":"hi"}],"k":40,"safety_mode":"OFF","documents":["doc one"],"citation_options":{"mode":"FAST"},"thinking":{"type":"disabled"},"priority":5}`,
		cohere: `{"model":"m","messages":[{"role":"user","content":"hi"}],"k":40,"safety_mode":"OFF","documents":["doc one"],"citation_options":{"mode":"FAST"},"thinking":{"type":"disabled"},"priority":5}`,
	}, {
		name: "tool round trip history",
		openai: `{"model":"m","messages":[
			{"role":"user","content":"What's the weather in SF?"},
			{"role":"assistant","content":null,"reasoning_content":"I will look it up.","tool_calls":[{"id":"get_weather_abc","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"SF\"}"}},{"id":"now_1","type":"function","function":{"name":"now","arguments":""}}]},
			{"role":"tool","tool_call_id":"get_weather_abc","content":"{\"temperature\":18}"},
			{"role":"tool","tool_call_id":"now_1","content":[{"type":"text","text":"12:00"}]},
			{"role":"assistant","content":"It is 18 degrees.","name":"bot"}]}`,
		cohere: `{"model":"m","messages":[
			{"role":"user","content":"What's the weather in SF?"},
			{"role":"assistant","tool_plan":"I will look it up.","tool_calls":[{"id":"get_weather_abc","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"SF\"}"}},{"id":"now_1","type":"function","function":{"name":"now","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"get_weather_abc","content":"{\"temperature\":18}"},
			{"role":"tool","tool_call_id":"now_1","content":[{"type":"text","text":"12:00"}]},
			{"role":"assistant","content":"It is 18 degrees."}]}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := parseChat(t, tt.openai)
			before, err := req.MarshalJSON()
			require.NoError(t, err)
			got, err := toChatRequest(req, tt.stream)
			require.NoError(t, err)
			b, err := json.Marshal(got)
			require.NoError(t, err)
			assert.JSONEq(t, tt.cohere, string(b))
			after, err := req.MarshalJSON()
			require.NoError(t, err)
			assert.Equal(t, string(before), string(after), "the request is not modified")
			// What goes out must pass the fake's spec validation.
			var spec specChatRequest
			require.NoError(t, strict(b, &spec), "the request has members Cohere does not know")
			assert.Empty(t, validateChat(&spec))
		})
	}
}

func TestToChatRequestRefuses(t *testing.T) {
	tests := []struct {
		name   string
		openai string
		param  string
	}{
		{"n > 1", `{"model":"m","messages":[{"role":"user","content":"hi"}],"n":2}`, "n"},
		{"logprobs", `{"model":"m","messages":[{"role":"user","content":"hi"}],"logprobs":true}`, "logprobs"},
		{"top_logprobs", `{"model":"m","messages":[{"role":"user","content":"hi"}],"top_logprobs":3}`, "top_logprobs"},
		{"named tool_choice", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`, "tool_choice"},
		{"allowed_tools tool_choice", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}}}`, "tool_choice"},
		{"unknown tool_choice string", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"any"}`, "tool_choice"},
		{"custom tool", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"custom","custom":{"name":"x"}}]}`, "tools[0].type"},
		{"audio part", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAA","format":"wav"}}]}]}`, "messages[0].content[0].type"},
		{"image in system", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},{"role":"user","content":"hi"}]}`, "messages[0].content[0].type"},
		{"function role", `{"model":"m","messages":[{"role":"function","name":"f","content":"1"}]}`, "messages[0].role"},
		{"unknown role", `{"model":"m","messages":[{"role":"critic","content":"1"}]}`, "messages[0].role"},
		{"tool without tool_call_id", `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"tool","content":"1"}]}`, "messages[1].tool_call_id"},
		{"tool call without id", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, "messages[0].tool_calls[0].id"},
		{"response_format json_schema without object schema", `{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":[1]}}}`, "response_format.json_schema.schema"},
		{"unknown response_format", `{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"grammar"}}`, "response_format.type"},
		{"fractional seed", `{"model":"m","messages":[{"role":"user","content":"hi"}],"seed":1.5}`, "seed"},
		{"penalty not a number", `{"model":"m","messages":[{"role":"user","content":"hi"}],"presence_penalty":"high"}`, "presence_penalty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := toChatRequest(parseChat(t, tt.openai), false)
			e := asError(t, err)
			assert.Equal(t, llmproxy.KindInvalidRequest, e.Kind)
			assert.Equal(t, tt.param, e.Param)
			assert.NotEmpty(t, e.Message)
		})
	}
}

// TestRefusedRequestIsNotSent checks that a request Cohere cannot express
// fails with a 400 before anything is sent.
func TestRefusedRequestIsNotSent(t *testing.T) {
	f := newFakeCohere(t)
	p := newTestProvider(t, f.URL)
	req := parseChat(t, `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`)
	_, err := p.ChatCompletion(t.Context(), req)
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindInvalidRequest, e.Kind)
	assert.Equal(t, 400, e.HTTPStatus())
	assert.Equal(t, "co", e.Provider)
	assert.Contains(t, e.Message, "named function")
	_, err = p.ChatCompletionStream(t.Context(), req)
	assert.Equal(t, llmproxy.KindInvalidRequest, asError(t, err).Kind)
	assert.Empty(t, f.requests())
}

// TestFakeRefusesOpenAIToolChoice shows the fake upstream validating
// tool_choice the way Cohere does, and the refusal reaching the caller as
// an invalid request with Cohere's message.
func TestFakeRefusesOpenAIToolChoice(t *testing.T) {
	f := newFakeCohere(t)
	p := newTestProvider(t, f.URL)
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":"required"}`)
	var out chatResponse
	err := p.call(t.Context(), "POST", chatPath, body, &out)
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindInvalidRequest, e.Kind)
	assert.Equal(t, 400, e.Status)
	assert.Equal(t, `invalid request: tool_choice must be one of REQUIRED, NONE; received "required"`, e.Message)

	// The adapter's translation of the same request passes.
	_, err = p.ChatCompletion(t.Context(), parseChat(t, string(body)))
	require.NoError(t, err)
	var sent map[string]any
	require.NoError(t, json.Unmarshal(f.last(t).body, &sent))
	assert.Equal(t, "REQUIRED", sent["tool_choice"])
}
