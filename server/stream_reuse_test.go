package server_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// strmReuseType is a provider type whose raw stream uses the freedom
// llmproxy.RawChatStreamer gives a reader: one RawChunk and one buffer for
// every chunk, the previous chunk's bytes scribbled over before the next
// is written. Whatever the proxy keeps across chunks it must have copied.
const strmReuseType = "test-stream-reuse"

func init() {
	llmproxy.RegisterProviderType(strmReuseType, func(cfg llmproxy.ProviderConfig) (llmproxy.Provider, error) {
		return &strmReuseProvider{name: cfg.Name, chunks: strings.Split(cfg.CustomHeaders["chunks"], "\n")}, nil
	})
}

type strmReuseProvider struct {
	name   string
	chunks []string
}

func (p *strmReuseProvider) Name() string { return p.name }

func (p *strmReuseProvider) ChatCompletion(context.Context, *llmproxy.ChatRequest) (*llmproxy.ChatResponse, error) {
	return nil, &llmproxy.Error{Kind: llmproxy.KindInternal, Message: "not used"}
}

func (p *strmReuseProvider) ChatCompletionStreamRaw(context.Context, *llmproxy.RawChatRequest) (llmproxy.ChunkReader[*llmproxy.RawChunk], error) {
	return &strmReuseReader{chunks: p.chunks, buf: make([]byte, 0, 512)}, nil
}

type strmReuseReader struct {
	chunks []string
	buf    []byte
	chunk  llmproxy.RawChunk
}

func (r *strmReuseReader) Next() (*llmproxy.RawChunk, error) {
	full := r.buf[:cap(r.buf)]
	for i := range full {
		full[i] = '#'
	}
	if len(r.chunks) == 0 {
		r.chunk = llmproxy.RawChunk{Data: r.buf[:7]} // garbage, if anyone still looks
		return nil, io.EOF
	}
	s := r.chunks[0]
	r.chunks = r.chunks[1:]
	r.buf = append(r.buf[:0], s...)
	var c struct {
		Choices []struct {
			Delta        struct{ Content string } `json:"delta"`
			FinishReason *string                  `json:"finish_reason"`
		} `json:"choices"`
		Usage *llmproxy.Usage `json:"usage"`
	}
	if err := json.Unmarshal(r.buf, &c); err != nil {
		return nil, err
	}
	r.chunk = llmproxy.RawChunk{Data: r.buf, Usage: c.Usage, UsageOnly: len(c.Choices) == 0 && c.Usage != nil}
	for _, ch := range c.Choices {
		r.chunk.Content = r.chunk.Content || ch.Delta.Content != ""
		r.chunk.Final = r.chunk.Final || ch.FinishReason != nil
	}
	r.chunk.Final = r.chunk.Final || r.chunk.UsageOnly
	return &r.chunk, nil
}

func (r *strmReuseReader) Close() error { return nil }

// TestStreamReusedRawChunks streams through a raw reader that reuses its
// chunk and buffer: the client must get every chunk as it was, the last
// one (held back for _proxy_info) included, and a closing chunk with the
// stream's id when the stream has no final chunk.
func TestStreamReusedRawChunks(t *testing.T) {
	const (
		role    = `{"id":"chatcmpl-reuse","object":"chat.completion.chunk","created":1,"model":"reuse-1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`
		one     = `{"id":"chatcmpl-reuse","object":"chat.completion.chunk","created":1,"model":"reuse-1","choices":[{"index":0,"delta":{"content":"one"},"finish_reason":null}]}`
		two     = `{"id":"chatcmpl-reuse","object":"chat.completion.chunk","created":1,"model":"reuse-1","choices":[{"index":0,"delta":{"content":"two"},"finish_reason":null}]}`
		finish  = `{"id":"chatcmpl-reuse","object":"chat.completion.chunk","created":1,"model":"reuse-1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`
		usage   = `{"id":"chatcmpl-reuse","object":"chat.completion.chunk","created":1,"model":"reuse-1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`
		request = `{"model":"reuse-1","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`
	)
	for _, tc := range []struct {
		name   string
		chunks []string
		want   []string // payloads before the one carrying _proxy_info
		last   string   // that one without _proxy_info; "" for the proxy's closing chunk
	}{
		{"finish and usage", []string{role, one, two, finish, usage}, []string{role, one, two, finish}, usage},
		{"finish only", []string{role, one, two, finish}, []string{role, one, two}, finish},
		{"no final chunk", []string{role, one, two}, []string{role, one, two}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "reuse-" + strings.ReplaceAll(t.Name(), "/", "-")
			srv := strmProxy(t, llmproxy.Config{Providers: []llmproxy.ProviderConfig{{Name: name, Type: strmReuseType,
				Models: []string{"reuse-1"}, CustomHeaders: map[string]string{"chunks": strings.Join(tc.chunks, "\n")}}}})
			payloads := strmCheckClean(t, strmPost(t, srv, "/v1/chat/completions", request), name, 1)
			require.Len(t, payloads, len(tc.want)+1)
			for i, want := range tc.want {
				assert.JSONEq(t, want, payloads[i], "payload %d", i)
			}
			var last map[string]any
			require.NoError(t, json.Unmarshal([]byte(payloads[len(tc.want)]), &last))
			require.Contains(t, last, "_proxy_info")
			delete(last, "_proxy_info")
			if tc.last != "" {
				var want map[string]any
				require.NoError(t, json.Unmarshal([]byte(tc.last), &want))
				assert.Equal(t, want, last)
				return
			}
			assert.Equal(t, "chatcmpl-reuse", last["id"], "the closing chunk belongs to the stream")
			assert.Equal(t, "reuse-1", last["model"])
		})
	}
}
