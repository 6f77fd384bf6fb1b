// Package anthropic provides the adapter for Anthropic's native Messages
// API. Importing the package registers the provider type "anthropic":
//
//	import _ "github.com/llmproxy/llmproxy/providers/anthropic"
//
// Clients keep speaking OpenAI's API; the provider translates each request
// to POST /v1/messages and each answer, or stream of named events, back to
// OpenAI's shapes. It authenticates with "x-api-key" and
// "anthropic-version: 2023-06-01"; beta features are switched on with the
// provider's custom_headers:
//
//	custom_headers:
//	  anthropic-beta: context-1m-2025-08-07
//
// # Request translation
//
// System and developer messages, wherever they stand, become the top-level
// system prompt, in their order. Tool messages become tool_result blocks of
// one user message (consecutive tool messages are merged, and a user
// message that follows is appended to it, after the results); assistant
// tool calls become tool_use blocks. Consecutive messages of the same role
// are merged, since Anthropic wants user and assistant turns to alternate.
//
// Anthropic requires max_tokens. The provider sends max_completion_tokens,
// else max_tokens, else the provider's default_max_tokens, else 4096
// (DefaultMaxTokens). OpenAI accepts temperatures up to 2, Anthropic up to
// 1: higher values are sent as 1. stop becomes stop_sequences and user (or
// safety_identifier) becomes metadata.user_id.
//
// Requests that Anthropic cannot honour are refused with a 400
// (llmproxy.KindInvalidRequest naming the parameter) rather than answered
// differently than asked: n above 1, logprobs, top_logprobs, and content
// parts other than text and images. Knobs without an Anthropic meaning
// (presence_penalty, frequency_penalty, seed, logit_bias, stream_options,
// response_format json_object, reasoning_effort, store, …) are dropped.
// response_format json_schema becomes output_config.format. The members
// Anthropic defines itself (top_k, thinking, output_config, metadata.user_id
// and the service tiers "auto" and "standard_only") are passed through.
// Tools of types other than function (Anthropic's server tools, such as
// web_search_20250305) are sent as they came.
//
// # Answer translation
//
// Text blocks are joined into the message content and tool_use blocks
// become tool_calls; thinking blocks are returned in the non-standard
// message member reasoning_content (reasoning_content deltas when
// streaming), which DeepSeek-style clients show; redacted thinking, server
// tool blocks and citations are dropped. Stop reasons map to finish
// reasons: end_turn, stop_sequence and pause_turn to stop, max_tokens and
// model_context_window_exceeded to length, tool_use to tool_calls and
// refusal to content_filter. Usage counts cached input as prompt tokens,
// as OpenAI does: prompt_tokens is input plus cache reads plus cache
// writes, and prompt_tokens_details.cached_tokens the cache reads.
//
// Streams always end with a usage chunk (choices: []); the proxy passes it
// on only to clients that asked for usage. A stream that ends before
// Anthropic's message_stop event, or carries an error event, fails with an
// *llmproxy.Error; an overloaded_error is llmproxy.KindUnavailable, so a
// failure before the first content fails over to the next provider.
//
// Thinking blocks are not sent back to Anthropic, which has no OpenAI
// counterpart for their signatures: with extended thinking switched on,
// Anthropic may refuse a conversation that continues after the model's
// tool calls.
//
// # Errors
//
// Anthropic's error type becomes the error's Type and its message the
// Message; the request id goes into the cause. 429 rate_limit_error is
// llmproxy.KindRateLimited with the upstream's Retry-After; 529
// overloaded_error, 500 api_error and 504 timeout_error are
// KindUnavailable; billing problems (402 billing_error, a 429 whose
// error_code is enforced_spend_limit_reached, the 400s about a low credit
// balance or reached usage limits) are KindQuotaExceeded; 401 and 403 are
// KindAuth, 404 KindNotFound, 400 (prompt is too long, …) and 413
// KindInvalidRequest.
//
// Legacy text completions (POST /v1/completions) are sent as one user
// message and answered in the text_completion shape. Anthropic has no
// embeddings API, so the provider does not implement llmproxy.Embedder.
package anthropic

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/llmproxy/llmproxy"
)

func init() {
	llmproxy.RegisterProviderType("anthropic", func(cfg llmproxy.ProviderConfig) (llmproxy.Provider, error) {
		return New(cfg)
	})
}

const (
	// DefaultBaseURL is where requests go when the configuration names no
	// base URL.
	DefaultBaseURL = "https://api.anthropic.com"
	// APIVersion is the anthropic-version header sent with every request.
	APIVersion = "2023-06-01"
	// DefaultMaxTokens is the max_tokens sent when neither the request nor
	// the provider's default_max_tokens sets one.
	DefaultMaxTokens = 4096
)

// Provider talks to Anthropic's Messages API. It answers chat completions
// (streamed or not), legacy text completions, lists models and checks its
// health. It holds no mutable state beyond its connection pool and is safe
// for concurrent use.
type Provider struct {
	up        llmproxy.HTTPUpstream
	key       string
	maxTokens int
}

var (
	_ llmproxy.Provider           = (*Provider)(nil)
	_ llmproxy.ChatStreamer       = (*Provider)(nil)
	_ llmproxy.Completer          = (*Provider)(nil)
	_ llmproxy.CompletionStreamer = (*Provider)(nil)
	_ llmproxy.ModelLister        = (*Provider)(nil)
	_ llmproxy.HealthChecker      = (*Provider)(nil)
	_ llmproxy.Closer             = (*Provider)(nil)
)

// New returns a provider for the Anthropic upstream described by cfg.
// cfg.BaseURL overrides DefaultBaseURL; it is the host part, without /v1.
// Requests carry cfg.APIKey as "x-api-key", the anthropic-version header
// and cfg.CustomHeaders, which may override the adapter's own headers; no
// header of a client's request is ever forwarded. cfg.DefaultMaxTokens is
// the max_tokens of requests that set none (0 means DefaultMaxTokens). The
// provider sends its requests with a client built by
// llmproxy.NewHTTPClient, which follows redirects only within the same host.
// New does no I/O; the provider it returns is safe for concurrent use.
func New(cfg llmproxy.ProviderConfig) (*Provider, error) {
	base, err := llmproxy.ResolveBaseURL(cfg, DefaultBaseURL)
	if err != nil {
		return nil, fmt.Errorf("anthropic: %w", err)
	}
	if cfg.DefaultMaxTokens < 0 {
		return nil, fmt.Errorf("anthropic: default_max_tokens must be >= 1, got %d", cfg.DefaultMaxTokens)
	}
	name := cfg.Name
	if name == "" {
		name = "anthropic"
	}
	maxTokens := cfg.DefaultMaxTokens
	if maxTokens == 0 {
		maxTokens = DefaultMaxTokens
	}
	p := &Provider{key: cfg.APIKey.Reveal(), maxTokens: maxTokens}
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

// ChatCompletion translates req to a Messages request, sends it and
// translates the answer to an OpenAI chat completion (see the package
// documentation). req is never modified. A request Anthropic cannot honour
// is refused with an *llmproxy.Error of kind KindInvalidRequest before
// anything is sent; the upstream's own errors keep its message and type;
// an answer that is not a usable message, or is larger than 32 MiB, is
// KindUnavailable.
func (p *Provider) ChatCompletion(ctx context.Context, req *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error) {
	mr, err := p.translate(req)
	if err != nil {
		return nil, err
	}
	msg, err := p.send(ctx, mr)
	if err != nil {
		return nil, err
	}
	return chatResponse(msg, req.Model, time.Now().Unix()), nil
}

// Completion answers a legacy text completion: the prompt is sent as one
// user message and the answer returned in the text_completion shape. A
// prompt of token arrays, n above 1, echo, suffix, best_of above 1 and
// logprobs are refused with KindInvalidRequest.
func (p *Provider) Completion(ctx context.Context, req *llmproxy.CompletionRequest) (*llmproxy.CompletionResponse, error) {
	mr, err := p.translateCompletion(req)
	if err != nil {
		return nil, err
	}
	msg, err := p.send(ctx, mr)
	if err != nil {
		return nil, err
	}
	return completionResponse(msg, req.Model, time.Now().Unix()), nil
}

// translate is translateChat with the provider's default and name.
func (p *Provider) translate(req *llmproxy.ChatRequest) (*messagesRequest, error) {
	mr, err := translateChat(req, p.maxTokens)
	if err != nil {
		return nil, p.own(err)
	}
	return mr, nil
}

// translateCompletion is translateCompletion with the provider's default
// and name.
func (p *Provider) translateCompletion(req *llmproxy.CompletionRequest) (*messagesRequest, error) {
	mr, err := translateCompletion(req, p.maxTokens)
	if err != nil {
		return nil, p.own(err)
	}
	return mr, nil
}

// own marks a translation error as this provider's.
func (p *Provider) own(err *llmproxy.Error) *llmproxy.Error {
	err.Provider = p.up.Name
	return err
}

// ListModels returns the models the key may use (GET /v1/models, every
// page), with created from created_at and owned_by "anthropic".
func (p *Provider) ListModels(ctx context.Context) ([]llmproxy.Model, error) {
	var models []llmproxy.Model
	after := ""
	for range maxModelPages {
		path := "/v1/models?limit=1000"
		if after != "" {
			path += "&after_id=" + url.QueryEscape(after)
		}
		b, err := p.call(ctx, http.MethodGet, path, nil)
		if err != nil {
			return nil, err
		}
		var page modelPage
		if err := p.up.Decode(b, &page); err != nil {
			return nil, err
		}
		for _, m := range page.Data {
			if m.ID != "" {
				models = append(models, m.model())
			}
		}
		if !page.HasMore || page.LastID == "" || page.LastID == after {
			break
		}
		after = page.LastID
	}
	return models, nil
}

// maxModelPages bounds the pages ListModels reads, so that an upstream
// that always says has_more cannot keep it busy.
const maxModelPages = 20

// HealthCheck asks for one model (GET /v1/models?limit=1), which costs no
// tokens, and reports any non-2xx answer as the upstream's error, so that a
// revoked key shows as KindAuth.
func (p *Provider) HealthCheck(ctx context.Context) error {
	_, err := p.call(ctx, http.MethodGet, "/v1/models?limit=1", nil)
	return err
}

// modelPage is one page of GET /v1/models.
type modelPage struct {
	Data    []modelInfo `json:"data"`
	HasMore bool        `json:"has_more"`
	FirstID string      `json:"first_id"`
	LastID  string      `json:"last_id"`
}

// modelInfo is one model of the list.
type modelInfo struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

// model returns the entry in OpenAI's shape; a created_at that is not
// RFC 3339 gives created 0.
func (m modelInfo) model() llmproxy.Model {
	var created int64
	if t, err := time.Parse(time.RFC3339, m.CreatedAt); err == nil {
		created = t.Unix()
	}
	return llmproxy.Model{ID: m.ID, Object: "model", Created: created, OwnedBy: "anthropic"}
}
