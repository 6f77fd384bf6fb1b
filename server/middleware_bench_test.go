package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/server"
)

// BenchmarkMiddleware measures the middleware around the handlers with the
// production path on (client auth, rate limits that never trigger, metrics,
// the access log to a file), without the cost of a provider:
//
//   - models is GET /v1/models, a cheap handler behind the whole chain
//     (request id, access log, recover, CORS, auth, rate limit);
//   - models-cors is the same with an allowed Origin header;
//   - shed is POST /v1/chat/completions while max_inflight requests are
//     held, that is the cost of refusing a request under overload.
func BenchmarkMiddleware(b *testing.B) {
	const gateName = "gate-bench-mw"
	g := &gate{open: make(chan struct{}), arrived: make(chan struct{}, 64)}
	gates.Store(gateName, g)
	b.Cleanup(func() { gates.Delete(gateName) })

	logFile, err := os.Create(filepath.Join(b.TempDir(), "access.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = logFile.Close() })
	logger := slog.New(slog.NewJSONHandler(logFile, nil))
	cfg := gateConfig(gateName, 1)
	cfg.RateLimitRPM, cfg.RateLimitChatRPM = 1<<30, 1<<30
	cfg.CORSOrigins = []string{"https://app.example"}
	p, err := llmproxy.New(cfg, llmproxy.WithLogger(logger))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	h := server.Handler(p, server.Options{})
	b.Cleanup(func() { _ = h.(io.Closer).Close() })

	serve := func(b *testing.B, method, path, body, origin string, want int) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(method, path, strings.NewReader(body))
			req.Header["Content-Type"] = []string{"application/json"}
			req.Header["Authorization"] = []string{"Bearer " + clientKey}
			if origin != "" {
				req.Header["Origin"] = []string{origin}
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != want {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	}
	b.Run("models", func(b *testing.B) {
		serve(b, http.MethodGet, "/v1/models", "", "", http.StatusOK)
	})
	b.Run("models-cors", func(b *testing.B) {
		serve(b, http.MethodGet, "/v1/models", "", "https://app.example", http.StatusOK)
	})
	b.Run("shed", func(b *testing.B) {
		// Hold the one slot, then measure the requests refused.
		var wg sync.WaitGroup
		wg.Go(func() {
			req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(chatBody("gate-model", "hold")))
			req.Header["Authorization"] = []string{"Bearer " + clientKey}
			h.ServeHTTP(httptest.NewRecorder(), req)
		})
		<-g.arrived
		serve(b, http.MethodPost, "/v1/chat/completions", benchBody, "", http.StatusServiceUnavailable)
		b.StopTimer()
		g.open <- struct{}{}
		wg.Wait()
	})
}
