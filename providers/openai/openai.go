// Package openai provides the adapter for every upstream that speaks the
// OpenAI wire format. Importing the package registers these provider
// types:
//
//	import _ "github.com/llmproxy/llmproxy/providers/openai"
//
//	openai      https://api.openai.com/v1, or any OpenAI-compatible server
//	            (vLLM, Ollama, llama.cpp, …) given its base_url, e.g.
//	            http://localhost:11434/v1; with no API key no
//	            Authorization header is sent
//	perplexity  https://api.perplexity.ai (chat only, no /v1)
//	grok        https://api.x.ai/v1 (xAI)
//	openrouter  https://openrouter.ai/api/v1
//	blackbox    https://api.blackbox.ai (chat only, no /v1)
//	azure       Azure OpenAI: base_url is the resource's endpoint, and
//	            api_version, deployments and azure_auth say how to reach
//	            it (see azure.go)
//	mistral, groq, deepseek, together, fireworks
//	            presets with their vendor's base URL and key variable
//	ollama      http://localhost:11434/v1, no key
//	vllm, lmstudio
//	            local servers: base_url required, no key
//
// Each type is a flavor of the same adapter with its upstream's default base
// URL and quirks: where its chat endpoint lives, which other endpoints it
// has, how its errors look and what its requests and answers need fixed.
// The abilities a flavor lacks are absent from the provider New returns, so
// type assertions on llmproxy.Completer, llmproxy.Embedder,
// llmproxy.ModelLister and llmproxy.HealthChecker tell the truth: a
// perplexity or blackbox provider lists no models (the proxy then serves the
// configured list) and has no health check (neither upstream has an endpoint
// that costs nothing).
//
// OpenRouter's attribution headers are set in the provider's
// custom_headers:
//
//	custom_headers:
//	  HTTP-Referer: https://myapp.example
//	  X-Title: My App
//
// A request parsed from a client (see llmproxy.ParseChatRequest) is sent
// upstream as the exact bytes the client sent whenever the flavor does not
// need to change it, so members the proxy does not model still arrive; the
// upstream's answer is kept byte for byte (see llmproxy.ChatResponse.Raw).
package openai

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/llmproxy/llmproxy"
)

func init() {
	for _, f := range flavors {
		llmproxy.RegisterProviderType(f.name, func(cfg llmproxy.ProviderConfig) (llmproxy.Provider, error) {
			return New(cfg, f.name)
		})
		if len(f.keyEnv) > 0 || f.needsBaseURL {
			llmproxy.RegisterProviderTypeDefaults(f.name, llmproxy.ProviderTypeDefaults{
				APIKeyEnv: f.keyEnv, RequiresBaseURL: f.needsBaseURL})
		}
	}
}

// Provider talks to one OpenAI-format upstream. On its own it answers chat
// completions; New wraps it in a type that adds the abilities its flavor
// has. It holds no mutable state beyond its connection pool and is safe for
// concurrent use.
type Provider struct {
	name    string
	flavor  *flavor
	baseURL string
	key     string
	headers map[string]string
	client  *http.Client

	// authHeader and authValue are the header that carries the key and
	// its value, made once rather than on every request:
	// "Authorization: Bearer <key>", or Azure's "api-key: <key>"; none
	// ("") when the key is empty.
	authHeader, authValue string

	// streamUsage reports whether streamed requests ask for
	// stream_options.include_usage (the flavor's setting; for Azure, the
	// API version's).
	streamUsage bool
	// azure routes the requests of an Azure OpenAI provider; nil for
	// the other flavors.
	azure *azureRoutes
	// responses reports that the upstream serves the Responses API (see
	// speaksResponses).
	responses bool
}

// New returns a provider for the upstream described by cfg, speaking the
// given flavor (a provider type this package registers: "openai",
// "perplexity", "azure", "mistral", …). cfg.BaseURL overrides the flavor's
// default base URL; the flavors without one (azure, vllm, lmstudio)
// require it. The returned value is a *Provider for the chat-only flavors
// and a type that also implements the flavor's optional interfaces
// (llmproxy.Completer, llmproxy.Embedder, llmproxy.ModelLister,
// llmproxy.HealthChecker) for the others; every one implements
// llmproxy.Closer. Requests carry the key as "Authorization: Bearer" (none
// when cfg.APIKey is empty; Azure's "api-key" header by default) and
// cfg.CustomHeaders, which may override the adapter's own headers; no
// header of a client's request is ever forwarded. The provider sends its
// requests with a client built by llmproxy.NewHTTPClient, which follows
// redirects only within the same host. New does no I/O; the provider it
// returns is safe for concurrent use.
func New(cfg llmproxy.ProviderConfig, flavor string) (llmproxy.Provider, error) {
	f, ok := flavorByName(flavor)
	if !ok {
		return nil, fmt.Errorf("openai: unknown flavor %q (known: %s)", flavor, strings.Join(flavorNames(), ", "))
	}
	if f.needsBaseURL && cfg.BaseURL == "" {
		return nil, fmt.Errorf("openai: type %s needs a base_url", f.name)
	}
	base, err := llmproxy.ResolveBaseURL(cfg, f.baseURL)
	if err != nil {
		return nil, fmt.Errorf("openai: %w", err)
	}
	name := cfg.Name
	if name == "" {
		name = f.name
	}
	p := &Provider{
		name:    name,
		flavor:  f,
		baseURL: base,
		key:     cfg.APIKey.Reveal(),
		headers: cfg.CustomHeaders,
		client:  llmproxy.NewHTTPClient(cfg),

		streamUsage: f.streamUsage,
	}
	if f == azureFlavor {
		p.azure = newAzureRoutes(cfg)
		p.streamUsage = p.azure.streamUsage()
	}
	switch {
	case p.key == "":
	case p.azure != nil && !p.azure.bearer:
		p.authHeader, p.authValue = "Api-Key", p.key // api-key
	default:
		p.authHeader, p.authValue = "Authorization", "Bearer "+p.key
	}
	cat := catalogProvider{p}
	p.responses = speaksResponses(cfg, f, base)
	switch f.caps {
	case capsAll:
		return embeddingProvider{listingProvider{cat}}, nil
	case capsNoEmbeddings:
		return listingProvider{cat}, nil
	case capCatalog | capEmbeddings:
		return embedOnlyProvider{cat}, nil
	case capCatalog:
		return cat, nil
	case capsChatOnly:
		return p, nil
	}
	return nil, fmt.Errorf("openai: flavor %s has no provider type for its capabilities", f.name)
}

// Name returns the provider's configured name.
func (p *Provider) Name() string { return p.name }

// Flavor returns the provider type the provider speaks, e.g. "perplexity".
func (p *Provider) Flavor() string { return p.flavor.name }

// BaseURL returns the base URL requests go to, without a trailing slash.
func (p *Provider) BaseURL() string { return p.baseURL }

// Close closes the provider's idle connections; in-flight requests finish.
// It may be called more than once and concurrently with requests. It always
// returns nil.
func (p *Provider) Close() error {
	p.client.CloseIdleConnections()
	return nil
}

// catalogProvider is a Provider whose upstream also lists its models and
// has a free health check (groq, deepseek).
type catalogProvider struct{ *Provider }

var (
	_ llmproxy.ModelLister   = catalogProvider{}
	_ llmproxy.HealthChecker = catalogProvider{}
	_ llmproxy.Closer        = catalogProvider{}
)

// ListModels returns the upstream's models (see Provider.listModels).
func (p catalogProvider) ListModels(ctx context.Context) ([]llmproxy.Model, error) {
	return p.listModels(ctx)
}

// HealthCheck asks the upstream an authenticated question that costs no
// tokens (see Provider.healthCheck).
func (p catalogProvider) HealthCheck(ctx context.Context) error { return p.healthCheck(ctx) }

// listingProvider is a catalogProvider whose upstream also answers legacy
// completions (grok).
type listingProvider struct{ catalogProvider }

var _ llmproxy.Completer = listingProvider{}

// Completion answers a legacy text completion (see Provider.completion).
func (p listingProvider) Completion(ctx context.Context, req *llmproxy.CompletionRequest) (*llmproxy.CompletionResponse, error) {
	return p.completion(ctx, req)
}

// embeddingProvider is a listingProvider whose upstream also computes
// embeddings (openai, openrouter, azure, …).
type embeddingProvider struct{ listingProvider }

var _ llmproxy.Embedder = embeddingProvider{}

// Embeddings computes embeddings (see Provider.embeddings).
func (p embeddingProvider) Embeddings(ctx context.Context, req *llmproxy.EmbeddingRequest) (*llmproxy.EmbeddingResponse, error) {
	return p.embeddings(ctx, req)
}

// embedOnlyProvider is a catalogProvider whose upstream computes
// embeddings but has no legacy completions (mistral).
type embedOnlyProvider struct{ catalogProvider }

var _ llmproxy.Embedder = embedOnlyProvider{}

// Embeddings computes embeddings (see Provider.embeddings).
func (p embedOnlyProvider) Embeddings(ctx context.Context, req *llmproxy.EmbeddingRequest) (*llmproxy.EmbeddingResponse, error) {
	return p.embeddings(ctx, req)
}
