package openai

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// clientChat is a client's body with members the proxy does not model and
// unusual spacing: it must reach the upstream byte for byte.
const clientChat = `{ "model" : "gpt-4o-mini",
  "messages": [{"role":"user","content":"Hi"}],
  "reasoning_effort":"low",
  "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
  "x_vendor":{"a":1} }`

func TestChatCompletionForwardsRawBodyAndKeepsAnswerBytes(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"POST /v1/chat/completions": {body: openAIChat}})
	p := newTestProvider(t, "openai", up.URL+"/v1/", func(c *llmproxy.ProviderConfig) {
		c.CustomHeaders = map[string]string{"OpenAI-Organization": "org-abc", "X-Custom": "yes"}
	})
	req := chatRequest(t, clientChat)

	resp, err := p.ChatCompletion(context.Background(), req)
	require.NoError(t, err)

	got := up.last(t)
	assert.Equal(t, "POST", got.method)
	assert.Equal(t, "/v1/chat/completions", got.path)
	assert.JSONEq(t, clientChat, string(got.body), "the decoded request loses nothing")
	assert.Equal(t, "Bearer "+testKey, got.header.Get("Authorization"))
	assert.Equal(t, "application/json", got.header.Get("Content-Type"))
	assert.Equal(t, "application/json", got.header.Get("Accept"))
	assert.Equal(t, "org-abc", got.header.Get("OpenAI-Organization"))
	assert.Equal(t, "yes", got.header.Get("X-Custom"))

	assert.Equal(t, openAIChat, string(resp.Raw()), "Raw must be the upstream's bytes")
	assert.Equal(t, "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", resp.ID)
	assert.Equal(t, "fp_06737a9306", resp.SystemFingerprint)
	require.Len(t, resp.Choices, 1)
	assert.Equal(t, "Hello! How can I help you today?", resp.Choices[0].Message.Content.String())
	assert.Equal(t, "stop", resp.Choices[0].FinishReason)
	require.NotNil(t, resp.Usage)
	assert.Equal(t, 19, resp.Usage.TotalTokens)
	require.NotNil(t, resp.Usage.CompletionTokensDetails)
	assert.JSONEq(t, `0`, string(resp.Usage.CompletionTokensDetails.Extra["accepted_prediction_tokens"]))
	assert.JSONEq(t, `"default"`, string(resp.Extra["service_tier"]))
}

func TestChatCompletionRawForwardsClientBytesAndKeepsAnswerBytes(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"POST /v1/chat/completions": {body: openAIChat}})
	p := newTestProvider(t, "openai", up.URL+"/v1/")
	req, err := llmproxy.ReadChatRequest([]byte(clientChat))
	require.NoError(t, err)
	ans, err := p.(llmproxy.RawChatCompleter).ChatCompletionRaw(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, clientChat, string(up.last(t).body), "the client's bytes must be forwarded unchanged")
	assert.Equal(t, openAIChat, string(ans.Body), "the answer is the upstream's bytes")
	assert.Equal(t, &llmproxy.Usage{PromptTokens: 9, CompletionTokens: 10, TotalTokens: 19}, ans.Usage)
	assert.Equal(t, clientChat, string(req.Body), "the request is not modified")
}

func TestChatCompletionEncodesRequestsBuiltInCode(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"POST /v1/chat/completions": {body: openAIChat}})
	p := newTestProvider(t, "openai", up.URL+"/v1")
	req := &llmproxy.ChatRequest{
		Model:    "gpt-4o-mini",
		Messages: []llmproxy.Message{{Role: "user", Content: llmproxy.Text("Hi")}},
		Extra:    llmproxy.Extra{"reasoning_effort": json.RawMessage(`"low"`), "x_vendor": json.RawMessage(`{"a":1}`)},
	}
	_, err := p.ChatCompletion(context.Background(), req)
	require.NoError(t, err)
	assert.JSONEq(t, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"reasoning_effort":"low","x_vendor":{"a":1}}`,
		string(up.last(t).body))
}

func TestChatCompletionDropsStreamFlag(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"POST /v1/chat/completions": {body: openAIChat}})
	p := newTestProvider(t, "openai", up.URL+"/v1")
	body := `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}],"x_vendor":1}`
	req := chatRequest(t, body)
	_, err := p.ChatCompletion(context.Background(), req)
	require.NoError(t, err)
	assert.JSONEq(t, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"x_vendor":1}`, string(up.last(t).body))
	assert.True(t, req.Stream, "the caller's request must not be modified")

	// The raw path drops the stream members from the client's bytes.
	raw, err := llmproxy.ReadChatRequest([]byte(body))
	require.NoError(t, err)
	_, err = p.(llmproxy.RawChatCompleter).ChatCompletionRaw(context.Background(), raw)
	require.NoError(t, err)
	assert.Equal(t, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"x_vendor":1}`, string(up.last(t).body))
	assert.Equal(t, body, string(raw.Body), "the caller's bytes are not modified")
}

func TestNoAuthorizationWithoutKey(t *testing.T) {
	// A local Ollama or vLLM server configured without a key.
	up := newMockUpstream(t, map[string]reply{"POST /v1/chat/completions": {body: openAIChat}})
	p := newTestProvider(t, "openai", up.URL+"/v1", func(c *llmproxy.ProviderConfig) { c.APIKey = "" })
	_, err := p.ChatCompletion(context.Background(), chatRequest(t, clientChat))
	require.NoError(t, err)
	_, sent := up.last(t).header["Authorization"]
	assert.False(t, sent)
}

func TestPerplexityPathCitationsAndMerge(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"POST /chat/completions": {body: perplexityChat}})
	p := newTestProvider(t, "perplexity", up.URL)

	// Already alternating: the client's bytes go as they are.
	ok := `{"model":"sonar","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is Go?"}],"search_mode":"web"}`
	resp, err := p.ChatCompletion(context.Background(), chatRequest(t, ok))
	require.NoError(t, err)
	got := up.last(t)
	assert.Equal(t, "/chat/completions", got.path, "perplexity has no /v1 prefix")
	assert.JSONEq(t, ok, string(got.body))
	assert.Equal(t, perplexityChat, string(resp.Raw()))
	assert.JSONEq(t, `["https://go.dev/doc/","https://en.wikipedia.org/wiki/Go_(programming_language)"]`, string(resp.Extra["citations"]))
	assert.Contains(t, string(resp.Extra["search_results"]), `"source":"web"`)
	assert.Contains(t, string(resp.Usage.Extra["cost"]), `"request_cost":0.005`)
	out, err := json.Marshal(resp)
	require.NoError(t, err)
	assert.Contains(t, string(out), `"citations":["https://go.dev/doc/"`, "Extra members survive re-encoding")

	// Consecutive users and a late system message: merged and reordered.
	bad := `{"model":"sonar","messages":[{"role":"user","content":"Hi"},{"role":"user","content":"What is Go?"},{"role":"system","content":"Be brief."},{"role":"assistant","content":"A language."},{"role":"assistant","content":"By Google."},{"role":"user","content":"More?"}],"search_mode":"web"}`
	req := chatRequest(t, bad)
	_, err = p.ChatCompletion(context.Background(), req)
	require.NoError(t, err)
	assert.JSONEq(t, `{"model":"sonar","messages":[
		{"role":"system","content":"Be brief."},
		{"role":"user","content":"Hi\n\nWhat is Go?"},
		{"role":"assistant","content":"A language.\n\nBy Google."},
		{"role":"user","content":"More?"}],"search_mode":"web"}`, string(up.last(t).body))
	require.Len(t, req.Messages, 6, "the caller's messages are not modified")
	assert.Equal(t, "Hi", req.Messages[0].Content.String())
}

func TestBlackboxNormalisesNone(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"POST /chat/completions": {body: blackboxChat}})
	p := newTestProvider(t, "blackbox", up.URL)
	resp, err := p.ChatCompletion(context.Background(), chatRequest(t,
		`{"model":"blackboxai/openai/gpt-4","messages":[{"role":"user","content":"Hi"}]}`))
	require.NoError(t, err)
	assert.Equal(t, "/chat/completions", up.last(t).path, "blackbox has no /v1 prefix")
	assert.Equal(t, blackboxChatNormalized, string(resp.Raw()))
	assert.Empty(t, resp.SystemFingerprint)
	assert.Nil(t, resp.Choices[0].Message.ToolCalls)
	assert.Nil(t, resp.Usage.CompletionTokensDetails)
	assert.JSONEq(t, `"OpenAI"`, string(resp.Extra["provider"]))

	// A strict client (go-openai's types) decodes the bytes handed on.
	var strict struct {
		SystemFingerprint string `json:"system_fingerprint"`
		Choices           []struct {
			Message struct {
				ToolCalls    []struct{ ID string }  `json:"tool_calls"`
				FunctionCall *struct{ Name string } `json:"function_call"`
			} `json:"message"`
		} `json:"choices"`
		Usage struct {
			PromptTokensDetails *struct {
				AudioTokens int `json:"audio_tokens"`
			} `json:"prompt_tokens_details"`
			CompletionTokensDetails *struct {
				AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
			} `json:"completion_tokens_details"`
		} `json:"usage"`
	}
	require.NoError(t, json.Unmarshal(resp.Raw(), &strict))
	require.Error(t, json.Unmarshal([]byte(blackboxChat), &strict), "the raw upstream bytes would break it")
}

func TestOtherFlavorsDoNotNormaliseNone(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"POST /chat/completions": {body: blackboxChat}})
	p := newTestProvider(t, "openai", up.URL)
	resp, err := p.ChatCompletion(context.Background(), chatRequest(t, clientChat))
	require.NoError(t, err)
	assert.Equal(t, blackboxChat, string(resp.Raw()))
}

func TestDefaultBaseURLs(t *testing.T) {
	want := map[string]string{
		"openai":     "https://api.openai.com/v1",
		"perplexity": "https://api.perplexity.ai",
		"grok":       "https://api.x.ai/v1",
		"openrouter": "https://openrouter.ai/api/v1",
		"blackbox":   "https://api.blackbox.ai",
	}
	for flavor, base := range want {
		p := newTestProvider(t, flavor, "")
		assert.Equal(t, base, p.(interface{ BaseURL() string }).BaseURL(), flavor)
		assert.Equal(t, flavor, p.(interface{ Flavor() string }).Flavor())
		assert.Equal(t, "up-"+flavor, p.Name())
	}
}

func TestCapabilitiesPerFlavor(t *testing.T) {
	type caps struct{ completer, embedder, lister, checker bool }
	want := map[string]caps{
		"openai":     {true, true, true, true},
		"openrouter": {true, true, true, true},
		"grok":       {true, false, true, true},
		"perplexity": {false, false, false, false},
		"blackbox":   {false, false, false, false},
	}
	for flavor, w := range want {
		p := newTestProvider(t, flavor, "")
		_, completer := p.(llmproxy.Completer)
		_, embedder := p.(llmproxy.Embedder)
		_, lister := p.(llmproxy.ModelLister)
		_, checker := p.(llmproxy.HealthChecker)
		_, closer := p.(llmproxy.Closer)
		assert.Equal(t, w, caps{completer, embedder, lister, checker}, flavor)
		assert.True(t, closer, flavor)
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	_, err := New(llmproxy.ProviderConfig{Name: "x"}, "anthropic")
	assert.ErrorContains(t, err, `unknown flavor "anthropic"`)
	_, err = New(llmproxy.ProviderConfig{Name: "x", BaseURL: "localhost:11434/v1"}, "openai")
	assert.ErrorContains(t, err, "absolute http:// or https:// URL")
}

func TestRegisteredTypes(t *testing.T) {
	types := llmproxy.ProviderTypes()
	for _, typ := range []string{"openai", "perplexity", "grok", "blackbox", "openrouter"} {
		assert.Contains(t, types, typ)
	}
}

func TestThroughProxy(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"POST /api/v1/chat/completions": {body: openAIChat}})
	px, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{{
		Name: "or", Type: "openrouter", BaseURL: up.URL + "/api/v1", APIKey: testKey,
		CustomHeaders: map[string]string{"HTTP-Referer": "https://app.example", "X-Title": "My App"},
	}}})
	require.NoError(t, err)
	defer px.Close()
	resp, err := px.ChatCompletion(context.Background(), chatRequest(t, clientChat))
	require.NoError(t, err)
	assert.Equal(t, "or", resp.ProxyInfo.Provider)
	got := up.last(t)
	assert.JSONEq(t, clientChat, string(got.body))
	assert.Equal(t, "https://app.example", got.header.Get("HTTP-Referer"))
	assert.Equal(t, "My App", got.header.Get("X-Title"))
}

func TestCompletion(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"POST /v1/completions": {body: openAICompletion}})
	p := newTestProvider(t, "grok", up.URL+"/v1")
	body := `{"model":"gpt-3.5-turbo-instruct","prompt":"Say this is a test","max_tokens":7,"echo":false}`
	req, err := llmproxy.ParseCompletionRequest([]byte(body))
	require.NoError(t, err)
	resp, err := p.(llmproxy.Completer).Completion(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, body, string(up.last(t).body))
	assert.Equal(t, openAICompletion, string(resp.Raw()))
	assert.Equal(t, "\n\nThis is indeed a test", resp.Choices[0].Text)
	assert.Equal(t, "length", resp.Choices[0].FinishReason)
}

func TestEmbeddingsFloatAndBase64(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"POST /v1/embeddings": {body: openAIEmbeddingsFloat}})
	p := newTestProvider(t, "openai", up.URL+"/v1")
	body := `{"input":"The food was delicious","model":"text-embedding-3-small","encoding_format":"float"}`
	req, err := llmproxy.ParseEmbeddingRequest([]byte(body))
	require.NoError(t, err)
	resp, err := p.(llmproxy.Embedder).Embeddings(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, body, string(up.last(t).body))
	assert.Equal(t, openAIEmbeddingsFloat, string(resp.Raw()))
	require.Len(t, resp.Data, 1)
	assert.Equal(t, []float32{0.0023064255, -0.009327292, 0.015797347}, resp.Data[0].Vector)
	assert.Equal(t, 8, resp.Usage.PromptTokens)

	up64 := newMockUpstream(t, map[string]reply{"POST /api/v1/embeddings": {body: openAIEmbeddingsBase64}})
	p64 := newTestProvider(t, "openrouter", up64.URL+"/api/v1")
	req64 := &llmproxy.EmbeddingRequest{Model: "text-embedding-3-small", Input: json.RawMessage(`["a"]`), EncodingFormat: "base64"}
	resp, err = p64.(llmproxy.Embedder).Embeddings(context.Background(), req64)
	require.NoError(t, err)
	assert.JSONEq(t, `{"model":"text-embedding-3-small","input":["a"],"encoding_format":"base64"}`, string(up64.last(t).body))
	require.Len(t, resp.Data, 1)
	assert.Equal(t, "AADAPwAAAMAAAIA+", resp.Data[0].Base64)
	require.NoError(t, resp.Data[0].DecodeBase64())
	assert.Equal(t, []float32{1.5, -2, 0.25}, resp.Data[0].Vector)
}

func TestListModels(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"GET /v1/models": {body: openAIModels}})
	p := newTestProvider(t, "openai", up.URL+"/v1")
	models, err := p.(llmproxy.ModelLister).ListModels(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []llmproxy.Model{
		{ID: "gpt-4o-mini", Object: "model", Created: 1721172741, OwnedBy: "system"},
		{ID: "text-embedding-3-small", Object: "model", Created: 1705948997, OwnedBy: "system"},
	}, models)
	got := up.last(t)
	assert.Equal(t, "GET", got.method)
	assert.Equal(t, "Bearer "+testKey, got.header.Get("Authorization"))
	assert.Empty(t, got.header.Get("Content-Type"), "a GET has no body to describe")

	or := newMockUpstream(t, map[string]reply{"GET /api/v1/models": {body: openRouterModels}})
	p = newTestProvider(t, "openrouter", or.URL+"/api/v1")
	models, err = p.(llmproxy.ModelLister).ListModels(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []llmproxy.Model{
		{ID: "anthropic/claude-sonnet-4.5", Object: "model", Created: 1759161676, OwnedBy: "up-openrouter"},
		{ID: "openai/gpt-4o", Object: "model", Created: 1715367049, OwnedBy: "up-openrouter"},
	}, models)
}

func TestHealthChecks(t *testing.T) {
	cases := []struct {
		flavor, base, route, body string
		status                    int
		kind                      llmproxy.ErrorKind // meaningful when wantErr
		wantErr                   bool
	}{
		{flavor: "openai", base: "/v1", route: "GET /v1/models", body: openAIModels},
		{flavor: "openai", base: "/v1", route: "GET /v1/models", body: openAIBadKey, status: 401, kind: llmproxy.KindAuth, wantErr: true},
		{flavor: "grok", base: "/v1", route: "GET /v1/api-key", body: xaiAPIKey},
		{flavor: "grok", base: "/v1", route: "GET /v1/api-key", body: xaiAPIKeyBlocked, kind: llmproxy.KindAuth, wantErr: true},
		{flavor: "grok", base: "/v1", route: "GET /v1/api-key", body: xaiBadKey, status: 400, kind: llmproxy.KindAuth, wantErr: true},
		{flavor: "openrouter", base: "/api/v1", route: "GET /api/v1/key", body: openRouterKey},
		{flavor: "openrouter", base: "/api/v1", route: "GET /api/v1/key", body: openRouterKeyOut, kind: llmproxy.KindQuotaExceeded, wantErr: true},
		{flavor: "openrouter", base: "/api/v1", route: "GET /api/v1/key", body: cloudflare502, status: 502, kind: llmproxy.KindUnavailable, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.flavor+" "+c.body[:min(20, len(c.body))], func(t *testing.T) {
			up := newMockUpstream(t, map[string]reply{c.route: {status: c.status, body: c.body}})
			p := newTestProvider(t, c.flavor, up.URL+c.base)
			err := p.(llmproxy.HealthChecker).HealthCheck(context.Background())
			assert.Equal(t, c.route, up.last(t).method+" "+up.last(t).path)
			assert.Equal(t, "Bearer "+testKey, up.last(t).header.Get("Authorization"))
			if !c.wantErr {
				assert.NoError(t, err)
				return
			}
			e := asError(t, err)
			assert.Equal(t, c.kind, e.Kind)
			assert.NotContains(t, e.Error(), testKey)
		})
	}
}

func TestTransportErrors(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		up := newMockUpstream(t, nil)
		base := up.URL
		up.Close()
		p := newTestProvider(t, "openai", base)
		_, err := p.ChatCompletion(context.Background(), chatRequest(t, clientChat))
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
		assert.Equal(t, "up-openai", e.Provider)
		assert.Equal(t, "could not connect to the upstream", e.Message)
	})
	t.Run("canceled", func(t *testing.T) {
		up := newMockUpstream(t, nil)
		p := newTestProvider(t, "openai", up.URL)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := p.ChatCompletion(ctx, chatRequest(t, clientChat))
		assert.Equal(t, llmproxy.KindCanceled, asError(t, err).Kind)
	})
	t.Run("deadline", func(t *testing.T) {
		release := make(chan struct{})
		srv := newBlockingServer(t, release)
		p := newTestProvider(t, "openai", srv)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := p.ChatCompletion(ctx, chatRequest(t, clientChat))
		close(release)
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindTimeout, e.Kind)
		assert.NotContains(t, e.Error(), testKey)
	})
}

// newBlockingServer returns the URL of a server whose handler waits until
// the request ends or release is closed.
func newBlockingServer(t *testing.T, release chan struct{}) string {
	t.Helper()
	up := newMockUpstream(t, nil)
	up.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	return up.URL
}

func TestRedirectsToOtherHostsAreRefused(t *testing.T) {
	other := newMockUpstream(t, map[string]reply{"POST /v1/chat/completions": {body: openAIChat}})
	up := newMockUpstream(t, map[string]reply{
		"POST /v1/chat/completions": {status: http.StatusTemporaryRedirect,
			header: map[string]string{"Location": other.URL + "/v1/chat/completions"}},
		"POST /old/chat/completions": {status: http.StatusPermanentRedirect,
			header: map[string]string{"Location": "/v1/chat/completions"}},
	})

	p := newTestProvider(t, "openai", up.URL+"/v1")
	_, err := p.ChatCompletion(context.Background(), chatRequest(t, clientChat))
	e := asError(t, err)
	assert.Equal(t, http.StatusTemporaryRedirect, e.Status)
	assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
	assert.Zero(t, other.count(), "the key must not be sent to another host")
	assert.Equal(t, 1, up.count(), "a request is sent once, even when the answer is a redirect")

	// A same-host redirect is followed, body and key included.
	p = newTestProvider(t, "openai", up.URL+"/old")
	_, err = p.ChatCompletion(context.Background(), chatRequest(t, clientChat))
	e = asError(t, err) // it lands on the cross-host redirect above
	assert.Equal(t, http.StatusTemporaryRedirect, e.Status)
	assert.JSONEq(t, clientChat, string(up.last(t).body))
	assert.Equal(t, "/v1/chat/completions", up.last(t).path)
	assert.Equal(t, 3, up.count(), "the redirected request is sent once, then once to where it points")
}
