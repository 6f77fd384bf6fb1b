package openai

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
	"github.com/llmproxy/llmproxy/sse"
)

// Stream chunks as OpenAI sends them: a role chunk, two content chunks, the
// finish chunk and the include_usage chunk ("choices":[]).
const (
	oaChunkRole  = `{"id":"chatcmpl-C9x1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"k3J9"}`
	oaChunkHello = `{"id":"chatcmpl-C9x1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"a1"}`
	oaChunkWorld = `{"id":"chatcmpl-C9x1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"Qz"}`
	oaChunkStop  = `{"id":"chatcmpl-C9x1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null,"obfuscation":"pL0"}`
	oaChunkUsage = `{"id":"chatcmpl-C9x1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"x"}`

	oaMidStreamError = `{"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}`
)

// Legacy completion chunks.
const (
	oaCmplA    = `{"id":"cmpl-8d1","object":"text_completion","created":1686617332,"choices":[{"text":"This is","index":0,"logprobs":null,"finish_reason":null}],"model":"gpt-3.5-turbo-instruct"}`
	oaCmplB    = `{"id":"cmpl-8d1","object":"text_completion","created":1686617332,"choices":[{"text":" a test","index":0,"logprobs":null,"finish_reason":"length"}],"model":"gpt-3.5-turbo-instruct"}`
	oaCmplUsge = `{"id":"cmpl-8d1","object":"text_completion","created":1686617332,"choices":[],"model":"gpt-3.5-turbo-instruct","usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}}`
)

// streamClientChat is a streaming client's body, with unusual spacing that
// must survive byte for byte.
const streamClientChat = `{"model": "gpt-4o-mini", "messages":[{"role":"user","content":"Hi"}], "stream": true, "x_vendor":{"a":1} }`

// sseUpstream is an httptest server whose handler is given per test and
// which records every request it receives.
type sseUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

func newSSEUpstream(t *testing.T, h http.HandlerFunc) *sseUpstream {
	t.Helper()
	u := &sseUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, received{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: body})
		u.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *sseUpstream) last(t *testing.T) received {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	require.NotEmpty(t, u.reqs, "the upstream received no request")
	return u.reqs[len(u.reqs)-1]
}

// writeSSE starts a 200 event-stream answer and writes raw, flushing after
// every blank line so that each frame travels on its own.
func writeSSE(w http.ResponseWriter, raw ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	f := w.(http.Flusher)
	f.Flush()
	for _, s := range raw {
		_, _ = io.WriteString(w, s)
		f.Flush()
	}
}

// frames turns JSON payloads into "data: <payload>\n\n" frames.
func frames(payloads ...string) []string {
	out := make([]string, len(payloads))
	for i, p := range payloads {
		out[i] = "data: " + p + "\n\n"
	}
	return out
}

// sseHandler answers every request with the given raw stream bytes.
func sseHandler(raw ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { writeSSE(w, raw...) }
}

// openChat opens a chat stream on p for the client body.
func openChat(t *testing.T, p llmproxy.Provider, body string) llmproxy.ChunkReader[*llmproxy.ChatChunk] {
	t.Helper()
	s, ok := p.(llmproxy.ChatStreamer)
	require.True(t, ok, "%T is not a ChatStreamer", p)
	r, err := s.ChatCompletionStream(context.Background(), chatRequest(t, body))
	require.NoError(t, err)
	return r
}

// openRawChat is openChat on the raw path: the client's bytes go upstream.
func openRawChat(t *testing.T, p llmproxy.Provider, body string) llmproxy.ChunkReader[*llmproxy.RawChunk] {
	t.Helper()
	s, ok := p.(llmproxy.RawChatStreamer)
	require.True(t, ok, "%T is not a RawChatStreamer", p)
	req, err := llmproxy.ReadChatRequest([]byte(body))
	require.NoError(t, err)
	r, err := s.ChatCompletionStreamRaw(context.Background(), req)
	require.NoError(t, err)
	return r
}

// drain reads a stream until it ends and closes it; it returns the chunks
// and the error that ended it (nil for a clean end).
func drain[T any](t *testing.T, r llmproxy.ChunkReader[T]) ([]T, error) {
	t.Helper()
	defer func() { require.NoError(t, r.Close()) }()
	var out []T
	for range 1000 {
		c, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
	t.Fatal("the stream did not end")
	return nil, nil
}

// chunksText concatenates the content deltas of choice 0.
func chunksText(cs []*llmproxy.ChatChunk) string {
	var b strings.Builder
	for _, c := range cs {
		for _, ch := range c.Choices {
			if ch.Index == 0 && ch.Delta.Content != nil {
				b.WriteString(*ch.Delta.Content)
			}
		}
	}
	return b.String()
}

func TestStreamOpenAIWireBytes(t *testing.T) {
	payloads := []string{oaChunkRole, oaChunkHello, oaChunkWorld, oaChunkStop, oaChunkUsage}
	up := newSSEUpstream(t, sseHandler(append(frames(payloads...), "data: [DONE]\n\n")...))
	p := newTestProvider(t, "openai", up.URL+"/v1")

	chunks, err := drain(t, openChat(t, p, streamClientChat))
	require.NoError(t, err)

	got := up.last(t)
	assert.Equal(t, http.MethodPost, got.method)
	assert.Equal(t, "/v1/chat/completions", got.path)
	assert.Equal(t, "text/event-stream", got.header.Get("Accept"))
	assert.Equal(t, "application/json", got.header.Get("Content-Type"))
	assert.Equal(t, "Bearer "+testKey, got.header.Get("Authorization"))
	assert.JSONEq(t,
		`{"model": "gpt-4o-mini", "messages":[{"role":"user","content":"Hi"}], "stream": true, "x_vendor":{"a":1},"stream_options":{"include_usage":true}}`,
		string(got.body), "the request with include_usage")

	// On the raw path, the client's bytes go with include_usage added.
	_, err = drain(t, openRawChat(t, p, streamClientChat))
	require.NoError(t, err)
	assert.Equal(t,
		`{"model": "gpt-4o-mini", "messages":[{"role":"user","content":"Hi"}], "stream": true, "x_vendor":{"a":1} ,"stream_options":{"include_usage":true}}`,
		string(up.last(t).body), "the client's bytes with include_usage added")

	require.Len(t, chunks, len(payloads))
	for i, c := range chunks {
		assert.Equal(t, payloads[i], string(c.Raw()), "chunk %d must keep the upstream's bytes", i)
	}
	assert.Equal(t, "Hello world", chunksText(chunks))
	assert.Equal(t, "assistant", chunks[0].Choices[0].Delta.Role)
	assert.False(t, chunks[0].HasContent(), "a role chunk has no content")
	assert.True(t, chunks[1].HasContent())
	require.NotNil(t, chunks[3].Choices[0].FinishReason)
	assert.Equal(t, "stop", *chunks[3].Choices[0].FinishReason)
	assert.True(t, chunks[3].Finished())
	assert.Empty(t, chunks[4].Choices)
	require.NotNil(t, chunks[4].Usage)
	assert.Equal(t, 11, chunks[4].Usage.TotalTokens)
	assert.JSONEq(t, `"k3J9"`, string(chunks[0].Extra["obfuscation"]))
}

func TestStreamRequestBody(t *testing.T) {
	stream := append(frames(oaChunkRole, oaChunkHello, oaChunkStop, oaChunkUsage), "data: [DONE]\n\n")

	t.Run("client asked for usage: bytes unchanged", func(t *testing.T) {
		up := newSSEUpstream(t, sseHandler(stream...))
		p := newTestProvider(t, "openai", up.URL+"/v1")
		body := `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}`
		_, err := drain(t, openRawChat(t, p, body))
		require.NoError(t, err)
		assert.Equal(t, body, string(up.last(t).body))
	})

	t.Run("parsed body without stream gets stream and usage", func(t *testing.T) {
		up := newSSEUpstream(t, sseHandler(stream...))
		p := newTestProvider(t, "openai", up.URL+"/v1")
		body := "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}\n"
		_, err := drain(t, openRawChat(t, p, body))
		require.NoError(t, err)
		assert.Equal(t, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}}`,
			string(up.last(t).body))
	})

	t.Run("stream_options with other members keeps them", func(t *testing.T) {
		up := newSSEUpstream(t, sseHandler(stream...))
		p := newTestProvider(t, "openai", up.URL+"/v1")
		body := `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_obfuscation":false},"messages":[{"role":"user","content":"Hi"}],"x_vendor":7}`
		_, err := drain(t, openRawChat(t, p, body))
		require.NoError(t, err)
		var sent map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(up.last(t).body, &sent), "body: %s", up.last(t).body)
		assert.JSONEq(t, `true`, string(sent["stream"]))
		assert.JSONEq(t, `{"include_usage":true,"include_obfuscation":false}`, string(sent["stream_options"]))
		assert.JSONEq(t, `7`, string(sent["x_vendor"]))
	})

	t.Run("request built in code", func(t *testing.T) {
		up := newSSEUpstream(t, sseHandler(stream...))
		p := newTestProvider(t, "openai", up.URL+"/v1")
		req := &llmproxy.ChatRequest{Model: "gpt-4o-mini", Messages: []llmproxy.Message{{Role: "user", Content: llmproxy.Text("Hi")}}}
		r, err := p.(llmproxy.ChatStreamer).ChatCompletionStream(context.Background(), req)
		require.NoError(t, err)
		chunks, err := drain(t, r)
		require.NoError(t, err)
		assert.Equal(t, "Hello", chunksText(chunks))
		var sent map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(up.last(t).body, &sent), "body: %s", up.last(t).body)
		assert.JSONEq(t, `true`, string(sent["stream"]))
		assert.JSONEq(t, `{"include_usage":true}`, string(sent["stream_options"]))
		assert.JSONEq(t, `"gpt-4o-mini"`, string(sent["model"]))
		assert.False(t, req.Stream, "the caller's request must not be modified")
		assert.Nil(t, req.StreamOptions, "the caller's request must not be modified")
	})

	t.Run("flavors without include_usage get none", func(t *testing.T) {
		up := newSSEUpstream(t, sseHandler(stream...))
		p := newTestProvider(t, "perplexity", up.URL)
		_, err := drain(t, openRawChat(t, p, streamClientChat))
		require.NoError(t, err)
		got := up.last(t)
		assert.Equal(t, "/chat/completions", got.path)
		assert.JSONEq(t, streamClientChat, string(got.body))
	})
}

func TestStreamEnds(t *testing.T) {
	t.Run("EOF after a finish reason is a clean end", func(t *testing.T) {
		up := newSSEUpstream(t, sseHandler(frames(oaChunkRole, oaChunkHello, oaChunkStop)...))
		p := newTestProvider(t, "openai", up.URL+"/v1")
		chunks, err := drain(t, openChat(t, p, streamClientChat))
		require.NoError(t, err)
		assert.Len(t, chunks, 3)
	})

	t.Run("EOF after a finish reason without a final blank line", func(t *testing.T) {
		up := newSSEUpstream(t, sseHandler("data: "+oaChunkHello+"\n\n", "data: "+oaChunkStop))
		p := newTestProvider(t, "openai", up.URL+"/v1")
		chunks, err := drain(t, openChat(t, p, streamClientChat))
		require.NoError(t, err)
		require.Len(t, chunks, 2)
		assert.Equal(t, oaChunkStop, string(chunks[1].Raw()))
	})

	t.Run("EOF without a finish reason is a cut stream", func(t *testing.T) {
		up := newSSEUpstream(t, sseHandler(frames(oaChunkRole, oaChunkHello)...))
		p := newTestProvider(t, "openai", up.URL+"/v1")
		chunks, err := drain(t, openChat(t, p, streamClientChat))
		assert.Len(t, chunks, 2, "the chunks before the cut are delivered")
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
		assert.Equal(t, "up-openai", e.Provider)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})

	t.Run("connection dropped without a finish reason", func(t *testing.T) {
		up := newSSEUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			writeSSE(w, frames(oaChunkRole, oaChunkHello)...)
			panic(http.ErrAbortHandler) // drop the connection mid-stream
		})
		p := newTestProvider(t, "openai", up.URL+"/v1")
		chunks, err := drain(t, openChat(t, p, streamClientChat))
		assert.Len(t, chunks, 2)
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
		assert.Equal(t, "up-openai", e.Provider)
	})

	t.Run("connection dropped after a finish reason is a clean end", func(t *testing.T) {
		up := newSSEUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			writeSSE(w, frames(oaChunkHello, oaChunkStop)...)
			panic(http.ErrAbortHandler)
		})
		p := newTestProvider(t, "openai", up.URL+"/v1")
		chunks, err := drain(t, openChat(t, p, streamClientChat))
		require.NoError(t, err)
		assert.Len(t, chunks, 2)
	})

	t.Run("a truncated last event is an invalid answer, not a crash", func(t *testing.T) {
		up := newSSEUpstream(t, sseHandler("data: "+oaChunkHello+"\n\n", `data: {"id":"chatcmpl-C9x1","choi`))
		p := newTestProvider(t, "openai", up.URL+"/v1")
		chunks, err := drain(t, openChat(t, p, streamClientChat))
		assert.Len(t, chunks, 1)
		assert.Equal(t, llmproxy.KindUnavailable, asError(t, err).Kind)
	})

	t.Run("CRLF line ends and a keep-alive comment", func(t *testing.T) {
		up := newSSEUpstream(t, sseHandler(": keep-alive\r\n\r\n", "data: "+oaChunkHello+"\r\n\r\n", "data: [DONE]\r\n\r\n"))
		p := newTestProvider(t, "openai", up.URL+"/v1")
		chunks, err := drain(t, openChat(t, p, streamClientChat))
		require.NoError(t, err)
		require.Len(t, chunks, 1)
		assert.Equal(t, oaChunkHello, string(chunks[0].Raw()))
	})
}

func TestStreamUpstreamErrors(t *testing.T) {
	t.Run("data error frame mid-stream", func(t *testing.T) {
		up := newSSEUpstream(t, sseHandler(frames(oaChunkRole, oaChunkHello, oaMidStreamError)...))
		p := newTestProvider(t, "openai", up.URL+"/v1")
		chunks, err := drain(t, openChat(t, p, streamClientChat))
		assert.Equal(t, "Hello", chunksText(chunks))
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
		assert.Equal(t, "overloaded", e.Message)
		assert.Equal(t, "server_error", e.Type)
		assert.Equal(t, "up-openai", e.Provider)
	})

	t.Run("event error frame", func(t *testing.T) {
		up := newSSEUpstream(t, sseHandler("data: "+oaChunkHello+"\n\n",
			"event: error\ndata: {\"error\":{\"message\":\"rate limited mid-stream\",\"type\":\"rate_limit_error\",\"code\":\"rate_limit_exceeded\"}}\n\n"))
		p := newTestProvider(t, "openai", up.URL+"/v1")
		chunks, err := drain(t, openChat(t, p, streamClientChat))
		assert.Len(t, chunks, 1)
		e := asError(t, err)
		assert.Equal(t, "rate limited mid-stream", e.Message)
		assert.Equal(t, "rate_limit_exceeded", e.Code)
	})

	t.Run("openrouter comments and error chunk", func(t *testing.T) {
		orErr := `{"id":"gen-1770768300-abc","object":"chat.completion.chunk","created":1770768300,"model":"openai/gpt-4o","provider":"OpenAI","error":{"code":502,"message":"Provider returned error","metadata":{"provider_name":"OpenAI","raw":"upstream connect error"}},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error","native_finish_reason":"error"}]}`
		orHello := `{"id":"gen-1770768300-abc","provider":"OpenAI","model":"openai/gpt-4o","object":"chat.completion.chunk","created":1770768300,"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}`
		up := newSSEUpstream(t, sseHandler(
			": OPENROUTER PROCESSING\n\n", ": OPENROUTER PROCESSING\n\n",
			"data: "+orHello+"\n\n",
			": OPENROUTER PROCESSING\n\n",
			"data: "+orErr+"\n\n", "data: [DONE]\n\n"))
		p := newTestProvider(t, "openrouter", up.URL+"/api/v1")
		chunks, err := drain(t, openChat(t, p, streamClientChat))
		require.Len(t, chunks, 1, "comments are skipped, never decoded")
		assert.Equal(t, orHello, string(chunks[0].Raw()))
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
		assert.Equal(t, http.StatusBadGateway, e.Status)
		assert.Equal(t, "Provider returned error", e.Message)
		assert.Equal(t, "up-openrouter", e.Provider)
		assert.Equal(t, "/api/v1/chat/completions", up.last(t).path)
	})

	t.Run("openrouter error chunk with a 429 code", func(t *testing.T) {
		orErr := `{"id":"gen-1","object":"chat.completion.chunk","created":1770768300,"model":"openai/gpt-4o","error":{"code":429,"message":"Rate limit exceeded"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}`
		up := newSSEUpstream(t, sseHandler(": OPENROUTER PROCESSING\n\n", "data: "+orErr+"\n\n"))
		p := newTestProvider(t, "openrouter", up.URL+"/api/v1")
		_, err := drain(t, openChat(t, p, streamClientChat))
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindRateLimited, e.Kind)
		assert.Equal(t, http.StatusTooManyRequests, e.Status)
	})

	t.Run("429 at open", func(t *testing.T) {
		up := newSSEUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, openAIRateLimit)
		})
		p := newTestProvider(t, "openai", up.URL+"/v1")
		r, err := p.(llmproxy.ChatStreamer).ChatCompletionStream(context.Background(), chatRequest(t, streamClientChat))
		assert.Nil(t, r)
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindRateLimited, e.Kind)
		assert.Equal(t, http.StatusTooManyRequests, e.Status)
		assert.Equal(t, 7*time.Second, e.RetryAfter)
		assert.Equal(t, "rate_limit_exceeded", e.Code)
		assert.Contains(t, e.Message, "Rate limit reached")
	})

	t.Run("connection refused at open", func(t *testing.T) {
		up := newSSEUpstream(t, sseHandler())
		base := up.URL
		up.Close()
		p := newTestProvider(t, "openai", base+"/v1")
		_, err := p.(llmproxy.ChatStreamer).ChatCompletionStream(context.Background(), chatRequest(t, streamClientChat))
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
		assert.True(t, llmproxy.IsConnectError(e.Err), "cause: %v", e.Err)
	})

	t.Run("a line over the limit", func(t *testing.T) {
		old := maxStreamLine
		maxStreamLine = 512
		t.Cleanup(func() { maxStreamLine = old })
		huge := `{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"` +
			strings.Repeat("A", 64<<10) + `"},"finish_reason":null}]}`
		up := newSSEUpstream(t, sseHandler(frames(oaChunkHello, huge, oaChunkStop)...))
		p := newTestProvider(t, "openai", up.URL+"/v1")
		chunks, err := drain(t, openChat(t, p, streamClientChat))
		assert.Len(t, chunks, 1)
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
		assert.ErrorIs(t, err, sse.ErrLineTooLong)
	})
}

func TestStreamPerplexityDone(t *testing.T) {
	ppx1 := `{"id":"8b1c","model":"sonar","created":1770768220,"usage":{"prompt_tokens":11,"completion_tokens":1,"total_tokens":12},"citations":["https://go.dev/doc/"],"object":"chat.completion.chunk","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","content":"Go"}}]}`
	ppx2 := `{"id":"8b1c","model":"sonar","created":1770768220,"usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14},"citations":["https://go.dev/doc/"],"object":"chat.completion.chunk","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant","content":" is fun"}}]}`
	ppxDone := `{"id":"8b1c","model":"sonar","created":1770768220,"usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14,"cost":{"total_cost":0.0054}},"citations":["https://go.dev/doc/"],"object":"chat.completion.done","choices":[{"index":0,"finish_reason":"stop","delta":{"role":"assistant","content":""}}]}`
	up := newSSEUpstream(t, sseHandler(frames(ppx1, ppx2, ppxDone)...)) // no [DONE]
	p := newTestProvider(t, "perplexity", up.URL)

	chunks, err := drain(t, openChat(t, p, streamClientChat))
	require.NoError(t, err, "EOF after the finish reason is a clean end")
	require.Len(t, chunks, 3)
	assert.Equal(t, "Go is fun", chunksText(chunks))
	for i, c := range chunks[:2] {
		// The running usage of content chunks is dropped (clients add the
		// usage of all chunks up), so their bytes are not the upstream's.
		assert.Nil(t, c.Usage, "chunk %d keeps a running usage", i)
		assert.Nil(t, c.Raw(), "chunk %d: raw bytes would still hold the usage", i)
		b, err := json.Marshal(c)
		require.NoError(t, err)
		assert.NotContains(t, string(b), `"usage"`)
		assert.Contains(t, string(b), `"citations":["https://go.dev/doc/"]`)
	}
	last := chunks[2]
	assert.Equal(t, "chat.completion.chunk", last.Object)
	if raw := last.Raw(); raw != nil {
		assert.NotContains(t, string(raw), "chat.completion.done", "the raw bytes must not contradict the fields")
	}
	b, err := json.Marshal(last)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"object":"chat.completion.chunk"`)
	assert.NotContains(t, string(b), "chat.completion.done")
	assert.Contains(t, string(b), `"citations":["https://go.dev/doc/"]`, "members not modelled survive")
	require.NotNil(t, last.Usage)
	assert.Equal(t, 14, last.Usage.TotalTokens)
}

func TestStreamBlackboxNone(t *testing.T) {
	bb1 := `{"id":"gen-1770768220-Xk2","provider":"OpenAI","model":"blackboxai/openai/gpt-4","object":"chat.completion.chunk","created":1770768220,"system_fingerprint":"None","choices":[{"index":0,"delta":{"role":"assistant","content":"None of it","tool_calls":"None","function_call":"None"},"finish_reason":null,"logprobs":"None"}]}`
	bb2 := `{"id":"gen-1770768220-Xk2","provider":"OpenAI","model":"blackboxai/openai/gpt-4","object":"chat.completion.chunk","created":1770768220,"system_fingerprint":"None","choices":[{"index":0,"delta":{"content":"","tool_calls":"None"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"completion_tokens_details":"None"}}`
	up := newSSEUpstream(t, sseHandler(append(frames(bb1, bb2), "data: [DONE]\n\n")...))
	p := newTestProvider(t, "blackbox", up.URL)

	chunks, err := drain(t, openChat(t, p, streamClientChat))
	require.NoError(t, err)
	require.Len(t, chunks, 2)
	assert.Equal(t, "/chat/completions", up.last(t).path)
	assert.JSONEq(t, streamClientChat, string(up.last(t).body), "blackbox is not sent stream_options")
	assert.Equal(t, "None of it", chunksText(chunks), "free text is kept")
	assert.Equal(t,
		`{"id":"gen-1770768220-Xk2","provider":"OpenAI","model":"blackboxai/openai/gpt-4","object":"chat.completion.chunk","created":1770768220,"system_fingerprint":null,"choices":[{"index":0,"delta":{"role":"assistant","content":"None of it","tool_calls":null,"function_call":null},"finish_reason":null,"logprobs":null}]}`,
		string(chunks[0].Raw()))
	assert.NotContains(t, string(chunks[1].Raw()), `"None"`)
	assert.Empty(t, chunks[0].SystemFingerprint)
	require.NotNil(t, chunks[1].Usage)
	assert.Nil(t, chunks[1].Usage.CompletionTokensDetails)
}

func TestStreamLegacyCompletions(t *testing.T) {
	payloads := []string{oaCmplA, oaCmplB, oaCmplUsge}
	up := newSSEUpstream(t, sseHandler(append(frames(payloads...), "data: [DONE]\n\n")...))
	p := newTestProvider(t, "openai", up.URL+"/v1")
	body := `{"model":"gpt-3.5-turbo-instruct","prompt":"Say this is a test","max_tokens":7,"stream":true}`
	req, err := llmproxy.ParseCompletionRequest([]byte(body))
	require.NoError(t, err)

	r, err := p.(llmproxy.CompletionStreamer).CompletionStream(context.Background(), req)
	require.NoError(t, err)
	chunks, err := drain(t, r)
	require.NoError(t, err)

	got := up.last(t)
	assert.Equal(t, "/v1/completions", got.path)
	assert.Equal(t, "text/event-stream", got.header.Get("Accept"))
	assert.Equal(t, `{"model":"gpt-3.5-turbo-instruct","prompt":"Say this is a test","max_tokens":7,"stream":true,"stream_options":{"include_usage":true}}`, string(got.body))
	require.Len(t, chunks, 3)
	for i, c := range chunks {
		assert.Equal(t, payloads[i], string(c.Raw()), "chunk %d", i)
	}
	assert.Equal(t, "This is", chunks[0].Choices[0].Text)
	assert.Equal(t, "length", chunks[1].Choices[0].FinishReason)
	require.NotNil(t, chunks[2].Usage)
	assert.Equal(t, 9, chunks[2].Usage.TotalTokens)

	t.Run("EOF without a finish reason is a cut stream", func(t *testing.T) {
		up := newSSEUpstream(t, sseHandler(frames(oaCmplA)...))
		p := newTestProvider(t, "grok", up.URL+"/v1")
		req, err := llmproxy.ParseCompletionRequest([]byte(body))
		require.NoError(t, err)
		r, err := p.(llmproxy.CompletionStreamer).CompletionStream(context.Background(), req)
		require.NoError(t, err)
		chunks, err := drain(t, r)
		assert.Len(t, chunks, 1)
		assert.Equal(t, llmproxy.KindUnavailable, asError(t, err).Kind)
	})
}

// TestStreamCloseEndsUpstreamRequest checks that closing a stream early
// cancels the upstream request rather than leaving it running.
func TestStreamCloseEndsUpstreamRequest(t *testing.T) {
	gone := make(chan struct{})
	up := newSSEUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		writeSSE(w, frames(oaChunkRole, oaChunkHello)...)
		<-r.Context().Done()
		close(gone)
	})
	p := newTestProvider(t, "openai", up.URL+"/v1")
	r := openChat(t, p, streamClientChat)
	c, err := r.Next()
	require.NoError(t, err)
	assert.False(t, c.HasContent())
	require.NoError(t, r.Close())
	select {
	case <-gone:
	case <-time.After(time.Minute):
		t.Fatal("the upstream request was not ended by Close")
	}
}

// TestStreamContextCancelEndsRead checks that a read blocked on a stalled
// upstream returns once the stream's context ends.
func TestStreamContextCancelEndsRead(t *testing.T) {
	up := newSSEUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		writeSSE(w, frames(oaChunkHello)...)
		<-r.Context().Done()
	})
	p := newTestProvider(t, "openai", up.URL+"/v1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := p.(llmproxy.ChatStreamer).ChatCompletionStream(ctx, chatRequest(t, streamClientChat))
	require.NoError(t, err)
	defer r.Close()
	_, err = r.Next()
	require.NoError(t, err)
	time.AfterFunc(50*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() { _, err := r.Next(); done <- err }()
	select {
	case err := <-done:
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindCanceled, e.Kind)
		assert.False(t, errors.Is(err, io.EOF))
	case <-time.After(time.Minute):
		t.Fatal("Next did not return after the context ended")
	}
}

// TestStreamThroughProxy runs an OpenAI-format stream through the proxy's
// router: the usage chunk the proxy asked for is dropped for a client that
// did not ask, but the usage is still known.
func TestStreamThroughProxy(t *testing.T) {
	up := newSSEUpstream(t, sseHandler(append(frames(oaChunkRole, oaChunkHello, oaChunkWorld, oaChunkStop, oaChunkUsage), "data: [DONE]\n\n")...))
	px, err := llmproxy.New(llmproxy.Config{Providers: []llmproxy.ProviderConfig{{
		Name: "oa", Type: "openai", BaseURL: up.URL + "/v1", APIKey: testKey,
	}}})
	require.NoError(t, err)
	defer px.Close()

	for _, includeUsage := range []bool{false, true} {
		body := streamClientChat
		if includeUsage {
			body = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}}`
		}
		st, err := px.ChatCompletionStream(context.Background(), chatRequest(t, body))
		require.NoError(t, err)
		var raws []string
		for c, err := range st.All() {
			require.NoError(t, err)
			raws = append(raws, string(c.Raw()))
		}
		require.NoError(t, st.Err())
		require.NoError(t, st.Close())
		want := []string{oaChunkRole, oaChunkHello, oaChunkWorld, oaChunkStop}
		if includeUsage {
			want = append(want, oaChunkUsage)
		}
		assert.Equal(t, want, raws, "include_usage=%v", includeUsage)
		require.NotNil(t, st.Usage())
		assert.Equal(t, 11, st.Usage().TotalTokens)
		assert.Equal(t, "oa", st.ProxyInfo().Provider)
	}
}

// TestStreamWholeAnswer covers an upstream that ignores "stream": true and
// answers a stream request with one whole chat completion: its message
// must reach the client as the delta of an equivalent chunk, not be lost.
func TestStreamWholeAnswer(t *testing.T) {
	whole := `{"id":"chatcmpl-W1","object":"chat.completion","created":1741570283,"model":"llama-3","choices":[{"index":0,"message":{"role":"assistant","content":"the whole answer","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":3,"total_tokens":7},"x_vendor":1}`
	up := newSSEUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, whole)
	})
	p := newTestProvider(t, "openai", up.URL+"/v1")
	chunks, err := drain(t, openChat(t, p, streamClientChat))
	require.NoError(t, err)
	require.Len(t, chunks, 1)
	c := chunks[0]
	assert.Equal(t, "chat.completion.chunk", c.Object)
	assert.Equal(t, "chatcmpl-W1", c.ID)
	assert.Equal(t, "llama-3", c.Model)
	assert.Nil(t, c.Raw(), "the upstream's bytes describe a different object")
	require.Len(t, c.Choices, 1)
	ch := c.Choices[0]
	assert.Equal(t, "assistant", ch.Delta.Role)
	require.NotNil(t, ch.Delta.Content)
	assert.Equal(t, "the whole answer", *ch.Delta.Content)
	require.Len(t, ch.Delta.ToolCalls, 1)
	require.NotNil(t, ch.Delta.ToolCalls[0].Index, "streamed tool calls carry an index")
	assert.Equal(t, 0, *ch.Delta.ToolCalls[0].Index)
	assert.Equal(t, "f", ch.Delta.ToolCalls[0].Function.Name)
	require.NotNil(t, ch.FinishReason)
	assert.Equal(t, "stop", *ch.FinishReason)
	require.NotNil(t, c.Usage)
	assert.Equal(t, 7, c.Usage.TotalTokens)
	b, err := json.Marshal(c)
	require.NoError(t, err)
	assert.NotContains(t, string(b), `"message"`)
	assert.Contains(t, string(b), `"x_vendor":1`)
}
