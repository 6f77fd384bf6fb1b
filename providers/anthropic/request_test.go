package anthropic

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

func TestTranslateChat(t *testing.T) {
	cases := []struct {
		name       string
		defaultMax int // 0: DefaultMaxTokens
		client     string
		want       string // the Messages request, compared as JSON
	}{
		{
			name: "system and developer messages are hoisted in order",
			client: `{"model":"claude-sonnet-4-5","messages":[
				{"role":"system","content":"You are terse."},
				{"role":"user","content":"Hi"},
				{"role":"developer","content":[{"type":"text","text":"Answer in French."},{"type":"text","text":"Be kind.","cache_control":{"type":"ephemeral"}}]},
				{"role":"assistant","content":"Salut"},
				{"role":"user","content":"Again"}]}`,
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,
				"system":[{"type":"text","text":"You are terse."},{"type":"text","text":"Answer in French."},{"type":"text","text":"Be kind.","cache_control":{"type":"ephemeral"}}],
				"messages":[
					{"role":"user","content":[{"type":"text","text":"Hi"}]},
					{"role":"assistant","content":[{"type":"text","text":"Salut"}]},
					{"role":"user","content":[{"type":"text","text":"Again"}]}]}`,
		},
		{
			name:   "max_completion_tokens wins over max_tokens",
			client: `{"model":"m","max_tokens":50,"max_completion_tokens":100,"messages":[{"role":"user","content":"Hi"}]}`,
			want:   `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`,
		},
		{
			name:   "max_tokens",
			client: `{"model":"m","max_tokens":50,"messages":[{"role":"user","content":"Hi"}]}`,
			want:   `{"model":"m","max_tokens":50,"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`,
		},
		{
			name: "the provider's default max_tokens", defaultMax: 1024,
			client: `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`,
			want:   `{"model":"m","max_tokens":1024,"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`,
		},
		{
			name:   "stop string, temperature clamped, top_p; stream is the caller's",
			client: `{"model":"m","stop":"END","temperature":1.7,"top_p":0.9,"stream":true,"messages":[{"role":"user","content":"Hi"}]}`,
			want:   `{"model":"m","max_tokens":4096,"stop_sequences":["END"],"temperature":1,"top_p":0.9,"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`,
		},
		{
			name:   "stop list and a temperature in range",
			client: `{"model":"m","stop":["a","b"],"temperature":0.3,"messages":[{"role":"user","content":"Hi"}]}`,
			want:   `{"model":"m","max_tokens":4096,"stop_sequences":["a","b"],"temperature":0.3,"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`,
		},
		{
			name:   "user becomes metadata.user_id",
			client: `{"model":"m","user":"user-42","messages":[{"role":"user","content":"Hi"}]}`,
			want:   `{"model":"m","max_tokens":4096,"metadata":{"user_id":"user-42"},"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`,
		},
		{
			name:   "safety_identifier becomes metadata.user_id",
			client: `{"model":"m","safety_identifier":"hash-9","messages":[{"role":"user","content":"Hi"}]}`,
			want:   `{"model":"m","max_tokens":4096,"metadata":{"user_id":"hash-9"},"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`,
		},
		{
			name: "Anthropic's own members pass through, OpenAI-only knobs are dropped",
			client: `{"model":"m","user":"u1","metadata":{"tag":"x"},"top_k":40,"thinking":{"type":"enabled","budget_tokens":2048},
				"service_tier":"standard_only","presence_penalty":0.5,"frequency_penalty":0.1,"seed":7,"logit_bias":{"50256":-100},
				"stream_options":{"include_usage":true},"reasoning_effort":"low","response_format":{"type":"json_object"},
				"messages":[{"role":"user","content":"Hi"}]}`,
			want: `{"model":"m","max_tokens":4096,"metadata":{"user_id":"u1"},"top_k":40,
				"thinking":{"type":"enabled","budget_tokens":2048},"service_tier":"standard_only",
				"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`,
		},
		{
			name:   "the client's metadata.user_id wins over user",
			client: `{"model":"m","user":"u1","metadata":{"user_id":"abc"},"messages":[{"role":"user","content":"Hi"}]}`,
			want:   `{"model":"m","max_tokens":4096,"metadata":{"user_id":"abc"},"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`,
		},
		{
			name: "a tool result with an image",
			client: `{"model":"m","messages":[{"role":"user","content":"Screenshot?"},
				{"role":"assistant","tool_calls":[{"id":"t1","type":"function","function":{"name":"shot","arguments":"{}"}}]},
				{"role":"tool","tool_call_id":"t1","content":[{"type":"text","text":"here"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}}]}]}`,
			want: `{"model":"m","max_tokens":4096,"messages":[
				{"role":"user","content":[{"type":"text","text":"Screenshot?"}]},
				{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"shot","input":{}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[
					{"type":"text","text":"here"},{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/4AAQ"}}]}]}]}`,
		},
		{
			name:   "OpenAI service tiers are dropped",
			client: `{"model":"m","service_tier":"default","messages":[{"role":"user","content":"Hi"}]}`,
			want:   `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`,
		},
		{
			name: "response_format json_schema becomes output_config.format",
			client: `{"model":"m","response_format":{"type":"json_schema","json_schema":{"name":"w","strict":true,"schema":{"type":"object","properties":{"t":{"type":"number"}}}}},
				"messages":[{"role":"user","content":"Hi"}]}`,
			want: `{"model":"m","max_tokens":4096,"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"t":{"type":"number"}}}}},
				"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`,
		},
		{
			name: "images: data URL and http URL",
			client: `{"model":"m","messages":[{"role":"user","content":[
				{"type":"text","text":"What is in these?"},
				{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
				{"type":"image_url","image_url":{"url":"https://upload.wikimedia.org/cat.jpg","detail":"high"}}]}]}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[
				{"type":"text","text":"What is in these?"},
				{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
				{"type":"image","source":{"type":"url","url":"https://upload.wikimedia.org/cat.jpg"}}]}]}`,
		},
		{
			name: "tools and tool_choice auto",
			client: `{"model":"m","tool_choice":"auto","tools":[
				{"type":"function","function":{"name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
				{"type":"function","function":{"name":"now"}}],
				"messages":[{"role":"user","content":"Hi"}]}`,
			want: `{"model":"m","max_tokens":4096,"tool_choice":{"type":"auto"},"tools":[
				{"name":"get_weather","description":"Weather of a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},
				{"name":"now","input_schema":{"type":"object","properties":{}}}],
				"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`,
		},
		{
			name:   "tool_choice required",
			client: `{"model":"m","tool_choice":"required","tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"Hi"}]}`,
			want:   `{"model":"m","max_tokens":4096,"tool_choice":{"type":"any"},"tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`,
		},
		{
			name:   "tool_choice none ignores parallel_tool_calls",
			client: `{"model":"m","tool_choice":"none","parallel_tool_calls":false,"tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"Hi"}]}`,
			want:   `{"model":"m","max_tokens":4096,"tool_choice":{"type":"none"},"tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`,
		},
		{
			name:   "tool_choice naming a function, parallel calls off",
			client: `{"model":"m","tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false,"tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"Hi"}]}`,
			want:   `{"model":"m","max_tokens":4096,"tool_choice":{"type":"tool","name":"f","disable_parallel_tool_use":true},"tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`,
		},
		{
			name:   "parallel_tool_calls false without tool_choice adds auto",
			client: `{"model":"m","parallel_tool_calls":false,"tools":[{"type":"function","function":{"name":"f","strict":true}}],"messages":[{"role":"user","content":"Hi"}]}`,
			want:   `{"model":"m","max_tokens":4096,"tool_choice":{"type":"auto","disable_parallel_tool_use":true},"tools":[{"name":"f","strict":true,"input_schema":{"type":"object","properties":{}}}],"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`,
		},
		{
			name:   "no tools, no tool_choice",
			client: `{"model":"m","tool_choice":"auto","parallel_tool_calls":false,"messages":[{"role":"user","content":"Hi"}]}`,
			want:   `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`,
		},
		{
			name:   "Anthropic server tools pass through",
			client: `{"model":"m","tools":[{"type":"web_search_20250305","name":"web_search","max_uses":3}],"messages":[{"role":"user","content":"Hi"}]}`,
			want:   `{"model":"m","max_tokens":4096,"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":3}],"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`,
		},
		{
			name: "a tool round trip: results merged into one user turn with the next question",
			client: `{"model":"m","messages":[
				{"role":"user","content":"Weather in Paris and Tokyo?"},
				{"role":"assistant","content":"Let me check.","tool_calls":[
					{"id":"toolu_01Paris","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}},
					{"id":"toolu_01Tokyo","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Tokyo\"}"}}]},
				{"role":"tool","tool_call_id":"toolu_01Paris","content":"18°C, cloudy"},
				{"role":"tool","tool_call_id":"toolu_01Tokyo","content":[{"type":"text","text":"25°C, sunny"}]},
				{"role":"user","content":"And which is warmer?"},
				{"role":"assistant","content":null,"tool_calls":[{"id":"toolu_01None","type":"function","function":{"name":"noop","arguments":""}}]},
				{"role":"tool","tool_call_id":"toolu_01None","content":""}]}`,
			want: `{"model":"m","max_tokens":4096,"messages":[
				{"role":"user","content":[{"type":"text","text":"Weather in Paris and Tokyo?"}]},
				{"role":"assistant","content":[
					{"type":"text","text":"Let me check."},
					{"type":"tool_use","id":"toolu_01Paris","name":"get_weather","input":{"city":"Paris"}},
					{"type":"tool_use","id":"toolu_01Tokyo","name":"get_weather","input":{"city":"Tokyo"}}]},
				{"role":"user","content":[
					{"type":"tool_result","tool_use_id":"toolu_01Paris","content":[{"type":"text","text":"18°C, cloudy"}]},
					{"type":"tool_result","tool_use_id":"toolu_01Tokyo","content":[{"type":"text","text":"25°C, sunny"}]},
					{"type":"text","text":"And which is warmer?"}]},
				{"role":"assistant","content":[{"type":"tool_use","id":"toolu_01None","name":"noop","input":{}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01None"}]}]}`,
		},
		{
			name: "consecutive messages of the same role are merged, empty ones dropped",
			client: `{"model":"m","messages":[
				{"role":"user","content":"First."},
				{"role":"user","content":[{"type":"text","text":"Second."}]},
				{"role":"assistant","content":"A"},
				{"role":"assistant","content":""},
				{"role":"assistant","content":"B"},
				{"role":"user","content":"Third."}]}`,
			want: `{"model":"m","max_tokens":4096,"messages":[
				{"role":"user","content":[{"type":"text","text":"First."},{"type":"text","text":"Second."}]},
				{"role":"assistant","content":[{"type":"text","text":"A"},{"type":"text","text":"B"}]},
				{"role":"user","content":[{"type":"text","text":"Third."}]}]}`,
		},
		{
			name: "tool results move before text in a merged user turn",
			client: `{"model":"m","messages":[
				{"role":"user","content":"Go"},
				{"role":"assistant","tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{}"}}],"content":null},
				{"role":"user","content":"(meanwhile)"},
				{"role":"tool","tool_call_id":"t1","content":"done"}]}`,
			want: `{"model":"m","max_tokens":4096,"messages":[
				{"role":"user","content":[{"type":"text","text":"Go"}]},
				{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"done"}]},{"type":"text","text":"(meanwhile)"}]}]}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := chatRequest(t, tc.client)
			before, jerr := json.Marshal(req)
			require.NoError(t, jerr)
			def := tc.defaultMax
			if def == 0 {
				def = DefaultMaxTokens
			}
			mr, err := translateChat(req, def)
			require.Nil(t, err)
			b, jerr := json.Marshal(mr)
			require.NoError(t, jerr)
			assert.JSONEq(t, tc.want, string(b))
			after, jerr := json.Marshal(req)
			require.NoError(t, jerr)
			assert.Equal(t, string(before), string(after), "the client's request is not modified")
			assert.Empty(t, validateMessagesProblem(b), "the fake upstream accepts the translation")
		})
	}
}

// validateMessagesProblem runs the fake upstream's validation.
func validateMessagesProblem(body []byte) string {
	_, problem := validateMessages(body)
	return problem
}

func TestTranslateChatRefusals(t *testing.T) {
	cases := []struct {
		name   string
		client string
		param  string
	}{
		{"n above 1", `{"model":"m","n":2,"messages":[{"role":"user","content":"Hi"}]}`, "n"},
		{"logprobs", `{"model":"m","logprobs":true,"messages":[{"role":"user","content":"Hi"}]}`, "logprobs"},
		{"top_logprobs", `{"model":"m","top_logprobs":3,"messages":[{"role":"user","content":"Hi"}]}`, "top_logprobs"},
		{"invalid tool call arguments", `{"model":"m","messages":[{"role":"user","content":"Hi"},
			{"role":"assistant","tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{\"city\":"}}]}]}`,
			"messages[1].tool_calls[0].function.arguments"},
		{"tool call arguments that are not an object", `{"model":"m","messages":[{"role":"user","content":"Hi"},
			{"role":"assistant","tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"[1,2]"}}]}]}`,
			"messages[1].tool_calls[0].function.arguments"},
		{"audio input", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAA","format":"wav"}}]}]}`,
			"messages[0].content[0]"},
		{"image in a system message", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},{"role":"user","content":"Hi"}]}`,
			"messages[0].content[0]"},
		{"a data URL that is not base64", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}`,
			"messages[0].content[0].image_url.url"},
		{"an ftp image", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`,
			"messages[0].content[0].image_url.url"},
		{"a tool message without its call id", `{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id"},
		{"the function role", `{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role"},
		{"an unknown tool_choice", `{"model":"m","tool_choice":"sometimes","tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"Hi"}]}`, "tool_choice"},
		{"a custom tool", `{"model":"m","tools":[{"type":"custom","custom":{"name":"f"}}],"messages":[{"role":"user","content":"Hi"}]}`, "tools[0].type"},
		{"metadata that is not an object", `{"model":"m","metadata":"x","messages":[{"role":"user","content":"Hi"}]}`, "metadata"},
		{"a json_schema without schema", `{"model":"m","response_format":{"type":"json_schema","json_schema":{"name":"x"}},"messages":[{"role":"user","content":"Hi"}]}`, "response_format.json_schema.schema"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := translateChat(chatRequest(t, tc.client), DefaultMaxTokens)
			require.NotNil(t, err)
			assert.Equal(t, llmproxy.KindInvalidRequest, err.Kind)
			assert.Equal(t, 400, err.HTTPStatus())
			assert.Equal(t, tc.param, err.Param)
			assert.NotEmpty(t, err.Message)
		})
	}
}

func TestTranslateChatAllowsHarmlessValues(t *testing.T) {
	_, err := translateChat(chatRequest(t, `{"model":"m","n":1,"logprobs":false,"top_logprobs":null,"messages":[{"role":"user","content":"Hi"}]}`), 10)
	assert.Nil(t, err)
}

func TestTranslateCompletion(t *testing.T) {
	parse := func(body string) *llmproxy.CompletionRequest {
		req, err := llmproxy.ParseCompletionRequest([]byte(body))
		require.NoError(t, err)
		return req
	}
	mr, err := translateCompletion(parse(`{"model":"m","prompt":["Say","hi"],"max_tokens":7,"temperature":2,"stop":"\n","user":"u"}`), 4096)
	require.Nil(t, err)
	b, _ := json.Marshal(mr)
	assert.JSONEq(t, `{"model":"m","max_tokens":7,"temperature":1,"stop_sequences":["\n"],"metadata":{"user_id":"u"},
		"messages":[{"role":"user","content":[{"type":"text","text":"Say\nhi"}]}]}`, string(b))

	mr, err = translateCompletion(parse(`{"model":"m","prompt":"Hi","echo":false,"best_of":1,"suffix":""}`), 512)
	require.Nil(t, err)
	assert.Equal(t, 512, mr.MaxTokens)

	for body, param := range map[string]string{
		`{"model":"m","prompt":[1,2,3]}`:          "prompt",
		`{"model":"m","prompt":"x","n":3}`:        "n",
		`{"model":"m","prompt":"x","echo":true}`:  "echo",
		`{"model":"m","prompt":"x","logprobs":2}`: "logprobs",
		`{"model":"m","prompt":"x","suffix":"}"}`: "suffix",
		`{"model":"m","prompt":"x","best_of":2}`:  "best_of",
	} {
		_, err := translateCompletion(parse(body), 4096)
		require.NotNil(t, err, body)
		assert.Equal(t, llmproxy.KindInvalidRequest, err.Kind, body)
		assert.Equal(t, param, err.Param, body)
	}
}
