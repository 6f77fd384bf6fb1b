package gemini

// Tests of the adapter through the whole server: the official openai-go
// client talks to server.Handler, whose proxy routes to the validating fake
// Gemini upstream of helpers_test.go. A translation the real API would
// refuse fails these tests.

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	openai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/server"
)

const (
	clientKey   = "sk-client-gemini-test"
	chatModel   = "gemini-2.5-flash"
	toolModel   = "gemini-3-flash-preview"
	embedModel  = "gemini-embedding-001"
	weatherJSON = `{"temperature":"18°C","conditions":"sunny"}`
)

// geminiProvider is the configuration of a gemini provider of the fake.
func geminiProvider(name string, f *fakeGemini, priority int) llmproxy.ProviderConfig {
	return llmproxy.ProviderConfig{
		Name: name, Type: "gemini", BaseURL: f.base(), APIKey: testKey,
		Models: []string{"gemini-*"}, Priority: priority, Timeout: 10 * time.Second, RetryDelay: 10 * time.Millisecond,
	}
}

// serve builds a proxy over providers, serves it with server.Handler and
// returns an openai-go client of it.
func serve(t *testing.T, providers ...llmproxy.ProviderConfig) openai.Client {
	t.Helper()
	p, err := llmproxy.New(llmproxy.Config{APIKeys: []string{clientKey}, Providers: providers})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	srv := httptest.NewServer(server.Handler(p, server.Options{}))
	t.Cleanup(srv.Close)
	return openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey(clientKey),
		option.WithMaxRetries(0), option.WithHTTPClient(srv.Client()))
}

// proxyInfo reads _proxy_info of a raw answer or chunk.
func proxyInfo(t *testing.T, raw string) llmproxy.ProxyInfo {
	t.Helper()
	var v struct {
		ProxyInfo *llmproxy.ProxyInfo `json:"_proxy_info"`
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &v), raw)
	require.NotNil(t, v.ProxyInfo, "no _proxy_info in %s", raw)
	return *v.ProxyInfo
}

func conversation(user string) []openai.ChatCompletionMessageParamUnion {
	return []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("You are terse."), openai.UserMessage(user)}
}

// streamed is a stream read to its end with openai-go.
type streamed struct {
	acc         openai.ChatCompletionAccumulator
	reasoning   string // the reasoning_content deltas joined
	lastRaw     string
	usageChunks int
}

// accumulate streams params through client and reads the stream to its end.
func accumulate(t *testing.T, client openai.Client, params openai.ChatCompletionNewParams) (*streamed, error) {
	t.Helper()
	res := &streamed{}
	stream := client.Chat.Completions.NewStreaming(t.Context(), params)
	defer stream.Close()
	for stream.Next() {
		c := stream.Current()
		assert.True(t, res.acc.AddChunk(c), "the accumulator refused %s", c.RawJSON())
		for _, ch := range c.Choices {
			if f, ok := ch.Delta.JSON.ExtraFields["reasoning_content"]; ok {
				var s string
				require.NoError(t, json.Unmarshal([]byte(f.Raw()), &s))
				res.reasoning += s
			}
		}
		if c.Usage.TotalTokens > 0 {
			res.usageChunks++
		}
		res.lastRaw = c.RawJSON()
	}
	return res, stream.Err()
}

func TestServerChat(t *testing.T) {
	f := newFakeGemini(t)
	client := serve(t, geminiProvider("gem", f, 1))
	var raw *http.Response
	resp, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: chatModel, Messages: conversation("How does AI work?"), MaxCompletionTokens: openai.Int(128),
		Temperature: openai.Float(0.2), ReasoningEffort: shared.ReasoningEffortLow,
	}, option.WithResponseInto(&raw))
	require.NoError(t, err)
	require.Len(t, resp.Choices, 1)
	assert.Equal(t, "AI learns patterns from data to make predictions or decisions.", resp.Choices[0].Message.Content)
	assert.Equal(t, "stop", resp.Choices[0].FinishReason)
	assert.Equal(t, "chat.completion", string(resp.Object))
	assert.Equal(t, "mP5caNrNAdKk1dkPhLGh4Qg", resp.ID)
	assert.Equal(t, int64(8), resp.Usage.PromptTokens)
	assert.Equal(t, int64(33), resp.Usage.CompletionTokens)
	assert.Equal(t, int64(41), resp.Usage.TotalTokens)
	assert.Equal(t, int64(21), resp.Usage.CompletionTokensDetails.ReasoningTokens)
	pi := proxyInfo(t, resp.RawJSON())
	assert.Equal(t, "gem", pi.Provider)
	assert.Equal(t, 1, pi.AttemptNumber)
	assert.Equal(t, "gem", raw.Header.Get("X-LLMProxy-Provider"))

	req := f.lastGenerate(t)
	require.NotNil(t, req.SystemInstruction)
	assert.Equal(t, "You are terse.", *req.SystemInstruction.Parts[0].Text)
	require.Len(t, req.Contents, 1)
	assert.Equal(t, "How does AI work?", *req.Contents[0].Parts[0].Text)
	g := req.GenerationConfig
	require.NotNil(t, g)
	assert.Equal(t, 128, *g.MaxOutputTokens)
	assert.Equal(t, 0.2, *g.Temperature)
	require.NotNil(t, g.ThinkingConfig)
	assert.Equal(t, 1024, *g.ThinkingConfig.ThinkingBudget)
	assert.True(t, *g.ThinkingConfig.IncludeThoughts)
	assert.Equal(t, "/v1beta/models/gemini-2.5-flash:generateContent", f.last(t).path)
}

func TestServerStream(t *testing.T) {
	for _, includeUsage := range []bool{false, true} {
		f := newFakeGemini(t)
		client := serve(t, geminiProvider("gem", f, 1))
		params := openai.ChatCompletionNewParams{Model: chatModel, Messages: conversation("How does AI work?")}
		if includeUsage {
			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		}
		res, err := accumulate(t, client, params)
		require.NoError(t, err)
		acc, lastRaw, usageChunks := res.acc, res.lastRaw, res.usageChunks
		require.Len(t, acc.Choices, 1)
		assert.Equal(t, "AI learns patterns from data to make predictions.", acc.Choices[0].Message.Content)
		assert.Equal(t, "stop", acc.Choices[0].FinishReason)
		assert.Equal(t, "n_5caPu8J8uf1dkP8eqVsAk", acc.ID)
		assert.Equal(t, "gem", proxyInfo(t, lastRaw).Provider)
		if includeUsage {
			assert.Equal(t, 1, usageChunks)
			assert.Equal(t, int64(8), acc.Usage.PromptTokens)
			assert.Equal(t, int64(9), acc.Usage.CompletionTokens)
			assert.Equal(t, int64(17), acc.Usage.TotalTokens)
		} else {
			assert.Zero(t, usageChunks, "usage was not asked for")
		}
		assert.Equal(t, "alt=sse", f.last(t).query)
	}
}

// TestServerToolRoundTrip runs a parallel tool call on a Gemini 3 model,
// which refuses an unsigned call in the history: the client gets the calls
// (streamed the first time, whole the second), runs them and sends the
// results back, which must reach Gemini as functionResponse parts naming
// the functions, after the signed functionCall parts.
func TestServerToolRoundTrip(t *testing.T) {
	const final = "Paris: 18°C and sunny. London: 12°C and rain."
	f := newFakeGemini(t)
	answer := func(req *specRequest) (done bool, msg string) {
		last := req.Contents[len(req.Contents)-1]
		if last.Parts[0].FunctionResponse == nil {
			return false, ""
		}
		for i, p := range last.Parts {
			r := p.FunctionResponse
			if r == nil || r.Name != "get_weather" {
				return true, "test fake: expected get_weather results"
			}
			want := map[int]string{0: weatherJSON, 1: `{"output":"12°C, rain"}`}[i]
			if !assert.JSONEq(t, want, string(r.Response)) {
				return true, "test fake: unexpected result " + string(r.Response)
			}
		}
		return true, ""
	}
	f.set(func(c *fakeConfig) {
		c.chat = func(model string, req *specRequest) reply {
			switch done, msg := answer(req); {
			case msg != "":
				return reply{status: 400, body: `{"error":{"code":400,"message":"` + msg + `","status":"INVALID_ARGUMENT"}}`}
			case done:
				return reply{status: 200, body: `{"candidates":[{"content":{"parts":[{"text":"` + final + `"}],"role":"model"},"finishReason":"STOP","index":0}],"modelVersion":"gemini-3-flash-preview","responseId":"final-1"}`}
			}
			return reply{status: 200, body: fixture(t, "generate_tools.json")}
		}
		c.stream = func(model string, req *specRequest) string {
			if done, _ := answer(req); done {
				return "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"" + final + "\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}]}\r\n\r\n"
			}
			return fixture(t, "stream_tools.sse")
		}
	})
	client := serve(t, geminiProvider("gem", f, 1))
	tools := []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name: "get_weather", Description: openai.String("Get the current weather"),
		Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{
			"location": map[string]any{"type": "string"}, "unit": map[string]any{"type": "string", "enum": []string{"celsius", "fahrenheit"}},
		}, "required": []string{"location"}},
	})}

	for _, streamed := range []bool{false, true} {
		messages := conversation("Weather in Paris and London?")
		params := openai.ChatCompletionNewParams{Model: toolModel, Messages: messages, Tools: tools}
		var msg openai.ChatCompletionMessage
		var finish string
		if streamed {
			res, err := accumulate(t, client, params)
			require.NoError(t, err)
			require.Len(t, res.acc.Choices, 1)
			msg, finish = res.acc.Choices[0].Message, res.acc.Choices[0].FinishReason
			assert.Equal(t, "**Planning the lookup**\n\nThe user wants the weather in two cities.\n", res.reasoning)
		} else {
			resp, err := client.Chat.Completions.New(t.Context(), params)
			require.NoError(t, err)
			require.Len(t, resp.Choices, 1)
			msg, finish = resp.Choices[0].Message, resp.Choices[0].FinishReason
		}
		assert.Equal(t, "tool_calls", finish, "streamed %t", streamed)
		require.Len(t, msg.ToolCalls, 2)
		assert.Equal(t, "call_0__thought__"+sig, msg.ToolCalls[0].ID)
		assert.Equal(t, "call_1", msg.ToolCalls[1].ID)
		assert.Equal(t, "get_weather", msg.ToolCalls[0].Function.Name)
		assert.JSONEq(t, `{"location":"Paris","unit":"celsius"}`, msg.ToolCalls[0].Function.Arguments)
		assert.JSONEq(t, `{"location":"London","unit":"celsius"}`, msg.ToolCalls[1].Function.Arguments)
		decl := f.lastGenerate(t).Tools
		require.Len(t, decl, 1)
		assert.JSONEq(t, `{"type":"OBJECT","properties":{"location":{"type":"STRING"},"unit":{"type":"STRING","enum":["celsius","fahrenheit"]}},"required":["location"]}`, string(decl[0].FunctionDeclarations[0].Parameters))

		// The client runs the calls and answers them, the second first.
		messages = append(messages, msg.ToParam(),
			openai.ToolMessage("12°C, rain", msg.ToolCalls[1].ID), openai.ToolMessage(weatherJSON, msg.ToolCalls[0].ID))
		params.Messages = messages
		var text string
		if streamed {
			res, err := accumulate(t, client, params)
			require.NoError(t, err)
			require.Len(t, res.acc.Choices, 1)
			text, finish = res.acc.Choices[0].Message.Content, res.acc.Choices[0].FinishReason
		} else {
			resp, err := client.Chat.Completions.New(t.Context(), params)
			require.NoError(t, err)
			require.Len(t, resp.Choices, 1)
			text, finish = resp.Choices[0].Message.Content, resp.Choices[0].FinishReason
		}
		assert.Equal(t, final, text)
		assert.Equal(t, "stop", finish)

		second := f.lastGenerate(t)
		require.Len(t, second.Contents, 3)
		model := second.Contents[1]
		assert.Equal(t, "model", model.Role)
		require.Len(t, model.Parts, 2)
		require.NotNil(t, model.Parts[0].ThoughtSignature, "the signature came back")
		assert.Equal(t, sig, *model.Parts[0].ThoughtSignature)
		assert.Nil(t, model.Parts[1].ThoughtSignature)
		assert.Empty(t, model.Parts[0].FunctionCall.ID, "Gemini named no id, so it gets none back")
		results := second.Contents[2]
		assert.Equal(t, "user", results.Role)
		require.Len(t, results.Parts, 2, "both results in one turn, in the calls' order")
	}
}

func TestServerEmbeddings(t *testing.T) {
	f := newFakeGemini(t)
	client := serve(t, geminiProvider("gem", f, 1))
	inputs := []string{"the first text", "the second, longer text"}
	for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
		resp, err := client.Embeddings.New(t.Context(), openai.EmbeddingNewParams{
			Model: embedModel, Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs}, EncodingFormat: format,
		})
		require.NoError(t, err, format)
		require.Len(t, resp.Data, 2)
		for i, in := range inputs {
			got := make([]float32, len(resp.Data[i].Embedding))
			for j, x := range resp.Data[i].Embedding {
				got[j] = float32(x)
			}
			assert.Equal(t, vectorFor(in, ""), got, "%s %d", format, i)
		}
		assert.Equal(t, strings.Contains(resp.RawJSON(), `"embedding":"`), format == openai.EmbeddingNewParamsEncodingFormatBase64, resp.RawJSON())
		assert.Equal(t, "gem", proxyInfo(t, resp.RawJSON()).Provider)
		assert.Equal(t, "/v1beta/models/gemini-embedding-001:batchEmbedContents", f.last(t).path)
	}
	one, err := client.Embeddings.New(t.Context(), openai.EmbeddingNewParams{
		Model: embedModel, Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("just one")},
	})
	require.NoError(t, err)
	require.Len(t, one.Data, 1)
	assert.Equal(t, "/v1beta/models/gemini-embedding-001:embedContent", f.last(t).path)
}

// TestServerErrors drives each of Gemini's error kinds through the server
// and checks what the client sees: the status, the OpenAI error type, and
// that the key never shows.
func TestServerErrors(t *testing.T) {
	tests := []struct {
		name   string
		rep    reply
		status int
		typ    string
		header map[string]string
	}{
		{"invalid argument", reply{status: 400, body: `{"error":{"code":400,"message":"* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n","status":"INVALID_ARGUMENT"}}`}, 400, "invalid_request_error", nil},
		{"invalid key", reply{status: 400, body: errKeyInvalid}, 502, "upstream_error", nil},
		{"permission denied", reply{status: 403, body: `{"error":{"code":403,"message":"Permission denied: Consumer 'api_key:x' has been suspended.","status":"PERMISSION_DENIED"}}`}, 502, "upstream_error", nil},
		{"not found", reply{status: 404, body: `{"error":{"code":404,"message":"models/gemini-9 is not found for API version v1beta, or is not supported for generateContent.","status":"NOT_FOUND"}}`}, 404, "invalid_request_error", nil},
		{"rate limited", reply{status: 429, body: errQuotaPerMinute}, 429, "rate_limit_error", map[string]string{"Retry-After": "37"}},
		{"per-day quota", reply{status: 429, body: errQuotaPerDay}, 429, "insufficient_quota", nil},
		{"internal", reply{status: 500, body: `{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}`}, 500, "upstream_error", nil},
		{"overloaded", reply{status: 503, body: `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`}, 503, "upstream_error", nil},
		{"deadline", reply{status: 504, body: `{"error":{"code":504,"message":"The request timed out. Please try again.","status":"DEADLINE_EXCEEDED"}}`}, 504, "timeout_error", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeGemini(t)
			f.set(func(c *fakeConfig) {
				c.force = map[string]reply{"generateContent": tt.rep, "streamGenerateContent": tt.rep, "batchEmbedContents": tt.rep}
			})
			client := serve(t, geminiProvider("gem", f, 1))
			check := func(what string, err error) {
				t.Helper()
				var apiErr *openai.Error
				require.True(t, errors.As(err, &apiErr), "%s: %v", what, err)
				assert.Equal(t, tt.status, apiErr.StatusCode, what)
				assert.Equal(t, tt.typ, apiErr.Type, what)
				assert.NotContains(t, apiErr.RawJSON(), testKey, what)
				for k, v := range tt.header {
					assert.Equal(t, v, apiErr.Response.Header.Get(k), what)
				}
			}
			_, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{Model: chatModel, Messages: conversation("hi")})
			check("chat", err)
			_, err = accumulate(t, client, openai.ChatCompletionNewParams{Model: chatModel, Messages: conversation("hi")})
			check("stream", err)
			_, err = client.Embeddings.New(t.Context(), openai.EmbeddingNewParams{Model: embedModel, Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}}})
			check("embeddings", err)
		})
	}
}

// TestServerFailover fails an overloaded Gemini over to a second one, and
// checks that a stream cut after its first content ends in an error for
// the client rather than a clean end.
func TestServerFailover(t *testing.T) {
	down := newFakeGemini(t)
	overloaded := reply{status: 503, body: `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`}
	down.set(func(c *fakeConfig) {
		c.force = map[string]reply{"generateContent": overloaded, "streamGenerateContent": overloaded}
	})
	up := newFakeGemini(t)
	client := serve(t, geminiProvider("gem-down", down, 1), geminiProvider("gem-up", up, 2))
	resp, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{Model: chatModel, Messages: conversation("hi")})
	require.NoError(t, err)
	pi := proxyInfo(t, resp.RawJSON())
	assert.Equal(t, "gem-up", pi.Provider)
	assert.Equal(t, 2, pi.AttemptNumber)
	res, err := accumulate(t, client, openai.ChatCompletionNewParams{Model: chatModel, Messages: conversation("hi")})
	require.NoError(t, err)
	assert.Equal(t, "AI learns patterns from data to make predictions.", res.acc.Choices[0].Message.Content)
	assert.Equal(t, "gem-up", proxyInfo(t, res.lastRaw).Provider)

	var calls atomic.Int32
	cut := newFakeGemini(t)
	cut.set(func(c *fakeConfig) {
		c.stream = func(string, *specRequest) string {
			calls.Add(1)
			return withoutLastEvent(fixture(t, "stream_text.sse"))
		}
	})
	client = serve(t, geminiProvider("gem-cut", cut, 1), geminiProvider("gem-up", up, 2))
	res, err = accumulate(t, client, openai.ChatCompletionNewParams{Model: chatModel, Messages: conversation("hi")})
	require.Error(t, err, "a cut stream is not a clean end")
	assert.Equal(t, "AI learns patterns from data", res.acc.Choices[0].Message.Content)
	assert.Equal(t, int32(1), calls.Load(), "a committed stream is not sent again")
}
