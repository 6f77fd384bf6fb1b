package openai

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/llmproxy/llmproxy"
)

// loadConfig writes yaml to a config file and loads it with env as the
// environment.
func loadConfig(t *testing.T, yaml string, env map[string]string) (llmproxy.Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	return llmproxy.LoadConfigEnv(path, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
}

// readRaw parses a client body for the raw path, as the server does.
func readRaw(t *testing.T, body string) *llmproxy.RawChatRequest {
	t.Helper()
	req, err := llmproxy.ReadChatRequest([]byte(body))
	require.NoError(t, err)
	return req
}

// drainRaw reads a raw stream to its end and returns its chunks' bytes and
// the last usage seen.
func drainRaw(t *testing.T, r llmproxy.ChunkReader[*llmproxy.RawChunk]) ([]string, *llmproxy.Usage) {
	t.Helper()
	defer r.Close()
	var out []string
	var usage *llmproxy.Usage
	for {
		c, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, usage
		}
		require.NoError(t, err)
		out = append(out, string(c.Data))
		if c.Usage != nil {
			usage = c.Usage
		}
	}
}

const (
	// okAnswer is a plain OpenAI chat answer.
	okAnswer = `{"id":"chatcmpl-1","object":"chat.completion","created":1741569952,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`
	// okStream is a plain OpenAI chat stream whose last chunk carries the
	// usage with the finish reason, as Mistral and Fireworks send it.
	okStream = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n" +
		"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n" +
		"data: [DONE]\n\n"
)

func TestPresetDefaults(t *testing.T) {
	for _, tc := range []struct {
		typ, base string
		keyEnv    []string
	}{
		{"mistral", "https://api.mistral.ai/v1", []string{"MISTRAL_API_KEY", "PROXY_API_MISTRAL_API_KEY"}},
		{"groq", "https://api.groq.com/openai/v1", []string{"GROQ_API_KEY", "PROXY_API_GROQ_API_KEY"}},
		{"deepseek", "https://api.deepseek.com", []string{"DEEPSEEK_API_KEY", "PROXY_API_DEEPSEEK_API_KEY"}},
		{"together", "https://api.together.xyz/v1", []string{"TOGETHER_API_KEY", "PROXY_API_TOGETHER_API_KEY"}},
		{"fireworks", "https://api.fireworks.ai/inference/v1", []string{"FIREWORKS_API_KEY", "PROXY_API_FIREWORKS_API_KEY"}},
		{"ollama", "http://localhost:11434/v1", nil},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			yaml := "providers:\n  - name: p\n    type: " + tc.typ + "\n"
			env := map[string]string{}
			if len(tc.keyEnv) > 0 {
				env[tc.keyEnv[0]] = "vendor-key"
			}
			cfg, err := loadConfig(t, yaml, env)
			require.NoError(t, err)
			pc := cfg.Providers[0]
			assert.Equal(t, llmproxy.EnvNames(tc.keyEnv), pc.APIKeyEnv)
			if len(tc.keyEnv) > 0 {
				assert.Equal(t, "vendor-key", pc.APIKey.Reveal(), "the preset's own key variable is read")
			}

			p, err := New(pc, tc.typ)
			require.NoError(t, err)
			defer p.(llmproxy.Closer).Close()
			assert.Equal(t, tc.base, p.(interface{ BaseURL() string }).BaseURL())

			// Without its key a keyed preset is disabled; ollama is not.
			cfg, err = loadConfig(t, yaml, nil)
			require.NoError(t, err)
			proxy, err := llmproxy.New(cfg)
			require.NoError(t, err)
			defer proxy.Close()
			assert.Equal(t, len(tc.keyEnv) == 0, proxy.Providers()[0].Active)
		})
	}
}

func TestLocalPresetsRequireBaseURL(t *testing.T) {
	for _, typ := range []string{"vllm", "lmstudio", "azure"} {
		t.Run(typ, func(t *testing.T) {
			_, err := loadConfig(t, "providers:\n  - name: local\n    type: "+typ+"\n", nil)
			require.Error(t, err)
			var ce *llmproxy.ConfigError
			require.True(t, errors.As(err, &ce), "%v", err)
			assert.Contains(t, err.Error(), "providers[0].base_url: is required for type \""+typ+"\"")

			_, err = New(llmproxy.ProviderConfig{Name: "local", Type: typ}, typ)
			assert.ErrorContains(t, err, "needs a base_url")

			cfg, err := loadConfig(t, "providers:\n  - name: local\n    type: "+typ+"\n    base_url: http://127.0.0.1:8000/v1\n", nil)
			require.NoError(t, err)
			if typ == "azure" {
				assert.Equal(t, llmproxy.EnvNames{"AZURE_OPENAI_API_KEY", "PROXY_API_AZURE_API_KEY"}, cfg.Providers[0].APIKeyEnv)
			} else {
				assert.Empty(t, cfg.Providers[0].APIKeyEnv, "a local server needs no key")
			}
		})
	}
}

func TestOllamaSendsNoKey(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"POST /v1/chat/completions": {body: okAnswer}})
	cfg, err := loadConfig(t, "providers:\n  - name: local\n    type: ollama\n    base_url: "+up.URL+"/v1\n", nil)
	require.NoError(t, err)
	proxy, err := llmproxy.New(cfg)
	require.NoError(t, err)
	defer proxy.Close()
	resp, err := proxy.ChatCompletion(t.Context(), chatRequest(t, `{"model":"llama3.2","messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	assert.Equal(t, "Hi", resp.Choices[0].Message.Content.String())
	assert.Empty(t, up.last(t).header.Get("Authorization"))
}

func TestMistralQuirks(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"POST /v1/chat/completions": {body: okAnswer}})
	p := newTestProvider(t, "mistral", up.URL+"/v1")
	const client = `{"model":"mistral-large-latest","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":100,"seed":7,"stream_options":{"include_usage":true},"safe_prompt":true}`
	check := func(t *testing.T, body []byte) {
		t.Helper()
		assert.False(t, gjson.GetBytes(body, "stream_options").Exists(), "stream_options: 422 extra_forbidden on Mistral")
		assert.False(t, gjson.GetBytes(body, "max_completion_tokens").Exists())
		assert.False(t, gjson.GetBytes(body, "seed").Exists())
		assert.Equal(t, int64(100), gjson.GetBytes(body, "max_tokens").Int())
		assert.Equal(t, int64(7), gjson.GetBytes(body, "random_seed").Int())
		assert.True(t, gjson.GetBytes(body, "safe_prompt").Bool(), "Mistral's own members pass through")
	}

	t.Run("raw", func(t *testing.T) {
		_, err := p.(llmproxy.RawChatCompleter).ChatCompletionRaw(t.Context(), readRaw(t, client))
		require.NoError(t, err)
		check(t, up.last(t).body)
	})
	t.Run("decoded", func(t *testing.T) {
		_, err := p.ChatCompletion(t.Context(), chatRequest(t, client))
		require.NoError(t, err)
		check(t, up.last(t).body)
	})
	t.Run("stream", func(t *testing.T) {
		sup := newMockUpstream(t, map[string]reply{"POST /v1/chat/completions": {header: map[string]string{"Content-Type": "text/event-stream"}, body: okStream}})
		sp := newTestProvider(t, "mistral", sup.URL+"/v1")
		r, err := sp.(llmproxy.RawChatStreamer).ChatCompletionStreamRaw(t.Context(), readRaw(t, strings.Replace(client, `"seed"`, `"stream":true,"seed"`, 1)))
		require.NoError(t, err)
		chunks, usage := drainRaw(t, r)
		assert.Len(t, chunks, 2)
		require.NotNil(t, usage, "Mistral's usage comes on the last chunk unasked")
		assert.Equal(t, 4, usage.TotalTokens)
		check(t, sup.last(t).body)
		assert.True(t, gjson.GetBytes(sup.last(t).body, "stream").Bool())
	})
	t.Run("the vendor's own name wins", func(t *testing.T) {
		_, err := p.(llmproxy.RawChatCompleter).ChatCompletionRaw(t.Context(),
			readRaw(t, `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"max_completion_tokens":100}`))
		require.NoError(t, err)
		body := up.last(t).body
		assert.Equal(t, int64(5), gjson.GetBytes(body, "max_tokens").Int())
		assert.False(t, gjson.GetBytes(body, "max_completion_tokens").Exists())
	})
	t.Run("a body without those members goes as it came", func(t *testing.T) {
		const plain = `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`
		_, err := p.(llmproxy.RawChatCompleter).ChatCompletionRaw(t.Context(), readRaw(t, plain))
		require.NoError(t, err)
		assert.Equal(t, plain, string(up.last(t).body))
	})
}

func TestGroqQuirks(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"POST /openai/v1/chat/completions": {body: okAnswer}})
	p := newTestProvider(t, "groq", up.URL+"/openai/v1")

	t.Run("members that ask for nothing are dropped", func(t *testing.T) {
		const client = `{"model":"llama-3.3-70b-versatile","messages":[{"role":"system","content":"be brief","name":"rules"},{"role":"user","content":"hi","name":"alice"}],"logprobs":false,"n":1,"logit_bias":{},"top_logprobs":null,"temperature":0.2}`
		for _, send := range []func() error{
			func() error {
				_, err := p.(llmproxy.RawChatCompleter).ChatCompletionRaw(t.Context(), readRaw(t, client))
				return err
			},
			func() error { _, err := p.ChatCompletion(t.Context(), chatRequest(t, client)); return err },
		} {
			require.NoError(t, send())
			body := up.last(t).body
			for _, m := range []string{"logprobs", "n", "logit_bias", "top_logprobs", "messages.0.name", "messages.1.name"} {
				assert.False(t, gjson.GetBytes(body, m).Exists(), "%s reached Groq, which answers 400 to it", m)
			}
			assert.Equal(t, "hi", gjson.GetBytes(body, "messages.1.content").Str)
			assert.InDelta(t, 0.2, gjson.GetBytes(body, "temperature").Float(), 1e-9)
		}
	})

	t.Run("what Groq cannot do is refused without a round trip", func(t *testing.T) {
		before := up.count()
		for member, client := range map[string]string{
			"logprobs":     `{"model":"m","messages":[{"role":"user","content":"hi"}],"logprobs":true}`,
			"n":            `{"model":"m","messages":[{"role":"user","content":"hi"}],"n":3}`,
			"logit_bias":   `{"model":"m","messages":[{"role":"user","content":"hi"}],"logit_bias":{"1234":-100}}`,
			"top_logprobs": `{"model":"m","messages":[{"role":"user","content":"hi"}],"top_logprobs":2}`,
		} {
			_, err := p.(llmproxy.RawChatCompleter).ChatCompletionRaw(t.Context(), readRaw(t, client))
			e := asError(t, err)
			assert.Equal(t, llmproxy.KindInvalidRequest, e.Kind, member)
			assert.Equal(t, member, e.Param)
			assert.Equal(t, "unsupported_parameter", e.Code)
			assert.Contains(t, e.Message, "groq does not support `"+member+"`")

			_, err = p.(llmproxy.ChatStreamer).ChatCompletionStream(t.Context(), chatRequest(t, client))
			assert.Equal(t, llmproxy.KindInvalidRequest, asError(t, err).Kind, member)
		}
		assert.Equal(t, before, up.count(), "nothing was sent")
	})
}

func TestDeepSeekQuirks(t *testing.T) {
	// DeepSeek keeps a request open under load with blank lines before a
	// whole answer and ": keep-alive" comments in a stream
	// (https://api-docs.deepseek.com/quick_start/rate_limit).
	const reasoning = `{"id":"r1","object":"chat.completion","created":1,"model":"deepseek-reasoner","choices":[{"index":0,"message":{"role":"assistant","content":"9.11 < 9.8","reasoning_content":"Compare the tenths."},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30,"completion_tokens_details":{"reasoning_tokens":12}}}`
	up := newMockUpstream(t, map[string]reply{
		"POST /chat/completions": {body: "\n\n\n" + reasoning},
		"GET /user/balance":      {body: `{"is_available":true,"balance_infos":[{"currency":"CNY","total_balance":"110.00","granted_balance":"10.00","topped_up_balance":"100.00"}]}`},
	})
	p := newTestProvider(t, "deepseek", up.URL)
	// A tool-call turn of thinking mode sends reasoning_content back.
	const client = `{"model":"deepseek-reasoner","messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":"","reasoning_content":"I need the tool.","tool_calls":[{"id":"call_0","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_0","content":"sunny"}]}`

	t.Run("blank lines before the answer; reasoning_content both ways", func(t *testing.T) {
		ans, err := p.(llmproxy.RawChatCompleter).ChatCompletionRaw(t.Context(), readRaw(t, client))
		require.NoError(t, err)
		assert.Equal(t, "Compare the tenths.", gjson.GetBytes(ans.Body, "choices.0.message.reasoning_content").Str)
		assert.Equal(t, 30, ans.Usage.TotalTokens)
		assert.Equal(t, client, string(up.last(t).body), "the request goes as it came, reasoning_content included")

		resp, err := p.ChatCompletion(t.Context(), chatRequest(t, client))
		require.NoError(t, err)
		assert.Equal(t, "9.11 < 9.8", resp.Choices[0].Message.Content.String())
		assert.Equal(t, "I need the tool.", gjson.GetBytes(up.last(t).body, "messages.1.reasoning_content").Str)
	})

	t.Run("keep-alive comments in a stream", func(t *testing.T) {
		sup := newMockUpstream(t, map[string]reply{"POST /chat/completions": {header: map[string]string{"Content-Type": "text/event-stream"},
			body: ": keep-alive\n\n: keep-alive\n\n" + strings.Replace(okStream, "data: {", ": keep-alive\n\ndata: {", 1)}})
		sp := newTestProvider(t, "deepseek", sup.URL)
		r, err := sp.(llmproxy.RawChatStreamer).ChatCompletionStreamRaw(t.Context(), readRaw(t, `{"model":"deepseek-chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
		require.NoError(t, err)
		chunks, usage := drainRaw(t, r)
		assert.Len(t, chunks, 2)
		require.NotNil(t, usage)
		assert.True(t, gjson.GetBytes(sup.last(t).body, "stream_options.include_usage").Bool())
	})

	t.Run("health check reads the balance", func(t *testing.T) {
		require.NoError(t, p.(llmproxy.HealthChecker).HealthCheck(t.Context()))
		assert.Equal(t, "/user/balance", up.last(t).path)
		assert.Equal(t, "Bearer "+testKey, up.last(t).header.Get("Authorization"))

		broke := newMockUpstream(t, map[string]reply{"GET /user/balance": {body: `{"is_available":false,"balance_infos":[]}`}})
		err := newTestProvider(t, "deepseek", broke.URL).(llmproxy.HealthChecker).HealthCheck(t.Context())
		assert.Equal(t, llmproxy.KindQuotaExceeded, asError(t, err).Kind)
	})

	t.Run("no completions or embeddings", func(t *testing.T) {
		_, completer := p.(llmproxy.Completer)
		_, embedder := p.(llmproxy.Embedder)
		assert.False(t, completer || embedder)
	})
}

func TestTogetherListsABareArray(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"GET /v1/models": {body: `[{"id":"meta-llama/Llama-3.3-70B-Instruct-Turbo","object":"model","created":1733961600,"type":"chat","display_name":"Llama 3.3 70B","organization":"Meta","context_length":131072},{"id":"BAAI/bge-large-en-v1.5","object":"model","created":0,"type":"embedding"}]`}})
	models, err := newTestProvider(t, "together", up.URL+"/v1").(llmproxy.ModelLister).ListModels(t.Context())
	require.NoError(t, err)
	require.Len(t, models, 2)
	assert.Equal(t, "meta-llama/Llama-3.3-70B-Instruct-Turbo", models[0].ID)
	assert.Equal(t, "up-together", models[1].OwnedBy)
}

func TestFireworksStreamUsageUnasked(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"POST /inference/v1/chat/completions": {header: map[string]string{"Content-Type": "text/event-stream"}, body: okStream}})
	p := newTestProvider(t, "fireworks", up.URL+"/inference/v1")
	r, err := p.(llmproxy.RawChatStreamer).ChatCompletionStreamRaw(t.Context(),
		readRaw(t, `{"model":"accounts/fireworks/models/llama-v3p1-8b-instruct","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	_, usage := drainRaw(t, r)
	require.NotNil(t, usage)
	assert.Equal(t, 4, usage.TotalTokens)
	assert.False(t, gjson.GetBytes(up.last(t).body, "stream_options").Exists(), "nothing is asked of Fireworks it does not need")
}

func TestLMStudioJSONObject(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{"POST /v1/chat/completions": {body: okAnswer}})
	p := newTestProvider(t, "lmstudio", up.URL+"/v1")

	_, err := p.(llmproxy.RawChatCompleter).ChatCompletionRaw(t.Context(),
		readRaw(t, `{"model":"qwen2.5-7b-instruct","messages":[{"role":"user","content":"json please"}],"response_format":{"type":"json_object"}}`))
	require.NoError(t, err)
	rf := gjson.GetBytes(up.last(t).body, "response_format")
	assert.Equal(t, "json_schema", rf.Get("type").Str)
	assert.JSONEq(t, `{"type":"object"}`, rf.Get("json_schema.schema").Raw)

	const schema = `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"a","schema":{"type":"object","properties":{"n":{"type":"integer"}}}}}}`
	_, err = p.ChatCompletion(t.Context(), chatRequest(t, schema))
	require.NoError(t, err)
	assert.JSONEq(t, schema, string(up.last(t).body), "a JSON schema goes as it came")
}

func TestAzureHealthCheckAndDeploymentNames(t *testing.T) {
	up := newMockUpstream(t, map[string]reply{
		"GET /openai/models": {body: `{"data":[{"id":"gpt-4o-2024-08-06","object":"model","status":"succeeded"}],"object":"list"}`},
		"POST /openai/deployments/my-gpt4o/chat/completions": {body: okAnswer},
	})
	p := newTestProvider(t, "azure", up.URL, func(c *llmproxy.ProviderConfig) {
		// A config file's map keys arrive lower-cased.
		c.Deployments = map[string]string{"gpt-4o": "my-gpt4o"}
	})
	require.NoError(t, p.(llmproxy.HealthChecker).HealthCheck(t.Context()))
	h := up.last(t)
	assert.Equal(t, "/openai/models", h.path)
	assert.Equal(t, testKey, h.header.Get("api-key"))

	_, err := p.ChatCompletion(t.Context(), chatRequest(t, `{"model":"GPT-4o","messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err, "model names match the deployments case-insensitively")

	bad := newMockUpstream(t, map[string]reply{"GET /openai/v1/models": {status: 401, body: `{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}`}})
	err = newTestProvider(t, "azure", bad.URL).(llmproxy.HealthChecker).HealthCheck(t.Context())
	assert.Equal(t, llmproxy.KindAuth, asError(t, err).Kind)
	assert.Equal(t, "/openai/v1/models", bad.last(t).path, "without deployments: the v1 API")
}

func TestAzureConfigValidation(t *testing.T) {
	for _, tc := range []struct{ yaml, problem string }{
		{"    api_version: 2024/10/21\n", `providers[0].api_version: must be a dated version`},
		{"    azure_auth: entra\n", `providers[0].azure_auth: must be "api-key" or "bearer", got "entra"`},
		{"    deployments: {gpt-4o: \"../admin\"}\n", `providers[0].deployments.gpt-4o: must be a deployment name`},
	} {
		_, err := loadConfig(t, "providers:\n  - name: az\n    type: azure\n    base_url: https://res.openai.azure.com\n"+tc.yaml, nil)
		assert.ErrorContains(t, err, tc.problem)
	}
	_, err := loadConfig(t, "providers:\n  - name: o\n    type: openai\n    deployments: {gpt-4o: d}\n    azure_auth: bearer\n", nil)
	assert.ErrorContains(t, err, "providers[0].deployments: is only used by type azure")
	assert.ErrorContains(t, err, "providers[0].azure_auth: is only used by type azure")

	cfg, err := loadConfig(t, "providers:\n  - name: az\n    type: azure\n    base_url: https://res.openai.azure.com\n    api_version: 2025-04-01-preview\n    azure_auth: bearer\n    deployments: {GPT-4o: Prod.GPT4o_1}\n", map[string]string{"AZURE_OPENAI_API_KEY": "k"})
	require.NoError(t, err)
	require.Len(t, cfg.Providers[0].Deployments, 1)
	for m, d := range cfg.Providers[0].Deployments {
		// viper lower-cases the keys; the provider matches either way.
		assert.True(t, strings.EqualFold("GPT-4o", m), m)
		assert.Equal(t, "Prod.GPT4o_1", d, "deployment names keep their case")
	}
}

func TestMistralModelLengthIsLength(t *testing.T) {
	answer := strings.Replace(okAnswer, `"finish_reason":"stop"`, `"finish_reason":"model_length"`, 1)
	stream := strings.Replace(okStream, `"finish_reason":"stop"`, `"finish_reason":"model_length"`, 1)
	up := newMockUpstream(t, map[string]reply{"POST /v1/chat/completions": {body: answer}})
	p := newTestProvider(t, "mistral", up.URL+"/v1")
	ans, err := p.(llmproxy.RawChatCompleter).ChatCompletionRaw(t.Context(), readRaw(t, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	assert.Equal(t, "length", gjson.GetBytes(ans.Body, "choices.0.finish_reason").Str)
	assert.Equal(t, "Hi", gjson.GetBytes(ans.Body, "choices.0.message.content").Str)

	sup := newMockUpstream(t, map[string]reply{"POST /v1/chat/completions": {header: map[string]string{"Content-Type": "text/event-stream"}, body: stream}})
	sp := newTestProvider(t, "mistral", sup.URL+"/v1")
	r, err := sp.(llmproxy.RawChatStreamer).ChatCompletionStreamRaw(t.Context(), readRaw(t, `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	chunks, _ := drainRaw(t, r)
	require.Len(t, chunks, 2)
	assert.Equal(t, "length", gjson.Get(chunks[1], "choices.0.finish_reason").Str)
}

func TestAzureErrorKinds(t *testing.T) {
	// Azure's error bodies (OpenAI's envelope, codes as strings).
	for _, tc := range []struct {
		status int
		header map[string]string
		body   string
		kind   llmproxy.ErrorKind
	}{
		{401, nil, `{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}`, llmproxy.KindAuth},
		{404, nil, `{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."}}`, llmproxy.KindNotFound},
		{429, map[string]string{"retry-after": "6", "retry-after-ms": "5412"}, `{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds."}}`, llmproxy.KindRateLimited},
		{400, nil, `{"error":{"message":"Invalid value for 'temperature': must be between 0 and 2.","type":"invalid_request_error","param":"temperature","code":null}}`, llmproxy.KindInvalidRequest},
		{500, nil, `{"error":{"code":"InternalServerError","message":"The service encountered an internal error."}}`, llmproxy.KindUnavailable},
	} {
		up := newMockUpstream(t, map[string]reply{"POST /openai/v1/chat/completions": {status: tc.status, header: tc.header, body: tc.body}})
		_, err := newTestProvider(t, "azure", up.URL).ChatCompletion(t.Context(), chatRequest(t, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`))
		e := asError(t, err)
		assert.Equal(t, tc.kind, e.Kind, "%d", tc.status)
		assert.NotContains(t, e.Message, "content filter")
		if tc.status == 429 {
			assert.Equal(t, 5412*time.Millisecond, e.RetryAfter, "retry-after-ms wins")
		}
	}
}

func TestDeepSeekInsufficientResourceIsUnavailable(t *testing.T) {
	cut := strings.Replace(okAnswer, `"finish_reason":"stop"`, `"finish_reason":"insufficient_system_resource"`, 1)
	up := newMockUpstream(t, map[string]reply{"POST /chat/completions": {body: cut}})
	p := newTestProvider(t, "deepseek", up.URL)
	_, err := p.(llmproxy.RawChatCompleter).ChatCompletionRaw(t.Context(), readRaw(t, `{"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}]}`))
	e := asError(t, err)
	assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
	assert.Equal(t, "up-deepseek", e.Provider)
	assert.Contains(t, e.Message, "insufficient_system_resource")

	stream := strings.Replace(okStream, `"finish_reason":"stop"`, `"finish_reason":"insufficient_system_resource"`, 1)
	sup := newMockUpstream(t, map[string]reply{"POST /chat/completions": {header: map[string]string{"Content-Type": "text/event-stream"}, body: stream}})
	r, err := newTestProvider(t, "deepseek", sup.URL).(llmproxy.RawChatStreamer).ChatCompletionStreamRaw(t.Context(),
		readRaw(t, `{"model":"deepseek-chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	defer r.Close()
	c, err := r.Next()
	require.NoError(t, err)
	assert.Contains(t, string(c.Data), `"content":"Hi"`)
	_, err = r.Next()
	assert.Equal(t, llmproxy.KindUnavailable, asError(t, err).Kind, "the cut stream ends with an error, not as a whole answer")

	// A whole answer that merely mentions the words is not touched.
	ok := strings.Replace(okAnswer, `"content":"Hi"`, `"content":"\"insufficient_system_resource\" is a finish reason"`, 1)
	wup := newMockUpstream(t, map[string]reply{"POST /chat/completions": {body: ok}})
	_, err = newTestProvider(t, "deepseek", wup.URL).ChatCompletion(t.Context(), chatRequest(t, `{"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
}

func TestAzureStreamDecoded(t *testing.T) {
	// Azure opens a stream with a chunk that has only prompt_filter_results.
	const stream = "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{\"hate\":{\"filtered\":false,\"severity\":\"safe\"}}}]}\n\n" + okStream
	up := newMockUpstream(t, map[string]reply{"POST /openai/deployments/d1/chat/completions": {header: map[string]string{"Content-Type": "text/event-stream"}, body: stream}})
	p := newTestProvider(t, "azure", up.URL, func(c *llmproxy.ProviderConfig) { c.Deployments = map[string]string{"gpt-4o": "d1"} })
	r, err := p.(llmproxy.ChatStreamer).ChatCompletionStream(t.Context(), chatRequest(t, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	defer r.Close()
	var text strings.Builder
	n := 0
	for {
		c, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		n++
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				text.WriteString(*ch.Delta.Content)
			}
		}
	}
	assert.Equal(t, 3, n)
	assert.Equal(t, "Hi", text.String())
	assert.True(t, gjson.GetBytes(up.last(t).body, "stream_options.include_usage").Bool())
}
