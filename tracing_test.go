package llmproxy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmproxy/llmproxy"
)

// TestTracingFailover: a failed attempt's span says why (error.type, an
// error status) and the next provider's attempt is marked as a failover;
// both are children of the caller's span, and each upstream got its own
// attempt's span as traceparent.
func TestTracingFailover(t *testing.T) {
	var gotParents []string
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotParents = append(gotParents, r.Header.Get("traceparent"))
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"error":{"message":"down","type":"server_error"}}`)
	}))
	defer bad.Close()
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotParents = append(gotParents, r.Header.Get("traceparent"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"m-2","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`)
	}))
	defer good.Close()

	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	p, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{
		{Name: "first", Type: "openai", BaseURL: bad.URL + "/v1", APIKey: "sk-1", Models: []string{"m"}, Priority: 1},
		{Name: "second", Type: "openai", BaseURL: good.URL + "/v1", APIKey: "sk-2", Models: []string{"m"}, Priority: 2},
	}}, llmproxy.WithTracerProvider(tp))
	require.NoError(t, err)
	defer p.Close()
	require.NotNil(t, p.Tracer())

	ctx, parent := tp.Tracer("test").Start(context.Background(), "caller")
	_, err = p.ChatCompletion(ctx, &llmproxy.ChatRequest{Model: "m", Messages: []llmproxy.Message{{Role: "user", Content: llmproxy.Text("hi")}}})
	parent.End()
	require.NoError(t, err)

	spans := exp.GetSpans()
	require.Len(t, spans, 3, "two attempts and the caller's span")
	first, second := spans[0], spans[1]
	for _, s := range []tracetest.SpanStub{first, second} {
		assert.Equal(t, trace.SpanKindClient, s.SpanKind)
		assert.Equal(t, parent.SpanContext().SpanID(), s.Parent.SpanID())
	}
	a1, a2 := attrMap(first.Attributes), attrMap(second.Attributes)
	assert.Equal(t, "first", a1["llmproxy.provider"].AsString())
	assert.False(t, a1["llmproxy.failover"].AsBool())
	assert.Equal(t, "unavailable", a1["error.type"].AsString())
	assert.EqualValues(t, 500, a1["http.response.status_code"].AsInt64())
	assert.Equal(t, codes.Error, first.Status.Code)
	assert.Equal(t, "second", a2["llmproxy.provider"].AsString())
	assert.True(t, a2["llmproxy.failover"].AsBool())
	assert.EqualValues(t, 2, a2["llmproxy.attempt"].AsInt64())
	assert.Equal(t, "m-2", a2["gen_ai.response.model"].AsString())
	assert.Equal(t, []string{"length"}, a2["gen_ai.response.finish_reasons"].AsStringSlice())
	assert.EqualValues(t, 2, a2["gen_ai.usage.output_tokens"].AsInt64())
	assert.NotEqual(t, codes.Error, second.Status.Code)

	require.Len(t, gotParents, 2)
	assert.Equal(t, "00-"+first.SpanContext.TraceID().String()+"-"+first.SpanContext.SpanID().String()+"-01", gotParents[0])
	assert.Equal(t, "00-"+second.SpanContext.TraceID().String()+"-"+second.SpanContext.SpanID().String()+"-01", gotParents[1])
}

func attrMap(kvs []attribute.KeyValue) map[string]attribute.Value {
	m := map[string]attribute.Value{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value
	}
	return m
}
