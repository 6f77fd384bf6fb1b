package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/llmproxy/llmproxy"
)

// chatUpstream is an OpenAI-format httptest upstream for chat
// completions that answers with the model it was sent, lists models, and
// fails the requests made with the keys of bad (status and body).
type chatUpstream struct {
	*httptest.Server
	fail   int               // every chat request gets this status when not 0
	bad    map[string]string // key -> error envelope answered 401
	models []string

	mu     sync.Mutex
	sent   []string // the model of each chat request
	byKey  map[string]int
	bodies []string
}

func newChatUpstream(t *testing.T, fail int, models ...string) *chatUpstream {
	t.Helper()
	u := &chatUpstream{fail: fail, models: models, bad: map[string]string{}, byKey: map[string]int{}}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *chatUpstream) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet && r.URL.Path == "/v1/models" {
		var data []string
		for _, m := range u.models {
			data = append(data, fmt.Sprintf(`{"id":%q,"object":"model","created":1686935002,"owned_by":"system"}`, m))
		}
		fmt.Fprintf(w, `{"object":"list","data":[%s]}`, strings.Join(data, ","))
		return
	}
	body, _ := io.ReadAll(r.Body)
	key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	model := gjson.GetBytes(body, "model").String()
	u.mu.Lock()
	u.sent = append(u.sent, model)
	u.byKey[key]++
	u.bodies = append(u.bodies, string(body))
	u.mu.Unlock()
	if env, ok := u.bad[key]; ok {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintln(w, env)
		return
	}
	if u.fail != 0 {
		w.WriteHeader(u.fail)
		fmt.Fprintln(w, `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`)
		return
	}
	if gjson.GetBytes(body, "stream").Bool() {
		w.Header().Set("Content-Type", "text/event-stream")
		head := fmt.Sprintf(`{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1741569952,"model":%q,"system_fingerprint":"fp_9","choices":`, model)
		for _, c := range []string{
			`[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}`,
			`[{"index":0,"delta":{"content":"answer of "},"logprobs":null,"finish_reason":null}]}`,
			`[{"index":0,"delta":{"content":"` + model + `"},"logprobs":null,"finish_reason":null}]}`,
			`[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}`,
			`[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}`,
		} {
			fmt.Fprintf(w, "data: %s%s\n\n", head, c)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
		return
	}
	fmt.Fprintf(w, `{"id":"chatcmpl-9","object":"chat.completion","created":1741569952,"model":%q,`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":"answer of %s","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8},"service_tier":"default","system_fingerprint":"fp_9"}`, model, model)
}

func (u *chatUpstream) sentModels() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.sent...)
}

func (u *chatUpstream) keyCounts() map[string]int {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string]int{}
	for k, v := range u.byKey {
		out[k] = v
	}
	return out
}

// TestAliasFailoverWithOpenAIGo sends requests for the alias "smart"
// (model-a on provider a, then model-b on provider b, which calls it
// b-2025-01) through the server with openai-go: a fails with 503, b
// answers, and the client sees which provider and which concrete model.
func TestAliasFailoverWithOpenAIGo(t *testing.T) {
	a := newChatUpstream(t, http.StatusServiceUnavailable, "model-a")
	b := newChatUpstream(t, 0, "b-2025-01")
	pa := upstreamProvider("a", a.URL, 1)
	pa.Models = []string{"model-a"}
	pb := upstreamProvider("b", b.URL, 1)
	pb.Models = []string{"other"}
	pb.ModelMap = map[string]string{"model-b": "b-2025-01"}
	cfg := failoverConfig(pa, pb)
	cfg.CircuitBreakerThreshold = 100
	cfg.ModelAliases = map[string][]string{"smart": {"model-a", "model-b"}}
	srv := newProxyServer(t, cfg)
	client := newOpenAIClient(srv, clientKey)
	ctx := t.Context()
	params := openai.ChatCompletionNewParams{
		Model:    "smart",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hi")},
	}

	t.Run("chat", func(t *testing.T) {
		var httpResp *http.Response
		resp, err := client.Chat.Completions.New(ctx, params, option.WithResponseInto(&httpResp))
		require.NoError(t, err)
		assert.Equal(t, "answer of b-2025-01", resp.Choices[0].Message.Content)
		pi := resp.JSON.ExtraFields["_proxy_info"].Raw()
		assert.Equal(t, "b", gjson.Get(pi, "provider").String(), pi)
		assert.Equal(t, "b-2025-01", gjson.Get(pi, "model").String(), pi)
		assert.EqualValues(t, 2, gjson.Get(pi, "attempt_number").Int(), pi)
		assert.Equal(t, "b-2025-01", httpResp.Header.Get("X-LLMProxy-Model"))
		assert.Equal(t, "b", httpResp.Header.Get("X-LLMProxy-Provider"))
	})

	t.Run("stream", func(t *testing.T) {
		st := client.Chat.Completions.NewStreaming(ctx, params)
		defer st.Close()
		var text strings.Builder
		var pi string
		for st.Next() {
			c := st.Current()
			if len(c.Choices) > 0 {
				text.WriteString(c.Choices[0].Delta.Content)
			}
			if f, ok := c.JSON.ExtraFields["_proxy_info"]; ok {
				pi = f.Raw()
			}
		}
		require.NoError(t, st.Err())
		assert.Equal(t, "answer of b-2025-01", text.String())
		assert.Equal(t, "b", gjson.Get(pi, "provider").String(), pi)
		assert.Equal(t, "b-2025-01", gjson.Get(pi, "model").String(), pi)
	})

	t.Run("models", func(t *testing.T) {
		page, err := client.Models.List(ctx)
		require.NoError(t, err)
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		assert.ElementsMatch(t, []string{"model-a", "model-b", "smart"}, ids)
	})

	assert.Equal(t, []string{"model-a", "model-a"}, a.sentModels())
	assert.Equal(t, []string{"b-2025-01", "b-2025-01"}, b.sentModels())
}

// TestSeveralKeysWithOpenAIGo configures one OpenAI-format provider with
// three keys, one of which the upstream refuses with 401: every request
// of openai-go succeeds, the good keys share them, the bad one cools
// down without the breaker opening, and /providers says so without
// showing a key.
func TestSeveralKeysWithOpenAIGo(t *testing.T) {
	up := newChatUpstream(t, 0)
	up.bad["sk-key-b"] = `{"error":{"message":"Incorrect API key provided: sk-key-b. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`
	pc := upstreamProvider("multi", up.URL, 1)
	pc.APIKey = ""
	pc.APIKeys = []llmproxy.ProviderKey{{ID: "KEY_A", Key: "sk-key-a"}, {ID: "KEY_B", Key: "sk-key-b"}, {ID: "KEY_C", Key: "sk-key-c"}}
	pc.KeyCooldown = time.Hour
	cfg := failoverConfig(pc)
	cfg.CircuitBreakerThreshold = 1
	srv := newProxyServer(t, cfg)
	client := newOpenAIClient(srv, clientKey)

	for i := range 10 {
		resp, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
			Model:    failoverModel,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hi")},
		})
		require.NoError(t, err, "request %d", i)
		assert.Equal(t, "answer of "+failoverModel, resp.Choices[0].Message.Content)
	}
	counts := up.keyCounts()
	assert.Equal(t, 1, counts["sk-key-b"], "the refused key is tried once")
	assert.Equal(t, 10, counts["sk-key-a"]+counts["sk-key-c"])
	assert.InDelta(t, 5, counts["sk-key-a"], 1)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/providers", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+clientKey)
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	var v struct {
		Providers []struct {
			Keys            int      `json:"keys"`
			KeysCoolingDown []string `json:"keys_cooling_down"`
			Health          struct {
				Breaker string `json:"breaker"`
			} `json:"health"`
		} `json:"providers"`
	}
	require.NoError(t, json.Unmarshal(body, &v), string(body))
	require.Len(t, v.Providers, 1)
	assert.Equal(t, 3, v.Providers[0].Keys)
	assert.Equal(t, []string{"KEY_B"}, v.Providers[0].KeysCoolingDown)
	assert.Equal(t, "closed", v.Providers[0].Health.Breaker, "with a threshold of 1, a counted failure would have opened it")
	assert.NotContains(t, string(body), "sk-key")
}
