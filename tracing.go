package llmproxy

import (
	"context"
	"time"

	"github.com/tidwall/gjson"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the proxy's spans.
const TracerName = "github.com/llmproxy/llmproxy"

// WithTracerProvider makes the proxy trace its upstream attempts with tp: a
// client span per attempt, child of the span in the request's context (the
// server's span, say), carrying the GenAI semantic conventions
// (gen_ai.operation.name, gen_ai.provider.name, gen_ai.request.model,
// gen_ai.response.model, gen_ai.usage.*, gen_ai.response.finish_reasons)
// and the proxy's own attributes (llmproxy.provider, llmproxy.attempt,
// llmproxy.failover, llmproxy.breaker.state, and for a stream
// llmproxy.time_to_first_token in seconds). The attempt's context carries
// the span, so that NewJSONRequest sends it upstream as traceparent. No
// prompt, completion or key is ever put on a span. Without this option
// (or with nil) the proxy does not trace.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(p *Proxy) {
		if tp != nil {
			p.tracer = tp.Tracer(TracerName)
		}
	}
}

// Tracer returns the tracer set by WithTracerProvider, or nil when the
// proxy does not trace.
func (p *Proxy) Tracer() trace.Tracer { return p.tracer }

// genAIOperation maps an endpoint to gen_ai.operation.name.
func genAIOperation(endpoint string) string {
	switch endpoint {
	case endpointChat:
		return "chat"
	case endpointCompletions:
		return "text_completion"
	case endpointEmbeddings:
		return "embeddings"
	}
	return endpoint
}

// attemptSpan is the client span of one upstream attempt; its zero value
// (tracing off) does nothing.
type attemptSpan struct {
	s     trace.Span
	start time.Time
}

// startAttempt starts the span of an attempt on u, when the proxy traces.
func (p *Proxy) startAttempt(ctx context.Context, u *upstream, endpoint, model string, attempt int, failover bool) (context.Context, attemptSpan) {
	if p.tracer == nil {
		return ctx, attemptSpan{}
	}
	op := genAIOperation(endpoint)
	ctx, s := p.tracer.Start(ctx, op+" "+model, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", op),
		attribute.String("gen_ai.provider.name", u.cfg.Type),
		attribute.String("gen_ai.request.model", model),
		attribute.String("llmproxy.provider", u.cfg.Name),
		attribute.Int("llmproxy.attempt", attempt),
		attribute.Bool("llmproxy.failover", failover),
		attribute.String("llmproxy.breaker.state", string(u.breaker.state())),
	))
	return ctx, attemptSpan{s, time.Now()}
}

// fail ends the span with the attempt's error: its kind and status, never
// its message's upstream details.
func (a attemptSpan) fail(e *Error) {
	if a.s == nil {
		return
	}
	a.s.SetAttributes(attribute.String("error.type", e.Kind.String()))
	if e.Status != 0 {
		a.s.SetAttributes(attribute.Int("http.response.status_code", e.Status))
	}
	a.s.SetStatus(codes.Error, e.Kind.String())
	a.s.End()
}

// ok ends the span of an attempt that answered r, with what r tells of
// the answer (a stream: its time to first token, since the attempt ends at
// the stream's commit point).
func (a attemptSpan) ok(r any) {
	if a.s == nil {
		return
	}
	var model string
	var finish []string
	var u *Usage
	switch r := r.(type) {
	case *ChatResponse:
		model, u = r.Model, r.Usage
		for _, c := range r.Choices {
			if c.FinishReason != "" {
				finish = append(finish, c.FinishReason)
			}
		}
	case *CompletionResponse:
		model, u = r.Model, r.Usage
		for _, c := range r.Choices {
			if c.FinishReason != "" {
				finish = append(finish, c.FinishReason)
			}
		}
	case *EmbeddingResponse:
		model, u = r.Model, r.Usage
	case *RawAnswer:
		u = r.Usage
		res := gjson.GetManyBytes(r.Body, "model", "choices.#.finish_reason")
		model = res[0].String()
		for _, f := range res[1].Array() {
			if f.String() != "" {
				finish = append(finish, f.String())
			}
		}
	default:
		a.s.SetAttributes(attribute.Float64("llmproxy.time_to_first_token", time.Since(a.start).Seconds()))
	}
	if model != "" {
		a.s.SetAttributes(attribute.String("gen_ai.response.model", model))
	}
	if len(finish) > 0 {
		a.s.SetAttributes(attribute.StringSlice("gen_ai.response.finish_reasons", finish))
	}
	if u != nil {
		a.s.SetAttributes(attribute.Int("gen_ai.usage.input_tokens", u.PromptTokens),
			attribute.Int("gen_ai.usage.output_tokens", u.CompletionTokens))
	}
	a.s.End()
}

// traceContext is the W3C trace-context propagator: traceparent and
// tracestate, nothing else (no baggage reaches upstreams).
var traceContext propagation.TraceContext
