package llmproxy_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/mock"
)

func TestWithClientLibrary(t *testing.T) {
	cfg := llmproxy.Config{
		Keys:      []llmproxy.KeyConfig{{Name: "lib", Key: "sk-lib", Models: []string{"mock-*"}, BudgetUSD: 1}},
		Pricing:   map[string]llmproxy.ModelPrice{"mock-1": {Input: 1e6, Output: 0}}, // $1 a prompt token
		Providers: []llmproxy.ProviderConfig{{Name: "m", Type: "mock"}},
	}
	p, err := llmproxy.New(cfg)
	require.NoError(t, err)
	defer p.Close()
	ctx := llmproxy.WithClient(context.Background(), "lib")
	req := &llmproxy.ChatRequest{Model: "mock-1", Messages: []llmproxy.Message{{Role: "user", Content: llmproxy.Text("hi")}}}
	resp, err := p.ChatCompletion(ctx, req)
	require.NoError(t, err)
	require.NotNil(t, resp.ProxyInfo.CostUSD)
	assert.Positive(t, *resp.ProxyInfo.CostUSD)
	_, err = p.ChatCompletion(ctx, req)
	e := llmproxy.AsError(err)
	assert.Equal(t, "budget_exceeded", e.Code, "a library caller gets the same policy: %v", err)

	_, err = p.ChatCompletion(ctx, &llmproxy.ChatRequest{Model: "other", Messages: req.Messages})
	assert.Equal(t, llmproxy.KindForbidden, llmproxy.AsError(err).Kind)

	name, ok := p.AuthenticateKey("sk-lib")
	assert.True(t, ok)
	assert.Equal(t, "lib", name)
	_, ok = p.AuthenticateKey("sk-other")
	assert.False(t, ok)

	all, err := p.Usage(context.Background())
	require.NoError(t, err)
	require.Len(t, all, 1)
	assert.InDelta(t, *resp.ProxyInfo.CostUSD, all[0].SpendUSD, 1e-9)
}
