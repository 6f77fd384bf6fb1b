// Package llmproxy puts one OpenAI-compatible API in front of many LLM
// providers (OpenAI, Anthropic, Cohere, Google Gemini, AWS Bedrock, Azure
// OpenAI, Perplexity, xAI Grok, OpenRouter, Blackbox, the OpenAI-compatible
// presets and any OpenAI-compatible server, plus a local mock), with
// failover by priority, model and alias, retries with exponential backoff
// and jitter, and typed errors. The native APIs of Anthropic, Cohere,
// Gemini and Bedrock are translated to and from the OpenAI shape.
//
// It is a library first. New builds a Proxy from a Config, which is built
// in code or loaded from a YAML file with LoadConfig:
//
//	cfg, err := llmproxy.LoadConfig("config.yaml")
//	p, err := llmproxy.New(cfg, llmproxy.WithLogger(logger))
//	defer p.Close()
//	resp, err := p.ChatCompletion(ctx, &llmproxy.ChatRequest{Model: "gpt-4o-mini", Messages: msgs})
//
// Built-in provider types live in their own packages and register
// themselves when imported; providers/all links every one of them, as
// cmd/llmproxy does:
//
//	import _ "github.com/llmproxy/llmproxy/providers/all"
//
// or one by one:
//
//	import _ "github.com/llmproxy/llmproxy/providers/openai"    // openai, perplexity, grok, blackbox, openrouter
//	import _ "github.com/llmproxy/llmproxy/providers/anthropic" // anthropic
//	import _ "github.com/llmproxy/llmproxy/providers/cohere"    // cohere
//	import _ "github.com/llmproxy/llmproxy/providers/gemini"    // gemini
//	import _ "github.com/llmproxy/llmproxy/providers/mock"      // mock
//
// New's error for a type that is not linked names the import to add.
//
// # Routing
//
// The candidates for a request are the enabled providers whose models
// match the requested model (exactly or by glob; an empty list matches every
// model), tried in priority order (1 first). A retryable failure (5xx,
// connection reset, a 429) is retried on the same provider up to
// max_retries times, honouring Retry-After when it fits the deadline; then
// the next candidate is tried. An invalid request (a 400 from the upstream)
// returns at once. The request timeout bounds the whole run, and every wait
// ends when the caller's context does.
//
// A model alias (Config.ModelAliases) tries its concrete models in turn,
// each on the providers that serve it; a provider's ModelMap serves a
// public name under its own id. Each attempt sends its provider's model
// (UpstreamModel), and ProxyInfo.Model names it. A provider with several
// keys (ProviderConfig.APIKeys) takes them in turn and rests a refused one.
//
// # Nothing is lost
//
// Request and response types model the fields the proxy reads and keep all
// others in Extra, so tools, response_format, reasoning_effort and vendor
// extras reach an OpenAI-compatible upstream unchanged, and every member of
// its answer comes back.
//
// # Errors
//
// Every error is an *Error with a Kind; errors.As finds it. The kind alone
// decides retries and failover. An error returned after more than one
// attempt, or after every provider serving the model was tried, has
// NoRetry set (unless Config.ClientRetryAfterFailover is on, or the error
// has a RetryAfter): the server then answers "x-should-retry: false", so
// that client SDKs do not repeat the proxy's retries.
//
// # Custom providers
//
// A provider is any type with Name and ChatCompletion methods; optional
// abilities (ChatStreamer, Completer, Embedder, ModelLister,
// HealthChecker) are found by type assertion. Register a factory under a
// type name with RegisterProviderType and use that name in the
// configuration.
//
// # Forwarding bytes
//
// A server that speaks the OpenAI format to its clients need not decode
// what it forwards: ReadChatRequest reads only a request's model, stream
// flag and stream_options.include_usage (with gjson) into a RawChatRequest,
// and ChatCompletionRaw and ChatCompletionStreamRaw return the upstream's
// answer and chunks as JSON bytes. Providers whose upstream speaks the
// OpenAI format implement RawChatCompleter and RawChatStreamer to take the
// client's bytes and hand the answers over undecoded; the others get the
// request decoded once (RawChatRequest.Decode). A stream reader that
// implements WaitNotifier lets the server flush only when no further chunk
// has arrived. A raw stream's chunks point into the reader's buffer and
// are valid until the next Next (use Keep or RawChunk.Clone to hold one).
//
// Other inbound formats are fronts, each a package of its own:
// front/messages (Anthropic's Messages API) and front/responses (OpenAI's
// Responses API). A front routes its requests through the same router with
// RouteRaw and RouteStreamRaw, passing the client's bytes through
// (NativeRequest) to a provider that speaks its format and translating to
// chat for the others, so that failover across formats is invisible.
package llmproxy
