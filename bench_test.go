package llmproxy_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/mock"
	_ "github.com/llmproxy/llmproxy/providers/openai"
)

// The benchmarks of this file measure the router's hot path,
// Proxy.ChatCompletion and Proxy.ChatCompletionStream, against the mock
// provider (the router alone) and against an in-process OpenAI-format
// upstream (router, adapter and HTTP client). Run them with
//
//	go test -run='^$' -bench=. -benchmem .
//
// cmd/llmbench measures the whole proxy process against a bare reverse
// proxy.

// benchChatBody is the small chat request of every benchmark.
const benchChatBody = `{"model":"bench-model","messages":[{"role":"system","content":"You are a helpful assistant."},` +
	`{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":64,"temperature":0}`

// benchAnswer is the upstream's non-streamed answer.
const benchAnswer = `{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model",` +
	`"system_fingerprint":"fp_bench","choices":[{"index":0,"message":{"role":"assistant",` +
	`"content":"Hello there! Here is a short answer from the benchmark upstream, with about twenty tokens of text.",` +
	`"refusal":null},"logprobs":null,"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":24,"completion_tokens":20,"total_tokens":44}}`

// benchStreamFrames returns the SSE bytes of a streamed answer of n
// content chunks: a role chunk, the content chunks, a finish chunk, a
// usage chunk and [DONE], one frame per element.
func benchStreamFrames(n int) [][]byte {
	head := `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","system_fingerprint":"fp_bench","choices":[`
	frame := func(choices, tail string) []byte { return []byte(head + choices + "]" + tail + "}\n\n") }
	frames := [][]byte{frame(`{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`, "")}
	for i := range n {
		frames = append(frames, frame(`{"index":0,"delta":{"content":" tok`+strconv.Itoa(i)+`"},"logprobs":null,"finish_reason":null}`, ""))
	}
	frames = append(frames,
		frame(`{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}`, ""),
		frame(``, `,"usage":{"prompt_tokens":24,"completion_tokens":`+strconv.Itoa(n)+`,"total_tokens":`+strconv.Itoa(24+n)+`}`),
		[]byte("data: [DONE]\n\n"))
	return frames
}

// benchBufPool recycles the upstream's request buffers.
var benchBufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// newBenchUpstream starts an OpenAI-format upstream that answers
// benchAnswer, or, for a request with "stream":true, the frames of a
// stream of chunks content chunks, each flushed. It allocates little, so
// that the allocations the benchmarks report are the proxy's.
func newBenchUpstream(tb testing.TB, chunks int) *httptest.Server {
	tb.Helper()
	frames := benchStreamFrames(chunks)
	answer := []byte(benchAnswer)
	answerLen := strconv.Itoa(len(answer))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := benchBufPool.Get().(*bytes.Buffer)
		buf.Reset()
		_, _ = buf.ReadFrom(r.Body)
		stream := bytes.Contains(buf.Bytes(), []byte(`"stream":true`))
		benchBufPool.Put(buf)
		h := w.Header()
		if !stream {
			h["Content-Type"] = []string{"application/json"}
			h["Content-Length"] = []string{answerLen}
			_, _ = w.Write(answer)
			return
		}
		h["Content-Type"] = []string{"text/event-stream"}
		w.WriteHeader(http.StatusOK)
		f := w.(http.Flusher)
		for _, fr := range frames {
			_, _ = w.Write(fr)
			f.Flush()
		}
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// newBenchProxy returns a proxy with one provider, closed when the
// benchmark ends.
func newBenchProxy(tb testing.TB, pc llmproxy.ProviderConfig) *llmproxy.Proxy {
	tb.Helper()
	pc.Name = "bench"
	pc.Models = []string{"bench-model"}
	pc.MaxConnections = 512
	p, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{pc}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// benchRequest parses the benchmark's chat request, as the server does.
func benchRequest(tb testing.TB, stream bool) *llmproxy.ChatRequest {
	tb.Helper()
	body := benchChatBody
	if stream {
		body = body[:len(body)-1] + `,"stream":true}`
	}
	req, err := llmproxy.ParseChatRequest([]byte(body))
	if err != nil {
		tb.Fatal(err)
	}
	return req
}

// BenchmarkChatCompletion measures one non-streamed chat completion
// through Proxy.ChatCompletion: with the mock provider (routing alone) and
// with an OpenAI-format upstream over loopback HTTP, sequentially and from
// parallel goroutines.
func BenchmarkChatCompletion(b *testing.B) {
	ctx := context.Background()
	b.Run("mock", func(b *testing.B) {
		p := newBenchProxy(b, llmproxy.ProviderConfig{Type: "mock"})
		req := benchRequest(b, false)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.ChatCompletion(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("openai-upstream", func(b *testing.B) {
		up := newBenchUpstream(b, 20)
		p := newBenchProxy(b, llmproxy.ProviderConfig{Type: "openai", BaseURL: up.URL + "/v1"})
		req := benchRequest(b, false)
		b.ReportAllocs()
		for b.Loop() {
			resp, err := p.ChatCompletion(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			if len(resp.Raw()) == 0 {
				b.Fatal("no raw answer")
			}
		}
	})
	b.Run("openai-upstream-parallel", func(b *testing.B) {
		up := newBenchUpstream(b, 20)
		p := newBenchProxy(b, llmproxy.ProviderConfig{Type: "openai", BaseURL: up.URL + "/v1"})
		req := benchRequest(b, false)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.ChatCompletion(ctx, req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkParseChatRequest measures the parse and validation of the
// benchmark's request, which the server does for every request.
func BenchmarkParseChatRequest(b *testing.B) {
	body := []byte(benchChatBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req, err := llmproxy.ParseChatRequest(body)
		if err != nil {
			b.Fatal(err)
		}
		if err := req.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadChatRequest measures what the server's raw path reads of
// every chat request (model, messages, stream flags), beside
// BenchmarkParseChatRequest, the full decode it replaces.
func BenchmarkReadChatRequest(b *testing.B) {
	body := []byte(benchChatBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := llmproxy.ReadChatRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChatCompletionStream measures one streamed chat completion
// through Proxy.ChatCompletionStream against an OpenAI-format upstream,
// read to its end: 20 and 200 content chunks, so that the difference
// gives the cost of one chunk. It reports ns/chunk and allocs/chunk too.
func BenchmarkChatCompletionStream(b *testing.B) {
	ctx := context.Background()
	for _, chunks := range []int{20, 200} {
		b.Run("openai-upstream/chunks="+strconv.Itoa(chunks), func(b *testing.B) {
			up := newBenchUpstream(b, chunks)
			p := newBenchProxy(b, llmproxy.ProviderConfig{Type: "openai", BaseURL: up.URL + "/v1"})
			req := benchRequest(b, true)
			b.ReportAllocs()
			n := 0
			start := time.Now()
			for b.Loop() {
				st, err := p.ChatCompletionStream(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				for st.Next() {
					n++
				}
				if err := st.Err(); err != nil {
					b.Fatal(err)
				}
				_ = st.Close()
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(n), "ns/chunk")
		})
	}
}

// BenchmarkChatCompletionStreamMock measures the router's streaming path
// alone: the mock provider's stream, opened, read and closed.
func BenchmarkChatCompletionStreamMock(b *testing.B) {
	ctx := context.Background()
	p := newBenchProxy(b, llmproxy.ProviderConfig{Type: "mock"})
	req := benchRequest(b, true)
	b.ReportAllocs()
	for b.Loop() {
		st, err := p.ChatCompletionStream(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		for st.Next() {
		}
		if err := st.Err(); err != nil {
			b.Fatal(err)
		}
		_ = st.Close()
	}
}

// Make sure the upstream's answer is what the adapter accepts: a test, so
// that a change of the adapter that rejects it fails fast rather than as a
// benchmark error.
func TestBenchUpstreamAnswers(t *testing.T) {
	up := newBenchUpstream(t, 3)
	p := newBenchProxy(t, llmproxy.ProviderConfig{Type: "openai", BaseURL: up.URL + "/v1"})
	resp, err := p.ChatCompletion(t.Context(), benchRequest(t, false))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content.String(); got == "" {
		t.Fatal("empty answer")
	}
	st, err := p.ChatCompletionStream(t.Context(), benchRequest(t, true))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	for st.Next() {
		n++
	}
	if err := st.Err(); err != nil || n < 4 {
		t.Fatalf("stream: %d chunks, err %v", n, err)
	}
	_, _ = io.Discard.Write(nil)
}

// benchRawType is the provider type of BenchmarkRouterRaw: an upstream
// that answers from memory through the raw interfaces, so that the
// benchmark measures the router's own fixed costs per request and per
// stream (contexts, timers, the breaker, metrics, stats, settling).
const benchRawType = "bench-raw"

var registerBenchRaw sync.Once

// benchRawProvider answers every chat request with benchAnswer, and every
// stream with the chunks of benchStreamFrames, read from memory.
type benchRawProvider struct {
	answer []byte
	chunks []llmproxy.RawChunk
}

func (p *benchRawProvider) Name() string { return "bench" }

func (p *benchRawProvider) ChatCompletion(context.Context, *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error) {
	return nil, &llmproxy.Error{Kind: llmproxy.KindInternal, Message: "raw only"}
}

func (p *benchRawProvider) ChatCompletionRaw(ctx context.Context, _ *llmproxy.RawChatRequest) (*llmproxy.RawAnswer, error) {
	_ = ctx.Done() // as net/http's Transport does, waiting on it
	return &llmproxy.RawAnswer{Body: p.answer, Usage: &llmproxy.Usage{PromptTokens: 24, CompletionTokens: 20, TotalTokens: 44}}, nil
}

func (p *benchRawProvider) ChatCompletionStreamRaw(ctx context.Context, _ *llmproxy.RawChatRequest) (llmproxy.ChunkReader[*llmproxy.RawChunk], error) {
	_ = ctx.Done()
	return &benchRawReader{chunks: p.chunks}, nil
}

// benchRawReader hands out its chunks, reusing one RawChunk as a raw
// reader may.
type benchRawReader struct {
	chunks []llmproxy.RawChunk
	cur    llmproxy.RawChunk
}

func (r *benchRawReader) Next() (*llmproxy.RawChunk, error) {
	if len(r.chunks) == 0 {
		return nil, io.EOF
	}
	r.cur, r.chunks = r.chunks[0], r.chunks[1:]
	return &r.cur, nil
}

func (r *benchRawReader) Close() error { return nil }

// benchRawChunks is the number of content chunks of benchRawProvider's
// streams.
const benchRawChunks = 20

// newBenchRawProxy returns a proxy over one benchRawProvider.
func newBenchRawProxy(b *testing.B) *llmproxy.Proxy {
	b.Helper()
	registerBenchRaw.Do(func() {
		llmproxy.RegisterProviderType(benchRawType, func(llmproxy.ProviderConfig) (llmproxy.Provider, error) {
			p := &benchRawProvider{answer: []byte(benchAnswer)}
			n := benchRawChunks
			for i, f := range benchStreamFrames(n) {
				data := bytes.TrimSuffix(bytes.TrimPrefix(f, []byte("data: ")), []byte("\n\n"))
				if string(data) == "[DONE]" {
					break
				}
				c := llmproxy.RawChunk{Data: data, Content: i > 0 && i <= n, Final: i > n}
				if i == n+2 {
					c.UsageOnly = true
					c.Usage = &llmproxy.Usage{PromptTokens: 24, CompletionTokens: n, TotalTokens: 24 + n}
				}
				p.chunks = append(p.chunks, c)
			}
			return p, nil
		})
	})
	return newBenchProxy(b, llmproxy.ProviderConfig{Type: benchRawType})
}

// BenchmarkRouterRaw measures the router's fixed costs on the raw path the
// server takes (Proxy.ChatCompletionRaw, Proxy.ChatCompletionStreamRaw),
// with an upstream that answers from memory: a whole answer, and a stream
// of 20 content chunks read to its end.
func BenchmarkRouterRaw(b *testing.B) {
	ctx := context.Background()
	withUsage := []byte(benchChatBody[:len(benchChatBody)-1] + `,"stream":true,"stream_options":{"include_usage":true}}`)
	b.Run("answer", func(b *testing.B) {
		p := newBenchRawProxy(b)
		req, err := llmproxy.ReadChatRequest([]byte(benchChatBody))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.ChatCompletionRaw(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stream/chunks=20", func(b *testing.B) {
		p := newBenchRawProxy(b)
		req, err := llmproxy.ReadChatRequest(withUsage)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			st, err := p.ChatCompletionStreamRaw(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for st.Next() {
				n++
			}
			if err := st.Err(); err != nil || n != benchRawChunks+3 {
				b.Fatalf("%d chunks, error %v", n, err)
			}
			_ = st.Close()
		}
	})
}
