// Package gemini provides the adapter for Google's native Gemini API
// (generativelanguage.googleapis.com). Importing the package registers the
// provider type "gemini":
//
//	import _ "github.com/llmproxy/llmproxy/providers/gemini"
//
// Clients speak OpenAI's API to the proxy; the adapter translates to and
// from Gemini's own wire format:
//
//	chat completions   POST models/{model}:generateContent
//	streamed chat      POST models/{model}:streamGenerateContent?alt=sse
//	embeddings         POST models/{model}:embedContent (one input),
//	                   POST models/{model}:batchEmbedContents (a list)
//	model list         GET  models (paged, at most five pages)
//	health check       GET  models?pageSize=1 (costs no tokens)
//
// The default base URL is https://generativelanguage.googleapis.com/v1beta;
// base_url overrides it. Requests carry the key in the "x-goog-api-key"
// header (never in the URL, so that no logged URL holds it) and the
// provider's custom_headers; no header of a client's request is forwarded.
// A model may be named "gemini-2.5-flash", "models/gemini-2.5-flash" or
// "tunedModels/my-model"; other names with a slash are refused.
//
// # Chat requests
//
// System and developer messages, wherever they stand, become
// systemInstruction, in order. User messages become "user" contents: text
// parts, images (a data: URL becomes inlineData; an http(s) URL becomes
// fileData, which Gemini fetches itself, with a MIME type guessed from the
// URL's extension), input_audio and file parts with file_data (inlineData).
// Assistant messages become "model" contents with their text and one
// functionCall part per tool call (arguments must be a JSON object). Tool
// messages become functionResponse parts of a "user" content; the function
// name is the one of the assistant's tool call with the same tool_call_id,
// and a JSON-object result is sent as the response, anything else as
// {"output": text}. Consecutive contents of one role are merged, so that the
// results of parallel calls travel together as Gemini requires; empty text
// parts, which Gemini refuses, are left out.
//
// max_completion_tokens (else max_tokens) becomes maxOutputTokens, stop
// stopSequences, temperature, top_p, seed, presence_penalty and
// frequency_penalty keep their meaning, n becomes candidateCount.
// response_format json_object becomes responseMimeType application/json;
// json_schema adds the schema as responseSchema when it fits Gemini's
// OpenAPI subset, else as responseJsonSchema (any JSON Schema); function
// parameters are sent the same way (parameters or parametersJsonSchema).
// tool_choice auto, none and required become functionCallingConfig modes
// AUTO, NONE and ANY; a named function becomes ANY with that function as
// the only allowed name. reasoning_effort becomes thinkingConfig, as
// Google's own OpenAI layer maps it: none → thinkingBudget 0; minimal and
// low → 1024; medium → 8192; high and xhigh → 24576, with includeThoughts,
// so that the thoughts come back. Gemini-native members a client may add
// (thinking_config, safety_settings, top_k, cached_content, also in their
// camelCase spelling) are checked and passed through; thinking_config wins
// over reasoning_effort. logprobs, top_logprobs, non-function tools,
// allowed_tools choices and unknown content parts are refused with a 400
// (llmproxy.KindInvalidRequest); other OpenAI members without a Gemini
// counterpart (user, metadata, store, parallel_tool_calls, stream_options,
// service_tier, logit_bias, …) are dropped.
//
// # Tool call ids and thought signatures
//
// Gemini names a call by its function and may send no id: a call without
// one gets "call_<n>" (n counts the candidate's calls from 0, the same in a
// whole answer and a stream). Gemini 3 models sign their function calls
// (thoughtSignature) and refuse, with a 400, a conversation whose calls
// come back unsigned. The signature rides in the tool call id, after
// "__thought__", so that every OpenAI client returns it unchanged; the
// adapter splits it off again and puts it back on the functionCall part.
// The first call of an assistant turn that carries no signature (history
// from another provider) gets Google's documented placeholder
// "skip_thought_signature_validator", except for the Gemini 1 and 2
// families, which never required signatures. Signatures on text parts are
// dropped: Gemini only checks those of function calls. A signature is tied
// to the model (and key) that made it: a conversation failed over from one
// Gemini provider to another mid-way may be refused as "Corrupted thought
// signature" (a 400).
//
// # Answers
//
// Each candidate becomes a choice: its text parts joined as content, its
// thought parts as the message's reasoning_content (thoughts come only when
// includeThoughts was asked for), its function calls as tool_calls.
// Finish reasons: STOP → stop (tool_calls when the candidate called a
// function), MAX_TOKENS → length, SAFETY, RECITATION, PROHIBITED_CONTENT,
// BLOCKLIST, SPII and the IMAGE_ safety reasons → content_filter, anything
// else → stop; Gemini's own reason is kept as native_finish_reason. A
// prompt blocked by promptFeedback.blockReason is an answer with empty
// content and finish_reason content_filter, one choice per candidate asked
// for. Usage: prompt_tokens is promptTokenCount plus
// toolUsePromptTokenCount, completion_tokens candidatesTokenCount plus
// thoughtsTokenCount (as OpenAI counts reasoning),
// completion_tokens_details.reasoning_tokens thoughtsTokenCount,
// prompt_tokens_details.cached_tokens cachedContentTokenCount, total_tokens
// totalTokenCount. Safety ratings, citations, grounding metadata and media
// Gemini generates (inlineData in answers) are dropped. Gemini counts
// thinking tokens against maxOutputTokens: a small max_tokens on a thinking
// model can end in finish_reason length with no content.
//
// # Streams
//
// Gemini's SSE stream has one GenerateContentResponse per data: event and
// no terminator: the stream is complete once every candidate sent its
// finishReason (or the prompt was blocked). The adapter then sends the
// finish chunks and, when Gemini sent usage, a usage chunk with no choices,
// and ends the stream (io.EOF) without reading further. The end of the body
// before that is a cut stream (llmproxy.KindUnavailable), as is an event
// that does not decode; an {"error":{...}} object in the stream is Gemini's
// error. Every chunk has the same id (Gemini's responseId), created and
// model; a function call arrives whole, as one tool call fragment with its
// id, name and arguments.
//
// # Embeddings
//
// A single string input is sent to :embedContent, a list to
// :batchEmbedContents in batches of at most 100 (Gemini's limit), joined
// again in order; token arrays are refused. dimensions becomes
// outputDimensionality; a client's task_type (or taskType) and title are
// passed through. Vectors are returned as base64 when the client asked for
// encoding_format base64. Gemini's embedding answers carry no token counts,
// so usage is zero unless Gemini sends usageMetadata.
//
// # Errors
//
// Gemini's {"error":{"code","message","status","details"}} becomes an
// *llmproxy.Error with Gemini's message: 400 INVALID_ARGUMENT and
// FAILED_PRECONDITION are KindInvalidRequest, except an API key Gemini
// reports as invalid (a 400 with reason API_KEY_INVALID), which is KindAuth,
// and a FAILED_PRECONDITION saying that the caller's location is not
// supported, which is KindAuth too (this provider cannot serve the
// deployment: fail over). 401 and 403 PERMISSION_DENIED are KindAuth, 404
// KindNotFound, 429 RESOURCE_EXHAUSTED KindRateLimited with the wait of
// Retry-After or of the RetryInfo detail's retryDelay (KindQuotaExceeded
// when a violated quota is a per-day one), 500 and 503 KindUnavailable, 504
// DEADLINE_EXCEEDED KindTimeout. The key never appears in an error.
package gemini

import (
	"fmt"

	"github.com/llmproxy/llmproxy"
)

func init() {
	llmproxy.RegisterProviderType("gemini", func(cfg llmproxy.ProviderConfig) (llmproxy.Provider, error) {
		return New(cfg)
	})
}

// DefaultBaseURL is the base URL of Gemini's API, used when the
// configuration names none.
const DefaultBaseURL = "https://generativelanguage.googleapis.com/v1beta"

// Provider talks to Gemini's native API. It implements llmproxy.Provider,
// llmproxy.ChatStreamer, llmproxy.Embedder, llmproxy.ModelLister,
// llmproxy.HealthChecker and llmproxy.Closer. It holds no mutable state
// beyond its connection pool and is safe for concurrent use.
type Provider struct {
	up  llmproxy.HTTPUpstream
	key string
}

var (
	_ llmproxy.Provider      = (*Provider)(nil)
	_ llmproxy.ChatStreamer  = (*Provider)(nil)
	_ llmproxy.Embedder      = (*Provider)(nil)
	_ llmproxy.ModelLister   = (*Provider)(nil)
	_ llmproxy.HealthChecker = (*Provider)(nil)
	_ llmproxy.Closer        = (*Provider)(nil)
)

// New returns a provider for the Gemini upstream described by cfg.
// cfg.BaseURL overrides DefaultBaseURL. Requests carry the key in the
// x-goog-api-key header (none when cfg.APIKey is empty) and
// cfg.CustomHeaders, which may override the adapter's own headers. The
// provider sends its requests with a client built by
// llmproxy.NewHTTPClient. New does no I/O.
func New(cfg llmproxy.ProviderConfig) (*Provider, error) {
	base, err := llmproxy.ResolveBaseURL(cfg, DefaultBaseURL)
	if err != nil {
		return nil, fmt.Errorf("gemini: %w", err)
	}
	name := cfg.Name
	if name == "" {
		name = "gemini"
	}
	p := &Provider{key: cfg.APIKey.Reveal()}
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
