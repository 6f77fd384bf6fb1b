package server_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	openai "github.com/openai/openai-go/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/openai"
)

// azureKey is the key the Azure provider of these tests sends.
const azureKey = "azure-test-key-0b3c55"

// Azure OpenAI wire bytes, written from the REST reference
// (Azure/azure-rest-api-specs, inference/stable/2024-10-21: examples
// chat_completions.json, completions.json, embeddings.json) and from the
// streams Azure sends: a first chunk with empty id, model and object that
// carries only prompt_filter_results, choices with content_filter_results.
const (
	azurePromptFilter = `"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"jailbreak":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}}]`
	azureSafe         = `"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}`

	azureChatAnswer = `{"choices":[{` + azureSafe + `,"finish_reason":"stop","index":0,"logprobs":null,"message":{"content":"Ahoy matey! Feed yer parrot well.","refusal":null,"role":"assistant"}}],"created":1686676106,"id":"chatcmpl-7R1nGnsXO8n4oi9UPz2f3UHdgAYMn","model":"gpt-4o-2024-08-06","object":"chat.completion",` + azurePromptFilter + `,"system_fingerprint":"fp_04751d0b65","usage":{"completion_tokens":9,"completion_tokens_details":{"reasoning_tokens":0},"prompt_tokens":33,"prompt_tokens_details":{"cached_tokens":0},"total_tokens":42}}`

	azureFilteredAnswer = `{"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":true,"severity":"high"}},"finish_reason":"content_filter","index":0,"logprobs":null,"message":{"content":null,"refusal":null,"role":"assistant"}}],"created":1686676107,"id":"chatcmpl-7R1nFiltered","model":"gpt-4o-2024-08-06","object":"chat.completion",` + azurePromptFilter + `,"system_fingerprint":"fp_04751d0b65","usage":{"completion_tokens":3,"prompt_tokens":20,"total_tokens":23}}`

	azureToolCallAnswer = `{"choices":[{"content_filter_results":{},"finish_reason":"tool_calls","index":0,"logprobs":null,"message":{"content":null,"refusal":null,"role":"assistant","tool_calls":[{"function":{"arguments":"{\"location\":\"Paris\"}","name":"get_weather"},"id":"call_Azure42","type":"function"}]}}],"created":1733900000,"id":"chatcmpl-AzTool1","model":"gpt-4o-2024-08-06","object":"chat.completion",` + azurePromptFilter + `,"system_fingerprint":"fp_04751d0b65","usage":{"completion_tokens":16,"prompt_tokens":60,"total_tokens":76}}`

	azureToolResultAnswer = `{"choices":[{` + azureSafe + `,"finish_reason":"stop","index":0,"logprobs":null,"message":{"content":"It is 18 degrees in Paris.","refusal":null,"role":"assistant"}}],"created":1733900001,"id":"chatcmpl-AzTool2","model":"gpt-4o-2024-08-06","object":"chat.completion",` + azurePromptFilter + `,"system_fingerprint":"fp_04751d0b65","usage":{"completion_tokens":9,"prompt_tokens":90,"total_tokens":99}}`

	azureContentFilterError = `{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":true,"severity":"high"},"jailbreak":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}}}}`

	azureCompletionAnswer = `{"id":"cmpl-4509KAos68kxOqpE2uYGw81j6m7uo","object":"text_completion","created":1637097562,"model":"gpt-35-turbo-instruct","choices":[{"index":0,"text":" The price for bubblegum decreased on thursday.","logprobs":null,"finish_reason":"stop",` + azureSafe + `}],` + azurePromptFilter + `,"usage":{"completion_tokens":9,"prompt_tokens":20,"total_tokens":29}}`

	azureEmbeddingAnswer = `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023064255,-0.009327292,-0.0028842222]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":4,"total_tokens":4}}`
)

// azureStream is a streamed Azure answer: the prompt filter chunk, the
// text in two pieces, the finish chunk with finishReason and, when usage,
// the usage chunk.
func azureStream(finishReason string, usage bool) string {
	const head = `"created":1733900002,"id":"chatcmpl-AzStream","model":"gpt-4o-2024-08-06","object":"chat.completion.chunk","system_fingerprint":"fp_04751d0b65"`
	var b strings.Builder
	frame := func(s string) { b.WriteString("data: " + s + "\n\n") }
	frame(`{"choices":[],"created":0,"id":"","model":"","object":"",` + azurePromptFilter + `}`)
	frame(`{"choices":[{"content_filter_results":{},"delta":{"content":"","refusal":null,"role":"assistant"},"finish_reason":null,"index":0,"logprobs":null}],` + head + `}`)
	frame(`{"choices":[{` + azureSafe + `,"delta":{"content":"Hello"},"finish_reason":null,"index":0,"logprobs":null}],` + head + `}`)
	frame(`{"choices":[{` + azureSafe + `,"delta":{"content":" world"},"finish_reason":null,"index":0,"logprobs":null}],` + head + `}`)
	frame(`{"choices":[{"content_filter_results":{},"delta":{},"finish_reason":"` + finishReason + `","index":0,"logprobs":null}],` + head + `}`)
	if usage {
		frame(`{"choices":[],` + head + `,"usage":{"completion_tokens":2,"prompt_tokens":9,"total_tokens":11}}`)
	}
	b.WriteString("data: [DONE]\n\n")
	return b.String()
}

// azureHit is a request as the Azure upstream saw it.
type azureHit struct {
	method, path string
	query        url.Values
	header       http.Header
	body         []byte
}

// azureUpstream is an httptest Azure OpenAI resource: answer decides the
// status and body of each request, which it records.
type azureUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	hits []azureHit
}

func newAzureUpstream(t *testing.T, answer func(h azureHit) (int, string)) *azureUpstream {
	t.Helper()
	u := &azureUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := azureHit{method: r.Method, path: r.URL.Path, query: r.URL.Query(), header: r.Header.Clone(), body: body}
		u.mu.Lock()
		u.hits = append(u.hits, h)
		u.mu.Unlock()
		status, out := answer(h)
		if strings.HasPrefix(out, "data: ") {
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.Header().Set("apim-request-id", "a1b2c3d4-0000-4000-8000-000000000000")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, out)
	}))
	t.Cleanup(u.Close)
	return u
}

// all returns the requests received so far.
func (u *azureUpstream) all() []azureHit {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]azureHit(nil), u.hits...)
}

// last returns the last request received.
func (u *azureUpstream) last(t *testing.T) azureHit {
	t.Helper()
	hits := u.all()
	require.NotEmpty(t, hits, "the Azure upstream received no request")
	return hits[len(hits)-1]
}

// azureConfig is a proxy in front of one Azure provider configured by mod.
func azureConfig(u *azureUpstream, mod func(*llmproxy.ProviderConfig)) llmproxy.Config {
	pc := llmproxy.ProviderConfig{Name: "azure-east", Type: "azure", BaseURL: u.URL, APIKey: azureKey}
	if mod != nil {
		mod(&pc)
	}
	return llmproxy.Config{APIKeys: []string{clientKey}, Providers: []llmproxy.ProviderConfig{pc}}
}

// withDeployments maps gpt-4o, the instruct model and the embedding model
// to deployments, which selects the dated API.
func withDeployments(pc *llmproxy.ProviderConfig) {
	pc.Deployments = map[string]string{
		"gpt-4o":                 "my-gpt4o",
		"gpt-35-turbo-instruct":  "my-instruct",
		"text-embedding-3-small": "my-embed",
	}
}

// assertDated asserts that h went to deployment d's endpoint ep on the
// dated API at version, authenticated with the api-key header only.
func assertDated(t *testing.T, h azureHit, d, ep, version string) {
	t.Helper()
	assert.Equal(t, http.MethodPost, h.method)
	assert.Equal(t, "/openai/deployments/"+d+ep, h.path)
	assert.Equal(t, version, h.query.Get("api-version"))
	assert.Equal(t, azureKey, h.header.Get("api-key"))
	assert.Empty(t, h.header.Get("Authorization"), "the key goes in api-key only")
}

func TestAzureDatedAPIThroughServer(t *testing.T) {
	u := newAzureUpstream(t, func(h azureHit) (int, string) {
		switch {
		case strings.HasSuffix(h.path, "/embeddings"):
			return 200, azureEmbeddingAnswer
		case strings.HasSuffix(h.path, "/completions") && !strings.HasSuffix(h.path, "/chat/completions"):
			return 200, azureCompletionAnswer
		case strings.Contains(string(h.body), "blocked please"):
			return 400, azureContentFilterError
		case gjson.GetBytes(h.body, "stream").Bool():
			return 200, azureStream("stop", gjson.GetBytes(h.body, "stream_options.include_usage").Bool())
		case strings.Contains(string(h.body), "filtered please"):
			return 200, azureFilteredAnswer
		case strings.Contains(string(h.body), `"role":"tool"`):
			return 200, azureToolResultAnswer
		case gjson.GetBytes(h.body, "tools").Exists():
			return 200, azureToolCallAnswer
		}
		return 200, azureChatAnswer
	})
	srv := newProxyServer(t, azureConfig(u, withDeployments))
	client := newOpenAIClient(srv, clientKey)
	ctx := t.Context()

	t.Run("chat", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "gpt-4o",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("can you tell me how to care for a parrot?")},
		})
		require.NoError(t, err)
		assert.Equal(t, "Ahoy matey! Feed yer parrot well.", resp.Choices[0].Message.Content)
		assert.Equal(t, int64(42), resp.Usage.TotalTokens)
		assert.Contains(t, resp.RawJSON(), `"prompt_filter_results"`, "Azure's members pass through")
		assert.Equal(t, "azure-east", getProxyInfo(t, []byte(resp.RawJSON())).Provider)
		h := u.last(t)
		assertDated(t, h, "my-gpt4o", "/chat/completions", "2024-10-21")
		assert.Equal(t, "gpt-4o", gjson.GetBytes(h.body, "model").Str, "the body is the client's")
		assert.False(t, gjson.GetBytes(h.body, "stream").Exists())
	})

	t.Run("stream", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         "gpt-4o",
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("say hello")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		acc := openai.ChatCompletionAccumulator{}
		chunks := 0
		for stream.Next() {
			chunks++
			acc.AddChunk(stream.Current())
		}
		require.NoError(t, stream.Err())
		require.NoError(t, stream.Close())
		require.NotEmpty(t, acc.Choices)
		assert.Equal(t, "Hello world", acc.Choices[0].Message.Content)
		assert.Equal(t, "stop", acc.Choices[0].FinishReason)
		assert.Equal(t, int64(11), acc.Usage.TotalTokens)
		assert.Equal(t, 6, chunks, "the prompt filter chunk, four chunks of the answer and the usage chunk")
		h := u.last(t)
		assertDated(t, h, "my-gpt4o", "/chat/completions", "2024-10-21")
		assert.True(t, gjson.GetBytes(h.body, "stream").Bool())
		assert.True(t, gjson.GetBytes(h.body, "stream_options.include_usage").Bool())
	})

	t.Run("stream without usage asked", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:    "gpt-4o",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("say hello")},
		})
		acc := openai.ChatCompletionAccumulator{}
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		require.NoError(t, stream.Err())
		require.NoError(t, stream.Close())
		assert.Equal(t, "Hello world", acc.Choices[0].Message.Content)
		assert.Zero(t, acc.Usage.TotalTokens, "the usage chunk the proxy asked for is not passed on")
		assert.True(t, gjson.GetBytes(u.last(t).body, "stream_options.include_usage").Bool(),
			"2024-10-21 takes stream_options: the proxy asks for the usage")
	})

	t.Run("tool call round trip", func(t *testing.T) {
		params := openai.ChatCompletionNewParams{
			Model:    "gpt-4o",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the weather in Paris?")},
			Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
				Name:       "get_weather",
				Parameters: openai.FunctionParameters{"type": "object", "properties": map[string]any{"location": map[string]any{"type": "string"}}},
			})},
		}
		first, err := client.Chat.Completions.New(ctx, params)
		require.NoError(t, err)
		require.Equal(t, "tool_calls", first.Choices[0].FinishReason)
		calls := first.Choices[0].Message.ToolCalls
		require.Len(t, calls, 1)
		assert.Equal(t, "call_Azure42", calls[0].ID)
		assert.Equal(t, "get_weather", calls[0].Function.Name)
		assert.JSONEq(t, `{"location":"Paris"}`, calls[0].Function.Arguments)

		params.Messages = append(params.Messages, first.Choices[0].Message.ToParam(),
			openai.ToolMessage(`{"celsius":18}`, calls[0].ID))
		second, err := client.Chat.Completions.New(ctx, params)
		require.NoError(t, err)
		assert.Equal(t, "It is 18 degrees in Paris.", second.Choices[0].Message.Content)
		h := u.last(t)
		assertDated(t, h, "my-gpt4o", "/chat/completions", "2024-10-21")
		msgs := gjson.GetBytes(h.body, "messages").Array()
		require.Len(t, msgs, 3)
		assert.Equal(t, "call_Azure42", msgs[1].Get("tool_calls.0.id").Str)
		assert.Equal(t, "tool", msgs[2].Get("role").Str)
		assert.Equal(t, "call_Azure42", msgs[2].Get("tool_call_id").Str)
	})

	t.Run("content_filter finish reason passes through", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "gpt-4o",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("filtered please")},
		})
		require.NoError(t, err)
		assert.Equal(t, "content_filter", resp.Choices[0].FinishReason)
		assert.Empty(t, resp.Choices[0].Message.Content)
		assert.Contains(t, resp.RawJSON(), `"violence":{"filtered":true,"severity":"high"}`)
	})

	t.Run("content filter error", func(t *testing.T) {
		before := len(u.all())
		_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "gpt-4o",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("blocked please")},
		})
		var apiErr *openai.Error
		require.True(t, errors.As(err, &apiErr), "error %T: %v", err, err)
		assert.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
		assert.Equal(t, "content_filter", apiErr.Code)
		assert.Equal(t, "invalid_request_error", apiErr.Type)
		assert.Contains(t, apiErr.Message, "content filter blocked the request (filtered: hate (severity high))")
		assert.Contains(t, apiErr.Message, "content management policy", "Azure's own message is kept")
		assert.Len(t, u.all(), before+1, "an invalid request is not retried")
	})

	t.Run("content filter error on a stream", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:    "gpt-4o",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("blocked please")},
		})
		for stream.Next() {
		}
		var apiErr *openai.Error
		require.True(t, errors.As(stream.Err(), &apiErr), "error %T: %v", stream.Err(), stream.Err())
		assert.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
		assert.Equal(t, "content_filter", apiErr.Code)
		require.NoError(t, stream.Close())
	})

	t.Run("completions", func(t *testing.T) {
		resp, err := client.Completions.New(ctx, openai.CompletionNewParams{
			Model:  "gpt-35-turbo-instruct",
			Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Negate the following sentence.")},
		})
		require.NoError(t, err)
		assert.Equal(t, " The price for bubblegum decreased on thursday.", resp.Choices[0].Text)
		assertDated(t, u.last(t), "my-instruct", "/completions", "2024-10-21")
	})

	t.Run("embeddings", func(t *testing.T) {
		resp, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model: "text-embedding-3-small",
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("This is a test.")},
		})
		require.NoError(t, err)
		require.Len(t, resp.Data, 1)
		assert.InDeltaSlice(t, []float64{0.0023064255, -0.009327292, -0.0028842222}, resp.Data[0].Embedding, 1e-9)
		assertDated(t, u.last(t), "my-embed", "/embeddings", "2024-10-21")
	})

	t.Run("models are the deployments' public names", func(t *testing.T) {
		page, err := client.Models.List(ctx)
		require.NoError(t, err)
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		assert.ElementsMatch(t, []string{"gpt-4o", "gpt-35-turbo-instruct", "text-embedding-3-small"}, ids)
	})
}

func TestAzureContentFilterDoesNotFailOver(t *testing.T) {
	blocked := newAzureUpstream(t, func(azureHit) (int, string) { return 400, azureContentFilterError })
	other := newAzureUpstream(t, func(azureHit) (int, string) { return 200, azureChatAnswer })
	cfg := azureConfig(blocked, nil)
	cfg.Providers = append(cfg.Providers, llmproxy.ProviderConfig{
		Name: "azure-west", Type: "azure", BaseURL: other.URL, APIKey: azureKey, Priority: 2})
	srv := newProxyServer(t, cfg)
	client := newOpenAIClient(srv, clientKey)

	_, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("anything")},
	})
	var apiErr *openai.Error
	require.True(t, errors.As(err, &apiErr), "error %T: %v", err, err)
	assert.Equal(t, "content_filter", apiErr.Code)
	assert.Len(t, blocked.all(), 1)
	assert.Empty(t, other.all(), "a refused prompt is refused everywhere: no failover")
}

func TestAzureV1APIThroughServer(t *testing.T) {
	answer := func(h azureHit) (int, string) {
		if gjson.GetBytes(h.body, "stream").Bool() {
			return 200, azureStream("content_filter", gjson.GetBytes(h.body, "stream_options.include_usage").Bool())
		}
		return 200, azureChatAnswer
	}

	t.Run("no deployments: the model names the deployment", func(t *testing.T) {
		u := newAzureUpstream(t, answer)
		srv := newProxyServer(t, azureConfig(u, nil))
		client := newOpenAIClient(srv, clientKey)
		_, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
			Model:    "team-gpt4o",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
		require.NoError(t, err)
		h := u.last(t)
		assert.Equal(t, "/openai/v1/chat/completions", h.path)
		assert.Empty(t, h.query, "the v1 API takes no api-version")
		assert.Equal(t, "team-gpt4o", gjson.GetBytes(h.body, "model").Str)
		assert.Equal(t, azureKey, h.header.Get("api-key"))
	})

	t.Run("v1 with deployments renames the body's model; finish reason content_filter streams through", func(t *testing.T) {
		u := newAzureUpstream(t, answer)
		srv := newProxyServer(t, azureConfig(u, func(pc *llmproxy.ProviderConfig) {
			withDeployments(pc)
			pc.APIVersion = "v1"
		}))
		client := newOpenAIClient(srv, clientKey)
		stream := client.Chat.Completions.NewStreaming(t.Context(), openai.ChatCompletionNewParams{
			Model:    "gpt-4o",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
		acc := openai.ChatCompletionAccumulator{}
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		require.NoError(t, stream.Err())
		require.NoError(t, stream.Close())
		assert.Equal(t, "content_filter", acc.Choices[0].FinishReason)
		h := u.last(t)
		assert.Equal(t, "/openai/v1/chat/completions", h.path)
		assert.Equal(t, "my-gpt4o", gjson.GetBytes(h.body, "model").Str)
		assert.Equal(t, "hi", gjson.GetBytes(h.body, "messages.0.content").Str, "the rest of the body is the client's")
		assert.True(t, gjson.GetBytes(h.body, "stream_options.include_usage").Bool())
	})

	t.Run("bearer token", func(t *testing.T) {
		u := newAzureUpstream(t, answer)
		srv := newProxyServer(t, azureConfig(u, func(pc *llmproxy.ProviderConfig) { pc.AzureAuth = llmproxy.AzureAuthBearer }))
		client := newOpenAIClient(srv, clientKey)
		_, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
			Model:    "gpt-4o",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
		require.NoError(t, err)
		h := u.last(t)
		assert.Equal(t, "Bearer "+azureKey, h.header.Get("Authorization"))
		assert.Empty(t, h.header.Get("api-key"))
	})
}

func TestAzureOldAPIVersionGetsNoStreamOptions(t *testing.T) {
	u := newAzureUpstream(t, func(h azureHit) (int, string) {
		if gjson.GetBytes(h.body, "stream_options").Exists() {
			return 400, `{"error":{"code":"BadRequest","message":"Unrecognized request argument supplied: stream_options"}}`
		}
		return 200, azureStream("stop", false)
	})
	srv := newProxyServer(t, azureConfig(u, func(pc *llmproxy.ProviderConfig) {
		withDeployments(pc)
		pc.APIVersion = "2024-06-01"
	}))
	client := newOpenAIClient(srv, clientKey)
	stream := client.Chat.Completions.NewStreaming(t.Context(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	require.NoError(t, stream.Err())
	require.NoError(t, stream.Close())
	assert.Equal(t, "Hello world", acc.Choices[0].Message.Content)
	assertDated(t, u.last(t), "my-gpt4o", "/chat/completions", "2024-06-01")
}
