package responses

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

func translateBody(t *testing.T, body string) (*translation, error) {
	t.Helper()
	req, err := ReadRequest([]byte(body))
	require.NoError(t, err)
	w, err := decodeWire(req.Body)
	require.NoError(t, err)
	return toChat(w, nil, "target-model")
}

func TestToChat(t *testing.T) {
	tr, err := translateBody(t, `{"model":"m","instructions":"sys","input":[
		{"role":"developer","content":"dev"},
		{"type":"message","role":"user","content":[{"type":"input_text","text":"look"},{"type":"input_image","image_url":"https://x/img.png","detail":"low"}]},
		{"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"gAAA"},
		{"type":"web_search_call","id":"ws_1","status":"completed","action":{"type":"search","query":"q"}},
		{"type":"message","role":"assistant","content":[{"type":"output_text","text":"calling"}]},
		{"type":"function_call","call_id":"c1","name":"f","arguments":"{\"a\":1}"},
		{"type":"function_call","call_id":"c2","name":"g","arguments":"{}"},
		{"type":"function_call_output","call_id":"c1","output":"one"},
		{"type":"function_call_output","call_id":"c2","output":[{"type":"input_text","text":"two"}]}],
		"tools":[{"type":"function","name":"f","description":"d","parameters":{"type":"object"},"strict":true},{"type":"web_search"},{"type":"namespace","name":"mcp"},{"type":"web_search"}],
		"tool_choice":"required","parallel_tool_calls":false,"max_output_tokens":99,"top_p":0.5,"reasoning":{"effort":"high","summary":"auto"},
		"text":{"format":{"type":"json_object"}},"user":"u1","store":false,"include":["reasoning.encrypted_content"]}`)
	require.NoError(t, err)
	b, err := json.Marshal(tr.chat)
	require.NoError(t, err)
	assert.JSONEq(t, `{"model":"target-model","messages":[
		{"role":"system","content":"sys"},
		{"role":"system","content":"dev"},
		{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"https://x/img.png","detail":"low"}}]},
		{"role":"assistant","content":"calling","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},{"id":"c2","type":"function","function":{"name":"g","arguments":"{}"}}]},
		{"role":"tool","content":"one","tool_call_id":"c1"},
		{"role":"tool","content":"two","tool_call_id":"c2"}],
		"max_completion_tokens":99,"top_p":0.5,"parallel_tool_calls":false,"user":"u1",
		"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"},"strict":true}}],
		"tool_choice":"required","reasoning_effort":"high","response_format":{"type":"json_object"}}`, string(b))
	assert.Equal(t, []string{"web_search", "namespace"}, tr.dropped)
}

func TestToChatRefusals(t *testing.T) {
	for body, param := range map[string]string{
		`{"model":"m","input":"x","tools":[{"type":"file_search"}],"tool_choice":{"type":"file_search"}}`:                 "tool_choice",
		`{"model":"m","input":"x","tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function","name":"g"}}`: "tool_choice",
		`{"model":"m","input":"x","tool_choice":{"type":"allowed_tools","mode":"auto","tools":[{"type":"web_search"}]}}`:  "tool_choice",
		`{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}`:                                                  "input[0].type",
		`{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file-1"}]}]}`:                   "input[0].content[0]",
		`{"model":"m","input":[{"role":"wizard","content":"x"}]}`:                                                         "input[0].role",
		`{"model":"m","input":[{"type":"function_call_output","output":"x"}]}`:                                            "input[0]",
		`{"model":"m","input":"x","text":{"format":{"type":"xml"}}}`:                                                      "text.format.type",
		`{"model":"m","input":"x","max_output_tokens":0}`:                                                                 "max_output_tokens",
		`{"model":"m","input":"x","temperature":3}`:                                                                       "temperature",
	} {
		_, err := translateBody(t, body)
		require.Error(t, err, body)
		e := llmproxy.AsError(err)
		assert.Equal(t, llmproxy.KindInvalidRequest, e.Kind, body)
		assert.Equal(t, param, e.Param, body)
	}
}

func TestFromChat(t *testing.T) {
	refusal := "I can't."
	resp := &llmproxy.ChatResponse{Model: "up-model", Choices: []llmproxy.Choice{{
		Message: llmproxy.Message{Role: "assistant", Content: llmproxy.Text("partial"), Refusal: &refusal,
			Extra:     llmproxy.Extra{"reasoning_content": json.RawMessage(`"hmm"`)},
			ToolCalls: llmproxy.ToolCalls{{ID: "call_1", Type: "function", Function: llmproxy.FunctionCall{Name: "f", Arguments: "{}"}}}},
		FinishReason: "length",
	}}, Usage: &llmproxy.Usage{PromptTokens: 3, CompletionTokens: 4, CompletionTokensDetails: &llmproxy.TokenDetails{ReasoningTokens: 2}}}
	r := newResponse(&wireRequest{}, "resp_1", "up-model", time.Unix(10, 0))
	fromChat(r, resp, time.Unix(11, 0))
	b, err := json.Marshal(r)
	require.NoError(t, err)
	var got struct {
		Status            string
		IncompleteDetails struct{ Reason string } `json:"incomplete_details"`
		Output            []map[string]any
		Usage             map[string]any
	}
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, "incomplete", got.Status)
	assert.Equal(t, "max_output_tokens", got.IncompleteDetails.Reason)
	require.Len(t, got.Output, 3)
	assert.Equal(t, "reasoning", got.Output[0]["type"])
	assert.Equal(t, "message", got.Output[1]["type"])
	assert.Len(t, got.Output[1]["content"], 2, "text and refusal")
	assert.Equal(t, "function_call", got.Output[2]["type"])
	assert.Equal(t, "call_1", got.Output[2]["call_id"])
	assert.EqualValues(t, 7, got.Usage["total_tokens"])
	assert.EqualValues(t, 2, got.Usage["output_tokens_details"].(map[string]any)["reasoning_tokens"])
}

func TestMemoryStoreBounds(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	m := NewMemoryStore(2, time.Minute)
	m.now = func() time.Time { return now }
	rec := func(s string) *Record { return &Record{Response: json.RawMessage(`{"id":"` + s + `"}`)} }
	require.NoError(t, m.Put(ctx, "a", rec("a")))
	require.NoError(t, m.Put(ctx, "b", rec("b")))
	require.NoError(t, m.Put(ctx, "c", rec("c")))
	assert.Equal(t, 2, m.Len(), "the oldest record makes room")
	_, err := m.Get(ctx, "a")
	assert.ErrorIs(t, err, ErrNotFound)
	got, err := m.Get(ctx, "c")
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"c"}`, string(got.Response))

	now = now.Add(2 * time.Minute)
	_, err = m.Get(ctx, "c")
	assert.ErrorIs(t, err, ErrNotFound, "expired")
	assert.ErrorIs(t, m.Delete(ctx, "b"), ErrNotFound, "expired")
	require.NoError(t, m.Put(ctx, "d", rec("d")))
	require.NoError(t, m.Delete(ctx, "d"))
	assert.ErrorIs(t, m.Delete(ctx, "d"), ErrNotFound)
}
