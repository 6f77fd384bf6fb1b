package llmproxy

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestProxyProvidersStatus(t *testing.T) {
	const unset, set = "LLMPROXY_TEST_UNSET_KEY", "LLMPROXY_TEST_SET_KEY"
	t.Setenv(unset, "")
	require.NoError(t, os.Unsetenv(unset)) // t.Setenv restores it afterwards
	t.Setenv(set, "sk-test-secret")

	nokey, fNokey := newFake(t, "nokey")
	nokey.APIKeyEnv = EnvNames{unset}
	withkey, fWithkey := newFake(t, "withkey")
	withkey.APIKeyEnv = EnvNames{set}
	withkey.Priority = 3
	off, fOff := newFake(t, "off")
	off.Enabled = new(false)
	on, fOn := newFake(t, "on")
	on.Priority = 2
	on.Enabled = new(true)
	on.Models = nil
	p := newFakeProxy(t, 0, nokey, withkey, off, on)

	resp, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
	require.NoError(t, err)
	assert.Equal(t, "on", resp.ProxyInfo.Provider, "nokey and off are not candidates")
	assert.Zero(t, fNokey.Calls())
	assert.Zero(t, fOff.Calls())
	assert.Zero(t, fWithkey.Calls())
	assert.Equal(t, 1, fOn.Calls())

	infos := p.Providers()
	require.Len(t, infos, 4)
	byName := map[string]ProviderInfo{}
	var order []string
	for _, pi := range infos {
		byName[pi.Name] = pi
		order = append(order, pi.Name)
	}
	assert.Equal(t, []string{"nokey", "withkey", "off", "on"}, order, "configuration order")

	assert.False(t, byName["nokey"].APIKeySet)
	assert.False(t, byName["nokey"].Active)
	assert.True(t, byName["nokey"].Enabled)
	assert.Equal(t, "disabled: API key not set", byName["nokey"].Status)

	assert.True(t, byName["withkey"].APIKeySet)
	assert.True(t, byName["withkey"].Active)
	assert.Equal(t, "healthy", byName["withkey"].Status)
	assert.Equal(t, 3, byName["withkey"].Priority)

	assert.False(t, byName["off"].Enabled)
	assert.False(t, byName["off"].Active)
	assert.Equal(t, "disabled", byName["off"].Status)

	assert.True(t, byName["on"].Active)
	assert.Equal(t, []string{}, byName["on"].Models, "no models is an empty list, not null")
	assert.Equal(t, 60.0, byName["on"].Timeout, "defaults applied")
	assert.Equal(t, 1, byName["nokey"].Priority, "defaults applied")

	// The key never shows in the status.
	b, err := json.Marshal(infos)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "sk-test-secret")
	assert.Contains(t, string(b), `"models":[]`)
}

func TestProxyNoActiveProviderForModel(t *testing.T) {
	off, _ := newFake(t, "off")
	off.Enabled = new(false)
	p := newFakeProxy(t, 0, off)
	_, err := p.ChatCompletion(t.Context(), fakeChatReq("m"))
	e := requireErrKind(t, err, KindNotFound)
	assert.Equal(t, "model_not_found", e.Code)
}

func TestProxyCompletionAndEmbeddingsRouting(t *testing.T) {
	chat, fChat := newFake(t, "chat-only")
	chat.Models = []string{"shared", "chat-model"}
	fChat.chatOnly = true
	full, fFull := newFake(t, "full")
	full.Models = []string{"shared"}
	full.Priority = 2
	p := newFakeProxy(t, 0, chat, full)

	cresp, err := p.Completion(t.Context(), &CompletionRequest{Model: "shared", Prompt: json.RawMessage(`"hi"`)})
	require.NoError(t, err)
	assert.Equal(t, "from full", cresp.Choices[0].Text)
	assert.Equal(t, "full", cresp.ProxyInfo.Provider)
	assert.Equal(t, 1, cresp.ProxyInfo.AttemptNumber, "the chat-only provider is not a candidate")

	eresp, err := p.Embeddings(t.Context(), &EmbeddingRequest{Model: "shared", Input: json.RawMessage(`"hi"`)})
	require.NoError(t, err)
	assert.Equal(t, "full", eresp.ProxyInfo.Provider)
	assert.Equal(t, []float32{1, 0.5}, eresp.Data[0].Vector)

	// base64 is produced by the proxy whatever the provider returned.
	eresp, err = p.Embeddings(t.Context(), &EmbeddingRequest{Model: "shared", Input: json.RawMessage(`"hi"`), EncodingFormat: "base64"})
	require.NoError(t, err)
	assert.Equal(t, "AACAPwAAAD8=", eresp.Data[0].Base64)
	assert.Nil(t, eresp.Data[0].Vector)

	// Chat still goes to the chat-only provider, which comes first.
	resp, err := p.ChatCompletion(t.Context(), fakeChatReq("shared"))
	require.NoError(t, err)
	assert.Equal(t, "chat-only", resp.ProxyInfo.Provider)
	assert.Equal(t, 1, fChat.Calls())
	assert.Equal(t, 3, fFull.Calls())

	_, err = p.Completion(t.Context(), &CompletionRequest{Model: "chat-model", Prompt: json.RawMessage(`"hi"`)})
	e := requireErrKind(t, err, KindInvalidRequest)
	assert.Equal(t, "unsupported_endpoint", e.Code)
	assert.Equal(t, "model", e.Param)
	assert.Equal(t, 400, e.HTTPStatus())
	assert.Contains(t, e.Message, "completions")

	_, err = p.Embeddings(t.Context(), &EmbeddingRequest{Model: "chat-model", Input: json.RawMessage(`"hi"`)})
	e = requireErrKind(t, err, KindInvalidRequest)
	assert.Equal(t, "unsupported_endpoint", e.Code)
	assert.Contains(t, e.Message, "embeddings")

	_, err = p.Embeddings(t.Context(), &EmbeddingRequest{Model: "nobody-serves-it", Input: json.RawMessage(`"hi"`)})
	e = requireErrKind(t, err, KindNotFound)
	assert.Equal(t, "model_not_found", e.Code)
	assert.Equal(t, 1, fChat.Calls())
}

func TestProxyModels(t *testing.T) {
	// a lists its models; only those matching its configured patterns count.
	a, fa := newFake(t, "a")
	a.Models = []string{"gpt-4*", "o1"}
	fa.lister = true
	fa.models = []Model{
		{ID: "gpt-4o", Object: "model", OwnedBy: "openai"},
		{ID: "gpt-3.5-turbo", Object: "model", OwnedBy: "openai"},
		{ID: "gpt-4-turbo", Object: "model", OwnedBy: "openai"},
		{ID: "o1", Object: "model", OwnedBy: "openai"},
		{ID: "whisper-1", Object: "model", OwnedBy: "openai"},
	}
	// b cannot list: its configured names that are not globs are used.
	b, _ := newFake(t, "b")
	b.Models = []string{"gpt-4o", "llama-*", "mistral-small", "qwen-?"}
	b.Priority = 2
	// c's list fails: its configured names are used instead.
	c, fc := newFake(t, "c")
	c.Models = []string{"c-model", "c-*"}
	c.Priority = 3
	fc.lister = true
	fc.listErr = errors.New("list failed")
	// d lists and has no patterns: everything it lists counts.
	d, fd := newFake(t, "d")
	d.Priority = 4
	fd.lister = true
	fd.models = []Model{{ID: "d-1", Object: "model"}, {ID: "o1", Object: "model", OwnedBy: "d"}}
	// e is disabled: none of its models count.
	e, _ := newFake(t, "e")
	e.Models = []string{"e-model"}
	e.Enabled = new(false)
	p := newFakeProxy(t, 0, e, d, c, b, a)

	list, err := p.Models(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "list", list.Object)
	var ids []string
	owners := map[string]string{}
	for _, m := range list.Data {
		ids = append(ids, m.ID)
		owners[m.ID] = m.OwnedBy
	}
	assert.ElementsMatch(t, []string{"gpt-4o", "gpt-4-turbo", "o1", "mistral-small", "c-model", "d-1"}, ids, "each model once")
	assert.Equal(t, "openai", owners["o1"], "the first provider by priority describes a shared model")
	assert.Equal(t, "c", owners["c-model"], "configured names are owned by their provider")
}

func TestProxyModelsEmpty(t *testing.T) {
	a, _ := newFake(t, "a")
	a.Models = []string{"only-*"}
	p := newFakeProxy(t, 0, a)
	list, err := p.Models(t.Context())
	require.NoError(t, err)
	require.NotNil(t, list.Data)
	b, err := json.Marshal(list)
	require.NoError(t, err)
	assert.JSONEq(t, `{"object":"list","data":[]}`, string(b))
}

func TestProxyNewUnknownProviderType(t *testing.T) {
	registerFake()
	_, err := New(Config{Providers: []ProviderConfig{{Name: "x", Type: "nosuchtype"}}})
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, `unknown provider type "nosuchtype"`)
	assert.Contains(t, msg, "providers[0].type")
	assert.Contains(t, msg, "known types:")
	for _, known := range []string{fakeType, "openai", "mock", "openrouter"} {
		assert.Contains(t, msg, known)
	}
}

func TestProxyNewInvalidConfig(t *testing.T) {
	a, _ := newFake(t, "dup")
	b, _ := newFake(t, "dup")
	b.MaxRetries = -1
	_, err := New(Config{Providers: []ProviderConfig{a, b}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "providers[1].name")
	assert.Contains(t, err.Error(), "providers[1].max_retries")
}

func TestProxyFactoryErrorNamesProvider(t *testing.T) {
	registerFake()
	_, err := New(Config{Providers: []ProviderConfig{{Name: "ghost", Type: fakeType}}})
	require.Error(t, err)
	assert.ErrorIs(t, err, errFakeNo)
	assert.Contains(t, err.Error(), "ghost")
}

func TestProxyConfigDefaults(t *testing.T) {
	a, _ := newFake(t, "a")
	p := newFakeProxy(t, 0, a)
	cfg := p.Config()
	assert.Equal(t, DefaultRequestTimeout, cfg.RequestTimeout)
	require.Len(t, cfg.Providers, 1)
	assert.Equal(t, DefaultProviderTimeout, cfg.Providers[0].Timeout)
	assert.Equal(t, DefaultRetryDelay, cfg.Providers[0].RetryDelay)
	assert.Equal(t, 1, cfg.Providers[0].Priority)
	assert.NoError(t, p.Close())
	assert.NoError(t, p.Close(), "Close is idempotent")
}
