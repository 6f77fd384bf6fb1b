package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/server"
)

// failingUpstream answers every request with status and body, and counts
// them.
func failingUpstream(t *testing.T, status int, body string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// One public model, four wire formats: an alias whose first model is
// served by an OpenAI-format provider and an Azure deployment, then a
// Gemini model, then a Bedrock model. With the first three failing, the
// request fails over across all of them, invisibly, to Bedrock, and
// _proxy_info names the provider and the concrete model that answered.
func TestAliasFailsOverAcrossFormats(t *testing.T) {
	oai, oaiHits := failingUpstream(t, http.StatusInternalServerError,
		`{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}`)
	gem, gemHits := failingUpstream(t, http.StatusServiceUnavailable,
		`{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`)
	az := newAzureUpstream(t, func(azureHit) (int, string) {
		return http.StatusServiceUnavailable, `{"error":{"code":"ServiceUnavailable","message":"The service is temporarily unable to process your request."}}`
	})
	var streamed atomic.Bool
	br := newBrFake(t, func(w http.ResponseWriter, s brSeen) {
		if s.op == "converse-stream" {
			streamed.Store(true)
			brEvents(w,
				[2]string{"messageStart", `{"p":"abc","role":"assistant"}`},
				[2]string{"contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"from Bedrock"},"p":"ab"}`},
				[2]string{"contentBlockStop", `{"contentBlockIndex":0,"p":"a"}`},
				[2]string{"messageStop", `{"p":"abcd","stopReason":"end_turn"}`},
				[2]string{"metadata", `{"metrics":{"latencyMs":90},"p":"a","usage":{"inputTokens":7,"outputTokens":3,"totalTokens":10}}`},
			)
			return
		}
		brJSON(w, brAnswer(`[{"text":"from Bedrock"}]`, "end_turn", 7, 3))
	})

	const geminiModel = "gemini-2.5-flash"
	attempt := func(pc llmproxy.ProviderConfig) llmproxy.ProviderConfig {
		pc.Timeout, pc.RetryDelay = 10*time.Second, 10*time.Millisecond
		return pc
	}
	cfg := llmproxy.Config{
		APIKeys:      []string{clientKey},
		ModelAliases: map[string][]string{"smart": {"gpt-4o", geminiModel, brModel}},
		Providers: []llmproxy.ProviderConfig{
			attempt(llmproxy.ProviderConfig{Name: "openai", Type: "openai", BaseURL: oai.URL, APIKey: "sk-openai", Models: []string{"gpt-4o"}}),
			attempt(llmproxy.ProviderConfig{Name: "azure", Type: "azure", BaseURL: az.URL, APIKey: azureKey, Models: []string{"gpt-4o"},
				Deployments: map[string]string{"gpt-4o": "my-gpt4o"}, Priority: 2}),
			attempt(llmproxy.ProviderConfig{Name: "gemini", Type: "gemini", BaseURL: gem.URL, APIKey: "gemini-key", Models: []string{geminiModel}}),
			brProvider(t, br.URL, 0),
		},
	}
	ts := startServer(t, cfg, server.Options{})
	client := newOpenAIClient(ts.Server, clientKey)

	resp, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: "smart", Messages: natConversation("Who answers?"),
	})
	require.NoError(t, err)
	assert.Equal(t, "from Bedrock", resp.Choices[0].Message.Content)
	pi := getProxyInfo(t, []byte(resp.RawJSON()))
	assert.Equal(t, "bedrock", pi.Provider)
	assert.Equal(t, brModel, pi.Model, "_proxy_info names the concrete model")
	assert.Equal(t, 4, pi.AttemptNumber, "one attempt on each provider")
	assert.Equal(t, []int64{1, 1, 1}, []int64{oaiHits.Load(), int64(len(az.all())), gemHits.Load()})
	assert.Equal(t, "/openai/deployments/my-gpt4o/chat/completions", az.last(t).path, "Azure is sent its deployment")
	reqs := br.requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, brModel, reqs[0].model)

	// The same for a stream: every failure comes before the commit, so
	// the client sees one clean stream from Bedrock.
	stream := client.Chat.Completions.NewStreaming(t.Context(), openai.ChatCompletionNewParams{
		Model: "smart", Messages: natConversation("Who streams?"),
	})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	require.NoError(t, stream.Err())
	require.NoError(t, stream.Close())
	require.Len(t, acc.Choices, 1)
	assert.Equal(t, "from Bedrock", acc.Choices[0].Message.Content)
	assert.True(t, streamed.Load())
	assert.Equal(t, []int64{2, 2, 2}, []int64{oaiHits.Load(), int64(len(az.all())), gemHits.Load()})
}
