package server_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/openai"
	"github.com/llmproxy/llmproxy/server"
)

// The benchmarks of this file measure the server's hot path with the
// production path switched on (client auth, rate limits high enough never
// to trigger, metrics, the access log to a file) in front of an in-process
// OpenAI-format upstream reached through providers/openai, each beside the
// same request sent directly to the upstream:
//
//	go test -run='^$' -bench=. -benchmem ./server/
//
// The difference between a "proxy" and a "direct" line is what the proxy
// adds. cmd/llmbench measures the proxy as a separate process.

// benchKey is the client key of the benchmarks' proxies.
const benchKey = "sk-bench-client"

// benchBody is the small chat request of every benchmark.
const benchBody = `{"model":"bench-model","messages":[{"role":"system","content":"You are a helpful assistant."},` +
	`{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":64,"temperature":0}`

// benchStreamBody is benchBody streamed, with the usage chunk asked for.
const benchStreamBody = `{"model":"bench-model","messages":[{"role":"system","content":"You are a helpful assistant."},` +
	`{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":64,"temperature":0,` +
	`"stream":true,"stream_options":{"include_usage":true}}`

// benchAnswer is the upstream's non-streamed answer.
const benchAnswer = `{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model",` +
	`"system_fingerprint":"fp_bench","choices":[{"index":0,"message":{"role":"assistant",` +
	`"content":"Hello there! Here is a short answer from the benchmark upstream, with about twenty tokens of text.",` +
	`"refusal":null},"logprobs":null,"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":24,"completion_tokens":20,"total_tokens":44}}`

// benchFrames returns the SSE frames of a streamed answer of n content
// chunks: a role chunk, the content chunks, a finish chunk, a usage chunk
// and [DONE].
func benchFrames(n int) [][]byte {
	head := `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","system_fingerprint":"fp_bench","choices":[`
	frame := func(choices, tail string) []byte { return []byte(head + choices + "]" + tail + "}\n\n") }
	frames := [][]byte{frame(`{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`, "")}
	for i := range n {
		frames = append(frames, frame(`{"index":0,"delta":{"content":" tok`+strconv.Itoa(i)+`"},"logprobs":null,"finish_reason":null}`, ""))
	}
	return append(frames,
		frame(`{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}`, ""),
		frame(``, `,"usage":{"prompt_tokens":24,"completion_tokens":`+strconv.Itoa(n)+`,"total_tokens":`+strconv.Itoa(24+n)+`}`),
		[]byte("data: [DONE]\n\n"))
}

// benchBufs recycles the upstream's request buffers.
var benchBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// newBenchUpstream starts an upstream that answers benchAnswer, or, for
// "stream":true, a stream of chunks content chunks flushed one by one. It
// allocates little, so that the proxy's allocations stand out.
func newBenchUpstream(b *testing.B, chunks int) *httptest.Server {
	b.Helper()
	frames := benchFrames(chunks)
	answer := []byte(benchAnswer)
	answerLen := strconv.Itoa(len(answer))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := benchBufs.Get().(*bytes.Buffer)
		buf.Reset()
		_, _ = buf.ReadFrom(r.Body)
		stream := bytes.Contains(buf.Bytes(), []byte(`"stream":true`))
		benchBufs.Put(buf)
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
	b.Cleanup(srv.Close)
	return srv
}

// benchProxyHandler returns the server's handler in front of upstream,
// with the production path on and the access log going to a file.
func benchProxyHandler(b *testing.B, upstream string) http.Handler {
	b.Helper()
	logFile, err := os.Create(filepath.Join(b.TempDir(), "access.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = logFile.Close() })
	logger := slog.New(slog.NewJSONHandler(logFile, nil))
	p, err := llmproxy.New(llmproxy.Config{
		APIKeys:          []string{benchKey},
		RateLimitRPM:     1 << 30,
		RateLimitChatRPM: 1 << 30,
		Providers: []llmproxy.ProviderConfig{{
			Name: "bench-upstream", Type: "openai", BaseURL: upstream + "/v1",
			Models: []string{"bench-model"}, MaxConnections: 512,
		}},
	}, llmproxy.WithLogger(logger))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	h := server.Handler(p, server.Options{})
	if c, ok := h.(io.Closer); ok {
		b.Cleanup(func() { _ = c.Close() })
	}
	return h
}

// benchTargets returns the URLs of the direct and the proxied chat
// endpoint over an upstream of chunks content chunks.
func benchTargets(b *testing.B, chunks int) map[string]string {
	b.Helper()
	up := newBenchUpstream(b, chunks)
	px := httptest.NewServer(benchProxyHandler(b, up.URL))
	b.Cleanup(px.Close)
	bare := httptest.NewServer(benchBareProxy(b, up.URL))
	b.Cleanup(bare.Close)
	return map[string]string{
		"direct": up.URL + "/v1/chat/completions",
		"bare":   bare.URL + "/v1/chat/completions",
		"proxy":  px.URL + "/v1/chat/completions",
	}
}

// benchBareProxy returns the floor of one extra hop: a plain
// httputil.ReverseProxy to upstream, as cmd/llmbench's "bare" process.
func benchBareProxy(b *testing.B, upstream string) http.Handler {
	b.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		b.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512}
	b.Cleanup(tr.CloseIdleConnections)
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }, Transport: tr}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
	})
}

// benchClient is an HTTP client with enough idle connections for
// b.RunParallel.
func benchClient(b *testing.B) *http.Client {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}
	b.Cleanup(c.CloseIdleConnections)
	return c
}

// benchPost sends body to url with the client key and returns the
// answer, whose body the caller must read and close.
func benchPost(ctx context.Context, c *http.Client, url, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header["Authorization"] = []string{"Bearer " + benchKey}
	return c.Do(req)
}

// BenchmarkServerChat measures one non-streamed chat completion over HTTP,
// directly and through the proxy's handler, sequentially and from parallel
// clients; "handler" calls the handler without the client and server
// around it (the upstream is still reached over HTTP).
func BenchmarkServerChat(b *testing.B) {
	ctx := context.Background()
	targets := benchTargets(b, 20)
	for _, name := range []string{"direct", "bare", "proxy"} {
		url := targets[name]
		b.Run(name, func(b *testing.B) {
			c := benchClient(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := benchChatOnce(ctx, c, url); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"-parallel", func(b *testing.B) {
			c := benchClient(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := benchChatOnce(ctx, c, url); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	b.Run("handler", func(b *testing.B) {
		up := newBenchUpstream(b, 20)
		h := benchProxyHandler(b, up.URL)
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(benchBody))
			req.Header["Content-Type"] = []string{"application/json"}
			req.Header["Authorization"] = []string{"Bearer " + benchKey}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}

// benchChatOnce sends one non-streamed request and reads its answer.
func benchChatOnce(ctx context.Context, c *http.Client, url string) error {
	resp, err := benchPost(ctx, c, url, benchBody)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || n == 0 {
		return &benchStatusError{resp.StatusCode}
	}
	return nil
}

type benchStatusError struct{ status int }

func (e *benchStatusError) Error() string { return "HTTP " + strconv.Itoa(e.status) }

// benchStreamOnce sends one streamed request and reads it to [DONE]. It
// returns the time to the first content chunk and the number of data
// frames.
func benchStreamOnce(ctx context.Context, c *http.Client, url string, br *bufio.Reader) (time.Duration, int, error) {
	start := time.Now()
	resp, err := benchPost(ctx, c, url, benchStreamBody)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, &benchStatusError{resp.StatusCode}
	}
	br.Reset(resp.Body)
	var ttft time.Duration
	frames := 0
	done := false
	for {
		line, err := br.ReadSlice('\n')
		if bytes.HasPrefix(line, []byte("data: ")) {
			frames++
			if ttft == 0 && bytes.Contains(line, []byte(`"delta":{"content":"`)) {
				ttft = time.Since(start)
			}
			done = done || bytes.HasPrefix(line, []byte("data: [DONE]"))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if !done {
		return 0, 0, io.ErrUnexpectedEOF
	}
	return ttft, frames, nil
}

// BenchmarkServerStream measures the SSE pass-through: one stream of 20 or
// 200 content chunks read to [DONE], directly and through the proxy. The
// difference between the two chunk counts gives the cost of one chunk;
// ns/chunk is the time per data frame.
func BenchmarkServerStream(b *testing.B) {
	ctx := context.Background()
	for _, chunks := range []int{20, 200} {
		targets := benchTargets(b, chunks)
		for _, name := range []string{"direct", "bare", "proxy"} {
			url := targets[name]
			b.Run(name+"/chunks="+strconv.Itoa(chunks), func(b *testing.B) {
				c := benchClient(b)
				br := bufio.NewReaderSize(nil, 4096)
				frames := 0
				start := time.Now()
				b.ReportAllocs()
				for b.Loop() {
					_, n, err := benchStreamOnce(ctx, c, url, br)
					if err != nil {
						b.Fatal(err)
					}
					frames += n
				}
				b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(frames), "ns/chunk")
			})
		}
	}
}

// BenchmarkServerTTFB measures the time to the first content chunk of a
// stream, directly and through the proxy (which commits a stream at its
// first content chunk), as the mean over the iterations (ttft-ns); each
// iteration reads its stream of 20 chunks to the end.
func BenchmarkServerTTFB(b *testing.B) {
	ctx := context.Background()
	targets := benchTargets(b, 20)
	for _, name := range []string{"direct", "bare", "proxy"} {
		url := targets[name]
		b.Run(name, func(b *testing.B) {
			c := benchClient(b)
			br := bufio.NewReaderSize(nil, 4096)
			var total time.Duration
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				ttft, _, err := benchStreamOnce(ctx, c, url, br)
				if err != nil {
					b.Fatal(err)
				}
				total += ttft
				n++
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(n), "ttft-ns")
		})
	}
}
