package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/anthropic"
	_ "github.com/llmproxy/llmproxy/providers/openai"
	"github.com/llmproxy/llmproxy/server"
)

// The Messages front's tests drive the proxy with the official Anthropic
// SDK against an Anthropic-format upstream (pass-through) and an
// OpenAI-format one (translation). The Anthropic upstream's answers are
// the wire bytes of testdata/messages.

// msgModel is the model the tests ask for.
const msgModel = "claude-sonnet-4-5"

// msgFixture reads a file of testdata/messages.
func msgFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/messages/" + name)
	require.NoError(t, err)
	return b
}

// msgRecorded is a request an upstream received.
type msgRecorded struct {
	path   string
	header http.Header
	body   []byte
}

// msgUpstream is a fake upstream that records its requests and answers
// each with its handler.
type msgUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []msgRecorded
}

func newMsgUpstream(t *testing.T, h func(w http.ResponseWriter, r *http.Request, body []byte)) *msgUpstream {
	t.Helper()
	u := &msgUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, msgRecorded{path: r.URL.Path, header: r.Header.Clone(), body: b})
		u.mu.Unlock()
		h(w, r, b)
	}))
	t.Cleanup(u.Close)
	return u
}

// received returns the requests received so far.
func (u *msgUpstream) received() []msgRecorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]msgRecorded(nil), u.reqs...)
}

// msgJSON answers a JSON body with status.
func msgJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// msgSSE answers an event stream, each frame flushed on its own.
func msgSSE(w http.ResponseWriter, stream []byte) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for frame := range strings.SplitAfterSeq(string(stream), "\n\n") {
		_, _ = io.WriteString(w, frame)
		w.(http.Flusher).Flush()
	}
}

// msgAnthropicProvider is an Anthropic provider at u.
func msgAnthropicProvider(name, url string, priority int) llmproxy.ProviderConfig {
	return llmproxy.ProviderConfig{Name: name, Type: "anthropic", BaseURL: url, APIKey: llmproxy.Secret("sk-ant-upstream-" + name),
		Priority: priority, Models: []string{msgModel}}
}

// msgOpenAIProvider is an OpenAI-format provider at u.
func msgOpenAIProvider(name, url string, priority int) llmproxy.ProviderConfig {
	return llmproxy.ProviderConfig{Name: name, Type: "openai", BaseURL: url + "/v1", APIKey: llmproxy.Secret("sk-openai-upstream-" + name),
		Priority: priority, Models: []string{msgModel}}
}

// msgProxy serves a proxy of providers with the client key clientKey.
func msgProxy(t *testing.T, providers ...llmproxy.ProviderConfig) *testServer {
	t.Helper()
	return msgServe(t, llmproxy.Config{APIKeys: []string{clientKey}, Providers: providers})
}

// msgServe serves a proxy built from cfg; its handler (and so its rate
// limiters) is closed when the test ends.
func msgServe(t *testing.T, cfg llmproxy.Config) *testServer {
	t.Helper()
	srv := startServer(t, cfg, server.Options{})
	t.Cleanup(func() { _ = srv.Config.Handler.(io.Closer).Close() })
	return srv
}

// msgCapture records the bodies an SDK client sends.
type msgCapture struct {
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
}

func (c *msgCapture) last(t *testing.T) []byte {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	require.NotEmpty(t, c.bodies)
	return c.bodies[len(c.bodies)-1]
}

// newAnthropicClient is an anthropic-sdk-go client of srv with key, sent
// as x-api-key, whose request bodies cap records. Every option is set
// explicitly so that ANTHROPIC_* variables cannot leak in.
func newAnthropicClient(srv *httptest.Server, key string, cap *msgCapture, opts ...option.RequestOption) anthropic.Client {
	base := []option.RequestOption{
		option.WithBaseURL(srv.URL),
		option.WithAPIKey(key),
		option.WithMaxRetries(0),
		option.WithHTTPClient(srv.Client()),
		option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
			if cap != nil && r.Body != nil {
				b, err := io.ReadAll(r.Body)
				if err != nil {
					return nil, err
				}
				cap.mu.Lock()
				cap.bodies = append(cap.bodies, b)
				cap.headers = append(cap.headers, r.Header.Clone())
				cap.mu.Unlock()
				r.Body = io.NopCloser(bytes.NewReader(b))
			}
			return next(r)
		}),
	}
	return anthropic.NewClient(append(base, opts...)...)
}

// msgWeatherTool is the tool of the tool tests.
var msgWeatherTool = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
	Name:        "get_weather",
	Description: anthropic.String("Get the current weather in a city"),
	InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}},
}}

// msgParams is a request saying text.
func msgParams(text string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     msgModel,
		MaxTokens: 1024,
		System:    []anthropic.TextBlockParam{{Text: "Be brief.", CacheControl: anthropic.NewCacheControlEphemeralParam()}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))},
	}
}

// msgProxyInfo returns the _proxy_info member of a raw answer.
func msgProxyInfo(t *testing.T, raw string) map[string]any {
	t.Helper()
	var v struct {
		PI map[string]any `json:"_proxy_info"`
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &v))
	require.NotNil(t, v.PI, "no _proxy_info in %s", raw)
	return v.PI
}

func TestMessagesPassThroughSDK(t *testing.T) {
	up := newMsgUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path == "/v1/messages/count_tokens" {
			msgJSON(w, http.StatusOK, []byte(`{"input_tokens":2095}`))
			return
		}
		var req struct {
			Stream   bool              `json:"stream"`
			Messages []json.RawMessage `json:"messages"`
		}
		_ = json.Unmarshal(body, &req)
		switch {
		case req.Stream:
			msgSSE(w, msgFixture(t, "stream_text.sse"))
		case len(req.Messages) > 1:
			msgJSON(w, http.StatusOK, msgFixture(t, "answer_final.json"))
		case strings.Contains(string(body), "weather"):
			msgJSON(w, http.StatusOK, msgFixture(t, "answer_tool.json"))
		default:
			msgJSON(w, http.StatusOK, msgFixture(t, "answer_text.json"))
		}
	})
	srv := msgProxy(t, msgAnthropicProvider("claude", up.URL, 1))
	cap := &msgCapture{}
	client := newAnthropicClient(srv.Server, clientKey, cap,
		option.WithHeader("anthropic-beta", "interleaved-thinking-2025-05-14"))
	ctx := t.Context()

	// checkExact checks that the upstream received the client's last body
	// byte for byte, with the provider's key and the client's headers.
	checkExact := func(t *testing.T, path string) {
		t.Helper()
		got := up.received()
		require.NotEmpty(t, got)
		last := got[len(got)-1]
		assert.Equal(t, path, last.path)
		assert.Equal(t, string(cap.last(t)), string(last.body), "the upstream must receive the client's exact bytes")
		assert.Equal(t, "sk-ant-upstream-claude", last.header.Get("X-Api-Key"), "the provider's key, never the client's")
		assert.NotContains(t, last.header.Get("Authorization"), clientKey)
		cap.mu.Lock()
		sent := cap.headers[len(cap.headers)-1]
		cap.mu.Unlock()
		require.NotEmpty(t, sent.Get("Anthropic-Version"))
		assert.Equal(t, sent.Get("Anthropic-Version"), last.header.Get("Anthropic-Version"), "the client's API version")
		assert.Equal(t, "interleaved-thinking-2025-05-14", last.header.Get("Anthropic-Beta"))
	}

	t.Run("not streamed", func(t *testing.T) {
		resp, err := client.Messages.New(ctx, msgParams("Hello"))
		require.NoError(t, err)
		checkExact(t, "/v1/messages")
		require.Len(t, resp.Content, 2)
		assert.Equal(t, "thinking", string(resp.Content[0].Type))
		assert.Equal(t, "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds", resp.Content[0].Signature, "signatures pass through")
		assert.Equal(t, "Hello! How can I help you today?", resp.Content[1].Text)
		assert.Equal(t, anthropic.StopReasonEndTurn, resp.StopReason)
		assert.EqualValues(t, 12, resp.Usage.OutputTokens)
		pi := msgProxyInfo(t, resp.RawJSON())
		assert.Equal(t, "claude", pi["provider"])
		// The answer is the upstream's, with only _proxy_info added.
		var withoutPI map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(resp.RawJSON()), &withoutPI))
		delete(withoutPI, "_proxy_info")
		var upstream map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(msgFixture(t, "answer_text.json"), &upstream))
		assert.Equal(t, upstream, withoutPI)
	})

	t.Run("streamed, accumulated by the SDK", func(t *testing.T) {
		stream := client.Messages.NewStreaming(ctx, msgParams("Hello"))
		defer stream.Close()
		var msg anthropic.Message
		for stream.Next() {
			require.NoError(t, msg.Accumulate(stream.Current()))
		}
		require.NoError(t, stream.Err())
		checkExact(t, "/v1/messages")
		require.Len(t, msg.Content, 2)
		assert.Equal(t, "A greeting: answer briefly.", msg.Content[0].Thinking)
		assert.Equal(t, "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds", msg.Content[0].Signature)
		assert.Equal(t, "Hello! How can I help?", msg.Content[1].Text)
		assert.Equal(t, anthropic.StopReasonEndTurn, msg.StopReason)
		assert.EqualValues(t, 15, msg.Usage.OutputTokens)
		assert.EqualValues(t, 25, msg.Usage.InputTokens)
	})

	t.Run("streamed bytes come back as they went", func(t *testing.T) {
		body := `{"model":"` + msgModel + `","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hello"}]}`
		r := msgPost(t, srv.Server, "/v1/messages?beta=true", body, "x-api-key", clientKey)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, "claude", r.header.Get("X-LLMProxy-Provider"))
		assert.Equal(t, string(msgFixture(t, "stream_text.sse")), string(r.body))
		got := up.received()
		assert.Equal(t, body, string(got[len(got)-1].body))
	})

	t.Run("tool use round trip", func(t *testing.T) {
		params := msgParams("What is the weather in Paris?")
		params.Tools = []anthropic.ToolUnionParam{msgWeatherTool}
		first, err := client.Messages.New(ctx, params)
		require.NoError(t, err)
		checkExact(t, "/v1/messages")
		require.Equal(t, anthropic.StopReasonToolUse, first.StopReason)
		use := first.Content[1]
		require.Equal(t, "tool_use", string(use.Type))
		assert.JSONEq(t, `{"city":"Paris"}`, string(use.Input))

		params.Messages = append(params.Messages, first.ToParam(),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, "18°C, sunny", false)))
		final, err := client.Messages.New(ctx, params)
		require.NoError(t, err)
		checkExact(t, "/v1/messages")
		assert.Equal(t, "It is 18°C and sunny in Paris.", final.Content[0].Text)
		got := up.received()
		assert.Contains(t, string(got[len(got)-1].body), `"tool_use_id":"toolu_01A09q90qw90lq917835lq9"`)
	})

	t.Run("count tokens", func(t *testing.T) {
		res, err := client.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{
			Model:    msgModel,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))},
		})
		require.NoError(t, err)
		checkExact(t, "/v1/messages/count_tokens")
		assert.EqualValues(t, 2095, res.InputTokens)
	})
}

// msgPost posts body to path with the given header pairs and reads the
// whole answer (see strmPost, whose Bearer key, not one of the proxies of
// these tests, a key in x-api-key or Authorization overrides).
func msgPost(t *testing.T, srv *httptest.Server, path, body string, header ...string) strmReply {
	t.Helper()
	return strmPost(t, srv, path, body, header...)
}

// OpenAI-format answers of the translation tests.
const (
	msgChatText  = `{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion","created":1741569952,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I assist you today?","refusal":null,"reasoning_content":"The user greets me.","annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":8,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_fc9f1d7035"}`
	msgChatTool  = `{"id":"chatcmpl-abc123","object":"chat.completion","created":1699896916,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_abc123","type":"function","function":{"name":"get_weather","arguments":"{\n\"city\": \"Paris\"\n}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99}}`
	msgChatFinal = `{"id":"chatcmpl-final","object":"chat.completion","created":1699896917,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"It is 18°C and sunny in Paris."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":120,"completion_tokens":12,"total_tokens":132}}`
)

// msgToolStream is an OpenAI chat stream that calls get_weather.
func msgToolStream() []string {
	call := func(delta string) string { return strmChunk(`{"tool_calls":[`+delta+`]}`, "") }
	return append(strmFrames(
		strmChunk(strmRoleDelta, ""),
		strmChunk(strmText("Let me check."), ""),
		call(`{"index":0,"id":"call_DdmO9pD3xa9XTPNJ32zg2hcA","type":"function","function":{"name":"get_weather","arguments":""}}`),
		call(`{"index":0,"function":{"arguments":"{\"city\""}}`),
		call(`{"index":0,"function":{"arguments":":\"Paris\"}"}}`),
		strmChunk(`{}`, "tool_calls"),
		strmUsageChunk,
	), "data: [DONE]\n\n")
}

// msgOpenAIUpstream answers chat requests as OpenAI does: a tool call
// when the request has tools and no tool result yet, the final answer
// after one, text otherwise; streams likewise.
func msgOpenAIUpstream(t *testing.T) *msgUpstream {
	return newMsgUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		var req struct {
			Stream   bool `json:"stream"`
			Tools    []json.RawMessage
			Messages []struct {
				Role string `json:"role"`
			} `json:"messages"`
		}
		require.NoError(t, json.Unmarshal(body, &req))
		answered := false
		for _, m := range req.Messages {
			answered = answered || m.Role == "tool"
		}
		switch {
		case req.Stream && len(req.Tools) > 0:
			strmWriteSSE(w, msgToolStream()...)
		case req.Stream:
			strmWriteSSE(w, strmGoodChat("Hello", " world")...)
		case answered:
			msgJSON(w, http.StatusOK, []byte(msgChatFinal))
		case len(req.Tools) > 0:
			msgJSON(w, http.StatusOK, []byte(msgChatTool))
		default:
			msgJSON(w, http.StatusOK, []byte(msgChatText))
		}
	})
}

// msgChatBody decodes the chat request an OpenAI-format upstream received.
func msgChatBody(t *testing.T, r msgRecorded) map[string]any {
	t.Helper()
	assert.Equal(t, "/v1/chat/completions", r.path)
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m))
	return m
}

func TestMessagesTranslationSDK(t *testing.T) {
	up := msgOpenAIUpstream(t)
	srv := msgProxy(t, msgOpenAIProvider("gpt", up.URL, 1))
	client := newAnthropicClient(srv.Server, clientKey, nil)
	ctx := t.Context()

	t.Run("not streamed", func(t *testing.T) {
		params := msgParams("Hello")
		params.StopSequences = []string{"END"}
		params.Metadata = anthropic.MetadataParam{UserID: anthropic.String("user-42")}
		params.Thinking = anthropic.ThinkingConfigParamOfEnabled(2048)
		// The SDK no longer models temperature, which the API still takes.
		resp, err := client.Messages.New(ctx, params, option.WithJSONSet("temperature", 0.5))
		require.NoError(t, err)
		got := up.received()
		chat := msgChatBody(t, got[len(got)-1])
		assert.Equal(t, []any{
			map[string]any{"role": "system", "content": "Be brief."},
			map[string]any{"role": "user", "content": "Hello"},
		}, chat["messages"])
		assert.EqualValues(t, 1024, chat["max_tokens"])
		assert.Equal(t, "END", chat["stop"])
		assert.EqualValues(t, 0.5, chat["temperature"])
		assert.Equal(t, "user-42", chat["user"])
		assert.NotContains(t, chat, "thinking", "thinking is dropped")
		assert.Equal(t, "Bearer sk-openai-upstream-gpt", got[len(got)-1].header.Get("Authorization"))

		require.Len(t, resp.Content, 2)
		assert.Equal(t, "The user greets me.", resp.Content[0].Thinking)
		assert.Equal(t, "Hello! How can I assist you today?", resp.Content[1].Text)
		assert.Equal(t, anthropic.StopReasonEndTurn, resp.StopReason)
		assert.EqualValues(t, 11, resp.Usage.InputTokens, "prompt tokens without the cached ones")
		assert.EqualValues(t, 8, resp.Usage.CacheReadInputTokens)
		assert.EqualValues(t, 10, resp.Usage.OutputTokens)
		assert.Equal(t, "gpt", msgProxyInfo(t, resp.RawJSON())["provider"])
	})

	t.Run("streamed, accumulated by the SDK", func(t *testing.T) {
		stream := client.Messages.NewStreaming(ctx, msgParams("Hello"))
		defer stream.Close()
		var msg anthropic.Message
		var events []string
		for stream.Next() {
			ev := stream.Current()
			events = append(events, ev.Type)
			require.NoError(t, msg.Accumulate(ev))
		}
		require.NoError(t, stream.Err())
		assert.Equal(t, []string{"message_start", "content_block_start", "content_block_delta", "content_block_delta",
			"content_block_stop", "message_delta", "message_stop"}, events)
		require.Len(t, msg.Content, 1)
		assert.Equal(t, "Hello world", msg.Content[0].Text)
		assert.Equal(t, anthropic.StopReasonEndTurn, msg.StopReason)
		assert.EqualValues(t, 2, msg.Usage.OutputTokens)
		assert.EqualValues(t, 9, msg.Usage.InputTokens)
		got := up.received()
		chat := msgChatBody(t, got[len(got)-1])
		assert.Equal(t, true, chat["stream"])
	})

	t.Run("tool use round trip", func(t *testing.T) {
		params := msgParams("What is the weather in Paris?")
		params.Tools = []anthropic.ToolUnionParam{msgWeatherTool,
			{OfWebSearchTool20250305: &anthropic.WebSearchTool20250305Param{}}}
		params.ToolChoice = anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{DisableParallelToolUse: anthropic.Bool(true)}}
		first, err := client.Messages.New(ctx, params)
		require.NoError(t, err)
		got := up.received()
		chat := msgChatBody(t, got[len(got)-1])
		assert.Equal(t, []any{map[string]any{"type": "function", "function": map[string]any{
			"name": "get_weather", "description": "Get the current weather in a city",
			"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []any{"city"}},
		}}}, chat["tools"], "the function tool, without the server tool")
		assert.Equal(t, "required", chat["tool_choice"])
		assert.Equal(t, false, chat["parallel_tool_calls"])

		require.Equal(t, anthropic.StopReasonToolUse, first.StopReason)
		require.Len(t, first.Content, 1)
		use := first.Content[0]
		assert.Equal(t, "call_abc123", use.ID)
		assert.Equal(t, "get_weather", use.Name)
		assert.JSONEq(t, `{"city":"Paris"}`, string(use.Input))

		params.Messages = append(params.Messages, first.ToParam(),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, "no such city", true), anthropic.NewTextBlock("Try again.")))
		final, err := client.Messages.New(ctx, params)
		require.NoError(t, err)
		assert.Equal(t, "It is 18°C and sunny in Paris.", final.Content[0].Text)
		got = up.received()
		chat = msgChatBody(t, got[len(got)-1])
		msgs := chat["messages"].([]any)
		require.Len(t, msgs, 5)
		assert.Equal(t, map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{
			"id": "call_abc123", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": `{"city":"Paris"}`}}}}, msgs[2])
		assert.Equal(t, map[string]any{"role": "tool", "tool_call_id": "call_abc123", "content": "Error: no such city"}, msgs[3])
		assert.Equal(t, map[string]any{"role": "user", "content": "Try again."}, msgs[4])
	})

	t.Run("streamed tool call", func(t *testing.T) {
		params := msgParams("What is the weather in Paris?")
		params.Tools = []anthropic.ToolUnionParam{msgWeatherTool}
		stream := client.Messages.NewStreaming(ctx, params)
		defer stream.Close()
		var msg anthropic.Message
		for stream.Next() {
			require.NoError(t, msg.Accumulate(stream.Current()))
		}
		require.NoError(t, stream.Err())
		require.Len(t, msg.Content, 2)
		assert.Equal(t, "Let me check.", msg.Content[0].Text)
		assert.Equal(t, "call_DdmO9pD3xa9XTPNJ32zg2hcA", msg.Content[1].ID)
		assert.JSONEq(t, `{"city":"Paris"}`, string(msg.Content[1].Input))
		assert.Equal(t, anthropic.StopReasonToolUse, msg.StopReason)
	})

	t.Run("count tokens is estimated", func(t *testing.T) {
		res, err := client.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{
			Model:    msgModel,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(strings.Repeat("abcd", 100)))},
		})
		require.NoError(t, err)
		assert.EqualValues(t, 101, res.InputTokens, "400 bytes of text and the role")
	})
}

// msgAPIError returns err as the SDK's API error.
func msgAPIError(t *testing.T, err error) *anthropic.Error {
	t.Helper()
	require.Error(t, err)
	var apiErr *anthropic.Error
	require.True(t, errors.As(err, &apiErr), "not an API error: %v", err)
	return apiErr
}

func TestMessagesErrorsSDK(t *testing.T) {
	overloaded := newMsgUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		msgJSON(w, 529, []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}`))
	})
	failing := newMsgUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		msgJSON(w, http.StatusInternalServerError, []byte(`{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`))
	})
	cfg := llmproxy.Config{APIKeys: []string{clientKey}, RateLimitMessagesRPM: 100, Providers: []llmproxy.ProviderConfig{
		{Name: "busy", Type: "anthropic", BaseURL: overloaded.URL, APIKey: "sk-ant-busy", Models: []string{"claude-busy"}},
		{Name: "broken", Type: "anthropic", BaseURL: failing.URL, APIKey: "sk-ant-broken", Models: []string{"claude-broken"}},
	}}
	srv := msgServe(t, cfg)
	client := newAnthropicClient(srv.Server, clientKey, nil)
	ctx := t.Context()

	for _, tc := range []struct {
		name     string
		client   anthropic.Client
		params   anthropic.MessageNewParams
		status   int
		typ      string
		contains string
	}{
		{"invalid request", client, func() anthropic.MessageNewParams { p := msgParams("hi"); p.MaxTokens = 0; return p }(),
			http.StatusBadRequest, "invalid_request_error", "max_tokens"},
		{"wrong key", newAnthropicClient(srv.Server, "sk-wrong", nil), msgParams("hi"),
			http.StatusUnauthorized, "authentication_error", "invalid API key"},
		{"unknown model", client, func() anthropic.MessageNewParams { p := msgParams("hi"); p.Model = "claude-nobody"; return p }(),
			http.StatusNotFound, "not_found_error", "claude-nobody"},
		{"upstream overloaded", client, func() anthropic.MessageNewParams { p := msgParams("hi"); p.Model = "claude-busy"; return p }(),
			529, "overloaded_error", "Overloaded"},
		{"upstream failing", client, func() anthropic.MessageNewParams { p := msgParams("hi"); p.Model = "claude-broken"; return p }(),
			http.StatusInternalServerError, "api_error", "Internal server error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.Messages.New(ctx, tc.params)
			apiErr := msgAPIError(t, err)
			assert.Equal(t, tc.status, apiErr.StatusCode)
			assert.Equal(t, tc.typ, string(apiErr.Type()))
			assert.Contains(t, apiErr.RawJSON(), tc.contains)
			var env map[string]json.RawMessage
			require.NoError(t, json.Unmarshal([]byte(apiErr.RawJSON()), &env))
			assert.JSONEq(t, `"error"`, string(env["type"]), "Anthropic's envelope: %s", apiErr.RawJSON())
			assert.NotContains(t, apiErr.RawJSON(), "sk-ant-", "no upstream key in an error")
		})
	}

	t.Run("rate limited", func(t *testing.T) {
		cfg := llmproxy.Config{APIKeys: []string{clientKey}, RateLimitMessagesRPM: 1, Providers: []llmproxy.ProviderConfig{
			{Name: "mock", Type: "mock", Models: []string{msgModel}},
		}}
		srv := msgServe(t, cfg)
		client := newAnthropicClient(srv.Server, clientKey, nil)
		_, err := client.Messages.New(ctx, msgParams("first"))
		require.NoError(t, err)
		var resp *http.Response
		_, err = client.Messages.New(ctx, msgParams("second"), option.WithResponseInto(&resp))
		apiErr := msgAPIError(t, err)
		assert.Equal(t, http.StatusTooManyRequests, apiErr.StatusCode)
		assert.Equal(t, "rate_limit_error", string(apiErr.Type()))
		assert.NotEmpty(t, apiErr.Response.Header.Get("Retry-After"))
	})

	t.Run("a bad body in the route's envelope", func(t *testing.T) {
		r := msgPost(t, srv.Server, "/v1/messages", `{"model":`, "x-api-key", clientKey)
		assert.Equal(t, http.StatusBadRequest, r.status)
		assert.JSONEq(t, `{"type":"error","error":{"type":"invalid_request_error","message":"the request body is not valid JSON"}}`, string(r.body))
		r = msgPost(t, srv.Server, "/v1/messages", `{}`)
		assert.Equal(t, http.StatusUnauthorized, r.status)
		assert.Contains(t, string(r.body), `"type":"authentication_error"`)
	})
}

func TestMessagesCrossFormatFailover(t *testing.T) {
	t.Run("Anthropic overloaded, OpenAI answers", func(t *testing.T) {
		primary := newMsgUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			msgJSON(w, 529, []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
		})
		backup := msgOpenAIUpstream(t)
		srv := msgProxy(t, msgAnthropicProvider("claude", primary.URL, 1), msgOpenAIProvider("gpt", backup.URL, 2))
		client := newAnthropicClient(srv.Server, clientKey, nil)
		var resp *http.Response
		msg, err := client.Messages.New(t.Context(), msgParams("Hello"), option.WithResponseInto(&resp))
		require.NoError(t, err)
		assert.Equal(t, "Hello! How can I assist you today?", msg.Content[1].Text)
		assert.Equal(t, "gpt", resp.Header.Get("X-LLMProxy-Provider"))
		assert.Equal(t, "2", resp.Header.Get("X-LLMProxy-Attempt"))
		assert.Len(t, primary.received(), 1)
		assert.NotContains(t, msg.RawJSON(), "verloaded")
	})

	t.Run("Anthropic error event before the content, OpenAI streams", func(t *testing.T) {
		primary := newMsgUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			msgSSE(w, []byte("event: message_start\ndata: "+msgStart+"\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n"+
				"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"))
		})
		backup := msgOpenAIUpstream(t)
		srv := msgProxy(t, msgAnthropicProvider("claude", primary.URL, 1), msgOpenAIProvider("gpt", backup.URL, 2))
		r := msgPost(t, srv.Server, "/v1/messages", msgStreamBody, "x-api-key", clientKey)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, "gpt", r.header.Get("X-LLMProxy-Provider"))
		assert.NotContains(t, string(r.body), "verloaded")
		assert.NotContains(t, string(r.body), "msg_01Start", "nothing of the failed attempt")
		assert.True(t, strings.HasSuffix(string(r.body), "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"), "%s", r.body)
	})

	t.Run("OpenAI failing, Anthropic passes through", func(t *testing.T) {
		primary := newMsgUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			msgJSON(w, http.StatusServiceUnavailable, []byte(`{"error":{"message":"The engine is currently overloaded","type":"server_error","param":null,"code":null}}`))
		})
		backup := newMsgUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			msgSSE(w, msgFixture(t, "stream_tool.sse"))
		})
		srv := msgProxy(t, msgOpenAIProvider("gpt", primary.URL, 1), msgAnthropicProvider("claude", backup.URL, 2))
		r := msgPost(t, srv.Server, "/v1/messages", msgStreamBody, "Authorization", "Bearer "+clientKey)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, "claude", r.header.Get("X-LLMProxy-Provider"))
		assert.Equal(t, string(msgFixture(t, "stream_tool.sse")), string(r.body))
		assert.Equal(t, msgStreamBody, string(backup.received()[0].body))
	})
}

// The stream of the fault tests.
const (
	msgStreamBody = `{"model":"` + msgModel + `","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"Hello"}]}`
	msgStart      = `{"type":"message_start","message":{"id":"msg_01Start","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":1}}}`
)

// msgTwoDeltas is the start of an Anthropic stream up to two text deltas.
var msgTwoDeltas = "event: message_start\ndata: " + msgStart + "\n\n" +
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n" +
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" world\"}}\n\n"

// msgCheckCut checks a stream cut after its commit: the content came, the
// last frame is an error event in Anthropic's envelope, and there is no
// message_stop; the SDK reports the error.
func msgCheckCut(t *testing.T, r strmReply, provider string) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, provider, r.header.Get("X-LLMProxy-Provider"))
	body := string(r.body)
	assert.Contains(t, body, `"text":" world"`)
	assert.NotContains(t, body, "event: message_stop")
	i := strings.LastIndex(body, "event: error\ndata: ")
	require.GreaterOrEqual(t, i, 0, "no error event: %s", body)
	frame := strings.TrimSuffix(body[i+len("event: error\ndata: "):], "\n\n")
	var env struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(frame), &env), "%s", frame)
	assert.Equal(t, "error", env.Type)
	assert.Equal(t, "api_error", env.Error.Type)
	assert.NotEmpty(t, env.Error.Message)
}

func TestMessagesStreamFaultCutAfterTwoDeltas(t *testing.T) {
	t.Run("pass-through", func(t *testing.T) {
		up := newMsgUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			msgSSE(w, []byte(msgTwoDeltas))
			panic(http.ErrAbortHandler) // close the connection without ending the body
		})
		srv := msgProxy(t, msgAnthropicProvider("claude", up.URL, 1))
		msgCheckCut(t, msgPost(t, srv.Server, "/v1/messages", msgStreamBody, "x-api-key", clientKey), "claude")
		// The SDK reports the cut.
		client := newAnthropicClient(srv.Server, clientKey, nil)
		stream := client.Messages.NewStreaming(t.Context(), msgParams("Hello"))
		defer stream.Close()
		var msg anthropic.Message
		for stream.Next() {
			_ = msg.Accumulate(stream.Current())
		}
		require.Error(t, stream.Err())
		assert.Equal(t, "Hello world", msg.Content[0].Text)
	})

	t.Run("translated", func(t *testing.T) {
		up := newMsgUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			strmWriteSSE(w, strmFrames(strmChunk(strmRoleDelta, ""), strmChunk(strmText("Hello"), ""), strmChunk(strmText(" world"), ""))...)
			panic(http.ErrAbortHandler)
		})
		srv := msgProxy(t, msgOpenAIProvider("gpt", up.URL, 1))
		msgCheckCut(t, msgPost(t, srv.Server, "/v1/messages", msgStreamBody, "x-api-key", clientKey), "gpt")
	})
}

func TestMessagesStreamFaultStallBeforeFirstToken(t *testing.T) {
	st := newStrmStaller()
	primary := newMsgUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		msgSSE(w, []byte("event: message_start\ndata: "+msgStart+"\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n"))
		st.block(r)
	})
	st.arm(t)
	backup := msgOpenAIUpstream(t)
	claude := msgAnthropicProvider("claude", primary.URL, 1)
	claude.FirstTokenTimeout = 300 * time.Millisecond
	srv := msgProxy(t, claude, msgOpenAIProvider("gpt", backup.URL, 2))
	start := time.Now()
	r := msgPost(t, srv.Server, "/v1/messages", msgStreamBody, "x-api-key", clientKey)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, "gpt", r.header.Get("X-LLMProxy-Provider"))
	assert.Equal(t, "2", r.header.Get("X-LLMProxy-Attempt"))
	assert.NotContains(t, string(r.body), "msg_01Start")
	assert.Contains(t, string(r.body), "event: message_stop")
	assert.Less(t, time.Since(start), strmSanity)
	strmWait(t, st.ended, "the stalled primary's request to end")
}

func TestMessagesStreamFaultStallTranslated(t *testing.T) {
	st := newStrmStaller()
	primary := newMsgUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		strmWriteSSE(w, strmFrames(strmChunk(strmRoleDelta, ""))...)
		st.block(r)
	})
	st.arm(t)
	backup := newMsgUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		msgSSE(w, msgFixture(t, "stream_text.sse"))
	})
	gpt := msgOpenAIProvider("gpt", primary.URL, 1)
	gpt.FirstTokenTimeout = 300 * time.Millisecond
	srv := msgProxy(t, gpt, msgAnthropicProvider("claude", backup.URL, 2))
	r := msgPost(t, srv.Server, "/v1/messages", msgStreamBody, "x-api-key", clientKey)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, "claude", r.header.Get("X-LLMProxy-Provider"))
	assert.Equal(t, string(msgFixture(t, "stream_text.sse")), string(r.body), "only the backup's events")
	strmWait(t, st.ended, "the stalled primary's request to end")
}

func TestMessagesStreamClientCancel(t *testing.T) {
	t.Run("pass-through", func(t *testing.T) {
		st := newStrmStaller()
		up := newMsgUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			msgSSE(w, []byte(msgTwoDeltas))
			st.block(r)
		})
		st.arm(t)
		msgCancelAfterDelta(t, msgProxy(t, msgAnthropicProvider("claude", up.URL, 1)), st)
	})
	t.Run("translated", func(t *testing.T) {
		st := newStrmStaller()
		up := newMsgUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			strmWriteSSE(w, strmFrames(strmChunk(strmRoleDelta, ""), strmChunk(strmText("Hello"), ""))...)
			st.block(r)
		})
		st.arm(t)
		msgCancelAfterDelta(t, msgProxy(t, msgOpenAIProvider("gpt", up.URL, 1)), st)
	})
}

// msgCancelAfterDelta streams from srv with the SDK, cancels after the
// first delta and waits for the upstream request, held by st, to end.
func msgCancelAfterDelta(t *testing.T, srv *testServer, st *strmStaller) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	client := newAnthropicClient(srv.Server, clientKey, nil)
	stream := client.Messages.NewStreaming(ctx, msgParams("Hello"))
	defer stream.Close()
	for stream.Next() {
		if stream.Current().Type == "content_block_delta" {
			break
		}
	}
	cancel()
	strmWait(t, st.ended, "the upstream request to end after the client's cancel")
}

// TestMessagesShed: a Messages request over max_inflight is answered as
// Anthropic answers an overload: 529 overloaded_error in its envelope.
func TestMessagesShed(t *testing.T) {
	g := newGate(t, "gate-messages")
	srv := msgServe(t, gateConfig("gate-messages", 1))
	wait := holdRequests(t, srv, g, 1)
	for _, path := range []string{"/v1/messages", "/v1/messages/count_tokens"} {
		r := msgPost(t, srv.Server, path, `{"model":"gate-model","max_tokens":8,"messages":[{"role":"user","content":"x"}]}`, "x-api-key", clientKey)
		assert.Equal(t, 529, r.status, "%s: %s", path, r.body)
		assert.Equal(t, "1", r.header.Get("Retry-After"))
		assert.JSONEq(t, `{"type":"error","error":{"type":"overloaded_error","message":"the proxy is serving as many requests as it is configured to (max_inflight); retry shortly"}}`, string(r.body))
	}
	close(g.open)
	assert.Equal(t, []int{http.StatusOK}, wait())
	waitLog(t, srv.logs, func() bool { _, n := shedSummary(t, srv.logs); return n >= 2 })
}

// TestMessagesMetrics: the Messages front's requests are counted under
// their endpoints, routed or refused before routing.
func TestMessagesMetrics(t *testing.T) {
	ts := msgServe(t, mockConfig())
	r := msgPost(t, ts.Server, "/v1/messages", `{"model":"mock-1","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`, "x-api-key", clientKey)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, "mock-a", msgProxyInfo(t, string(r.body))["provider"])
	r = msgPost(t, ts.Server, "/v1/messages", `{}`)
	require.Equal(t, http.StatusUnauthorized, r.status)
	r = msgPost(t, ts.Server, "/v1/messages/count_tokens", `{"model":"mock-1"}`, "x-api-key", clientKey)
	require.Equal(t, http.StatusBadRequest, r.status)
	r = msgPost(t, ts.Server, "/v1/messages/count_tokens", `{"model":"mock-1","messages":[{"role":"user","content":"abcdefgh"}]}`, "x-api-key", clientKey)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)

	m := mtMetrics(t, ts)
	total := func(labels ...string) float64 { return mtValue(t, m, "llmproxy_requests_total", labels...) }
	assert.Equal(t, 1.0, total("endpoint", "messages", "provider", "mock-a", "model", "mock-1", "outcome", "ok", "status", "200"))
	assert.Equal(t, 1.0, total("endpoint", "messages", "provider", "none", "model", "none", "outcome", "unauthorized", "status", "401"))
	assert.Equal(t, 1.0, total("endpoint", "count_tokens", "provider", "none", "model", "none", "outcome", "invalid_request", "status", "400"))
	assert.Equal(t, 1.0, total("endpoint", "count_tokens", "provider", "mock-a", "model", "mock-1", "outcome", "ok", "status", "200"))
}
