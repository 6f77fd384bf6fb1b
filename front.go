package llmproxy

import (
	"context"
	"net/http"
)

// A front is an inbound API format other than OpenAI chat, such as
// Anthropic Messages or OpenAI Responses (see the front/ packages). It
// decodes its requests, and routes them through the same router as chat
// with RouteRaw and RouteStreamRaw: for each provider it tries, the front's
// call either passes the client's bytes through (a provider that speaks the
// front's format natively, found by type assertion against an interface the
// front defines over NativeRequest) or translates the request to chat (the
// pivot every provider speaks), calls the provider's ChatCompletion or
// OpenChatStream, and translates the answer back. Either way the attempt
// returns the answer in the front's format, so that failover across
// formats is invisible to the client.

// Target is the provider one attempt of a routed request goes to.
type Target struct {
	// Provider is the provider's adapter: a front asserts its native
	// interface on it, or calls its chat methods.
	Provider Provider
	// Name is the provider's configured name.
	Name string
	// Model is the model to ask the provider for: the client's, or the
	// concrete model of an alias, mapped by the provider's model_map. A
	// front that passes the client's bytes through rewrites their model
	// with SetBodyModel.
	Model string
}

// RawCall makes one attempt of a request routed by RouteRaw on t. It
// returns the whole answer in the front's format, or the attempt's error,
// preferably an *Error (see TransportError and KindFromStatus) so that the
// router can tell retryable failures from final ones.
type RawCall func(ctx context.Context, t Target) (*RawAnswer, error)

// RawStreamCall opens one attempt of a stream routed by RouteStreamRaw on
// t. Its reader's chunks are events of the front's format; each says
// whether it carries content (RawChunk.Content: the first one commits the
// stream) and may give its SSE event name (RawChunk.Event).
type RawStreamCall func(ctx context.Context, t Target) (ChunkReader[*RawChunk], error)

// RouteRaw routes a request of a front's format for model like
// ChatCompletion: candidates by priority and health, retries, failover,
// breakers, the retry budget and the request timeout, with metrics and
// logs labelled by endpoint (the front's name for it, e.g. "messages").
// call makes each attempt. The answer's ProxyInfo names the provider that
// answered.
func (p *Proxy) RouteRaw(ctx context.Context, endpoint, model string, call RawCall) (*RawAnswer, error) {
	ans, info, err := routeOnce(ctx, p, endpoint, model, nil,
		func(ctx context.Context, u *upstream) (*RawAnswer, error) {
			return call(ctx, u.target(ctx))
		})
	if err != nil {
		return nil, err
	}
	ans.ProxyInfo = info
	return ans, nil
}

// RouteStreamRaw opens a stream of a front's format for model like
// ChatCompletionStream: every failure up to the stream's first content
// chunk is retried or failed over invisibly (see RouteRaw); after it, a
// failure ends the stream and is reported by its Err. The caller must
// Close the stream. Chunks are valid until the next call of Next, as for
// ChatCompletionStreamRaw.
func (p *Proxy) RouteStreamRaw(ctx context.Context, endpoint, model string, open RawStreamCall) (*Stream[*RawChunk], error) {
	return streamRoute(ctx, p, endpoint, model, nil, false,
		func(ctx context.Context, u *upstream) (ChunkReader[*RawChunk], error) {
			return open(ctx, u.target(ctx))
		})
}

// target is the Target of the attempt on u that ctx belongs to: the model
// is the one the attempt sends (an alias's concrete model, mapped by the
// provider's model_map; see UpstreamModel).
func (u *upstream) target(ctx context.Context) Target {
	return Target{Provider: u.p, Name: u.cfg.Name, Model: UpstreamModel(ctx)}
}

// OpenChatStream opens a chat stream on one provider, for a front that
// translates its streams to chat: the provider's own stream when it is a
// ChatStreamer, else its whole answer as a one-chunk stream.
func OpenChatStream(ctx context.Context, p Provider, req *ChatRequest) (ChunkReader[*ChatChunk], error) {
	return openChatChunks(ctx, p, req)
}

// NativeRequest is a client's request in a front's format, for a provider
// that speaks that format natively and so takes it as it came (Anthropic
// Messages to Anthropic, Responses to OpenAI). The provider sends Body
// unchanged, except for its "model" member when Model differs from it.
type NativeRequest struct {
	// Model is the model to ask the provider for.
	Model string
	// Stream reports whether the request asks for a stream.
	Stream bool
	// Body is the request as the client sent it. It must not be modified.
	Body []byte
	// Header holds the client's headers that the format forwards
	// upstream (such as anthropic-beta); nil when there are none. The
	// provider must not forward anything else, and never the client's
	// credentials.
	Header http.Header
	// Path is the upstream path below the provider's base URL when the
	// front serves more than one endpoint (such as
	// "/messages/count_tokens"); empty means the format's main endpoint.
	Path string
}
