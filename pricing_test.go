package llmproxy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// usageOfJSON decodes an OpenAI-format usage member, as the adapters hand
// it over.
func usageOfJSON(t *testing.T, s string) *Usage {
	t.Helper()
	var u Usage
	require.NoError(t, json.Unmarshal([]byte(s), &u))
	return &u
}

func TestModelPriceCost(t *testing.T) {
	// Prices per million tokens, round so the expected costs are easy to
	// check by hand.
	plain := ModelPrice{Input: 2, Output: 8}
	full := ModelPrice{Input: 2, Output: 8, CachedInput: Price(0.5), CacheWrite: Price(2.5), Reasoning: Price(10)}
	cases := []struct {
		name  string
		price ModelPrice
		usage *Usage
		want  float64
	}{
		{"plain prompt and completion", plain,
			usageOfJSON(t, `{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500}`),
			(1000*2 + 500*8) / 1e6},
		{"openai: cached tokens are part of prompt_tokens", full,
			usageOfJSON(t, `{"prompt_tokens":1000,"completion_tokens":100,"total_tokens":1100,"prompt_tokens_details":{"cached_tokens":800}}`),
			(200*2 + 800*0.5 + 100*8) / 1e6},
		{"cached tokens without a cached price cost the input price", plain,
			usageOfJSON(t, `{"prompt_tokens":1000,"completion_tokens":0,"total_tokens":1000,"prompt_tokens_details":{"cached_tokens":800}}`),
			1000 * 2 / 1e6},
		{"openai: reasoning tokens are part of completion_tokens", full,
			usageOfJSON(t, `{"prompt_tokens":100,"completion_tokens":1000,"total_tokens":1100,"completion_tokens_details":{"reasoning_tokens":600}}`),
			(100*2 + 400*8 + 600*10) / 1e6},
		{"xai: reasoning tokens come on top of completion_tokens (total says so)", full,
			usageOfJSON(t, `{"prompt_tokens":32,"completion_tokens":9,"total_tokens":135,"completion_tokens_details":{"reasoning_tokens":94}}`),
			(32*2 + 9*8 + 94*10) / 1e6},
		{"xai without a reasoning price: reasoning billed as output", plain,
			usageOfJSON(t, `{"prompt_tokens":10120,"completion_tokens":1499,"total_tokens":14428,"prompt_tokens_details":{"cached_tokens":128},"completion_tokens_details":{"reasoning_tokens":2809}}`),
			(10120*2 + 1499*8 + 2809*8) / 1e6},
		{"anthropic: cache reads and writes are part of the prompt", full,
			&Usage{PromptTokens: 2112, CompletionTokens: 30, TotalTokens: 2142,
				PromptTokensDetails: &TokenDetails{CachedTokens: 2000, CacheWriteTokens: 100}},
			(12*2 + 2000*0.5 + 100*2.5 + 30*8) / 1e6},
		{"cohere: cached tokens within the input tokens", full,
			&Usage{PromptTokens: 500, CompletionTokens: 5, TotalTokens: 505, PromptTokensDetails: &TokenDetails{CachedTokens: 448}},
			(52*2 + 448*0.5 + 5*8) / 1e6},
		{"embeddings: prompt only", ModelPrice{Input: 0.02},
			usageOfJSON(t, `{"prompt_tokens":5000,"total_tokens":5000}`),
			5000 * 0.02 / 1e6},
		{"inconsistent counts are clamped, never negative", full,
			&Usage{PromptTokens: 10, CompletionTokens: 5, PromptTokensDetails: &TokenDetails{CachedTokens: 50},
				CompletionTokensDetails: &TokenDetails{ReasoningTokens: 20}},
			(10*0.5 + 5*10) / 1e6},
		{"no usage", full, nil, 0},
	}
	for _, tc := range cases {
		assert.InDelta(t, tc.want, tc.price.Cost(tc.usage), 1e-15, tc.name)
	}
}

func TestPriceLookup(t *testing.T) {
	tab := newPriceTable(map[string]ModelPrice{
		"gpt-4o-mini": {Input: 9, Output: 9},
		"my-model-*":  {Input: 1, Output: 1},
		"my-model-x*": {Input: 2, Output: 2},
	})
	cases := []struct {
		typ, model string
		want       float64 // Input; -1: unpriced
	}{
		{"openai", "gpt-4o-mini", 9},                                  // the configuration beats the defaults
		{"openai", "gpt-4o", 2.50},                                    // a default
		{"openai", "gpt-4o-2024-08-06", 2.50},                         // a dated snapshot, by glob
		{"openai", "gpt-4o-2024-05-13", 5},                            // an exact default beats a glob
		{"openai", "gpt-4o-mini-2024-07-18", 0.15},                    // the longest glob wins
		{"openai", "my-model-xl", 2},                                  // the longest configured glob wins
		{"openai", "my-model-s", 1},                                   //
		{"anthropic", "claude-sonnet-4-5-20250929", 3},                //
		{"anthropic", "claude-opus-4-5-20251101", 5},                  //
		{"anthropic", "claude-opus-4-1-20250805", 15},                 //
		{"grok", "grok-4-fast-reasoning", 0.20},                       //
		{"cohere", "command-r", 0.15},                                 //
		{"perplexity", "sonar-pro", 3},                                //
		{"mock", "gpt-4o", 0},                                         // the mock is free whatever the model
		{"mock", "mock-1", 0},                                         //
		{"azure", "gpt-4o", 2.50},                                     // a type without defaults: any type's
		{"openrouter", "anthropic/claude-3-5-haiku", 0.80},            // vendor/model
		{"gemini", "gemini-2.5-flash", 0.30},                          //
		{"gemini", "gemini-2.5-flash-lite", 0.10},                     // the longest glob wins
		{"deepseek", "deepseek-chat", 0.28},                           //
		{"bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0", 0.80}, // a Bedrock model id
		{"bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0", 3},  // an inference profile
		{"openai", "llama3", -1},                                      // unknown
		{"openrouter", "meta-llama/llama-3-70b", -1},                  // unknown
	}
	for _, tc := range cases {
		pr, ok := tab.lookup(tc.typ, tc.model)
		if tc.want < 0 {
			assert.False(t, ok, "%s %s is unpriced", tc.typ, tc.model)
			continue
		}
		if assert.True(t, ok, "%s %s is priced", tc.typ, tc.model) {
			assert.InDelta(t, tc.want, pr.Input, 1e-12, "%s %s", tc.typ, tc.model)
		}
	}
	// A name longer than maxCachedModelName is priced, not remembered.
	before := tab.cached.Load()
	pr, ok := tab.lookup("openai", "gpt-4o-"+strings.Repeat("x", maxCachedModelName))
	assert.True(t, ok)
	assert.InDelta(t, 2.50, pr.Input, 1e-12)
	assert.Equal(t, before, tab.cached.Load(), "a long name is not cached")
	for typ, m := range defaultPrices {
		for pat, pr := range m {
			assert.GreaterOrEqual(t, pr.Input, 0.0, "%s %s", typ, pat)
			assert.GreaterOrEqual(t, pr.Output, 0.0, "%s %s", typ, pat)
		}
	}
}

func TestProxyCostAndCostFunc(t *testing.T) {
	pc, _ := newFake(t, "o")
	cfg := Config{Pricing: map[string]ModelPrice{"gpt-4o": {Input: 1, Output: 1}}, Providers: []ProviderConfig{pc}}
	p, err := New(cfg)
	require.NoError(t, err)
	defer p.Close()
	u := &Usage{PromptTokens: 1e6, CompletionTokens: 1e6}
	usd, ok := p.Cost("o", "gpt-4o", u)
	assert.True(t, ok)
	assert.InDelta(t, 2, usd, 1e-12)
	_, ok = p.Cost("o", "unknown-model", u)
	assert.False(t, ok)

	var seen []string
	q, err := New(cfg, WithCostFunc(func(provider, typ, model string, u *Usage) (float64, bool) {
		seen = append(seen, provider+"/"+typ+"/"+model)
		return float64(u.PromptTokens) * 1e-6, model == "gpt-4o"
	}))
	require.NoError(t, err)
	defer q.Close()
	usd, ok = q.Cost("o", "gpt-4o", u)
	assert.True(t, ok)
	assert.InDelta(t, 1, usd, 1e-12)
	assert.Equal(t, []string{"o/fake/gpt-4o"}, seen)
}

func TestKeyPeriods(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return v
	}
	cases := []struct {
		period     string
		now        string
		label      string
		start, end string
	}{
		{"monthly", "2026-12-02T03:00:00Z", "m2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"daily", "2026-12-02T23:59:59Z", "d2026-12-02", "2026-12-02T00:00:00Z", "2026-12-03T00:00:00Z"},
		{"weekly", "2026-12-02T03:00:00Z", "w2026-11-30", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"},    // a Wednesday
		{"weekly", "2026-12-06T23:00:00Z", "w2026-11-30", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"},    // the Sunday
		{"weekly", "2026-12-07T00:00:00Z", "w2026-12-07", "2026-12-07T00:00:00Z", "2026-12-14T00:00:00Z"},    // the next Monday
		{"monthly", "2026-12-01T01:00:00+05:00", "m2026-11", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"}, // UTC
		{"720h", "1970-01-31T00:00:00Z", "p2592000-2592000", "1970-01-31T00:00:00Z", "1970-03-02T00:00:00Z"},
	}
	for _, tc := range cases {
		cfg := Config{Keys: []KeyConfig{{Name: "k", Key: "x", BudgetPeriod: tc.period}}}
		kt, _ := newKeyTable(&cfg)
		label, start, end := kt.byName["k"].periodAt(at(tc.now))
		assert.Equal(t, tc.label, label, "%s at %s", tc.period, tc.now)
		assert.Equal(t, at(tc.start), start, "%s at %s", tc.period, tc.now)
		assert.Equal(t, at(tc.end), end, "%s at %s", tc.period, tc.now)
	}
}
