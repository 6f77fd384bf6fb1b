package llmproxy

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Provider is an upstream that answers chat completions. Name returns the
// provider's configured name. Implementations must be safe for concurrent
// use and must return *Error values (see TransportError and KindFromStatus)
// so that the router can tell retryable failures from final ones.
//
// Optional abilities are separate interfaces found by type assertion:
// ChatStreamer, Completer, Embedder, ModelLister and HealthChecker.
type Provider interface {
	Name() string
	ChatCompletion(ctx context.Context, req *ChatRequest) (*ChatResponse, error)
}

// Completer is a Provider that answers legacy text completions.
type Completer interface {
	Completion(ctx context.Context, req *CompletionRequest) (*CompletionResponse, error)
}

// Embedder is a Provider that computes embeddings.
type Embedder interface {
	Embeddings(ctx context.Context, req *EmbeddingRequest) (*EmbeddingResponse, error)
}

// ModelLister is a Provider that can list the models it serves.
type ModelLister interface {
	ListModels(ctx context.Context) ([]Model, error)
}

// HealthChecker is a Provider with a check that costs no tokens.
type HealthChecker interface {
	HealthCheck(ctx context.Context) error
}

// Closer is a Provider that holds resources to release when the proxy
// closes or a reload drops it.
type Closer interface {
	Close() error
}

// ProviderFactory builds a Provider from its configuration. cfg has been
// validated and its defaults applied; cfg.APIKey holds the resolved key.
type ProviderFactory func(cfg ProviderConfig) (Provider, error)

// registry maps provider type names to factories. Registration happens at
// init time, like database/sql drivers; the map only ever grows and holds
// no per-proxy state, so proxies in one process never collide through it.
var registry = struct {
	sync.RWMutex
	m map[string]ProviderFactory
}{m: map[string]ProviderFactory{}}

// builtinImports names the package that registers each built-in type, for
// the error a user sees when it was not imported.
var builtinImports = map[string]string{
	"openai":     "github.com/llmproxy/llmproxy/providers/openai",
	"perplexity": "github.com/llmproxy/llmproxy/providers/openai",
	"grok":       "github.com/llmproxy/llmproxy/providers/openai",
	"blackbox":   "github.com/llmproxy/llmproxy/providers/openai",
	"openrouter": "github.com/llmproxy/llmproxy/providers/openai",
	"mock":       "github.com/llmproxy/llmproxy/providers/mock",
	"anthropic":  "github.com/llmproxy/llmproxy/providers/anthropic",
	"cohere":     "github.com/llmproxy/llmproxy/providers/cohere",
	"bedrock":    "github.com/llmproxy/llmproxy/providers/bedrock",
	"gemini":     "github.com/llmproxy/llmproxy/providers/gemini",

	// Azure OpenAI and the OpenAI-compatible presets.
	"azure":     "github.com/llmproxy/llmproxy/providers/openai",
	"mistral":   "github.com/llmproxy/llmproxy/providers/openai",
	"groq":      "github.com/llmproxy/llmproxy/providers/openai",
	"deepseek":  "github.com/llmproxy/llmproxy/providers/openai",
	"together":  "github.com/llmproxy/llmproxy/providers/openai",
	"fireworks": "github.com/llmproxy/llmproxy/providers/openai",
	"ollama":    "github.com/llmproxy/llmproxy/providers/openai",
	"vllm":      "github.com/llmproxy/llmproxy/providers/openai",
	"lmstudio":  "github.com/llmproxy/llmproxy/providers/openai",
}

// allProvidersImport is the package that links every built-in type.
const allProvidersImport = "github.com/llmproxy/llmproxy/providers/all"

// RegisterProviderType makes a provider type available to every proxy in
// the process under the name typ, which config files use as a provider's
// type. It panics if typ is empty, f is nil or typ is already registered.
// Call it from an init function. It is safe for concurrent use.
func RegisterProviderType(typ string, f ProviderFactory) {
	if typ == "" || f == nil {
		panic("llmproxy: RegisterProviderType needs a name and a factory")
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[typ]; dup {
		panic("llmproxy: provider type " + typ + " registered twice")
	}
	registry.m[typ] = f
}

// ProviderTypes returns the registered provider type names, sorted.
func ProviderTypes() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.m))
	for k := range registry.m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func lookupProviderType(typ string) (ProviderFactory, error) {
	registry.RLock()
	f, ok := registry.m[typ]
	registry.RUnlock()
	if ok {
		return f, nil
	}
	if pkg, builtin := builtinImports[typ]; builtin {
		return nil, fmt.Errorf("provider type %q is built in but not linked into this program; add import _ %q (or _ %q for every built-in type)", typ, pkg, allProvidersImport)
	}
	known := ProviderTypes()
	for t := range builtinImports {
		if !slices.Contains(known, t) {
			known = append(known, t)
		}
	}
	sort.Strings(known)
	return nil, fmt.Errorf("unknown provider type %q (known types: %s)", typ, strings.Join(known, ", "))
}
