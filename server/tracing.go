package server

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// traceContext reads a client's traceparent and tracestate (W3C trace
// context), nothing else.
var traceContext propagation.TraceContext

// startSpan starts the server span of a request when the proxy traces (see
// llmproxy.WithTracerProvider), as a child of the client's traceparent if
// it sent one; otherwise it returns ctx and nil.
func (s *server) startSpan(ctx context.Context, r *http.Request) (context.Context, trace.Span) {
	if s.p == nil || s.p.Tracer() == nil {
		return ctx, nil
	}
	tr := s.p.Tracer()
	ctx = traceContext.Extract(ctx, propagation.HeaderCarrier(r.Header))
	name := r.Method
	if _, known := spanRoutes[r.URL.Path]; known {
		name += " " + r.URL.Path
	}
	return tr.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("http.request.method", r.Method),
		attribute.String("url.path", r.URL.Path),
	))
}

// spanRoutes are the paths that name server spans (any other path would
// give every typo a span name of its own).
var spanRoutes = map[string]string{
	"/v1/chat/completions": "chat", "/v1/completions": "text_completion", "/v1/embeddings": "embeddings",
	"/v1/models": "", "/providers": "", "/metrics": "", "/health": "", "/livez": "",
}

// endSpan ends a request's server span with what the access log knows: the
// status, the model, the provider and attempts, the usage, a stream's time
// to first token, the error kind. Never a prompt, a completion or a key.
func endSpan(span trace.Span, r *http.Request, ri *requestInfo, status int) {
	if span == nil {
		return
	}
	span.SetAttributes(attribute.Int("http.response.status_code", status),
		attribute.String("llmproxy.request_id", ri.id))
	if op := spanRoutes[r.URL.Path]; op != "" {
		span.SetAttributes(attribute.String("gen_ai.operation.name", op))
	}
	if ri.model != "" {
		span.SetAttributes(attribute.String("gen_ai.request.model", ri.model))
	}
	if ri.provider != "" {
		span.SetAttributes(attribute.String("llmproxy.provider", ri.provider),
			attribute.Int("llmproxy.attempts", ri.attempts))
	}
	if ri.usage != nil {
		span.SetAttributes(attribute.Int("gen_ai.usage.input_tokens", ri.usage.PromptTokens),
			attribute.Int("gen_ai.usage.output_tokens", ri.usage.CompletionTokens))
	}
	if ri.stream {
		span.SetAttributes(attribute.Bool("llmproxy.stream", true),
			attribute.Float64("llmproxy.time_to_first_token", ri.ttft))
	}
	if ri.errKind != "" {
		span.SetAttributes(attribute.String("error.type", ri.errKind))
	}
	if status >= 500 || (ri.stream && ri.errKind != "") {
		span.SetStatus(codes.Error, ri.errKind)
	}
	span.End()
}
