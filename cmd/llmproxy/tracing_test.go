package main

import (
	"context"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/server"
)

// otlpReceiver is an OTLP trace receiver (HTTP or gRPC) on loopback that
// keeps every span it is sent, decoded.
type otlpReceiver struct {
	coltracepb.UnimplementedTraceServiceServer
	url string

	mu      sync.Mutex
	spans   []*tracepb.Span
	service []string // service.name of each span's resource
}

func (r *otlpReceiver) keep(req *coltracepb.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		svc := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				svc = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, s)
				r.service = append(r.service, svc)
			}
		}
	}
}

// Export is the gRPC TraceService's method.
func (r *otlpReceiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	r.keep(req)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func newOTLPReceiver(t *testing.T, protocol string) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{}
	if protocol == "grpc" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		gs := grpc.NewServer()
		coltracepb.RegisterTraceServiceServer(gs, r)
		go func() { _ = gs.Serve(ln) }()
		t.Cleanup(gs.Stop)
		r.url = "http://" + ln.Addr().String()
		return r
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "unexpected "+req.URL.Path, http.StatusNotFound)
			return
		}
		body, err := io.ReadAll(req.Body)
		var msg coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &msg)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.keep(&msg)
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(hs.Close)
	r.url = hs.URL
	return r
}

func attrs(s *tracepb.Span) map[string]*commonpb.AnyValue {
	m := map[string]*commonpb.AnyValue{}
	for _, a := range s.GetAttributes() {
		m[a.GetKey()] = a.GetValue()
	}
	return m
}

// Secrets and content the spans must never hold.
const (
	traceUpstreamKey = "sk-upstream-trace-secret"
	traceClientKey   = "sk-client-trace-secret"
	tracePrompt      = "the confidential prompt"
	traceAnswer      = "the confidential answer"
)

// TestTracingOTLP runs a proxy with tracing on, over both OTLP protocols,
// against an in-test receiver: a client's traceparent starts the trace, the
// server span and the attempt's client span carry the GenAI attributes,
// the upstream gets the attempt's traceparent, and no span holds a key, a
// prompt or an answer.
func TestTracingOTLP(t *testing.T) {
	for _, protocol := range []string{"http/protobuf", "grpc"} {
		t.Run(protocol, func(t *testing.T) {
			rec := newOTLPReceiver(t, protocol)
			var upMu sync.Mutex
			var upTraceparent []string
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				upMu.Lock()
				upTraceparent = append(upTraceparent, r.Header.Get("traceparent"))
				upMu.Unlock()
				body, _ := io.ReadAll(r.Body)
				if strings.Contains(string(body), `"stream":true`) {
					w.Header().Set("Content-Type", "text/event-stream")
					_, _ = io.WriteString(w, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":"`+traceAnswer+`"},"finish_reason":null}]}`+"\n\n"+
						`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"`+traceAnswer+`"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`)
			}))
			defer up.Close()

			cfg := llmproxy.Config{
				AppName: "llmproxy-trace-test", OTelEndpoint: rec.url, OTelProtocol: protocol,
				APIKeys: []string{traceClientKey},
				Providers: []llmproxy.ProviderConfig{{
					Name: "up", Type: "openai", BaseURL: up.URL + "/v1", APIKey: traceUpstreamKey, Models: []string{"gpt-4o-mini"},
				}},
			}
			ctx := context.Background()
			tp, err := newTracerProvider(ctx, cfg)
			require.NoError(t, err)
			require.NotNil(t, tp, "otel_endpoint switches tracing on")
			p, err := llmproxy.New(cfg, llmproxy.WithTracerProvider(tp))
			require.NoError(t, err)
			h := server.Handler(p, server.Options{})
			srv := httptest.NewServer(h)

			const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
			send := func(stream bool, traceparent string) {
				body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + tracePrompt + `"}],"stream":` + map[bool]string{true: "true", false: "false"}[stream] + `}`
				req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(body))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+traceClientKey)
				if traceparent != "" {
					req.Header.Set("traceparent", traceparent)
				}
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
			}
			send(false, "00-"+clientTrace+"-"+clientSpan+"-01")
			send(true, "")
			srv.Close()
			require.NoError(t, h.(io.Closer).Close())
			require.NoError(t, p.Close())
			require.NoError(t, tp.Shutdown(ctx), "flushes the spans to the receiver")

			rec.mu.Lock()
			defer rec.mu.Unlock()
			require.Len(t, rec.spans, 4, "a server and a client span per request")
			for i, s := range rec.spans {
				assert.Equal(t, "llmproxy-trace-test", rec.service[i])
				for k, v := range attrs(s) {
					for _, secret := range []string{traceUpstreamKey, traceClientKey, tracePrompt, traceAnswer} {
						assert.NotContains(t, v.String(), secret, "span %q attribute %s", s.GetName(), k)
					}
				}
			}
			var servers, clients []*tracepb.Span
			for _, s := range rec.spans {
				switch s.GetKind() {
				case tracepb.Span_SPAN_KIND_SERVER:
					servers = append(servers, s)
				case tracepb.Span_SPAN_KIND_CLIENT:
					clients = append(clients, s)
				}
			}
			require.Len(t, servers, 2)
			require.Len(t, clients, 2)
			hexID := hex.EncodeToString
			// Exported in the order they ended: the client span first.
			plainServer, plainClient := servers[0], clients[0]
			assert.Equal(t, "POST /v1/chat/completions", plainServer.GetName())
			assert.Equal(t, clientTrace, hexID(plainServer.GetTraceId()), "the client's traceparent starts the trace")
			assert.Equal(t, clientSpan, hexID(plainServer.GetParentSpanId()))
			sa := attrs(plainServer)
			assert.EqualValues(t, 200, sa["http.response.status_code"].GetIntValue())
			assert.Equal(t, "chat", sa["gen_ai.operation.name"].GetStringValue())
			assert.Equal(t, "gpt-4o-mini", sa["gen_ai.request.model"].GetStringValue())
			assert.EqualValues(t, 11, sa["gen_ai.usage.input_tokens"].GetIntValue())

			assert.Equal(t, plainServer.GetTraceId(), plainClient.GetTraceId())
			assert.Equal(t, plainServer.GetSpanId(), plainClient.GetParentSpanId(), "the attempt is a child of the server span")
			assert.Equal(t, "chat gpt-4o-mini", plainClient.GetName())
			ca := attrs(plainClient)
			assert.Equal(t, "chat", ca["gen_ai.operation.name"].GetStringValue())
			assert.Equal(t, "openai", ca["gen_ai.provider.name"].GetStringValue())
			assert.Equal(t, "gpt-4o-mini", ca["gen_ai.request.model"].GetStringValue())
			assert.Equal(t, "gpt-4o-mini-2024-07-18", ca["gen_ai.response.model"].GetStringValue())
			assert.EqualValues(t, 11, ca["gen_ai.usage.input_tokens"].GetIntValue())
			assert.EqualValues(t, 7, ca["gen_ai.usage.output_tokens"].GetIntValue())
			require.NotNil(t, ca["gen_ai.response.finish_reasons"])
			assert.Equal(t, "stop", ca["gen_ai.response.finish_reasons"].GetArrayValue().GetValues()[0].GetStringValue())
			assert.EqualValues(t, 1, ca["llmproxy.attempt"].GetIntValue())
			assert.False(t, ca["llmproxy.failover"].GetBoolValue())
			assert.Equal(t, "closed", ca["llmproxy.breaker.state"].GetStringValue())
			assert.Equal(t, "up", ca["llmproxy.provider"].GetStringValue())

			upMu.Lock()
			defer upMu.Unlock()
			require.Len(t, upTraceparent, 2)
			assert.Equal(t, "00-"+clientTrace+"-"+hexID(plainClient.GetSpanId())+"-01", upTraceparent[0],
				"the upstream gets the attempt's span as its parent")

			streamServer, streamClient := servers[1], clients[1]
			assert.NotEqual(t, clientTrace, hexID(streamServer.GetTraceId()), "no traceparent: a new trace")
			assert.Equal(t, streamServer.GetSpanId(), streamClient.GetParentSpanId())
			assert.True(t, attrs(streamServer)["llmproxy.stream"].GetBoolValue())
			assert.Contains(t, attrs(streamClient), "llmproxy.time_to_first_token")
			assert.Equal(t, "00-"+hexID(streamClient.GetTraceId())+"-"+hexID(streamClient.GetSpanId())+"-01", upTraceparent[1])
		})
	}
}

// TestTracingOff: without otel_endpoint or OTEL_EXPORTER_OTLP_* the
// binary does not trace.
func TestTracingOff(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	tp, err := newTracerProvider(context.Background(), llmproxy.Config{})
	require.NoError(t, err)
	assert.Nil(t, tp)
}
