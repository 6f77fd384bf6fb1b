// Package cohere provides the adapter for Cohere's native API v2. Importing
// the package registers the provider type "cohere":
//
//	import _ "github.com/llmproxy/llmproxy/providers/cohere"
//
// Clients speak OpenAI's API to the proxy; the adapter translates to and
// from Cohere's own wire format:
//
//	chat completions   POST /v2/chat (streamed as Cohere's SSE events)
//	embeddings         POST /v2/embed
//	model list         GET  /v1/models (paged, at most five pages)
//	health check       POST /v1/check-api-key (costs no tokens)
//
// The default base URL is https://api.cohere.com; base_url overrides it.
// Requests carry the key as "Authorization: Bearer" and the provider's
// custom_headers; no header of a client's request is ever forwarded.
//
// # Chat requests
//
// Messages map role by role: system and developer become Cohere system
// messages, user messages keep their text and image_url parts, assistant
// messages keep their text and tool calls (an assistant's
// reasoning_content, if it calls tools, becomes Cohere's tool_plan), and
// tool results become {"role":"tool","tool_call_id","content"}. top_p
// becomes p (clamped to Cohere's range 0.01–0.99, so the common top_p 1
// still works), stop becomes stop_sequences, max_completion_tokens (or
// max_tokens) becomes max_tokens; temperature, seed, frequency_penalty
// and presence_penalty keep their names and values (Cohere's spec allows
// temperature 0–1 only, so Cohere itself refuses higher ones with a 400). Function tools map one to one (a
// tool without parameters gets an empty object schema, and strict on any
// tool sets Cohere's strict_tools). response_format json_object stays
// json_object; json_schema becomes json_object with the schema under
// json_schema, as Cohere has no json_schema type.
//
// tool_choice "auto" is Cohere's default and is left out; "required" and
// "none" become REQUIRED and NONE. Cohere cannot force one named tool, so a
// tool_choice naming a function is refused with a 400
// (llmproxy.KindInvalidRequest) rather than silently loosened; so are
// n > 1, logprobs and top_logprobs (Cohere's log probabilities have another
// shape), non-function tools and content parts Cohere cannot take.
// Cohere-native members a client may add (k, safety_mode, documents,
// citation_options, thinking, priority, strict_tools) are passed through;
// other OpenAI members without a Cohere counterpart (user, metadata,
// parallel_tool_calls, stream_options, …) are dropped.
//
// # Chat answers
//
// Text content blocks are joined into the message content; thinking blocks
// and the tool_plan become the message's reasoning_content, so reasoning
// models start a stream early. Tool calls map one to one (arguments "null"
// become "{}"). Finish reasons: COMPLETE and STOP_SEQUENCE → stop,
// MAX_TOKENS → length, TOOL_CALL → tool_calls; each choice also carries
// Cohere's own reason as native_finish_reason. A generation that ended in
// ERROR or TIMEOUT is surfaced as an error rather than passed off as a
// whole answer: ERROR is llmproxy.KindUnavailable, TIMEOUT
// llmproxy.KindTimeout, with Cohere's error text when it sent one. In a
// stream that already sent content, the finish chunk (finish_reason stop)
// and the usage chunk come first and the error then ends the stream.
//
// Usage counts Cohere's usage.tokens (the real model tokens, prompt
// template included) as prompt and completion tokens, cached_tokens as
// prompt_tokens_details.cached_tokens, and keeps Cohere's billed_units
// (usually much smaller) as the usage member billed_units, so logs can show
// what was billed. Cohere citations are kept as the message's citations
// member in whole answers and are not streamed.
//
// # Streams
//
// A streamed request asks for text/event-stream and reads Cohere's named
// SSE events; newline-delimited JSON framing is understood too. Every chunk
// has the same id (the message-start event's), created and model, and is
// encoded by the server (chunks keep no upstream bytes). message-start
// gives the role chunk; content deltas give content (thinking deltas and
// tool-plan-delta give reasoning_content); tool-call-start gives a tool
// call's first fragment (index, id, type, name) and tool-call-delta its
// argument fragments, Cohere's object-shaped tool_calls mapped to OpenAI's
// index in the order the calls start; citation, debug and unknown events
// are skipped. message-end gives the finish chunk and then, when Cohere
// sent usage, a usage chunk with no choices, and ends the stream cleanly
// (io.EOF) without reading further, so a trailing [DONE] or the end of the
// body is fine. The end of the body, or a [DONE], before message-end is a
// cut stream (KindUnavailable), as are events that do not decode; an error
// event is Cohere's error.
//
// # Embeddings
//
// input (a string or a list of strings; token arrays are refused) becomes
// texts, sent in batches of at most 96 (Cohere's limit per call) and joined
// again in order. input_type is the client's own input_type member, else
// the provider's embedding_input_type, else "search_document". dimensions
// becomes output_dimension. Vectors are always asked for as floats and
// returned as base64 when the client asked for encoding_format base64.
// Usage is meta.billed_units.input_tokens (else meta.tokens.input_tokens).
//
// # Errors
//
// Cohere's flat {"id","message"} bodies (and {"message"} alone, and bodies
// that are not JSON) become *llmproxy.Error values: 400 and 422 are
// KindInvalidRequest with Cohere's message, 401 and 403 KindAuth, 402
// KindQuotaExceeded, 404 KindNotFound, 429 KindRateLimited with its
// Retry-After (KindQuotaExceeded when Cohere says a trial key's monthly
// allowance is used up), 5xx KindUnavailable. 498, which Cohere's spec
// describes as a request or answer containing a deny-listed token, is
// KindInvalidRequest (answered as 400): it is a refusal of the content, not
// of the key. 499, Cohere's "request cancelled", is KindUnavailable
// (answered as 502), since a request the proxy itself cancelled never reads
// an answer. The key never appears in an error.
package cohere

import (
	"fmt"

	"github.com/llmproxy/llmproxy"
)

func init() {
	llmproxy.RegisterProviderType("cohere", func(cfg llmproxy.ProviderConfig) (llmproxy.Provider, error) {
		return New(cfg)
	})
}

// DefaultBaseURL is the base URL of Cohere's API, used when the
// configuration names none.
const DefaultBaseURL = "https://api.cohere.com"

// Provider talks to Cohere's native API v2. It implements llmproxy.Provider,
// llmproxy.ChatStreamer, llmproxy.Embedder, llmproxy.ModelLister,
// llmproxy.HealthChecker and llmproxy.Closer. It holds no mutable state
// beyond its connection pool and is safe for concurrent use.
type Provider struct {
	up        llmproxy.HTTPUpstream
	key       string
	inputType string
}

var (
	_ llmproxy.Provider      = (*Provider)(nil)
	_ llmproxy.ChatStreamer  = (*Provider)(nil)
	_ llmproxy.Embedder      = (*Provider)(nil)
	_ llmproxy.ModelLister   = (*Provider)(nil)
	_ llmproxy.HealthChecker = (*Provider)(nil)
	_ llmproxy.Closer        = (*Provider)(nil)
)

// New returns a provider for the Cohere upstream described by cfg.
// cfg.BaseURL overrides DefaultBaseURL; cfg.EmbeddingInputType sets the
// input_type of embeddings requests whose client sent none (default
// "search_document"). Requests carry the key as "Authorization: Bearer"
// (none when cfg.APIKey is empty) and cfg.CustomHeaders, which may override
// the adapter's own headers. The provider sends its requests with a client
// built by llmproxy.NewHTTPClient, which follows redirects only within the
// same host. New does no I/O.
func New(cfg llmproxy.ProviderConfig) (*Provider, error) {
	base, err := llmproxy.ResolveBaseURL(cfg, DefaultBaseURL)
	if err != nil {
		return nil, fmt.Errorf("cohere: %w", err)
	}
	name := cfg.Name
	if name == "" {
		name = "cohere"
	}
	inputType := cfg.EmbeddingInputType
	if inputType == "" {
		inputType = defaultInputType
	}
	p := &Provider{key: cfg.APIKey.Reveal(), inputType: inputType}
	p.up = llmproxy.HTTPUpstream{Name: name, BaseURL: base, Headers: cfg.CustomHeaders,
		Client: llmproxy.NewHTTPClient(cfg), Auth: p.auth, StatusError: p.statusError}
	return p, nil
}

// Name returns the provider's configured name.
func (p *Provider) Name() string { return p.up.Name }

// BaseURL returns the base URL requests go to, without a trailing slash.
func (p *Provider) BaseURL() string { return p.up.BaseURL }

// Close closes the provider's idle connections; in-flight requests finish.
// It may be called more than once and concurrently with requests. It always
// returns nil.
func (p *Provider) Close() error {
	p.up.Client.CloseIdleConnections()
	return nil
}
