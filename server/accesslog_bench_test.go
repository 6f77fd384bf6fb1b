package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/llmproxy/llmproxy"
)

// BenchmarkAccessLog measures one access log line of a priced, streamed
// request (every field present) through slog's JSON handler, the handler
// cmd/llmproxy uses, into io.Discard.
func BenchmarkAccessLog(b *testing.B) {
	s := &server{log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	cost := 0.000123
	ri := &requestInfo{id: "req_0123456789abcdef01234567", keyID: "key_1a2b3c4d", key: "team-a",
		model: "gpt-4o-mini", provider: "openai", attempts: 1, stream: true, ttft: 0.0123456,
		usage: &llmproxy.Usage{PromptTokens: 12, CompletionTokens: 34, TotalTokens: 46}, cost: &cost}
	ctx := context.Background()
	start := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		s.accessLog(ctx, r, ri, http.StatusOK, start)
	}
}
