package anthropic

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

const toolClient = `{"model":"claude-sonnet-4-5","max_completion_tokens":300,
	"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Weather in SF?"}],
	"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
	"tool_choice":"required","x_vendor":1}`

func TestChatCompletion(t *testing.T) {
	up := newFakeAnthropic(t)
	up.set(func(f *fakeAnthropic) { f.messages = reply{body: answerTextAndTool} })
	p := newTestProvider(t, up.URL+"/", func(c *llmproxy.ProviderConfig) {
		c.CustomHeaders = map[string]string{"anthropic-beta": "context-1m-2025-08-07", "X-Custom": "yes"}
	})
	before := time.Now().Unix()
	resp, err := p.ChatCompletion(context.Background(), chatRequest(t, toolClient))
	require.NoError(t, err)

	got := up.last(t)
	assert.Equal(t, "POST", got.method)
	assert.Equal(t, "/v1/messages", got.path)
	assert.Equal(t, testKey, got.header.Get("X-Api-Key"))
	assert.Equal(t, "2023-06-01", got.header.Get("Anthropic-Version"))
	assert.Equal(t, "context-1m-2025-08-07", got.header.Get("Anthropic-Beta"))
	assert.Equal(t, "yes", got.header.Get("X-Custom"))
	assert.Equal(t, "application/json", got.header.Get("Content-Type"))
	assert.Empty(t, got.header.Get("Authorization"))
	assert.JSONEq(t, `{"model":"claude-sonnet-4-5","max_tokens":300,"system":[{"type":"text","text":"Be brief."}],
		"messages":[{"role":"user","content":[{"type":"text","text":"Weather in SF?"}]}],
		"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],
		"tool_choice":{"type":"any"}}`, string(got.body))

	assert.Equal(t, "msg_01XFDUDYJgAACzvnptvVoYEL", resp.ID)
	assert.Equal(t, "chat.completion", resp.Object)
	assert.GreaterOrEqual(t, resp.Created, before)
	assert.Equal(t, "claude-sonnet-4-5-20250929", resp.Model)
	require.Len(t, resp.Choices, 1)
	assert.Equal(t, "tool_calls", resp.Choices[0].FinishReason)
	assert.Equal(t, `{"city":"SF","unit":"celsius"}`, resp.Choices[0].Message.ToolCalls[0].Function.Arguments)
	assert.Equal(t, 2142, resp.Usage.TotalTokens)
}

func TestDefaultMaxTokens(t *testing.T) {
	up := newFakeAnthropic(t)
	up.set(func(f *fakeAnthropic) { f.messages = reply{body: answerText} })
	for cfgDefault, want := range map[int]string{0: `"max_tokens":4096`, 2048: `"max_tokens":2048`} {
		p := newTestProvider(t, up.URL, func(c *llmproxy.ProviderConfig) { c.DefaultMaxTokens = cfgDefault })
		_, err := p.ChatCompletion(context.Background(), chatRequest(t, `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`))
		require.NoError(t, err)
		assert.Contains(t, string(up.last(t).body), want)
	}
}

func TestDefaultBaseURLAndRegistration(t *testing.T) {
	p, err := New(llmproxy.ProviderConfig{Name: "a"})
	require.NoError(t, err)
	defer p.Close()
	assert.Equal(t, DefaultBaseURL, p.BaseURL())
	assert.Equal(t, "a", p.Name())
	assert.Contains(t, llmproxy.ProviderTypes(), "anthropic")

	for _, bad := range []string{"ftp://x", "not a url", "http://"} {
		_, err := New(llmproxy.ProviderConfig{BaseURL: bad})
		assert.Error(t, err, bad)
	}
	_, err = New(llmproxy.ProviderConfig{DefaultMaxTokens: -1})
	assert.Error(t, err)
}

func TestTheFakeUpstreamValidatesLikeTheAPI(t *testing.T) {
	up := newFakeAnthropic(t)
	up.set(func(f *fakeAnthropic) { f.messages = reply{body: answerText} })
	post := func(header map[string]string, body string) *llmproxy.Error {
		req, _ := http.NewRequest(http.MethodPost, up.URL+"/v1/messages", strings.NewReader(body))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		if resp.StatusCode == 200 {
			return nil
		}
		b := make([]byte, 4096)
		n, _ := resp.Body.Read(b)
		return (&Provider{up: llmproxy.HTTPUpstream{Name: "x"}}).statusError(resp.StatusCode, resp.Header, b[:n])
	}
	auth := map[string]string{"X-Api-Key": testKey, "Anthropic-Version": APIVersion}
	valid := `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"Hi"}]}`
	require.Nil(t, post(auth, valid))

	e := post(map[string]string{"Anthropic-Version": APIVersion}, valid)
	assert.Equal(t, 401, e.Status)
	assert.Equal(t, llmproxy.KindAuth, e.Kind)
	e = post(map[string]string{"X-Api-Key": testKey}, valid)
	assert.Equal(t, 400, e.Status)
	assert.Equal(t, "anthropic-version: header is required", e.Message)
	for body, msg := range map[string]string{
		`{"model":"m","messages":[{"role":"user","content":"Hi"}]}`:                                                                                                                                 "max_tokens: Field required",
		`{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"x"},{"role":"user","content":"Hi"}]}`:                                                                                  `messages: Unexpected role "system"`,
		`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`:                                                                                     "messages: roles must alternate",
		`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]},{"role":"user","content":"b"}]}`: "tool_use ids were found without tool_result blocks",
	} {
		e := post(auth, body)
		require.NotNil(t, e, body)
		assert.Equal(t, llmproxy.KindInvalidRequest, e.Kind, body)
		assert.Equal(t, "invalid_request_error", e.Type, body)
		assert.Contains(t, e.Message, msg, body)
	}
}

func TestCompletion(t *testing.T) {
	up := newFakeAnthropic(t)
	up.set(func(f *fakeAnthropic) { f.messages = reply{body: answerText} })
	p := newTestProvider(t, up.URL)
	req, err := llmproxy.ParseCompletionRequest([]byte(`{"model":"claude-haiku-4-5","prompt":"Say hello","max_tokens":16,"stream":true}`))
	require.NoError(t, err)
	resp, err := p.Completion(context.Background(), req)
	require.NoError(t, err)
	assert.JSONEq(t, `{"model":"claude-haiku-4-5","max_tokens":16,"messages":[{"role":"user","content":[{"type":"text","text":"Say hello"}]}]}`,
		string(up.last(t).body), "a whole answer is asked for")
	assert.Equal(t, "text_completion", resp.Object)
	assert.Equal(t, "msg_013Zva2CMHLNnXjNJJKqJ2EF", resp.ID)
	assert.Equal(t, "claude-haiku-4-5-20251001", resp.Model)
	assert.Equal(t, []llmproxy.CompletionChoice{{Index: 0, Text: "Hello! How can I help you today?", FinishReason: "stop"}}, resp.Choices)
	assert.Equal(t, 21, resp.Usage.TotalTokens)
}

func TestListModelsAndHealthCheck(t *testing.T) {
	up := newFakeAnthropic(t)
	up.set(func(f *fakeAnthropic) { f.models = []reply{{body: modelsPage1}, {body: modelsPage2}} })
	p := newTestProvider(t, up.URL)

	models, err := p.ListModels(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []llmproxy.Model{
		{ID: "claude-sonnet-4-5-20250929", Object: "model", Created: 1759104000, OwnedBy: "anthropic"},
		{ID: "claude-opus-4-1-20250805", Object: "model", Created: 1754352000, OwnedBy: "anthropic"},
		{ID: "claude-3-haiku-20240307", Object: "model", Created: 1709769600, OwnedBy: "anthropic"},
	}, models)
	assert.Equal(t, "limit=1000&after_id=page-1", up.last(t).query)

	require.NoError(t, p.HealthCheck(context.Background()))
	got := up.last(t)
	assert.Equal(t, "GET", got.method)
	assert.Equal(t, "/v1/models", got.path)
	assert.Equal(t, "limit=1", got.query)
	assert.Equal(t, testKey, got.header.Get("X-Api-Key"))

	bad := newTestProvider(t, up.URL, func(c *llmproxy.ProviderConfig) { c.APIKey = "sk-ant-revoked" })
	e := asError(t, bad.HealthCheck(context.Background()))
	assert.Equal(t, llmproxy.KindAuth, e.Kind)
	assert.Equal(t, "authentication_error", e.Type)
}

func TestListModelsStopsOnEndlessPages(t *testing.T) {
	up := newFakeAnthropic(t)
	endless := `{"data":[{"type":"model","id":"m","created_at":"not a date"}],"has_more":true,"first_id":"m","last_id":"page-0"}`
	up.set(func(f *fakeAnthropic) { f.models = []reply{{body: endless}} })
	p := newTestProvider(t, up.URL)
	models, err := p.ListModels(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []llmproxy.Model{{ID: "m", Object: "model", OwnedBy: "anthropic"}, {ID: "m", Object: "model", OwnedBy: "anthropic"}}, models,
		"a page that points back to itself ends the listing")
}

func TestChatCompletionThroughProxy(t *testing.T) {
	up := newFakeAnthropic(t)
	up.set(func(f *fakeAnthropic) { f.messages = reply{body: answerText} })
	px, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{
		{Name: "claude", Type: "anthropic", BaseURL: up.URL, APIKey: testKey, Models: []string{"claude-*"}},
	}})
	require.NoError(t, err)
	defer px.Close()
	resp, err := px.ChatCompletion(context.Background(), chatRequest(t, `{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"Hi"}]}`))
	require.NoError(t, err)
	assert.Equal(t, "claude", resp.ProxyInfo.Provider)
	assert.Equal(t, "Hello! How can I help you today?", resp.Choices[0].Message.Content.String())

	// A refused request is the client's mistake: no failover, a 400.
	_, err = px.ChatCompletion(context.Background(), chatRequest(t, `{"model":"claude-haiku-4-5","n":2,"messages":[{"role":"user","content":"Hi"}]}`))
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindInvalidRequest, e.Kind)
	assert.Equal(t, "n", e.Param)
}

func TestTransportErrors(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		up := newFakeAnthropic(t)
		base := up.URL
		up.Close()
		p := newTestProvider(t, base)
		_, err := p.ChatCompletion(context.Background(), chatRequest(t, streamClient))
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
		assert.Equal(t, "could not connect to the upstream", e.Message)
		assertNoKey(t, e)
	})
	t.Run("canceled", func(t *testing.T) {
		up := newFakeAnthropic(t)
		p := newTestProvider(t, up.URL)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := p.ChatCompletionStream(ctx, chatRequest(t, streamClient))
		assert.Equal(t, llmproxy.KindCanceled, asError(t, err).Kind)
	})
	t.Run("canceled mid-stream", func(t *testing.T) {
		release := make(chan struct{})
		up := newFakeAnthropic(t)
		up.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write([]byte(streamCut))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		defer close(release)
		p := newTestProvider(t, up.URL)
		ctx, cancel := context.WithCancel(context.Background())
		r, err := p.ChatCompletionStream(ctx, chatRequest(t, streamClient))
		require.NoError(t, err)
		defer r.Close()
		for range 2 {
			_, err := r.Next()
			require.NoError(t, err)
		}
		cancel()
		_, err = r.Next()
		assert.Equal(t, llmproxy.KindCanceled, asError(t, err).Kind)
	})
}

func TestRedirectsToOtherHostsAreRefused(t *testing.T) {
	other := newFakeAnthropic(t)
	other.set(func(f *fakeAnthropic) { f.messages = reply{body: answerText} })
	up := newFakeAnthropic(t)
	up.Config.Handler = http.RedirectHandler(other.URL+"/v1/messages", http.StatusTemporaryRedirect)
	p := newTestProvider(t, up.URL)
	_, err := p.ChatCompletion(context.Background(), chatRequest(t, streamClient))
	e := asError(t, err)
	assert.Equal(t, http.StatusTemporaryRedirect, e.Status)
	assert.Zero(t, other.count(), "the key must not be sent to another host")
}
