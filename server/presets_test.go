package server_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	openai "github.com/openai/openai-go/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/openai"
)

// presetUpstream answers every request with status and body (an event
// stream when it starts with "data: ") and records the bodies it got.
func presetUpstream(t *testing.T, status int, body string) (*httptest.Server, func() [][]byte) {
	t.Helper()
	var mu sync.Mutex
	var got [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, b)
		mu.Unlock()
		ct := "application/json"
		if len(body) > 6 && body[:6] == "data: " {
			ct = "text/event-stream"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return append([][]byte(nil), got...)
	}
}

// presetConfig is a proxy in front of one provider of type typ at base.
func presetConfig(typ, base string) llmproxy.Config {
	return llmproxy.Config{APIKeys: []string{clientKey}, Providers: []llmproxy.ProviderConfig{
		{Name: typ, Type: typ, BaseURL: base, APIKey: "vendor-key"}}}
}

func TestGroqThroughServer(t *testing.T) {
	up, got := presetUpstream(t, 200, `{"id":"chatcmpl-g1","object":"chat.completion","created":1733900000,"model":"llama-3.3-70b-versatile","choices":[{"index":0,"message":{"role":"assistant","content":"Hi Alice."},"logprobs":null,"finish_reason":"stop"}],"usage":{"queue_time":0.02,"prompt_tokens":12,"prompt_time":0.001,"completion_tokens":3,"completion_time":0.004,"total_tokens":15,"total_time":0.005},"system_fingerprint":"fp_c4a72fb330","x_groq":{"id":"req_01jf"}}`)
	srv := newProxyServer(t, presetConfig("groq", up.URL+"/openai/v1"))
	client := newOpenAIClient(srv, clientKey)

	resp, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: "llama-3.3-70b-versatile",
		Messages: []openai.ChatCompletionMessageParamUnion{{OfUser: &openai.ChatCompletionUserMessageParam{
			Name:    openai.String("alice"),
			Content: openai.ChatCompletionUserMessageParamContentUnion{OfString: openai.String("hello")},
		}}},
		Logprobs: openai.Bool(false),
	})
	require.NoError(t, err)
	assert.Equal(t, "Hi Alice.", resp.Choices[0].Message.Content)
	bodies := got()
	require.Len(t, bodies, 1)
	assert.False(t, gjson.GetBytes(bodies[0], "messages.0.name").Exists())
	assert.False(t, gjson.GetBytes(bodies[0], "logprobs").Exists())

	_, err = client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model:    "llama-3.3-70b-versatile",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
		Logprobs: openai.Bool(true),
	})
	var apiErr *openai.Error
	require.True(t, errors.As(err, &apiErr), "error %T: %v", err, err)
	assert.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
	assert.Equal(t, "unsupported_parameter", apiErr.Code)
	assert.Equal(t, "logprobs", apiErr.Param)
	assert.Len(t, got(), 1, "the refused request was not sent")
}

func TestMistralStreamThroughServer(t *testing.T) {
	const head = `"id":"cmpl-e5cc70bb28c444948073e77776eb30ef","object":"chat.completion.chunk","created":1702256327,"model":"mistral-small-latest"`
	up, got := presetUpstream(t, 200,
		"data: {"+head+`,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`+"\n\n"+
			"data: {"+head+`,"choices":[{"index":0,"delta":{"content":"Bonjour"},"finish_reason":null}]}`+"\n\n"+
			"data: {"+head+`,"choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"total_tokens":10,"completion_tokens":3}}`+"\n\n"+
			"data: [DONE]\n\n")
	srv := newProxyServer(t, presetConfig("mistral", up.URL+"/v1"))
	client := newOpenAIClient(srv, clientKey)

	stream := client.Chat.Completions.NewStreaming(t.Context(), openai.ChatCompletionNewParams{
		Model:               "mistral-small-latest",
		Messages:            []openai.ChatCompletionMessageParamUnion{openai.UserMessage("salut")},
		StreamOptions:       openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		MaxCompletionTokens: openai.Int(64),
		Seed:                openai.Int(42),
	})
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	require.NoError(t, stream.Err())
	require.NoError(t, stream.Close())
	assert.Equal(t, "Bonjour", acc.Choices[0].Message.Content)
	assert.Equal(t, int64(10), acc.Usage.TotalTokens, "the usage Mistral sends unasked reaches the client that asked")

	bodies := got()
	require.Len(t, bodies, 1)
	b := bodies[0]
	assert.False(t, gjson.GetBytes(b, "stream_options").Exists())
	assert.Equal(t, int64(64), gjson.GetBytes(b, "max_tokens").Int())
	assert.Equal(t, int64(42), gjson.GetBytes(b, "random_seed").Int())
	assert.True(t, gjson.GetBytes(b, "stream").Bool())
}
