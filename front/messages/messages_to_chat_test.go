package messages

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// toChatJSON translates a request body and returns the chat request as
// JSON.
func toChatJSON(t *testing.T, body string) (string, error) {
	t.Helper()
	r, err := ReadRequest([]byte(body))
	require.NoError(t, err, body)
	req, err := ToChat(r, "target-model")
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(req)
	require.NoError(t, err)
	return string(b), nil
}

func TestToChat(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"system blocks, system message, cache_control and context_management dropped",
			`{"model":"m","max_tokens":100,"system":[{"type":"text","text":"A","cache_control":{"type":"ephemeral"}},{"type":"text","text":"B"}],
			  "context_management":{"edits":[]},"cache_control":{"type":"ephemeral"},"thinking":{"type":"enabled","budget_tokens":2000},"top_k":5,
			  "messages":[{"role":"system","content":"late rule"},{"role":"user","content":"hi"}],"metadata":{"user_id":"u-1"},
			  "stop_sequences":["X","Y"],"temperature":0.2,"top_p":0.9}`,
			`{"model":"target-model","messages":[{"role":"system","content":"A\n\nB"},{"role":"system","content":"late rule"},{"role":"user","content":"hi"}],
			  "max_tokens":100,"temperature":0.2,"top_p":0.9,"stop":["X","Y"],"user":"u-1"}`},
		{"images, documents, server blocks dropped",
			`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[
			  {"type":"text","text":"look"},
			  {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}},
			  {"type":"image","source":{"type":"url","url":"https://example.com/a.jpg"}},
			  {"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc text"},"title":"T"},
			  {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBER"}},
			  {"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[]}]}]}`,
			`{"model":"target-model","messages":[{"role":"user","content":[
			  {"type":"text","text":"look"},
			  {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO"}},
			  {"type":"image_url","image_url":{"url":"https://example.com/a.jpg"}},
			  {"type":"text","text":"T\n\ndoc text"},
			  {"type":"file","file":{"file_data":"data:application/pdf;base64,JVBER","filename":"document.pdf"}}]}],"max_tokens":1}`},
		{"tool use round trip, thinking dropped, results first",
			`{"model":"m","max_tokens":1,"stream":true,
			  "tools":[{"name":"get_weather","description":"d","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"},"defer_loading":true},
			           {"type":"web_search_20250305","name":"web_search"},{"name":"noargs"}],
			  "tool_choice":{"type":"tool","name":"get_weather","disable_parallel_tool_use":true},
			  "messages":[{"role":"user","content":"weather?"},
			    {"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"sig"},{"type":"text","text":"Checking."},
			      {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city": "Paris"}},{"type":"tool_use","id":"toolu_2","name":"noargs","input":{}}]},
			    {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"18C"},{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]},
			      {"type":"tool_result","tool_use_id":"toolu_2","content":"boom","is_error":true},{"type":"text","text":"thanks"}]}]}`,
			`{"model":"target-model","messages":[{"role":"user","content":"weather?"},
			  {"role":"assistant","content":"Checking.","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
			    {"id":"toolu_2","type":"function","function":{"name":"noargs","arguments":"{}"}}]},
			  {"role":"tool","content":"18C","tool_call_id":"toolu_1"},
			  {"role":"tool","content":"Error: boom","tool_call_id":"toolu_2"},
			  {"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}},{"type":"text","text":"thanks"}]}],
			  "max_tokens":1,"stream":true,"stream_options":{"include_usage":true},
			  "tools":[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object"}}},
			           {"type":"function","function":{"name":"noargs","parameters":{"type":"object","properties":{}}}}],
			  "tool_choice":{"function":{"name":"get_weather"},"type":"function"},"parallel_tool_calls":false}`},
		{"tool choices", `{"model":"m","max_tokens":1,"tools":[{"name":"f","input_schema":{}}],"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"x"}]}`,
			`{"model":"target-model","messages":[{"role":"user","content":"x"}],"max_tokens":1,"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":"required"}`},
		{"no tool choice without tools", `{"model":"m","max_tokens":1,"tools":[{"type":"bash_20250124","name":"bash"}],"tool_choice":{"type":"none"},"messages":[{"role":"user","content":"x"}]}`,
			`{"model":"target-model","messages":[{"role":"user","content":"x"}],"max_tokens":1}`},
		{"long user ids dropped, json schema output", `{"model":"m","max_tokens":1,"metadata":{"user_id":"{\"device_id\":\"0123456789012345678901234567890123456789012345678901234567890123\"}"},
			"output_config":{"effort":"high","format":{"type":"json_schema","schema":{"type":"object"}}},"messages":[{"role":"user","content":"x"}]}`,
			`{"model":"target-model","messages":[{"role":"user","content":"x"}],"max_tokens":1,"response_format":{"json_schema":{"name":"output","schema":{"type":"object"}},"type":"json_schema"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := toChatJSON(t, tc.in)
			require.NoError(t, err)
			assert.JSONEq(t, tc.want, got)
		})
	}
}

func TestToChatRefuses(t *testing.T) {
	for body, want := range map[string]string{
		`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"search_result","source":"s"}]}]}`:                   `messages[0].content[0].type: content blocks of type "search_result" cannot be translated`,
		`{"model":"m","max_tokens":1,"messages":[{"role":"robot","content":"x"}]}`:                                                      `messages[0].role: "robot" is not a role`,
		`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`: `messages[0].content[0].source: an image source must be`,
		`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":7}]}`:                                                         `messages[0].content: must be a string or a list of content blocks`,
		`{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","name":"f"}]}]}`:                     `a tool_use block needs an id and a name`,
		`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}`:                    `tool_use_id: Field required`,
		`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"system":[{"type":"image"}]}`:                           `system[0]: a system prompt holds text blocks only`,
		`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f"}],"tool_choice":{"type":"maybe"}}`: `tool_choice.type: "maybe" is not one of`,
		`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":""}]}`:                                                        `messages: no message has content`,
		`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"temperature":"hot"}`:                                   `temperature has the wrong type`,
	} {
		_, err := toChatJSON(t, body)
		assert.ErrorContains(t, err, want, body)
	}
}
