package llmproxy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/openai"
)

// modelUpstream is an httptest server speaking the OpenAI wire format
// that records the body of every request and answers each one with the
// model it was sent, or fails every request with status when it is set.
type modelUpstream struct {
	*httptest.Server
	status int // answer every POST with this error status when not 0
	models []string

	mu     sync.Mutex
	bodies []string // "path body" of each POST
	keys   []string // the bearer key of each POST
}

func newModelUpstream(t *testing.T, status int, models ...string) *modelUpstream {
	t.Helper()
	u := &modelUpstream{status: status, models: models}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *modelUpstream) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet && r.URL.Path == "/v1/models" {
		var data []string
		for _, m := range u.models {
			data = append(data, fmt.Sprintf(`{"id":%q,"object":"model","created":1686935002,"owned_by":"organization-owner"}`, m))
		}
		fmt.Fprintf(w, `{"object":"list","data":[%s]}`, strings.Join(data, ","))
		return
	}
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.bodies = append(u.bodies, r.URL.Path+" "+string(body))
	u.keys = append(u.keys, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	u.mu.Unlock()
	if u.status != 0 {
		w.WriteHeader(u.status)
		fmt.Fprintf(w, `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`)
		return
	}
	model := gjson.GetBytes(body, "model").String()
	switch {
	case r.URL.Path == "/v1/chat/completions" && gjson.GetBytes(body, "stream").Bool():
		w.Header().Set("Content-Type", "text/event-stream")
		head := fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741569952,"model":%q,"system_fingerprint":"fp_1","choices":`, model)
		for _, c := range []string{
			`[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}`,
			`[{"index":0,"delta":{"content":"answer of ` + model + `"},"logprobs":null,"finish_reason":null}]}`,
			`[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}`,
			`[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}`,
		} {
			fmt.Fprintf(w, "data: %s%s\n\n", head, c)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	case r.URL.Path == "/v1/chat/completions":
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1741569952,"model":%q,`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"answer of %s","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8},"service_tier":"default","system_fingerprint":"fp_1"}`, model, model)
	case r.URL.Path == "/v1/completions":
		fmt.Fprintf(w, `{"id":"cmpl-1","object":"text_completion","created":1741569952,"model":%q,`+
			`"choices":[{"text":"answer of %s","index":0,"logprobs":null,"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5}}`, model, model)
	case r.URL.Path == "/v1/embeddings":
		fmt.Fprintf(w, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.25,-0.5]}],"model":%q,"usage":{"prompt_tokens":2,"total_tokens":2}}`, model)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"message":"Invalid URL (POST %s)","type":"invalid_request_error","param":null,"code":null}}`, r.URL.Path)
	}
}

// sent returns the bodies the upstream received, each after its path.
func (u *modelUpstream) sent() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.bodies...)
}

// sentModels returns the "model" of each body the upstream received.
func (u *modelUpstream) sentModels() []string {
	var out []string
	for _, b := range u.sent() {
		_, body, _ := strings.Cut(b, " ")
		out = append(out, gjson.Get(body, "model").String())
	}
	return out
}

// openaiAt configures an OpenAI-type provider for the upstream u.
func openaiAt(name string, u *modelUpstream, models ...string) llmproxy.ProviderConfig {
	return llmproxy.ProviderConfig{
		Name: name, Type: "openai", BaseURL: u.URL + "/v1", APIKey: llmproxy.Secret("sk-" + name),
		Models: models, Timeout: 10 * time.Second,
	}
}

// aliasConfig is the configuration of the alias tests: "smart" is
// "model-a", served by provider a, then "model-b", served by provider b
// as "b-2025-01".
func aliasConfig(a, b *modelUpstream) llmproxy.Config {
	pb := openaiAt("b", b, "other")
	pb.ModelMap = map[string]string{"model-b": "b-2025-01"}
	return llmproxy.Config{
		ModelAliases: map[string][]string{"smart": {"model-a", "model-b"}},
		Providers:    []llmproxy.ProviderConfig{openaiAt("a", a, "model-a"), pb},
	}
}

const aliasChatBody = `{"model":"smart","messages":[{"role":"user","content":"Hi"}],"temperature":0.5,"metadata":{"model":"kept"}}`

// TestAliasFailsOverToItsNextModel sends a request for the alias "smart"
// on every endpoint: provider a (model-a) fails with 503, provider b
// serves model-b, mapped to b-2025-01. Each upstream must receive its own
// model in the request body, the rest of a client's bytes unchanged, and
// _proxy_info must name b and the model it was sent.
func TestAliasFailsOverToItsNextModel(t *testing.T) {
	type result struct {
		info *llmproxy.ProxyInfo
		text string // the answer's text, which names the model the upstream was sent
	}
	tests := []struct {
		name string
		path string
		body string // the client's request
		call func(context.Context, *llmproxy.Proxy, []byte) (result, error)
		raw  bool // the client's bytes go upstream as they are, model aside
	}{
		{
			name: "raw chat", path: "/v1/chat/completions", body: aliasChatBody, raw: true,
			call: func(ctx context.Context, p *llmproxy.Proxy, body []byte) (result, error) {
				req, err := llmproxy.ReadChatRequest(body)
				if err != nil {
					return result{}, err
				}
				ans, err := p.ChatCompletionRaw(ctx, req)
				if err != nil {
					return result{}, err
				}
				return result{ans.ProxyInfo, gjson.GetBytes(ans.Body, "choices.0.message.content").String()}, nil
			},
		},
		{
			name: "raw chat stream", path: "/v1/chat/completions", raw: true,
			body: `{"model":"smart","stream":true,"messages":[{"role":"user","content":"Hi"}],"metadata":{"model":"kept"}}`,
			call: func(ctx context.Context, p *llmproxy.Proxy, body []byte) (result, error) {
				req, err := llmproxy.ReadChatRequest(body)
				if err != nil {
					return result{}, err
				}
				st, err := p.ChatCompletionStreamRaw(ctx, req)
				if err != nil {
					return result{}, err
				}
				defer st.Close()
				var text strings.Builder
				for st.Next() {
					text.WriteString(gjson.GetBytes(st.Current().Data, "choices.0.delta.content").String())
				}
				return result{st.ProxyInfo(), text.String()}, st.Err()
			},
		},
		{
			name: "decoded chat", path: "/v1/chat/completions", body: aliasChatBody,
			call: func(ctx context.Context, p *llmproxy.Proxy, body []byte) (result, error) {
				req, err := llmproxy.ParseChatRequest(body)
				if err != nil {
					return result{}, err
				}
				resp, err := p.ChatCompletion(ctx, req)
				if err != nil {
					return result{}, err
				}
				return result{resp.ProxyInfo, resp.Choices[0].Message.Content.String()}, nil
			},
		},
		{
			name: "decoded chat stream", path: "/v1/chat/completions", body: aliasChatBody,
			call: func(ctx context.Context, p *llmproxy.Proxy, body []byte) (result, error) {
				req, err := llmproxy.ParseChatRequest(body)
				if err != nil {
					return result{}, err
				}
				st, err := p.ChatCompletionStream(ctx, req)
				if err != nil {
					return result{}, err
				}
				defer st.Close()
				var text strings.Builder
				for st.Next() {
					if cs := st.Current().Choices; len(cs) > 0 && cs[0].Delta.Content != nil {
						text.WriteString(*cs[0].Delta.Content)
					}
				}
				return result{st.ProxyInfo(), text.String()}, st.Err()
			},
		},
		{
			name: "completion", path: "/v1/completions", raw: true,
			body: `{"model":"smart","prompt":"Say hi","max_tokens":5,"suffix":"!"}`,
			call: func(ctx context.Context, p *llmproxy.Proxy, body []byte) (result, error) {
				req, err := llmproxy.ParseCompletionRequest(body)
				if err != nil {
					return result{}, err
				}
				resp, err := p.Completion(ctx, req)
				if err != nil {
					return result{}, err
				}
				return result{resp.ProxyInfo, resp.Choices[0].Text}, nil
			},
		},
		{
			name: "completion stream", path: "/v1/completions", body: `{"model":"smart","prompt":"Say hi","stream":true}`,
			call: func(ctx context.Context, p *llmproxy.Proxy, body []byte) (result, error) {
				req, err := llmproxy.ParseCompletionRequest(body)
				if err != nil {
					return result{}, err
				}
				st, err := p.CompletionStream(ctx, req)
				if err != nil {
					return result{}, err
				}
				defer st.Close()
				var text strings.Builder
				for st.Next() {
					if cs := st.Current().Choices; len(cs) > 0 {
						text.WriteString(cs[0].Text)
					}
				}
				return result{st.ProxyInfo(), text.String()}, st.Err()
			},
		},
		{
			name: "embeddings", path: "/v1/embeddings", raw: true,
			body: `{"model":"smart","input":"Hi","user":"u-1"}`,
			call: func(ctx context.Context, p *llmproxy.Proxy, body []byte) (result, error) {
				req, err := llmproxy.ParseEmbeddingRequest(body)
				if err != nil {
					return result{}, err
				}
				resp, err := p.Embeddings(ctx, req)
				if err != nil {
					return result{}, err
				}
				return result{resp.ProxyInfo, "answer of " + resp.Model}, nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newModelUpstream(t, http.StatusServiceUnavailable)
			b := newModelUpstream(t, 0)
			p, err := llmproxy.New(aliasConfig(a, b))
			require.NoError(t, err)
			defer p.Close()

			res, err := tt.call(t.Context(), p, []byte(tt.body))
			require.NoError(t, err)
			require.NotNil(t, res.info)
			assert.Equal(t, "b", res.info.Provider)
			assert.Equal(t, "b-2025-01", res.info.Model, "_proxy_info.model names the model b was sent")
			assert.Equal(t, 2, res.info.AttemptNumber)
			assert.Equal(t, "answer of b-2025-01", res.text)

			require.Equal(t, []string{"model-a"}, a.sentModels(), "a is sent the alias's first model")
			require.Equal(t, []string{"b-2025-01"}, b.sentModels(), "b is sent its id for the alias's second model")
			path, body, _ := strings.Cut(b.sent()[0], " ")
			assert.Equal(t, tt.path, path)
			if tt.raw {
				// The client's bytes, but for the model: nested "model"
				// members are not touched.
				want, err := sjson.Set(tt.body, "model", "b-2025-01")
				require.NoError(t, err)
				if gjson.Get(tt.body, "stream").Bool() {
					want, _ = sjson.Set(want, "stream_options.include_usage", true)
				}
				assert.JSONEq(t, want, body)
			} else {
				assert.Equal(t, "b-2025-01", gjson.Get(body, "model").String())
			}
		})
	}
}

// TestModelMapServesThePublicName checks that a provider serves the names
// of its model_map and is sent its own ids for them, while the ids
// themselves are not served under their own name unless its models
// list them.
func TestModelMapServesThePublicName(t *testing.T) {
	a := newModelUpstream(t, 0)
	b := newModelUpstream(t, 0)
	p, err := llmproxy.New(aliasConfig(a, b))
	require.NoError(t, err)
	defer p.Close()

	req, err := llmproxy.ReadChatRequest([]byte(`{"model":"model-b","messages":[{"role":"user","content":"Hi"}]}`))
	require.NoError(t, err)
	ans, err := p.ChatCompletionRaw(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, "b", ans.ProxyInfo.Provider)
	assert.Equal(t, "b-2025-01", ans.ProxyInfo.Model)
	assert.Equal(t, []string{"b-2025-01"}, b.sentModels())
	assert.Equal(t, `{"model":"model-b","messages":[{"role":"user","content":"Hi"}]}`, string(req.Body),
		"the client's request is not modified")

	// A model that is not an alias and not mapped is sent as it is.
	req, err = llmproxy.ReadChatRequest([]byte(`{"model":"model-a","messages":[{"role":"user","content":"Hi"}]}`))
	require.NoError(t, err)
	ans, err = p.ChatCompletionRaw(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, "a", ans.ProxyInfo.Provider)
	assert.Equal(t, "model-a", ans.ProxyInfo.Model)

	req, err = llmproxy.ReadChatRequest([]byte(`{"model":"b-2025-01","messages":[{"role":"user","content":"Hi"}]}`))
	require.NoError(t, err)
	_, err = p.ChatCompletionRaw(t.Context(), req)
	var e *llmproxy.Error
	require.True(t, errors.As(err, &e), "got %v", err)
	assert.Equal(t, llmproxy.KindNotFound, e.Kind, "b serves model-b, not its id under its own name")
}

// TestAliasTriesEveryProviderOfAModelFirst checks that the providers of
// an alias's first model are all tried, in priority order, before those
// of the second model, and that a provider serving both models is tried
// for each with its own id.
func TestAliasTriesEveryProviderOfAModelFirst(t *testing.T) {
	first := newModelUpstream(t, http.StatusServiceUnavailable)
	second := newModelUpstream(t, http.StatusServiceUnavailable)
	last := newModelUpstream(t, 0)
	p1 := openaiAt("first", first, "big")
	p2 := openaiAt("second", second, "big", "small")
	p2.Priority = 2
	p2.ModelMap = map[string]string{"small": "second-small"}
	p3 := openaiAt("last", last, "small")
	p3.Priority = 3
	p, err := llmproxy.New(llmproxy.Config{
		ModelAliases: map[string][]string{"auto": {"big", "small"}},
		Providers:    []llmproxy.ProviderConfig{p3, p2, p1},
	})
	require.NoError(t, err)
	defer p.Close()

	req, err := llmproxy.ReadChatRequest([]byte(`{"model":"auto","messages":[{"role":"user","content":"Hi"}]}`))
	require.NoError(t, err)
	ans, err := p.ChatCompletionRaw(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, "last", ans.ProxyInfo.Provider)
	assert.Equal(t, "small", ans.ProxyInfo.Model)
	assert.Equal(t, 4, ans.ProxyInfo.AttemptNumber)
	assert.Equal(t, []string{"big"}, first.sentModels())
	// second (priority 2) is tried for big after first (priority 1), then
	// for small before last (priority 3); last (the best provider of
	// neither model) comes after both: the alias's order comes before
	// the providers' priorities.
	assert.Equal(t, []string{"big", "second-small"}, second.sentModels())
	assert.Equal(t, []string{"small"}, last.sentModels())
}

// TestModelsListsPublicNames checks that /v1/models lists the aliases and
// the names of the model maps, not the ids the providers are sent.
func TestModelsListsPublicNames(t *testing.T) {
	a := newModelUpstream(t, 0, "model-a", "model-z")
	b := newModelUpstream(t, 0, "b-2025-01", "other")
	cfg := aliasConfig(a, b)
	cfg.ModelAliases["nobody"] = []string{"model-z"}
	cfg.Providers[0].Models = append(cfg.Providers[0].Models, "model-z")
	cfg.Providers[0].Enabled = new(bool) // a is off: "nobody" has no provider
	cfg.Providers = append(cfg.Providers, openaiAt("c", a, "model-a"))
	p, err := llmproxy.New(cfg)
	require.NoError(t, err)
	defer p.Close()

	list, err := p.Models(t.Context())
	require.NoError(t, err)
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	assert.ElementsMatch(t, []string{"model-a", "other", "model-b", "smart"}, ids)
	for _, m := range list.Data {
		if m.ID == "smart" {
			assert.Equal(t, "llmproxy", m.OwnedBy)
		}
	}
}

// TestSetBodyModel checks the helper fronts use to rewrite a body's model.
func TestSetBodyModel(t *testing.T) {
	body := []byte(`{"model":"smart","input":[{"model":"nested"}],"x":1}`)
	orig := string(body)

	same, err := llmproxy.SetBodyModel(body, "")
	require.NoError(t, err)
	assert.Equal(t, orig, string(same), "no attempt model: the body as it is")
	same, err = llmproxy.SetBodyModel(body, "smart")
	require.NoError(t, err)
	assert.Equal(t, orig, string(same))

	got, err := llmproxy.SetBodyModel(body, "gpt-4.1")
	require.NoError(t, err)
	assert.JSONEq(t, `{"model":"gpt-4.1","input":[{"model":"nested"}],"x":1}`, string(got))
	assert.Equal(t, orig, string(body), "the body given is not modified")

	got, err = llmproxy.SetBodyModel([]byte(`{"input":"x"}`), "m")
	require.NoError(t, err)
	assert.JSONEq(t, `{"input":"x","model":"m"}`, string(got))

	_, err = llmproxy.SetBodyModel([]byte(`[1]`), "m")
	assert.Error(t, err)
}

// TestReloadChangesAliases checks that a reload changes the models an
// alias stands for at once, and that a reload with an invalid alias
// changes nothing.
func TestReloadChangesAliases(t *testing.T) {
	a := newModelUpstream(t, 0)
	b := newModelUpstream(t, 0)
	cfg := aliasConfig(a, b)
	cfg.ModelAliases = map[string][]string{"smart": {"model-a"}}
	p, err := llmproxy.New(cfg)
	require.NoError(t, err)
	defer p.Close()
	ask := func() *llmproxy.ProxyInfo {
		t.Helper()
		resp, err := p.ChatCompletion(t.Context(), &llmproxy.ChatRequest{Model: "smart",
			Messages: []llmproxy.Message{{Role: "user", Content: llmproxy.Text("Hi")}}})
		require.NoError(t, err)
		return resp.ProxyInfo
	}
	assert.Equal(t, "model-a", ask().Model)

	cfg.ModelAliases = map[string][]string{"smart": {"model-b", "model-a"}}
	require.NoError(t, p.Reload(cfg))
	assert.Equal(t, "b-2025-01", ask().Model)

	cfg.ModelAliases = map[string][]string{"smart": {"fast"}, "fast": {"smart"}}
	err = p.Reload(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "aliases loop")
	assert.Equal(t, "b-2025-01", ask().Model, "a rejected reload changes nothing")
	assert.Equal(t, []string{"model-a"}, a.sentModels())
	assert.Equal(t, []string{"b-2025-01", "b-2025-01"}, b.sentModels())
}
