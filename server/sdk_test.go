package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	openai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	goopenai "github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/providers/mock"
	_ "github.com/llmproxy/llmproxy/providers/openai"
	"github.com/llmproxy/llmproxy/server"
)

// newOpenAIClient is an openai-go client of srv with key. Every option is
// set explicitly so that OPENAI_* variables in the environment cannot leak
// in.
func newOpenAIClient(srv *httptest.Server, key string) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(srv.URL+"/v1/"),
		option.WithAPIKey(key),
		option.WithMaxRetries(0),
		option.WithHTTPClient(srv.Client()),
	)
}

// newGoOpenAIClient is a go-openai client of srv with key.
func newGoOpenAIClient(srv *httptest.Server, key string) *goopenai.Client {
	cfg := goopenai.DefaultConfig(key)
	cfg.BaseURL = srv.URL + "/v1"
	cfg.HTTPClient = srv.Client()
	return goopenai.NewClientWithConfig(cfg)
}

// mockVectors are the vectors the mock provider computes for inputs, the
// ground truth of the embedding tests.
func mockVectors(t *testing.T, inputs ...string) [][]float32 {
	t.Helper()
	in, err := json.Marshal(inputs)
	require.NoError(t, err)
	resp, err := mock.New("truth", nil).Embeddings(t.Context(), &llmproxy.EmbeddingRequest{Model: "mock-embed", Input: in})
	require.NoError(t, err)
	out := make([][]float32, len(resp.Data))
	for i, d := range resp.Data {
		out[i] = d.Vector
	}
	return out
}

func float32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// rawEmbeddingIsString reports whether data[0].embedding of a raw
// embeddings answer is a JSON string (the base64 form).
func rawEmbeddingIsString(t *testing.T, raw string) bool {
	t.Helper()
	var v struct {
		Data []struct {
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &v), "raw: %s", raw)
	require.NotEmpty(t, v.Data)
	return bytes.HasPrefix(v.Data[0].Embedding, []byte(`"`))
}

func TestOpenAIGoSDK(t *testing.T) {
	srv := newProxyServer(t, mockConfig())
	client := newOpenAIClient(srv, clientKey)
	ctx := t.Context()

	t.Run("chat", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "mock-1",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hello from openai-go")},
		})
		require.NoError(t, err)
		require.Len(t, resp.Choices, 1)
		assert.Equal(t, "Mock response to: hello from openai-go", resp.Choices[0].Message.Content)
		assert.Equal(t, "assistant", string(resp.Choices[0].Message.Role))
		assert.Equal(t, "stop", resp.Choices[0].FinishReason)
		assert.Equal(t, "mock-1", resp.Model)
		assert.Positive(t, resp.Usage.TotalTokens)
		pi := getProxyInfo(t, []byte(resp.RawJSON()))
		assert.Equal(t, "mock-a", pi.Provider)
		assert.Equal(t, 1, pi.AttemptNumber)
		assert.Contains(t, resp.JSON.ExtraFields, "_proxy_info")
	})

	t.Run("legacy completions", func(t *testing.T) {
		resp, err := client.Completions.New(ctx, openai.CompletionNewParams{
			Model:  "mock-1",
			Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("once upon a time")},
		})
		require.NoError(t, err)
		require.Len(t, resp.Choices, 1)
		assert.Equal(t, "Mock completion of: once upon a time", resp.Choices[0].Text)
		assert.Equal(t, "text_completion", string(resp.Object))
		assert.Equal(t, "mock-a", getProxyInfo(t, []byte(resp.RawJSON())).Provider)
	})

	t.Run("embeddings float and base64", func(t *testing.T) {
		inputs := []string{"the first text", "the second text"}
		want := mockVectors(t, inputs...)

		asFloat, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model:          "mock-embed",
			Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
			EncodingFormat: openai.EmbeddingNewParamsEncodingFormatFloat,
		})
		require.NoError(t, err)
		assert.False(t, rawEmbeddingIsString(t, asFloat.RawJSON()), "float form answered as a string")

		asBase64, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model:          "mock-embed",
			Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
			EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64,
		})
		require.NoError(t, err)
		assert.True(t, rawEmbeddingIsString(t, asBase64.RawJSON()), "base64 form answered as numbers: %s", asBase64.RawJSON())

		require.Len(t, asFloat.Data, len(inputs))
		require.Len(t, asBase64.Data, len(inputs))
		for i := range inputs {
			assert.Equal(t, int64(i), asFloat.Data[i].Index)
			assert.Equal(t, int64(i), asBase64.Data[i].Index)
			assert.Len(t, asFloat.Data[i].Embedding, mock.Dimensions)
			assert.Equal(t, want[i], float32s(asFloat.Data[i].Embedding), "float vector %d", i)
			assert.Equal(t, float32s(asFloat.Data[i].Embedding), float32s(asBase64.Data[i].Embedding), "base64 vector %d", i)
		}
		assert.NotEqual(t, want[0], want[1])
		assert.Equal(t, "mock-a", getProxyInfo(t, []byte(asBase64.RawJSON())).Provider)
	})

	t.Run("models", func(t *testing.T) {
		page, err := client.Models.List(ctx)
		require.NoError(t, err)
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		assert.ElementsMatch(t, []string{"mock-1", "mock-embed"}, ids)
	})

	t.Run("wrong key", func(t *testing.T) {
		bad := newOpenAIClient(srv, "sk-not-the-key")
		_, err := bad.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "mock-1", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
		var apiErr *openai.Error
		require.True(t, errors.As(err, &apiErr), "error %T: %v", err, err)
		assert.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
		assert.Equal(t, "invalid_api_key", apiErr.Code)
		assert.Equal(t, "authentication_error", apiErr.Type)
		assert.NotEmpty(t, apiErr.Message)
	})

	t.Run("unknown model", func(t *testing.T) {
		_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "gpt-nonexistent", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
		var apiErr *openai.Error
		require.True(t, errors.As(err, &apiErr), "error %T: %v", err, err)
		assert.Equal(t, http.StatusNotFound, apiErr.StatusCode)
		assert.Equal(t, "model_not_found", apiErr.Code)
		assert.Equal(t, "model", apiErr.Param)
		assert.Contains(t, apiErr.Message, "gpt-nonexistent")
	})
}

func TestGoOpenAISDK(t *testing.T) {
	srv := newProxyServer(t, mockConfig())
	client := newGoOpenAIClient(srv, clientKey)
	ctx := t.Context()

	t.Run("chat", func(t *testing.T) {
		resp, err := client.CreateChatCompletion(ctx, goopenai.ChatCompletionRequest{
			Model:    "mock-1",
			Messages: []goopenai.ChatCompletionMessage{{Role: goopenai.ChatMessageRoleUser, Content: "hello from go-openai"}},
		})
		require.NoError(t, err)
		require.Len(t, resp.Choices, 1)
		assert.Equal(t, "Mock response to: hello from go-openai", resp.Choices[0].Message.Content)
		assert.Equal(t, goopenai.FinishReasonStop, resp.Choices[0].FinishReason)
		assert.Equal(t, "mock-a", resp.Header().Get("X-LLMProxy-Provider"))
		assert.NotEmpty(t, resp.Header().Get("X-Request-ID"))
	})

	t.Run("legacy completions", func(t *testing.T) {
		resp, err := client.CreateCompletion(ctx, goopenai.CompletionRequest{Model: "mock-1", Prompt: "tell me a story"})
		require.NoError(t, err)
		require.Len(t, resp.Choices, 1)
		assert.Equal(t, "Mock completion of: tell me a story", resp.Choices[0].Text)
	})

	t.Run("embeddings float and base64", func(t *testing.T) {
		inputs := []string{"alpha", "beta", "gamma"}
		want := mockVectors(t, inputs...)
		for _, format := range []goopenai.EmbeddingEncodingFormat{goopenai.EmbeddingEncodingFormatFloat, goopenai.EmbeddingEncodingFormatBase64} {
			resp, err := client.CreateEmbeddings(ctx, goopenai.EmbeddingRequest{
				Input: inputs, Model: "mock-embed", EncodingFormat: format,
			})
			require.NoError(t, err, format)
			require.Len(t, resp.Data, len(inputs), format)
			for i := range inputs {
				assert.Equal(t, i, resp.Data[i].Index, format)
				assert.Equal(t, want[i], resp.Data[i].Embedding, "%s vector %d", format, i)
			}
		}
	})

	t.Run("models", func(t *testing.T) {
		list, err := client.ListModels(ctx)
		require.NoError(t, err)
		var ids []string
		for _, m := range list.Models {
			ids = append(ids, m.ID)
		}
		assert.ElementsMatch(t, []string{"mock-1", "mock-embed"}, ids)
	})

	t.Run("wrong key", func(t *testing.T) {
		_, err := newGoOpenAIClient(srv, "sk-not-the-key").CreateChatCompletion(ctx, goopenai.ChatCompletionRequest{
			Model: "mock-1", Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "hi"}},
		})
		var apiErr *goopenai.APIError
		require.True(t, errors.As(err, &apiErr), "error %T: %v", err, err)
		assert.Equal(t, http.StatusUnauthorized, apiErr.HTTPStatusCode)
		assert.Equal(t, "invalid_api_key", apiErr.Code)
		assert.NotEmpty(t, apiErr.Message)
	})

	t.Run("unknown model", func(t *testing.T) {
		_, err := client.CreateChatCompletion(ctx, goopenai.ChatCompletionRequest{
			Model: "gpt-nonexistent", Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "hi"}},
		})
		var apiErr *goopenai.APIError
		require.True(t, errors.As(err, &apiErr), "error %T: %v", err, err)
		assert.Equal(t, http.StatusNotFound, apiErr.HTTPStatusCode)
		assert.Equal(t, "model_not_found", apiErr.Code)
		require.NotNil(t, apiErr.Param)
		assert.Equal(t, "model", *apiErr.Param)
	})
}

// upstreamChatAnswer is an OpenAI chat completion as OpenAI sends it, plus
// members the proxy does not model (citations as Perplexity adds them).
const upstreamChatAnswer = `{
  "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
  "object": "chat.completion",
  "created": 1741569952,
  "model": "gpt-4.1-2025-04-14",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "{\"answer\": \"Paris\"}",
        "refusal": null,
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "prompt_tokens": 19,
    "completion_tokens": 10,
    "total_tokens": 29,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
  },
  "service_tier": "default",
  "system_fingerprint": "fp_3a5c8e1b2d",
  "citations": ["https://a"]
}
`

// TestOpenAIUpstreamPassThrough sends a request with members the proxy does
// not model through the real OpenAI adapter to an OpenAI-format upstream,
// and checks both directions: the upstream gets every member the client
// sent, and the client gets every member the upstream answered.
func TestOpenAIUpstreamPassThrough(t *testing.T) {
	const upstreamKey = "sk-upstream-key-5e1d"

	rec := &requestRecorder{}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("x-request-id", "req_upstream_123")
		_, _ = io.WriteString(w, upstreamChatAnswer)
	}))
	t.Cleanup(upstream.Close)

	cfg := llmproxy.Config{
		APIKeys: []string{clientKey},
		Providers: []llmproxy.ProviderConfig{{
			Name: "openai-up", Type: "openai", BaseURL: upstream.URL + "/v1",
			APIKey: llmproxy.Secret(upstreamKey), Models: []string{"gpt-4.1"},
		}},
	}
	ts := startServer(t, cfg, server.Options{})
	client := newOpenAIClient(ts.Server, clientKey)

	resp, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model:           "gpt-4.1",
		Messages:        []openai.ChatCompletionMessageParamUnion{openai.UserMessage("capital of France?")},
		ReasoningEffort: shared.ReasoningEffortLow,
		ResponseFormat:  openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name:        "get_capital",
			Description: openai.String("Look up a capital"),
			Parameters:  shared.FunctionParameters{"type": "object", "properties": map[string]any{"country": map[string]any{"type": "string"}}},
		})},
	}, option.WithJSONSet("x_vendor", map[string]any{"routing": "eu", "tags": []string{"a", "b"}}))
	require.NoError(t, err)

	// What the upstream received.
	got, calls := rec.last()
	require.Equal(t, 1, calls)
	assert.Equal(t, "/v1/chat/completions", got.path)
	assert.Equal(t, "Bearer "+upstreamKey, got.auth, "the upstream gets its own key")
	for name, vals := range got.header {
		for _, v := range vals {
			assert.NotContains(t, v, clientKey, "header %s carries the client key upstream", name)
		}
	}
	assert.JSONEq(t, `"gpt-4.1"`, string(got.body["model"]))
	assert.JSONEq(t, `"low"`, string(got.body["reasoning_effort"]))
	assert.JSONEq(t, `{"type":"json_object"}`, string(got.body["response_format"]))
	assert.JSONEq(t, `{"routing":"eu","tags":["a","b"]}`, string(got.body["x_vendor"]))
	var tools []struct {
		Type     string `json:"type"`
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	}
	require.NoError(t, json.Unmarshal(got.body["tools"], &tools), "tools: %s", got.body["tools"])
	require.Len(t, tools, 1)
	assert.Equal(t, "function", tools[0].Type)
	assert.Equal(t, "get_capital", tools[0].Function.Name)
	assert.Equal(t, "Look up a capital", tools[0].Function.Description)
	assert.JSONEq(t, `{"type":"object","properties":{"country":{"type":"string"}}}`, string(tools[0].Function.Parameters))
	assert.NotContains(t, got.body, "_proxy_info")

	// What the client received: every member the upstream sent, unchanged,
	// plus _proxy_info.
	assert.Equal(t, `{"answer": "Paris"}`, resp.Choices[0].Message.Content)
	assert.Equal(t, "default", string(resp.ServiceTier))
	var sent, received map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(upstreamChatAnswer), &sent))
	require.NoError(t, json.Unmarshal([]byte(resp.RawJSON()), &received), "raw: %s", resp.RawJSON())
	for k, v := range sent {
		require.Contains(t, received, k, "member %q lost on the way; raw: %s", k, resp.RawJSON())
		assert.Equal(t, compactJSON(t, v), compactJSON(t, received[k]), "member %q changed", k)
	}
	assert.JSONEq(t, `["https://a"]`, string(received["citations"]))
	assert.JSONEq(t, `"default"`, string(received["service_tier"]))
	require.Len(t, received, len(sent)+1, "raw: %s", resp.RawJSON())
	pi := getProxyInfo(t, []byte(resp.RawJSON()))
	assert.Equal(t, "openai-up", pi.Provider)
	assert.Equal(t, 1, pi.AttemptNumber)
	assert.NotEmpty(t, pi.RequestID)

	// The same through a plain HTTP client, with the Bearer key: the answer
	// is the upstream's bytes with _proxy_info spliced in.
	r := postJSON(t, ts.Server, "/v1/chat/completions", `{"model":"gpt-4.1","messages":[{"role":"user","content":"again"}],"x_other":[1,2]}`,
		"X-API-Key", "", "Authorization", "Bearer "+clientKey)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	got, calls = rec.last()
	require.Equal(t, 2, calls)
	assert.JSONEq(t, `[1,2]`, string(got.body["x_other"]))
	var plain map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(r.body, &plain))
	for k, v := range sent {
		assert.Equal(t, compactJSON(t, v), compactJSON(t, plain[k]), "member %q changed", k)
	}
	assert.Equal(t, "openai-up", getProxyInfo(t, r.body).Provider)
	assert.Equal(t, "openai-up", r.header.Get("X-LLMProxy-Provider"))

	assert.NotContains(t, ts.logs.String(), upstreamKey)
	assert.NotContains(t, ts.logs.String(), clientKey)
}

// seenRequest is what an upstream received.
type seenRequest struct {
	path   string
	auth   string
	header http.Header
	body   map[string]json.RawMessage
}

// requestRecorder keeps the requests an upstream received.
type requestRecorder struct {
	mu   sync.Mutex
	seen []seenRequest
}

func (rr *requestRecorder) record(r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s := seenRequest{path: r.URL.Path, auth: r.Header.Get("Authorization"), header: r.Header.Clone()}
	_ = json.Unmarshal(b, &s.body)
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.seen = append(rr.seen, s)
}

// last returns the last request received and the number received.
func (rr *requestRecorder) last() (seenRequest, int) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if len(rr.seen) == 0 {
		return seenRequest{}, 0
	}
	return rr.seen[len(rr.seen)-1], len(rr.seen)
}

func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.Compact(&buf, b), "not JSON: %s", b)
	return buf.String()
}
