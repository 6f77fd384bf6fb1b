// Package messages is the Anthropic Messages front: it serves
// POST /v1/messages (and /v1/messages/count_tokens) requests, as Claude
// Code and the Anthropic SDKs send them, through the proxy's router, to
// any provider.
//
// A provider that speaks the Messages API natively (the Anthropic
// provider: see Native) gets the client's bytes as they came, with only
// the model rewritten when the route names another, and the answer or
// event stream comes back as the upstream sent it: thinking blocks and
// their signatures, citations, cache_control, server tools and content
// types the proxy does not know all pass through. Every other provider
// gets the request translated to OpenAI chat, the proxy's pivot (ToChat),
// and its answer (FromChat) or chunks translated back, the chunks by a
// per-request state machine that writes Anthropic's event stream.
//
// Either way the request is routed like a chat completion (priority,
// health, breakers, retries, failover, the retry budget), so that a
// failure of an Anthropic upstream fails over to an OpenAI-format one
// invisibly; the endpoint of the metrics and logs is "messages" (or
// "count_tokens"). A stream commits at its first content event (a
// content_block_delta, a tool_use block's start, or message_delta): up to
// it every failure fails over; after it the stream ends with an "event:
// error" frame (ErrorFrame) and no message_stop.
//
// # Translation to chat
//
// system (a string or text blocks, joined by blank lines) and system
// messages inside messages become system messages; text, image (base64 or
// URL) and document (text, or a base64 PDF as a file part) blocks become
// content parts; tool_use blocks become tool calls and tool_result blocks
// tool messages, ids kept (a result marked is_error is prefixed "Error: ",
// images of a result follow in a user message); tools become function
// tools and tool_choice auto, any, tool and none become "auto",
// "required", a named function and "none" (disable_parallel_tool_use is
// parallel_tool_calls false); max_tokens, stop_sequences, temperature,
// top_p and metadata.user_id (as user, when at most 64 bytes) are kept;
// output_config.format of type json_schema becomes response_format.
//
// Dropped without an error, so that Claude Code works against any
// provider: cache_control (in blocks and at the top), context_management,
// output_config's effort, speed, inference_geo, diagnostics, defer_loading,
// input_examples, thinking (and the thinking blocks of past turns: a
// chat provider has no signatures, and not every model takes a reasoning
// effort), top_k (OpenAI refuses it), service_tier, container,
// mcp_servers, citations settings, Anthropic's own tools (web search,
// code execution, tool search, computer use, …) and the blocks of their
// past calls. A content block of a type the translation does not know is
// refused with a 400 naming it.
//
// # Translation back
//
// Reasoning (reasoning_content or reasoning) becomes a thinking block
// without a signature, text a text block, tool calls tool_use blocks;
// finish reasons become stop reasons (stop: end_turn, length: max_tokens,
// tool_calls: tool_use, content_filter: refusal; stop_sequence is never
// reported, since chat does not say which stop ended an answer); usage
// becomes input_tokens (without cached tokens), cache_read_input_tokens
// and output_tokens.
package messages

import (
	"context"
	"strconv"
	"sync"

	"github.com/llmproxy/llmproxy"
)

// Endpoints of the front, as the metrics and logs label them.
const (
	EndpointMessages    = "messages"
	EndpointCountTokens = "count_tokens"
)

// Native is a provider that speaks Anthropic's Messages API natively and
// takes a client's request as it came (see llmproxy.NativeRequest). The
// Anthropic provider implements it. MessagesRaw answers a request that
// does not stream (or, with Path "/messages/count_tokens", counts its
// tokens); MessagesStreamRaw opens a stream whose chunks are the
// upstream's events, each as it came with its event name, Content set
// from the first content event, Usage set from message_start and
// message_delta; an upstream error event ends it with the upstream's
// error.
type Native interface {
	MessagesRaw(ctx context.Context, req *llmproxy.NativeRequest) (*llmproxy.RawAnswer, error)
	MessagesStreamRaw(ctx context.Context, req *llmproxy.NativeRequest) (llmproxy.ChunkReader[*llmproxy.RawChunk], error)
}

// pathCountTokens is the count_tokens endpoint below the API's /v1.
const pathCountTokens = "/messages/count_tokens"

// native returns the request for a native provider on t.
func native(r *Request, t llmproxy.Target, path string) *llmproxy.NativeRequest {
	return &llmproxy.NativeRequest{Model: t.Model, Stream: r.Stream, Body: r.Body, Header: r.Header, Path: path}
}

// chatOf returns a function that translates r to chat once, for all the
// providers tried that need it, each with the model of its route.
func chatOf(r *Request) func(model string) (*llmproxy.ChatRequest, error) {
	decoded := sync.OnceValues(func() (*llmproxy.ChatRequest, error) { return ToChat(r, r.Model) })
	return func(model string) (*llmproxy.ChatRequest, error) {
		req, err := decoded()
		if err != nil {
			return nil, err
		}
		if model == req.Model {
			return req, nil
		}
		cp := *req
		cp.Model = model
		return &cp, nil
	}
}

// Messages answers a Messages request that does not stream, routed by
// p: passed through to a Native provider, translated for the others. The
// answer is the Messages answer's bytes; its ProxyInfo names the provider.
// Failures are *llmproxy.Error values (see ErrorBody for their envelope).
func Messages(ctx context.Context, p *llmproxy.Proxy, r *Request) (*llmproxy.RawAnswer, error) {
	toChat := chatOf(r)
	return p.RouteRaw(ctx, EndpointMessages, r.Model, func(ctx context.Context, t llmproxy.Target) (*llmproxy.RawAnswer, error) {
		if n, ok := t.Provider.(Native); ok {
			return n.MessagesRaw(ctx, native(r, t, ""))
		}
		req, err := toChat(t.Model)
		if err != nil {
			return nil, err
		}
		resp, err := t.Provider.ChatCompletion(ctx, req)
		if err != nil {
			return nil, err
		}
		body, err := FromChat(resp, t.Model)
		if err != nil {
			return nil, err
		}
		return &llmproxy.RawAnswer{Body: body, Usage: resp.Usage}, nil
	})
}

// MessagesStream opens a streamed Messages request routed by p (see
// Messages): its chunks are Anthropic events, with their names. The
// stream is committed (see llmproxy.Proxy.RouteStreamRaw); the caller
// must Close it. A chunk is valid until the next call of Next.
func MessagesStream(ctx context.Context, p *llmproxy.Proxy, r *Request) (*llmproxy.Stream[*llmproxy.RawChunk], error) {
	toChat := chatOf(r)
	return p.RouteStreamRaw(ctx, EndpointMessages, r.Model, func(ctx context.Context, t llmproxy.Target) (llmproxy.ChunkReader[*llmproxy.RawChunk], error) {
		if n, ok := t.Provider.(Native); ok {
			return n.MessagesStreamRaw(ctx, native(r, t, ""))
		}
		req, err := toChat(t.Model)
		if err != nil {
			return nil, err
		}
		cr, err := llmproxy.OpenChatStream(ctx, t.Provider, req)
		if err != nil {
			return nil, err
		}
		return translateStream(cr, t.Model), nil
	})
}

// CountTokens answers a count_tokens request routed by p: passed through
// to a Native provider, which counts exactly; for the others, which have
// no such endpoint, the proxy estimates the count itself (see
// EstimateTokens) without calling them. The answer is
// {"input_tokens":N}.
func CountTokens(ctx context.Context, p *llmproxy.Proxy, r *Request) (*llmproxy.RawAnswer, error) {
	return p.RouteRaw(ctx, EndpointCountTokens, r.Model, func(ctx context.Context, t llmproxy.Target) (*llmproxy.RawAnswer, error) {
		if n, ok := t.Provider.(Native); ok {
			return n.MessagesRaw(ctx, native(r, t, pathCountTokens))
		}
		if _, err := ToChat(r, t.Model); err != nil {
			return nil, err // a request the provider could not be sent
		}
		n := EstimateTokens(r.Body)
		return &llmproxy.RawAnswer{Body: []byte(`{"input_tokens":` + strconv.Itoa(n) + `}`),
			Usage: &llmproxy.Usage{PromptTokens: n, TotalTokens: n}}, nil
	})
}
