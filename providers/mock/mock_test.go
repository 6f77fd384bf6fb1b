package mock

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmproxy/llmproxy"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func chat(msgs ...llmproxy.Message) *llmproxy.ChatRequest {
	return &llmproxy.ChatRequest{Model: "mock-1", Messages: msgs}
}

func msg(role, text string) llmproxy.Message {
	return llmproxy.Message{Role: role, Content: llmproxy.Text(text)}
}

func TestChatEchoesLastUserMessage(t *testing.T) {
	p := New("m", nil)
	assert.Equal(t, "m", p.Name())
	resp, err := p.ChatCompletion(t.Context(), chat(
		msg("system", "You are helpful"),
		msg("user", "first question"),
		msg("assistant", "first answer"),
		msg("user", "hello  world"),
	))
	require.NoError(t, err)
	require.Len(t, resp.Choices, 1)
	c := resp.Choices[0]
	assert.Equal(t, "assistant", c.Message.Role)
	assert.Equal(t, "Mock response to: hello  world", c.Message.Content.String())
	assert.Equal(t, "stop", c.FinishReason)
	assert.Equal(t, "chat.completion", resp.Object)
	assert.Equal(t, "mock-1", resp.Model)
	assert.Equal(t, int64(created), resp.Created)

	// Words of every message in, words of the answer out.
	require.NotNil(t, resp.Usage)
	assert.Equal(t, 3+2+2+2, resp.Usage.PromptTokens)
	assert.Equal(t, 5, resp.Usage.CompletionTokens) // Mock response to: hello world
	assert.Equal(t, 14, resp.Usage.TotalTokens)
}

func TestChatContentParts(t *testing.T) {
	p := New("m", nil)
	resp, err := p.ChatCompletion(t.Context(), chat(llmproxy.Message{Role: "user", Content: &llmproxy.Content{
		Parts: []llmproxy.ContentPart{
			{Type: "text", Text: "describe "},
			{Type: "image_url", ImageURL: &llmproxy.ImageURL{URL: "https://example.com/cat.png"}},
			{Type: "text", Text: "this"},
		},
	}}))
	require.NoError(t, err)
	assert.Equal(t, "Mock response to: describe this", resp.Choices[0].Message.Content.String())
}

func TestChatNoUserMessage(t *testing.T) {
	resp, err := New("m", nil).ChatCompletion(t.Context(), chat(
		msg("system", "be brief"),
		llmproxy.Message{Role: "assistant"}, // tool-call message: no content
	))
	require.NoError(t, err)
	assert.Equal(t, "Mock response to: ", resp.Choices[0].Message.Content.String())
	assert.Equal(t, 2, resp.Usage.PromptTokens)
}

func TestChatDeterministic(t *testing.T) {
	req := chat(msg("user", "same input"))
	encode := func(p *Provider) []byte {
		resp, err := p.ChatCompletion(t.Context(), req)
		require.NoError(t, err)
		b, err := json.Marshal(resp)
		require.NoError(t, err)
		return b
	}
	first := encode(New("a", nil))
	assert.Equal(t, string(first), string(encode(New("a", nil))), "same input, identical bytes")
	assert.Equal(t, string(first), string(encode(New("b", []string{"x"}))), "the answer does not depend on the instance")

	other, err := New("a", nil).ChatCompletion(t.Context(), chat(msg("user", "other input")))
	require.NoError(t, err)
	resp, err := New("a", nil).ChatCompletion(t.Context(), req)
	require.NoError(t, err)
	assert.NotEqual(t, resp.ID, other.ID, "ids derive from the answer")
	assert.Regexp(t, `^chatcmpl-mock-[0-9a-f]{12}$`, resp.ID)
}

func TestCompletionEcho(t *testing.T) {
	p := New("m", nil)
	resp, err := p.Completion(t.Context(), &llmproxy.CompletionRequest{Model: "mock-1", Prompt: json.RawMessage(`"say this"`)})
	require.NoError(t, err)
	require.Len(t, resp.Choices, 1)
	assert.Equal(t, "Mock completion of: say this", resp.Choices[0].Text)
	assert.Equal(t, "text_completion", resp.Object)
	assert.Equal(t, 2, resp.Usage.PromptTokens)
	assert.Equal(t, 5, resp.Usage.CompletionTokens)
	assert.Equal(t, 7, resp.Usage.TotalTokens)

	resp, err = p.Completion(t.Context(), &llmproxy.CompletionRequest{Model: "mock-1", Prompt: json.RawMessage(`["a","b"]`)})
	require.NoError(t, err)
	assert.Equal(t, "Mock completion of: a\nb", resp.Choices[0].Text)

	again, err := p.Completion(t.Context(), &llmproxy.CompletionRequest{Model: "mock-1", Prompt: json.RawMessage(`["a","b"]`)})
	require.NoError(t, err)
	b1, _ := json.Marshal(resp)
	b2, _ := json.Marshal(again)
	assert.Equal(t, string(b1), string(b2))
}

func TestEmbeddings(t *testing.T) {
	p := New("m", nil)
	resp, err := p.Embeddings(t.Context(), &llmproxy.EmbeddingRequest{Model: "emb", Input: json.RawMessage(`["alpha beta","gamma","alpha beta"]`)})
	require.NoError(t, err)
	require.Len(t, resp.Data, 3)
	assert.Equal(t, "list", resp.Object)
	assert.Equal(t, "emb", resp.Model)
	for i, e := range resp.Data {
		assert.Equal(t, i, e.Index)
		assert.Equal(t, "embedding", e.Object)
		require.Len(t, e.Vector, Dimensions)
		var sum float64
		for _, x := range e.Vector {
			sum += float64(x) * float64(x)
		}
		assert.InDelta(t, 1.0, math.Sqrt(sum), 1e-6, "vector %d has unit length", i)
	}
	assert.Equal(t, resp.Data[0].Vector, resp.Data[2].Vector, "equal inputs, equal vectors")
	assert.NotEqual(t, resp.Data[0].Vector, resp.Data[1].Vector)
	assert.Equal(t, 2+1+2, resp.Usage.PromptTokens)
	assert.Equal(t, 5, resp.Usage.TotalTokens)

	// Deterministic across calls and instances.
	one, err := New("other", nil).Embeddings(t.Context(), &llmproxy.EmbeddingRequest{Model: "emb", Input: json.RawMessage(`"gamma"`)})
	require.NoError(t, err)
	require.Len(t, one.Data, 1)
	assert.Equal(t, resp.Data[1].Vector, one.Data[0].Vector)
}

func TestEmbeddingsTokenArrays(t *testing.T) {
	for _, input := range []string{`[1,2,3]`, `[[1,2],[3]]`} {
		_, err := New("m", nil).Embeddings(t.Context(), &llmproxy.EmbeddingRequest{Model: "emb", Input: json.RawMessage(input)})
		e, ok := err.(*llmproxy.Error)
		require.Truef(t, ok, "error %v for %s", err, input)
		assert.Equal(t, llmproxy.KindInvalidRequest, e.Kind)
		assert.Equal(t, "input", e.Param)
		assert.Equal(t, "m", e.Provider)
		assert.Contains(t, e.Message, "token arrays")
	}
}

func TestListModels(t *testing.T) {
	ids := func(p *Provider) []string {
		ms, err := p.ListModels(t.Context())
		require.NoError(t, err)
		var out []string
		for _, m := range ms {
			assert.Equal(t, "model", m.Object)
			assert.Equal(t, "lister", m.OwnedBy)
			out = append(out, m.ID)
		}
		return out
	}
	assert.Equal(t, []string{"mock-1"}, ids(New("lister", nil)))
	assert.Equal(t, []string{"mock-a", "mock-b", "mock-1"}, ids(New("lister", []string{"mock-a", "mock-*", "mock-?x", "mock-b", "[ab]"})))
	assert.Equal(t, []string{"mock-1"}, ids(New("lister", []string{"mock-*"})), "only globs: the default name")
	assert.Equal(t, []string{"gpt-4o-mini"}, ids(New("lister", []string{"gpt-4o-mini"})), "mock-1 only when served")
}

func TestCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	p := New("m", nil)
	_, err := p.ChatCompletion(ctx, chat(msg("user", "hi")))
	assert.Equal(t, llmproxy.KindCanceled, llmproxy.AsError(err).Kind)
	_, err = p.Completion(ctx, &llmproxy.CompletionRequest{Model: "x", Prompt: json.RawMessage(`"p"`)})
	assert.Equal(t, llmproxy.KindCanceled, llmproxy.AsError(err).Kind)
	_, err = p.Embeddings(ctx, &llmproxy.EmbeddingRequest{Model: "x", Input: json.RawMessage(`"p"`)})
	assert.Equal(t, llmproxy.KindCanceled, llmproxy.AsError(err).Kind)
	assert.NoError(t, p.HealthCheck(t.Context()))
}

func TestRegisteredType(t *testing.T) {
	assert.True(t, slices.Contains(llmproxy.ProviderTypes(), "mock"))
	proxy, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{
		{Name: "m1", Type: "mock", Models: []string{"mock-1", "mock-*"}},
	}})
	require.NoError(t, err)
	defer proxy.Close()

	resp, err := proxy.ChatCompletion(t.Context(), chat(msg("user", "via the proxy")))
	require.NoError(t, err)
	assert.Equal(t, "Mock response to: via the proxy", resp.Choices[0].Message.Content.String())
	assert.Equal(t, "m1", resp.ProxyInfo.Provider)

	emb, err := proxy.Embeddings(t.Context(), &llmproxy.EmbeddingRequest{Model: "mock-e", Input: json.RawMessage(`"x"`), EncodingFormat: "base64"})
	require.NoError(t, err)
	assert.NotEmpty(t, emb.Data[0].Base64)
	require.NoError(t, emb.Data[0].DecodeBase64())
	assert.Equal(t, vector("x"), emb.Data[0].Vector)

	list, err := proxy.Models(t.Context())
	require.NoError(t, err)
	require.Len(t, list.Data, 1)
	assert.Equal(t, "mock-1", list.Data[0].ID)
}
