package llmproxy_test

import (
	"context"
	"fmt"
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

// A library caller makes its requests count for a key of Config.Keys with
// WithClient: the key's policy applies and its spend is counted.
func ExampleWithClient() {
	p, err := llmproxy.New(llmproxy.Config{
		Keys:      []llmproxy.KeyConfig{{Name: "team-a", Key: "sk-team-a", Models: []string{"mock-*"}, BudgetUSD: 0.01}},
		Pricing:   map[string]llmproxy.ModelPrice{"mock-*": {Input: 1000, Output: 1000}}, // $0.001 a token
		Providers: []llmproxy.ProviderConfig{{Name: "mock", Type: "mock"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	ctx := llmproxy.WithClient(context.Background(), "team-a")
	req := &llmproxy.ChatRequest{Model: "mock-1", Messages: []llmproxy.Message{{Role: "user", Content: llmproxy.Text("Hello, proxy")}}}
	for range 3 {
		resp, err := p.ChatCompletion(ctx, req)
		if err != nil {
			fmt.Println(llmproxy.AsError(err).Code)
			continue
		}
		fmt.Printf("%d tokens, $%.3f\n", resp.Usage.TotalTokens, *resp.ProxyInfo.CostUSD)
	}
	u, _ := p.KeyUsage(ctx, "team-a")
	fmt.Printf("spent $%.3f of $%.2f\n", u.SpendUSD, u.BudgetUSD)
	// Output:
	// 7 tokens, $0.007
	// 7 tokens, $0.007
	// budget_exceeded
	// spent $0.014 of $0.01
}
