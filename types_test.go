package llmproxy

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireSameJSON asserts that two JSON texts have the same meaning:
// member order and spacing aside, nothing was added, lost or changed.
func requireSameJSON(t *testing.T, want, got []byte) {
	t.Helper()
	var w, g any
	require.NoError(t, json.Unmarshal(want, &w), "want: %s", want)
	require.NoError(t, json.Unmarshal(got, &g), "got: %s", got)
	require.Equal(t, w, g, "re-encoded JSON differs:\nwant %s\ngot  %s", want, got)
}

const chatRequestWithExtras = `{
	"model": "gpt-4o",
	"messages": [
		{"role": "system", "content": "You are terse.", "x_message_meta": {"source": "template"}},
		{"role": "user", "content": [
			{"type": "text", "text": "What is in this image?"},
			{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
			{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
		], "name": "alice"},
		{"role": "assistant", "content": null, "tool_calls": [
			{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"cats\"}"}}
		], "reasoning_content": "I should look it up."},
		{"role": "tool", "tool_call_id": "call_1", "content": "cats are mammals"}
	],
	"temperature": 0.25,
	"max_tokens": 300,
	"stop": ["\n\n", "END"],
	"reasoning_effort": "low",
	"response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": true, "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}},
	"tools": [
		{"type": "function", "function": {"name": "lookup", "description": "Look up a fact", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}, "strict": true}},
		{"type": "web_search_preview", "search_context_size": "low"}
	],
	"tool_choice": {"type": "function", "function": {"name": "lookup"}},
	"parallel_tool_calls": false,
	"stream_options": {"include_usage": true, "include_obfuscation": false},
	"seed": 42,
	"logit_bias": {"50256": -100},
	"x_vendor": {"nested": [1, 2, {"deep": null}], "flag": true}
}`

func TestTypesChatRequestRoundTrip(t *testing.T) {
	req, err := ParseChatRequest([]byte(chatRequestWithExtras))
	require.NoError(t, err)

	// The modelled fields are decoded...
	assert.Equal(t, "gpt-4o", req.Model)
	require.Len(t, req.Messages, 4)
	assert.Equal(t, "You are terse.", req.Messages[0].Content.String())
	assert.JSONEq(t, `{"source":"template"}`, string(req.Messages[0].Extra["x_message_meta"]))
	parts := req.Messages[1].Content.Parts
	require.Len(t, parts, 3)
	assert.Equal(t, "What is in this image?", parts[0].Text)
	require.NotNil(t, parts[1].ImageURL)
	assert.Equal(t, "data:image/png;base64,iVBORw0KGgo=", parts[1].ImageURL.URL)
	assert.Equal(t, "low", parts[1].ImageURL.Detail)
	assert.Contains(t, parts[2].Extra, "input_audio")
	assert.Equal(t, "What is in this image?", req.Messages[1].Content.String())
	assert.Nil(t, req.Messages[2].Content, "null content stays nil")
	require.Len(t, req.Messages[2].ToolCalls, 1)
	assert.Equal(t, `{"q":"cats"}`, req.Messages[2].ToolCalls[0].Function.Arguments)
	assert.Equal(t, Stop{"\n\n", "END"}, req.Stop)
	require.Len(t, req.Tools, 2)
	assert.Equal(t, "lookup", req.Tools[0].Function.Name)
	assert.Contains(t, req.Tools[1].Extra, "search_context_size")
	assert.True(t, req.StreamOptions.IncludeUsage)

	// ...and the rest kept.
	for _, k := range []string{"reasoning_effort", "response_format", "seed", "logit_bias", "x_vendor"} {
		assert.Contains(t, req.Extra, k)
	}
	assert.NotContains(t, req.Extra, "tools", "modelled members are not duplicated in Extra")

	// Re-encoding loses nothing.
	out, err := json.Marshal(req)
	require.NoError(t, err)
	requireSameJSON(t, []byte(chatRequestWithExtras), out)

	// Decoding the encoded form gives the same request again.
	var again ChatRequest
	require.NoError(t, json.Unmarshal(out, &again))
	out2, err := json.Marshal(&again)
	require.NoError(t, err)
	assert.Equal(t, string(out), string(out2), "encoding is deterministic")
}

func TestTypesChatRequestBuiltInCode(t *testing.T) {
	maxTokens := 5
	req := &ChatRequest{
		Model: "m",
		Messages: []Message{
			{Role: "user", Content: Text("hi")},
			{Role: "assistant", ToolCalls: ToolCalls{{ID: "c1", Type: "function", Function: FunctionCall{Name: "f", Arguments: "{}"}}}},
		},
		MaxTokens: &maxTokens,
		Stop:      Stop{"x"},
		Extra:     Extra{"reasoning_effort": json.RawMessage(`"high"`), "empty": nil},
	}
	out, err := json.Marshal(req)
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"model": "m",
		"messages": [
			{"role": "user", "content": "hi"},
			{"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
		],
		"max_tokens": 5,
		"stop": "x",
		"reasoning_effort": "high"
	}`, string(out))

	// Extra cannot override a modelled member.
	req.Extra["model"] = json.RawMessage(`"other"`)
	out, err = json.Marshal(req)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(out, &m))
	assert.Equal(t, "m", m["model"])
}

func TestTypesStop(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Stop
		out  string
	}{
		{`"END"`, Stop{"END"}, `"END"`},
		{`["a","b"]`, Stop{"a", "b"}, `["a","b"]`},
		{`null`, nil, `[]`},
	} {
		var s Stop
		require.NoError(t, json.Unmarshal([]byte(tc.in), &s), tc.in)
		assert.Equal(t, tc.want, s, tc.in)
		if s != nil {
			b, err := json.Marshal(s)
			require.NoError(t, err)
			assert.JSONEq(t, tc.out, string(b), tc.in)
		}
	}
	var s Stop
	assert.Error(t, json.Unmarshal([]byte(`7`), &s))

	// In a request, an absent stop stays absent.
	b, err := json.Marshal(&ChatRequest{Model: "m", Messages: []Message{{Role: "user", Content: Text("x")}}})
	require.NoError(t, err)
	assert.NotContains(t, string(b), "stop")
}

func TestTypesContent(t *testing.T) {
	var m Message
	require.NoError(t, json.Unmarshal([]byte(`{"role":"user","content":"plain"}`), &m))
	assert.Equal(t, "plain", m.Content.Text)
	assert.Nil(t, m.Content.Parts)

	require.NoError(t, json.Unmarshal([]byte(`{"role":"user","content":[]}`), &m))
	require.NotNil(t, m.Content)
	assert.NotNil(t, m.Content.Parts, "an empty list stays a list")
	b, err := json.Marshal(&m)
	require.NoError(t, err)
	assert.JSONEq(t, `{"role":"user","content":[]}`, string(b))

	require.NoError(t, json.Unmarshal([]byte(`{"role":"assistant","content":null,"tool_calls":[{"id":"x","type":"function","function":{"name":"f","arguments":"{}"}}]}`), &m))
	assert.Nil(t, m.Content)
	b, err = json.Marshal(&m)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"content":null`)

	var nilContent *Content
	assert.Empty(t, nilContent.String())
}

const chatResponseWithExtras = `{
	"id": "chatcmpl-123",
	"object": "chat.completion",
	"created": 1700000000,
	"model": "sonar-pro",
	"system_fingerprint": "fp_abc",
	"provider": "Perplexity",
	"citations": ["https://example.com/a", "https://example.com/b"],
	"search_results": [{"title": "A", "url": "https://example.com/a", "date": null}],
	"choices": [{
		"index": 0,
		"message": {"role": "assistant", "content": "Answer [1].", "refusal": null, "annotations": [], "reasoning": "because"},
		"finish_reason": "stop",
		"native_finish_reason": "STOP",
		"logprobs": {"content": [{"token": "Answer", "logprob": -0.01, "bytes": [65], "top_logprobs": []}]}
	}],
	"usage": {
		"prompt_tokens": 10,
		"completion_tokens": 3,
		"total_tokens": 13,
		"prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
		"completion_tokens_details": {"reasoning_tokens": 2, "accepted_prediction_tokens": 0},
		"cost": 0.00042,
		"search_context_size": "low"
	}
}`

func TestTypesChatResponseRoundTrip(t *testing.T) {
	var resp ChatResponse
	require.NoError(t, json.Unmarshal([]byte(chatResponseWithExtras), &resp))
	assert.Contains(t, resp.Extra, "citations")
	assert.Contains(t, resp.Extra, "search_results")
	assert.Contains(t, resp.Extra, "provider")
	require.Len(t, resp.Choices, 1)
	assert.Contains(t, resp.Choices[0].Extra, "logprobs")
	assert.Equal(t, `"STOP"`, string(resp.Choices[0].Extra["native_finish_reason"]))
	assert.Contains(t, resp.Choices[0].Message.Extra, "annotations")
	require.NotNil(t, resp.Usage)
	assert.Equal(t, 13, resp.Usage.TotalTokens)
	assert.Equal(t, `0.00042`, string(resp.Usage.Extra["cost"]))
	assert.Equal(t, 4, resp.Usage.PromptTokensDetails.CachedTokens)
	assert.Equal(t, 2, resp.Usage.CompletionTokensDetails.ReasoningTokens)

	out, err := json.Marshal(&resp)
	require.NoError(t, err)
	requireSameJSON(t, []byte(chatResponseWithExtras), out)
	var want map[string]any
	require.NoError(t, json.Unmarshal([]byte(chatResponseWithExtras), &want))

	// The proxy's info is added as _proxy_info.
	resp.ProxyInfo = &ProxyInfo{Provider: "pplx", AttemptNumber: 2, ResponseTime: 0.5, RequestID: "req_1"}
	out, err = json.Marshal(&resp)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(out, &got))
	assert.Equal(t, map[string]any{"provider": "pplx", "attempt_number": 2.0, "response_time": 0.5, "request_id": "req_1"}, got["_proxy_info"])
	assert.Equal(t, want["citations"], got["citations"])
}

func TestTypesLenientDecoding(t *testing.T) {
	const body = `{
		"id": "x", "object": "chat.completion", "created": 1, "model": "m",
		"choices": [{"index": 0, "finish_reason": "stop",
			"message": {"role": "assistant", "content": "hi", "tool_calls": "None"}}],
		"usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2,
			"prompt_tokens_details": null, "completion_tokens_details": "None"}
	}`
	var resp ChatResponse
	require.NoError(t, json.Unmarshal([]byte(body), &resp))
	assert.Nil(t, resp.Choices[0].Message.ToolCalls)
	assert.Equal(t, "hi", resp.Choices[0].Message.Content.String())
	assert.Nil(t, resp.Usage.PromptTokensDetails)
	if d := resp.Usage.CompletionTokensDetails; d != nil {
		assert.Zero(t, d.ReasoningTokens)
		assert.Zero(t, d.CachedTokens)
	}
	assert.Equal(t, 2, resp.Usage.TotalTokens)

	var calls ToolCalls
	require.NoError(t, json.Unmarshal([]byte(`null`), &calls))
	assert.Nil(t, calls)
	require.NoError(t, json.Unmarshal([]byte(`[{"index":0,"id":"c","function":{"arguments":"{"}}]`), &calls))
	require.Len(t, calls, 1)
	assert.Equal(t, 0, *calls[0].Index)
}

func TestTypesParseChatRequestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, param string
		msg               []string // substrings of the message
	}{
		{"invalid JSON", `{"model": "m", "messages": [`, "", []string{"not valid JSON"}},
		{"not an object", `["model"]`, "", []string{"JSON object"}},
		{"messages not a list", `{"model": "m", "messages": "hello"}`, "messages", []string{"messages", "an array"}},
		{"content a number", `{"model": "m", "messages": [{"role": "user", "content": 5}]}`, "messages.content", []string{"messages.content", "a string or an array of content parts", "got number"}},
		{"content an object", `{"model": "m", "messages": [{"role": "user", "content": {"text": "hi"}}]}`, "messages.content", []string{"got object"}},
		{"role a number", `{"model": "m", "messages": [{"role": 1, "content": "hi"}]}`, "messages.role", []string{"a string", "got number"}},
		{"model missing", `{"messages": [{"role": "user", "content": "hi"}]}`, "model", []string{"model"}},
		{"model not a string", `{"model": 4, "messages": [{"role": "user", "content": "hi"}]}`, "model", []string{"model", "a string"}},
		{"messages empty", `{"model": "m", "messages": []}`, "messages", []string{"non-empty"}},
		{"messages missing", `{"model": "m"}`, "messages", []string{"messages"}},
		{"role missing", `{"model": "m", "messages": [{"content": "hi"}]}`, "messages[0].role", []string{"role"}},
		{"max_tokens -1", `{"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": -1}`, "max_tokens", []string{"max_tokens", "at least 1"}},
		{"max_tokens not a number", `{"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": "ten"}`, "max_tokens", []string{"max_tokens", "a number"}},
		{"n 10000", `{"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 10000}`, "n", []string{"n must be between 1 and 128"}},
		{"temperature 3", `{"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 3}`, "temperature", []string{"temperature", "between 0 and 2"}},
		{"top_p 1.5", `{"model": "m", "messages": [{"role": "user", "content": "hi"}], "top_p": 1.5}`, "top_p", []string{"top_p"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := ParseChatRequest([]byte(tc.body))
			assert.Nil(t, req)
			e := requireErrKind(t, err, KindInvalidRequest)
			assert.Equal(t, tc.param, e.Param)
			for _, s := range tc.msg {
				assert.Contains(t, e.Message, s)
			}
			assert.Equal(t, 400, e.HTTPStatus())
			env := e.Envelope()
			assert.Equal(t, "invalid_request_error", env.Error.Type)
			assert.Equal(t, e.Message, env.Error.Message, "the client sees the message")
		})
	}
}

func TestTypesParseOtherRequests(t *testing.T) {
	c, err := ParseCompletionRequest([]byte(`{"model":"m","prompt":["a","b"],"suffix":"z","echo":true}`))
	require.NoError(t, err)
	text, ok := c.PromptText()
	assert.True(t, ok)
	assert.Equal(t, "a\nb", text)
	out, err := json.Marshal(c)
	require.NoError(t, err)
	requireSameJSON(t, []byte(`{"model":"m","prompt":["a","b"],"suffix":"z","echo":true}`), out)
	c, err = ParseCompletionRequest([]byte(`{"model":"m","prompt":[1,2,3]}`))
	require.NoError(t, err)
	_, ok = c.PromptText()
	assert.False(t, ok)
	_, err = ParseCompletionRequest([]byte(`{"model":"m"}`))
	assert.Equal(t, "prompt", requireErrKind(t, err, KindInvalidRequest).Param)

	e, err := ParseEmbeddingRequest([]byte(`{"model":"m","input":["a","b"],"dimensions":8,"x":{"y":1}}`))
	require.NoError(t, err)
	in, ok := e.InputStrings()
	assert.True(t, ok)
	assert.Equal(t, []string{"a", "b"}, in)
	out, err = json.Marshal(e)
	require.NoError(t, err)
	requireSameJSON(t, []byte(`{"model":"m","input":["a","b"],"dimensions":8,"x":{"y":1}}`), out)
	_, err = ParseEmbeddingRequest([]byte(`{"model":"m","input":"a","encoding_format":"int8"}`))
	assert.Equal(t, "encoding_format", requireErrKind(t, err, KindInvalidRequest).Param)
	_, err = ParseEmbeddingRequest([]byte(`{"model":"m","input":null}`))
	assert.Equal(t, "input", requireErrKind(t, err, KindInvalidRequest).Param)
}

func TestTypesEmbeddingBase64(t *testing.T) {
	// 1.0 is 0x3f800000, little-endian 00 00 80 3f.
	e := Embedding{Vector: []float32{1.0}}
	e.EncodeBase64()
	assert.Equal(t, "AACAPw==", e.Base64)
	assert.Nil(t, e.Vector)

	// -2.5 is 0xc0200000: 00 00 20 c0.
	e = Embedding{Vector: []float32{1.0, -2.5}}
	e.EncodeBase64()
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte{0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0}), e.Base64)

	// Every bit survives the round trip, odd values included.
	vec := []float32{0, float32(math.Copysign(0, -1)), 0.1, -1e-38, math.SmallestNonzeroFloat32,
		math.MaxFloat32, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Pi)}
	e = Embedding{Vector: append([]float32(nil), vec...)}
	e.EncodeBase64()
	require.NoError(t, e.DecodeBase64())
	assert.Empty(t, e.Base64)
	require.Len(t, e.Vector, len(vec))
	for i := range vec {
		assert.Equal(t, math.Float32bits(vec[i]), math.Float32bits(e.Vector[i]), "value %d", i)
	}

	bad := Embedding{Base64: base64.StdEncoding.EncodeToString([]byte{1, 2, 3})}
	assert.Error(t, bad.DecodeBase64())
	bad = Embedding{Base64: "!!!"}
	assert.Error(t, bad.DecodeBase64())
}

func TestTypesEmbeddingJSON(t *testing.T) {
	var e Embedding
	require.NoError(t, json.Unmarshal([]byte(`{"object":"embedding","index":2,"embedding":"AACAPw=="}`), &e))
	assert.Equal(t, "AACAPw==", e.Base64)
	assert.Equal(t, 2, e.Index)
	require.NoError(t, e.DecodeBase64())
	assert.Equal(t, []float32{1}, e.Vector)
	b, err := json.Marshal(e)
	require.NoError(t, err)
	assert.JSONEq(t, `{"object":"embedding","index":2,"embedding":[1]}`, string(b))

	const resp = `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-0.25]}],"model":"m","usage":{"prompt_tokens":2,"total_tokens":2},"id":"emb-1"}`
	var r EmbeddingResponse
	require.NoError(t, json.Unmarshal([]byte(resp), &r))
	assert.Equal(t, []float32{0.5, -0.25}, r.Data[0].Vector)
	out, err := json.Marshal(&r)
	require.NoError(t, err)
	// usage has no completion tokens in embeddings answers; the proxy
	// writes completion_tokens 0, which is the only addition.
	var want map[string]any
	require.NoError(t, json.Unmarshal([]byte(resp), &want))
	want["usage"].(map[string]any)["completion_tokens"] = 0.0
	wantJSON, _ := json.Marshal(want)
	requireSameJSON(t, wantJSON, out)
}

func TestExtraRoundTripKeepsBytes(t *testing.T) {
	// Extra keeps each unknown member's exact bytes, numbers included.
	const body = `{"model":"m","messages":[{"role":"user","content":"x"}],"big":12345678901234567890,"f":1.50}`
	var r ChatRequest
	require.NoError(t, json.Unmarshal([]byte(body), &r))
	assert.Equal(t, "12345678901234567890", string(r.Extra["big"]))
	assert.Equal(t, "1.50", string(r.Extra["f"]))
	out, err := json.Marshal(&r)
	require.NoError(t, err)
	assert.Contains(t, string(out), `"big":12345678901234567890`)
	assert.Contains(t, string(out), `"f":1.50`)

	var none ChatRequest
	require.NoError(t, json.Unmarshal([]byte(`{"model":"m","messages":[]}`), &none))
	assert.Nil(t, none.Extra, "no unknown members, no Extra")
}

func TestTypesAnswerRequiredMembers(t *testing.T) {
	// An answer built in code (as the translating providers build them)
	// carries the members the OpenAI spec requires of every choice:
	// logprobs and the message's refusal, null when unset.
	refusal := "I can't help with that."
	resp := &ChatResponse{ID: "chatcmpl-1", Object: "chat.completion", Created: 1, Model: "m", Choices: []Choice{
		{Index: 0, Message: Message{Role: "assistant", Content: Text("hi")}, FinishReason: "stop"},
		{Index: 1, Message: Message{Role: "assistant", Refusal: &refusal}, FinishReason: "content_filter",
			Extra: Extra{"logprobs": json.RawMessage(`{"content":null,"refusal":null}`), "native_finish_reason": json.RawMessage(`"REFUSED"`)}},
	}}
	out, err := json.Marshal(resp)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[
		{"index":0,"message":{"role":"assistant","content":"hi","refusal":null},"logprobs":null,"finish_reason":"stop"},
		{"index":1,"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},
		 "logprobs":{"content":null,"refusal":null},"finish_reason":"content_filter","native_finish_reason":"REFUSED"}]}`, string(out))

	// A request's messages stay as they were: no refusal member is added.
	out, err = json.Marshal(&ChatRequest{Model: "m", Messages: []Message{{Role: "assistant", Content: Text("hi")}}})
	require.NoError(t, err)
	assert.JSONEq(t, `{"model":"m","messages":[{"role":"assistant","content":"hi"}]}`, string(out))

	// A text completion choice has logprobs, and finish_reason null while
	// a stream goes on, as OpenAI sends it.
	cmpl := &CompletionResponse{ID: "cmpl-1", Object: "text_completion", Created: 1, Model: "m", Choices: []CompletionChoice{
		{Index: 0, Text: "Hel"},
		{Index: 1, Text: "lo", FinishReason: "stop", Extra: Extra{"logprobs": json.RawMessage(`{"tokens":["lo"]}`)}},
	}}
	out, err = json.Marshal(cmpl)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[
		{"index":0,"text":"Hel","logprobs":null,"finish_reason":null},
		{"index":1,"text":"lo","logprobs":{"tokens":["lo"]},"finish_reason":"stop"}]}`, string(out))

	// The encoded forms name every member of the decoded ones, so that a
	// field added to a choice is not lost when it is encoded.
	for _, pair := range [][2]reflect.Type{
		{reflect.TypeFor[choiceJSON](), reflect.TypeFor[choiceOut]()},
		{reflect.TypeFor[completionChoiceJSON](), reflect.TypeFor[completionChoiceOut]()},
	} {
		in, enc := knownFields(pair[0]), knownFields(pair[1])
		for name := range in {
			assert.Contains(t, enc, name, "%s does not encode %s's member %q", pair[1], pair[0], name)
		}
	}
}
