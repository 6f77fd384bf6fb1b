package bedrock

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

const toolClient = `{"model":"` + testModel + `","max_completion_tokens":300,"temperature":1.5,"top_p":0.9,"stop":["END"],
	"messages":[{"role":"system","content":"Be brief."},{"role":"developer","content":[{"type":"text","text":"Use tools."}]},
	{"role":"user","content":[{"type":"text","text":"Weather in Paris?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]},
	{"role":"assistant","content":"","tool_calls":[{"id":"tooluse_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"n\":12345678901234567890}"}}]},
	{"role":"tool","tool_call_id":"tooluse_1","content":"18C"},
	{"role":"tool","tool_call_id":"tooluse_2","content":"boom","status":"error"},
	{"role":"user","content":"And tomorrow?"}],
	"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},
	{"type":"function","function":{"name":"get_time"}}],
	"tool_choice":{"type":"function","function":{"name":"get_weather"}},"user":"u-1","seed":4}`

func TestChatCompletionWire(t *testing.T) {
	up := newFakeBedrock(t)
	up.on("converse", reply{body: answerTool})
	p := newTestProvider(t, up.URL+"/", func(c *llmproxy.ProviderConfig) {
		c.CustomHeaders = map[string]string{"X-Custom": "yes"}
	})
	resp, err := p.ChatCompletion(context.Background(), chatRequest(t, toolClient))
	require.NoError(t, err)

	got := up.last(t)
	assert.Equal(t, "/model/"+testModel+"/converse", got.path)
	assert.Equal(t, "converse", got.op)
	assert.Equal(t, "yes", got.header.Get("X-Custom"))
	assert.Contains(t, got.header.Get("Authorization"), "SignedHeaders=")
	assert.Contains(t, strings.ToLower(got.header.Get("Authorization")), "x-custom", "custom headers are signed")
	png := base64.StdEncoding.EncodeToString([]byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'})
	assert.JSONEq(t, `{
		"system":[{"text":"Be brief."},{"text":"Use tools."}],
		"messages":[
			{"role":"user","content":[{"text":"Weather in Paris?"},{"image":{"format":"png","source":{"bytes":"`+png+`"}}}]},
			{"role":"assistant","content":[{"toolUse":{"toolUseId":"tooluse_1","name":"get_weather","input":{"city":"Paris","n":12345678901234567890}}}]},
			{"role":"user","content":[
				{"toolResult":{"toolUseId":"tooluse_1","content":[{"text":"18C"}]}},
				{"toolResult":{"toolUseId":"tooluse_2","content":[{"text":"boom"}],"status":"error"}},
				{"text":"And tomorrow?"}]}],
		"inferenceConfig":{"maxTokens":300,"temperature":1,"topP":0.9,"stopSequences":["END"]},
		"toolConfig":{"tools":[
			{"toolSpec":{"name":"get_weather","description":"Weather","inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"}}}}}},
			{"toolSpec":{"name":"get_time","inputSchema":{"json":{"type":"object","properties":{}}}}}],
			"toolChoice":{"tool":{"name":"get_weather"}}}}`, string(got.body))
	assert.Contains(t, string(got.body), "12345678901234567890", "numbers keep their digits")

	assert.Equal(t, "chatcmpl-"+testReqID, resp.ID)
	assert.Equal(t, "chat.completion", resp.Object)
	assert.Equal(t, testModel, resp.Model)
	require.Len(t, resp.Choices, 1)
	ch := resp.Choices[0]
	assert.Equal(t, "tool_calls", ch.FinishReason)
	assert.Equal(t, "Let me check the weather.", ch.Message.Content.String())
	require.Len(t, ch.Message.ToolCalls, 1)
	tc := ch.Message.ToolCalls[0]
	assert.Equal(t, "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", tc.ID)
	assert.Equal(t, "function", tc.Type)
	assert.Equal(t, "get_weather", tc.Function.Name)
	assert.JSONEq(t, `{"city":"Paris","days":12345678901234567890,"unit":"celsius"}`, tc.Function.Arguments)
	assert.Contains(t, tc.Function.Arguments, "12345678901234567890")
	assert.Equal(t, &llmproxy.Usage{PromptTokens: 1580, CompletionTokens: 70, TotalTokens: 1650,
		PromptTokensDetails: &llmproxy.TokenDetails{CachedTokens: 1000}}, resp.Usage)
}

func TestChatAnswers(t *testing.T) {
	for name, c := range map[string]struct {
		body, finish, content, reasoning string
	}{
		"text":      {answerText, "stop", "Hello! How can I help you today?", ""},
		"reasoning": {answerReasoning, "length", "Hi!", `"The user greets me."`},
		"guardrail": {answerGuardrail, "content_filter", "Sorry, the model cannot answer this question.", ""},
	} {
		t.Run(name, func(t *testing.T) {
			up := newFakeBedrock(t)
			up.on("converse", reply{body: c.body})
			p := newTestProvider(t, up.URL)
			resp, err := p.ChatCompletion(context.Background(), chatRequest(t, `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`))
			require.NoError(t, err)
			assert.JSONEq(t, `{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}`, string(up.last(t).body))
			assert.Equal(t, c.finish, resp.Choices[0].FinishReason)
			assert.Equal(t, c.content, resp.Choices[0].Message.Content.String())
			assert.Equal(t, c.reasoning, string(resp.Choices[0].Message.Extra["reasoning_content"]))
			assert.Equal(t, resp.Usage.PromptTokens+resp.Usage.CompletionTokens, resp.Usage.TotalTokens)
		})
	}
}

func TestTranslateChat(t *testing.T) {
	up := newFakeBedrock(t)
	up.on("converse", reply{body: answerText})
	p := newTestProvider(t, up.URL, func(c *llmproxy.ProviderConfig) { c.DefaultMaxTokens = 2048 })
	for name, c := range map[string]struct{ client, wire string }{
		"default max tokens and merged turns": {
			`{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":[{"type":"text","text":"b"},{"type":"text","text":""}]}]}`,
			`{"messages":[{"role":"user","content":[{"text":"a"},{"text":"b"}]}],"inferenceConfig":{"maxTokens":2048}}`},
		"max_tokens": {
			`{"model":"m","max_tokens":7,"messages":[{"role":"user","content":"a"}]}`,
			`{"messages":[{"role":"user","content":[{"text":"a"}]}],"inferenceConfig":{"maxTokens":7}}`},
		"tool_choice none without history drops tools": {
			`{"model":"m","messages":[{"role":"user","content":"a"}],"tool_choice":"none","tools":[{"type":"function","function":{"name":"f"}}]}`,
			`{"messages":[{"role":"user","content":[{"text":"a"}]}],"inferenceConfig":{"maxTokens":2048}}`},
		"tool_choice required": {
			`{"model":"m","messages":[{"role":"user","content":"a"}],"tool_choice":"required","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}`,
			`{"messages":[{"role":"user","content":[{"text":"a"}]}],"inferenceConfig":{"maxTokens":2048},
			  "toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object"}}}}],"toolChoice":{"any":{}}}}`},
		"json schema, extras and guardrail": {
			`{"model":"m","messages":[{"role":"user","content":"a"}],"response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object"}}},
			  "additional_model_request_fields":{"top_k":50},"guardrail_config":{"guardrailIdentifier":"gr-1","guardrailVersion":"1"}}`,
			`{"messages":[{"role":"user","content":[{"text":"a"}]}],"inferenceConfig":{"maxTokens":2048},
			  "outputConfig":{"textFormat":{"type":"json_schema","structure":{"jsonSchema":{"schema":"{\"type\":\"object\"}","name":"r"}}}},
			  "additionalModelRequestFields":{"top_k":50},"guardrailConfig":{"guardrailIdentifier":"gr-1","guardrailVersion":"1"}}`},
		"s3 image": {
			`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"s3://bucket/cat.JPG"}}]}]}`,
			`{"messages":[{"role":"user","content":[{"image":{"format":"jpeg","source":{"s3Location":{"uri":"s3://bucket/cat.JPG"}}}}]}],"inferenceConfig":{"maxTokens":2048}}`},
	} {
		_, err := p.ChatCompletion(context.Background(), chatRequest(t, c.client))
		require.NoError(t, err, name)
		assert.JSONEq(t, c.wire, string(up.last(t).body), name)
	}
}

func TestTranslateChatRefuses(t *testing.T) {
	up := newFakeBedrock(t)
	p := newTestProvider(t, up.URL)
	for body, param := range map[string]string{
		`{"model":"m","n":2,"messages":[{"role":"user","content":"a"}]}`:                                                                        "n",
		`{"model":"m","logprobs":true,"messages":[{"role":"user","content":"a"}]}`:                                                              "logprobs",
		`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/cat.png"}}]}]}`:                   "messages[0].content[0].image_url.url",
		`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/tiff;base64,AAAA"}}]}]}`:         "messages[0].content[0].image_url.url",
		`{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`:                                        "messages[0].content[0]",
		`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`: "messages[0].tool_calls[0].function.arguments",
		`{"model":"m","messages":[{"role":"tool","content":"x"}]}`:                                                                              "messages[0].tool_call_id",
		`{"model":"m","messages":[{"role":"narrator","content":"x"}]}`:                                                                          "messages[0].role",
		`{"model":"m","messages":[{"role":"user","content":"a"}],"tools":[{"type":"web_search"}]}`:                                              "tools[0].type",
		`{"model":"m","messages":[{"role":"user","content":"a"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"maybe"}`:  "tool_choice",
		`{"model":"m","messages":[{"role":"user","content":"a"}],"response_format":{"type":"json_schema","json_schema":{"name":"x"}}}`:          "response_format.json_schema.schema",
		`{"model":"m","messages":[{"role":"user","content":"a"}],"additional_model_request_fields":[1]}`:                                        "additional_model_request_fields",
	} {
		_, err := p.ChatCompletion(context.Background(), chatRequest(t, body))
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindInvalidRequest, e.Kind, body)
		assert.Equal(t, param, e.Param, body)
		assert.Equal(t, "bedrock", e.Provider, body)
	}
	assert.Zero(t, up.count(), "a refused request is not sent")
}
