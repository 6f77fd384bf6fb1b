package anthropic

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmproxy/llmproxy"
)

// nativeBody is a client's Messages request with members the proxy does
// not model, which must reach the upstream unchanged.
const nativeBody = `{"model":"claude-sonnet-4-5",  "max_tokens":64,"thinking":{"type":"enabled","budget_tokens":1024},` +
	`"context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]},` +
	`"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],` +
	`"messages":[{"role":"user","content":"Hello"}]}`

func TestMessagesRawPassesThrough(t *testing.T) {
	f := newFakeAnthropic(t)
	f.set(func(f *fakeAnthropic) { f.messages = reply{body: answerThinking} })
	p := newTestProvider(t, f.URL, func(c *llmproxy.ProviderConfig) {
		c.CustomHeaders = map[string]string{"anthropic-beta": "context-1m-2025-08-07"}
	})
	h := http.Header{"Anthropic-Version": {"2026-10-21"}, "Anthropic-Beta": {"interleaved-thinking-2025-05-14,context-1m-2025-08-07"}}
	ans, err := p.MessagesRaw(t.Context(), &llmproxy.NativeRequest{Model: "claude-sonnet-4-5", Body: []byte(nativeBody), Header: h})
	require.NoError(t, err)
	assert.Equal(t, answerThinking, string(ans.Body), "the answer's bytes as they came")
	assert.Equal(t, &llmproxy.Usage{PromptTokens: 40, CompletionTokens: 55, TotalTokens: 95}, ans.Usage)
	got := f.last(t)
	assert.Equal(t, "/v1/messages", got.path)
	assert.Equal(t, nativeBody, string(got.body), "the client's exact bytes")
	assert.Equal(t, testKey, got.header.Get("X-Api-Key"))
	assert.Equal(t, "2026-10-21", got.header.Get("Anthropic-Version"), "the client's version")
	assert.Equal(t, "context-1m-2025-08-07,interleaved-thinking-2025-05-14", got.header.Get("Anthropic-Beta"), "the configured and the client's betas, each once")

	t.Run("another model is the only change", func(t *testing.T) {
		_, err := p.MessagesRaw(t.Context(), &llmproxy.NativeRequest{Model: "claude-opus-4-1", Body: []byte(nativeBody)})
		require.NoError(t, err)
		got := f.last(t)
		assert.Equal(t, strings.Replace(nativeBody, `"claude-sonnet-4-5"`, `"claude-opus-4-1"`, 1), string(got.body))
		assert.Equal(t, APIVersion, got.header.Get("Anthropic-Version"), "the provider's version when the client sent none")
	})

	t.Run("a configured version wins", func(t *testing.T) {
		p := newTestProvider(t, f.URL, func(c *llmproxy.ProviderConfig) {
			c.CustomHeaders = map[string]string{"anthropic-version": "2023-01-01"}
		})
		_, err := p.MessagesRaw(t.Context(), &llmproxy.NativeRequest{Model: "claude-sonnet-4-5", Body: []byte(nativeBody), Header: h})
		require.NoError(t, err)
		assert.Equal(t, "2023-01-01", f.last(t).header.Get("Anthropic-Version"))
	})

	t.Run("errors are the upstream's", func(t *testing.T) {
		bad := newTestProvider(t, f.URL, func(c *llmproxy.ProviderConfig) { c.APIKey = "sk-wrong" })
		_, err := bad.MessagesRaw(t.Context(), &llmproxy.NativeRequest{Model: "claude-sonnet-4-5", Body: []byte(nativeBody)})
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindAuth, e.Kind)
		assert.Equal(t, "authentication_error", e.Type)
		f.set(func(f *fakeAnthropic) { f.messages = reply{body: `{"type":"completion"}`} })
		_, err = p.MessagesRaw(t.Context(), &llmproxy.NativeRequest{Model: "claude-sonnet-4-5", Body: []byte(nativeBody)})
		assert.Equal(t, llmproxy.KindUnavailable, asError(t, err).Kind, "not a message")
	})
}

func TestMessagesRawCountTokens(t *testing.T) {
	var path, body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		path, body = r.URL.Path, string(b)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"input_tokens":2095}`)
	}))
	defer srv.Close()
	p := newTestProvider(t, srv.URL)
	req := `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hello"}]}`
	ans, err := p.MessagesRaw(t.Context(), &llmproxy.NativeRequest{Model: "claude-sonnet-4-5", Body: []byte(req), Path: "/messages/count_tokens"})
	require.NoError(t, err)
	assert.Equal(t, "/v1/messages/count_tokens", path)
	assert.Equal(t, req, body)
	assert.Equal(t, `{"input_tokens":2095}`, string(ans.Body))
	assert.Nil(t, ans.Usage, "counting spends no tokens")
}

// readNative reads a native stream to its end and returns the events as
// "name data" lines, the content and final marks, the last usage and the
// error that ended it.
func readNative(t *testing.T, r llmproxy.ChunkReader[*llmproxy.RawChunk]) (evs, marks []string, u *llmproxy.Usage, err error) {
	t.Helper()
	defer r.Close()
	for {
		c, err := r.Next()
		if err == io.EOF {
			return evs, marks, u, nil
		}
		if err != nil {
			return evs, marks, u, err
		}
		evs = append(evs, c.Event+" "+string(c.Data))
		if c.Content {
			marks = append(marks, "C:"+c.Event)
		}
		if c.Final {
			marks = append(marks, "F:"+c.Event)
		}
		if c.Usage != nil {
			u = c.Usage
		}
	}
}

func TestMessagesStreamRaw(t *testing.T) {
	f := newFakeAnthropic(t)
	p := newTestProvider(t, f.URL)
	open := func(t *testing.T, events string) (llmproxy.ChunkReader[*llmproxy.RawChunk], error) {
		f.set(func(f *fakeAnthropic) { f.events = reply{body: events} })
		return p.MessagesStreamRaw(t.Context(), &llmproxy.NativeRequest{Model: "claude-sonnet-4-5", Stream: true,
			Body: []byte(`{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hello"}]}`)})
	}

	t.Run("events as they came", func(t *testing.T) {
		r, err := open(t, streamTools)
		require.NoError(t, err)
		evs, marks, u, err := readNative(t, r)
		require.NoError(t, err)
		var want []string
		for frame := range strings.SplitSeq(strings.TrimSpace(streamTools), "\n\n") {
			name, data, _ := strings.Cut(frame, "\n")
			want = append(want, strings.TrimPrefix(name, "event: ")+" "+strings.TrimPrefix(data, "data: "))
		}
		assert.Equal(t, want, evs)
		assert.Equal(t, "C:content_block_delta", marks[0], "the first text delta commits")
		assert.Equal(t, []string{"C:message_delta", "F:message_delta", "F:message_stop"}, marks[len(marks)-3:])
		assert.Equal(t, &llmproxy.Usage{PromptTokens: 600, CompletionTokens: 89, TotalTokens: 689,
			PromptTokensDetails: &llmproxy.TokenDetails{CachedTokens: 100, CacheWriteTokens: 20}}, u)
	})

	t.Run("output usage on top of message_start's input", func(t *testing.T) {
		r, err := open(t, streamThinking)
		require.NoError(t, err)
		_, _, u, err := readNative(t, r)
		require.NoError(t, err)
		assert.Equal(t, &llmproxy.Usage{PromptTokens: 40, CompletionTokens: 60, TotalTokens: 100}, u)
	})

	t.Run("an error event is the upstream's error", func(t *testing.T) {
		r, err := open(t, streamOverloadedAtStart)
		require.NoError(t, err)
		evs, _, _, err := readNative(t, r)
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindUnavailable, e.Kind, "overloaded fails over")
		assert.Equal(t, "overloaded_error", e.Type)
		assert.Len(t, evs, 2, "message_start and ping came before")
	})

	t.Run("a cut stream fails", func(t *testing.T) {
		r, err := open(t, streamCut)
		require.NoError(t, err)
		_, _, _, err = readNative(t, r)
		e := asError(t, err)
		assert.Equal(t, llmproxy.KindUnavailable, e.Kind)
		assert.True(t, errors.Is(e, io.ErrUnexpectedEOF))
	})

	t.Run("an event that is not JSON fails", func(t *testing.T) {
		r, err := open(t, "event: message_start\ndata: {not json\n\n")
		require.NoError(t, err)
		_, _, _, err = readNative(t, r)
		assert.Equal(t, llmproxy.KindUnavailable, asError(t, err).Kind)
	})

	t.Run("deltas past the first content pass unread", func(t *testing.T) {
		const start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n" +
			"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
		const odd = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"\n\n"
		const hi = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n"
		const end = "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n" +
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"

		// Before the commit every event is read: a delta that is not
		// JSON fails the stream, so that the attempt fails over.
		r, err := open(t, start+odd+hi+end)
		require.NoError(t, err)
		_, _, _, err = readNative(t, r)
		assert.Equal(t, llmproxy.KindUnavailable, asError(t, err).Kind)

		// After it, deltas are passed on as they came, unread; the end
		// of the stream is still read for its usage.
		r, err = open(t, start+hi+odd+end)
		require.NoError(t, err)
		evs, marks, u, err := readNative(t, r)
		require.NoError(t, err)
		assert.Contains(t, evs, `content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"`)
		assert.Equal(t, []string{"C:content_block_delta", "C:content_block_delta", "C:message_delta", "F:message_delta", "F:message_stop"}, marks)
		assert.Equal(t, &llmproxy.Usage{PromptTokens: 5, CompletionTokens: 3, TotalTokens: 8}, u)
	})

	t.Run("the request is canceled with its context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := p.MessagesStreamRaw(ctx, &llmproxy.NativeRequest{Model: "m", Body: []byte(`{"model":"m"}`)})
		assert.Equal(t, llmproxy.KindCanceled, asError(t, err).Kind)
	})
}

func TestMergeBetas(t *testing.T) {
	assert.Equal(t, []string{"a", "b", "c"}, mergeBetas([]string{"a, b"}, []string{"b,c", " "}))
	assert.Nil(t, mergeBetas(nil, nil))
}
