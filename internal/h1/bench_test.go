package h1

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A chat-completion-sized exchange: a ~200 B JSON request and a ~600 B JSON
// answer.
var (
	benchRequest = []byte(`{"model":"llama-3.1-8b-instruct","messages":[{"role":"system","content":"You are terse."},` +
		`{"role":"user","content":"Say hello in five words."}],"max_tokens":32,"temperature":0.2,"stream":false}`)
	benchAnswer = []byte(`{"id":"chatcmpl-9f8e7d6c5b4a","object":"chat.completion","created":1735689600,` +
		`"model":"llama-3.1-8b-instruct","system_fingerprint":"fp_0123456789","choices":[{"index":0,` +
		`"message":{"role":"assistant","content":"Hello there, how are you?"},"logprobs":null,` +
		`"finish_reason":"stop"}],"usage":{"prompt_tokens":27,"completion_tokens":7,"total_tokens":34},` +
		`"padding":"` + strings.Repeat("p", 239) + `"}`)
)

// benchServer answers every request with benchAnswer, after reading the
// request body.
func benchServer(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(benchAnswer)))
		w.Write(benchAnswer)
	}))
	b.Cleanup(srv.Close)
	return srv
}

type closeIdler interface {
	http.RoundTripper
	CloseIdleConnections()
}

// benchTransports returns the transports to compare, both with the same
// net/http settings.
func benchTransports() []struct {
	name string
	rt   closeIdler
} {
	settings := func() *http.Transport {
		return &http.Transport{MaxConnsPerHost: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}
	}
	return []struct {
		name string
		rt   closeIdler
	}{
		{"h1", New(settings())},
		{"net-http", settings()},
	}
}

// benchOne sends one POST and reads the answer as the proxy does: exactly
// Content-Length bytes, then Close.
func benchOne(b *testing.B, ctx context.Context, rt http.RoundTripper, url string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(benchRequest))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sk-test")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, resp.ContentLength)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
}

// reportCPU reports the process's CPU time per operation since start, the
// server's included: the cost that h1 exists to cut.
func reportCPU(b *testing.B, start time.Duration) {
	if used := cpuTime() - start; used > 0 && b.N > 0 {
		b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkRoundTrip compares h1 with net/http for one request at a time.
// The allocation counts include the in-process server's, the same for both.
func BenchmarkRoundTrip(b *testing.B) {
	srv := benchServer(b)
	for _, bc := range benchTransports() {
		b.Run(bc.name, func(b *testing.B) {
			defer bc.rt.CloseIdleConnections()
			// A cancellable context, like the proxy's per-attempt one.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				benchOne(b, ctx, bc.rt, srv.URL+"/v1/chat/completions")
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkRoundTripParallel is BenchmarkRoundTrip with concurrent callers.
func BenchmarkRoundTripParallel(b *testing.B) {
	srv := benchServer(b)
	for _, bc := range benchTransports() {
		b.Run(bc.name, func(b *testing.B) {
			defer bc.rt.CloseIdleConnections()
			b.ReportAllocs()
			cpu := cpuTime()
			defer reportCPU(b, cpu)
			b.RunParallel(func(pb *testing.PB) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				for pb.Next() {
					benchOne(b, ctx, bc.rt, srv.URL+"/v1/chat/completions")
				}
			})
		})
	}
}
