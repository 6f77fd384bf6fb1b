package llmproxy

import (
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// ModelPrice is the price of a model in US dollars per million tokens (a
// pricing entry of Config.Pricing, or a shipped default). Input and Output
// price the plain prompt and completion tokens; the three others price the
// tokens the upstream reports apart, and default, when nil, to Input
// (CachedInput, CacheWrite) or Output (Reasoning).
type ModelPrice struct {
	Input  float64 `mapstructure:"input" json:"input"`
	Output float64 `mapstructure:"output" json:"output"`
	// CachedInput prices the prompt tokens read from the provider's
	// prompt cache (prompt_tokens_details.cached_tokens).
	CachedInput *float64 `mapstructure:"cached_input" json:"cached_input,omitempty"`
	// CacheWrite prices the prompt tokens written to the cache
	// (Anthropic's cache_creation_input_tokens).
	CacheWrite *float64 `mapstructure:"cache_write" json:"cache_write,omitempty"`
	// Reasoning prices the reasoning (thinking) tokens
	// (completion_tokens_details.reasoning_tokens).
	Reasoning *float64 `mapstructure:"reasoning" json:"reasoning,omitempty"`
}

// Price returns a pointer to v, for the optional fields of ModelPrice.
func Price(v float64) *float64 { return &v }

// orDefault returns *p, or def when p is nil.
func orDefault(p *float64, def float64) float64 {
	if p == nil {
		return def
	}
	return *p
}

// Cost returns the price in US dollars of the tokens u reports at price
// mp. The counts are read as the OpenAI format reports them, which every
// adapter translates to:
//   - prompt_tokens includes the cached tokens (cached_tokens) and the
//     tokens written to the cache (CacheWriteTokens); the rest is plain
//     input;
//   - completion_tokens includes the reasoning tokens (reasoning_tokens),
//     as OpenAI counts them, unless total_tokens says they come on top:
//     xAI reports total = prompt + completion + reasoning, with the
//     reasoning tokens outside completion_tokens, and both are billed.
//
// Counts that do not add up (more cached tokens than prompt tokens) are
// clamped so that no part is negative.
func (mp ModelPrice) Cost(u *Usage) float64 {
	if u == nil {
		return 0
	}
	var cached, cacheWrite, reasoning int
	if d := u.PromptTokensDetails; d != nil {
		cached, cacheWrite = max(d.CachedTokens, 0), max(d.CacheWriteTokens, 0)
	}
	if d := u.CompletionTokensDetails; d != nil {
		reasoning = max(d.ReasoningTokens, 0)
	}
	prompt, completion := max(u.PromptTokens, 0), max(u.CompletionTokens, 0)
	cached = min(cached, prompt)
	cacheWrite = min(cacheWrite, prompt-cached)
	plainIn := prompt - cached - cacheWrite
	plainOut := completion
	if reasoning > 0 && !(u.TotalTokens > 0 && u.TotalTokens >= prompt+completion+reasoning) {
		// OpenAI's shape: the reasoning tokens are part of completion.
		reasoning = min(reasoning, completion)
		plainOut = completion - reasoning
	}
	usd := float64(plainIn)*mp.Input +
		float64(cached)*orDefault(mp.CachedInput, mp.Input) +
		float64(cacheWrite)*orDefault(mp.CacheWrite, mp.Input) +
		float64(plainOut)*mp.Output +
		float64(reasoning)*orDefault(mp.Reasoning, mp.Output)
	return usd / 1e6
}

// CostFunc prices a request for an embedder that keeps its own price list
// (see WithCostFunc): provider is the configured name of the provider that
// answered, providerType its type, model the model that answered (or, when
// the answer does not name one, the model requested) and u the usage the
// upstream reported (never nil). It returns the cost in US dollars and
// whether the model has a price; a request without one costs 0 and is
// counted in llmproxy_unpriced_requests_total. It must be safe for
// concurrent use and fast: it runs once per answered request.
type CostFunc func(provider, providerType, model string, u *Usage) (usd float64, priced bool)

// WithCostFunc makes the proxy price requests with f instead of its pricing
// table (Config.Pricing over the shipped defaults).
func WithCostFunc(f CostFunc) Option {
	return func(p *Proxy) { p.costFunc = f }
}

// priceEntry is one model glob of a price table.
type priceEntry struct {
	pattern string
	price   ModelPrice
}

// priceList is a list of model globs with their prices, searched by
// match.
type priceList struct {
	exact map[string]ModelPrice
	globs []priceEntry // longest pattern first
}

func newPriceList(m map[string]ModelPrice) *priceList {
	l := &priceList{exact: map[string]ModelPrice{}}
	for pat, pr := range m {
		if isGlob(pat) {
			l.globs = append(l.globs, priceEntry{pat, pr})
		} else {
			l.exact[pat] = pr
		}
	}
	slices.SortFunc(l.globs, func(a, b priceEntry) int {
		if d := len(b.pattern) - len(a.pattern); d != 0 {
			return d
		}
		return strings.Compare(a.pattern, b.pattern)
	})
	return l
}

// match returns the price of model: its exact entry, else that of the
// longest glob that matches it (the most specific; ties go to the first in
// lexical order).
func (l *priceList) match(model string) (ModelPrice, bool) {
	if l == nil {
		return ModelPrice{}, false
	}
	if pr, ok := l.exact[model]; ok {
		return pr, true
	}
	for _, e := range l.globs {
		if ok, _ := path.Match(e.pattern, model); ok {
			return e.price, true
		}
	}
	return ModelPrice{}, false
}

// priceTable prices requests: the configuration's pricing first, then the
// shipped defaults of the answering provider's type, then the defaults of
// every type (so that a model served through a compatible provider, such
// as an Azure or local deployment of an OpenAI model, still has a price);
// for a "vendor/model" name (OpenRouter's), the part after the slash is
// looked up in the defaults too.
type priceTable struct {
	config *priceList

	// cache remembers the lookups of up to maxPriceCache (type, model)
	// pairs, so that a request does not match every glob again.
	cache  sync.Map // priceKey -> priceHit
	cached atomic.Int32
}

// maxPriceCache bounds the lookups a priceTable remembers: model names
// come from clients.
const maxPriceCache = 1000

type priceKey struct{ typ, model string }

type priceHit struct {
	price ModelPrice
	ok    bool
}

// defaultLists holds the shipped defaults by provider type, and all of
// them under "".
var defaultLists = func() map[string]*priceList {
	out := map[string]*priceList{}
	all := map[string]ModelPrice{}
	for typ, m := range defaultPrices {
		out[typ] = newPriceList(m)
		if typ == "mock" {
			continue // the mock is free, but only when it answers
		}
		for pat, pr := range m {
			if _, dup := all[pat]; !dup {
				all[pat] = pr
			}
		}
	}
	out[""] = newPriceList(all)
	return out
}()

func newPriceTable(cfg map[string]ModelPrice) *priceTable {
	return &priceTable{config: newPriceList(cfg)}
}

// lookup returns the price of model answered by a provider of type typ.
func (t *priceTable) lookup(typ, model string) (ModelPrice, bool) {
	k := priceKey{typ, model}
	if v, ok := t.cache.Load(k); ok {
		h := v.(priceHit)
		return h.price, h.ok
	}
	pr, ok := t.find(typ, model)
	if len(model) <= maxCachedModelName && t.cached.Load() < maxPriceCache {
		if _, loaded := t.cache.LoadOrStore(k, priceHit{pr, ok}); !loaded {
			t.cached.Add(1)
		}
	}
	return pr, ok
}

// find is lookup without the cache.
func (t *priceTable) find(typ, model string) (ModelPrice, bool) {
	if pr, ok := t.config.match(model); ok {
		return pr, true
	}
	if pr, ok := defaultLists[typ].match(model); ok {
		return pr, true
	}
	if pr, ok := defaultLists[""].match(model); ok {
		return pr, true
	}
	if _, rest, ok := strings.Cut(model, "/"); ok && rest != "" {
		return defaultLists[""].match(rest)
	}
	if rest := bedrockModelName(model); rest != "" {
		return defaultLists[""].match(rest)
	}
	return ModelPrice{}, false
}

// bedrockModelName returns the vendor's own name in a Bedrock model id or
// inference profile ("anthropic.claude-3-5-haiku-20241022-v1:0",
// "us.anthropic.claude-sonnet-4-20250514-v1:0" → "claude-…"), which
// Bedrock bills at the vendor's list price, or "" for other names.
func bedrockModelName(model string) string {
	for _, vendor := range [...]string{"anthropic.", "amazon.", "cohere.", "meta.", "mistral.", "deepseek."} {
		if i := strings.Index(model, vendor); i >= 0 && !strings.Contains(model[:i], "/") {
			return model[i+len(vendor):]
		}
	}
	return ""
}

// DefaultPrice returns the shipped default price of model answered by a
// provider of type typ (see DefaultPricesDate for when they were taken),
// without any configured pricing.
func DefaultPrice(typ, model string) (ModelPrice, bool) {
	return (&priceTable{}).find(typ, model)
}

// Cost prices the usage u of a request that provider (a configured name)
// answered with model, as the proxy does for _proxy_info.cost_usd and the
// keys' budgets: with the CostFunc of WithCostFunc when there is one, else
// with the configuration's pricing over the shipped defaults. priced is
// false for a model without a price (the cost is then 0) and for a nil u.
func (p *Proxy) Cost(provider, model string, u *Usage) (usd float64, priced bool) {
	st := p.state.Load()
	typ := ""
	if u := st.byName[provider]; u != nil {
		typ = u.cfg.Type
	}
	return p.cost(st, provider, typ, model, "", u)
}

// cost prices u for provider of type typ: by the answering model, else by
// the requested one.
func (p *Proxy) cost(st *state, provider, typ, answered, requested string, u *Usage) (float64, bool) {
	if u == nil {
		return 0, false
	}
	for _, m := range [2]string{answered, requested} {
		if m == "" {
			continue
		}
		if p.costFunc != nil {
			if usd, ok := p.costFunc(provider, typ, m, u); ok {
				return usd, true
			}
			continue
		}
		if pr, ok := st.prices.lookup(typ, m); ok {
			return pr.Cost(u), true
		}
	}
	return 0, false
}
